"""Papers for the resident: every bukti perekaman, tanda terima and Suket issued (numbered per site,
kind and year, with its signed statement), and the regency's published signing keys a node imported
to check papers.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-10
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "papers",
        sa.Column("number", sa.String(64), nullable=False),
        sa.Column("site_code", sa.String(32), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("year", sa.Integer, nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("enrolment_id", sa.String(64), nullable=False),
        sa.Column("issued_at", TS, nullable=False),
        sa.Column("issued_by", sa.String(64), nullable=False),
        sa.Column("valid_until", sa.Date),
        sa.Column("statement", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("number", name="pk_papers"),
        sa.ForeignKeyConstraint(["enrolment_id"], ["enrolments.id"], name="fk_papers_enrolment_id_enrolments"),
        sa.UniqueConstraint("site_code", "kind", "year", "seq", name="uq_papers_site_kind_year_seq"),
    )
    op.create_index("ix_papers_enrolment_id", "papers", ["enrolment_id"])
    op.create_table(
        "paper_keys",
        sa.Column("id", sa.Integer, autoincrement=True, nullable=False),
        sa.Column("published_at", TS, nullable=False),
        sa.Column("signed_by", sa.String(64), nullable=False),
        sa.Column("document", sa.Text, nullable=False),
        sa.Column("imported_at", TS, nullable=False),
        sa.Column("imported_by", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_paper_keys"),
    )


def downgrade() -> None:
    op.drop_table("paper_keys")
    op.drop_index("ix_papers_enrolment_id", table_name="papers")
    op.drop_table("papers")
