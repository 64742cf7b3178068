"""The state machines of enrolments, print jobs and blanks, and the service that moves records.

Every change is one database transaction that also appends its audit entry; an illegal change
raises :class:`~ektp_core.errors.IllegalTransition` and changes nothing. Plugins hear about a
change (``ektp_after_transition``) only after it has committed.

A print is **never retried automatically**: a job whose outcome is unknown (the process died or the
printer vanished mid-card) stays UNKNOWN until a supervisor says what came out of the printer.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import attrs
import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from ektp_core.domain.model import (
    BlankState,
    Capture,
    Card,
    CardState,
    Enrolment,
    EnrolmentState,
    Operator,
    PrintJob,
    PrintJobState,
    Role,
    Site,
)
from ektp_core.errors import Conflict, EktpError, IllegalTransition, NotFound, ValidationFailed
from ektp_core.events import Transition, ValidationProblem
from ektp_core.keys.data_keys import DataKeyring, as_keyring
from ektp_core.lifecycle import audit, card_register
from ektp_core.lifecycle.actions import AuditAction, state_move
from ektp_core.lifecycle.states import (
    BLANK_TRANSITIONS,
    ENROLMENT_TRANSITIONS,
    OPEN_ENROLMENT_STATES,
    PRINT_JOB_TRANSITIONS,
)
from ektp_core.messages import Message, as_message, storable
from ektp_core.store import Store, counters
from ektp_core.store import blobs as blob_store
from ektp_core.store import repository as repo
from ektp_core.store.read_models import blank_stock
from ektp_core.store.read_models.blank_stock import LedgerCount as LedgerCount  # its old home: kept importable
from ektp_core.store.tables import blank_batches, blanks, captures, enrolments, operators, print_jobs, sites

log = logging.getLogger(__name__)

E = EnrolmentState
J = PrintJobState
B = BlankState
_OPEN_STATE_VALUES = sorted(s.value for s in OPEN_ENROLMENT_STATES)

# Built once (statement construction costs more than execution; see benchmarks/).
_SET_ENROLMENT_STATE = (
    enrolments.update()
    .where(enrolments.c.id == sa.bindparam("b_id"))
    .values(state=sa.bindparam("b_state"), reason=sa.bindparam("b_reason"), updated_at=sa.bindparam("b_at"))
)
_ENROLMENT_EXISTS = sa.select(enrolments.c.id).where(enrolments.c.id == sa.bindparam("b_id"))
_OPEN_FOR_NIK = sa.select(enrolments.c.id, enrolments.c.state).where(
    enrolments.c.nik == sa.bindparam("b_nik"), enrolments.c.state.in_(sa.bindparam("b_states", expanding=True))
)
_INSERT_ENROLMENT = enrolments.insert()


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class LifecycleService:
    """Moves enrolments, print jobs and blanks through their states, one transaction per move.

    ``hook`` is the plugin host's hook relay; ``deployment`` is passed through to hooks.
    """

    def __init__(
        self,
        store: Store,
        hook: Any,
        deployment: Any = None,
        *,
        clock: Callable[[], dt.datetime] = _now,
        data_key: DataKeyring | bytes | None = None,
    ) -> None:
        self.store = store
        self.hook = hook
        self.deployment = deployment
        self.clock = clock
        #: The node's data keys for biometrics at rest (from the deployment's keys when not given).
        self._data_key = as_keyring(data_key) if data_key is not None else None

    @property
    def data_key(self) -> DataKeyring:
        """The keyring that encrypts this node's biometric blobs (current key) and reads them (any key
        it has). Loaded from the deployment's ``keys/`` once; it follows a rotation made by another
        process by itself (:mod:`ektp_core.keys.data_keys`)."""
        if self._data_key is None:
            if self.deployment is None:
                raise EktpError("no data key: pass data_key= or a deployment with keys")
            self._data_key = DataKeyring.load(self.deployment.keys_dir)
        return self._data_key

    # ---------------------------------------------------------------------------------------------
    # Internals
    # ---------------------------------------------------------------------------------------------

    def _record(
        self,
        conn: Connection,
        kind: str,
        subject_id: str,
        old: str | None,
        new: str,
        actor: str,
        at: dt.datetime,
        reason: str | Message | None = None,
        detail: dict[str, Any] | None = None,
    ) -> Transition:
        # The audit entry keeps the English text (what the CLI and older readers show) and, for a
        # message, its code and params, from which the web UI says it in Indonesian.
        text = str(reason) if reason else None
        info = {"from": old, "to": new, **({"reason": text} if text else {}), **(detail or {})}
        if isinstance(reason, Message):
            info["reason_message"] = reason.to_dict()
        entry = audit.append(
            conn,
            actor=actor,
            action=state_move(kind, new),
            subject_kind=kind,
            subject_id=subject_id,
            detail=info,
            at=at,
        )
        return Transition(
            kind=kind,
            subject_id=subject_id,
            from_state=old,
            to_state=new,
            actor=actor,
            at=at,
            reason=text,
            audit_seq=entry.seq,
            detail=detail or {},
        )

    def _notify(self, transitions: Iterable[Transition]) -> None:
        # Each listener is called through pluggy on its own (hookwrappers and EKTP_TRACE_HOOKS see
        # every call): in one call pluggy stops at the first listener that raises, and one broken
        # listener must never silence the others. The change is committed either way.
        listeners = self.hook.each_plugin("ektp_after_transition")
        if not listeners:
            return
        for t in transitions:
            for listener in listeners:
                try:
                    listener(transition=t, deployment=self.deployment)
                except Exception:
                    log.exception(
                        "ektp_after_transition of plugin %s failed for %s %s -> %s",
                        listener.plugin,
                        t.kind,
                        t.subject_id,
                        t.to_state,
                    )

    @staticmethod
    def _check(kind: str, subject_id: str, table: dict[Any, frozenset[Any]], current: Any, new: Any) -> None:
        if new not in table[current]:
            raise IllegalTransition(kind, subject_id, str(current), str(new))

    def _move_enrolment(
        self,
        conn: Connection,
        enrolment_id: str,
        new: EnrolmentState,
        actor: str,
        at: dt.datetime,
        reason: str | Message | None = None,
        *,
        allowed_from: Sequence[EnrolmentState] = (),
        detail: dict[str, Any] | None = None,
    ) -> tuple[Enrolment, Transition]:
        current = repo.get_enrolment(conn, enrolment_id, lock=True)
        if allowed_from and current.state not in allowed_from:
            raise IllegalTransition("enrolment", enrolment_id, current.state, new)
        self._check("enrolment", enrolment_id, ENROLMENT_TRANSITIONS, current.state, new)
        stored = storable(reason) if reason is not None else None
        conn.execute(_SET_ENROLMENT_STATE, {"b_id": enrolment_id, "b_state": new.value, "b_reason": stored, "b_at": at})
        t = self._record(conn, "enrolment", enrolment_id, current.state.value, new.value, actor, at, reason, detail)
        counters.change(
            conn,
            counters.enrolment_keys(current.site_code, current.state.value, current.created_at),
            counters.enrolment_keys(current.site_code, new.value, current.created_at),
        )
        if new is E.CARD_ISSUED:
            # The card register follows in the same transaction: the card handed over becomes the
            # resident's active one, and the card it replaces stops being valid now.
            here = self.deployment.site_code if self.deployment is not None else current.site_code
            card_register.handed_over(conn, self._record, enrolment_id=enrolment_id, site=here, actor=actor, at=at)
        return current.with_state(new, at=at, reason=stored), t

    def _move_job(
        self,
        conn: Connection,
        job: PrintJob,
        new: PrintJobState,
        actor: str,
        at: dt.datetime,
        reason: str | Message | None = None,
        **values: Any,
    ) -> tuple[PrintJob, Transition]:
        self._check("print job", job.id, PRINT_JOB_TRANSITIONS, job.state, new)
        changes = {"state": new.value, "updated_at": at, **values}
        stored = storable(reason) if reason is not None else None
        if stored is not None:
            changes["reason"] = stored
        conn.execute(print_jobs.update().where(print_jobs.c.id == job.id).values(**changes))
        t = self._record(
            conn,
            "print_job",
            job.id,
            job.state.value,
            new.value,
            actor,
            at,
            reason,
            {k: v for k, v in values.items() if isinstance(v, str)},
        )
        counters.change(
            conn,
            counters.job_keys(job.site_code, job.state.value, job.print_day, job.printer, job.updated_at),
            counters.job_keys(job.site_code, new.value, job.print_day, values.get("printer", job.printer), at),
        )
        updated = attrs.evolve(
            job,
            state=new,
            updated_at=at,
            reason=stored if stored is not None else job.reason,
            **{k: v for k, v in values.items() if k in ("blank_serial", "printer")},
        )
        return updated, t

    def _move_blank(
        self,
        conn: Connection,
        serial: str,
        new: BlankState,
        actor: str,
        at: dt.datetime,
        reason: str | Message | None = None,
        **values: Any,
    ) -> Transition:
        row = repo.get_blank_row(conn, serial, lock=True)
        blank = repo.blank_from_row(row)
        self._check("blank", serial, BLANK_TRANSITIONS, blank.state, new)
        # Only a used blank counts by the time of its last change (a printed card spoiled later).
        was = row.updated_at if blank.state.value in counters.USED else None
        conn.execute(
            blanks.update()
            .where(blanks.c.serial == serial)
            .values(state=new.value, updated_at=at, reason=storable(reason) if reason is not None else None, **values)
        )
        t = self._record(conn, "blank", serial, blank.state.value, new.value, actor, at, reason, None)
        counters.change(
            conn,
            counters.blank_keys(blank.site_code, blank.state.value, was),
            counters.blank_keys(blank.site_code, new.value, at),
        )
        return t

    def _require_role(self, conn: Connection, username: str, roles: Iterable[Role], doing: str) -> Operator:
        try:
            op = repo.get_operator(conn, username)
        except NotFound:
            raise EktpError(Message("account.not_here", username=username, doing=doing)) from None
        if not op.active or op.role not in set(roles):
            raise EktpError(Message("account.may_not", username=username, role=op.role, doing=doing))
        return op

    # ---------------------------------------------------------------------------------------------
    # Sites and accounts
    # ---------------------------------------------------------------------------------------------

    def sync_sites(self, site_list: Iterable[Site], *, actor: str = "system") -> int:
        """Make the sites table match the profile (insert or update); returns how many changed."""
        changed = 0
        at = self.clock()
        with self.store.write() as conn:
            existing = {s.code: s for s in repo.list_sites(conn)}
            for site in site_list:
                row = repo.site_to_row(site)
                if site.code not in existing:
                    conn.execute(sites.insert().values(**row))
                elif existing[site.code] != site:
                    conn.execute(sites.update().where(sites.c.code == site.code).values(**row))
                else:
                    continue
                audit.append(
                    conn,
                    actor=actor,
                    action=AuditAction.SITE_SAVED,
                    subject_kind="site",
                    subject_id=site.code,
                    detail=row,
                    at=at,
                )
                changed += 1
        return changed

    def add_operator(self, operator: Operator, *, actor: str) -> Operator:
        """Create an account; a username already taken is refused and nothing changes."""
        at = self.clock()
        with self.store.write() as conn:
            if conn.execute(sa.select(operators.c.username).where(operators.c.username == operator.username)).first():
                raise Conflict(Message("account.taken", username=operator.username))
            conn.execute(
                operators.insert().values(
                    username=operator.username,
                    full_name=operator.full_name,
                    role=operator.role.value,
                    site_code=operator.site_code,
                    password_hash=operator.password_hash,
                    active=operator.active,
                    created_at=at,
                )
            )
            audit.append(
                conn,
                actor=actor,
                action=AuditAction.OPERATOR_CREATED,
                subject_kind="operator",
                subject_id=operator.username,
                detail={"role": operator.role.value, "site": operator.site_code},
                at=at,
            )
        return operator

    # ---------------------------------------------------------------------------------------------
    # Enrolments
    # ---------------------------------------------------------------------------------------------

    def validate(self, enrolment: Enrolment) -> list[ValidationProblem]:
        """Every validation hook's problems with an enrolment, collected."""
        results = self.hook.ektp_validate_enrolment(enrolment=enrolment, deployment=self.deployment)
        return [p for problems in results for p in (problems or [])]

    def record(
        self,
        enrolment: Enrolment,
        captures_: Sequence[Capture] = (),
        images: Mapping[str, bytes] | None = None,
        *,
        within: Callable[[Connection, dt.datetime], None] | None = None,
        recorded_at: dt.datetime | None = None,
    ) -> Enrolment:
        """Store a new enrolment in BIO_CAPTURED after the validation hooks pass.

        ``recorded_at`` is when the site that recorded it did so (the sync inbox passes the packet's
        time): the enrolment keeps it as its ``created_at`` (and the ``recorded`` counters count it in
        that hour), the audit entry keeps this node's own time of arrival. A time later than now (a
        site's clock ahead) is taken as now.

        ``images`` maps each capture's ``blob_ref`` (and ``template_ref``) to its raw bytes; they are
        stored encrypted in the same transaction, and so is whatever ``within(conn, at)`` writes (the
        sync inbox records the packet that brought the enrolment). Refused, with nothing stored:
        validation problems; an id already used (a duplicate submission); a NIK that already has an
        enrolment in progress; a capture whose image is missing.
        """
        images = dict(images or {})
        for capture in captures_:
            for ref in (capture.blob_ref, capture.template_ref):
                if ref is not None and ref not in images:
                    raise EktpError(f"capture {capture.modality}/{capture.position}: no image for {ref}")
        if enrolment.state is not E.BIO_CAPTURED:
            raise IllegalTransition("enrolment", enrolment.id, "(new)", enrolment.state)
        problems = self.validate(enrolment)
        if problems:
            raise ValidationFailed([f"{p.field}: {p.message}" if p.field else p.message for p in problems])
        at = self.clock()
        recorded = at if recorded_at is None else min(recorded_at, at)
        enrolment = attrs.evolve(enrolment, created_at=recorded, updated_at=at)
        with self.store.write() as conn:
            audit.lock(conn)
            if conn.execute(_ENROLMENT_EXISTS, {"b_id": enrolment.id}).first():
                raise Conflict(Message("enrolment.duplicate", enrolment=enrolment.id))
            open_one = conn.execute(
                _OPEN_FOR_NIK, {"b_nik": enrolment.biodata.nik.value, "b_states": _OPEN_STATE_VALUES}
            ).first()
            if open_one:
                raise Conflict(
                    Message(
                        "enrolment.open_for_nik",
                        nik=str(enrolment.biodata.nik),
                        enrolment=open_one.id,
                        state=open_one.state,
                    )
                )
            lost = self._check_service(conn, enrolment)
            conn.execute(_INSERT_ENROLMENT, repo.enrolment_to_row(enrolment))
            # One statement each for the blobs and the captures: a full enrolment has two dozen.
            items = []
            for capture in captures_:
                kind = f"{capture.modality}/{capture.position}"
                if capture.blob_ref is not None:
                    items.append((capture.blob_ref, kind, images[capture.blob_ref]))
                if capture.template_ref is not None:
                    items.append((capture.template_ref, f"{kind}/template", images[capture.template_ref]))
            blob_store.put_many(conn, self.data_key, enrolment_id=enrolment.id, items=items, at=at)
            if captures_:
                conn.execute(captures.insert(), [repo.capture_to_row(enrolment.id, c) for c in captures_])
            t = self._record(
                conn,
                "enrolment",
                enrolment.id,
                None,
                E.BIO_CAPTURED.value,
                enrolment.operator,
                at,
                detail={
                    "site": enrolment.site_code,
                    "nik": enrolment.biodata.nik.value,
                    "captures": str(len(captures_)),
                    # Recorded elsewhere: when it was, beside this entry's own time (its arrival).
                    **({"recorded_at": recorded.isoformat()} if recorded_at is not None else {}),
                },
            )
            counters.change(conn, after=counters.enrolment_keys(enrolment.site_code, E.BIO_CAPTURED.value, recorded))
            more = []
            if lost is not None:
                # A lost card is invalid from the moment it is reported (DOMAIN.md): now, not at handover.
                more.append(
                    card_register.move(
                        conn,
                        self._record,
                        lost.serial,
                        CardState.LOST,
                        actor=enrolment.operator,
                        at=at,
                        reason=Message(
                            "reason.card_reported_lost",
                            number=enrolment.service.police_report_number or "",
                            enrolment=enrolment.id,
                        ),
                    )
                )
            if within is not None:
                within(conn, at)
        self._notify([t, *more])
        return enrolment

    def _check_service(self, conn: Connection, enrolment: Enrolment) -> Any:
        """Refuse a first card for a resident who holds one, and a replacement that names no earlier
        record of the same resident; returns the active card a ``hilang`` replacement reports lost."""
        nik = enrolment.biodata.nik.value
        service = enrolment.service
        held = card_register.active(conn, nik)
        if not service.is_replacement:
            if held is not None:
                raise Conflict(Message("enrolment.card_active", nik=nik, serial=held.serial))
            return None
        try:
            earlier = repo.get_enrolment(conn, service.replaces or "")
        except NotFound:
            # Recorded at another node: the Dukcapil node checks it against its own register when the
            # packet arrives; a site that never saw the earlier record cannot.
            if self.deployment is not None and self.deployment.site.kind.value == "dukcapil":
                raise Conflict(Message("enrolment.replaces_unknown", enrolment=service.replaces)) from None
            return None
        if earlier.biodata.nik.value != nik:
            raise Conflict(
                Message("enrolment.replaces_other_nik", enrolment=earlier.id, nik=nik, other=earlier.biodata.nik.value)
            )
        if earlier.state is not E.CARD_ISSUED:
            raise Conflict(Message("enrolment.replaces_no_card", enrolment=earlier.id, state=earlier.state))
        if service.surrendered_serial and held is not None and held.serial != service.surrendered_serial:
            raise Conflict(
                Message("enrolment.surrendered_not_active", serial=service.surrendered_serial, active=held.serial)
            )
        if service.type.value == "hilang" and held is not None:
            return held
        return None

    def transition(
        self, enrolment_id: str, new: EnrolmentState | str, *, actor: str, reason: str | Message | None = None
    ) -> Enrolment:
        """Move an enrolment to ``new``; illegal moves raise and change nothing."""
        new = EnrolmentState(new)
        if new in (E.SENT_FOR_CARD_PRINTING, E.CARD_PRINTED):
            raise EktpError(f"{new} is set by the print queue (queue_print / print outcome), not directly")
        if new is E.ENROLLMENT_CANCELLED:
            raise EktpError(f"{new} is a supervisor's act: ektp_core.services.corrections.Corrections.cancel")
        at = self.clock()
        with self.store.write() as conn:
            # While a card is being printed, only the print queue moves the enrolment (cancel_job, outcomes).
            enrolment, t = self._move_enrolment(
                conn,
                enrolment_id,
                new,
                actor,
                at,
                reason,
                allowed_from=[s for s in ENROLMENT_TRANSITIONS if s is not E.SENT_FOR_CARD_PRINTING],
            )
        self._notify([t])
        return enrolment

    def get(self, enrolment_id: str) -> Enrolment:
        """One enrolment."""
        with self.store.read() as conn:
            return repo.get_enrolment(conn, enrolment_id)

    def cards_of(self, nik: str) -> list[Card]:
        """Every card of one resident in this node's card register, oldest first ("where is my card?")."""
        with self.store.read() as conn:
            return card_register.of_nik(conn, nik)

    def history(self, subject_id: str) -> list[audit.AuditEntry]:
        """The audit entries about one enrolment, job or blank, oldest first (its status timeline)."""
        with self.store.read() as conn:
            return list(audit.entries(conn, subject_id=subject_id))

    # ---------------------------------------------------------------------------------------------
    # Print jobs
    # ---------------------------------------------------------------------------------------------

    def queue_print(
        self,
        enrolment_id: str,
        *,
        site_code: str,
        actor: str,
        routing_reason: str | Message,
        job_id: str | None = None,
        print_day: str | None = None,
    ) -> PrintJob:
        """Create a print job for a print-ready enrolment at the site the rules chose (and, when the
        rules fix one, the weekday the site prints it on). The routing reason is stored as its
        message (JSON), so each interface shows it in its own language."""
        at = self.clock()
        job = PrintJob(
            id=job_id or uuid.uuid4().hex,
            enrolment_id=enrolment_id,
            site_code=site_code,
            routing_reason=storable(routing_reason),
            print_day=print_day,
            created_at=at,
            updated_at=at,
        )
        with self.store.write() as conn:
            _, t1 = self._move_enrolment(
                conn,
                enrolment_id,
                E.SENT_FOR_CARD_PRINTING,
                actor,
                at,
                allowed_from=(E.PRINT_READY_RECORD,),
                detail={"job": job.id},
            )
            try:
                with conn.begin_nested():
                    conn.execute(print_jobs.insert().values(**repo.job_to_row(job)))
            except IntegrityError:
                raise Conflict(Message("job.open_exists", enrolment=enrolment_id, job=job.id)) from None
            t2 = self._record(
                conn,
                "print_job",
                job.id,
                None,
                J.QUEUED.value,
                actor,
                at,
                detail={
                    "enrolment": enrolment_id,
                    "site": site_code,
                    "routing": as_message(routing_reason).to_dict(),
                    **({"print_day": print_day} if print_day else {}),
                },
            )
            counters.change(conn, after=counters.job_keys(site_code, J.QUEUED.value, print_day, None, at))
        self._notify([t1, t2])
        return job

    def requeue(self, job_id: str, *, actor: str) -> PrintJob:
        """A new job for the enrolment of a SPOILED job (an operator's decision, never automatic)."""
        at = self.clock()
        with self.store.write() as conn:
            old = repo.get_job(conn, job_id, lock=True)
            if old.state is not J.SPOILED:
                raise IllegalTransition("print job", job_id, old.state, "requeued (only a SPOILED job can be)")
            enrolment = repo.get_enrolment(conn, old.enrolment_id, lock=True)
            if enrolment.state is not E.SENT_FOR_CARD_PRINTING:
                raise IllegalTransition("enrolment", enrolment.id, enrolment.state, "requeued for printing")
            job = PrintJob(
                id=uuid.uuid4().hex,
                enrolment_id=old.enrolment_id,
                site_code=old.site_code,
                routing_reason=old.routing_reason,
                print_day=old.print_day,
                created_at=at,
                updated_at=at,
            )
            try:
                with conn.begin_nested():
                    conn.execute(print_jobs.insert().values(**repo.job_to_row(job)))
            except IntegrityError:
                raise Conflict(Message("job.open_exists", enrolment=old.enrolment_id, job=old.id)) from None
            t = self._record(
                conn,
                "print_job",
                job.id,
                None,
                J.QUEUED.value,
                actor,
                at,
                detail={"enrolment": old.enrolment_id, "requeue_of": job_id},
            )
            counters.change(conn, after=counters.job_keys(job.site_code, J.QUEUED.value, job.print_day, None, at))
        self._notify([t])
        return job

    def cancel_job(self, job_id: str, *, actor: str, reason: str | Message) -> PrintJob:
        """Cancel a QUEUED job (nothing reserved yet); the enrolment is print-ready again."""
        at = self.clock()
        with self.store.write() as conn:
            job = repo.get_job(conn, job_id, lock=True)
            job, t1 = self._move_job(conn, job, J.CANCELLED, actor, at, reason)
            _, t2 = self._move_enrolment(conn, job.enrolment_id, E.PRINT_READY_RECORD, actor, at, reason)
        self._notify([t1, t2])
        return job

    def reserve_blank(self, job_id: str, *, actor: str, serial: str | None = None) -> PrintJob:
        """Take the next blank in stock at the job's site (lowest serial first) for this job, or the
        blank ``serial`` (a site node reporting which blank it printed on).

        Refused, nothing consumed: a site without blanks (or without that one in stock); a job not QUEUED.
        """
        at = self.clock()
        with self.store.write() as conn:
            job = repo.get_job(conn, job_id, lock=True)
            self._check("print job", job_id, PRINT_JOB_TRANSITIONS, job.state, J.RESERVED)
            query = sa.select(blanks.c.serial).where(
                blanks.c.site_code == job.site_code, blanks.c.state == B.IN_STOCK.value
            )
            if serial is not None:
                query = query.where(blanks.c.serial == serial)
            serial = conn.execute(query.order_by(blanks.c.serial).limit(1).with_for_update(skip_locked=True)).scalar()
            if serial is None:
                raise Conflict(Message("blank.none_in_stock", site=job.site_code))
            tb = self._move_blank(conn, serial, B.RESERVED, actor, at, job_id=job.id, enrolment_id=job.enrolment_id)
            job, tj = self._move_job(conn, job, J.RESERVED, actor, at, blank_serial=serial)
        self._notify([tb, tj])
        return job

    def release_blank(self, job_id: str, *, actor: str, reason: str | Message) -> PrintJob:
        """Give a RESERVED job's blank back to stock (nothing was sent to the printer)."""
        at = self.clock()
        with self.store.write() as conn:
            job = repo.get_job(conn, job_id, lock=True)
            if job.state is not J.RESERVED or job.blank_serial is None:
                # A SENT job may already have a card in the printer: never give its blank back here.
                raise IllegalTransition(
                    "print job",
                    job_id,
                    job.state,
                    "QUEUED (only a RESERVED job gives "
                    "its blank back; a SENT one needs the printer's word or a supervisor)",
                )
            tb = self._move_blank(conn, job.blank_serial, B.IN_STOCK, actor, at, reason, job_id=None, enrolment_id=None)
            job, tj = self._move_job(conn, job, J.QUEUED, actor, at, reason, blank_serial=None)
        self._notify([tb, tj])
        return job

    def mark_sent(self, job_id: str, *, actor: str, printer: str) -> PrintJob:
        """Record that bytes are about to go to ``printer``: from here on, the outcome needs evidence."""
        at = self.clock()
        with self.store.write() as conn:
            job = repo.get_job(conn, job_id, lock=True)
            job, t = self._move_job(conn, job, J.SENT, actor, at, printer=printer)
        self._notify([t])
        return job

    def mark_printed(self, job_id: str, *, actor: str, reason: str | Message | None = None) -> PrintJob:
        """The printer confirmed the card: job PRINTED, blank PRINTED, enrolment CARD_PRINTED."""
        return self._finish(job_id, J.PRINTED, actor, reason)

    def mark_spoiled(self, job_id: str, *, actor: str, reason: str | Message) -> PrintJob:
        """The printer failed: job SPOILED, blank SPOILED with the reason. The job waits for an operator."""
        return self._finish(job_id, J.SPOILED, actor, reason)

    def spoil_printed(self, job_id: str, *, supervisor: str, reason: str | Message) -> PrintJob:
        """A card that printed but cannot be handed over (a misprint found on inspection, damaged before
        handover): job and blank SPOILED with the reason, the enrolment back to SENT_FOR_CARD_PRINTING so
        :meth:`requeue` can print it again. Only while the card is CARD_PRINTED (not shipped or issued),
        and only with a supervisor's approval: a printed card is an accountable document."""
        with self.store.write() as conn:
            self._require_role(conn, supervisor, (Role.SUPERVISOR, Role.ADMIN), "spoil a printed card")
            transitions = self._spoil_printed(conn, job_id, supervisor, reason)
        self._notify(transitions)
        return repo_job(self.store, job_id)

    def spoil_after_print_reported(self, job_id: str, *, actor: str, reason: str | Message) -> PrintJob:
        """The Dukcapil node applies a site's report that a supervisor there spoiled a printed card (the
        site checked the supervisor; the packet's signature vouches for the site)."""
        with self.store.write() as conn:
            transitions = self._spoil_printed(conn, job_id, actor, reason)
        self._notify(transitions)
        return repo_job(self.store, job_id)

    def was_printed(self, job_id: str) -> bool:
        """True when the job's history shows it PRINTED (a SPOILED job spoiled after printing)."""
        return any(entry.detail.get("to") == J.PRINTED.value for entry in self.history(job_id))

    def _spoil_printed(self, conn: Connection, job_id: str, actor: str, reason: str | Message) -> list[Transition]:
        if not str(reason).strip():
            raise EktpError(Message("error.reason_required"))
        at = self.clock()
        job = repo.get_job(conn, job_id, lock=True)
        if job.state is not J.PRINTED or job.blank_serial is None:
            raise IllegalTransition("print job", job_id, job.state, "spoiled after printing (only a PRINTED job)")
        _, te = self._move_enrolment(
            conn,
            job.enrolment_id,
            E.SENT_FOR_CARD_PRINTING,
            actor,
            at,
            reason,
            allowed_from=(E.CARD_PRINTED,),
            detail={"job": job.id, "spoiled_card": True},
        )
        _, tj = self._move_job(conn, job, J.SPOILED, actor, at, reason)
        tb = self._move_blank(conn, job.blank_serial, B.SPOILED, actor, at, reason)
        out = [tj, tb, te]
        if any(c.serial == job.blank_serial for c in card_register.of_enrolment(conn, job.enrolment_id)):
            # Registered here (a card printed at another node is in that node's register).
            out.append(
                card_register.move(
                    conn, self._record, job.blank_serial, CardState.DESTROYED, actor=actor, at=at, reason=reason
                )
            )
        return out

    def _finish(self, job_id: str, outcome: PrintJobState, actor: str, reason: str | Message | None) -> PrintJob:
        at = self.clock()
        with self.store.write() as conn:
            job = repo.get_job(conn, job_id, lock=True)
            if job.state is J.UNKNOWN:
                raise IllegalTransition(
                    "print job", job_id, job.state, f"{outcome} (only a supervisor resolves UNKNOWN)"
                )
            if job.state is J.PRINTED:
                # The printer's outcome is final; spoiling a printed card is a supervisor's spoil_printed.
                raise IllegalTransition(
                    "print job", job_id, job.state, f"{outcome} (a printed card is spoiled only by a supervisor)"
                )
            if outcome is J.PRINTED:
                transitions = self._finish_printed(conn, job, actor, at, reason)
            else:
                transitions = self._finish_spoiled(conn, job, actor, at, reason or "")
        self._notify(transitions)
        return repo_job(self.store, job_id)

    def return_unprinted(self, job_id: str, *, actor: str, reason: str | Message) -> PrintJob:
        """The printer reported that it took no card for a SENT job: the blank goes back to stock
        and the job is QUEUED again (printing it again is still an operator's decision)."""
        at = self.clock()
        with self.store.write() as conn:
            job = repo.get_job(conn, job_id, lock=True)
            self._check("print job", job_id, PRINT_JOB_TRANSITIONS, job.state, J.QUEUED)
            if job.state is not J.SENT or job.blank_serial is None:
                raise IllegalTransition("print job", job_id, job.state, "QUEUED (only a SENT job the printer refused)")
            tb = self._move_blank(conn, job.blank_serial, B.IN_STOCK, actor, at, reason, job_id=None, enrolment_id=None)
            job, tj = self._move_job(conn, job, J.QUEUED, actor, at, reason, blank_serial=None, printer=None)
        self._notify([tb, tj])
        return job

    def mark_unknown(self, job_id: str, *, actor: str, reason: str | Message) -> PrintJob:
        """The outcome of a SENT job cannot be known (crash, printer vanished): a supervisor must look."""
        at = self.clock()
        with self.store.write() as conn:
            job = repo.get_job(conn, job_id, lock=True)
            job, t = self._move_job(conn, job, J.UNKNOWN, actor, at, reason)
        self._notify([t])
        return job

    def resolve_unknown(
        self, job_id: str, *, supervisor: str, printed: bool, reason: str | Message, card_taken: bool = True
    ) -> PrintJob:
        """A supervisor says what became of the card of an UNKNOWN job: ``printed``; or not printed
        and spoiled; or, with ``card_taken=False``, never taken by the printer at all (its counter did
        not move): then the blank returns to stock and the job is QUEUED to be printed again."""
        if printed and not card_taken:
            raise EktpError("a printed card was taken by the printer: card_taken=False contradicts printed=True")
        at = self.clock()
        with self.store.write() as conn:
            self._require_role(conn, supervisor, (Role.SUPERVISOR, Role.ADMIN), "resolve an UNKNOWN print job")
            job = repo.get_job(conn, job_id, lock=True)
            if job.state is not J.UNKNOWN:
                raise IllegalTransition("print job", job_id, job.state, "resolved (only UNKNOWN jobs are)")
            if not card_taken:
                assert job.blank_serial is not None  # UNKNOWN jobs always hold their blank
                tb = self._move_blank(
                    conn, job.blank_serial, B.IN_STOCK, supervisor, at, reason, job_id=None, enrolment_id=None
                )
                job, tj = self._move_job(conn, job, J.QUEUED, supervisor, at, reason, blank_serial=None, printer=None)
                transitions = [tb, tj]
            else:
                finish = self._finish_printed if printed else self._finish_spoiled
                transitions = finish(conn, job, supervisor, at, reason)
        self._notify(transitions)
        return repo_job(self.store, job_id)

    def recover_interrupted(self, *, site_code: str | None = None, actor: str = "system") -> dict[str, list[str]]:
        """After a crash: SENT jobs become UNKNOWN (a card may have come out); RESERVED jobs give their
        blank back (nothing was sent). Called when a printing node starts."""
        done: dict[str, list[str]] = {"unknown": [], "released": []}
        with self.store.read() as conn:
            stuck = repo.list_jobs(conn, site_code=site_code, states=(J.SENT.value, J.RESERVED.value))
        for job in stuck:
            if job.state is J.SENT:
                self.mark_unknown(job.id, actor=actor, reason=Message("reason.process_stopped_sent"))
                done["unknown"].append(job.id)
            else:
                self.release_blank(job.id, actor=actor, reason=Message("reason.process_stopped_before"))
                done["released"].append(job.id)
        return done

    def _finish_printed(
        self, conn: Connection, job: PrintJob, actor: str, at: dt.datetime, reason: str | Message | None
    ) -> list[Transition]:
        if job.blank_serial is None:  # SENT and UNKNOWN jobs always hold a blank; this guards the invariant
            raise IllegalTransition("print job", job.id, job.state, "PRINTED without a reserved blank")
        _, tj = self._move_job(conn, job, J.PRINTED, actor, at, reason)
        tb = self._move_blank(conn, job.blank_serial, B.PRINTED, actor, at, reason)
        enrolment, te = self._move_enrolment(
            conn, job.enrolment_id, E.CARD_PRINTED, actor, at, reason, detail={"job": job.id, "blank": job.blank_serial}
        )
        tc = card_register.printed(
            conn,
            self._record,
            serial=job.blank_serial,
            enrolment_id=job.enrolment_id,
            nik=enrolment.biodata.nik.value,
            site=job.site_code,
            collection_site=None,
            actor=actor,
            at=at,
        )
        return [tj, tb, te, tc]

    def _finish_spoiled(
        self, conn: Connection, job: PrintJob, actor: str, at: dt.datetime, reason: str | Message
    ) -> list[Transition]:
        if not reason:
            raise EktpError(Message("error.reason_required"))
        _, tj = self._move_job(conn, job, J.SPOILED, actor, at, reason)
        out = [tj]
        if job.blank_serial is not None:
            out.append(self._move_blank(conn, job.blank_serial, B.SPOILED, actor, at, reason))
        return out

    def jobs_by_id(self, job_id: str) -> PrintJob:
        """One print job."""
        return repo_job(self.store, job_id)

    def jobs(self, *, site_code: str | None = None, states: Sequence[str] = ()) -> list[PrintJob]:
        """Print jobs, oldest first."""
        with self.store.read() as conn:
            return repo.list_jobs(conn, site_code=site_code, states=tuple(states))

    # ---------------------------------------------------------------------------------------------
    # Blank ledger
    # ---------------------------------------------------------------------------------------------

    def receive_blanks(self, site_code: str, serials: Sequence[str], *, actor: str, note: str | None = None) -> int:
        """Add a delivery of blanks to a site's stock. A serial already in the ledger refuses the
        whole delivery, naming the serial; nothing is stored."""
        from ektp_core.domain.model import Blank  # local: validation only

        if not serials:
            raise EktpError(Message("blank.none_given"))
        if len(set(serials)) != len(serials):
            dup = next(s for s in serials if list(serials).count(s) > 1)
            raise Conflict(Message("blank.twice_in_delivery", serial=dup))
        for s in serials:
            Blank(serial=s, site_code=site_code)
        at = self.clock()
        with self.store.write() as conn:
            audit.lock(conn)
            existing = conn.execute(sa.select(blanks.c.serial).where(blanks.c.serial.in_(list(serials)))).first()
            if existing:
                raise Conflict(Message("blank.already_in_ledger", serial=existing.serial))
            inserted = conn.execute(
                blank_batches.insert().values(
                    site_code=site_code, count=len(serials), received_at=at, received_by=actor, note=note
                )
            ).inserted_primary_key
            assert inserted is not None
            batch_id = inserted[0]
            conn.execute(
                blanks.insert(),
                [
                    {
                        "serial": s,
                        "site_code": site_code,
                        "batch_id": batch_id,
                        "state": B.IN_STOCK.value,
                        "updated_at": at,
                    }
                    for s in serials
                ],
            )
            audit.append(
                conn,
                actor=actor,
                action=AuditAction.BLANKS_RECEIVED,
                subject_kind="blank_batch",
                subject_id=str(batch_id),
                detail={"site": site_code, "count": len(serials), "first": min(serials), "last": max(serials)},
                at=at,
            )
            counters.add(conn, {key: len(serials) for key in counters.blank_keys(site_code, B.IN_STOCK.value, at)})
        return len(serials)

    def spoil_blank(self, serial: str, *, actor: str, reason: str | Message) -> None:
        """A blank in stock found damaged: SPOILED with the reason."""
        if not reason:
            raise EktpError(Message("error.reason_required"))
        at = self.clock()
        with self.store.write() as conn:
            blank = repo.get_blank(conn, serial, lock=True)
            if blank.state is not B.IN_STOCK:
                # A reserved blank belongs to its print job: the job's outcome decides what becomes of it.
                raise IllegalTransition(
                    "blank",
                    serial,
                    blank.state,
                    "SPOILED (only a blank in stock can be "
                    "spoiled directly; a reserved one is spoiled through its print job)",
                )
            t = self._move_blank(conn, serial, B.SPOILED, actor, at, reason)
        self._notify([t])

    def ledger(self, site_code: str | None = None) -> LedgerCount:
        """The counts of the blank ledger of a site (None or '': every site), read in one snapshot."""
        with self.store.read() as conn:
            return blank_stock.ledger(conn, site_code or None)


def repo_job(store: Store, job_id: str) -> PrintJob:
    """Read one print job in its own short transaction."""
    with store.read() as conn:
        return repo.get_job(conn, job_id)
