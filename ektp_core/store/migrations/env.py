"""Alembic environment: runs on the connection that :class:`ektp_core.store.Store` hands in."""

from __future__ import annotations

from alembic import context

from ektp_core.store.tables import metadata

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - ektp always passes its own connection
    raise RuntimeError("run migrations through `ektp db upgrade`, which supplies the connection")

context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
