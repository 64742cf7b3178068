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


# Built once (building a statement costs more than running it). Deliveries are few (one row each,
# whatever their size): summed from their own rows.
_RECEIVED = sa.select(sa.func.coalesce(sa.func.sum(blank_batches.c.count), 0))
_RECEIVED_AT = _RECEIVED.where(blank_batches.c.site_code == sa.bindparam("site"))
_RECEIVED_BEFORE = _RECEIVED_AT.where(
    blank_batches.c.received_at < sa.bindparam("before", type_=blank_batches.c.received_at.type)
)
_DELIVERIES = sa.select(blank_batches.c.received_at, blank_batches.c.count).where(
    blank_batches.c.site_code == sa.bindparam("site"),
    blank_batches.c.received_at >= sa.bindparam("lo", type_=blank_batches.c.received_at.type),
    blank_batches.c.received_at < sa.bindparam("hi", type_=blank_batches.c.received_at.type),
)
_SPOILED = (
    sa.select(blanks.c.serial, blanks.c.reason, blanks.c.job_id, blanks.c.updated_at)
    .where(blanks.c.site_code == sa.bindparam("site"), blanks.c.state == "SPOILED")
    .order_by(blanks.c.updated_at.desc(), blanks.c.serial)
    .limit(sa.bindparam("limit"))
)


def _received(conn: Connection, site_code: str | None) -> int:
    if site_code is None:
        return int(conn.execute(_RECEIVED).scalar_one())
    return int(conn.execute(_RECEIVED_AT, {"site": site_code}).scalar_one())


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
        for r in conn.execute(_SPOILED, {"site": site_code, "limit": limit})
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
    received_before = int(conn.execute(_RECEIVED_BEFORE, {"site": site_code, "before": start}).scalar_one())
    opening = received_before - (used_ever - used_since)
    used = periods.per_day_by_state(conn, Family.BLANKS_USED, starts, scope=site_code)
    none = [0] * (len(starts) - 1)
    printed, spoiled = used.get("PRINTED", none), used.get("SPOILED", none)
    received: Counter[dt.date] = Counter()
    for at, count in conn.execute(_DELIVERIES, {"site": site_code, "lo": start, "hi": end}):
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
