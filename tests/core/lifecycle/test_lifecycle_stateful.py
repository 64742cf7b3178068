"""Random sequences of lifecycle operations on a real SQLite database, checked against a model.

The machine keeps its own picture of every enrolment, print job and blank, predicts from the
transition tables whether each operation must succeed or be refused, and after every step compares
the database with that picture and checks the invariants: the blank ledger balances, one printed
blank per card, the audit chain holds and tells each record's whole path from its first state.
"""

from __future__ import annotations

import collections
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import attrs
import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from ektp_core.domain.model import BlankState as B
from ektp_core.domain.model import CardState, Operator, Role
from ektp_core.domain.model import EnrolmentState as E
from ektp_core.domain.model import PrintJobState as J
from ektp_core.errors import Conflict, EktpError, IllegalTransition
from ektp_core.keys import crypto
from ektp_core.lifecycle import audit
from ektp_core.lifecycle.service import (
    BLANK_TRANSITIONS,
    ENROLMENT_TRANSITIONS,
    OPEN_ENROLMENT_STATES,
    PRINT_JOB_TRANSITIONS,
    LifecycleService,
)
from ektp_core.lifecycle.states import CANCELLABLE_STATES, CARD_TRANSITIONS
from ektp_core.services.corrections import Corrections
from ektp_core.services.node_init import create_deployment
from ektp_core.store.tables import audit_head, blank_batches, blanks, cards, enrolments, print_jobs
from ektp_core.testing import make_enrolment, valid_nik

SITES = ("17.71", "17.71.05")
SUPERVISOR = "sup1"
OPERATOR = "op1"
#: Jobs that may still produce a card.
OPEN_JOB = frozenset({J.QUEUED, J.RESERVED, J.SENT, J.UNKNOWN})
#: Set only by the print queue; ``transition()`` refuses them as targets (EktpError).
QUEUE_ONLY = frozenset({E.SENT_FOR_CARD_PRINTING, E.CARD_PRINTED, E.ENROLLMENT_CANCELLED})
#: Left only through the print queue (cancel_job, a print outcome); ``transition()`` refuses.
QUEUE_HELD = frozenset({E.SENT_FOR_CARD_PRINTING})


def _by_hand(state: E) -> frozenset[E]:
    """Where ``transition()`` may take an enrolment from ``state``."""
    return frozenset() if state in QUEUE_HELD else ENROLMENT_TRANSITIONS[state] - QUEUE_ONLY


picks = st.integers(0, 2**16)

#: The next step towards a card, so that random walks reach the print queue often.
TOWARDS_A_CARD = {
    E.BIO_CAPTURED: E.SENT_FOR_ENROLLMENT,
    E.SENT_FOR_ENROLLMENT: E.RECEIVED_AT_CENTRAL,
    E.RECEIVED_AT_CENTRAL: E.PRINT_READY_RECORD,
    E.ADJUDICATE_RECORD: E.PRINT_READY_RECORD,
    E.ENROLL_FAILURE_AT_REGIONAL: E.SENT_FOR_ENROLLMENT,
    E.SEARCH_FAILURE_AT_CENTRAL: E.SENT_FOR_ENROLLMENT,
    E.REQUEST_VALIDATION: E.SENT_FOR_ENROLLMENT,
    E.CARD_PRINTED: E.CARD_SHIPPED,
    E.CARD_SHIPPED: E.CARD_ISSUED,
}


@attrs.define
class JobModel:
    state: J
    enrolment_id: str
    site: str
    blank: str | None = None
    seq: int = 0


@attrs.define
class BlankModel:
    state: B
    site: str
    job_id: str | None = None
    enrolment_id: str | None = None


def _choose(items: list[str], pick: int) -> str:
    # by insertion order, never by id: ids are random uuids, and a replay must pick the same record
    return items[pick % len(items)]


class LifecycleMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.tmpdir = tempfile.mkdtemp(prefix="ektp-stateful-")
        deployment = create_deployment(
            Path(self.tmpdir) / "deployment", profile="minimal", database_url=f"sqlite:///{self.tmpdir}/db.sqlite3"
        )
        self.store = deployment.open_store()
        self.service = LifecycleService(self.store, deployment.plugin_host().hook, deployment)
        self.enrolments: dict[str, E] = {}
        self.niks: dict[str, str] = {}
        self.jobs: dict[str, JobModel] = {}
        self.blanks: dict[str, BlankModel] = {}
        #: The card register: blank serial -> (state, NIK).
        self.cards: dict[str, tuple[CardState, str]] = {}
        self.received: collections.Counter[str] = collections.Counter()
        self.accounts = False
        self.next_nik = 1
        self.next_blank = 1
        self.next_job_seq = 1
        with self.store.read() as conn:
            self.audit_seq = conn.execute(sa.select(audit_head.c.seq)).scalar_one()

    def teardown(self) -> None:
        self.store.dispose()
        shutil.rmtree(self.tmpdir, ignore_errors=True)

    # ---------------------------------------------------------------------------------------------
    # Helpers
    # ---------------------------------------------------------------------------------------------

    @contextmanager
    def refused(self, exc: type[Exception]) -> Iterator[None]:
        """The operation must raise ``exc``; the invariants then check that nothing changed."""
        try:
            yield
        except exc:
            return
        raise AssertionError(f"expected {exc.__name__}, the operation succeeded")

    def _ids(self, states: frozenset[E] | None = None) -> list[str]:
        return [i for i, s in self.enrolments.items() if states is None or s in states]

    def _jobs(self, states: frozenset[J] | None = None) -> list[str]:
        return [i for i, j in self.jobs.items() if states is None or j.state in states]

    def _pick_job(self, pick: int, legal: frozenset[J], prefer_legal: bool) -> str:
        candidates = self._jobs(legal) if prefer_legal else []
        return _choose(candidates or self._jobs(), pick)

    def _add_job(self, job_id: str, enrolment_id: str, site: str) -> None:
        self.jobs[job_id] = JobModel(J.QUEUED, enrolment_id, site, seq=self.next_job_seq)
        self.next_job_seq += 1

    def _finish(self, job_id: str, printed: bool) -> None:
        job = self.jobs[job_id]
        assert job.blank is not None
        if printed:
            job.state = J.PRINTED
            self.blanks[job.blank].state = B.PRINTED
            self.enrolments[job.enrolment_id] = E.CARD_PRINTED
            self.cards[job.blank] = (CardState.PRINTED, self.niks[job.enrolment_id])
            self.audit_seq += 4
        else:
            job.state = J.SPOILED
            self.blanks[job.blank].state = B.SPOILED
            self.audit_seq += 2

    def _ensure_accounts(self) -> None:
        if self.accounts:
            return
        for username, role in ((SUPERVISOR, Role.SUPERVISOR), (OPERATOR, Role.OPERATOR)):
            self.service.add_operator(
                Operator(
                    username=username,
                    full_name=username.upper(),
                    role=role,
                    site_code=SITES[0],
                    password_hash=crypto.hash_password("rahasia-" + username, n=2**4),
                ),
                actor="admin",
            )
            self.audit_seq += 1
        self.accounts = True

    # ---------------------------------------------------------------------------------------------
    # Enrolments
    # ---------------------------------------------------------------------------------------------

    @precondition(lambda self: len(self.enrolments) < 8)
    @rule()
    def record(self) -> None:
        nik = valid_nik(serial=self.next_nik)
        self.next_nik += 1
        e = self.service.record(make_enrolment(nik=nik))
        assert e.state is E.BIO_CAPTURED
        self.enrolments[e.id] = E.BIO_CAPTURED
        self.niks[e.id] = nik
        self.audit_seq += 1

    @precondition(lambda self: len(self.enrolments) < 8)
    @rule()
    def record_print_ready(self) -> None:
        self.record()
        eid = next(reversed(self.enrolments))
        for state in (E.SENT_FOR_ENROLLMENT, E.RECEIVED_AT_CENTRAL, E.PRINT_READY_RECORD):
            self._transition(eid, state)
        assert self.enrolments[eid] is E.PRINT_READY_RECORD

    @precondition(lambda self: self.enrolments)
    @rule(pick=picks)
    def record_same_nik_again(self, pick: int) -> None:
        eid = _choose(self._ids(), pick)
        again = make_enrolment(nik=self.niks[eid])
        if (
            any(
                self.niks[other] == self.niks[eid] and state in OPEN_ENROLMENT_STATES
                for other, state in self.enrolments.items()
            )
            or (CardState.ACTIVE, self.niks[eid]) in self.cards.values()
        ):  # a first card again: a replacement
            with self.refused(Conflict):
                self.service.record(again)
        else:
            self.service.record(again)
            self.enrolments[again.id] = E.BIO_CAPTURED
            self.niks[again.id] = self.niks[eid]
            self.audit_seq += 1

    @precondition(lambda self: self.enrolments)
    @rule(pick=picks)
    def cancel_recording(self, pick: int) -> None:
        self._ensure_accounts()
        eid = _choose(self._ids(), pick)
        corrections = Corrections(self.service)
        if self.enrolments[eid] in CANCELLABLE_STATES:
            corrections.cancel(eid, supervisor=SUPERVISOR, reason="recorded in error")
            self.enrolments[eid] = E.ENROLLMENT_CANCELLED
            self.audit_seq += 1
        else:
            with self.refused(IllegalTransition):
                corrections.cancel(eid, supervisor=SUPERVISOR, reason="recorded in error")

    @precondition(lambda self: self.enrolments)
    @rule(pick=picks, new_state=st.sampled_from(list(E)))
    def transition_any(self, pick: int, new_state: E) -> None:
        self._transition(_choose(self._ids(), pick), new_state)

    @precondition(lambda self: any(_by_hand(s) for s in self.enrolments.values()))
    @rule(pick=picks, choice=picks)
    def advance(self, pick: int, choice: int) -> None:
        eid = _choose([i for i, s in self.enrolments.items() if _by_hand(s)], pick)
        targets = sorted(_by_hand(self.enrolments[eid]))
        self._transition(eid, targets[choice % len(targets)])

    @precondition(lambda self: any(s in TOWARDS_A_CARD for s in self.enrolments.values()))
    @rule(pick=picks)
    def towards_a_card(self, pick: int) -> None:
        eid = _choose([i for i, s in self.enrolments.items() if s in TOWARDS_A_CARD], pick)
        self._transition(eid, TOWARDS_A_CARD[self.enrolments[eid]])

    def _transition(self, eid: str, target: E) -> None:
        current = self.enrolments[eid]
        if target in QUEUE_ONLY:
            with self.refused(EktpError):
                self.service.transition(eid, target, actor="central")
        elif target in _by_hand(current):
            e = self.service.transition(eid, target, actor="central", reason=f"to {target}")
            assert e.state is target
            self.enrolments[eid] = target
            self.audit_seq += 1
            if target is E.CARD_ISSUED:  # the card handed over becomes the resident's active card
                nik = self.niks[eid]
                for serial, (state, holder) in list(self.cards.items()):
                    if holder == nik and state is CardState.ACTIVE:
                        self.cards[serial] = (CardState.REPLACED, nik)
                        self.audit_seq += 1
                (serial,) = [
                    j.blank for j in self.jobs.values() if j.enrolment_id == eid and j.state is J.PRINTED and j.blank
                ]
                self.cards[serial] = (CardState.ACTIVE, nik)
                self.audit_seq += 1
        else:
            with self.refused(IllegalTransition):
                self.service.transition(eid, target, actor="central")

    # ---------------------------------------------------------------------------------------------
    # Blanks
    # ---------------------------------------------------------------------------------------------

    @rule(site=st.sampled_from(SITES), count=st.integers(1, 4))
    def receive_blanks(self, site: str, count: int) -> None:
        serials = [f"BLK-{self.next_blank + k:06d}" for k in range(count)]
        self.next_blank += count
        assert self.service.receive_blanks(site, serials, actor="sup") == count
        for s in serials:
            self.blanks[s] = BlankModel(B.IN_STOCK, site)
        self.received[site] += count
        self.audit_seq += 1

    @precondition(lambda self: self.blanks)
    @rule(pick=picks, site=st.sampled_from(SITES))
    def receive_a_serial_twice(self, pick: int, site: str) -> None:
        fresh = f"BLK-{self.next_blank:06d}"
        self.next_blank += 1
        with self.refused(Conflict):
            self.service.receive_blanks(site, [fresh, _choose(list(self.blanks), pick)], actor="sup")

    @precondition(lambda self: any(b.state is B.IN_STOCK for b in self.blanks.values()))
    @rule(pick=picks)
    def spoil_blank_in_stock(self, pick: int) -> None:
        serial = _choose([s for s, b in self.blanks.items() if b.state is B.IN_STOCK], pick)
        self.service.spoil_blank(serial, actor="sup", reason="scratched in the box")
        self.blanks[serial].state = B.SPOILED
        self.audit_seq += 1

    @precondition(lambda self: any(b.state is not B.IN_STOCK for b in self.blanks.values()))
    @rule(pick=picks)
    def spoil_blank_not_in_stock(self, pick: int) -> None:
        # a reserved blank belongs to its job: only the job's outcome may spoil it
        serial = _choose([s for s, b in self.blanks.items() if b.state is not B.IN_STOCK], pick)
        with self.refused(IllegalTransition):
            self.service.spoil_blank(serial, actor="sup", reason="again")

    # ---------------------------------------------------------------------------------------------
    # Print jobs
    # ---------------------------------------------------------------------------------------------

    def _queue(self, eid: str, site: str) -> None:
        if self.enrolments[eid] is E.PRINT_READY_RECORD:
            job = self.service.queue_print(eid, site_code=site, actor="op", routing_reason="stateful test")
            assert job.state is J.QUEUED and job.enrolment_id == eid and job.site_code == site
            self._add_job(job.id, eid, site)
            self.enrolments[eid] = E.SENT_FOR_CARD_PRINTING
            self.audit_seq += 2
        else:
            with self.refused(IllegalTransition):
                self.service.queue_print(eid, site_code=site, actor="op", routing_reason="stateful test")

    def _reserve(self, jid: str) -> None:
        job = self.jobs[jid]
        stock = sorted(s for s, b in self.blanks.items() if b.state is B.IN_STOCK and b.site == job.site)
        if job.state is not J.QUEUED:
            with self.refused(IllegalTransition):
                self.service.reserve_blank(jid, actor="op")
        elif not stock:
            with self.refused(Conflict):
                self.service.reserve_blank(jid, actor="op")
        else:
            got = self.service.reserve_blank(jid, actor="op")
            assert got.state is J.RESERVED and got.blank_serial == stock[0]  # lowest serial first
            job.state, job.blank = J.RESERVED, stock[0]
            self.blanks[stock[0]] = BlankModel(B.RESERVED, job.site, jid, job.enrolment_id)
            self.audit_seq += 2

    def _release(self, jid: str) -> None:
        job = self.jobs[jid]
        if job.state is J.RESERVED:
            assert job.blank is not None
            got = self.service.release_blank(jid, actor="op", reason="printer busy")
            assert got.state is J.QUEUED and got.blank_serial is None
            self.blanks[job.blank] = BlankModel(B.IN_STOCK, job.site)
            job.state, job.blank = J.QUEUED, None
            self.audit_seq += 2
        else:
            with self.refused(IllegalTransition):
                self.service.release_blank(jid, actor="op", reason="printer busy")

    def _sent(self, jid: str) -> None:
        job = self.jobs[jid]
        if job.state is J.RESERVED:
            got = self.service.mark_sent(jid, actor="op", printer="evolis-1")
            assert got.state is J.SENT and got.printer == "evolis-1"
            job.state = J.SENT
            self.audit_seq += 1
        else:
            with self.refused(IllegalTransition):
                self.service.mark_sent(jid, actor="op", printer="evolis-1")

    def _printed(self, jid: str) -> None:
        if self.jobs[jid].state is J.SENT:
            assert self.service.mark_printed(jid, actor="op").state is J.PRINTED
            self._finish(jid, printed=True)
        else:  # UNKNOWN included: only a supervisor resolves it
            with self.refused(IllegalTransition):
                self.service.mark_printed(jid, actor="op")

    def _spoiled(self, jid: str) -> None:
        if self.jobs[jid].state in (J.RESERVED, J.SENT):
            assert self.service.mark_spoiled(jid, actor="op", reason="ribbon ended").state is J.SPOILED
            self._finish(jid, printed=False)
        else:
            with self.refused(IllegalTransition):
                self.service.mark_spoiled(jid, actor="op", reason="ribbon ended")

    def _unknown(self, jid: str) -> None:
        if self.jobs[jid].state is J.SENT:
            assert self.service.mark_unknown(jid, actor="op", reason="printer vanished").state is J.UNKNOWN
            self.jobs[jid].state = J.UNKNOWN
            self.audit_seq += 1
        else:
            with self.refused(IllegalTransition):
                self.service.mark_unknown(jid, actor="op", reason="printer vanished")

    def _resolve(self, jid: str, *, printed: bool, as_supervisor: bool) -> None:
        self._ensure_accounts()
        who = SUPERVISOR if as_supervisor else OPERATOR
        if not as_supervisor:
            with self.refused(EktpError):
                self.service.resolve_unknown(jid, supervisor=who, printed=printed, reason="looked")
        elif self.jobs[jid].state is J.UNKNOWN:
            got = self.service.resolve_unknown(jid, supervisor=who, printed=printed, reason="card seen in the tray")
            assert got.state is (J.PRINTED if printed else J.SPOILED)
            self._finish(jid, printed=printed)
        else:
            with self.refused(IllegalTransition):
                self.service.resolve_unknown(jid, supervisor=who, printed=printed, reason="looked")

    def _requeue(self, jid: str) -> None:
        job = self.jobs[jid]
        open_jobs = [j for j in self.jobs.values() if j.enrolment_id == job.enrolment_id and j.state in OPEN_JOB]
        if job.state is not J.SPOILED or self.enrolments[job.enrolment_id] is not E.SENT_FOR_CARD_PRINTING:
            with self.refused(IllegalTransition):
                self.service.requeue(jid, actor="op")
        elif open_jobs:
            with self.refused(Conflict):
                self.service.requeue(jid, actor="op")
        else:
            new = self.service.requeue(jid, actor="op")
            assert new.state is J.QUEUED and new.enrolment_id == job.enrolment_id and new.id not in self.jobs
            assert new.site_code == job.site
            self._add_job(new.id, job.enrolment_id, job.site)
            self.audit_seq += 1

    def _cancel(self, jid: str) -> None:
        job = self.jobs[jid]
        if job.state is J.QUEUED:
            assert self.service.cancel_job(jid, actor="admin", reason="re-routed").state is J.CANCELLED
            job.state = J.CANCELLED
            self.enrolments[job.enrolment_id] = E.PRINT_READY_RECORD
            self.audit_seq += 2
        else:
            with self.refused(IllegalTransition):
                self.service.cancel_job(jid, actor="admin", reason="re-routed")

    @precondition(lambda self: self.enrolments)
    @rule(pick=picks, site=st.sampled_from(SITES), prefer_ready=st.booleans())
    def queue_print(self, pick: int, site: str, prefer_ready: bool) -> None:
        ready = self._ids(frozenset({E.PRINT_READY_RECORD})) if prefer_ready else []
        self._queue(_choose(ready or self._ids(), pick), site)

    @precondition(lambda self: self.jobs)
    @rule(pick=picks, prefer_legal=st.booleans())
    def reserve(self, pick: int, prefer_legal: bool) -> None:
        self._reserve(self._pick_job(pick, frozenset({J.QUEUED}), prefer_legal))

    @precondition(lambda self: self.jobs)
    @rule(pick=picks, prefer_legal=st.booleans())
    def release(self, pick: int, prefer_legal: bool) -> None:
        self._release(self._pick_job(pick, frozenset({J.RESERVED}), prefer_legal))

    @precondition(lambda self: self.jobs)
    @rule(pick=picks, prefer_legal=st.booleans())
    def mark_sent(self, pick: int, prefer_legal: bool) -> None:
        self._sent(self._pick_job(pick, frozenset({J.RESERVED}), prefer_legal))

    @precondition(lambda self: self.jobs)
    @rule(pick=picks, prefer_legal=st.booleans())
    def mark_printed(self, pick: int, prefer_legal: bool) -> None:
        self._printed(self._pick_job(pick, frozenset({J.SENT}), prefer_legal))

    @precondition(lambda self: self.jobs)
    @rule(pick=picks, prefer_legal=st.booleans())
    def mark_spoiled(self, pick: int, prefer_legal: bool) -> None:
        self._spoiled(self._pick_job(pick, frozenset({J.RESERVED, J.SENT}), prefer_legal))

    @precondition(lambda self: self.jobs)
    @rule(pick=picks, prefer_legal=st.booleans())
    def mark_unknown(self, pick: int, prefer_legal: bool) -> None:
        self._unknown(self._pick_job(pick, frozenset({J.SENT}), prefer_legal))

    @precondition(lambda self: self.jobs)
    @rule(pick=picks, prefer_legal=st.booleans(), printed=st.booleans(), as_supervisor=st.booleans())
    def resolve_unknown(self, pick: int, prefer_legal: bool, printed: bool, as_supervisor: bool) -> None:
        self._resolve(
            self._pick_job(pick, frozenset({J.UNKNOWN}), prefer_legal), printed=printed, as_supervisor=as_supervisor
        )

    @precondition(lambda self: self.jobs)
    @rule(pick=picks, prefer_legal=st.booleans())
    def requeue(self, pick: int, prefer_legal: bool) -> None:
        self._requeue(self._pick_job(pick, frozenset({J.SPOILED}), prefer_legal))

    @precondition(lambda self: self.jobs)
    @rule(pick=picks, prefer_legal=st.booleans())
    def cancel(self, pick: int, prefer_legal: bool) -> None:
        self._cancel(self._pick_job(pick, frozenset({J.QUEUED}), prefer_legal))

    @precondition(lambda self: self.jobs)
    @rule()
    def recover_interrupted(self) -> None:
        sent = {i for i, j in self.jobs.items() if j.state is J.SENT}
        reserved = {i for i, j in self.jobs.items() if j.state is J.RESERVED}
        done = self.service.recover_interrupted()
        assert set(done["unknown"]) == sent and set(done["released"]) == reserved
        assert len(done["unknown"]) == len(sent) and len(done["released"]) == len(reserved)
        for jid in sent:
            self.jobs[jid].state = J.UNKNOWN
            self.audit_seq += 1
        for jid in reserved:
            job = self.jobs[jid]
            assert job.blank is not None
            self.blanks[job.blank] = BlankModel(B.IN_STOCK, job.site)
            job.state, job.blank = J.QUEUED, None
            self.audit_seq += 2

    def _printing_work(self) -> list[str]:
        """Print-ready enrolments and jobs that can move on (SPOILED ones may be requeued)."""
        return [
            *self._ids(frozenset({E.PRINT_READY_RECORD})),
            *self._jobs(frozenset({J.QUEUED, J.RESERVED, J.SENT, J.UNKNOWN, J.SPOILED})),
        ]

    @precondition(lambda self: self._printing_work())
    @rule(
        pick=picks,
        steps=st.integers(1, 8),
        outcomes=st.lists(st.sampled_from(["printed", "spoiled", "unknown"]), min_size=8, max_size=8),
        site=st.sampled_from(SITES),
    )
    def printing_steps(self, pick: int, steps: int, outcomes: list[str], site: str) -> None:
        """Up to ``steps`` steps along the printing path for one record, so that deep paths are common."""
        key = _choose(self._printing_work(), pick)
        for outcome in outcomes[:steps]:
            if key in self.enrolments:
                if self.enrolments[key] is not E.PRINT_READY_RECORD:
                    return
                self._queue(key, site)
                key = next(reversed(self.jobs))
                continue
            job = self.jobs[key]
            if job.state is J.QUEUED:
                if not any(b.state is B.IN_STOCK and b.site == job.site for b in self.blanks.values()):
                    self.receive_blanks(job.site, 2)
                self._reserve(key)
            elif job.state is J.RESERVED:
                self._sent(key)
            elif job.state is J.SENT:
                {"printed": self._printed, "spoiled": self._spoiled, "unknown": self._unknown}[outcome](key)
            elif job.state is J.UNKNOWN:
                self._resolve(key, printed=outcome == "printed", as_supervisor=True)
            elif (
                job.state is J.SPOILED
                and self.enrolments[job.enrolment_id] is E.SENT_FOR_CARD_PRINTING
                and not any(j.enrolment_id == job.enrolment_id and j.state in OPEN_JOB for j in self.jobs.values())
            ):
                self._requeue(key)
                key = next(reversed(self.jobs))
            else:
                return

    # ---------------------------------------------------------------------------------------------
    # Invariants
    # ---------------------------------------------------------------------------------------------

    @invariant()
    def database_matches_the_model(self) -> None:
        with self.store.read() as conn:
            db_enrolments = {r.id: r.state for r in conn.execute(sa.select(enrolments.c.id, enrolments.c.state))}
            db_jobs = {
                r.id: (r.state, r.enrolment_id, r.site_code, r.blank_serial)
                for r in conn.execute(sa.select(print_jobs))
            }
            db_blanks = {
                r.serial: (r.state, r.site_code, r.job_id, r.enrolment_id) for r in conn.execute(sa.select(blanks))
            }
            db_received = {
                r.site_code: int(r.n)
                for r in conn.execute(
                    sa.select(blank_batches.c.site_code, sa.func.sum(blank_batches.c.count).label("n")).group_by(
                        blank_batches.c.site_code
                    )
                )
            }
        assert db_enrolments == {i: s.value for i, s in self.enrolments.items()}
        assert db_jobs == {i: (j.state.value, j.enrolment_id, j.site, j.blank) for i, j in self.jobs.items()}
        assert db_blanks == {s: (b.state.value, b.site, b.job_id, b.enrolment_id) for s, b in self.blanks.items()}
        assert db_received == {site: n for site, n in self.received.items() if n}
        with self.store.read() as conn:
            db_cards = {r.serial: (r.state, r.nik) for r in conn.execute(sa.select(cards))}
        assert db_cards == {s: (state.value, nik) for s, (state, nik) in self.cards.items()}
        active = [nik for state, nik in self.cards.values() if state is CardState.ACTIVE]
        assert len(active) == len(set(active)), "a resident with two active cards"

    @invariant()
    def ledger_balances(self) -> None:
        total = self.service.ledger()
        assert total.balanced
        assert total.received == sum(self.received.values()) == len(self.blanks)
        for site in SITES:
            ledger = self.service.ledger(site)
            assert ledger.balanced, (site, ledger)
            mine = [b for b in self.blanks.values() if b.site == site]
            assert (ledger.received, ledger.in_stock, ledger.reserved, ledger.printed, ledger.spoiled) == (
                len(mine),
                *(sum(b.state is s for b in mine) for s in (B.IN_STOCK, B.RESERVED, B.PRINTED, B.SPOILED)),
            )

    @invariant()
    def one_card_per_enrolment(self) -> None:
        with self.store.read() as conn:
            jobs_ = list(conn.execute(sa.select(print_jobs)))
            blanks_ = {r.serial: r for r in conn.execute(sa.select(blanks))}
            states = {r.id: r.state for r in conn.execute(sa.select(enrolments.c.id, enrolments.c.state))}
        printed_jobs = [j for j in jobs_ if j.state == J.PRINTED]
        printed_blanks = [b for b in blanks_.values() if b.state == B.PRINTED]
        # every PRINTED job has its own PRINTED blank, issued to the job's enrolment
        for j in printed_jobs:
            b = blanks_[j.blank_serial]
            assert (b.state, b.job_id, b.enrolment_id) == (B.PRINTED, j.id, j.enrolment_id)
        assert len({j.blank_serial for j in printed_jobs}) == len(printed_jobs) == len(printed_blanks)
        for eid, n in collections.Counter(b.enrolment_id for b in printed_blanks).items():
            assert n == 1, f"enrolment {eid} has {n} printed blanks"
        assert len({j.enrolment_id for j in printed_jobs}) == len(printed_jobs)
        # blanks in use are exactly those of the jobs that hold one
        holding = {j.blank_serial for j in jobs_ if j.state in (J.RESERVED, J.SENT, J.UNKNOWN)}
        assert holding == {s for s, b in blanks_.items() if b.state == B.RESERVED}
        assert all(j.blank_serial is None for j in jobs_ if j.state in (J.QUEUED, J.CANCELLED))
        # the enrolment's state agrees with its jobs
        by_enrolment: dict[str, list[Any]] = collections.defaultdict(list)
        for j in jobs_:
            by_enrolment[j.enrolment_id].append(j)
        for eid, state in states.items():
            mine = by_enrolment.get(eid, [])
            open_ = [j for j in mine if j.state in OPEN_JOB]
            printed = [j for j in mine if j.state == J.PRINTED]
            assert len(open_) <= 1
            if state in (E.CARD_PRINTED, E.CARD_SHIPPED, E.CARD_ISSUED):
                assert len(printed) == 1 and not open_
            elif state == E.SENT_FOR_CARD_PRINTING:
                assert not printed
                assert open_ or any(j.state == J.SPOILED for j in mine)
            else:
                assert not printed and not open_

    @invariant()
    def audit_tells_every_path(self) -> None:
        with self.store.read() as conn:
            result = audit.verify(conn)
            entries = list(audit.entries(conn))
            db_states = {
                "enrolment": {r.id: r.state for r in conn.execute(sa.select(enrolments.c.id, enrolments.c.state))},
                "print_job": {r.id: r.state for r in conn.execute(sa.select(print_jobs.c.id, print_jobs.c.state))},
                "blank": {r.serial: r.state for r in conn.execute(sa.select(blanks.c.serial, blanks.c.state))},
                "card": {r.serial: r.state for r in conn.execute(sa.select(cards.c.serial, cards.c.state))},
            }
        assert result.ok, result
        assert result.checked == self.audit_seq == len(entries)
        tables = {
            "enrolment": ENROLMENT_TRANSITIONS,
            "print_job": PRINT_JOB_TRANSITIONS,
            "blank": BLANK_TRANSITIONS,
            "card": CARD_TRANSITIONS,
        }
        paths: dict[tuple[str, str], list[tuple[str | None, str]]] = collections.defaultdict(list)
        for entry in entries:
            if entry.subject_kind in tables:
                paths[entry.subject_kind, entry.subject_id].append((entry.detail["from"], entry.detail["to"]))
        for kind, states in db_states.items():
            table = {str(k): {str(v) for v in vs} for k, vs in tables[kind].items()}
            for subject, state in states.items():
                path = paths.get((kind, subject), [])
                # a blank's life starts IN_STOCK with the delivery; the others start with a "from: None" entry
                current: str | None = B.IN_STOCK.value if kind == "blank" else None
                if kind != "blank":
                    assert path and path[0][0] is None, (kind, subject, path)
                    current = path[0][1]
                    path = path[1:]
                for old, new in path:
                    assert old == current, (kind, subject, path)
                    assert new in table[old], (kind, subject, old, new)
                    current = new
                assert current == state, (kind, subject, current, state)
        assert {s for k, s in paths if k == "enrolment"} == set(self.enrolments)
        assert {s for k, s in paths if k == "print_job"} == set(self.jobs)


