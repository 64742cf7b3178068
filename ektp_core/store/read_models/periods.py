"""Counts over the office's local days, from the counters kept per UTC hour.

A local day is a sum of whole UTC hours wherever the node's time zone is a whole number of hours
from UTC (all of Indonesia: WIB +7, WITA +8, WIT +9), summer time included. Where a zone's offset has
a part hour (India +5:30, Nepal +5:45), the hour a midnight cuts is counted in its two parts from the
rows themselves, on their time indexes (:func:`ektp_core.store.counters.count_rows`): the result is
exact either way, and reading costs a few hundred small counter rows rather than every row counted.
"""

from __future__ import annotations

import bisect
import datetime as dt
from collections import Counter
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ektp_core.store.counters import UNTIMED, Family, count_rows, hour_of, hour_start
from ektp_core.store.tables import counters


def local_zone() -> dt.tzinfo | None:
    """The node's time zone (the office's)."""
    return dt.datetime.now().astimezone().tzinfo


def midnight(day: dt.date, zone: dt.tzinfo | None = None) -> dt.datetime:
    """The start of ``day`` in ``zone`` (default: the node's), in UTC."""
    if zone is None:
        return dt.datetime.combine(day, dt.time()).astimezone().astimezone(dt.UTC)
    return dt.datetime.combine(day, dt.time(), tzinfo=zone).astimezone(dt.UTC)


def day_starts(first: dt.date, last: dt.date, zone: dt.tzinfo | None = None) -> tuple[dt.datetime, ...]:
    """The midnights of ``first`` .. ``last`` and of the day after ``last``, in UTC: day ``i`` is
    ``starts[i] <= time < starts[i + 1]``."""
    days = (last - first).days + 1
    return tuple(midnight(first + dt.timedelta(days=i), zone) for i in range(days + 1))


def local_day(at: dt.datetime, zone: dt.tzinfo | None = None) -> dt.date:
    """The local calendar day of a stored time (naive values are UTC)."""
    aware = at if at.tzinfo is not None else at.replace(tzinfo=dt.UTC)
    return aware.astimezone(zone).date() if zone is not None else aware.astimezone().date()


def _ceil_hour(at: dt.datetime) -> int:
    hour = hour_of(at)
    return hour if hour_start(hour) == at else hour + 1


def _where(family: Family, scope: str | None, states: Sequence[str]) -> list[Any]:
    where: list[Any] = [counters.c.family == family.value]
    if scope is not None:
        where.append(counters.c.scope == scope)
    if states:
        where.append(counters.c.state.in_(list(states)))
    return where


def per_day(
    conn: Connection,
    family: Family,
    starts: Sequence[dt.datetime],
    *,
    scope: str | None = None,
    states: Sequence[str] = (),
) -> list[int]:
    """A timed family's count for each day of ``starts`` (:func:`day_starts`), of one scope (a site)
    or of all, of some states or of all."""
    days = [0] * (len(starts) - 1)
    if not days:
        return days
    rows = conn.execute(
        sa.select(counters.c.utc_hour, sa.func.sum(counters.c.n))
        .where(
            *_where(family, scope, states),
            counters.c.utc_hour >= hour_of(starts[0]),
            counters.c.utc_hour < _ceil_hour(starts[-1]),
        )
        .group_by(counters.c.utc_hour)
    )
    for hour, n in rows:
        if not n:
            continue
        begin = hour_start(int(hour))
        end = begin + dt.timedelta(hours=1)
        i = bisect.bisect_right(starts, begin) - 1
        if 0 <= i < len(days) and end <= starts[i + 1]:
            days[i] += int(n)
            continue
        # A midnight (or the window's edge) cuts this hour: count its parts in the rows.
        for j in range(max(i, 0), len(days)):
            lo, hi = max(begin, starts[j]), min(end, starts[j + 1])
            if starts[j] >= end:
                break
            if lo < hi:
                days[j] += sum(count_rows(conn, family, lo, hi, scope=scope, states=states).values())
    return days


def per_scope(
    conn: Connection,
    family: Family,
    lo: dt.datetime,
    hi: dt.datetime,
    *,
    scope: str | None = None,
    states: Sequence[str] = (),
) -> dict[str, int]:
    """A timed family's count per scope (site) for ``lo <= time < hi``, of every scope or of one;
    scopes with none left out."""
    first, last = _ceil_hour(lo), hour_of(hi)
    found: Counter[str] = Counter()
    if first < last:
        for where, n in conn.execute(
            sa.select(counters.c.scope, sa.func.sum(counters.c.n))
            .where(*_where(family, scope, states), counters.c.utc_hour >= first, counters.c.utc_hour < last)
            .group_by(counters.c.scope)
        ):
            found[str(where)] += int(n)
        edges = [(lo, hour_start(first)), (hour_start(last), hi)]
    else:
        edges = [(lo, hi)]  # the window lies inside one hour
    for edge_lo, edge_hi in edges:
        if edge_lo < edge_hi:
            for (where, _state), n in count_rows(conn, family, edge_lo, edge_hi, scope=scope, states=states).items():
                found[where] += n
    return {where: n for where, n in sorted(found.items()) if n}


def since(
    conn: Connection, family: Family, lo: dt.datetime, *, scope: str | None = None, states: Sequence[str] = ()
) -> Counter[str]:
    """A timed family's count per state for ``time >= lo`` (clocks ahead included)."""
    first = _ceil_hour(lo)
    found: Counter[str] = Counter()
    for state, n in conn.execute(
        sa.select(counters.c.state, sa.func.sum(counters.c.n))
        .where(*_where(family, scope, states), counters.c.utc_hour >= first)
        .group_by(counters.c.state)
    ):
        found[str(state)] += int(n)
    if hour_start(first) > lo:
        for (_scope, state), n in count_rows(conn, family, lo, hour_start(first), scope=scope, states=states).items():
            found[state] += n
    return found


def totals(conn: Connection, family: Family, *, scope: str | None = None, states: Sequence[str] = ()) -> Counter[str]:
    """An untimed family's count per state, of one scope or of all."""
    return Counter(
        {
            str(state): int(n)
            for state, n in conn.execute(
                sa.select(counters.c.state, sa.func.sum(counters.c.n))
                .where(*_where(family, scope, states), counters.c.utc_hour == UNTIMED)
                .group_by(counters.c.state)
            )
            if n
        }
    )
