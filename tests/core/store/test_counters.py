"""The counters are exact: after any sequence of lifecycle operations (refused ones included, at clocks
that jump back and forth), after the sync feed mirrors states and queues jobs, after concurrent
writers, and after the migration fills them from existing rows, every counter equals the count of the
rows it counts, recomputed here from the tables on their own terms."""

from __future__ import annotations

import datetime as dt
import shutil
import tempfile
import threading
from collections import Counter
from contextlib import AbstractContextManager
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule
from sqlalchemy.exc import IntegrityError

from ektp_core.domain.model import WEEKDAYS, Operator, Role
from ektp_core.domain.model import EnrolmentState as E
from ektp_core.errors import EktpError
from ektp_core.keys import crypto
from ektp_core.lifecycle.service import LifecycleService
from ektp_core.services.node_init import create_deployment
from ektp_core.store import Store
from ektp_core.store import counters as counters_module
from ektp_core.store.tables import blanks, counters, enrolments, print_jobs
from ektp_core.sync.feed import Applied, FeedReader
from ektp_core.testing import make_enrolment, valid_nik
from ektp_core.testing.databases import temporary_database

SITES = ("17.71", "17.71.05")
PRINTERS = ("evolis-1", "evolis-2")
SUPERVISOR = "sup1"
START = dt.datetime(2026, 11, 27, 9, 17, 3, 250_000, tzinfo=dt.UTC)
picks = st.integers(0, 2**16)


