"""The first schema: sites, operators, enrolments, captures, print jobs, the blank ledger, the audit log.

Revision ID: 0001
Revises:
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)
OPEN_JOB = "state IN ('QUEUED', 'RESERVED', 'SENT', 'UNKNOWN')"
PRINTED = "state = 'PRINTED'"


def upgrade() -> None:
    op.create_table(
        "sites",
        sa.Column("code", sa.String(32), nullable=False),
        sa.Column("name", sa.String(120), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("records", sa.Boolean, nullable=False),
        sa.Column("prints", sa.Boolean, nullable=False),
        sa.Column("region_code", sa.String(16)),
        sa.PrimaryKeyConstraint("code", name="pk_sites"),
    )
    op.create_table(
        "operators",
        sa.Column("username", sa.String(64), nullable=False),
        sa.Column("full_name", sa.String(120), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("site_code", sa.String(32), nullable=False),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("username", name="pk_operators"),
    )
    op.create_table(
        "enrolments",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("site_code", sa.String(32), nullable=False),
        sa.Column("operator", sa.String(64), nullable=False),
        sa.Column("nik", sa.String(16), nullable=False),
        sa.Column("nama", sa.String(120), nullable=False),
        sa.Column("biodata", sa.Text, nullable=False),
        sa.Column("state", sa.String(32), nullable=False),
        sa.Column("reason", sa.Text),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS),
        sa.PrimaryKeyConstraint("id", name="pk_enrolments"),
    )
    for col in ("site_code", "nik", "nama", "state"):
        op.create_index(f"ix_enrolments_{col}", "enrolments", [col])
    op.create_table(
        "captures",
        sa.Column("id", sa.Integer, nullable=False, autoincrement=True),
        sa.Column("enrolment_id", sa.String(64), nullable=False),
        sa.Column("modality", sa.String(16), nullable=False),
        sa.Column("position", sa.String(16), nullable=False),
        sa.Column("device", sa.String(120), nullable=False),
        sa.Column("quality", sa.Integer),
        sa.Column("blob_ref", sa.String(128)),
        sa.Column("exception_reason", sa.Text),
        sa.Column("exception_approved_by", sa.String(64)),
        sa.PrimaryKeyConstraint("id", name="pk_captures"),
        sa.ForeignKeyConstraint(["enrolment_id"], ["enrolments.id"], name="fk_captures_enrolment_id_enrolments"),
        sa.UniqueConstraint("enrolment_id", "modality", "position", name="uq_captures_slot"),
    )
    op.create_index("ix_captures_enrolment_id", "captures", ["enrolment_id"])
    op.create_table(
        "print_jobs",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("enrolment_id", sa.String(64), nullable=False),
        sa.Column("site_code", sa.String(32), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("routing_reason", sa.Text, nullable=False),
        sa.Column("blank_serial", sa.String(32)),
        sa.Column("printer", sa.String(120)),
        sa.Column("reason", sa.Text),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS),
        sa.PrimaryKeyConstraint("id", name="pk_print_jobs"),
        sa.ForeignKeyConstraint(["enrolment_id"], ["enrolments.id"], name="fk_print_jobs_enrolment_id_enrolments"),
        sa.UniqueConstraint("blank_serial", name="uq_print_jobs_blank_serial"),
    )
    for col in ("enrolment_id", "site_code", "state"):
        op.create_index(f"ix_print_jobs_{col}", "print_jobs", [col])
    op.create_index(
        "uq_print_jobs_one_open_per_enrolment",
        "print_jobs",
        ["enrolment_id"],
        unique=True,
        sqlite_where=sa.text(OPEN_JOB),
        postgresql_where=sa.text(OPEN_JOB),
    )
    op.create_table(
        "blank_batches",
        sa.Column("id", sa.Integer, nullable=False, autoincrement=True),
        sa.Column("site_code", sa.String(32), nullable=False),
        sa.Column("count", sa.Integer, nullable=False),
        sa.Column("received_at", TS, nullable=False),
        sa.Column("received_by", sa.String(64), nullable=False),
        sa.Column("note", sa.Text),
        sa.PrimaryKeyConstraint("id", name="pk_blank_batches"),
    )
    op.create_index("ix_blank_batches_site_code", "blank_batches", ["site_code"])
    op.create_table(
        "blanks",
        sa.Column("serial", sa.String(32), nullable=False),
        sa.Column("site_code", sa.String(32), nullable=False),
        sa.Column("batch_id", sa.Integer, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("job_id", sa.String(64)),
        sa.Column("enrolment_id", sa.String(64)),
        sa.Column("reason", sa.Text),
        sa.Column("updated_at", TS),
        sa.PrimaryKeyConstraint("serial", name="pk_blanks"),
        sa.ForeignKeyConstraint(["batch_id"], ["blank_batches.id"], name="fk_blanks_batch_id_blank_batches"),
    )
    op.create_index("ix_blanks_site_code", "blanks", ["site_code"])
    op.create_index("ix_blanks_state", "blanks", ["state"])
    op.create_index(
        "uq_blanks_one_printed_per_enrolment",
        "blanks",
        ["enrolment_id"],
        unique=True,
        sqlite_where=sa.text(PRINTED),
        postgresql_where=sa.text(PRINTED),
    )
    op.create_table(
        "audit_log",
        sa.Column("seq", sa.Integer, nullable=False, autoincrement=False),
        sa.Column("at", sa.String(40), nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("subject_kind", sa.String(32), nullable=False),
        sa.Column("subject_id", sa.String(64), nullable=False),
        sa.Column("detail", sa.Text, nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("seq", name="pk_audit_log"),
    )
    op.create_index("ix_audit_log_subject_id", "audit_log", ["subject_id"])
    op.create_table(
        "audit_head",
        sa.Column("id", sa.Integer, nullable=False, autoincrement=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_audit_head"),
    )
    op.execute(sa.text("INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, '" + "0" * 64 + "')"))
    _append_only_triggers()


def _append_only_triggers() -> None:
    # The database itself refuses to rewrite history; `ektp audit verify` catches what bypasses this.
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER audit_log_no_{verb.lower()} BEFORE {verb} ON audit_log "
                "BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END"
            )
    elif dialect == "postgresql":
        op.execute(
            "CREATE FUNCTION ektp_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN RAISE EXCEPTION 'the audit log is append-only'; END $$"
        )
        op.execute(
            "CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log "
            "FOR EACH ROW EXECUTE FUNCTION ektp_audit_append_only()"
        )


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_log_append_only ON audit_log")
        op.execute("DROP FUNCTION IF EXISTS ektp_audit_append_only()")
    for table in (
        "audit_head",
        "audit_log",
        "blanks",
        "blank_batches",
        "print_jobs",
        "captures",
        "enrolments",
        "operators",
        "sites",
    ):
        op.drop_table(table)
