"""Indexes for the pages an office opens all day: counting by time (enrolments by creation, print
jobs and blanks by their last change: the dashboard's charts and the daily stock report), a site's
print queue, and a printer's counter check.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-28
"""

from __future__ import annotations

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_enrolments_created_at", "enrolments", ["created_at", "site_code"])
    op.create_index("ix_enrolments_site_created_at", "enrolments", ["site_code", "created_at"])
    op.create_index("ix_print_jobs_state_updated_at", "print_jobs", ["state", "updated_at", "site_code"])
    op.create_index("ix_blanks_site_state_updated_at", "blanks", ["site_code", "state", "updated_at"])
    op.create_index("ix_print_jobs_site_queue", "print_jobs", ["site_code", "state", "print_day", "created_at"])
    op.create_index("ix_print_jobs_printer_state", "print_jobs", ["printer", "state"])
    op.create_index("ix_print_jobs_site_state_updated_at", "print_jobs", ["site_code", "state", "updated_at"])


def downgrade() -> None:
    op.drop_index("ix_print_jobs_site_state_updated_at", "print_jobs")
    op.drop_index("ix_print_jobs_printer_state", "print_jobs")
    op.drop_index("ix_print_jobs_site_queue", "print_jobs")
    op.drop_index("ix_blanks_site_state_updated_at", "blanks")
    op.drop_index("ix_print_jobs_state_updated_at", "print_jobs")
    op.drop_index("ix_enrolments_site_created_at", "enrolments")
    op.drop_index("ix_enrolments_created_at", "enrolments")
