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

from . import audit
from .capture import CaptureService
from .errors import ConfigError, EktpError, IllegalTransition, NotFound
from .lifecycle import LifecycleService
from .matching import Matcher, MatcherSettings, matcher_settings
from .model import FINGER_POSITIONS, EnrolmentState, Modality, Role
from .store import repository as repo
from .store.tables import central_submissions, enrolments
from .verifying import CentralRefused, CentralUnavailable, Submission, Verdict, Verifier

log = logging.getLogger(__name__)
E = EnrolmentState

#: States from which an enrolment may be (re)sent to the central system.
SENDABLE = (E.BIO_CAPTURED, E.SENT_FOR_ENROLLMENT, E.ENROLL_FAILURE_AT_REGIONAL, E.SEARCH_FAILURE_AT_CENTRAL,
            E.REQUEST_VALIDATION)
#: Where a card may be handed over from.
HANDOVER_FROM = (E.CARD_PRINTED, E.CARD_SHIPPED)


class IncompleteEnrolment(EktpError):
    """The enrolment still misses captures the profile requires; it is not sent."""

    def __init__(self, enrolment_id: str, missing: list[tuple[Modality, str]]) -> None:
        names = ", ".join(f"{m.value} {p}" for m, p in missing)
        super().__init__(f"enrolment {enrolment_id} is not complete: capture (or record an exception for) {names}")
        self.missing = missing


class HandoverRefused(EktpError):
    """The live finger did not match the enrolment's: the card is not handed over."""


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
        """Read ``[verification]`` (absent: the defaults)."""
        raw = profile.raw.get("verification", {}) if profile is not None else {}
        source = profile.source if profile is not None else "-"
        if not isinstance(raw, dict):
            raise ConfigError(source, "verification", "a table", raw)
        verifier = raw.get("verifier", "http")
        if not isinstance(verifier, str) or not verifier:
            raise ConfigError(source, "verification.verifier", "a verifier name", verifier)
        required_raw = raw.get("required", [m.value for m in Modality])
        try:
            required = tuple(Modality(m) for m in required_raw)
        except (ValueError, TypeError):
            raise ConfigError(source, "verification.required",
                              f"a list of modalities from {[m.value for m in Modality]}", required_raw) from None
        options = {k: v for k, v in raw.items() if k not in ("verifier", "required", "matcher")}
        return cls(verifier, required, matcher_settings(raw, path=str(source)), options)


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
    #: Set when the central side was unreachable: the rest waits for the next sync.
    unavailable: str | None = None


def _status_from_row(row: Any) -> SubmissionStatus:
    verdict = Verdict.from_dict(json.loads(row.verdict_detail)) if row.verdict_detail else None
    return SubmissionStatus(row.enrolment_id, row.verifier, row.attempts, row.last_attempt_at, row.last_error,
                            row.received_at, verdict, row.card_reported_at)