def _hour(at: dt.datetime) -> int:
    at = at if at.tzinfo is not None else at.replace(tzinfo=dt.UTC)
    return int(at.timestamp() // 3600)


def recount(conn: sa.Connection) -> dict[tuple[str, str, str, str, int], int]:
    """What every counter must hold, counted from the rows (the families as docs/storage.md defines them)."""
    found: Counter[tuple[str, str, str, str, int]] = Counter()
    for r in conn.execute(sa.select(enrolments.c.site_code, enrolments.c.state, enrolments.c.created_at)):
        found[("enrolments", r.site_code, r.state, "", -1)] += 1
        found[("recorded", r.site_code, "", "", _hour(r.created_at))] += 1
    for r in conn.execute(sa.select(print_jobs)):
        found[("print_jobs", r.site_code, r.state, r.print_day or "", -1)] += 1
        if r.state == "PRINTED":
            found[("printed", r.site_code, "", "", _hour(r.updated_at))] += 1
        if r.state in ("PRINTED", "SPOILED") and r.printer:
            found[("printer_cards", r.printer, r.state, "", -1)] += 1
    for r in conn.execute(sa.select(blanks.c.site_code, blanks.c.state, blanks.c.updated_at)):
        found[("blanks", r.site_code, r.state, "", -1)] += 1
        if r.state in ("PRINTED", "SPOILED"):
            found[("blanks_used", r.site_code, r.state, "", _hour(r.updated_at))] += 1
    return dict(found)


def stored(conn: sa.Connection) -> dict[tuple[str, str, str, str, int], int]:
    """The counters table, zero rows left out (a count that fell to zero keeps its row)."""
    return {
        (r.family, r.scope, r.state, r.print_day, r.utc_hour): r.n
        for r in conn.execute(sa.select(counters))
        if r.n != 0
    }


def assert_exact(store: Store) -> None:
    with store.read() as conn:
        assert stored(conn) == recount(conn)


class CounterMachine(RuleBasedStateMachine):
    """Random operations, legal or not; a refusal must leave the counters as they were (one transaction)."""

    def __init__(self) -> None:
        super().__init__()
        self.tmpdir = tempfile.mkdtemp(prefix="ektp-counters-")
        self.database: AbstractContextManager[str] = temporary_database(Path(self.tmpdir))
        url = self.database.__enter__()
        deployment = create_deployment(Path(self.tmpdir) / "deployment", profile="minimal", database_url=url)
        self.store = deployment.open_store()
        self.now = START
        self.lc = LifecycleService(self.store, deployment.plugin_host().hook, deployment, clock=lambda: self.now)
        self.lc.add_operator(
            Operator(
                username=SUPERVISOR,
                full_name="SUP",
                role=Role.SUPERVISOR,
                site_code=SITES[0],
                password_hash=crypto.hash_password("rahasia-sup1", n=2**4),
            ),
            actor="admin",
        )
        self.enrolments: list[str] = []
        self.jobs: list[str] = []
        self.blanks: list[str] = []
        self.serial = 0

    def teardown(self) -> None:
        self.store.dispose()
        self.database.__exit__(None, None, None)
        shutil.rmtree(self.tmpdir, ignore_errors=True)

    def _try(self, operation: Any, *args: Any, **kwargs: Any) -> Any:
        """Run an operation; a refusal (illegal move, conflict, a duplicate open job) is part of the game."""
        try:
            return operation(*args, **kwargs)
        except (EktpError, IntegrityError):
            return None

    def _job(self, pick: int) -> str:
        return self.jobs[pick % len(self.jobs)]

    def _jobs_since(self, before: set[str]) -> None:
        with self.store.read() as conn:
            ids = conn.execute(sa.select(print_jobs.c.id).order_by(print_jobs.c.created_at, print_jobs.c.id))
            self.jobs += [i for i in ids.scalars() if i not in before]

    # -- time ----------------------------------------------------------------------------------------------

    @rule(minutes=st.integers(-90, 3000), seconds=st.integers(0, 59))
    def time_passes(self, minutes: int, seconds: int) -> None:
        """Hours and midnights go by; a clock set back now and then (counts follow the stored times)."""
        self.now = self.now + dt.timedelta(minutes=minutes, seconds=seconds)

    # -- enrolments ----------------------------------------------------------------------------------------

    @precondition(lambda self: len(self.enrolments) < 10)
    @rule(site=st.sampled_from(SITES))
    def record(self, site: str) -> None:
        self.serial += 1
        done = self._try(self.lc.record, make_enrolment(site_code=site, nik=valid_nik(serial=self.serial)))
        if done is not None:
            self.enrolments.append(done.id)

    @precondition(lambda self: self.enrolments)
    @rule(pick=picks, state=st.sampled_from(list(E)))
    def transition(self, pick: int, state: E) -> None:
        self._try(self.lc.transition, self.enrolments[pick % len(self.enrolments)], state, actor="central")

    @precondition(lambda self: self.enrolments)
    @rule(pick=picks)
    def towards_print_ready(self, pick: int) -> None:
        eid = self.enrolments[pick % len(self.enrolments)]
        for state in (E.SENT_FOR_ENROLLMENT, E.RECEIVED_AT_CENTRAL, E.PRINT_READY_RECORD):
            self._try(self.lc.transition, eid, state, actor="central")

    @precondition(lambda self: self.enrolments)
    @rule(pick=picks, state=st.sampled_from(list(E)))
    def state_mirrored_by_the_feed(self, pick: int, state: E) -> None:
        """A site applies the Dukcapil node's state of one of its enrolments (the feed's own writer)."""
        item = {"kind": "enrolment_state", "enrolment_id": self.enrolments[pick % len(self.enrolments)]}
        item |= {"state": state.value, "reason": None, "seq": 1}
        with self.store.write() as conn:
            FeedReader(self.lc)._apply_one(conn, item, item, self.now, Applied(1, 1))

    # -- print jobs ----------------------------------------------------------------------------------------

    @precondition(lambda self: self.enrolments)
    @rule(pick=picks, site=st.sampled_from(SITES), day=st.sampled_from([None, *WEEKDAYS[:2]]))
    def queue_print(self, pick: int, site: str, day: str | None) -> None:
        job = self._try(
            self.lc.queue_print,
            self.enrolments[pick % len(self.enrolments)],
            site_code=site,
            actor="router",
            routing_reason="test",
            print_day=day,
        )
        if job is not None:
            self.jobs.append(job.id)

    @precondition(lambda self: self.enrolments)
    @rule(pick=picks, site=st.sampled_from(SITES), day=st.sampled_from([None, WEEKDAYS[4]]))
    def job_received_by_the_feed(self, pick: int, site: str, day: str | None) -> None:
        """A site receives a job the Dukcapil node routed to it (the feed queues it here directly)."""
        self.serial += 1
        item = {"state": "QUEUED", "job_id": f"feed-{self.serial}", "site_code": site, "print_day": day}
        item |= {"enrolment_id": self.enrolments[pick % len(self.enrolments)], "routing_reason": "feed"}
        before = set(self.jobs)
        self._try(self._queue_here, item)
        self._jobs_since(before)

    def _queue_here(self, item: dict[str, Any]) -> None:
        with self.store.write() as conn:
            FeedReader._queue_here(conn, item, self.now)

    @rule(site=st.sampled_from(SITES), count=st.integers(1, 3))
    def receive_blanks(self, site: str, count: int) -> None:
        serials = [f"BLK-{self.serial * 10 + k + 100000:06d}" for k in range(count)]
        self.serial += 1
        if self._try(self.lc.receive_blanks, site, serials, actor="sup") is not None:
            self.blanks += serials

    @precondition(lambda self: self.blanks)
    @rule(pick=picks)
    def spoil_blank(self, pick: int) -> None:
        self._try(self.lc.spoil_blank, self.blanks[pick % len(self.blanks)], actor="sup", reason="scratched")

    @precondition(lambda self: self.jobs)
    @rule(pick=picks, printer=st.sampled_from(PRINTERS))
    def print_one(self, pick: int, printer: str) -> None:
        job = self._job(pick)
        self._try(self.lc.reserve_blank, job, actor="op")
        self._try(self.lc.mark_sent, job, actor="op", printer=printer)

    @precondition(lambda self: self.jobs)
    @rule(pick=picks, outcome=st.sampled_from(["printed", "spoiled", "unknown", "returned", "released"]))
    def outcome(self, pick: int, outcome: str) -> None:
        job = self._job(pick)
        if outcome == "printed":
            self._try(self.lc.mark_printed, job, actor="op")
        elif outcome == "spoiled":
            self._try(self.lc.mark_spoiled, job, actor="op", reason="jam")
        elif outcome == "unknown":
            self._try(self.lc.mark_unknown, job, actor="op", reason="vanished")
        elif outcome == "returned":
            self._try(self.lc.return_unprinted, job, actor="op", reason="not taken")
        else:
            self._try(self.lc.release_blank, job, actor="op", reason="busy")

    @precondition(lambda self: self.enrolments)
    @rule(
        pick=picks,
        site=st.sampled_from(SITES),
        printer=st.sampled_from(PRINTERS),
        steps=st.lists(st.sampled_from(["printed", "spoiled", "unknown", "resolve", "spoil_printed", "requeue"])),
    )
    def through_the_printer(self, pick: int, site: str, printer: str, steps: list[str]) -> None:
        """One enrolment all the way to a card and beyond, so that the deep paths (a printed card spoiled
        by a supervisor, an UNKNOWN resolved, a requeue) are common."""
        self.towards_print_ready(pick)
        self.queue_print(pick, site, None)
        self.receive_blanks(site, 1)
        job = self.jobs[-1] if self.jobs else None
        for step in steps:
            if job is None:
                return
            self.print_one(self.jobs.index(job), printer)
            if step in ("printed", "spoiled", "unknown"):
                self.outcome(self.jobs.index(job), step)
            elif step == "resolve":
                self.resolve_unknown(self.jobs.index(job), printed=True, taken=True)
            elif step == "spoil_printed":
                self.spoil_printed(self.jobs.index(job))
            else:
                self.requeue(self.jobs.index(job))
                job = self.jobs[-1]

    @precondition(lambda self: self.jobs)
    @rule(pick=picks, printed=st.booleans(), taken=st.booleans())
    def resolve_unknown(self, pick: int, printed: bool, taken: bool) -> None:
        self._try(
            self.lc.resolve_unknown,
            self._job(pick),
            supervisor=SUPERVISOR,
            printed=printed,
            reason="looked",
            card_taken=taken or printed,
        )

    @precondition(lambda self: self.jobs)
    @rule(pick=picks)
    def spoil_printed(self, pick: int) -> None:
        self._try(self.lc.spoil_printed, self._job(pick), supervisor=SUPERVISOR, reason="misprint")

    @precondition(lambda self: self.jobs)
    @rule(pick=picks)
    def requeue(self, pick: int) -> None:
        job = self._try(self.lc.requeue, self._job(pick), actor="op")
        if job is not None:
            self.jobs.append(job.id)

    @precondition(lambda self: self.jobs)
    @rule(pick=picks)
    def cancel(self, pick: int) -> None:
        self._try(self.lc.cancel_job, self._job(pick), actor="op", reason="moved")

    @precondition(lambda self: self.jobs)
    @rule()
    def recover_interrupted(self) -> None:
        self.lc.recover_interrupted()

    # -- the property ----------------------------------------------------------------------------------------

    @invariant()
    def counters_equal_the_rows(self) -> None:
        assert_exact(self.store)


CounterMachine.TestCase.settings = settings(
    max_examples=40, stateful_step_count=40, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
test_counters_stay_exact_through_random_operations = pytest.mark.postgres(CounterMachine.TestCase)


# -- concurrent writers ----------------------------------------------------------------------------------------


def test_concurrent_writers_lose_no_increment(ektp_service: LifecycleService) -> None:
    """Four writers record and move enrolments of one site at once (the same counter rows): on
    PostgreSQL they really overlap; every increment and decrement must land."""
    lc = ektp_service
    failures: list[BaseException] = []

    def work(worker: int) -> None:
        try:
            for n in range(6):
                e = lc.record(make_enrolment(site_code="17.71", nik=valid_nik(serial=worker * 100 + n + 1)))
                lc.transition(e.id, E.SENT_FOR_ENROLLMENT, actor="central")
        except BaseException as exc:  # reported below: a thread's failure must fail the test
            failures.append(exc)

    threads = [threading.Thread(target=work, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []
    assert_exact(lc.store)
    with lc.store.read() as conn:
        assert stored(conn)[("enrolments", "17.71", "SENT_FOR_ENROLLMENT", "", -1)] == 24


def test_concurrent_increments_of_one_new_counter_all_land(ektp_service: LifecycleService) -> None:
    """The counter statement alone, without the audit head's lock that orders the lifecycle's writers:
    eight writers create the same counter row at once and keep adding to it."""
    store = ektp_service.store
    key = counters_module.Key(counters_module.Family.PRINT_JOBS, "99.99", "QUEUED", "monday")
    failures: list[BaseException] = []
    barrier = threading.Barrier(8)

    def work() -> None:
        try:
            barrier.wait()
            for _ in range(20):
                with store.write() as conn:
                    counters_module.add(conn, {key: 1})
        except BaseException as exc:  # reported below
            failures.append(exc)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []
    with store.read() as conn:
        assert stored(conn)[("print_jobs", "99.99", "QUEUED", "monday", -1)] == 160


# -- the migration's backfill ----------------------------------------------------------------------------------


def test_the_migration_fills_the_counters_from_the_rows_already_stored(ektp_service: LifecycleService) -> None:
    """A database of revision 0010 with enrolments, jobs and blanks in every state gets exactly the
    counters the lifecycle would have kept."""
    lc = ektp_service
    lc.add_operator(
        Operator(
            username=SUPERVISOR,
            full_name="SUP",
            role=Role.SUPERVISOR,
            site_code="17.71",
            password_hash=crypto.hash_password("rahasia-sup1", n=2**4),
        ),
        actor="admin",
    )
    clock = [START]
    lc.clock = lambda: clock[0]  # type: ignore[method-assign]
    lc.receive_blanks("17.71", [f"BLK-{n:06d}" for n in range(1, 5)], actor="sup")
    ids = []
    for n in range(5):
        clock[0] += dt.timedelta(hours=7, minutes=13)
        e = lc.record(make_enrolment(site_code=SITES[n % 2], nik=valid_nik(serial=n + 1)))
        for state in (E.SENT_FOR_ENROLLMENT, E.RECEIVED_AT_CENTRAL, E.PRINT_READY_RECORD):
            lc.transition(e.id, state, actor="central")
        ids.append(lc.queue_print(e.id, site_code="17.71", actor="r", routing_reason="t", print_day="monday").id)
    for job in ids[:3]:
        clock[0] += dt.timedelta(minutes=50)
        lc.reserve_blank(job, actor="op")
        lc.mark_sent(job, actor="op", printer="evolis-1")
    lc.mark_printed(ids[0], actor="op")
    lc.mark_printed(ids[1], actor="op")
    clock[0] += dt.timedelta(days=1)
    lc.spoil_printed(ids[1], supervisor=SUPERVISOR, reason="scratch")
    lc.spoil_blank("BLK-000004", actor="sup", reason="bent")
    with lc.store.read() as conn:
        kept = stored(conn)
        assert kept == recount(conn)
    with lc.store.write() as conn:  # back to revision 0010: the counters table is gone ...
        config = Config()
        config.set_main_option("script_location", str(resources.files("ektp_core.store") / "migrations"))
        config.attributes["connection"] = conn
        command.downgrade(config, "0010")
    with lc.store.read() as conn:
        assert "counters" not in sa.inspect(conn).get_table_names()
    assert lc.store.upgrade() == lc.store.head_revision()  # ... and filled again from the rows
    with lc.store.read() as conn:
        assert stored(conn) == kept
