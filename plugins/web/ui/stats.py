"""The figures the dashboard shows, read in one snapshot of the node's database."""

from __future__ import annotations

import datetime as dt
import functools
import itertools
from typing import Any

import attrs
import sqlalchemy as sa

from ektp_core.domain.model import EnrolmentState, PrintJobState
from ektp_core.lifecycle.service import LedgerCount, LifecycleService
from ektp_core.store.tables import central_submissions, enrolments, outbox, print_jobs

#: How many days the charts look back.
DAYS = 14


@attrs.frozen(kw_only=True)
class Figures:
    """One site's (or the whole regency's) figures."""

    by_state: dict[str, int]
    recorded_today: int
    printed_today: int
    days: list[dt.date]
    recorded_per_day: list[int]
    printed_per_day: list[int]
    #: Recorded and printed per site over the charts' days.
    per_site: dict[str, tuple[int, int]]
    waiting_packets: int
    last_packet_error: str | None
    waiting_central: int
    queued_jobs: int
    unknown_jobs: int


def _per_day(conn: Any, column: Any, where: list[Any], starts: list[dt.datetime]) -> dict[tuple[str, int], int]:
    """Rows counted per (site, day): ``starts`` are the charts' local midnights and the next one; day ``i``
    is ``starts[i] <= column < starts[i + 1]``.

    Each day is one range count and the sites one GROUP BY over the whole window, all answered from
    indexes that hold the time and the site (migration 0008), so no row travels to Python and no table
    row is read: a regency records tens of thousands of residents a fortnight, and turning each into a
    local date in Python made the dashboard the slowest page.
    """
    site = column.table.c.site_code
    counts: dict[tuple[str, int], int] = {}
    # Per day, over every site (the chart) ...
    for i, (start, end) in enumerate(itertools.pairwise(starts)):
        n = int(
            conn.execute(
                sa.select(sa.func.count()).select_from(column.table).where(column >= start, column < end, *where)
            ).scalar_one()
        )
        if n:
            counts[("", i)] = n
    # ... and per site over the window (the per-kecamatan chart), day -1.
    for code, n in conn.execute(
        sa.select(site, sa.func.count()).where(column >= starts[0], column < starts[-1], *where).group_by(site)
    ):
        counts[(str(code), -1)] = int(n)
    return counts


def day_starts(today: dt.date) -> list[dt.datetime]:
    """The charts' days' local midnights and the one after today, in UTC (timestamps are stored in UTC)."""
    return list(_day_starts(today, dt.datetime.now().astimezone().tzinfo))


@functools.lru_cache(maxsize=8)
def _day_starts(today: dt.date, zone: dt.tzinfo | None) -> tuple[dt.datetime, ...]:
    # Kept per (day, zone): every dashboard request asks, and the answer changes only at midnight.
    days = [today - dt.timedelta(days=n) for n in range(DAYS - 1, -1, -1)]
    return tuple(
        dt.datetime.combine(d, dt.time(), tzinfo=zone).astimezone(dt.UTC) for d in [*days, today + dt.timedelta(days=1)]
    )


@attrs.frozen(kw_only=True)
class Printed:
    """The print jobs' part of the figures: printed per chart day and per site, and the jobs waiting."""

    per_day: list[int]
    per_site: dict[str, int]
    queued_jobs: int
    unknown_jobs: int


def count_printed(conn: sa.Connection, site_code: str | None, starts: list[dt.datetime]) -> Printed:
    """Cards printed per chart day (``starts``: :func:`day_starts`) and per site, and the jobs queued or unknown."""
    printed_where: list[Any] = [print_jobs.c.state == PrintJobState.PRINTED.value]
    jobs_q = (
        sa.select(print_jobs.c.state, sa.func.count())
        .where(print_jobs.c.state.in_([PrintJobState.QUEUED.value, PrintJobState.UNKNOWN.value]))
        .group_by(print_jobs.c.state)
    )
    if site_code is not None:
        printed_where.append(print_jobs.c.site_code == site_code)
        jobs_q = jobs_q.where(print_jobs.c.site_code == site_code)
    printed = _per_day(conn, print_jobs.c.updated_at, printed_where, starts)
    jobs = {str(s): int(n) for s, n in conn.execute(jobs_q)}
    return Printed(
        per_day=[printed.get(("", i), 0) for i in range(DAYS)],
        per_site={site: n for (site, day), n in printed.items() if day < 0},
        queued_jobs=jobs.get("QUEUED", 0),
        unknown_jobs=jobs.get("UNKNOWN", 0),
    )


