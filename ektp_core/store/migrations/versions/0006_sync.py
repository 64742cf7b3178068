"""Sync between site nodes and the Dukcapil node: site keys, join codes, peers (with the feed cursor),
outbox, inbox, and the signed print jobs a site receives.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "site_keys",
        sa.Column("site_code", sa.String(32), nullable=False),
        sa.Column("public_key", sa.String(64), nullable=False),
        sa.Column("registered_at", TS, nullable=False),
        sa.Column("registered_by", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("site_code", name="pk_site_keys"),
    )
    op.create_table(
        "join_codes",
        sa.Column("code_hash", sa.String(64), nullable=False),
        sa.Column("site_code", sa.String(32), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("expires_at", TS, nullable=False),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.Column("used_at", TS),
        sa.PrimaryKeyConstraint("code_hash", name="pk_join_codes"),
    )
    op.create_table(
        "peers",
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("url", sa.String(255), nullable=False),
        sa.Column("signing_key", sa.String(64), nullable=False),
        sa.Column("exchange_key", sa.String(64), nullable=False),
        sa.Column("joined_at", TS, nullable=False),
        sa.Column("feed_cursor", sa.Integer, nullable=False, server_default="0"),
        sa.PrimaryKeyConstraint("role", name="pk_peers"),
    )
    op.create_table(
        "signed_jobs",
        sa.Column("job_id", sa.String(64), nullable=False),
        sa.Column("enrolment_id", sa.String(64), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("item", sa.Text, nullable=False),
        sa.Column("received_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("job_id", name="pk_signed_jobs"),
    )
    op.create_index("ix_signed_jobs_enrolment_id", "signed_jobs", ["enrolment_id"])
    op.create_table(
        "outbox",
        sa.Column("packet_id", sa.String(96), nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("subject_id", sa.String(64), nullable=False),
        sa.Column("enrolment_id", sa.String(64), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("packet", sa.LargeBinary, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("last_error", sa.Text),
        sa.Column("sent_at", TS),
        sa.Column("receipt", sa.Text),
        sa.PrimaryKeyConstraint("packet_id", name="pk_outbox"),
        sa.ForeignKeyConstraint(["enrolment_id"], ["enrolments.id"], name="fk_outbox_enrolment_id_enrolments"),
        sa.UniqueConstraint("seq", name="uq_outbox_seq"),
        sa.UniqueConstraint("kind", "subject_id", name="uq_outbox_kind"),
    )
    op.create_index("ix_outbox_enrolment_id", "outbox", ["enrolment_id"])
    op.create_table(
        "inbox",
        sa.Column("packet_id", sa.String(96), nullable=False),
        sa.Column("site_code", sa.String(32), nullable=False),
        sa.Column("enrolment_id", sa.String(64)),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("received_at", TS, nullable=False),
        sa.Column("receipt", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("packet_id", name="pk_inbox"),
    )
    op.create_index("ix_inbox_site_code", "inbox", ["site_code"])


def downgrade() -> None:
    for table in ("inbox", "outbox", "signed_jobs", "peers", "join_codes", "site_keys"):
        op.drop_table(table)
