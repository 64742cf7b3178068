"""Correcting and cancelling recordings, and destroying a cancelled recording's biometrics.

- :meth:`Corrections.correct`: an enrolment not yet sent is corrected by the operators of its site
  (the form again); after it was sent, only by a supervisor at the Dukcapil node, with a reason, and
  only before its card is queued for printing (after that a data change is a ``perubahan``
  replacement). A correction of a record the central system already holds goes to the central system
  first (:meth:`~ektp_core.devices.verifiers.Verifier.correct`); the node changes nothing unless it
  was accepted. Every changed field is audited with its old and new value; sites learn of it through
  the feed.
- :meth:`Corrections.cancel`: a supervisor cancels (batalkan) a recording that was never sent or that
  the central system refused; it ends in ENROLLMENT_CANCELLED and frees the NIK.
- :meth:`Corrections.purge`: the biometrics of recordings cancelled longer ago than the profile's
  ``[lifecycle] cancelled_biometrics_days`` are deleted (images, templates, captures, and the sealed
  packet a site kept in its outbox), and the deletion is audited.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from typing import Any

import attrs
import sqlalchemy as sa

from ektp_core.devices.verifiers import CorrectingVerifier
from ektp_core.domain.model import Biodata, EnrolmentState, Role, SiteKind
from ektp_core.errors import Conflict, EktpError, IllegalTransition, ValidationFailed
from ektp_core.lifecycle import audit, card_register
from ektp_core.lifecycle.actions import AuditAction
from ektp_core.lifecycle.service import LifecycleService
from ektp_core.lifecycle.states import CANCELLABLE_STATES, OPEN_ENROLMENT_STATES
from ektp_core.messages import Message
from ektp_core.services.verification import VerificationService
from ektp_core.store import repository as repo
from ektp_core.store.tables import blobs, captures, central_submissions, enrolments, outbox

E = EnrolmentState

#: Sent, not yet queued for printing: a supervisor at the Dukcapil node may still correct the biodata.
CORRECTABLE_AFTER_SENDING = frozenset(
    {
        E.SENT_FOR_ENROLLMENT,
        E.RECEIVED_AT_CENTRAL,
        E.PRINT_READY_RECORD,
        E.ADJUDICATE_RECORD,
        E.REQUEST_VALIDATION,
        E.SEARCH_FAILURE_AT_CENTRAL,
        E.ENROLL_FAILURE_AT_REGIONAL,
    }
)
_DESK = (Role.OPERATOR, Role.SUPERVISOR, Role.ADMIN)
_SUPERVISORS = (Role.SUPERVISOR, Role.ADMIN)


@attrs.frozen
class Purged:
    """What :meth:`Corrections.purge` destroyed for one cancelled enrolment."""

    enrolment_id: str
    blobs: int
    captures: int
    packets: int


def plain(value: Any) -> Any:
    """A field's value as ``Biodata.to_dict`` holds it: enums by value, dates as ISO text."""
    return value.value if hasattr(value, "value") else (value.isoformat() if hasattr(value, "isoformat") else value)


