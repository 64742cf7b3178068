"""Enrolments handed to the central system: attempts, receipt, verdict and card report.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "central_submissions",
        sa.Column("enrolment_id", sa.String(64), nullable=False),
        sa.Column("verifier", sa.String(64), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("last_attempt_at", TS),
        sa.Column("last_error", sa.Text),
        sa.Column("received_at", TS),
        sa.Column("verdict", sa.String(32)),
        sa.Column("verdict_detail", sa.Text),
        sa.Column("decided_at", TS),
        sa.Column("card_reported_at", TS),
        sa.PrimaryKeyConstraint("enrolment_id", name="pk_central_submissions"),
        sa.ForeignKeyConstraint(
            ["enrolment_id"], ["enrolments.id"], name="fk_central_submissions_enrolment_id_enrolments"
        ),
    )


def downgrade() -> None:
    op.drop_table("central_submissions")
