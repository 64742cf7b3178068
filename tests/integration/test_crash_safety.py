"""A process killed with SIGKILL in the middle of its work leaves every record before or after each
transition, never between: the transaction and its audit entry go together or not at all.

A child process drives records through the whole lifecycle as fast as it can and prints a line after
each committed step; the parent kills it at a random moment, checks the database, recovers
interrupted print jobs as a printing node does when it starts, and carries on working on it.
"""

from __future__ import annotations

import collections
import datetime as dt
import os
import random
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from ektp_core.domain.model import BlankState as B
from ektp_core.domain.model import EnrolmentState as E
from ektp_core.domain.model import Operator, Role
from ektp_core.domain.model import PrintJobState as J
from ektp_core.errors import Conflict
from ektp_core.keys import crypto
from ektp_core.lifecycle import audit
from ektp_core.lifecycle.service import (
    BLANK_TRANSITIONS,
    ENROLMENT_TRANSITIONS,
    PRINT_JOB_TRANSITIONS,
    LifecycleService,
)
from ektp_core.services.node_init import create_deployment
from ektp_core.store.tables import audit_head, audit_log, blank_batches, blanks, enrolments, print_jobs
from ektp_core.testing import make_enrolment, valid_nik

# ektp_durable: SQLite at synchronous=FULL here, whatever --ektp-sqlite-synchronous says.
pytestmark = pytest.mark.ektp_durable

SITE = "17.71"
SUPERVISOR = "supervisor1"
MIN_TRIALS, MAX_TRIALS = 8, 15
TIME_BUDGET = 40.0  # seconds for all trials together

# The child: one operator's session, as fast as it goes. Argument: deployment folder, trial number, seed.
CHILD = textwrap.dedent("""
    import datetime as dt
    import random
    import sys
    from pathlib import Path

    import sqlalchemy as sa

    from ektp_core.config import load_deployment
    from ektp_core.errors import Conflict
    from ektp_core.lifecycle.service import LifecycleService
    from ektp_core.domain.model import EnrolmentState as E, PrintJobState as J
    from ektp_core.store.tables import audit_head
    from ektp_core.testing import make_enrolment, valid_nik

    deployment = load_deployment(Path(sys.argv[1]))
    trial, rng = int(sys.argv[2]), random.Random(int(sys.argv[3]))
    store = deployment.open_store()
    service = LifecycleService(store, deployment.plugin_host().hook, deployment)
    birth = dt.date(1970, 1, 1) + dt.timedelta(days=trial)  # NIKs unique across trials
    counters = {"nik": 0, "blank": 0}
    # what this session works on: enrolment id -> state, job id -> state
    work = {}
    jobs = {j.id: j.state for j in service.jobs(states=("QUEUED",))}
    step = 0

    def done():
        global step
        step += 1
        with store.read() as conn:
            seq = conn.execute(sa.select(audit_head.c.seq)).scalar_one()
        print(step, seq, flush=True)

    def enrolment_step(eid, state):
        r = rng.random()
        if state is E.BIO_CAPTURED or state is E.ENROLL_FAILURE_AT_REGIONAL:
            new = E.SENT_FOR_ENROLLMENT
        elif state is E.SENT_FOR_ENROLLMENT:
            new = E.ENROLL_FAILURE_AT_REGIONAL if r < 0.1 else E.RECEIVED_AT_CENTRAL
        elif state is E.RECEIVED_AT_CENTRAL:
            new = E.DUPLICATE_RECORD if r < 0.1 else E.PRINT_READY_RECORD
        elif state is E.PRINT_READY_RECORD:
            job = service.queue_print(eid, site_code="17.71", actor="op", routing_reason="crash test")
            jobs[job.id] = job.state
            del work[eid]
            return
        else:
            del work[eid]
            return
        work[eid] = service.transition(eid, new, actor="central").state
        if work[eid] is E.DUPLICATE_RECORD:
            del work[eid]

    def job_step(jid, state):
        r = rng.random()
        if state is J.QUEUED:
            if r < 0.05:
                service.cancel_job(jid, actor="op", reason="re-routed")
                del jobs[jid]
                return
            try:
                jobs[jid] = service.reserve_blank(jid, actor="op").state
            except Conflict:
                serials = [f"T{trial:03d}-{counters['blank'] + k:06d}" for k in range(5)]
                counters["blank"] += 5
                service.receive_blanks("17.71", serials, actor="sup")
        elif state is J.RESERVED:
            if r < 0.1:
                jobs[jid] = service.release_blank(jid, actor="op", reason="printer busy").state
            else:
                jobs[jid] = service.mark_sent(jid, actor="op", printer="evolis-1").state
        elif state is J.SENT:
            if r < 0.75:
                service.mark_printed(jid, actor="op")
                del jobs[jid]
            elif r < 0.9:
                service.mark_spoiled(jid, actor="op", reason="ribbon ended")
                jobs[jid] = J.SPOILED
            else:
                service.mark_unknown(jid, actor="op", reason="printer vanished")
                del jobs[jid]  # a supervisor's business now
        elif state is J.SPOILED:
            new = service.requeue(jid, actor="op")
            del jobs[jid]
            jobs[new.id] = new.state

    while True:
        if rng.random() < 0.25 or not (work or jobs):
            counters["nik"] += 1
            e = service.record(make_enrolment(nik=valid_nik(birth_date=birth, serial=counters["nik"]),
                                              tanggal_lahir=birth))
            work[e.id] = e.state
        elif work and (not jobs or rng.random() < 0.5):
            eid = rng.choice(sorted(work))
            enrolment_step(eid, work[eid])
        else:
            jid = rng.choice(sorted(jobs))
            job_step(jid, jobs[jid])
        done()
""")


