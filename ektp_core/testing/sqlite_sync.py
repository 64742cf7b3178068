"""SQLite's ``synchronous`` setting lowered for tests that do not test durability.

A store opens every SQLite connection with ``PRAGMA synchronous=FULL``: a committed transaction
survives a power cut. That costs an fsync of the write-ahead log per commit (0.1 to several ms on a
shared disk), and a test suite commits hundreds of thousands of times. With ``NORMAL`` the log is
synced at checkpoints only: a power cut may lose the last commits, a crashed process loses nothing,
and what a test sees within one machine's uptime is the same.

This is a switch for test runs only (``pytest --ektp-sqlite-synchronous=NORMAL``, see
:mod:`ektp_core.testing.pytest_plugin`); nothing in ektp itself lowers the setting. It works from
outside the store: a connection is set to ``NORMAL`` when it is first checked out of its pool, after
the store's own set-up ran, so production code keeps a single code path.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Literal

from sqlalchemy import event
from sqlalchemy.pool import Pool

Synchronous = Literal["FULL", "NORMAL"]
#: The levels a test run may choose; FULL is ektp's own.
LEVELS: tuple[Synchronous, ...] = ("FULL", "NORMAL")
_DONE = "ektp_test_synchronous"


@contextmanager
def sqlite_synchronous(level: Synchronous) -> Iterator[None]:
    """While inside, every SQLite connection checked out of any SQLAlchemy pool runs with
    ``PRAGMA synchronous=<level>`` (``FULL`` changes nothing)."""
    if level == "FULL":
        yield
        return
    if level not in LEVELS:
        raise ValueError(f"synchronous must be one of {', '.join(LEVELS)}, not {level!r}")

    def lower(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        # Once per connection: the store's "connect" listener has run by the first checkout.
        if isinstance(dbapi_connection, sqlite3.Connection) and not record.info.get(_DONE):
            dbapi_connection.execute(f"PRAGMA synchronous={level}")
            record.info[_DONE] = True

    event.listen(Pool, "checkout", lower)
    try:
        yield
    finally:
        event.remove(Pool, "checkout", lower)
