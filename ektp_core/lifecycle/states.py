"""The state machines of enrolments (SIAK's statuses), print jobs and blanks: which moves are legal.

These tables are the single source: :class:`~ektp_core.lifecycle.service.LifecycleService` refuses any
other move, and docs/lifecycle.md shows the same tables (a test compares them).
"""

from __future__ import annotations

from ektp_core.domain.model import BlankState, EnrolmentState, PrintJobState

E = EnrolmentState
J = PrintJobState
B = BlankState

#: Legal enrolment moves, SIAK's path: capture -> central verdict -> printing -> handover.
ENROLMENT_TRANSITIONS: dict[EnrolmentState, frozenset[EnrolmentState]] = {
    E.BIO_CAPTURED: frozenset({E.SENT_FOR_ENROLLMENT}),
    E.SENT_FOR_ENROLLMENT: frozenset({E.RECEIVED_AT_CENTRAL, E.ENROLL_FAILURE_AT_REGIONAL}),
    # RECEIVED_AT_CENTRAL -> SENT_FOR_ENROLLMENT: the central system no longer knows the enrolment
    # (it answers "not found"), so it is sent again.
    E.RECEIVED_AT_CENTRAL: frozenset(
        {
            E.SENT_FOR_ENROLLMENT,
            E.PRINT_READY_RECORD,
            E.DUPLICATE_RECORD,
            E.ADJUDICATE_RECORD,
            E.ENROLL_FAILURE_AT_CENTRAL,
            E.SEARCH_FAILURE_AT_CENTRAL,
            E.REQUEST_VALIDATION,
        }
    ),
    # A supervisor's adjudication ends in one of the two verdicts.
    E.ADJUDICATE_RECORD: frozenset({E.PRINT_READY_RECORD, E.DUPLICATE_RECORD}),
    # Failures that are not the resident's fault are sent again.
    E.ENROLL_FAILURE_AT_REGIONAL: frozenset({E.SENT_FOR_ENROLLMENT}),
    E.SEARCH_FAILURE_AT_CENTRAL: frozenset({E.SENT_FOR_ENROLLMENT}),
    E.REQUEST_VALIDATION: frozenset({E.SENT_FOR_ENROLLMENT}),
    E.PRINT_READY_RECORD: frozenset({E.SENT_FOR_CARD_PRINTING}),
    # Back to PRINT_READY_RECORD only when its queued job is cancelled (for example re-routed).
    E.SENT_FOR_CARD_PRINTING: frozenset({E.CARD_PRINTED, E.PRINT_READY_RECORD}),
    # Back to SENT_FOR_CARD_PRINTING only when a supervisor spoils the printed card (a misprint found on
    # inspection): the card is printed again.
    E.CARD_PRINTED: frozenset({E.CARD_SHIPPED, E.CARD_ISSUED, E.SENT_FOR_CARD_PRINTING}),
    E.CARD_SHIPPED: frozenset({E.CARD_ISSUED}),
    E.DUPLICATE_RECORD: frozenset(),
    E.ENROLL_FAILURE_AT_CENTRAL: frozenset(),
    E.CARD_ISSUED: frozenset(),
}

#: Enrolments that still hold a resident's place: a second recording of the same NIK is refused.
#: A printed card not yet handed over still holds it; a reprint starts after CARD_ISSUED.
OPEN_ENROLMENT_STATES = frozenset(ENROLMENT_TRANSITIONS) - {
    E.DUPLICATE_RECORD,
    E.ENROLL_FAILURE_AT_CENTRAL,
    E.CARD_ISSUED,
}

PRINT_JOB_TRANSITIONS: dict[PrintJobState, frozenset[PrintJobState]] = {
    J.QUEUED: frozenset({J.RESERVED, J.CANCELLED}),
    # RESERVED -> QUEUED gives the blank back: nothing was sent to the printer yet.
    J.RESERVED: frozenset({J.SENT, J.QUEUED, J.SPOILED}),
    # SENT -> QUEUED only when the printer itself reports that it took no card (hopper empty, cover
    # open, busy): the blank goes back to stock and the job can be printed again.
    J.SENT: frozenset({J.PRINTED, J.SPOILED, J.UNKNOWN, J.QUEUED}),
    # UNKNOWN -> QUEUED: a supervisor found that the printer never took the card (its counter did not
    # move, the blank is still unused); the blank returns to stock and the job can be printed again.
    J.UNKNOWN: frozenset({J.PRINTED, J.SPOILED, J.QUEUED}),
    # PRINTED -> SPOILED: a supervisor found the printed card unusable before it was handed over.
    J.PRINTED: frozenset({J.SPOILED}),
    J.SPOILED: frozenset(),
    J.CANCELLED: frozenset(),
}

BLANK_TRANSITIONS: dict[BlankState, frozenset[BlankState]] = {
    B.IN_STOCK: frozenset({B.RESERVED, B.SPOILED}),
    B.RESERVED: frozenset({B.PRINTED, B.SPOILED, B.IN_STOCK}),
    # PRINTED -> SPOILED with its job (above): the blank is accounted for as spoiled, never reused.
    B.PRINTED: frozenset({B.SPOILED}),
    B.SPOILED: frozenset(),
}
