"""The office reports: what each site (and each operator) did in a day or a month, for the monthly
report to the regency and the regency's to the ministry (DOMAIN.md "Reports").

Figures per site, for one period (local days, ``zone`` default the node's):

- **recorded**, by service type (``baru``, ``hilang``, ``rusak``, ``perubahan``): enrolments recorded
  at the site in the period (their recording time);
- **sent**, **unique**, **duplicate**, **adjudicated**, **cancelled**: the moves of the site's
  enrolments in the period, from the audit log (``at`` is indexed): sent towards the central system;
  a print-ready verdict straight from the centre (unique) or a duplicate one; a supervisor's
  adjudication (either way); a cancellation;
- **printed**, **handed_over**: cards of the card register printed at the site / handed over there;
- blanks per printing site: **blanks_received**, **blanks_used** (printed), **blanks_spoiled**, and the
  stock at the end of the period (the *laporan penggunaan blangko*);
- **waiting**: cards printed for the site's residents and not handed over at the end of the period,
  with the oldest one's age in days.

Per operator: recordings by service type and the cards they handed over. The regency's figures are the
sum of its sites'. Every figure is a bounded, indexed query: a month of a regency is one pass over
that month's rows.
"""

from __future__ import annotations

import calendar
import datetime as dt
import json
from collections import Counter, defaultdict
from collections.abc import Iterable

import attrs
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ektp_core.store.read_models import blank_stock, periods
from ektp_core.store.repository import utc
from ektp_core.store.tables import audit_log, blank_batches, blanks, cards, enrolments

#: Service types in report order.
SERVICE_TYPES = ("baru", "hilang", "rusak", "perubahan")
#: The per-site figures in report (and CSV column) order, after the site code.
SITE_FIGURES = (
    *(f"recorded_{t}" for t in SERVICE_TYPES),
    "recorded",
    "sent",
    "unique",
    "duplicate",
    "adjudicated",
    "cancelled",
    "printed",
    "handed_over",
    "spoiled",
    "blanks_received",
    "blanks_used",
    "blanks_spoiled",
    "blanks_in_stock",
    "waiting",
    "waiting_oldest_days",
)
_WAITING = ("PRINTED", "SHIPPED", "RECEIVED")
_AUDITED = (
    "enrolment.sent_for_enrollment",
    "enrolment.print_ready_record",
    "enrolment.duplicate_record",
    "enrolment.enrollment_cancelled",
)


@attrs.frozen
class Period:
    """Whole local days: ``first`` .. ``last``, and their bounds in UTC (``start`` <= t < ``end``)."""

    first: dt.date
    last: dt.date
    start: dt.datetime
    end: dt.datetime
    label: str

    @classmethod
    def month(cls, year: int, month: int, zone: dt.tzinfo | None = None) -> Period:
        """One calendar month (``ValueError`` for a month that does not exist)."""
        first = dt.date(year, month, 1)
        last = dt.date(year, month, calendar.monthrange(year, month)[1])
        return cls.days(first, last, zone, label=f"{year:04d}-{month:02d}")

    @classmethod
    def day(cls, day: dt.date, zone: dt.tzinfo | None = None) -> Period:
        """One local day."""
        return cls.days(day, day, zone, label=day.isoformat())

    @classmethod
    def days(cls, first: dt.date, last: dt.date, zone: dt.tzinfo | None = None, *, label: str = "") -> Period:
        """``first`` .. ``last`` (at most a year)."""
        if last < first or (last - first).days + 1 > blank_stock.MAX_REPORT_DAYS:
            raise ValueError(f"a report covers 1 to {blank_stock.MAX_REPORT_DAYS} days, not {first} .. {last}")
        start, end = periods.midnight(first, zone), periods.midnight(last + dt.timedelta(days=1), zone)
        return cls(first, last, start, end, label or f"{first.isoformat()}..{last.isoformat()}")

    @classmethod
    def parse_month(cls, text: str, zone: dt.tzinfo | None = None) -> Period:
        """``YYYY-MM`` (``ValueError`` otherwise)."""
        try:
            year, month = (int(part) for part in text.split("-"))
            return cls.month(year, month, zone)
        except ValueError:
            raise ValueError(f"expected a month YYYY-MM, got {text!r}") from None


