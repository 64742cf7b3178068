"""Verification at the Dukcapil node: hand recorded enrolments to the central system, bring its verdicts
back, let supervisors adjudicate, and check the holder's finger at card handover.

Nothing is lost when the central side is down: an enrolment moves to SENT_FOR_ENROLLMENT (in the
database) *before* it is sent, and every later :meth:`VerificationService.sync` sends again whatever is
still SENT_FOR_ENROLLMENT. Resends are safe because the central API is idempotent on the enrolment id.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import attrs
import sqlalchemy as sa

from ektp_core.config.core_tables import VERIFICATION
from ektp_core.devices.declared import make_matcher, make_verifier
from ektp_core.devices.matchers import Matcher, MatcherSettings, matcher_settings
from ektp_core.devices.verifiers import CentralRefused, CentralUnavailable, Submission, Verdict, Verifier
from ektp_core.domain.model import FINGER_POSITIONS, EnrolmentState, Modality, PrintJobState, Role
from ektp_core.errors import EktpError, IllegalTransition, NotFound, detailed
from ektp_core.lifecycle import audit
from ektp_core.lifecycle.actions import AuditAction
from ektp_core.lifecycle.service import LifecycleService
from ektp_core.messages import Message, as_message, storable
from ektp_core.services.capture import CaptureService
from ektp_core.store import blobs as blob_store
from ektp_core.store import repository as repo
from ektp_core.store.tables import central_submissions, enrolments, inbox, print_jobs

log = logging.getLogger(__name__)
E = EnrolmentState

#: States from which an enrolment may be (re)sent to the central system.
SENDABLE = (
    E.BIO_CAPTURED,
    E.SENT_FOR_ENROLLMENT,
    E.ENROLL_FAILURE_AT_REGIONAL,
    E.SEARCH_FAILURE_AT_CENTRAL,
    E.REQUEST_VALIDATION,
)
#: Where a card may be handed over from.
HANDOVER_FROM = (E.CARD_PRINTED, E.CARD_SHIPPED)


class IncompleteEnrolment(EktpError):
    """The enrolment still misses captures the profile requires; it is not sent."""

    message_code = "error.incomplete_enrolment"

    def __init__(self, enrolment_id: str, missing: list[tuple[Modality, str]]) -> None:
        names = ", ".join(f"{m.value} {p}" for m, p in missing)
        super().__init__(f"enrolment {enrolment_id} is not complete: capture (or record an exception for) {names}")
        self.missing = missing

    def message_params(self) -> dict[str, Any]:
        return {"missing": [Message("capture.slot", modality=m.value, position=p) for m, p in self.missing]}


class HandoverRefused(EktpError):
    """The live finger did not match the enrolment's: the card is not handed over."""

    message_code = "error.handover_refused"


@attrs.frozen
class VerificationSettings:
    """The profile's ``[verification]`` table."""

    verifier: str = "http"
    #: Modalities that must be captured (or excepted) before an enrolment is sent.
    required: tuple[Modality, ...] = tuple(Modality)
    matcher: MatcherSettings = attrs.field(factory=MatcherSettings)
    #: Every other key: options for the verifier.
    options: Mapping[str, Any] = attrs.field(factory=dict, converter=dict)

    @classmethod
    def from_profile(cls, profile: Any) -> VerificationSettings:
        """Read ``[verification]`` (declared in :data:`ektp_core.config.core_tables.VERIFICATION`;
        absent: the defaults)."""
        found = VERIFICATION.read(profile)
        source = profile.source if profile is not None else "-"
        raw = profile.raw.get("verification", {}) if profile is not None else {}
        required = tuple(Modality(m) for m in found["required"])
        return cls(found["verifier"], required, matcher_settings(raw, path=str(source)), found.extra)


@attrs.frozen
class SubmissionStatus:
    """What the node knows about one enrolment's trip to the central system."""

    enrolment_id: str
    verifier: str
    attempts: int
    last_attempt_at: dt.datetime | None
    last_error: str | None
    received_at: dt.datetime | None
    verdict: Verdict | None
    card_reported_at: dt.datetime | None


