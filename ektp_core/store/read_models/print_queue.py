"""A site's print queue (antrean cetak): one page of its open jobs with their residents, the counts of
the whole queue, the recently finished jobs, and each printer's counter against the ledger.

The counts come from the counters (print jobs per site, state and print day); the page's jobs are
chosen by ordered walks of the queue index and only then joined to their residents, so a page costs
the same with ten jobs waiting or ten thousand.
"""

from __future__ import annotations

import datetime as dt
import heapq
import itertools
from collections import Counter
from collections.abc import Sequence
from typing import Any

import attrs
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ektp_core.domain.model import WEEKDAYS, PrintJob, PrintJobState, due_on
from ektp_core.store.counters import Family
from ektp_core.store.repository import utc
from ektp_core.store.tables import counters, enrolments, print_jobs, printers

J = PrintJobState
#: Jobs still open: the queue shows all of them.
OPEN_STATES = (J.QUEUED, J.RESERVED, J.SENT, J.UNKNOWN)
#: Finished jobs shown under the open ones (the most recent first).
RECENT_STATES = (J.PRINTED, J.SPOILED)
RECENT_LIMIT = 30
#: Open jobs shown on one page of the queue (an office can have thousands waiting for their print day).
QUEUE_PAGE = 25
#: Up to this position within an urgency class a page is merged from the index's ordered walks; a
#: deeper page lets the database sort the class (cheaper than walking thousands of ids to Python).
MERGE_DEPTH = 1000
#: The job states of the first urgency class: jobs in flight or waiting for a supervisor.
IN_FLIGHT = (J.RESERVED, J.SENT, J.UNKNOWN)


@attrs.frozen(kw_only=True)
class QueueRow:
    """A print job with its resident's name and NIK, as the queue lists it."""

    job: PrintJob
    nama: str
    nik: str
    #: False when the job waits for another print day (semi-vertical rules).
    due_today: bool
    #: A PRINTED card whose enrolment is still CARD_PRINTED (not handed over): a supervisor may spoil it.
    spoilable: bool = False


@attrs.frozen(kw_only=True)
class CounterCheck:
    """The ledger against a printer's own card counter."""

    printer: str
    #: Cards the ledger says went through this printer (PRINTED and SPOILED jobs on it).
    ledger_cards: int
    #: Cards the printer counted since ektp first met it; None when it keeps no counter.
    printer_cards: int | None

    @property
    def matches(self) -> bool:
        """True when both agree, or the printer keeps no counter."""
        return self.printer_cards is None or self.printer_cards == self.ledger_cards


@attrs.frozen(kw_only=True)
class QueuePage:
    """One page of the site's open jobs (the jobs due today first) with the counts of the whole queue,
    the recently finished jobs and the counter checks of the printers asked for."""

    rows: tuple[QueueRow, ...]
    #: The most recently finished jobs (PRINTED, SPOILED), newest first.
    recent: tuple[QueueRow, ...]
    page: int
    pages: int
    #: Open jobs per state (QUEUED, RESERVED, SENT, UNKNOWN), the whole queue.
    by_state: dict[str, int]
    #: QUEUED jobs per print day ("" for jobs that print any day), the whole queue.
    by_day: dict[str, int]
    #: QUEUED jobs that may be printed today.
    due_today: int
    checks: tuple[CounterCheck, ...] = ()


# Built once (building a statement costs more than running it; a page runs a dozen).
_OPEN_COUNTS = (
    sa.select(counters.c.state, counters.c.print_day, sa.func.sum(counters.c.n))
    .where(counters.c.family == Family.PRINT_JOBS.value, counters.c.state.in_([s.value for s in OPEN_STATES]))
    .group_by(counters.c.state, counters.c.print_day)
)
_OPEN_COUNTS_AT = _OPEN_COUNTS.where(counters.c.scope == sa.bindparam("site"))
_ORDER = (print_jobs.c.created_at, print_jobs.c.id)
_WALK = sa.select(print_jobs.c.created_at, print_jobs.c.id).where(
    print_jobs.c.site_code == sa.bindparam("site"), print_jobs.c.state == sa.bindparam("state")
)
#: One ordered walk of the queue index: the oldest jobs of a site in one state (and print day).
_WALKS = {
    "state": _WALK.order_by(*_ORDER).limit(sa.bindparam("limit")),
    "day": _WALK.where(print_jobs.c.print_day == sa.bindparam("day")).order_by(*_ORDER).limit(sa.bindparam("limit")),
    "any day": _WALK.where(print_jobs.c.print_day.is_(None)).order_by(*_ORDER).limit(sa.bindparam("limit")),
}
_RECENT = (
    sa.select(print_jobs.c.id, print_jobs.c.updated_at)
    .where(print_jobs.c.site_code == sa.bindparam("site"), print_jobs.c.state == sa.bindparam("state"))
    .order_by(print_jobs.c.updated_at.desc())
    .limit(RECENT_LIMIT)
)
#: A page's jobs with their residents. The columns are named here, in this order, because :func:`rows`
#: unpacks each row as a tuple (55 rows a page; a row's attribute lookup by name costs several times more).
_ROWS = (
    sa.select(
        print_jobs.c.id,
        print_jobs.c.enrolment_id,
        print_jobs.c.site_code,
        print_jobs.c.state,
        print_jobs.c.routing_reason,
        print_jobs.c.blank_serial,
        print_jobs.c.printer,
        print_jobs.c.reason,
        print_jobs.c.print_day,
        print_jobs.c.created_at,
        print_jobs.c.updated_at,
        enrolments.c.nama,
        enrolments.c.nik,
        enrolments.c.state,
    )
    .select_from(print_jobs.outerjoin(enrolments, enrolments.c.id == print_jobs.c.enrolment_id))
    .where(print_jobs.c.id.in_(sa.bindparam("ids", expanding=True)))
)
_PRINTER_CARDS = (
    sa.select(counters.c.scope, sa.func.sum(counters.c.n))
    .where(
        counters.c.family == Family.PRINTER_CARDS.value,
        counters.c.scope.in_(sa.bindparam("printers", expanding=True)),
    )
    .group_by(counters.c.scope)
)
_PRINTER_ROWS = sa.select(printers).where(printers.c.name.in_(sa.bindparam("printers", expanding=True)))


