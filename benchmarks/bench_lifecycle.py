#!/usr/bin/env python
"""Throughput of the enrolment lifecycle against bare SQLAlchemy Core doing the same writes.

Each measured enrolment goes BIO_CAPTURED -> SENT_FOR_ENROLLMENT -> RECEIVED_AT_CENTRAL ->
PRINT_READY_RECORD through :class:`ektp_core.lifecycle.service.LifecycleService`: four durable
transactions, each writing the state change and one audit entry. The baseline writes the same rows
with the same number of transactions and nothing else (no checks, no hashing, no hooks), on a
second database created the same way. The figures that matter are the ratio of the two and the
share of the lifecycle's time spent dispatching hooks; both are measured within one run.

Run ``python benchmarks/bench_lifecycle.py --help`` for the options; see benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import json
import os
import platform
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pluggy
import sqlalchemy as sa

from ektp_core.config import Deployment
from ektp_core.domain.model import Enrolment, EnrolmentState
from ektp_core.lifecycle import audit
from ektp_core.lifecycle.service import LifecycleService
from ektp_core.services.node_init import create_deployment
from ektp_core.store import Store
from ektp_core.store import repository as repo
from ektp_core.store.tables import audit_log, enrolments
from ektp_core.testing.samples import make_enrolment, valid_nik

RATIO_TARGET = 2.0
HOOK_SHARE_TARGET = 0.05

#: The path every measured enrolment takes after it is recorded in BIO_CAPTURED.
PATH = (EnrolmentState.SENT_FOR_ENROLLMENT, EnrolmentState.RECEIVED_AT_CENTRAL, EnrolmentState.PRINT_READY_RECORD)
OPERATOR = "operator1"
CENTRAL = "siak-central"
#: Transactions per enrolment, on both sides: record + one per move.
TXNS_PER_ENROLMENT = 1 + len(PATH)

#: The districts of Kota Bengkulu (17.71), the region of the minimal profile.
DISTRICTS = tuple(f"17.71.{i:02d}" for i in range(1, 10))
_SERIALS_PER_KEY = 9999


# --------------------------------------------------------------------------------------------------
# Residents with distinct NIKs
# --------------------------------------------------------------------------------------------------


class Residents:
    """Hands out enrolments whose NIKs never repeat within a run.

    The i-th resident gets serial ``i % 9999 + 1``; each wrap of the serial moves to the next
    district, then to the next birth date, so (district, birth date, serial) is unique for every i.
    Sex alternates, which only changes the day digits, never the uniqueness.
    """

    def __init__(self) -> None:
        self._next = 0

    def enrolment(self) -> Enrolment:
        i = self._next
        self._next += 1
        serial = i % _SERIALS_PER_KEY + 1
        key = i // _SERIALS_PER_KEY
        district = DISTRICTS[key % len(DISTRICTS)]
        birth = dt.date(1975, 1, 1) + dt.timedelta(days=key // len(DISTRICTS))
        sex = "P" if i % 2 else "L"
        nik = valid_nik(district=district, birth_date=birth, sex=sex, serial=serial)
        return make_enrolment(site_code="17.71", operator=OPERATOR, nik=nik, jenis_kelamin=sex, tanggal_lahir=birth)

    def batch(self, n: int) -> list[Enrolment]:
        return [self.enrolment() for _ in range(n)]


# --------------------------------------------------------------------------------------------------
# Throw-away databases
# --------------------------------------------------------------------------------------------------


@dataclass
class Scratch:
    """Where the benchmark's deployments live, and how to remove what it created outside the temp dir."""

    root: Path
    server_url: str | None
    schemas: list[str] = field(default_factory=list)

    def url_for(self, role: str) -> str:
        """A fresh database URL for one role (``lifecycle``, ``baseline``, ``batched``)."""
        if self.server_url is None:
            return f"sqlite:///{self.root / role / 'bench.sqlite3'}"
        # One database, one schema per role: search_path puts every table (and alembic's) in it.
        schema = f"ektp_bench_{os.getpid()}_{role}"
        engine = sa.create_engine(self.server_url)
        try:
            with engine.begin() as conn:
                conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
                conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
        finally:
            engine.dispose()
        self.schemas.append(schema)
        url = sa.engine.make_url(self.server_url)
        options = url.query.get("options")
        extra = f"-csearch_path={schema}"
        merged = f"{options} {extra}" if isinstance(options, str) and options else extra
        return url.update_query_dict({"options": merged}).render_as_string(hide_password=False)

    def drop(self) -> None:
        if self.server_url is None or not self.schemas:
            return
        engine = sa.create_engine(self.server_url)
        try:
            with engine.begin() as conn:
                for schema in self.schemas:
                    conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        finally:
            engine.dispose()


