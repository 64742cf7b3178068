"""What the print queue and blank (blangko) pages read: jobs with their resident, delivery serials
typed by a person, the spoiled list and the daily stock report. No Flask here."""

from __future__ import annotations

import csv
import datetime as dt
import heapq
import io
import itertools
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

import attrs
import sqlalchemy as sa

from ektp_core.domain.model import BlankState, PrintJobState
from ektp_core.lifecycle.routing import due_on
from ektp_core.lifecycle.service import LedgerCount, LifecycleService
from ektp_core.store.repository import job_from_row, utc
from ektp_core.store.tables import blank_batches, blanks, enrolments, print_jobs

#: Jobs still open: the queue shows all of them.
OPEN_STATES = (PrintJobState.QUEUED, PrintJobState.RESERVED, PrintJobState.SENT, PrintJobState.UNKNOWN)
#: Finished jobs shown under the open ones (the most recent first).
RECENT_STATES = (PrintJobState.PRINTED, PrintJobState.SPOILED)
RECENT_LIMIT = 30
#: The most serials one delivery may hold (as ``ektp blanks receive --count``).
MAX_DELIVERY = 100_000
#: The longest stock report, in days.
MAX_REPORT_DAYS = 366


@attrs.frozen(kw_only=True)
class QueueRow:
    """A print job with its resident's name and NIK, as the queue lists it."""

    job: Any
    nama: str
    nik: str
    #: False when the job waits for another print day (semi-vertical rules).
    due_today: bool
    #: A PRINTED card whose enrolment is still CARD_PRINTED (not handed over): a supervisor may spoil it.
    spoilable: bool = False


def local_day(value: Any) -> dt.date:
    """The office's calendar day of a stored timestamp (the node's local time zone)."""
    return utc(value).astimezone().date()


def today() -> dt.date:
    """The office's calendar day now."""
    return dt.datetime.now().astimezone().date()


def _rows(conn: sa.Connection, query: Any, day: dt.date | None = None) -> list[QueueRow]:
    day = day or today()
    rows = []
    for row in conn.execute(query).all():
        job = job_from_row(row)
        rows.append(
            QueueRow(
                job=job,
                nama=row.nama or "",
                nik=row.nik or "",
                due_today=due_on(job.print_day, day),
                spoilable=job.state.value == "PRINTED" and row.enrolment_state == "CARD_PRINTED",
            )
        )
    return rows


def _jobs_query() -> Any:
    return sa.select(
        print_jobs, enrolments.c.nama, enrolments.c.nik, enrolments.c.state.label("enrolment_state")
    ).select_from(print_jobs.outerjoin(enrolments, enrolments.c.id == print_jobs.c.enrolment_id))


#: Open jobs shown on one page of the queue (an office can have thousands waiting for their print day).
QUEUE_PAGE = 25
#: Up to this position within an urgency class a page is merged from the index's ordered walks; a
#: deeper page lets the database sort the class (cheaper than walking thousands of ids to Python).
MERGE_DEPTH = 1000
#: The job states of the first urgency class: jobs in flight or waiting for a supervisor.
IN_FLIGHT = (PrintJobState.RESERVED, PrintJobState.SENT, PrintJobState.UNKNOWN)


@attrs.frozen(kw_only=True)
class QueuePage:
    """One page of the site's open jobs, the jobs due today first, with the counts of the whole queue."""

    rows: list[QueueRow]
    page: int
    pages: int
    #: Open jobs per state (QUEUED, RESERVED, SENT, UNKNOWN), the whole queue.
    by_state: dict[str, int]
    #: QUEUED jobs per print day ("" for jobs that print any day), the whole queue.
    by_day: dict[str, int]
    #: QUEUED jobs that may be printed today.
    due_today: int


@attrs.frozen(kw_only=True)
class QueueFigures:
    """What a queue page reads from the jobs alone (kept by :mod:`.printing_cache` while exact): the
    counts of the whole queue, the ids of the page's open jobs and of the recently finished ones, and
    the cards the ledger says each printer made. The residents' names are joined fresh per request."""

    page: int
    pages: int
    by_state: tuple[tuple[str, int], ...]
    by_day: tuple[tuple[str, int], ...]
    due_today: int
    open_ids: tuple[str, ...]
    recent_ids: tuple[str, ...]
    #: (printer, PRINTED and SPOILED jobs on it), as :meth:`PrintService.reconcile` counts them.
    printer_cards: tuple[tuple[str, int], ...]