def open_counts(conn: Connection, site_code: str | None) -> Counter[tuple[str, str]]:
    """Open jobs per (state, print day; '' for any day) of a site (None: every site), from the counters."""
    found: Counter[tuple[str, str]] = Counter()
    rows = conn.execute(_OPEN_COUNTS) if site_code is None else conn.execute(_OPEN_COUNTS_AT, {"site": site_code})
    for state, print_day, n in rows:
        if n:
            found[(str(state), str(print_day))] += int(n)
    return found


def queue_page(
    conn: Connection, site_code: str, *, day: dt.date, page: int = 1, printer_names: Sequence[str] = ()
) -> QueuePage:
    """Page ``page`` (clamped to the pages there are) of the site's open jobs: UNKNOWN and unfinished
    ones first, then those due on ``day``, then the others, oldest first within each; the counts of the
    whole queue; the most recently finished jobs; the counter checks of ``printer_names``."""
    today_code = WEEKDAYS[day.weekday()]
    groups = open_counts(conn, site_code)
    by_state: Counter[str] = Counter()
    by_day: Counter[str] = Counter()
    for (state, print_day), n in groups.items():
        by_state[state] += n
        if state == J.QUEUED.value:
            by_day[print_day] += n
    total = sum(by_state.values())
    pages = max(1, -(-total // QUEUE_PAGE))
    page = min(max(1, page), pages)
    queued = J.QUEUED.value
    # The urgency classes, each a list of (walk, count): the jobs in flight by state, then the QUEUED
    # jobs due today (no print day, or today's), then the others by print day.
    classes: list[list[tuple[_Walk, int]]] = [
        [(_Walk(s.value), by_state[s.value]) for s in IN_FLIGHT if by_state[s.value]],
        [],
        [],
    ]
    for (state, print_day), n in sorted(groups.items()):
        if state != queued:
            continue
        walk = _Walk(queued, print_day or None, by_day=True)
        classes[1 if not print_day or print_day == today_code else 2].append((walk, n))
    open_ids = _page_ids(conn, site_code, classes, (page - 1) * QUEUE_PAGE, QUEUE_PAGE)
    recent_ids = _recent_ids(conn, site_code)
    found = {r.job.id: r for r in rows(conn, [*open_ids, *recent_ids], day=day)}
    return QueuePage(
        rows=tuple(found[j] for j in open_ids if j in found),
        recent=tuple(found[j] for j in recent_ids if j in found),
        page=page,
        pages=pages,
        by_state=dict(sorted(by_state.items())),
        by_day=dict(sorted(by_day.items())),
        due_today=by_day.get("", 0) + by_day.get(today_code, 0),
        checks=counter_checks(conn, printer_names),
    )


@attrs.frozen
class _Walk:
    """The jobs of one state (and, for QUEUED ones, one print day; None: any day) of a site."""

    state: str
    print_day: str | None = None
    #: False: every job of the state, whatever its print day (the jobs in flight).
    by_day: bool = False

    def where(self) -> list[Any]:
        where = [print_jobs.c.state == self.state]
        if self.by_day:
            day = print_jobs.c.print_day
            where.append(day.is_(None) if self.print_day is None else day == self.print_day)
        return where

    def rows(self, conn: Connection, site_code: str, limit: int) -> Any:
        params: dict[str, Any] = {"site": site_code, "state": self.state, "limit": limit}
        if not self.by_day:
            return conn.execute(_WALKS["state"], params)
        if self.print_day is None:
            return conn.execute(_WALKS["any day"], params)
        return conn.execute(_WALKS["day"], {**params, "day": self.print_day})


def _page_ids(
    conn: Connection, site_code: str, classes: list[list[tuple[_Walk, int]]], offset: int, limit: int
) -> tuple[str, ...]:
    """The ids at ``offset`` .. ``offset + limit`` of the queue in urgency order (class by class, each
    oldest first by creation time, then id). Within a class each (state, print day) is one ordered walk
    of the (site, state, print day, created) index, merged here: no sort of the whole queue."""
    found: list[str] = []
    start = 0  # the position of the current class's first job in the whole queue
    for sources in classes:
        size = sum(n for _walk, n in sources)
        lo, hi = max(0, offset - start), min(size, offset + limit - start)
        start += size
        if lo >= hi:
            continue
        if hi > MERGE_DEPTH:
            either = sa.or_(*[sa.and_(*walk.where()) for walk, _n in sources])
            found += conn.execute(
                sa.select(print_jobs.c.id)
                .where(print_jobs.c.site_code == site_code, either)
                .order_by(*_ORDER)
                .limit(hi - lo)
                .offset(lo)
            ).scalars()
            continue
        walks = [walk.rows(conn, site_code, hi).all() for walk, _n in sources]
        merged = heapq.merge(*[[(utc(at), job_id) for at, job_id in walk] for walk in walks])
        found += [job_id for _at, job_id in itertools.islice(merged, lo, hi)]
    return tuple(found)


def _recent_ids(conn: Connection, site_code: str) -> tuple[str, ...]:
    # One walk down the index per final state, newest first, merged here: an IN over both states
    # would make the database sort every finished job of the site.
    recent: list[tuple[Any, str]] = []
    for state in RECENT_STATES:
        recent += [
            (utc(at), job_id)
            for job_id, at in conn.execute(_RECENT, {"site": site_code, "state": state.value})
            if at is not None
        ]
    return tuple(job_id for _at, job_id in sorted(recent, reverse=True)[:RECENT_LIMIT])


def rows(conn: Connection, job_ids: Sequence[str], *, day: dt.date) -> list[QueueRow]:
    """The given jobs with their residents, in the given order (``day`` decides which are due)."""
    if not job_ids:
        return []
    found = {}
    for (
        job_id,
        enrolment_id,
        site_code,
        state,
        routing_reason,
        blank_serial,
        printer,
        reason,
        print_day,
        created_at,
        updated_at,
        nama,
        nik,
        enrolment_state,
    ) in conn.execute(_ROWS, {"ids": list(job_ids)}):
        job = PrintJob(
            id=job_id,
            enrolment_id=enrolment_id,
            site_code=site_code,
            state=state,
            routing_reason=routing_reason,
            blank_serial=blank_serial,
            printer=printer,
            reason=reason,
            print_day=print_day,
            created_at=utc(created_at),
            updated_at=utc(updated_at) if updated_at else None,
        )
        found[job_id] = QueueRow(
            job=job,
            nama=nama or "",
            nik=nik or "",
            due_today=due_on(print_day, day),
            spoilable=job.state is J.PRINTED and enrolment_state == "CARD_PRINTED",
        )
    return [found[j] for j in job_ids if j in found]


def queued_job_ids(conn: Connection, site_code: str, *, day: dt.date, any_day: bool) -> tuple[list[str], int]:
    """The site's QUEUED jobs to print now, oldest first (those due on ``day``, or all with ``any_day``),
    and how many wait for another day."""
    found = conn.execute(
        sa.select(print_jobs.c.id, print_jobs.c.print_day)
        .where(print_jobs.c.site_code == site_code, print_jobs.c.state == J.QUEUED.value)
        .order_by(print_jobs.c.created_at, print_jobs.c.id)
    ).all()
    wanted = [str(job_id) for job_id, print_day in found if any_day or due_on(print_day, day)]
    return wanted, len(found) - len(wanted)


def counter_checks(conn: Connection, printer_names: Sequence[str]) -> tuple[CounterCheck, ...]:
    """Each printer's own card counter (as last read) against the cards the ledger says it made."""
    if not printer_names:
        return ()
    names = {"printers": list(printer_names)}
    cards = Counter({str(scope): int(n) for scope, n in conn.execute(_PRINTER_CARDS, names)})
    counted: dict[str, int | None] = {}
    for row in conn.execute(_PRINTER_ROWS, names):
        if row.baseline_count is not None and row.last_count is not None:
            counted[row.name] = row.last_count - row.baseline_count
    return tuple(
        CounterCheck(printer=name, ledger_cards=cards[name], printer_cards=counted.get(name)) for name in printer_names
    )
