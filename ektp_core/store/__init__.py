"""Storage: SQLAlchemy 2 Core tables, the engine set-up, Alembic migrations, the repository, the counters kept
with every change (:mod:`.counters`) and the read models the pages and reports read (:mod:`.read_models`)."""

from ektp_core.store.db import Store

__all__ = ["Store"]
