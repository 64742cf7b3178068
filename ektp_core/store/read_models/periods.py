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
import functools
from collections import Counter
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ektp_core.store.counters import UNTIMED, Family, count_rows, hour_of, hour_start
from ektp_core.store.tables import counters


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


@functools.cache
def _sums(group: tuple[str, ...], hours: str, scoped: bool, stated: bool) -> Any:
    """``SELECT <group>, SUM(n)`` of one family's counters, built once per shape (building a statement
    costs more than running it): of one scope or all, some states or all, hours in a range
    (``lo <= utc_hour < hi``), from an hour on, or the untimed counters."""
    columns = [counters.c[name] for name in group]
    where: list[Any] = [counters.c.family == sa.bindparam("family")]
    if scoped:
        where.append(counters.c.scope == sa.bindparam("scope"))
    if stated:
        where.append(counters.c.state.in_(sa.bindparam("states", expanding=True)))
    if hours == "range":
        where += [counters.c.utc_hour >= sa.bindparam("lo"), counters.c.utc_hour < sa.bindparam("hi")]
    elif hours == "from":
        where.append(counters.c.utc_hour >= sa.bindparam("lo"))
    else:
        where.append(counters.c.utc_hour == UNTIMED)
    return sa.select(*columns, sa.func.sum(counters.c.n)).where(*where).group_by(*columns)


def _run(
    conn: Connection,
    group: tuple[str, ...],
    hours: str,
    family: Family,
    scope: str | None,
    states: Sequence[str],
    **bounds: int,
) -> Any:
    params: dict[str, Any] = {"family": family.value, **bounds}
    if scope is not None:
        params["scope"] = scope
    if states:
        params["states"] = list(states)
    return conn.execute(_sums(group, hours, scope is not None, bool(states)), params)


def per_day_by_state(
    conn: Connection,
    family: Family,
    starts: Sequence[dt.datetime],
    *,
    scope: str | None = None,
    states: Sequence[str] = (),
) -> dict[str, list[int]]:
    """A timed family's count for each day of ``starts`` (:func:`day_starts`) per state ('' for a
    family not counted by state), of one scope (a site) or of all, of some states or of all."""
    found: dict[str, list[int]] = {}
    days = len(starts) - 1
    if days < 1:
        return found
    rows = _run(
        conn,
        ("utc_hour", "state"),
        "range",
        family,
        scope,
        states,
        lo=hour_of(starts[0]),
        hi=_ceil_hour(starts[-1]),
    )
    for hour, state, n in rows:
        if not n:
            continue
        counts = found.setdefault(str(state), [0] * days)
        begin = hour_start(int(hour))
        end = begin + dt.timedelta(hours=1)
        i = bisect.bisect_right(starts, begin) - 1
        if 0 <= i < days and end <= starts[i + 1]:
            counts[i] += int(n)
            continue
        # A midnight (or the window's edge) cuts this hour: count its parts in the rows.
        for j in range(max(i, 0), days):
            if starts[j] >= end:
                break
            lo, hi = max(begin, starts[j]), min(end, starts[j + 1])
            if lo < hi:
                parts = count_rows(conn, family, lo, hi, scope=scope, states=[str(state)] if state else ())
                counts[j] += sum(parts.values())
    return found


def per_day(
    conn: Connection,
    family: Family,
    starts: Sequence[dt.datetime],
    *,
    scope: str | None = None,
    states: Sequence[str] = (),
) -> list[int]:
    """A timed family's count for each day of ``starts`` (:func:`day_starts`), all states summed."""
    total = [0] * max(0, len(starts) - 1)
    for counts in per_day_by_state(conn, family, starts, scope=scope, states=states).values():
        total = [a + b for a, b in zip(total, counts, strict=True)]
    return total


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
        for where, n in _run(conn, ("scope",), "range", family, scope, states, lo=first, hi=last):
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
    for state, n in _run(conn, ("state",), "from", family, scope, states, lo=first):
        found[str(state)] += int(n)
    if hour_start(first) > lo:
        for (_scope, state), n in count_rows(conn, family, lo, hour_start(first), scope=scope, states=states).items():
            found[state] += n
    return found


def totals(conn: Connection, family: Family, *, scope: str | None = None, states: Sequence[str] = ()) -> Counter[str]:
    """An untimed family's count per state, of one scope or of all."""
    return Counter({str(state): int(n) for state, n in _run(conn, ("state",), "untimed", family, scope, states) if n})
