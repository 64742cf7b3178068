"""Counts kept in the same transaction as the change they count (the ``counters`` table).

Every writer of enrolments, print jobs and blanks (the lifecycle, the sync feed at a site) calls
:func:`change` with the keys the record counted under before the change and after it, inside the
transaction that makes the change: the counts commit or roll back with it, so a reader sees, in any
snapshot, exactly the counts of the rows in that snapshot. Nothing is replayed and nothing is skipped.

What each family counts, per row of its table (:func:`enrolment_keys`, :func:`job_keys`,
:func:`blank_keys`):

=================  ==========================================================================
``enrolments``     enrolments per (site, state)
``recorded``       enrolments per (site, UTC hour of ``created_at``)
``print_jobs``     print jobs per (site, state, print day; '' for any day)
``printed``        PRINTED print jobs per (site, UTC hour of ``updated_at``)
``printer_cards``  PRINTED and SPOILED print jobs per (printer, state): the ledger side of a
                   printer's counter check
``blanks``         blanks per (site, state)
``blanks_used``    PRINTED and SPOILED blanks per (site, state, UTC hour of ``updated_at``)
=================  ==========================================================================

Increments are single statements (``INSERT ... ON CONFLICT DO UPDATE SET n = n + excluded.n`` on
SQLite and PostgreSQL), so concurrent writers never lose one; writers call :func:`change` after their
audit entry, whose head row lock already orders them, so counter rows are never locked in two orders.
Rows that fall to zero stay (deleting them could race with a writer about to add one again).
"""

from __future__ import annotations

import datetime as dt
import enum
import functools
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import attrs
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ektp_core.errors import EktpError
from ektp_core.store.repository import utc
from ektp_core.store.tables import blanks, counters, enrolments, print_jobs

#: ``utc_hour`` of the families not counted per hour.
UNTIMED = -1
HOUR = dt.timedelta(hours=1)
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
#: The final states of a print job and of a blank that used a card.
USED = ("PRINTED", "SPOILED")
#: The counters table's key, in primary key order.
KEY_COLUMNS = ("family", "scope", "state", "print_day", "utc_hour")


class Family(enum.StrEnum):
    """What a counter row counts (see the module's table)."""

    ENROLMENTS = "enrolments"
    RECORDED = "recorded"
    PRINT_JOBS = "print_jobs"
    PRINTED = "printed"
    PRINTER_CARDS = "printer_cards"
    BLANKS = "blanks"
    BLANKS_USED = "blanks_used"


@attrs.frozen
class Key:
    """One counter: a family and the values it counts by ('' and :data:`UNTIMED` where it does not)."""

    family: Family
    scope: str
    state: str = ""
    print_day: str = ""
    utc_hour: int = UNTIMED


def hour_of(at: dt.datetime) -> int:
    """The whole UTC hours from 1970 to ``at`` (naive values are UTC, as SQLite hands them back)."""
    return (utc(at) - EPOCH) // HOUR


def hour_start(hour: int) -> dt.datetime:
    """When UTC hour ``hour`` begins."""
    return EPOCH + hour * HOUR


def enrolment_keys(site_code: str, state: str, created_at: dt.datetime) -> tuple[Key, ...]:
    """The counters an enrolment row counts under."""
    return (
        Key(Family.ENROLMENTS, site_code, state),
        Key(Family.RECORDED, site_code, utc_hour=hour_of(created_at)),
    )


def job_keys(
    site_code: str, state: str, print_day: str | None, printer: str | None, updated_at: dt.datetime | None
) -> tuple[Key, ...]:
    """The counters a print job row counts under."""
    keys = [Key(Family.PRINT_JOBS, site_code, state, print_day or "")]
    if state == "PRINTED" and updated_at is not None:
        keys.append(Key(Family.PRINTED, site_code, utc_hour=hour_of(updated_at)))
    if state in USED and printer:
        keys.append(Key(Family.PRINTER_CARDS, printer, state))
    return tuple(keys)


def blank_keys(site_code: str, state: str, updated_at: dt.datetime | None) -> tuple[Key, ...]:
    """The counters a blank row counts under."""
    keys = [Key(Family.BLANKS, site_code, state)]
    if state in USED and updated_at is not None:
        keys.append(Key(Family.BLANKS_USED, site_code, state, utc_hour=hour_of(updated_at)))
    return tuple(keys)