def queue_figures(
    conn: sa.Connection, site_code: str, *, page: int = 1, day: dt.date | None = None, printers: Sequence[str] = ()
) -> QueueFigures:
    """The counts, the page's open job ids (UNKNOWN and unfinished ones first, then those due on ``day``
    (default today), oldest first), the most recently finished job ids (newest first) and the ledger's
    cards per printer, all read in ``conn``'s snapshot."""
    from ektp_core.devices.region_rules import WEEKDAYS

    today_code = WEEKDAYS[(day or today()).weekday()]
    # One walk of the queue index counts every (state, print day); the per-state and per-day figures
    # and the urgency classes are made from it.
    groups = [
        (str(state), print_day, int(n))
        for state, print_day, n in conn.execute(
            sa.select(print_jobs.c.state, print_jobs.c.print_day, sa.func.count())
            .where(print_jobs.c.site_code == site_code, print_jobs.c.state.in_([s.value for s in OPEN_STATES]))
            .group_by(print_jobs.c.state, print_jobs.c.print_day)
        )
    ]
    by_state: Counter[str] = Counter()
    by_day: Counter[str] = Counter()
    for state, print_day, n in groups:
        by_state[state] += n
        if state == PrintJobState.QUEUED.value:
            by_day[str(print_day or "")] += n
    total = sum(by_state.values())
    pages = max(1, -(-total // QUEUE_PAGE))
    page = min(max(1, page), pages)
    queued = PrintJobState.QUEUED.value
    # The urgency classes, each a list of (filter, count): the jobs in flight by state, then the QUEUED
    # jobs due today (no print day, or today's), then the others by print day.
    classes: list[list[tuple[list[Any], int]]] = [
        [([print_jobs.c.state == s.value], by_state[s.value]) for s in IN_FLIGHT if by_state[s.value]],
        [],
        [],
    ]
    for state, print_day, n in groups:
        if state != queued:
            continue
        when = print_jobs.c.print_day.is_(None) if print_day is None else print_jobs.c.print_day == print_day
        classes[1 if print_day is None or print_day == today_code else 2].append(
            ([print_jobs.c.state == queued, when], n)
        )
    open_ids = _page_ids(conn, site_code, classes, (page - 1) * QUEUE_PAGE, QUEUE_PAGE)
    # One walk down the index per final state, newest first, merged here: an IN over both states
    # would make the database sort every finished job of the site.
    recent: list[tuple[Any, str]] = []
    for state in RECENT_STATES:
        recent += [
            (utc(at), job_id)
            for job_id, at in conn.execute(
                sa.select(print_jobs.c.id, print_jobs.c.updated_at)
                .where(print_jobs.c.site_code == site_code, print_jobs.c.state == state.value)
                .order_by(print_jobs.c.updated_at.desc())
                .limit(RECENT_LIMIT)
            )
            if at is not None
        ]
    recent_ids = tuple(job_id for _at, job_id in sorted(recent, reverse=True)[:RECENT_LIMIT])
    finished = [PrintJobState.PRINTED.value, PrintJobState.SPOILED.value]
    cards = tuple(
        (
            name,
            int(
                conn.execute(
                    sa.select(sa.func.count())
                    .select_from(print_jobs)
                    .where(print_jobs.c.printer == name, print_jobs.c.state.in_(finished))
                ).scalar_one()
            ),
        )
        for name in printers
    )
    due = by_day.get("", 0) + by_day.get(today_code, 0)
    return QueueFigures(
        page=page,
        pages=pages,
        by_state=tuple(sorted(by_state.items())),
        by_day=tuple(sorted(by_day.items())),
        due_today=due,
        open_ids=open_ids,
        recent_ids=recent_ids,
        printer_cards=cards,
    )


def _page_ids(
    conn: sa.Connection, site_code: str, classes: list[list[tuple[list[Any], int]]], offset: int, limit: int
) -> tuple[str, ...]:
    """The ids at ``offset`` .. ``offset + limit`` of the queue in urgency order (class by class, each
    oldest first by creation time, then id). Within a class each (state, print day) is one ordered walk
    of the (site, state, print day, created) index, merged here: no sort of the whole queue."""
    found: list[str] = []
    start = 0  # the position of the current class's first job in the whole queue
    for sources in classes:
        size = sum(n for _where, n in sources)
        lo, hi = max(0, offset - start), min(size, offset + limit - start)
        start += size
        if lo >= hi:
            continue
        base = [print_jobs.c.site_code == site_code]
        order = (print_jobs.c.created_at, print_jobs.c.id)
        if hi > MERGE_DEPTH:
            either = sa.or_(*[sa.and_(*where) for where, _n in sources])
            found += conn.execute(
                sa.select(print_jobs.c.id).where(*base, either).order_by(*order).limit(hi - lo).offset(lo)
            ).scalars()
            continue
        walks = [
            conn.execute(
                sa.select(print_jobs.c.created_at, print_jobs.c.id).where(*base, *where).order_by(*order).limit(hi)
            ).all()
            for where, _n in sources
        ]
        merged = heapq.merge(*[[(utc(at), job_id) for at, job_id in walk] for walk in walks])
        found += [job_id for _at, job_id in itertools.islice(merged, lo, hi)]
    return tuple(found)


def queue_page(figures: QueueFigures, rows: Iterable[QueueRow]) -> tuple[QueuePage, list[QueueRow]]:
    """The page of open jobs with the figures' counts, and the recently finished jobs, from ``rows``
    (:func:`rows_in` of the figures' open and recent ids)."""
    by_id = {r.job.id: r for r in rows}
    return (
        QueuePage(
            rows=[by_id[j] for j in figures.open_ids if j in by_id],
            page=figures.page,
            pages=figures.pages,
            by_state=dict(figures.by_state),
            by_day=dict(figures.by_day),
            due_today=figures.due_today,
        ),
        [by_id[j] for j in figures.recent_ids if j in by_id],
    )


def queued_job_ids(lc: LifecycleService, site_code: str, *, any_day: bool) -> tuple[list[str], int]:
    """The site's QUEUED jobs to print now, oldest first (those of today's print day, or all with
    ``any_day``), and how many wait for another day."""
    day = today()
    with lc.store.read() as conn:
        found = conn.execute(
            sa.select(print_jobs.c.id, print_jobs.c.print_day)
            .where(print_jobs.c.site_code == site_code, print_jobs.c.state == PrintJobState.QUEUED.value)
            .order_by(print_jobs.c.created_at, print_jobs.c.id)
        ).all()
    wanted = [job_id for job_id, print_day in found if any_day or due_on(print_day, day)]
    return wanted, len(found) - len(wanted)


def rows_for(lc: LifecycleService, job_ids: Sequence[str]) -> list[QueueRow]:
    """The given jobs, in the given order (a run's page)."""
    with lc.store.read() as conn:
        return rows_in(conn, job_ids)


def rows_in(conn: sa.Connection, job_ids: Sequence[str], *, day: dt.date | None = None) -> list[QueueRow]:
    """:func:`rows_for` in ``conn``'s snapshot (``day`` decides which jobs are due; default today)."""
    found = {r.job.id: r for r in _rows(conn, _jobs_query().where(print_jobs.c.id.in_(list(job_ids))), day)}
    return [found[j] for j in job_ids if j in found]


# ------------------------------------------------------------------------------------------------
# Serials typed by a person
# ------------------------------------------------------------------------------------------------


class SerialsInvalid(ValueError):
    """The serials typed cannot be read; ``key`` and ``values`` make the message."""

    def __init__(self, key: str, **values: Any) -> None:
        super().__init__(key)
        self.key = key
        self.values = values


_RANGE = re.compile(r"^(?P<first>[^.]+)\.\.(?P<last>[^.]+)$")
_TAIL = re.compile(r"^(?P<prefix>.*?)(?P<number>\d+)$")


def parse_serials(text: str) -> list[str]:
    """The serials of a delivery: ranges ``BLK-000101..BLK-000150`` and single serials, separated by
    spaces, commas, semicolons or new lines. Order kept; a serial typed twice is kept twice (the
    ledger refuses the delivery and names it)."""
    cleaned = re.sub(r"\s*\.\.\s*", "..", text.strip().upper())
    tokens = [t for t in re.split(r"[\s,;]+", cleaned) if t]
    if not tokens:
        raise SerialsInvalid("blanks.err.none")
    serials: list[str] = []
    for token in tokens:
        if ".." in token:
            serials.extend(_expand(token))
        else:
            serials.append(token)
        if len(serials) > MAX_DELIVERY:
            raise SerialsInvalid("blanks.err.too_many", limit=MAX_DELIVERY)
    return serials


def _expand(token: str) -> list[str]:
    match = _RANGE.match(token)
    if match is None:
        raise SerialsInvalid("blanks.err.range", range=token)
    first, last = _TAIL.match(match["first"]), _TAIL.match(match["last"])
    if first is None or last is None:
        raise SerialsInvalid("blanks.err.range_digits", range=token)
    if first["prefix"] != last["prefix"] or len(first["number"]) != len(last["number"]):
        raise SerialsInvalid("blanks.err.range_shape", range=token)
    start, end = int(first["number"]), int(last["number"])
    if end < start:
        raise SerialsInvalid("blanks.err.range_order", range=token)
    if end - start + 1 > MAX_DELIVERY:
        raise SerialsInvalid("blanks.err.too_many", limit=MAX_DELIVERY)
    width = len(first["number"])
    return [f"{first['prefix']}{n:0{width}d}" for n in range(start, end + 1)]


# ------------------------------------------------------------------------------------------------
# Spoiled blanks and the daily stock report
# ------------------------------------------------------------------------------------------------


def spoiled_rows(conn: sa.Connection, site_code: str, *, limit: int = 200) -> tuple[Any, ...]:
    """The site's spoiled blanks, newest first: serial, reason, the job it was spoiled in, when."""
    return tuple(
        conn.execute(
            sa.select(blanks.c.serial, blanks.c.reason, blanks.c.job_id, blanks.c.updated_at)
            .where(blanks.c.site_code == site_code, blanks.c.state == BlankState.SPOILED.value)
            .order_by(blanks.c.updated_at.desc(), blanks.c.serial)
            .limit(limit)
        ).all()
    )


def ledger_counts(conn: sa.Connection, site_code: str) -> LedgerCount:
    """The site's blank ledger counted in ``conn``'s snapshot, as :meth:`LifecycleService.ledger` counts
    it (the pages read it inside their own read transaction: a second connection per request could
    leave every server thread waiting on the pool for it)."""
    received = int(
        conn.execute(
            sa.select(sa.func.coalesce(sa.func.sum(blank_batches.c.count), 0)).where(
                blank_batches.c.site_code == site_code
            )
        ).scalar_one()
    )
    counts = {
        str(state): int(n)
        for state, n in conn.execute(
            sa.select(blanks.c.state, sa.func.count()).where(blanks.c.site_code == site_code).group_by(blanks.c.state)
        )
    }
    return LedgerCount(
        received=received,
        in_stock=counts.get("IN_STOCK", 0),
        reserved=counts.get("RESERVED", 0),
        printed=counts.get("PRINTED", 0),
        spoiled=counts.get("SPOILED", 0),
    )


def blank_site(lc: LifecycleService, serial: str) -> str | None:
    """The site a blank belongs to (None when the ledger does not know it)."""
    with lc.store.read() as conn:
        found = conn.execute(sa.select(blanks.c.site_code).where(blanks.c.serial == serial)).scalar()
    return str(found) if found is not None else None


@attrs.frozen(kw_only=True)
class StockDay:
    """One day of the stock report. Stock counts the blanks on hand: in stock and reserved."""

    day: dt.date
    opening: int
    received: int
    printed: int
    spoiled: int

    @property
    def closing(self) -> int:
        """Stock at the end of the day."""
        return self.opening + self.received - self.printed - self.spoiled


def _midnight(day: dt.date) -> dt.datetime:
    # The office's midnight, in UTC: SQLite keeps timestamps as naive UTC text and compares them so.
    return dt.datetime.combine(day, dt.time()).astimezone().astimezone(dt.UTC)


#: Blanks of a site that reached a state in a time range: one range count on the (site, state, time)
#: index. Built once: the report runs it for every day and state.
_USED_BETWEEN = (
    sa.select(sa.func.count())
    .select_from(blanks)
    .where(
        blanks.c.site_code == sa.bindparam("site"),
        blanks.c.state == sa.bindparam("state"),
        blanks.c.updated_at >= sa.bindparam("lo", type_=blanks.c.updated_at.type),
        blanks.c.updated_at < sa.bindparam("hi", type_=blanks.c.updated_at.type),
    )
)


def stock_report(lc: LifecycleService, site_code: str, first: dt.date, last: dt.date) -> list[StockDay]:
    """Per office day from ``first`` to ``last``: opening stock, received, printed, spoiled, closing.

    A PRINTED or SPOILED blank never changes again, so the time of its last change is when it was
    printed or spoiled; deliveries carry their own time. Everything before ``first`` makes the
    opening stock, read in the same snapshot.
    """
    with lc.store.read() as conn:
        return list(stock_days(conn, site_code, first, last))


def stock_days(conn: sa.Connection, site_code: str, first: dt.date, last: dt.date) -> tuple[StockDay, ...]:
    """:func:`stock_report` in ``conn``'s snapshot."""
    start, end = _midnight(first), _midnight(last + dt.timedelta(days=1))
    final = (BlankState.PRINTED.value, BlankState.SPOILED.value)
    received_before = int(
        conn.execute(
            sa.select(sa.func.coalesce(sa.func.sum(blank_batches.c.count), 0)).where(
                blank_batches.c.site_code == site_code, blank_batches.c.received_at < start
            )
        ).scalar_one()
    )
    used_before = int(
        conn.execute(
            sa.select(sa.func.count())
            .select_from(blanks)
            .where(blanks.c.site_code == site_code, blanks.c.state.in_(final), blanks.c.updated_at < start)
        ).scalar_one()
    )
    deliveries = conn.execute(
        sa.select(blank_batches.c.received_at, blank_batches.c.count).where(
            blank_batches.c.site_code == site_code,
            blank_batches.c.received_at >= start,
            blank_batches.c.received_at < end,
        )
    ).all()
    # Counted per day by the database, one range count per day and state answered from the
    # (site, state, time) index: no blank travels to Python (an office uses thousands a month).
    dates = [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]
    bounds = [_midnight(d) for d in [*dates, last + dt.timedelta(days=1)]]
    used: dict[tuple[str, dt.date], int] = {}
    for state in final:
        for day, (lo, hi) in zip(dates, itertools.pairwise(bounds), strict=True):
            n = int(conn.execute(_USED_BETWEEN, {"site": site_code, "state": state, "lo": lo, "hi": hi}).scalar_one())
            if n:
                used[(state, day)] = n
    received: Counter[dt.date] = Counter()
    for at, count in deliveries:
        received[local_day(at)] += int(count)
    printed: Counter[dt.date] = Counter()
    spoiled: Counter[dt.date] = Counter()
    for (state, day), count in used.items():
        (printed if state == BlankState.PRINTED.value else spoiled)[day] += count
    days, stock = [], received_before - used_before
    day = first
    while day <= last:
        row = StockDay(day=day, opening=stock, received=received[day], printed=printed[day], spoiled=spoiled[day])
        days.append(row)
        stock = row.closing
        day += dt.timedelta(days=1)
    return tuple(days)


def report_csv(site_code: str, days: Iterable[StockDay], header: Sequence[str]) -> str:
    """The stock report as CSV (one row per day; ``header`` names the columns in the reader's language)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(["site", *header])
    for d in days:
        writer.writerow([site_code, d.day.isoformat(), d.opening, d.received, d.printed, d.spoiled, d.closing])
    return buffer.getvalue()


def report_range(raw_from: str | None, raw_to: str | None, *, default_days: int = 14) -> tuple[dt.date, dt.date, bool]:
    """The report's dates from the form; bad or missing ones fall back to the last ``default_days``
    (the third value is False when something typed could not be used)."""
    last, first = today(), today() - dt.timedelta(days=default_days - 1)
    ok = True
    try:
        if raw_to:
            last = dt.date.fromisoformat(raw_to)
        if raw_from:
            first = dt.date.fromisoformat(raw_from)
        elif raw_to:
            first = last - dt.timedelta(days=default_days - 1)
    except ValueError:
        return today() - dt.timedelta(days=default_days - 1), today(), False
    if first > last or (last - first).days + 1 > MAX_REPORT_DAYS:
        return today() - dt.timedelta(days=default_days - 1), today(), False
    return first, last, ok
