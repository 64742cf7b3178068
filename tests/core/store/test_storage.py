"""The schema the migrations build is the schema the code declares; SQLite runs as documented."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from ektp_core.store import Store
from ektp_core.store.tables import metadata


def test_migrations_match_the_declared_schema(ektp_database_url: str) -> None:
    store = Store(ektp_database_url)
    assert store.current_revision() is None
    head = store.head_revision()
    assert head is not None and store.upgrade() == head
    with store.read() as conn:
        assert compare_metadata(MigrationContext.configure(conn), metadata) == []
    assert store.upgrade() == head  # running it again changes nothing
    store.dispose()


@pytest.mark.ektp_durable  # ektp's own setting, whatever --ektp-sqlite-synchronous a run chose
def test_sqlite_pragmas(tmp_path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'x.sqlite3'}")
    with store.read() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    store.dispose()


def test_write_transaction_takes_the_lock_up_front(tmp_path) -> None:
    import sqlite3

    path = tmp_path / "x.sqlite3"
    store = Store(f"sqlite:///{path}")
    store.upgrade()
    other = sqlite3.connect(path, timeout=0, isolation_level=None)
    with store.write():
        # Our write transaction holds the RESERVED lock before any statement: another writer is refused.
        try:
            other.execute("BEGIN IMMEDIATE")
            locked = False
        except sqlite3.OperationalError as exc:
            locked = "locked" in str(exc)
    assert locked
    other.close()
    store.dispose()