@attrs.frozen
class SiteFigures:
    """One site's figures for the period (see the module's docstring); a dict in :data:`SITE_FIGURES` order."""

    site: str
    figures: dict[str, int]

    def __getitem__(self, name: str) -> int:
        return self.figures[name]


@attrs.frozen
class OperatorFigures:
    """One operator's recordings (by service type) and handovers in the period."""

    operator: str
    site: str
    recorded: dict[str, int]
    handed_over: int


@attrs.frozen
class Report:
    """The report of a period: per site (sites with any figure, or the one asked for), per operator,
    and the regency's totals."""

    period: Period
    sites: tuple[SiteFigures, ...]
    operators: tuple[OperatorFigures, ...]

    @property
    def totals(self) -> dict[str, int]:
        """The regency's figures: every site's summed (the oldest waiting card: the maximum)."""
        out = {name: 0 for name in SITE_FIGURES}
        for site in self.sites:
            for name, value in site.figures.items():
                out[name] = max(out[name], value) if name == "waiting_oldest_days" else out[name] + value
        return out

    def csv_rows(self) -> list[tuple[str | int, ...]]:
        """A header and one row per site, then the regency's total (site ``*``)."""
        rows: list[tuple[str | int, ...]] = [("period", "site", *SITE_FIGURES)]
        for site in self.sites:
            rows.append((self.period.label, site.site, *(site.figures[n] for n in SITE_FIGURES)))
        rows.append((self.period.label, "*", *(self.totals[n] for n in SITE_FIGURES)))
        return rows