@attrs.frozen
class SyncReport:
    """What one :meth:`VerificationService.sync` did."""

    sent: list[str] = attrs.field(factory=list)
    still_waiting: list[str] = attrs.field(factory=list)
    failed: dict[str, str] = attrs.field(factory=dict)
    verdicts: dict[str, str] = attrs.field(factory=dict)
    cards_reported: list[str] = attrs.field(factory=list)
    #: Print jobs queued for print-ready enrolments: enrolment id -> "site: reason".
    routed: dict[str, str] = attrs.field(factory=dict)
    #: Set when the central side was unreachable: the rest waits for the next sync.
    unavailable: str | None = None


def _utc(value: dt.datetime | None) -> dt.datetime | None:
    return repo.utc(value) if value is not None else None


def _status_from_row(row: Any) -> SubmissionStatus:
    verdict = Verdict.from_dict(json.loads(row.verdict_detail)) if row.verdict_detail else None
    return SubmissionStatus(
        row.enrolment_id,
        row.verifier,
        row.attempts,
        _utc(row.last_attempt_at),
        row.last_error,
        _utc(row.received_at),
        verdict,
        _utc(row.card_reported_at),
    )


#: Refusals that stop a whole sync round (every later call would be refused the same way).
_STOPPING = ("unauthorised", "redirected")


