"""Fingerprint captures carry a minutiae template, stored encrypted beside the image.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("captures") as batch:
        batch.add_column(sa.Column("template_ref", sa.String(128)))


def downgrade() -> None:
    with op.batch_alter_table("captures") as batch:
        batch.drop_column("template_ref")
