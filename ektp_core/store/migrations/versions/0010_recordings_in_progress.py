"""An index for a site's recordings in progress (the recording start page and its list): enrolments
by site and state, newest first. Without it the query walks every enrolment the site ever recorded,
so its cost grew with the office's history (measured on the web benchmark's node: 2.6 ms to 0.5 ms).

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-28
"""

from __future__ import annotations

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_enrolments_site_state_created_at", "enrolments", ["site_code", "state", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_enrolments_site_state_created_at", "enrolments")
