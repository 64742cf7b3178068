"""Service types on enrolments (jenis layanan), the card register, and an index of the audit log by
time (the reports read a period's moves from it).

Every enrolment gets ``service_type`` (``baru`` for the ones already stored: replacements did not
exist) and ``service`` (the details of a replacement, JSON). The ``cards`` table is filled from the
blanks already printed: a card whose enrolment reached CARD_ISSUED is ACTIVE (only the newest one per
NIK; an older card of a resident who was printed again is REPLACED), the others PRINTED. Written out
here rather than imported, so this revision keeps doing what it did whatever later code becomes.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)
_ACTIVE = "state = 'ACTIVE'"


def upgrade() -> None:
    # Plain ADD COLUMN (no table copy): other tables' foreign keys point at enrolments.
    op.add_column("enrolments", sa.Column("service_type", sa.String(16), nullable=False, server_default="baru"))
    op.add_column("enrolments", sa.Column("service", sa.Text))
    cards = op.create_table(
        "cards",
        sa.Column("serial", sa.String(32), nullable=False),
        sa.Column("enrolment_id", sa.String(64), nullable=False),
        sa.Column("nik", sa.String(16), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("printed_site", sa.String(32), nullable=False),
        sa.Column("printed_at", TS, nullable=False),
        sa.Column("collection_site", sa.String(32)),
        sa.Column("handed_over_at", TS),
        sa.Column("handed_over_site", sa.String(32)),
        sa.Column("reason", sa.Text),
        sa.Column("updated_at", TS),
        sa.ForeignKeyConstraint(["enrolment_id"], ["enrolments.id"], name="fk_cards_enrolment_id_enrolments"),
        sa.PrimaryKeyConstraint("serial", name="pk_cards"),
    )
    op.create_index("ix_cards_enrolment_id", "cards", ["enrolment_id"])
    op.create_index("ix_cards_nik", "cards", ["nik"])
    op.create_index(
        "uq_cards_one_active_per_nik",
        "cards",
        ["nik"],
        unique=True,
        sqlite_where=sa.text(_ACTIVE),
        postgresql_where=sa.text(_ACTIVE),
    )
    op.create_index("ix_audit_log_at", "audit_log", ["at"])
    _backfill(op.get_bind(), cards)


def _backfill(conn: Any, cards: sa.Table) -> None:
    blanks = sa.table(
        "blanks",
        sa.column("serial"),
        sa.column("site_code"),
        sa.column("state"),
        sa.column("enrolment_id"),
        sa.column("updated_at", TS),
    )
    enrolments = sa.table(
        "enrolments", sa.column("id"), sa.column("nik"), sa.column("state"), sa.column("updated_at", TS)
    )
    rows = conn.execute(
        sa.select(
            blanks.c.serial,
            blanks.c.site_code,
            blanks.c.updated_at,
            enrolments.c.id,
            enrolments.c.nik,
            enrolments.c.state,
            enrolments.c.updated_at.label("enrolment_at"),
        )
        .join(enrolments, enrolments.c.id == blanks.c.enrolment_id)
        .where(blanks.c.state == "PRINTED")
        .order_by(enrolments.c.nik, blanks.c.updated_at)
    ).all()
    newest_issued: dict[str, str] = {}
    for row in rows:
        if row.state == "CARD_ISSUED":
            newest_issued[row.nik] = row.serial  # ordered by time: the last one wins
    values = []
    for row in rows:
        issued = row.state == "CARD_ISSUED"
        if not issued:
            state = "PRINTED"
        elif newest_issued[row.nik] == row.serial:
            state = "ACTIVE"
        else:
            state = "REPLACED"
        values.append(
            {
                "serial": row.serial,
                "enrolment_id": row.id,
                "nik": row.nik,
                "state": state,
                "printed_site": row.site_code,
                "printed_at": row.updated_at,
                "handed_over_at": row.enrolment_at if issued else None,
                "updated_at": row.enrolment_at if issued else row.updated_at,
            }
        )
    if values:
        conn.execute(cards.insert(), values)


def downgrade() -> None:
    op.drop_index("ix_audit_log_at", table_name="audit_log")
    op.drop_index("uq_cards_one_active_per_nik", table_name="cards")
    op.drop_index("ix_cards_nik", table_name="cards")
    op.drop_index("ix_cards_enrolment_id", table_name="cards")
    op.drop_table("cards")
    # SQLite 3.35+ drops a column in place (a batch copy would trip the foreign keys pointing here).
    op.execute("ALTER TABLE enrolments DROP COLUMN service")
    op.execute("ALTER TABLE enrolments DROP COLUMN service_type")
