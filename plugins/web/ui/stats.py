"""The figures the dashboard shows, read in one snapshot of the node's database."""
from __future__ import annotations

import datetime as dt
from collections import Counter
from typing import Any

import attrs
import sqlalchemy as sa

from ektp_core.lifecycle import LedgerCount, LifecycleService
from ektp_core.model import EnrolmentState, PrintJobState
from ektp_core.store.repository import utc
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


def _local_day(value: Any) -> dt.date:
    return utc(value).astimezone().date()


def figures(lifecycle: LifecycleService, site_code: str | None, *, today: dt.date | None = None) -> Figures:
    """Figures of ``site_code`` (None: every site, the regency's view at the Dukcapil node)."""
    today = today or dt.datetime.now().astimezone().date()
    days = [today - dt.timedelta(days=n) for n in range(DAYS - 1, -1, -1)]
    since = dt.datetime.combine(days[0], dt.time(), tzinfo=dt.datetime.now().astimezone().tzinfo)
    with lifecycle.store.read() as conn:
        by_state_q = sa.select(enrolments.c.state, sa.func.count()).group_by(enrolments.c.state)
        recent_q = sa.select(enrolments.c.site_code, enrolments.c.created_at).where(enrolments.c.created_at >= since)
        printed_q = (sa.select(print_jobs.c.site_code, print_jobs.c.updated_at)
                     .where(print_jobs.c.state == PrintJobState.PRINTED.value)
                     .where(print_jobs.c.updated_at >= since))
        jobs_q = sa.select(print_jobs.c.state, sa.func.count()).where(
            print_jobs.c.state.in_([PrintJobState.QUEUED.value, PrintJobState.UNKNOWN.value])).group_by(
            print_jobs.c.state)
        if site_code is not None:
            by_state_q = by_state_q.where(enrolments.c.site_code == site_code)
            recent_q = recent_q.where(enrolments.c.site_code == site_code)
            printed_q = printed_q.where(print_jobs.c.site_code == site_code)
            jobs_q = jobs_q.where(print_jobs.c.site_code == site_code)
        by_state = {str(s): int(n) for s, n in conn.execute(by_state_q)}
        recent = conn.execute(recent_q).all()
        printed = conn.execute(printed_q).all()
        jobs = {str(s): int(n) for s, n in conn.execute(jobs_q)}
        waiting_packets = int(conn.execute(sa.select(sa.func.count()).select_from(outbox)
                                           .where(outbox.c.sent_at.is_(None))).scalar_one())
        last_error = conn.execute(sa.select(outbox.c.last_error).where(outbox.c.sent_at.is_(None))
                                  .where(outbox.c.last_error.is_not(None)).order_by(outbox.c.seq.desc())
                                  .limit(1)).scalar()
        waiting_central = int(conn.execute(
            sa.select(sa.func.count()).select_from(central_submissions.join(enrolments))
            .where(enrolments.c.state == EnrolmentState.SENT_FOR_ENROLLMENT.value)).scalar_one())
    rec_days = Counter(_local_day(at) for _site, at in recent)
    pr_days = Counter(_local_day(at) for _site, at in printed if at is not None)
    per_site: dict[str, list[int]] = {}
    for site, _at in recent:
        per_site.setdefault(site, [0, 0])[0] += 1
    for site, at in printed:
        if at is not None:
            per_site.setdefault(site, [0, 0])[1] += 1
    return Figures(by_state=by_state, recorded_today=rec_days.get(today, 0), printed_today=pr_days.get(today, 0),
                   days=days, recorded_per_day=[rec_days.get(d, 0) for d in days],
                   printed_per_day=[pr_days.get(d, 0) for d in days],
                   per_site={k: (v[0], v[1]) for k, v in sorted(per_site.items())},
                   waiting_packets=waiting_packets, last_packet_error=last_error, waiting_central=waiting_central,
                   queued_jobs=jobs.get("QUEUED", 0), unknown_jobs=jobs.get("UNKNOWN", 0))


def stock(lifecycle: LifecycleService, site_codes: list[str]) -> dict[str, LedgerCount]:
    """The blank ledger of each site."""
    return {code: lifecycle.ledger(code) for code in site_codes}
