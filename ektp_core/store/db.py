"""The database engine: SQLite by default (WAL, synchronous=FULL, write locks taken up front),
PostgreSQL through a URL. All access goes through :meth:`Store.write` and :meth:`Store.read`."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine

_WRITE = "ektp_write"


def _sqlite_setup(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Take transaction control away from the sqlite3 module so BEGIN IMMEDIATE is ours to emit.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=FULL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        # Deleted rows are overwritten with zeros, not left in free pages: destroyed biometrics (a
        # cancelled recording's, a rotated key's ciphertext) must not survive in the file or its backups.
        cur.execute("PRAGMA secure_delete=ON")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # A write transaction takes the write lock at BEGIN, so two writers never deadlock on upgrade
        # from a read lock, and a transition's read-check-write sees no concurrent change.
        conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.info.get(_WRITE) else "BEGIN")


class Store:
    """One database: engine, transactions and migrations."""

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = url
        kwargs: dict[str, Any] = {"echo": echo, "future": True}
        if url.startswith("sqlite"):
            kwargs["connect_args"] = {"timeout": 30}
        else:
            kwargs["pool_pre_ping"] = True
        self.engine = sa.create_engine(url, **kwargs)
        if self.engine.dialect.name == "sqlite":
            _sqlite_setup(self.engine)

    @property
    def dialect(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self.engine.dialect.name

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A read-write transaction: committed when the block ends, rolled back on any exception."""
        with self.engine.connect() as conn:
            conn.info[_WRITE] = True
            try:
                with conn.begin():
                    yield conn
            finally:
                conn.info[_WRITE] = False

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A read-only transaction: one consistent snapshot on both databases (SQLite's read
        transaction is one; PostgreSQL needs REPEATABLE READ for it)."""
        with self.engine.connect() as conn:
            conn.info[_WRITE] = False
            if self.engine.dialect.name == "postgresql":
                conn = conn.execution_options(isolation_level="REPEATABLE READ")
            with conn.begin():
                yield conn

    # ---------------------------------------------------------------------------------------------
    # Migrations
    # ---------------------------------------------------------------------------------------------

    def _alembic_config(self, conn: Connection) -> Any:
        from alembic.config import Config

        cfg = Config()
        cfg.set_main_option("script_location", str(resources.files("ektp_core.store") / "migrations"))
        cfg.attributes["connection"] = conn
        return cfg

    def upgrade(self, revision: str = "head") -> str | None:
        """Bring the schema to ``revision`` (default: the newest); returns the revision reached."""
        from alembic import command

        with self.write() as conn:
            command.upgrade(self._alembic_config(conn), revision)
        return self.current_revision()

    def current_revision(self) -> str | None:
        """The schema revision of the database, or None when it was never migrated."""
        from alembic.runtime.migration import MigrationContext

        with self.read() as conn:
            return MigrationContext.configure(conn).get_current_revision()

    def head_revision(self) -> str | None:
        """The newest revision this version of ektp knows."""
        from alembic.script import ScriptDirectory

        with self.engine.connect() as conn:
            script = ScriptDirectory.from_config(self._alembic_config(conn))
        return script.get_current_head()

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()