# --------------------------------------------------------------------------------------------------
# Consistency
# --------------------------------------------------------------------------------------------------


def check_consistency(service: LifecycleService) -> dict[str, Any]:
    """Everything that must hold whenever no transaction is running; returns a few counts."""
    with service.store.read() as conn:
        result = audit.verify(conn)
        entries = list(audit.entries(conn))
        enrolment_rows = {r.id: r.state for r in conn.execute(sa.select(enrolments.c.id, enrolments.c.state))}
        job_rows = list(conn.execute(sa.select(print_jobs)))
        blank_rows = {r.serial: r for r in conn.execute(sa.select(blanks))}
        batches = list(conn.execute(sa.select(blank_batches)))
        per_batch = collections.Counter(r.batch_id for r in blank_rows.values())
    assert result.ok, result

    # every record's state is where its audit trail says it went, along legal moves from its start
    tables = {"enrolment": ENROLMENT_TRANSITIONS, "print_job": PRINT_JOB_TRANSITIONS, "blank": BLANK_TRANSITIONS}
    paths: dict[tuple[str, str], list[tuple[str | None, str]]] = collections.defaultdict(list)
    for entry in entries:
        if entry.subject_kind in tables:
            paths[entry.subject_kind, entry.subject_id].append((entry.detail["from"], entry.detail["to"]))
    states = {
        "enrolment": enrolment_rows,
        "print_job": {r.id: r.state for r in job_rows},
        "blank": {s: r.state for s, r in blank_rows.items()},
    }
    for kind, rows in states.items():
        table = {str(k): {str(v) for v in vs} for k, vs in tables[kind].items()}
        audited = {subject for k, subject in paths if k == kind}
        assert audited <= set(rows), f"audit entries about {kind}s that are not stored: {audited - set(rows)}"
        for subject, state in rows.items():
            path = paths.get((kind, subject), [])
            current: str | None = B.IN_STOCK.value
            if kind != "blank":
                assert path and path[0][0] is None, f"{kind} {subject} has no creation entry"
                current, path = path[0][1], path[1:]
            for old, new in path:
                assert old == current and new in table[old], (kind, subject, old, new)
                current = new
            assert current == state, f"{kind} {subject} is {state} but its last audit entry says {current}"

    # the blank ledger
    ledger = service.ledger()
    assert ledger.balanced, ledger
    assert ledger.received == len(blank_rows)
    assert all(per_batch[b.id] == b.count for b in batches)
    holding = {j.blank_serial for j in job_rows if j.state in (J.RESERVED, J.SENT, J.UNKNOWN)}
    assert None not in holding
    assert holding == {s for s, b in blank_rows.items() if b.state == B.RESERVED}
    printed = [j for j in job_rows if j.state == J.PRINTED]
    for j in printed:
        b = blank_rows[j.blank_serial]
        assert (b.state, b.job_id, b.enrolment_id) == (B.PRINTED, j.id, j.enrolment_id)
        assert enrolment_rows[j.enrolment_id] in (E.CARD_PRINTED, E.CARD_SHIPPED, E.CARD_ISSUED)
    assert (
        len({j.enrolment_id for j in printed}) == len(printed) == sum(b.state == B.PRINTED for b in blank_rows.values())
    )
    open_jobs = collections.Counter(
        j.enrolment_id for j in job_rows if j.state in (J.QUEUED, J.RESERVED, J.SENT, J.UNKNOWN)
    )
    assert all(n == 1 for n in open_jobs.values())
    for eid in open_jobs:
        assert enrolment_rows[eid] == E.SENT_FOR_CARD_PRINTING
    return {
        "entries": len(entries),
        "enrolments": len(enrolment_rows),
        "jobs": len(job_rows),
        "printed": len(printed),
        "head": entries[-1].seq if entries else 0,
    }


def check_last_step(service: LifecycleService, acknowledged: int) -> None:
    """Nothing the child reported as committed is lost, and what follows it is one whole operation."""
    with service.store.read() as conn:
        head = conn.execute(sa.select(audit_head.c.seq)).scalar_one()
        after = list(conn.execute(sa.select(audit_log.c.at, audit_log.c.actor).where(audit_log.c.seq > acknowledged)))
    assert head >= acknowledged, f"the child saw entry {acknowledged} committed, the database ends at {head}"
    # one operation reads the clock once: every entry it writes carries the same time
    assert len({(r.at, r.actor) for r in after}) <= 1, after


