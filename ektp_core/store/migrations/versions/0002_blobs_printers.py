"""Encrypted biometric blobs (photo, signature, fingerprints...) and the printers' card counters.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "blobs",
        sa.Column("ref", sa.String(64), nullable=False),
        sa.Column("enrolment_id", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("ciphertext", sa.LargeBinary, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("ref", name="pk_blobs"),
        sa.ForeignKeyConstraint(["enrolment_id"], ["enrolments.id"], name="fk_blobs_enrolment_id_enrolments"),
    )
    op.create_index("ix_blobs_enrolment_id", "blobs", ["enrolment_id"])
    op.create_table(
        "printers",
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("site_code", sa.String(32), nullable=False),
        sa.Column("driver", sa.String(64), nullable=False),
        sa.Column("serial", sa.String(64), nullable=False),
        sa.Column("baseline_count", sa.Integer),
        sa.Column("last_count", sa.Integer),
        sa.Column("updated_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_printers"),
    )


def downgrade() -> None:
    op.drop_table("printers")
    op.drop_table("blobs")
