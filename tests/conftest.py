"""Shared test set-up. The ektp fixtures themselves come from ``ektp_core.testing.pytest_plugin``."""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, settings

# pytester: tests of the pytest kit run pytest in-process on small test files
# (tests/core/testing/test_sqlite_sync.py).
pytest_plugins = ["pytester"]

# CI runs more examples; a developer's quick run fewer. Both are deterministic per test.
settings.register_profile("ci", max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("ci" if os.environ.get("CI") else "dev")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--database-only",
        action="store_true",
        help="run only the tests of the database's behaviour (tox -e pg: those using a database, "
        "except the web UI's and the docs' unless marked database, and those marked postgres; the rest "
        "already ran on SQLite)",
    )


#: Folders whose tests exercise a user interface or the documentation, not the database: the web UI's
#: pages run on the same store the core's, the sync's and the read models' tests cover, so ``tox -e pg``
#: leaves them out unless a test is marked ``database`` (docs/testing.md, "The PostgreSQL lane").
NOT_DATABASE_FOLDERS = ("tests/plugins/web/", "tests/docs/")


def _database_test(item: pytest.Item, root: str) -> bool:
    """True for a test ``--database-only`` keeps (see :data:`NOT_DATABASE_FOLDERS`)."""
    if item.get_closest_marker("postgres") or item.get_closest_marker("database"):
        return True
    # item.fixturenames holds every fixture a test uses, directly or through other fixtures.
    if "ektp_database_url" not in getattr(item, "fixturenames", ()):
        return False
    where = os.path.relpath(str(item.path), root).replace(os.sep, "/")
    return not where.startswith(NOT_DATABASE_FOLDERS)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not config.getoption("--database-only"):
        return
    root = str(config.rootpath)
    keep = [item for item in items if _database_test(item, root)]
    config.hook.pytest_deselected(items=[item for item in items if item not in keep])
    items[:] = keep