def build(
    conn: Connection,
    period: Period,
    *,
    site_code: str | None = None,
    printing_sites: Iterable[str] = (),
    now: dt.datetime | None = None,
) -> Report:
    """The report of ``period`` for one site, or (``site_code`` None) every site with any figure and
    every printing site (``printing_sites``: their blank figures count even in an idle month)."""
    lo, hi = period.start, period.end
    figures: dict[str, Counter[str]] = defaultdict(Counter)
    by_operator: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)

    def wanted(site: str | None) -> bool:
        return site is not None and (site_code is None or site == site_code)

    # Recordings, by site, operator and service type (their recording time: ix_enrolments_created_at).
    for site, operator, kind, n in conn.execute(
        sa.select(enrolments.c.site_code, enrolments.c.operator, enrolments.c.service_type, sa.func.count())
        .where(enrolments.c.created_at >= lo, enrolments.c.created_at < hi)
        .group_by(enrolments.c.site_code, enrolments.c.operator, enrolments.c.service_type)
    ):
        if wanted(site):
            figures[site][f"recorded_{kind}"] += n
            figures[site]["recorded"] += n
            by_operator[operator, site][kind] += n

    # The moves of enrolments, from the audit log (ix_audit_log_at), attributed to the recording site.
    moves = conn.execute(
        sa.select(audit_log.c.action, audit_log.c.detail, enrolments.c.site_code)
        .join(enrolments, enrolments.c.id == audit_log.c.subject_id)
        .where(audit_log.c.at >= _iso(lo), audit_log.c.at < _iso(hi), audit_log.c.action.in_(_AUDITED))
    ).all()
    for action, detail, site in moves:
        if not wanted(site):
            continue
        came_from = json.loads(detail).get("from")
        if action == "enrolment.sent_for_enrollment":
            figures[site]["sent"] += 1
        elif action == "enrolment.enrollment_cancelled":
            figures[site]["cancelled"] += 1
        elif came_from == "ADJUDICATE_RECORD":
            figures[site]["adjudicated"] += 1
        elif action == "enrolment.print_ready_record":
            figures[site]["unique"] += 1
        else:
            figures[site]["duplicate"] += 1

    # Cards printed and handed over (the card register).
    for site, n in conn.execute(
        sa.select(cards.c.printed_site, sa.func.count())
        .where(cards.c.printed_at >= lo, cards.c.printed_at < hi)
        .group_by(cards.c.printed_site)
    ):
        if wanted(site):
            figures[site]["printed"] += n
    for site, operator, n in conn.execute(
        sa.select(cards.c.handed_over_site, audit_log.c.actor, sa.func.count())
        .join(audit_log, sa.and_(audit_log.c.subject_id == cards.c.serial, audit_log.c.action == "card.active"))
        .where(cards.c.handed_over_at >= lo, cards.c.handed_over_at < hi)
        .group_by(cards.c.handed_over_site, audit_log.c.actor)
    ):
        if wanted(site):
            figures[site]["handed_over"] += n
            by_operator[operator, site]["handed_over"] += n

    # Blanks per printing site: received, used, spoiled in the period; stock at its end.
    for site, n in conn.execute(
        sa.select(blank_batches.c.site_code, sa.func.sum(blank_batches.c.count))
        .where(blank_batches.c.received_at >= lo, blank_batches.c.received_at < hi)
        .group_by(blank_batches.c.site_code)
    ):
        if wanted(site):
            figures[site]["blanks_received"] += int(n)
    for site, state, n in conn.execute(
        sa.select(blanks.c.site_code, blanks.c.state, sa.func.count())
        .where(blanks.c.state.in_(("PRINTED", "SPOILED")), blanks.c.updated_at >= lo, blanks.c.updated_at < hi)
        .group_by(blanks.c.site_code, blanks.c.state)
    ):
        if wanted(site):
            figures[site]["blanks_used" if state == "PRINTED" else "blanks_spoiled"] += n
            if state == "SPOILED":
                figures[site]["spoiled"] += n
    stock_sites = {s for (s,) in conn.execute(sa.select(blank_batches.c.site_code).distinct())} | set(printing_sites)
    for site in sorted(stock_sites):
        if wanted(site):
            figures[site]["blanks_in_stock"] += _stock_at(conn, site, hi)

    # Cards waiting for collection at the end of the period, by where they are collected.
    moment = min(hi, now or dt.datetime.now(dt.UTC))
    for site, printed_at in conn.execute(
        sa.select(sa.func.coalesce(cards.c.collection_site, enrolments.c.site_code), cards.c.printed_at)
        .join(enrolments, enrolments.c.id == cards.c.enrolment_id)
        .where(
            cards.c.printed_at < hi,
            sa.or_(
                cards.c.state.in_(_WAITING),
                sa.and_(cards.c.handed_over_at.is_not(None), cards.c.handed_over_at >= hi),
            ),
        )
    ):
        if wanted(site):
            figures[site]["waiting"] += 1
            age = max(0, (moment - utc(printed_at)).days)
            figures[site]["waiting_oldest_days"] = max(figures[site]["waiting_oldest_days"], age)

    if site_code is not None:
        figures.setdefault(site_code, Counter())
    sites = tuple(SiteFigures(site, {n: int(figures[site][n]) for n in SITE_FIGURES}) for site in sorted(figures))
    operators = tuple(
        OperatorFigures(
            operator,
            site,
            {t: int(counts[t]) for t in SERVICE_TYPES},
            int(counts["handed_over"]),
        )
        for (operator, site), counts in sorted(by_operator.items())
    )
    return Report(period, sites, operators)


def _iso(at: dt.datetime) -> str:
    # The audit log keeps its time as ISO text in UTC (the hash covers the exact string).
    return at.astimezone(dt.UTC).isoformat()


def _stock_at(conn: Connection, site: str, moment: dt.datetime) -> int:
    """Blanks on hand (in stock or reserved) at ``moment``: received before it, less those used before it."""
    received = int(
        conn.execute(
            sa.select(sa.func.coalesce(sa.func.sum(blank_batches.c.count), 0)).where(
                blank_batches.c.site_code == site, blank_batches.c.received_at < moment
            )
        ).scalar_one()
    )
    used = int(
        conn.execute(
            sa.select(sa.func.count()).where(
                blanks.c.site_code == site,
                blanks.c.state.in_(("PRINTED", "SPOILED")),
                blanks.c.updated_at < moment,
            )
        ).scalar_one()
    )
    return received - used