class VerificationService:
    """Drives a :class:`~ektp_core.devices.verifiers.Verifier` for one deployment's enrolments."""

    def __init__(
        self,
        lifecycle: LifecycleService,
        verifier: Verifier,
        *,
        settings: VerificationSettings | None = None,
        matcher: Matcher | None = None,
        host: Any = None,
        progress: Callable[[str], None] | None = None,
    ) -> None:
        self.lifecycle = lifecycle
        self.verifier = verifier
        self.settings = settings or VerificationSettings.from_profile(
            lifecycle.deployment.profile if lifecycle.deployment is not None else None
        )
        self._matcher = matcher
        #: The plugin host: the profile's matcher and region rules come from its registries.
        self._host = host
        self.capture = CaptureService(lifecycle)
        self.progress = progress or (lambda message: None)

    @classmethod
    def for_deployment(cls, lifecycle: LifecycleService, host: Any, **kwargs: Any) -> VerificationService:
        """Build the profile's verifier (and, lazily, its matcher) from the plugin registries."""
        profile = lifecycle.deployment.profile
        settings = VerificationSettings.from_profile(profile)
        verifier = make_verifier(profile, host)
        return cls(lifecycle, verifier, settings=settings, host=host, **kwargs)

    @property
    def matcher(self) -> Matcher:
        """The profile's matcher (built on first use: the handover check needs it, sending does not)."""
        if self._matcher is None:
            if self._host is None:
                raise EktpError("no matcher: give one, or build the service with for_deployment()")
            deployment = self.lifecycle.deployment
            profile = deployment.profile if deployment is not None else None
            self._matcher = make_matcher(
                self.settings.matcher, self._host, profile=profile, source=profile.source if profile else "-"
            )
        return self._matcher

    # -- the submission row -----------------------------------------------------------------------------

    def status(self, enrolment_id: str) -> SubmissionStatus | None:
        """What the node knows of an enrolment's submission, or None when it was never sent."""
        with self.lifecycle.store.read() as conn:
            row = conn.execute(
                sa.select(central_submissions).where(central_submissions.c.enrolment_id == enrolment_id)
            ).one_or_none()
        return _status_from_row(row) if row is not None else None

    def _count_attempt(self, conn: Any, enrolment_id: str, error: str | None, at: dt.datetime) -> None:
        # ``error`` is the stored form of the error's message (text_of() reads it in any language).
        # The row exists: _mark_sending made it in the transaction that moved the enrolment to SENT.
        conn.execute(
            central_submissions.update()
            .where(central_submissions.c.enrolment_id == enrolment_id)
            .values(
                attempts=central_submissions.c.attempts + 1,
                last_attempt_at=at.astimezone(dt.UTC),
                last_error=error or None,
                verifier=self.verifier.name,
            )
        )

    def _note_attempt(self, enrolment_id: str, error: str | None, at: dt.datetime) -> None:
        with self.lifecycle.store.write() as conn:
            self._count_attempt(conn, enrolment_id, error, at)

    def _mark_sending(self, enrolment_id: str, actor: str) -> None:
        """SENT_FOR_ENROLLMENT and the submission row, in one transaction, before any request is made."""
        lc = self.lifecycle
        at = lc.clock()
        transition = None
        with lc.store.write() as conn:
            current = repo.get_enrolment(conn, enrolment_id, lock=True)
            if current.state not in SENDABLE:
                raise IllegalTransition("enrolment", enrolment_id, current.state, "sent to the central system")
            if current.state is not E.SENT_FOR_ENROLLMENT:
                _, transition = lc._move_enrolment(
                    conn,
                    enrolment_id,
                    E.SENT_FOR_ENROLLMENT,
                    actor,
                    at,
                    Message("reason.sent_to", to=self.verifier.name),
                )
            exists = conn.execute(
                sa.select(central_submissions.c.enrolment_id).where(central_submissions.c.enrolment_id == enrolment_id)
            ).first()
            if exists is None:
                conn.execute(
                    central_submissions.insert().values(
                        enrolment_id=enrolment_id, verifier=self.verifier.name, attempts=0
                    )
                )
        if transition is not None:
            lc._notify([transition])

    def _finish_sending(
        self,
        enrolment_id: str,
        new: EnrolmentState,
        actor: str,
        at: dt.datetime,
        reason: str | Message,
        *,
        error: str | None = None,
        received_at: dt.datetime | None = None,
    ) -> None:
        """Count the attempt and move on from SENT_FOR_ENROLLMENT, unless someone else already did."""
        lc = self.lifecycle
        transition = None
        with lc.store.write() as conn:
            current = repo.get_enrolment(conn, enrolment_id, lock=True)
            self._count_attempt(conn, enrolment_id, error, at)
            if received_at is not None:
                conn.execute(
                    central_submissions.update()
                    .where(central_submissions.c.enrolment_id == enrolment_id)
                    .values(received_at=received_at.astimezone(dt.UTC))
                )
            if current.state is E.SENT_FOR_ENROLLMENT:  # a concurrent sync may have moved it already
                text = reason if isinstance(reason, Message) else reason[:2000]
                _, transition = lc._move_enrolment(conn, enrolment_id, new, actor, at, text)
        if transition is not None:
            lc._notify([transition])

    # -- sending ------------------------------------------------------------------------------------------

    def submission(self, enrolment_id: str) -> Submission:
        """The enrolment as it is sent: biodata, finger templates and images, the face, the exceptions."""
        lc = self.lifecycle
        fingers: dict[str, bytes] = {}
        images: dict[str, bytes] = {}
        exceptions: dict[str, str] = {}
        face: bytes | None = None
        # One read of the enrolment, its captures and their blobs (not one read per blob).
        with lc.store.read() as conn:
            enrolment = repo.get_enrolment(conn, enrolment_id)

            def blob(ref: str) -> bytes:
                return blob_store.get(conn, lc.data_key, ref=ref, enrolment_id=enrolment_id)

            for c in repo.list_captures(conn, enrolment_id):
                if c.exception is not None:
                    if c.modality is Modality.FINGER:
                        exceptions[c.position] = c.exception.reason
                    continue
                if c.modality is Modality.FINGER and c.blob_ref is not None:
                    images[c.position] = blob(c.blob_ref)
                    if c.template_ref is not None:
                        fingers[c.position] = blob(c.template_ref)
                elif c.modality is Modality.FACE and c.blob_ref is not None:
                    face = blob(c.blob_ref)
        return Submission(
            enrolment_id=enrolment.id,
            site=enrolment.site_code,
            biodata=enrolment.biodata.to_dict(),
            fingers=fingers,
            finger_images=images,
            face=face,
            exceptions=exceptions,
            service=enrolment.service.to_dict(),
        )

    def _check_complete(self, enrolment_id: str) -> None:
        missing = [(m, p) for m, p in self.capture.missing(enrolment_id) if m in self.settings.required]
        if missing:
            raise IncompleteEnrolment(enrolment_id, missing)
        # A finger captured without a template cannot be searched: extract it now or refuse clearly.
        without = [
            c.position
            for c in self.capture.captures(enrolment_id)
            if c.modality is Modality.FINGER and c.exception is None and c.template_ref is None
        ]
        if without and Modality.FINGER in self.settings.required:
            raise EktpError(Message("capture.no_templates", enrolment=enrolment_id, positions=list(without)))

    def submit(self, enrolment_id: str, *, actor: str) -> EnrolmentState:
        """Send one enrolment. Returns its state afterwards: RECEIVED_AT_CENTRAL when the central side
        holds it, SENT_FOR_ENROLLMENT when it could not be reached (sent again on the next sync),
        ENROLL_FAILURE_AT_REGIONAL when the central side refused the record as malformed.

        Raises :class:`IncompleteEnrolment` (nothing changes) when captures are missing, and
        :class:`~ektp_core.devices.verifiers.CentralRefused` for a refusal a person must look at (token, conflict).
        """
        lc = self.lifecycle
        enrolment = lc.get(enrolment_id)
        if enrolment.state not in SENDABLE:
            raise IllegalTransition("enrolment", enrolment_id, enrolment.state, "sent to the central system")
        if enrolment.state is not E.SENT_FOR_ENROLLMENT:
            self._check_complete(enrolment_id)
        # Recorded before the request: if the node dies mid-request, the next sync sends it again.
        self._mark_sending(enrolment_id, actor)
        submission = self.submission(enrolment_id)
        at = lc.clock()
        try:
            receipt = self.verifier.submit(submission)
        except CentralUnavailable as exc:
            self._note_attempt(enrolment_id, _error_text(exc), at)
            log.warning("enrolment %s not sent, central system unavailable: %s", enrolment_id, exc)
            return lc.get(enrolment_id).state
        except CentralRefused as exc:
            if exc.code == "malformed":
                self._finish_sending(
                    enrolment_id, E.ENROLL_FAILURE_AT_REGIONAL, actor, at, exc.detail, error=_error_text(exc)
                )
                return lc.get(enrolment_id).state
            self._note_attempt(enrolment_id, _error_text(exc), at)
            raise
        self._finish_sending(
            enrolment_id,
            E.RECEIVED_AT_CENTRAL,
            actor,
            at,
            Message("reason.received_by" if receipt.first else "reason.received_again_by", by=self.verifier.name),
            received_at=receipt.received_at,
        )
        return lc.get(enrolment_id).state

    # -- verdicts --------------------------------------------------------------------------------------------

    def fetch_verdict(self, enrolment_id: str, *, actor: str, wait: float = 0) -> Verdict | None:
        """Ask for the verdict of an enrolment at RECEIVED_AT_CENTRAL; apply and keep it when there is one."""
        verdict = self.verifier.verdict(enrolment_id, wait=wait)
        if verdict is None:
            return None
        if verdict.enrolment_id != enrolment_id:
            raise EktpError(f"central system answered for {verdict.enrolment_id} when asked about {enrolment_id}")
        self._apply(verdict, actor=actor)
        return verdict

    def _apply(self, verdict: Verdict, *, actor: str, reason: str | Message | None = None) -> bool:
        """Keep a verdict and move the enrolment to it; False when there was nothing to move (already
        applied by another sync, or a verdict that does not apply to the enrolment's state)."""
        lc = self.lifecycle
        at = lc.clock()
        with lc.store.write() as conn:
            current = repo.get_enrolment(conn, verdict.enrolment_id, lock=True)
            applies = current.state is E.RECEIVED_AT_CENTRAL or (
                current.state is E.ADJUDICATE_RECORD and verdict.status in (E.PRINT_READY_RECORD, E.DUPLICATE_RECORD)
            )
            if not applies or verdict.status is current.state:
                return False
            conn.execute(
                central_submissions.update()
                .where(central_submissions.c.enrolment_id == verdict.enrolment_id)
                .values(
                    verdict=verdict.status.value,
                    verdict_detail=json.dumps(verdict.to_dict()),
                    decided_at=(verdict.decided_at or at).astimezone(dt.UTC),
                )
            )
            _, t = lc._move_enrolment(
                conn,
                verdict.enrolment_id,
                verdict.status,
                actor,
                at,
                reason or verdict.summary_message(),
                detail={"candidates": ",".join(c.enrolment_id for c in verdict.candidates)},
            )
        lc._notify([t])
        return True

    def _ids_in(self, states: Iterable[EnrolmentState]) -> list[str]:
        with self.lifecycle.store.read() as conn:
            rows = conn.execute(
                sa.select(enrolments.c.id)
                .where(enrolments.c.state.in_([s.value for s in states]))
                .order_by(enrolments.c.created_at, enrolments.c.id)
            ).scalars()
            return list(rows)

    def sync(self, *, actor: str, wait: float = 0, route: bool = True) -> SyncReport:
        """One round with the central system: resend what is SENT_FOR_ENROLLMENT (or failed a search),
        fetch the verdicts of what it holds and of adjudications decided there, queue the print jobs
        of print-ready enrolments where the region rules say (``route``; needs the plugin host of
        :meth:`for_deployment`), report printed cards.

        Each enrolment is handled on its own: one refused call is reported in ``failed`` and the round
        goes on. The round stops early (``unavailable``) when the central side is down or refuses the
        node itself (token, redirect)."""
        report = SyncReport()
        try:
            self._sync_sends(report, actor)
            self._sync_verdicts(report, actor, wait)
            if route:
                self._route(report, actor)
            self._sync_cards(report)
        except CentralUnavailable as exc:
            return attrs.evolve(report, unavailable=str(exc))
        return report

    @staticmethod
    def _refusal(report: SyncReport, enrolment_id: str, exc: CentralRefused | EktpError) -> None:
        if isinstance(exc, CentralRefused) and exc.code in _STOPPING:
            raise CentralUnavailable(str(exc))
        report.failed[enrolment_id] = str(exc)

    def _received_from_sites(self) -> list[str]:
        """Enrolments that came in packets from site nodes and wait to be sent on (BIO_CAPTURED)."""
        with self.lifecycle.store.read() as conn:
            return list(
                conn.execute(
                    sa.select(enrolments.c.id)
                    .join(inbox, inbox.c.enrolment_id == enrolments.c.id)
                    .where(enrolments.c.state == E.BIO_CAPTURED.value)
                    .order_by(enrolments.c.created_at, enrolments.c.id)
                ).scalars()
            )

    def _sync_sends(self, report: SyncReport, actor: str) -> None:
        # What a site recorded reaches the central system through this node without anyone's click.
        pending = self._ids_in([E.SENT_FOR_ENROLLMENT, E.SEARCH_FAILURE_AT_CENTRAL]) + self._received_from_sites()
        for n, enrolment_id in enumerate(pending, 1):
            self.progress(f"sending {n}/{len(pending)}: {enrolment_id}")
            try:
                state = self.submit(enrolment_id, actor=actor)
            except CentralUnavailable:
                raise
            except (CentralRefused, EktpError) as exc:
                self._refusal(report, enrolment_id, exc)
                continue
            if state is E.SENT_FOR_ENROLLMENT:
                status = self.status(enrolment_id)
                raise CentralUnavailable(
                    as_message(status.last_error) if status and status.last_error else "unreachable"
                )
            report.sent.append(enrolment_id)

    def _sync_verdicts(self, report: SyncReport, actor: str, wait: float) -> None:
        waiting = self._ids_in([E.RECEIVED_AT_CENTRAL])
        # Adjudications decided at the central side (or whose local step was interrupted) catch up too.
        adjudicating = self._ids_in([E.ADJUDICATE_RECORD])
        for n, enrolment_id in enumerate(waiting + adjudicating, 1):
            self.progress(f"asking for verdict {n}/{len(waiting) + len(adjudicating)}: {enrolment_id}")
            try:
                verdict = self.fetch_verdict(enrolment_id, actor=actor, wait=wait if n <= len(waiting) else 0)
            except CentralUnavailable:
                raise
            except CentralRefused as exc:
                if exc.code == "not_found" and n <= len(waiting):
                    # The central side lost it: back to SENT_FOR_ENROLLMENT, sent again on the next round.
                    self.lifecycle.transition(
                        enrolment_id,
                        E.SENT_FOR_ENROLLMENT,
                        actor=actor,
                        reason=Message("reason.central_forgot"),
                    )
                self._refusal(report, enrolment_id, exc)
                continue
            except EktpError as exc:
                self._refusal(report, enrolment_id, exc)
                continue
            if n > len(waiting):
                if verdict is not None and self.lifecycle.get(enrolment_id).state is verdict.status:
                    report.verdicts[enrolment_id] = verdict.status.value
                continue
            if verdict is None:
                report.still_waiting.append(enrolment_id)
            else:
                report.verdicts[enrolment_id] = verdict.status.value

    def _route(self, report: SyncReport, actor: str) -> None:
        if self._host is None:
            return
        from ektp_core.lifecycle.routing import PrintRouter

        try:
            routed = PrintRouter.for_deployment(self.lifecycle, self._host).route_ready(actor=actor)
        except EktpError as exc:  # the rules do not load: verdicts are kept, jobs wait for a fix
            report.failed["(routing)"] = str(exc)
            return
        for job in routed:
            report.routed[job.enrolment_id] = f"{job.site_code}: {job.reason}"

    def _sync_cards(self, report: SyncReport) -> None:
        printed = (E.CARD_PRINTED, E.CARD_SHIPPED, E.CARD_ISSUED)
        with self.lifecycle.store.read() as conn:
            rows = conn.execute(
                sa.select(enrolments.c.id, sa.func.max(print_jobs.c.updated_at).label("printed_at"))
                .join(central_submissions, central_submissions.c.enrolment_id == enrolments.c.id)
                .join(
                    print_jobs,
                    sa.and_(
                        print_jobs.c.enrolment_id == enrolments.c.id, print_jobs.c.state == PrintJobState.PRINTED.value
                    ),
                )
                .where(
                    enrolments.c.state.in_([s.value for s in printed]), central_submissions.c.card_reported_at.is_(None)
                )
                .group_by(enrolments.c.id)
            ).all()
        for row in rows:
            try:
                self.verifier.card_printed(row.id, repo.utc(row.printed_at))
            except CentralRefused as exc:
                self._refusal(report, row.id, exc)
                continue
            with self.lifecycle.store.write() as conn:
                conn.execute(
                    central_submissions.update()
                    .where(central_submissions.c.enrolment_id == row.id)
                    .values(card_reported_at=self.lifecycle.clock().astimezone(dt.UTC))
                )
            report.cards_reported.append(row.id)

    def report_cards(self) -> list[str]:
        """Tell the central side about printed cards it has not heard of yet; returns their enrolments."""
        report = SyncReport()
        self._sync_cards(report)
        return report.cards_reported

    # -- adjudication ------------------------------------------------------------------------------------------

    def adjudication_queue(self) -> list[tuple[str, Verdict | None]]:
        """Enrolments waiting in ADJUDICATE_RECORD, oldest first, with the verdict that put them there."""
        return [
            (eid, status.verdict if status else None)
            for eid in self._ids_in([E.ADJUDICATE_RECORD])
            for status in [self.status(eid)]
        ]

    def adjudicate(
        self, enrolment_id: str, decision: EnrolmentState | str, *, supervisor: str, note: str
    ) -> EnrolmentState:
        """A supervisor's decision on an enrolment in ADJUDICATE_RECORD: PRINT_READY_RECORD (a different
        person) or DUPLICATE_RECORD. Returns the state the enrolment ends in.

        The central side is told first; if it cannot be reached nothing changes here and the decision
        can be given again. If it already holds a decision (an earlier attempt whose answer was lost),
        that decision is applied here and said in the audit log."""
        decision = EnrolmentState(decision)
        if decision not in (E.PRINT_READY_RECORD, E.DUPLICATE_RECORD):
            raise EktpError(Message("adjudication.bad_decision", decision=str(decision)))
        if not note.strip():
            raise EktpError(Message("adjudication.note_required"))
        lc = self.lifecycle
        with lc.store.read() as conn:
            lc._require_role(conn, supervisor, (Role.SUPERVISOR, Role.ADMIN), "adjudicate a suspected duplicate")
            current = repo.get_enrolment(conn, enrolment_id)
        if current.state is not E.ADJUDICATE_RECORD:
            raise IllegalTransition("enrolment", enrolment_id, current.state, f"adjudicated as {decision}")
        try:
            verdict = self.verifier.adjudicate(enrolment_id, decision, supervisor=supervisor, note=note)
            reason: str | Message = Message("reason.adjudicated", supervisor=supervisor, note=note)
        except CentralRefused as exc:
            if exc.code != "conflict":
                raise
            held = self.verifier.verdict(enrolment_id)
            if held is None or held.status not in (E.PRINT_READY_RECORD, E.DUPLICATE_RECORD):
                raise
            verdict = held
            reason = Message("reason.adjudicated_earlier", state=held.status, supervisor=supervisor, note=note)
        if verdict.enrolment_id != enrolment_id or verdict.status not in (E.PRINT_READY_RECORD, E.DUPLICATE_RECORD):
            raise EktpError(
                f"the central system answered the adjudication of {enrolment_id} with "
                f"{verdict.status} for {verdict.enrolment_id}: nothing changed here"
            )
        self._apply(verdict, actor=supervisor, reason=reason)
        return lc.get(enrolment_id).state

    def finger_image(self, enrolment_id: str, position: str) -> bytes | None:
        """A finger image of any enrolment: this node's own record first, else the central side's copy."""
        try:
            return self.capture.image(enrolment_id, Modality.FINGER, position)
        except (EktpError, NotFound):
            pass
        try:
            return self.verifier.finger_image(enrolment_id, position)
        except (CentralUnavailable, CentralRefused):
            return None

    # -- handover ------------------------------------------------------------------------------------------------

    def handover(self, enrolment_id: str, position: str, live_template: bytes, *, operator: str) -> float:
        """Hand the card over if the holder's live finger matches the enrolment's (1:1); returns the score.

        Only an active operator, supervisor or administrator account may hand a card over. Every
        refusal (a mismatch, a card not printed, a finger without a template) raises, leaves the card
        where it was and is audited as ``enrolment.handover_refused``.
        """
        lc = self.lifecycle
        with lc.store.read() as conn:
            lc._require_role(conn, operator, (Role.OPERATOR, Role.SUPERVISOR, Role.ADMIN), "hand a card over")
        try:
            if position not in FINGER_POSITIONS:
                raise EktpError(Message("handover.unknown_position", position=position, values=list(FINGER_POSITIONS)))
            enrolment = lc.get(enrolment_id)
            if enrolment.state not in HANDOVER_FROM:
                raise IllegalTransition(
                    "enrolment", enrolment_id, enrolment.state, "handed over (needs a printed card)"
                )
            try:
                reference = self.capture.image(enrolment_id, Modality.FINGER, position, template=True)
            except EktpError:
                raise EktpError(Message("handover.no_template", enrolment=enrolment_id, position=position)) from None
            score = float(self.matcher.verify(live_template, reference))
            threshold = self.settings.matcher.thresholds.handover
            if score < threshold:
                raise HandoverRefused(
                    Message(
                        "handover.no_match",
                        position=position,
                        enrolment=enrolment_id,
                        score=f"{score:g}",
                        threshold=f"{threshold:g}",
                    )
                )
        except (EktpError, ValueError) as exc:
            self._audit_refusal(enrolment_id, operator, position, exc)
            raise
        lc.transition(
            enrolment_id,
            E.CARD_ISSUED,
            actor=operator,
            reason=Message("reason.handed_over", position=position, score=f"{score:g}", threshold=f"{threshold:g}"),
        )
        return score

    def _audit_refusal(self, enrolment_id: str, operator: str, position: str, exc: Exception) -> None:
        lc = self.lifecycle
        try:
            with lc.store.write() as conn:
                repo.get_enrolment(conn, enrolment_id)
                audit.append(
                    conn,
                    actor=operator,
                    action=AuditAction.ENROLMENT_HANDOVER_REFUSED,
                    subject_kind="enrolment",
                    subject_id=enrolment_id,
                    at=lc.clock(),
                    detail={"position": position, "why": str(exc)[:500]},
                )
        except NotFound:
            pass  # no such enrolment: nothing to audit it against


def _error_text(exc: EktpError) -> str:
    """How an attempt's error is stored: its message as JSON, its English text inside (bounded)."""
    return storable(detailed(exc))