def change(conn: Connection, before: Iterable[Key] = (), after: Iterable[Key] = ()) -> None:
    """A record counted under ``before`` now counts under ``after`` (``before`` empty: a new record),
    in ``conn``'s transaction. Keys in both cancel out."""
    deltas: Counter[Key] = Counter()
    for key in before:
        deltas[key] -= 1
    for key in after:
        deltas[key] += 1
    add(conn, deltas)


def add(conn: Connection, deltas: Mapping[Key, int]) -> None:
    """Add each delta to its counter (a missing counter starts at 0), in ``conn``'s transaction."""
    # Sorted as plain tuples, in key order (keys are unique, so ``n`` never decides): one order for
    # every writer. Sorting the attrs keys themselves cost as much as the upsert.
    rows = sorted(
        (key.family.value, key.scope, key.state, key.print_day, key.utc_hour, n) for key, n in deltas.items() if n
    )
    if rows:
        conn.exec_driver_sql(_upsert(conn.dialect.name, conn.dialect.paramstyle), rows)


@functools.cache
def _upsert(dialect: str, paramstyle: str) -> str:
    # Every lifecycle step runs this, so it is the driver's own SQL with positional parameters: going
    # through SQLAlchemy's statement cache and parameter processing cost about as much again as the
    # upsert itself (benchmarks/bench_lifecycle.py on SQLite: about 0.17 ms of 3.6 per enrolment).
    if dialect not in ("sqlite", "postgresql"):
        raise EktpError(f"ektp keeps its counters on SQLite and PostgreSQL, not on {dialect}")
    marker = {"qmark": "?", "format": "%s", "pyformat": "%s"}.get(paramstyle)
    if marker is None:
        raise EktpError(f"ektp's counters need a driver with ? or %s parameters, not {paramstyle}")
    key = ", ".join(KEY_COLUMNS)
    values = ", ".join([marker] * (len(KEY_COLUMNS) + 1))
    # Both dialects write the upsert the same way (SQLite since 3.24, PostgreSQL since 9.5).
    return (
        f"INSERT INTO {counters.name} ({key}, n) VALUES ({values}) "
        f"ON CONFLICT ({key}) DO UPDATE SET n = {counters.name}.n + excluded.n"
    )


# -- the rows a timed family counts, for the parts of an hour ------------------------------------------


@attrs.frozen
class _Source:
    time: Any
    scope: Any
    state: Any
    where: tuple[Any, ...]


_SOURCES = {
    Family.RECORDED: _Source(enrolments.c.created_at, enrolments.c.site_code, None, ()),
    Family.PRINTED: _Source(print_jobs.c.updated_at, print_jobs.c.site_code, None, (print_jobs.c.state == "PRINTED",)),
    Family.BLANKS_USED: _Source(blanks.c.updated_at, blanks.c.site_code, blanks.c.state, (blanks.c.state.in_(USED),)),
}


def count_rows(
    conn: Connection,
    family: Family,
    lo: dt.datetime,
    hi: dt.datetime,
    *,
    scope: str | None = None,
    states: Sequence[str] = (),
) -> Counter[tuple[str, str]]:
    """What a timed family's counters hold for ``lo <= time < hi``, counted in its own table per
    (scope, state): for the part of an hour that a local day or a report's edge cuts (a zone whose
    offset from UTC is not whole hours). Answered from the table's time indexes."""
    source = _SOURCES[family]
    columns = [source.scope] if source.state is None else [source.scope, source.state]
    query = (
        sa.select(*columns, sa.func.count())
        .where(*source.where, source.time >= utc(lo), source.time < utc(hi))
        .group_by(*columns)
    )
    if scope is not None:
        query = query.where(source.scope == scope)
    if states and source.state is not None:
        query = query.where(source.state.in_(list(states)))
    found: Counter[tuple[str, str]] = Counter()
    for row in conn.execute(query):
        found[(str(row[0]), str(row[1]) if source.state is not None else "")] += int(row[-1])
    return found
