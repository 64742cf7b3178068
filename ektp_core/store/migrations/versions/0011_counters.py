"""Counters kept in the same transaction as the change they count (``ektp_core.store.counters``): the
dashboard, the print queue and the blank pages read them instead of counting rows. Filled here from
the rows already stored. Also an index of the outbox's waiting packets (counted on every dashboard).

The backfill is written out here rather than imported, so this revision keeps doing what it did
whatever later code becomes: each family as the counters module defined it at revision 0011.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

_UNTIMED = -1
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_USED = ("PRINTED", "SPOILED")
_BATCH = 1000


def _hour(at: dt.datetime) -> int:
    aware = at.replace(tzinfo=dt.UTC) if at.tzinfo is None else at
    return (aware - _EPOCH) // dt.timedelta(hours=1)


def _counts(conn: Any) -> Counter[tuple[str, str, str, str, int]]:
    """Every counter, counted from the rows (streamed: a regency holds hundreds of thousands)."""
    found: Counter[tuple[str, str, str, str, int]] = Counter()

    def rows(sql: str) -> Any:
        return conn.execute(sa.text(sql).execution_options(yield_per=5000))

    for site, state, created_at in rows("SELECT site_code, state, created_at FROM enrolments"):
        found[("enrolments", site, state, "", _UNTIMED)] += 1
        found[("recorded", site, "", "", _hour(_as_datetime(created_at)))] += 1
    for site, state, print_day, printer, updated_at in rows(
        "SELECT site_code, state, print_day, printer, updated_at FROM print_jobs"
    ):
        found[("print_jobs", site, state, print_day or "", _UNTIMED)] += 1
        if state == "PRINTED" and updated_at is not None:
            found[("printed", site, "", "", _hour(_as_datetime(updated_at)))] += 1
        if state in _USED and printer:
            found[("printer_cards", printer, state, "", _UNTIMED)] += 1
    for site, state, updated_at in rows("SELECT site_code, state, updated_at FROM blanks"):
        found[("blanks", site, state, "", _UNTIMED)] += 1
        if state in _USED and updated_at is not None:
            found[("blanks_used", site, state, "", _hour(_as_datetime(updated_at)))] += 1
    return found


def _as_datetime(value: Any) -> dt.datetime:
    # Read as text, SQLite hands back its stored string (naive UTC); PostgreSQL a datetime.
    return value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(str(value))


def upgrade() -> None:
    counters = op.create_table(
        "counters",
        sa.Column("family", sa.String(16), nullable=False),
        sa.Column("scope", sa.String(64), nullable=False),
        sa.Column("state", sa.String(32), nullable=False),
        sa.Column("print_day", sa.String(9), nullable=False),
        sa.Column("utc_hour", sa.Integer, nullable=False, autoincrement=False),
        sa.Column("n", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("family", "scope", "state", "print_day", "utc_hour", name="pk_counters"),
    )
    op.create_index("ix_counters_family_hour", "counters", ["family", "utc_hour"])
    op.create_index(
        "ix_outbox_waiting",
        "outbox",
        ["seq"],
        sqlite_where=sa.text("sent_at IS NULL"),
        postgresql_where=sa.text("sent_at IS NULL"),
    )
    rows = [
        {"family": f, "scope": s, "state": st, "print_day": d, "utc_hour": h, "n": n}
        for (f, s, st, d, h), n in sorted(_counts(op.get_bind()).items())
    ]
    for i in range(0, len(rows), _BATCH):
        op.bulk_insert(counters, rows[i : i + _BATCH])


def downgrade() -> None:
    op.drop_index("ix_outbox_waiting", "outbox")
    op.drop_index("ix_counters_family_hour", "counters")
    op.drop_table("counters")
