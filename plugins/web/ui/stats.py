"""The figures the dashboard shows, read in one snapshot of the node's database."""
from __future__ import annotations

import datetime as dt
import itertools
from collections import Counter
from typing import Any

import attrs
import sqlalchemy as sa

from ektp_core.lifecycle import LedgerCount, LifecycleService
from ektp_core.model import EnrolmentState, PrintJobState
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
        n = int(conn.execute(sa.select(sa.func.count()).select_from(column.table)
                             .where(column >= start, column < end, *where)).scalar_one())
        if n:
            counts[("", i)] = n
    # ... and per site over the window (the per-kecamatan chart), day -1.
    for code, n in conn.execute(sa.select(site, sa.func.count()).where(column >= starts[0], column < starts[-1],
                                                                         *where).group_by(site)):
        counts[(str(code), -1)] = int(n)
    return counts


def figures(lifecycle: LifecycleService, site_code: str | None, *, today: dt.date | None = None) -> Figures:
    """Figures of ``site_code`` (None: every site, the regency's view at the Dukcapil node)."""
    today = today or dt.datetime.now().astimezone().date()
    days = [today - dt.timedelta(days=n) for n in range(DAYS - 1, -1, -1)]
    zone = dt.datetime.now().astimezone().tzinfo
    # Each day's local midnight, and the one after today, in UTC (timestamps are stored in UTC).
    starts = [dt.datetime.combine(d, dt.time(), tzinfo=zone).astimezone(dt.UTC)
              for d in [*days, today + dt.timedelta(days=1)]]
    recent_where: list[Any] = []
    printed_where: list[Any] = [print_jobs.c.state == PrintJobState.PRINTED.value]
    with lifecycle.store.read() as conn:
        by_state_q = sa.select(enrolments.c.state, sa.func.count()).group_by(enrolments.c.state)
        jobs_q = sa.select(print_jobs.c.state, sa.func.count()).where(
            print_jobs.c.state.in_([PrintJobState.QUEUED.value, PrintJobState.UNKNOWN.value])).group_by(
            print_jobs.c.state)
        if site_code is not None:
            by_state_q = by_state_q.where(enrolments.c.site_code == site_code)
            recent_where.append(enrolments.c.site_code == site_code)
            printed_where.append(print_jobs.c.site_code == site_code)
            jobs_q = jobs_q.where(print_jobs.c.site_code == site_code)
        by_state = {str(s): int(n) for s, n in conn.execute(by_state_q)}
        recent = _per_day(conn, enrolments.c.created_at, recent_where, starts)
        printed = _per_day(conn, print_jobs.c.updated_at, printed_where, starts)
        jobs = {str(s): int(n) for s, n in conn.execute(jobs_q)}
        waiting_packets = int(conn.execute(sa.select(sa.func.count()).select_from(outbox)
                                           .where(outbox.c.sent_at.is_(None))).scalar_one())
        last_error = conn.execute(sa.select(outbox.c.last_error).where(outbox.c.sent_at.is_(None))
                                  .where(outbox.c.last_error.is_not(None)).order_by(outbox.c.seq.desc())
                                  .limit(1)).scalar()
        waiting_central = int(conn.execute(
            sa.select(sa.func.count()).select_from(central_submissions.join(enrolments))
            .where(enrolments.c.state == EnrolmentState.SENT_FOR_ENROLLMENT.value)).scalar_one())
    rec_days: Counter[int] = Counter()
    pr_days: Counter[int] = Counter()
    per_site: dict[str, list[int]] = {}
    for counted, column, slot in ((recent, rec_days, 0), (printed, pr_days, 1)):
        for (site, day), n in counted.items():
            if day >= 0:
                column[day] += n
            else:
                per_site.setdefault(site, [0, 0])[slot] += n
    return Figures(by_state=by_state, recorded_today=rec_days.get(DAYS - 1, 0),
                   printed_today=pr_days.get(DAYS - 1, 0), days=days,
                   recorded_per_day=[rec_days.get(i, 0) for i in range(DAYS)],
                   printed_per_day=[pr_days.get(i, 0) for i in range(DAYS)],
                   per_site={k: (v[0], v[1]) for k, v in sorted(per_site.items())},
                   waiting_packets=waiting_packets, last_packet_error=last_error, waiting_central=waiting_central,
                   queued_jobs=jobs.get("QUEUED", 0), unknown_jobs=jobs.get("UNKNOWN", 0))


def stock(lifecycle: LifecycleService, site_codes: list[str]) -> dict[str, LedgerCount]:
    """The blank ledger of each site."""
    return {code: lifecycle.ledger(code) for code in site_codes}