class VerificationService:
    """Drives a :class:`~ektp_core.verifying.Verifier` for one deployment's enrolments."""

    def __init__(self, lifecycle: LifecycleService, verifier: Verifier, *,
                 settings: VerificationSettings | None = None, matcher: Matcher | None = None,
                 progress: Callable[[str], None] | None = None) -> None:
        self.lifecycle = lifecycle
        self.verifier = verifier
        self.settings = settings or VerificationSettings.from_profile(
            lifecycle.deployment.profile if lifecycle.deployment is not None else None)
        self._matcher = matcher
        self.capture = CaptureService(lifecycle)
        self.progress = progress or (lambda message: None)

    @classmethod
    def for_deployment(cls, lifecycle: LifecycleService, host: Any, **kwargs: Any) -> VerificationService:
        """Build the profile's verifier (and, lazily, its matcher) from the plugin registries."""
        settings = VerificationSettings.from_profile(lifecycle.deployment.profile)
        factory = host.registry("verifiers").get(settings.verifier)
        try:
            verifier = factory(settings.options)
        except (ValueError, TypeError) as exc:
            raise ConfigError(str(lifecycle.deployment.profile.source), "verification", str(exc),
                              dict(settings.options)) from None
        service = cls(lifecycle, verifier, settings=settings, **kwargs)
        service._host = host
        return service

    _host: Any = None

    @property
    def matcher(self) -> Matcher:
        """The profile's matcher (built on first use: the handover check needs it, sending does not)."""
        if self._matcher is None:
            if self._host is None:
                raise EktpError("no matcher: give one, or build the service with for_deployment()")
            settings = self.settings.matcher
            self._matcher = self._host.registry("matchers").get(settings.name)(settings.options)
        return self._matcher

    # -- the submission row -----------------------------------------------------------------------------

    def status(self, enrolment_id: str) -> SubmissionStatus | None:
        """What the node knows of an enrolment's submission, or None when it was never sent."""
        with self.lifecycle.store.read() as conn:
            row = conn.execute(sa.select(central_submissions).where(
                central_submissions.c.enrolment_id == enrolment_id)).one_or_none()
        return _status_from_row(row) if row is not None else None

    def _note_attempt(self, enrolment_id: str, error: str | None, at: dt.datetime) -> None:
        with self.lifecycle.store.write() as conn:
            updated = conn.execute(central_submissions.update()
                                   .where(central_submissions.c.enrolment_id == enrolment_id)
                                   .values(attempts=central_submissions.c.attempts + 1, last_attempt_at=at,
                                           last_error=error, verifier=self.verifier.name))
            if updated.rowcount == 0:
                conn.execute(central_submissions.insert().values(
                    enrolment_id=enrolment_id, verifier=self.verifier.name, attempts=1, last_attempt_at=at,
                    last_error=error))

    # -- sending ------------------------------------------------------------------------------------------

    def submission(self, enrolment_id: str) -> Submission:
        """The enrolment as it is sent: biodata, finger templates and images, the face, the exceptions."""
        enrolment = self.lifecycle.get(enrolment_id)
        fingers: dict[str, bytes] = {}
        images: dict[str, bytes] = {}
        exceptions: dict[str, str] = {}
        face: bytes | None = None
        for c in self.capture.captures(enrolment_id):
            if c.modality is Modality.FINGER:
                if c.exception is not None:
                    exceptions[c.position] = c.exception.reason
                    continue
                images[c.position] = self.capture.image(enrolment_id, c.modality, c.position)
                if c.template_ref is not None:
                    fingers[c.position] = self.capture.image(enrolment_id, c.modality, c.position, template=True)
            elif c.modality is Modality.FACE and c.exception is None:
                face = self.capture.image(enrolment_id, c.modality, c.position)
        return Submission(enrolment_id=enrolment.id, site=enrolment.site_code, biodata=enrolment.biodata.to_dict(),
                          fingers=fingers, finger_images=images, face=face, exceptions=exceptions)

    def _check_complete(self, enrolment_id: str) -> None:
        missing = [(m, p) for m, p in self.capture.missing(enrolment_id) if m in self.settings.required]
        if missing:
            raise IncompleteEnrolment(enrolment_id, missing)
        # A finger captured without a template cannot be searched: extract it now or refuse clearly.
        without = [c.position for c in self.capture.captures(enrolment_id)
                   if c.modality is Modality.FINGER and c.exception is None and c.template_ref is None]
        if without and Modality.FINGER in self.settings.required:
            raise EktpError(f"enrolment {enrolment_id}: fingers {', '.join(without)} have no minutiae template "
                            "(install the biometrics extra, or capture them again)")

    def submit(self, enrolment_id: str, *, actor: str) -> EnrolmentState:
        """Send one enrolment. Returns its state afterwards: RECEIVED_AT_CENTRAL when the central side
        holds it, SENT_FOR_ENROLLMENT when it could not be reached (sent again on the next sync),
        ENROLL_FAILURE_AT_REGIONAL when the central side refused the record as malformed.

        Raises :class:`IncompleteEnrolment` (nothing changes) when captures are missing, and
        :class:`~ektp_core.verifying.CentralRefused` for a refusal a person must look at (token, conflict).
        """
        lc = self.lifecycle
        enrolment = lc.get(enrolment_id)
        if enrolment.state not in SENDABLE:
            raise IllegalTransition("enrolment", enrolment_id, enrolment.state, "sent to the central system")
        if enrolment.state is not E.SENT_FOR_ENROLLMENT:
            self._check_complete(enrolment_id)
            # Recorded before the request: if the node dies mid-request, the next sync sends it again.
            lc.transition(enrolment_id, E.SENT_FOR_ENROLLMENT, actor=actor, reason=f"to {self.verifier.name}")
        submission = self.submission(enrolment_id)
        at = lc.clock()
        try:
            receipt = self.verifier.submit(submission)
        except CentralUnavailable as exc:
            self._note_attempt(enrolment_id, str(exc), at)
            log.warning("enrolment %s not sent, central system unavailable: %s", enrolment_id, exc)
            return E.SENT_FOR_ENROLLMENT
        except CentralRefused as exc:
            self._note_attempt(enrolment_id, str(exc), at)
            if exc.code == "malformed":
                lc.transition(enrolment_id, E.ENROLL_FAILURE_AT_REGIONAL, actor=actor, reason=exc.detail)
                return E.ENROLL_FAILURE_AT_REGIONAL
            raise
        self._note_attempt(enrolment_id, None, at)
        with lc.store.write() as conn:
            conn.execute(central_submissions.update().where(central_submissions.c.enrolment_id == enrolment_id)
                         .values(received_at=receipt.received_at))
        lc.transition(enrolment_id, E.RECEIVED_AT_CENTRAL, actor=actor,
                      reason=f"received by {self.verifier.name}" + ("" if receipt.first else " (resend)"))
        return E.RECEIVED_AT_CENTRAL

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

    def _apply(self, verdict: Verdict, *, actor: str) -> None:
        lc = self.lifecycle
        at = lc.clock()
        with lc.store.write() as conn:
            current = repo.get_enrolment(conn, verdict.enrolment_id, lock=True)
            if current.state is not E.RECEIVED_AT_CENTRAL:
                return  # already applied (a second poll, or a concurrent sync)
            conn.execute(central_submissions.update()
                         .where(central_submissions.c.enrolment_id == verdict.enrolment_id)
                         .values(verdict=verdict.status.value, verdict_detail=json.dumps(verdict.to_dict()),
                                 decided_at=verdict.decided_at or at))
            _, t = lc._move_enrolment(conn, verdict.enrolment_id, verdict.status, actor, at, verdict.summary()[:2000],
                                      detail={"candidates": ",".join(c.enrolment_id for c in verdict.candidates)})
        lc._notify([t])

    def _ids_in(self, states: Iterable[EnrolmentState]) -> list[str]:
        with self.lifecycle.store.read() as conn:
            rows = conn.execute(sa.select(enrolments.c.id).where(enrolments.c.state.in_([s.value for s in states]))
                                .order_by(enrolments.c.created_at, enrolments.c.id)).scalars()
            return list(rows)

    def sync(self, *, actor: str, wait: float = 0) -> SyncReport:
        """One round with the central system: resend what is SENT_FOR_ENROLLMENT, fetch the verdicts of
        what it holds, report printed cards. Stops early (and says so) when the central side is down."""
        report = SyncReport()
        try:
            pending = self._ids_in([E.SENT_FOR_ENROLLMENT])
            for n, enrolment_id in enumerate(pending, 1):
                self.progress(f"sending {n}/{len(pending)}: {enrolment_id}")
                try:
                    state = self.submit(enrolment_id, actor=actor)
                except CentralRefused as exc:
                    report.failed[enrolment_id] = str(exc)
                    continue
                if state is E.SENT_FOR_ENROLLMENT:
                    status = self.status(enrolment_id)
                    raise CentralUnavailable(status.last_error if status and status.last_error else "unreachable")
                report.sent.append(enrolment_id)
            waiting = self._ids_in([E.RECEIVED_AT_CENTRAL])
            for n, enrolment_id in enumerate(waiting, 1):
                self.progress(f"asking for verdict {n}/{len(waiting)}: {enrolment_id}")
                verdict = self.fetch_verdict(enrolment_id, actor=actor, wait=wait)
                if verdict is None:
                    report.still_waiting.append(enrolment_id)
                else:
                    report.verdicts[enrolment_id] = verdict.status.value
            report.cards_reported.extend(self.report_cards())
        except CentralUnavailable as exc:
            return attrs.evolve(report, unavailable=str(exc))
        return report

    def report_cards(self) -> list[str]:
        """Tell the central side about printed cards it has not heard of yet."""
        printed = (E.CARD_PRINTED, E.CARD_SHIPPED, E.CARD_ISSUED)
        with self.lifecycle.store.read() as conn:
            rows = conn.execute(
                sa.select(enrolments.c.id, enrolments.c.updated_at)
                .join(central_submissions, central_submissions.c.enrolment_id == enrolments.c.id)
                .where(enrolments.c.state.in_([s.value for s in printed]),
                       central_submissions.c.card_reported_at.is_(None))).all()
        done = []
        for row in rows:
            self.verifier.card_printed(row.id, row.updated_at or self.lifecycle.clock())
            with self.lifecycle.store.write() as conn:
                conn.execute(central_submissions.update().where(central_submissions.c.enrolment_id == row.id)
                             .values(card_reported_at=self.lifecycle.clock()))
            done.append(row.id)
        return done

    # -- adjudication ------------------------------------------------------------------------------------------

    def adjudication_queue(self) -> list[tuple[str, Verdict | None]]:
        """Enrolments waiting in ADJUDICATE_RECORD, oldest first, with the verdict that put them there."""
        return [(eid, status.verdict if status else None)
                for eid in self._ids_in([E.ADJUDICATE_RECORD]) for status in [self.status(eid)]]

    def adjudicate(self, enrolment_id: str, decision: EnrolmentState | str, *, supervisor: str, note: str) -> None:
        """A supervisor's decision on an enrolment in ADJUDICATE_RECORD: PRINT_READY_RECORD (a different
        person) or DUPLICATE_RECORD. The central side is told first; if it cannot be reached nothing
        changes here and the decision can be given again."""
        decision = EnrolmentState(decision)
        if decision not in (E.PRINT_READY_RECORD, E.DUPLICATE_RECORD):
            raise EktpError(f"an adjudication decides PRINT_READY_RECORD or DUPLICATE_RECORD, not {decision}")
        if not note.strip():
            raise EktpError("an adjudication needs a note saying why")
        lc = self.lifecycle
        with lc.store.read() as conn:
            lc._require_role(conn, supervisor, (Role.SUPERVISOR, Role.ADMIN), "adjudicate a suspected duplicate")
            current = repo.get_enrolment(conn, enrolment_id)
        if current.state is not E.ADJUDICATE_RECORD:
            raise IllegalTransition("enrolment", enrolment_id, current.state, f"adjudicated as {decision}")
        self.verifier.adjudicate(enrolment_id, decision, supervisor=supervisor, note=note)
        lc.transition(enrolment_id, decision, actor=supervisor, reason=f"adjudicated by {supervisor}: {note}")

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

        A mismatch raises :class:`HandoverRefused`, leaves the card where it was and is audited.
        """
        if position not in FINGER_POSITIONS:
            raise EktpError(f"unknown finger position {position!r} (expected one of {list(FINGER_POSITIONS)})")
        lc = self.lifecycle
        enrolment = lc.get(enrolment_id)
        if enrolment.state not in HANDOVER_FROM:
            raise IllegalTransition("enrolment", enrolment_id, enrolment.state, "handed over (needs a printed card)")
        try:
            reference = self.capture.image(enrolment_id, Modality.FINGER, position, template=True)
        except EktpError:
            raise EktpError(f"enrolment {enrolment_id} has no {position} template (an exception?): "
                            "use another finger") from None
        score = float(self.matcher.verify(live_template, reference))
        threshold = self.settings.matcher.thresholds.handover
        if score < threshold:
            with lc.store.write() as conn:
                audit.append(conn, actor=operator, action="enrolment.handover_refused", subject_kind="enrolment",
                             subject_id=enrolment_id, at=lc.clock(),
                             detail={"position": position, "score": score, "threshold": threshold})
            raise HandoverRefused(f"the {position.replace('_', ' ')} does not match enrolment {enrolment_id} "
                                  f"(score {score:g} < {threshold:g}): card not handed over")
        lc.transition(enrolment_id, E.CARD_ISSUED, actor=operator,
                      reason=f"handed over: {position} matched (score {score:g} >= {threshold:g})")
        return score
