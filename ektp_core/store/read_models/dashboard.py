"""The dashboard's figures: a site's day at a glance (or the regency's, at the Dukcapil node).

Everything is read from the counters (enrolments per state, recordings and prints per UTC hour, jobs
per state) and from small indexed reads (what waits for the Dukcapil node or the central system), in
the caller's snapshot: exact at every request, at a cost that does not grow with the history.
"""

from __future__ import annotations

import datetime as dt

import attrs
from sqlalchemy.engine import Connection

from ektp_core.store.counters import Family
from ektp_core.store.read_models import periods, sync_status
from ektp_core.store.read_models.print_queue import open_counts

#: How many days the charts look back (today included).
DAYS = 14


@attrs.frozen(kw_only=True)
class DashboardFigures:
    """One site's (or the whole regency's) figures."""

    #: Enrolments per state (states with none left out).
    by_state: dict[str, int]
    recorded_today: int
    printed_today: int
    #: The charts' local days, oldest first, today last.
    days: tuple[dt.date, ...]
    recorded_per_day: tuple[int, ...]
    printed_per_day: tuple[int, ...]
    #: (recorded, printed) per site over the charts' days: sites with either, by code.
    per_site: dict[str, tuple[int, int]]
    #: Packets of this node's outbox still waiting, and the newest error of one.
    waiting_packets: int
    last_packet_error: str | None
    #: Enrolments waiting for the central system's verdict.
    waiting_central: int
    queued_jobs: int
    unknown_jobs: int


def dashboard_figures(
    conn: Connection, site_code: str | None, *, today: dt.date, zone: dt.tzinfo | None = None
) -> DashboardFigures:
    """The figures of ``site_code`` (None: every site, the regency's view) in ``conn``'s snapshot, with
    the charts' :data:`DAYS` local days (``zone``, default the node's) ending ``today``."""
    first = today - dt.timedelta(days=DAYS - 1)
    starts = periods.day_starts(first, today, zone)
    recorded = periods.per_day(conn, Family.RECORDED, starts, scope=site_code)
    printed = periods.per_day(conn, Family.PRINTED, starts, scope=site_code)
    recorded_per_site = periods.per_scope(conn, Family.RECORDED, starts[0], starts[-1], scope=site_code)
    printed_per_site = periods.per_scope(conn, Family.PRINTED, starts[0], starts[-1], scope=site_code)
    codes = sorted(set(recorded_per_site) | set(printed_per_site))
    jobs = open_counts(conn, site_code)
    waiting, last_error = sync_status.waiting_packets(conn)
    return DashboardFigures(
        by_state=dict(sorted(periods.totals(conn, Family.ENROLMENTS, scope=site_code).items())),
        recorded_today=recorded[-1],
        printed_today=printed[-1],
        days=tuple(first + dt.timedelta(days=i) for i in range(DAYS)),
        recorded_per_day=tuple(recorded),
        printed_per_day=tuple(printed),
        per_site={c: (recorded_per_site.get(c, 0), printed_per_site.get(c, 0)) for c in codes},
        waiting_packets=waiting,
        last_packet_error=last_error,
        waiting_central=sync_status.waiting_for_central(conn),
        queued_jobs=sum(n for (state, _day), n in jobs.items() if state == "QUEUED"),
        unknown_jobs=sum(n for (state, _day), n in jobs.items() if state == "UNKNOWN"),
    )