# --------------------------------------------------------------------------------------------------
# The test
# --------------------------------------------------------------------------------------------------


class Child:
    """The worker process, its output read on a thread so the parent can time the kill."""

    def __init__(self, script: Path, deployment_dir: Path, trial: int, seed: int) -> None:
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        self.proc = subprocess.Popen(
            [sys.executable, str(script), str(deployment_dir), str(trial), str(seed)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        self.lines: list[str] = []
        self.first = threading.Event()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.endswith("\n"):  # a line cut short by the kill acknowledges nothing
                self.lines.append(line.strip())
                self.first.set()
        self.first.set()

    def kill(self) -> tuple[int, int, str]:
        """SIGKILL; returns (steps acknowledged, last audit seq acknowledged, stderr)."""
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)
        self.reader.join(timeout=30)
        assert self.proc.stderr is not None
        err = self.proc.stderr.read()
        self.proc.stderr.close()
        if not self.lines:
            return 0, 0, err
        step, seq = self.lines[-1].split()
        return int(step), int(seq), err


def _resolve_and_continue(service: LifecycleService, trial: int, rng: random.Random) -> None:
    """What the office does after a crash: recover, let a supervisor look at UNKNOWN cards, carry on."""
    before = {j.id for j in service.jobs(states=(J.SENT.value, J.RESERVED.value))}
    done = service.recover_interrupted(site_code=SITE)
    assert set(done["unknown"]) | set(done["released"]) == before
    assert not service.jobs(states=(J.SENT.value, J.RESERVED.value))
    check_consistency(service)

    for job in service.jobs(states=(J.UNKNOWN.value,)):
        printed = rng.random() < 0.5
        resolved = service.resolve_unknown(
            job.id, supervisor=SUPERVISOR, printed=printed, reason="checked the printer's output tray"
        )
        assert resolved.state is (J.PRINTED if printed else J.SPOILED)

    # finish one queued card, if there is one
    queued = service.jobs(states=(J.QUEUED.value,))
    if queued:
        job = queued[0]
        try:
            job = service.reserve_blank(job.id, actor="parent")
        except Conflict:
            service.receive_blanks(SITE, [f"P{trial:03d}-{k:06d}" for k in range(3)], actor="parent")
            job = service.reserve_blank(job.id, actor="parent")
        service.mark_sent(job.id, actor="parent", printer="evolis-2")
        assert service.mark_printed(job.id, actor="parent").state is J.PRINTED
        assert service.get(job.enrolment_id).state is E.CARD_PRINTED

    # and record someone new
    birth = dt.date(1960, 1, 1) + dt.timedelta(days=trial)
    e = service.record(make_enrolment(nik=valid_nik(birth_date=birth, serial=9000 + trial), tanggal_lahir=birth))
    assert service.transition(e.id, E.SENT_FOR_ENROLLMENT, actor="parent").state is E.SENT_FOR_ENROLLMENT


def test_sigkill_leaves_every_record_before_or_after_a_transition(tmp_path: Path, ektp_database_url: str) -> None:
    deployment_dir = tmp_path / "deployment"
    deployment = create_deployment(deployment_dir, profile="minimal", database_url=ektp_database_url)
    script = tmp_path / "child.py"
    script.write_text(CHILD, "utf-8")
    store = deployment.open_store()
    service = LifecycleService(store, deployment.plugin_host().hook, deployment)
    service.add_operator(
        Operator(
            username=SUPERVISOR,
            full_name="SUPERVISOR",
            role=Role.SUPERVISOR,
            site_code=SITE,
            password_hash=crypto.hash_password("rahasia-supervisor", n=2**4),
        ),
        actor="admin",
    )
    rng = random.Random(20251127)
    started = time.monotonic()
    steps_total = 0
    trials = 0
    try:
        while trials < MAX_TRIALS and (trials < MIN_TRIALS or time.monotonic() - started < TIME_BUDGET):
            child = Child(script, deployment_dir, trials, rng.randrange(2**32))
            try:
                assert child.first.wait(timeout=60), "the child never reported a step"
                time.sleep(rng.uniform(0.02, 0.3))
            finally:
                steps, acknowledged, err = child.kill()
            assert steps > 0, f"the child did no work:\n{err}"
            assert child.proc.returncode == -signal.SIGKILL, f"the child died on its own:\n{err}"
            steps_total += steps

            check_last_step(service, acknowledged)
            check_consistency(service)
            _resolve_and_continue(service, trials, rng)
            check_consistency(service)
            trials += 1
    finally:
        store.dispose()
    assert trials >= MIN_TRIALS
    assert steps_total >= trials  # the children did real work before being killed