def new_deployment(scratch: Scratch, role: str) -> Deployment:
    return create_deployment(scratch.root / role, profile="minimal", database_url=scratch.url_for(role))


# --------------------------------------------------------------------------------------------------
# The two sides
# --------------------------------------------------------------------------------------------------


def run_lifecycle(service: LifecycleService, batch: Sequence[Enrolment]) -> float:
    """Move every enrolment of ``batch`` to PRINT_READY_RECORD; the wall time in seconds."""
    gc.collect()
    start = time.perf_counter()
    for enrolment in batch:
        service.record(enrolment)
        service.transition(enrolment.id, PATH[0], actor=OPERATOR)
        service.transition(enrolment.id, PATH[1], actor=CENTRAL)
        service.transition(enrolment.id, PATH[2], actor=CENTRAL)
    return time.perf_counter() - start


@dataclass
class Plan:
    """The rows of one enrolment, computed before the clock starts: one insert, three updates, four audit rows."""

    row: dict[str, Any]
    updates: list[dict[str, Any]]
    audits: list[dict[str, Any]]


class Baseline:
    """Bare SQLAlchemy Core writing what the lifecycle writes, through the same :class:`Store`."""

    _insert_enrolment = enrolments.insert()
    _insert_audit = audit_log.insert()
    _update_state = (
        enrolments.update()
        .where(enrolments.c.id == sa.bindparam("enrolment_id"))
        .values(state=sa.bindparam("state"), reason=sa.bindparam("reason"), updated_at=sa.bindparam("updated_at"))
    )

    def __init__(self, store: Store) -> None:
        self.store = store
        with store.read() as conn:
            self._seq = int(conn.execute(sa.select(sa.func.coalesce(sa.func.max(audit_log.c.seq), 0))).scalar_one())

    def _audit_row(
        self,
        actor: str,
        subject_id: str,
        old: str | None,
        new: str,
        at: dt.datetime,
        extra: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        self._seq += 1
        detail = json.dumps({"from": old, "to": new, **(extra or {})}, sort_keys=True, separators=(",", ":"))
        # Stand-ins of the right length: the baseline does no hashing, not even here.
        fake = uuid.uuid4().hex * 2
        return {
            "seq": self._seq,
            "at": at.isoformat(),
            "actor": actor,
            "action": f"enrolment.{new.lower()}",
            "subject_kind": "enrolment",
            "subject_id": subject_id,
            "detail": detail,
            "prev_hash": fake,
            "hash": fake,
        }

    def plan(self, batch: Sequence[Enrolment]) -> list[Plan]:
        plans = []
        for enrolment in batch:
            at = dt.datetime.now(dt.UTC)
            row = repo.enrolment_to_row(enrolment.with_state(EnrolmentState.BIO_CAPTURED, at=at))
            row["created_at"] = at
            audits = [
                self._audit_row(
                    OPERATOR,
                    enrolment.id,
                    None,
                    EnrolmentState.BIO_CAPTURED.value,
                    at,
                    {"site": enrolment.site_code, "nik": enrolment.biodata.nik.value, "captures": "0"},
                )
            ]
            updates = []
            old = EnrolmentState.BIO_CAPTURED.value
            for new in PATH:
                updates.append({"enrolment_id": enrolment.id, "state": new.value, "reason": None, "updated_at": at})
                audits.append(
                    self._audit_row(OPERATOR if new is PATH[0] else CENTRAL, enrolment.id, old, new.value, at)
                )
                old = new.value
            plans.append(Plan(row, updates, audits))
        return plans

    def run(self, plans: Sequence[Plan]) -> float:
        """Same transaction count as the lifecycle: insert + audit, then update + audit three times."""
        write = self.store.write
        gc.collect()
        start = time.perf_counter()
        for p in plans:
            with write() as conn:
                conn.execute(self._insert_enrolment, p.row)
                conn.execute(self._insert_audit, p.audits[0])
            for update, entry in zip(p.updates, p.audits[1:], strict=True):
                with write() as conn:
                    conn.execute(self._update_state, update)
                    conn.execute(self._insert_audit, entry)
        return time.perf_counter() - start

    def run_batched(self, plans: Sequence[Plan]) -> float:
        """Informative only: every row of one enrolment in a single transaction (one commit instead of four)."""
        write = self.store.write
        gc.collect()
        start = time.perf_counter()
        for p in plans:
            with write() as conn:
                conn.execute(self._insert_enrolment, p.row)
                conn.execute(self._insert_audit, p.audits[0])
                for update, entry in zip(p.updates, p.audits[1:], strict=True):
                    conn.execute(self._update_state, update)
                    conn.execute(self._insert_audit, entry)
        return time.perf_counter() - start


# --------------------------------------------------------------------------------------------------
# Hook dispatch timing
# --------------------------------------------------------------------------------------------------


class _TimedCaller:
    """Stands in for one pluggy hook caller, or for one plugin's call of a hook (``each_plugin``):
    calling it is timed."""

    def __init__(self, relay: TimedHookRelay, name: str, caller: Any, *, counts: int = 1) -> None:
        self._relay, self._name, self._caller, self._counts = relay, name, caller, counts
        self.plugin = getattr(caller, "plugin", None)

    def __call__(self, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return self._caller(**kwargs)
        finally:
            self._relay.account(self._name, time.perf_counter() - start, self._counts)

    def get_hookimpls(self) -> list[Any]:
        return list(self._caller.get_hookimpls())


class TimedHookRelay:
    """Stands in for ``host.hook``: every hook dispatch goes to the real relay and its duration is added up.

    The time counted is the whole dispatch as the service sees it: pluggy's caller plus every
    implementation it runs, and for a hook called one plugin at a time (``each_plugin``, as the
    lifecycle calls ``ektp_after_transition``) the look-up of the plugins' calls plus each call.
    """

    def __init__(self, relay: Any) -> None:
        self._relay = relay
        self.seconds: dict[str, float] = {}
        self.calls: dict[str, int] = {}

    def account(self, name: str, seconds: float, calls: int) -> None:
        self.seconds[name] = self.seconds.get(name, 0.0) + seconds
        self.calls[name] = self.calls.get(name, 0) + calls

    def __getattr__(self, name: str) -> Any:
        caller = getattr(self._relay, name)
        self.account(name, 0.0, 0)
        timed = _TimedCaller(self, name, caller)
        # Cached on the instance, so later look-ups skip __getattr__.
        setattr(self, name, timed)
        return timed

    def each_plugin(self, name: str) -> tuple[Any, ...]:
        start = time.perf_counter()
        calls = tuple(_TimedCaller(self, name, call, counts=0) for call in self._relay.each_plugin(name))
        # Looking the plugins' calls up is dispatch too; counted as one call of the hook.
        self.account(name, time.perf_counter() - start, 1)
        return calls

    @property
    def total(self) -> float:
        return sum(self.seconds.values())


# --------------------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------------------


@dataclass
class Side:
    """The per-round wall times of one side, and what they mean per enrolment."""

    seconds: list[float]
    n: int

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    def as_dict(self) -> dict[str, Any]:
        return {
            "enrolments_per_s": round(self.n / self.median, 1),
            "ms_per_enrolment": round(1000 * self.median / self.n, 3),
            "ms_per_transaction": round(1000 * self.median / (self.n * TXNS_PER_ENROLMENT), 3),
            "round_seconds": [round(s, 4) for s in self.seconds],
        }


def machine_info(dialect: str, server_version: str | None) -> dict[str, Any]:
    return {
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "sqlalchemy": sa.__version__,
        "pluggy": pluggy.__version__,
        "database": dialect,
        "database_server": server_version,
    }


@contextmanager
def quiet_environment() -> Iterator[None]:
    """EKTP_DATABASE_URL overrides a deployment's own URL; the benchmark must use the databases it made."""
    saved = os.environ.pop("EKTP_DATABASE_URL", None)
    if saved is not None:
        print("note: EKTP_DATABASE_URL is set; ignored for this run (use --database-url)", file=sys.stderr)
    try:
        yield
    finally:
        if saved is not None:
            os.environ["EKTP_DATABASE_URL"] = saved


def database_settings(store: Store) -> dict[str, str]:
    """What the store's connections really run with (the same on every side, or the comparison is void)."""
    if store.dialect != "sqlite":
        with store.read() as conn:
            return {
                "isolation": str(conn.exec_driver_sql("SHOW transaction_isolation").scalar_one()),
                "synchronous_commit": str(conn.exec_driver_sql("SHOW synchronous_commit").scalar_one()),
            }
    with store.read() as conn:
        journal = str(conn.exec_driver_sql("PRAGMA journal_mode").scalar_one())
        sync = {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}.get(
            int(conn.exec_driver_sql("PRAGMA synchronous").scalar_one()), "?"
        )
    # Store.write() emits BEGIN IMMEDIATE; both sides write only through it.
    return {"journal_mode": journal, "synchronous": sync, "write_transactions": "BEGIN IMMEDIATE"}


def count_state(store: Store, state: EnrolmentState) -> int:
    with store.read() as conn:
        return int(
            conn.execute(
                sa.select(sa.func.count()).select_from(enrolments).where(enrolments.c.state == state.value)
            ).scalar_one()
        )


def benchmark(
    n: int,
    rounds: int,
    warmup: int,
    chunk: int,
    server_url: str | None,
    workdir: str | None,
    progress: Callable[[str], None],
) -> dict[str, Any]:
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="ektp-bench-", dir=workdir) as tmp, quiet_environment():
        scratch = Scratch(Path(tmp), server_url)
        try:
            return _benchmark(scratch, n, rounds, warmup, chunk, progress, started)
        finally:
            scratch.drop()


def _benchmark(
    scratch: Scratch, n: int, rounds: int, warmup: int, chunk: int, progress: Callable[[str], None], started: float
) -> dict[str, Any]:
    progress("creating three throw-away deployments (lifecycle, baseline, batched baseline)")
    life_dep = new_deployment(scratch, "lifecycle")
    life_store: Store = life_dep.open_store()
    host = life_dep.plugin_host()
    service = LifecycleService(life_store, host.hook, life_dep)
    base_store: Store = new_deployment(scratch, "baseline").open_store()
    batched_store: Store = new_deployment(scratch, "batched").open_store()
    baseline, batched = Baseline(base_store), Baseline(batched_store)
    residents = Residents()
    settings = [database_settings(s) for s in (life_store, base_store, batched_store)]
    if any(x != settings[0] for x in settings):
        raise RuntimeError(f"the three databases do not run with the same settings: {settings}")
    server_version: str | None = None
    if life_store.dialect != "sqlite":
        with life_store.read() as conn:
            server_version = str(conn.exec_driver_sql("SHOW server_version").scalar_one())

    try:
        progress(f"warm-up: {warmup} enrolments on each side")
        run_lifecycle(service, residents.batch(warmup))
        baseline.run(baseline.plan(residents.batch(warmup)))
        batched.run_batched(batched.plan(residents.batch(warmup)))

        times: dict[str, list[float]] = {"lifecycle": [], "baseline": [], "batched": []}
        for r in range(rounds):
            # Inputs are built before the clock starts, so neither side pays for making sample data.
            life_batch = residents.batch(n)
            base_plans = baseline.plan(residents.batch(n))
            batched_plans = batched.plan(residents.batch(n))
            # The sides take turns in slices of `chunk` enrolments, and who goes first rotates, so a slow
            # spell of the disk or a busy neighbour lands on every side rather than on one.
            spent = dict.fromkeys(times, 0.0)
            for k, start in enumerate(range(0, n, chunk)):
                part = slice(start, start + chunk)
                order = list(times)
                shift = (r + k) % len(order)
                for name in order[shift:] + order[:shift]:
                    if name == "lifecycle":
                        spent[name] += run_lifecycle(service, life_batch[part])
                    elif name == "baseline":
                        spent[name] += baseline.run(base_plans[part])
                    else:
                        spent[name] += batched.run_batched(batched_plans[part])
            for name, seconds in spent.items():
                times[name].append(seconds)
            progress(
                f"round {r + 1}/{rounds}: lifecycle {spent['lifecycle']:.3f}s, baseline {spent['baseline']:.3f}s, "
                f"batched {spent['batched']:.3f}s"
            )
        life_s, base_s, batched_s = times["lifecycle"], times["baseline"], times["batched"]

        # A separate pass with the hook relay wrapped in timers, so the throughput rounds carry no instrumentation.
        progress(f"hook timing pass: {n} enrolments with a timed hook relay")
        timed = TimedHookRelay(host.hook)
        timed_service = LifecycleService(life_store, timed, life_dep)
        instrumented_s = run_lifecycle(timed_service, residents.batch(n))

        # The benchmark must have done what it says: every enrolment reached PRINT_READY_RECORD, the chain holds.
        expected = warmup + rounds * n
        ready = {
            "lifecycle": count_state(life_store, EnrolmentState.PRINT_READY_RECORD) - n,
            "baseline": count_state(base_store, EnrolmentState.PRINT_READY_RECORD),
            "batched": count_state(batched_store, EnrolmentState.PRINT_READY_RECORD),
        }
        wrong = {k: v for k, v in ready.items() if v != expected}
        if wrong:
            raise RuntimeError(f"expected {expected} enrolments in PRINT_READY_RECORD, found {wrong}")
        with life_store.read() as conn:
            chain = audit.verify(conn)
        if not chain.ok:
            raise RuntimeError(f"the lifecycle's audit chain does not verify: {chain}")
        impls = {name: len(getattr(host.hook, name).get_hookimpls()) for name in timed.seconds}
    finally:
        for store in (life_store, base_store, batched_store):
            store.dispose()

    lifecycle, base, batch_side = Side(life_s, n), Side(base_s, n), Side(batched_s, n)
    ratios = [a / b for a, b in zip(life_s, base_s, strict=True)]
    ratio = statistics.median(ratios)
    hook_share = timed.total / instrumented_s
    return {
        "n": n,
        "rounds": rounds,
        "warmup": warmup,
        "chunk": chunk,
        "transactions_per_enrolment": TXNS_PER_ENROLMENT,
        "lifecycle": lifecycle.as_dict(),
        "baseline": base.as_dict(),
        "batched_baseline": {**batch_side.as_dict(), "transactions_per_enrolment": 1},
        "ratio": round(ratio, 3),
        "round_ratios": [round(x, 3) for x in ratios],
        "ratio_target": RATIO_TARGET,
        "ratio_pass": ratio <= RATIO_TARGET,
        "hook_share": round(hook_share, 5),
        "hook_share_target": HOOK_SHARE_TARGET,
        "hook_share_pass": hook_share < HOOK_SHARE_TARGET,
        "hooks": {
            name: {
                "calls": timed.calls[name],
                "implementations": impls[name],
                "us_per_call": round(1e6 * timed.seconds[name] / max(timed.calls[name], 1), 2),
                "share": round(timed.seconds[name] / instrumented_s, 5),
            }
            for name in sorted(timed.seconds)
        },
        "instrumented_pass": {
            "enrolments_per_s": round(n / instrumented_s, 1),
            "ms_per_enrolment": round(1000 * instrumented_s / n, 3),
        },
        "audit_entries_verified": chain.checked,
        "machine": machine_info(life_store.dialect, server_version),
        "database_settings": settings[0],
        "workdir": str(scratch.root) if life_store.dialect == "sqlite" else None,
        "elapsed_s": round(time.perf_counter() - started, 1),
    }


def render(result: dict[str, Any]) -> str:
    def verdict(ok: bool) -> str:
        return "PASS" if ok else "FAIL"

    life, base, batched = result["lifecycle"], result["baseline"], result["batched_baseline"]
    txns = result["transactions_per_enrolment"]
    lines = [
        f"ektp lifecycle benchmark: {result['rounds']} rounds x {result['n']} enrolments "
        f"(+{result['warmup']} warm-up, sides alternating every {result['chunk']}), "
        "BIO_CAPTURED -> PRINT_READY_RECORD, medians of the rounds",
        "",
        f"{'':34}{'enrol/s':>10}{'ms/enrol':>10}{'ms/txn':>9}{'txn/enrol':>11}",
        f"{'lifecycle (LifecycleService)':34}{life['enrolments_per_s']:>10.1f}{life['ms_per_enrolment']:>10.3f}"
        f"{life['ms_per_transaction']:>9.3f}{txns:>11}",
        f"{'baseline (bare Core, same txns)':34}{base['enrolments_per_s']:>10.1f}{base['ms_per_enrolment']:>10.3f}"
        f"{base['ms_per_transaction']:>9.3f}{txns:>11}",
        f"{'batched baseline (informative)':34}{batched['enrolments_per_s']:>10.1f}"
        f"{batched['ms_per_enrolment']:>10.3f}{batched['ms_per_transaction']:>9.3f}{1:>11}",
        "",
        f"ratio lifecycle / baseline     {result['ratio']:>8.3f}   target <= {result['ratio_target']:.1f}   "
        f"{verdict(result['ratio_pass'])}   (per round: {', '.join(f'{x:.2f}' for x in result['round_ratios'])})",
        f"hook dispatch share            {100 * result['hook_share']:>7.2f}%   target <  "
        f"{100 * result['hook_share_target']:.0f}%     {verdict(result['hook_share_pass'])}",
    ]
    for name, h in result["hooks"].items():
        lines.append(
            f"  {name:28} {h['calls']:>6} calls, {h['implementations']} impl(s), "
            f"{h['us_per_call']:>8.2f} us/call, {100 * h['share']:.2f}%"
        )
    inst = result["instrumented_pass"]
    lines += [
        f"  (measured in a separate timed pass: {inst['enrolments_per_s']:.1f} enrol/s, "
        f"{inst['ms_per_enrolment']:.3f} ms/enrol; the throughput rounds carry no timers)",
        "",
        f"checked: every enrolment reached PRINT_READY_RECORD; {result['audit_entries_verified']} audit entries verify",
    ]
    m = result["machine"]
    db = f"{m['database']} {m['database_server'] or m['sqlite']}, "
    db += ", ".join(f"{k}={v}" for k, v in result["database_settings"].items())
    if result["workdir"]:
        db += f", files under {result['workdir']} (removed)"
    lines += [
        f"machine: {m['platform']}, {m['cpu_count']} CPUs, Python {m['python']}, SQLite {m['sqlite']}, "
        f"SQLAlchemy {m['sqlalchemy']}, pluggy {m['pluggy']}",
        f"database: {db}",
        f"elapsed: {result['elapsed_s']:.1f}s",
    ]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--n", type=int, default=200, help="enrolments per round and side (default 200)")
    parser.add_argument("--rounds", type=int, default=5, help="measured rounds (default 5)")
    parser.add_argument("--warmup", type=int, default=20, help="warm-up enrolments per side (default 20)")
    parser.add_argument(
        "--chunk",
        type=int,
        default=25,
        help="within a round the sides take turns in slices of this many enrolments (default 25)",
    )
    parser.add_argument(
        "--database-url",
        default=None,
        help="a PostgreSQL database to run on instead of SQLite; the benchmark works in schemas "
        "ektp_bench_<pid>_* that it creates and drops (needs CREATE on the database)",
    )
    parser.add_argument(
        "--dir",
        default=None,
        help="where the temporary deployments go (default: the system temp dir); SQLite's "
        "figures depend on the file system's fsync",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    parser.add_argument("--strict", action="store_true", help="exit with status 1 when a target is missed")
    args = parser.parse_args(argv)
    if args.n < 1 or args.rounds < 1 or args.chunk < 1 or args.warmup < 0:
        parser.error("--n, --rounds and --chunk must be at least 1, --warmup at least 0")
    if args.database_url and args.database_url.startswith("sqlite"):
        parser.error("--database-url is for PostgreSQL; SQLite databases are created in the temp dir")

    def progress(message: str) -> None:
        if not args.json:
            print(f"... {message}", file=sys.stderr, flush=True)

    result = benchmark(args.n, args.rounds, args.warmup, args.chunk, args.database_url, args.dir, progress)
    print(json.dumps(result) if args.json else render(result))
    passed = result["ratio_pass"] and result["hook_share_pass"]
    return 1 if args.strict and not passed else 0


if __name__ == "__main__":
    sys.exit(main())
