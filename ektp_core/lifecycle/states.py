"""The state machines of enrolments (SIAK's statuses), print jobs and blanks: which moves are legal.

These tables are the single source: :class:`~ektp_core.lifecycle.service.LifecycleService` refuses any
other move, and docs/lifecycle.md shows the same tables (a test compares them).
"""

from __future__ import annotations

from ektp_core.domain.model import BlankState, CardState, EnrolmentState, PrintJobState

E = EnrolmentState
C = CardState
J = PrintJobState
B = BlankState

#: Legal enrolment moves, SIAK's path: capture -> central verdict -> printing -> handover.
ENROLMENT_TRANSITIONS: dict[EnrolmentState, frozenset[EnrolmentState]] = {
    # ENROLLMENT_CANCELLED: a supervisor cancels a recording that was never sent (BIO_CAPTURED, or
    # ENROLL_FAILURE_AT_REGIONAL: it never reached the centre) or that the centre refused.
    E.BIO_CAPTURED: frozenset({E.SENT_FOR_ENROLLMENT, E.ENROLLMENT_CANCELLED}),
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
    E.ENROLL_FAILURE_AT_REGIONAL: frozenset({E.SENT_FOR_ENROLLMENT, E.ENROLLMENT_CANCELLED}),
    E.SEARCH_FAILURE_AT_CENTRAL: frozenset({E.SENT_FOR_ENROLLMENT}),
    E.REQUEST_VALIDATION: frozenset({E.SENT_FOR_ENROLLMENT}),
    E.PRINT_READY_RECORD: frozenset({E.SENT_FOR_CARD_PRINTING}),
    # Back to PRINT_READY_RECORD only when its queued job is cancelled (for example re-routed).
    E.SENT_FOR_CARD_PRINTING: frozenset({E.CARD_PRINTED, E.PRINT_READY_RECORD}),
    # Back to SENT_FOR_CARD_PRINTING only when a supervisor spoils the printed card (a misprint found on
    # inspection): the card is printed again.
    E.CARD_PRINTED: frozenset({E.CARD_SHIPPED, E.CARD_ISSUED, E.SENT_FOR_CARD_PRINTING}),
    E.CARD_SHIPPED: frozenset({E.CARD_ISSUED}),
    E.DUPLICATE_RECORD: frozenset({E.ENROLLMENT_CANCELLED}),
    E.ENROLL_FAILURE_AT_CENTRAL: frozenset({E.ENROLLMENT_CANCELLED}),
    E.CARD_ISSUED: frozenset(),
    E.ENROLLMENT_CANCELLED: frozenset(),
}

#: Where a supervisor may cancel (batalkan) an enrolment from.
CANCELLABLE_STATES = frozenset(s for s, moves in ENROLMENT_TRANSITIONS.items() if E.ENROLLMENT_CANCELLED in moves)

#: Enrolments that still hold a resident's place: a second recording of the same NIK is refused.
#: A printed card not yet handed over still holds it; a reprint starts after CARD_ISSUED.
OPEN_ENROLMENT_STATES = frozenset(ENROLMENT_TRANSITIONS) - {
    E.DUPLICATE_RECORD,
    E.ENROLL_FAILURE_AT_CENTRAL,
    E.CARD_ISSUED,
    E.ENROLLMENT_CANCELLED,
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

#: The card register (:class:`~ektp_core.domain.model.CardState`): a printed card travels to where it is
#: collected, is handed over, and ends replaced, reported lost or destroyed.
CARD_TRANSITIONS: dict[CardState, frozenset[CardState]] = {
    # PRINTED -> DESTROYED: a supervisor spoiled the printed card before it was handed over.
    C.PRINTED: frozenset({C.SHIPPED, C.ACTIVE, C.DESTROYED}),
    # SHIPPED -> DESTROYED: missing in transit, written off by a supervisor.
    C.SHIPPED: frozenset({C.RECEIVED, C.DESTROYED}),
    C.RECEIVED: frozenset({C.ACTIVE, C.DESTROYED}),
    # ACTIVE -> LOST when the resident reports it lost (at once, with the replacement's recording);
    # -> REPLACED when its replacement is handed over; -> DESTROYED when it is surrendered and voided.
    C.ACTIVE: frozenset({C.REPLACED, C.LOST, C.DESTROYED}),
    C.REPLACED: frozenset(),
    C.LOST: frozenset(),
    C.DESTROYED: frozenset(),
}
