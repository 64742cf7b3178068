"""The Dukcapil node's key transitions: each replacement of its signing (Ed25519) and exchange (X25519)
keys, as a statement signed by the old signing key and the new one. The Dukcapil node keeps the
transitions it made; a site keeps the ones it verified from the key it pinned.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "node_key_transitions",
        sa.Column("version", sa.Integer, autoincrement=False, nullable=False),
        sa.Column("previous_signing_key", sa.String(64), nullable=False),
        sa.Column("signing_key", sa.String(64), nullable=False),
        sa.Column("exchange_key", sa.String(64), nullable=False),
        sa.Column("statement", sa.Text, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("completed_at", TS),
        sa.PrimaryKeyConstraint("version", name="pk_node_key_transitions"),
        sa.UniqueConstraint("previous_signing_key", name="uq_node_key_transitions_previous_signing_key"),
        sa.UniqueConstraint("signing_key", name="uq_node_key_transitions_signing_key"),
    )


def downgrade() -> None:
    op.drop_table("node_key_transitions")
