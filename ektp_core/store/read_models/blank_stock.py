"""The blank-card (blangko) ledger of a site: its counts, the spoiled blanks and the daily stock report."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable

import attrs
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ektp_core.store.counters import USED, Family
from ektp_core.store.read_models import periods
from ektp_core.store.repository import utc
from ektp_core.store.tables import blank_batches, blanks

#: The longest stock report, in days.
MAX_REPORT_DAYS = 366


@attrs.frozen
class LedgerCount:
    """The blank ledger of one site (or all sites): ``received = in stock + reserved + printed + spoiled``."""

    received: int
    in_stock: int
    reserved: int
    printed: int
    spoiled: int

    @property
    def balanced(self) -> bool:
        """True when every blank received is accounted for."""
        return self.received == self.in_stock + self.reserved + self.printed + self.spoiled


def _received(conn: Connection, site_code: str | None, before: dt.datetime | None = None) -> int:
    # Deliveries are few (one row each, whatever their size): summed from their own rows.
    query = sa.select(sa.func.coalesce(sa.func.sum(blank_batches.c.count), 0))
    if site_code is not None:
        query = query.where(blank_batches.c.site_code == site_code)
    if before is not None:
        query = query.where(blank_batches.c.received_at < utc(before))
    return int(conn.execute(query).scalar_one())


def ledger(conn: Connection, site_code: str | None) -> LedgerCount:
    """The ledger of ``site_code`` (None: every site): the deliveries' sizes against the blanks per state."""
    counts = periods.totals(conn, Family.BLANKS, scope=site_code)
    return LedgerCount(
        received=_received(conn, site_code),
        in_stock=counts["IN_STOCK"],
        reserved=counts["RESERVED"],
        printed=counts["PRINTED"],
        spoiled=counts["SPOILED"],
    )


@attrs.frozen(kw_only=True)
class SpoiledBlank:
    """A spoiled blank as the list shows it: when, why, in which print job (None: spoiled in stock)."""

    serial: str
    reason: str | None
    job_id: str | None
    updated_at: dt.datetime | None


def spoiled_blanks(conn: Connection, site_code: str, *, limit: int = 200) -> tuple[SpoiledBlank, ...]:
    """The site's spoiled blanks, newest first, at most ``limit`` (one walk of the (site, state, time) index)."""
    return tuple(
        SpoiledBlank(
            serial=r.serial,
            reason=r.reason,
            job_id=r.job_id,
            updated_at=utc(r.updated_at) if r.updated_at is not None else None,
        )
        for r in conn.execute(
            sa.select(blanks.c.serial, blanks.c.reason, blanks.c.job_id, blanks.c.updated_at)
            .where(blanks.c.site_code == site_code, blanks.c.state == "SPOILED")
            .order_by(blanks.c.updated_at.desc(), blanks.c.serial)
            .limit(limit)
        )
    )


def blank_site(conn: Connection, serial: str) -> str | None:
    """The site a blank belongs to (None when the ledger does not know it)."""
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


def stock_days(
    conn: Connection, site_code: str, first: dt.date, last: dt.date, *, zone: dt.tzinfo | None = None
) -> tuple[StockDay, ...]:
    """Per local day (``zone``, default the node's) from ``first`` to ``last``: opening stock, received,
    printed, spoiled, closing.

    A blank counts as printed or spoiled on the day of its last change while it is PRINTED or SPOILED
    (a printed card spoiled later moves to that day, as spoiled); deliveries carry their own time.
    Everything before ``first`` makes the opening stock. Refused (``ValueError``): ``last`` before
    ``first``, or more than :data:`MAX_REPORT_DAYS` days.
    """
    if last < first or (last - first).days + 1 > MAX_REPORT_DAYS:
        raise ValueError(f"a stock report covers 1 to {MAX_REPORT_DAYS} days, not {first} .. {last}")
    starts = periods.day_starts(first, last, zone)
    start, end = starts[0], starts[-1]
    # Used before the report = used ever - used since its first midnight: both from counters.
    used_ever = sum(periods.totals(conn, Family.BLANKS, scope=site_code, states=USED).values())
    used_since = sum(periods.since(conn, Family.BLANKS_USED, start, scope=site_code).values())
    opening = _received(conn, site_code, before=start) - (used_ever - used_since)
    printed = periods.per_day(conn, Family.BLANKS_USED, starts, scope=site_code, states=("PRINTED",))
    spoiled = periods.per_day(conn, Family.BLANKS_USED, starts, scope=site_code, states=("SPOILED",))
    received: Counter[dt.date] = Counter()
    for at, count in conn.execute(
        sa.select(blank_batches.c.received_at, blank_batches.c.count).where(
            blank_batches.c.site_code == site_code,
            blank_batches.c.received_at >= start,
            blank_batches.c.received_at < end,
        )
    ):
        received[periods.local_day(at, zone)] += int(count)
    days = []
    for i in range(len(starts) - 1):
        day = first + dt.timedelta(days=i)
        row = StockDay(day=day, opening=opening, received=received[day], printed=printed[i], spoiled=spoiled[i])
        days.append(row)
        opening = row.closing
    return tuple(days)


def csv_rows(site_code: str, days: Iterable[StockDay]) -> list[tuple[str | int, ...]]:
    """The stock report's rows for a CSV file, in the column order of :data:`CSV_COLUMNS`."""
    return [(site_code, d.day.isoformat(), d.opening, d.received, d.printed, d.spoiled, d.closing) for d in days]


#: The CSV columns after the site (a reader's header names them in its language).
CSV_COLUMNS = ("day", "opening", "received", "printed", "spoiled", "closing")