LifecycleMachine.TestCase.settings = settings(
    max_examples=50,
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
# slow: 50 random walks of up to 40 steps, each on a new deployment, checked after every step.
test_lifecycle_random_walks = pytest.mark.slow(LifecycleMachine.TestCase)


# --------------------------------------------------------------------------------------------------
# Holes the machine found once (kept as plain regression tests)
# --------------------------------------------------------------------------------------------------


def _job_in(service: LifecycleService, state: J) -> tuple[str, str]:
    e = service.record(make_enrolment())
    for s in (E.SENT_FOR_ENROLLMENT, E.RECEIVED_AT_CENTRAL, E.PRINT_READY_RECORD):
        service.transition(e.id, s, actor="central")
    job = service.queue_print(e.id, site_code=SITES[0], actor="op", routing_reason="test")
    if state in (J.RESERVED, J.SENT):
        service.receive_blanks(SITES[0], ["BLK-900001"], actor="sup")
        job = service.reserve_blank(job.id, actor="op")
    if state is J.SENT:
        job = service.mark_sent(job.id, actor="op", printer="p")
    return e.id, job.id


@pytest.mark.parametrize("job_state", [J.QUEUED, J.RESERVED, J.SENT])
def test_transition_back_to_print_ready_with_an_open_job_is_refused(
    ektp_service: LifecycleService, job_state: J
) -> None:
    """Only cancel_job takes a record out of the print queue; by hand it would leave an open job behind."""
    eid, jid = _job_in(ektp_service, job_state)
    with pytest.raises(IllegalTransition):
        ektp_service.transition(eid, E.PRINT_READY_RECORD, actor="op")
    assert ektp_service.get(eid).state is E.SENT_FOR_CARD_PRINTING
    if job_state is J.SENT:
        assert ektp_service.mark_printed(jid, actor="op").state is J.PRINTED
        assert ektp_service.get(eid).state is E.CARD_PRINTED


def test_spoil_blank_refuses_a_reserved_blank(ektp_service: LifecycleService) -> None:
    """A reserved blank is spoiled through its job; spoiling it directly would strand the job."""
    _, jid = _job_in(ektp_service, J.RESERVED)
    with pytest.raises(IllegalTransition):
        ektp_service.spoil_blank("BLK-900001", actor="sup", reason="damaged")
    assert ektp_service.recover_interrupted() == {"unknown": [], "released": [jid]}
    assert ektp_service.ledger(SITES[0]).in_stock == 1
