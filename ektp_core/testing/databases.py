"""Throw-away databases for tests: an SQLite file, or a fresh PostgreSQL database per test.

Set ``EKTP_TEST_DATABASE_URL`` to a PostgreSQL server URL (``postgresql+psycopg://user@host/postgres``)
to run the suite on PostgreSQL; each test gets its own database, dropped afterwards.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import make_url

ENV_TEST_DATABASE = "EKTP_TEST_DATABASE_URL"


def server_url() -> str | None:
    """The PostgreSQL server tests should use, or None for SQLite."""
    return os.environ.get(ENV_TEST_DATABASE) or None


@contextmanager
def temporary_database(tmp_dir: Path) -> Iterator[str]:
    """A URL to an empty database that disappears afterwards."""
    server = server_url()
    if server is None:
        yield f"sqlite:///{tmp_dir / 'ektp-test.sqlite3'}"
        return
    admin = sa.create_engine(server, isolation_level="AUTOCOMMIT")
    name = f"ektp_test_{uuid.uuid4().hex[:16]}"
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield make_url(server).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()