@attrs.frozen(kw_only=True)
class Waiting:
    """What waits for the Dukcapil node (packets not sent) or the central system (verdicts not back).

    Neither is audited (the outbox's attempts, a submission row made for an enrolment already sent), so
    these are read on every request: a few index reads."""

    waiting_packets: int
    last_packet_error: str | None
    waiting_central: int


def count_waiting(conn: sa.Connection) -> Waiting:
    """Packets waiting to be sent, the last error of one, and enrolments waiting for the central system."""
    waiting_packets = int(
        conn.execute(sa.select(sa.func.count()).select_from(outbox).where(outbox.c.sent_at.is_(None))).scalar_one()
    )
    last_error = conn.execute(
        sa.select(outbox.c.last_error)
        .where(outbox.c.sent_at.is_(None))
        .where(outbox.c.last_error.is_not(None))
        .order_by(outbox.c.seq.desc())
        .limit(1)
    ).scalar()
    waiting_central = int(
        conn.execute(
            sa.select(sa.func.count())
            .select_from(central_submissions.join(enrolments))
            .where(enrolments.c.state == EnrolmentState.SENT_FOR_ENROLLMENT.value)
        ).scalar_one()
    )
    return Waiting(waiting_packets=waiting_packets, last_packet_error=last_error, waiting_central=waiting_central)


def figures(lifecycle: LifecycleService, site_code: str | None, *, today: dt.date | None = None) -> Figures:
    """Figures of ``site_code`` (None: every site, the regency's view at the Dukcapil node)."""
    with lifecycle.store.read() as conn:
        return figures_in(conn, site_code, today=today or dt.datetime.now().astimezone().date())


def figures_in(conn: sa.Connection, site_code: str | None, *, today: dt.date) -> Figures:
    """:func:`figures` counted in ``conn``'s snapshot (a ``Store.read()`` transaction)."""
    days = [today - dt.timedelta(days=n) for n in range(DAYS - 1, -1, -1)]
    starts = day_starts(today)
    recorded = count_recorded(conn, site_code, starts)
    return combine(
        by_state=recorded.by_state,
        days=days,
        recorded_per_day=recorded.per_day,
        recorded_per_site=recorded.per_site,
        printed=count_printed(conn, site_code, starts),
        waiting=count_waiting(conn),
    )


@attrs.frozen(kw_only=True)
class Recorded:
    """The enrolments' part of the figures: how many in each state, recorded per chart day and per site."""

    by_state: dict[str, int]
    per_day: list[int]
    per_site: dict[str, int]


def count_recorded(conn: sa.Connection, site_code: str | None, starts: list[dt.datetime]) -> Recorded:
    """Enrolments by state, and recorded per chart day (``starts``: :func:`day_starts`) and per site."""
    recent_where: list[Any] = []
    by_state_q = sa.select(enrolments.c.state, sa.func.count()).group_by(enrolments.c.state)
    if site_code is not None:
        by_state_q = by_state_q.where(enrolments.c.site_code == site_code)
        recent_where.append(enrolments.c.site_code == site_code)
    by_state = {str(s): int(n) for s, n in conn.execute(by_state_q)}
    recent = _per_day(conn, enrolments.c.created_at, recent_where, starts)
    return Recorded(
        by_state=by_state,
        per_day=[recent.get(("", i), 0) for i in range(DAYS)],
        per_site={site: n for (site, day), n in recent.items() if day < 0},
    )


def combine(
    *,
    by_state: dict[str, int],
    days: list[dt.date],
    recorded_per_day: list[int],
    recorded_per_site: dict[str, int],
    printed: Printed,
    waiting: Waiting,
) -> Figures:
    """The page's figures from their parts (the per-site chart: sites with any recording or print, by code)."""
    codes = sorted(set(recorded_per_site) | set(printed.per_site))
    return Figures(
        by_state={k: v for k, v in by_state.items() if v},
        recorded_today=recorded_per_day[-1],
        printed_today=printed.per_day[-1],
        days=days,
        recorded_per_day=list(recorded_per_day),
        printed_per_day=list(printed.per_day),
        per_site={c: (recorded_per_site.get(c, 0), printed.per_site.get(c, 0)) for c in codes},
        waiting_packets=waiting.waiting_packets,
        last_packet_error=waiting.last_packet_error,
        waiting_central=waiting.waiting_central,
        queued_jobs=printed.queued_jobs,
        unknown_jobs=printed.unknown_jobs,
    )


def stock(lifecycle: LifecycleService, site_codes: list[str]) -> dict[str, LedgerCount]:
    """The blank ledger of each site."""
    return {code: lifecycle.ledger(code) for code in site_codes}
