"""A backup is logical (rows, not database files), so it restores into the other kind of database:
an office moving its Dukcapil node from SQLite to PostgreSQL, or a PostgreSQL node's backup read back
on a laptop with SQLite. Needs a PostgreSQL server (``tox -e pg``)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from backupkit import PASSPHRASE, check_restored, fill, snapshot
from ektp_plugins.backup.archive import create_backup, restore_backup

from ektp_core.config import load_deployment
from ektp_core.lifecycle.service import LifecycleService
from ektp_core.services.node_init import create_deployment
from ektp_core.testing.databases import server_url, temporary_database

pytestmark = [
    pytest.mark.postgres,
    # tox -e pg runs it (that environment refuses to start without a server); tox -e py has none.
    pytest.mark.skipif(server_url() is None, reason="needs EKTP_TEST_DATABASE_URL (a PostgreSQL server): tox -e pg"),
]


def _same_across_databases(value: Any) -> Any:
    """What two databases store alike, told apart only by their drivers: SQLite hands back naive UTC
    datetimes and bytes, PostgreSQL aware datetimes and bytes."""
    if isinstance(value, dt.datetime) and value.tzinfo is not None:
        return value.astimezone(dt.UTC).replace(tzinfo=None)
    if isinstance(value, memoryview):
        return bytes(value)
    return value


def _normalised(url: str) -> dict[str, list[tuple[object, ...]]]:
    # Sorted here, not by the databases: text keys sort by the server's collation on PostgreSQL.
    return {
        table: sorted(
            (tuple(_same_across_databases(v) for v in row) for row in rows),
            key=lambda row: [(v is None, str(v)) for v in row],
        )
        for table, rows in snapshot(url).items()
    }


def _fill_sqlite_node(root: Path) -> Path:
    deployment = create_deployment(root, profile="minimal", database_url=f"sqlite:///{root.parent / 'node.sqlite3'}")
    store = deployment.open_store()
    try:
        fill(LifecycleService(store, deployment.plugin_host().hook, deployment))
    finally:
        store.dispose()
    return root


def test_an_sqlite_backup_restores_into_postgresql_and_back(tmp_path: Path) -> None:
    node = _fill_sqlite_node(tmp_path / "sqlite-node")
    before = _normalised(load_deployment(node).database_url)
    assert len(before["enrolments"]) == 6

    first = tmp_path / "from-sqlite.ektpbak"
    create_backup(load_deployment(node), first, PASSPHRASE)
    (tmp_path / "pg").mkdir()
    with temporary_database(tmp_path / "pg") as pg_url:
        assert pg_url.startswith("postgresql")
        on_postgres = tmp_path / "on-postgres"
        restore_backup(first, on_postgres, PASSPHRASE, database_url=pg_url)
        assert _normalised(pg_url) == before
        check_restored(on_postgres, snapshot(pg_url))  # ledger, audit chain, biometrics, keeps working

        # And back: the PostgreSQL node's backup restores into SQLite with the same rows. The check
        # above appended a blank delivery and its audit entry, so compare with the node as it is now.
        now = _normalised(pg_url)
        second = tmp_path / "from-postgres.ektpbak"
        create_backup(load_deployment(on_postgres), second, PASSPHRASE)
    back = tmp_path / "back-on-sqlite"
    sqlite_url = f"sqlite:///{tmp_path / 'back.sqlite3'}"
    restore_backup(second, back, PASSPHRASE, database_url=sqlite_url)
    assert _normalised(sqlite_url) == now