class Corrections:
    """Corrections, cancellations and the purge of cancelled recordings' biometrics at one node."""

    def __init__(self, lifecycle: LifecycleService, *, verification: VerificationService | None = None) -> None:
        self.lifecycle = lifecycle
        #: The central system's service, for corrections of records it already holds (the Dukcapil node's).
        self.verification = verification

    def _is_dukcapil(self) -> bool:
        deployment = self.lifecycle.deployment
        return deployment is None or deployment.site.kind is SiteKind.DUKCAPIL

    # -- correct ---------------------------------------------------------------------------------------

    def correct(
        self, enrolment_id: str, changes: Mapping[str, Any], *, actor: str, reason: str | Message | None = None
    ) -> dict[str, tuple[Any, Any]]:
        """Apply ``changes`` (biodata field -> new value) to an enrolment; returns field -> (old, new).

        Refused, with nothing changed: an unknown field or an invalid value (named), no change at all,
        a state that allows no correction, a role that may not, a missing reason after sending, a new NIK
        that is already in progress elsewhere, and a correction the central system did not accept.
        """
        lc = self.lifecycle
        with lc.store.read() as conn:
            op = lc._require_role(conn, actor, _DESK, "correct an enrolment")
            enrolment = repo.get_enrolment(conn, enrolment_id)
            received = conn.execute(
                sa.select(central_submissions.c.received_at).where(central_submissions.c.enrolment_id == enrolment_id)
            ).scalar_one_or_none()
        old = enrolment.biodata.to_dict()
        merged = {**old, **{k: plain(v) for k, v in changes.items()}}
        biodata = Biodata.from_dict(merged)  # an unknown field or a bad value is refused here, by name
        new = biodata.to_dict()
        changed = {k: (old[k], new[k]) for k in new if new[k] != old.get(k)}
        if not changed:
            raise EktpError(Message("correction.nothing_changed", enrolment=enrolment_id))
        sent = enrolment.state is not E.BIO_CAPTURED
        if sent:
            if enrolment.state not in CORRECTABLE_AFTER_SENDING:
                raise IllegalTransition("enrolment", enrolment_id, enrolment.state, "corrected")
            if op.role not in _SUPERVISORS or not self._is_dukcapil():
                raise EktpError(Message("correction.supervisor_at_dukcapil", enrolment=enrolment_id))
            if not reason or not str(reason).strip():
                raise EktpError(Message("error.reason_required"))
            if "nik" in changed:
                raise EktpError(Message("correction.nik_after_sending", enrolment=enrolment_id))
        elif op.role is Role.OPERATOR and op.site_code != enrolment.site_code:
            raise EktpError(Message("account.may_not", username=actor, role=op.role, doing="correct an enrolment"))
        corrected = attrs.evolve(enrolment, biodata=biodata)
        problems = lc.validate(corrected)
        if problems:
            raise ValidationFailed([f"{p.field}: {p.message}" if p.field else p.message for p in problems])
        if sent and received is not None:
            # The central system holds the record: it must take the correction first, or nothing changes.
            verifier = self.verification.verifier if self.verification is not None else None
            if self.verification is None or not isinstance(verifier, CorrectingVerifier):
                raise EktpError(Message("correction.needs_central", enrolment=enrolment_id))
            submission = attrs.evolve(self.verification.submission(enrolment_id), biodata=new)
            verifier.correct(submission, reason=str(reason), supervisor=actor)
        at = lc.clock()
        with lc.store.write() as conn:
            audit.lock(conn)
            current = repo.get_enrolment(conn, enrolment_id, lock=True)
            if current.state is not enrolment.state or current.biodata != enrolment.biodata:
                raise Conflict(Message("correction.changed_meanwhile", enrolment=enrolment_id))
            if "nik" in changed:
                self._check_new_nik(conn, enrolment_id, biodata.nik.value)
            row = repo.enrolment_to_row(corrected)
            conn.execute(
                enrolments.update()
                .where(enrolments.c.id == enrolment_id)
                .values(nik=row["nik"], nama=row["nama"], biodata=row["biodata"], updated_at=at)
            )
            detail: dict[str, Any] = {"changes": {k: list(v) for k, v in changed.items()}, "sent": sent}
            if reason:
                detail["reason"] = str(reason)
                if isinstance(reason, Message):
                    detail["reason_message"] = reason.to_dict()
            audit.append(
                conn,
                actor=actor,
                action=AuditAction.ENROLMENT_CORRECTED,
                subject_kind="enrolment",
                subject_id=enrolment_id,
                detail=detail,
                at=at,
            )
        return changed

    @staticmethod
    def _check_new_nik(conn: Any, enrolment_id: str, nik: str) -> None:
        open_one = conn.execute(
            sa.select(enrolments.c.id, enrolments.c.state).where(
                enrolments.c.nik == nik,
                enrolments.c.id != enrolment_id,
                enrolments.c.state.in_([s.value for s in OPEN_ENROLMENT_STATES]),
            )
        ).first()
        if open_one is not None:
            raise Conflict(Message("enrolment.open_for_nik", nik=nik, enrolment=open_one.id, state=open_one.state))
        held = card_register.active(conn, nik)
        if held is not None:
            raise Conflict(Message("enrolment.card_active", nik=nik, serial=held.serial))

    # -- cancel ----------------------------------------------------------------------------------------

    def cancel(self, enrolment_id: str, *, supervisor: str, reason: str | Message) -> None:
        """Cancel (batalkan) a recording never sent, or refused by the central system: a supervisor's
        act with a reason. At a site, a recording already sent to the Dukcapil node is cancelled there."""
        lc = self.lifecycle
        if not str(reason).strip():
            raise EktpError(Message("error.reason_required"))
        at = lc.clock()
        with lc.store.write() as conn:
            lc._require_role(conn, supervisor, _SUPERVISORS, "cancel a recording")
            current = repo.get_enrolment(conn, enrolment_id, lock=True)
            if current.state not in CANCELLABLE_STATES:
                raise IllegalTransition("enrolment", enrolment_id, current.state, E.ENROLLMENT_CANCELLED)
            if not self._is_dukcapil():
                sent = conn.execute(
                    sa.select(outbox.c.packet_id).where(
                        outbox.c.kind == "enrolment", outbox.c.enrolment_id == enrolment_id
                    )
                ).first()
                if sent is not None:
                    raise EktpError(Message("cancel.sent_to_dukcapil", enrolment=enrolment_id))
            _, t = lc._move_enrolment(conn, enrolment_id, E.ENROLLMENT_CANCELLED, supervisor, at, reason)
        lc._notify([t])

    # -- purge -----------------------------------------------------------------------------------------

    def purge(self, *, older_than: dt.timedelta | None = None, actor: str = "system") -> list[Purged]:
        """Destroy the biometrics of every recording cancelled at least ``older_than`` ago (default: the
        profile's ``cancelled_biometrics_days``); each enrolment in its own transaction, audited."""
        lc = self.lifecycle
        if older_than is None:
            days = lc.deployment.profile.lifecycle.cancelled_biometrics_days if lc.deployment is not None else 30
            older_than = dt.timedelta(days=days)
        cutoff = lc.clock() - older_than
        holding = sa.or_(
            sa.exists().where(blobs.c.enrolment_id == enrolments.c.id),
            sa.exists().where(captures.c.enrolment_id == enrolments.c.id),
        )
        with lc.store.read() as conn:
            due = [
                row.id
                for row in conn.execute(
                    sa.select(enrolments.c.id)
                    .where(
                        enrolments.c.state == E.ENROLLMENT_CANCELLED.value,
                        enrolments.c.updated_at <= cutoff,
                        holding,
                    )
                    .order_by(enrolments.c.updated_at, enrolments.c.id)
                )
            ]
        return [self._purge_one(enrolment_id, actor) for enrolment_id in due]

    def _purge_one(self, enrolment_id: str, actor: str) -> Purged:
        lc = self.lifecycle
        at = lc.clock()
        with lc.store.write() as conn:
            current = repo.get_enrolment(conn, enrolment_id, lock=True)
            if current.state is not E.ENROLLMENT_CANCELLED:  # moved meanwhile: never destroy a live record
                raise IllegalTransition("enrolment", enrolment_id, current.state, "purged")
            n_blobs = conn.execute(blobs.delete().where(blobs.c.enrolment_id == enrolment_id)).rowcount
            n_captures = conn.execute(captures.delete().where(captures.c.enrolment_id == enrolment_id)).rowcount
            # A site keeps the sealed packet it sent; its biometrics go too (the receipt stays).
            n_packets = conn.execute(
                outbox.update()
                .where(outbox.c.enrolment_id == enrolment_id, outbox.c.kind == "enrolment")
                .values(packet=b"")
            ).rowcount
            purged = Purged(enrolment_id, n_blobs, n_captures, n_packets)
            audit.append(
                conn,
                actor=actor,
                action=AuditAction.ENROLMENT_BIOMETRICS_DESTROYED,
                subject_kind="enrolment",
                subject_id=enrolment_id,
                detail={"blobs": str(n_blobs), "captures": str(n_captures), "packets": str(n_packets)},
                at=at,
            )
        return purged


def changes_text(changed: Mapping[str, tuple[Any, Any]]) -> str:
    """The changed fields as one line (``nama: 'A' -> 'B'; rt: '001' -> '002'``)."""
    return "; ".join(
        f"{k}: {json.dumps(a, ensure_ascii=False)} -> {json.dumps(b, ensure_ascii=False)}"
        for k, (a, b) in changed.items()
    )
