"""Storage: SQLAlchemy 2 Core tables, the engine set-up, Alembic migrations and the repository."""

from ektp_core.store.db import Store

__all__ = ["Store"]
