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
        help="run only the tests that use a database (tox -e pg: the rest do not touch PostgreSQL "
        "and already ran on SQLite)",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not config.getoption("--database-only"):
        return
    # item.fixturenames holds every fixture a test uses, directly or through other fixtures.
    keep = [
        item
        for item in items
        if "ektp_database_url" in getattr(item, "fixturenames", ()) or item.get_closest_marker("postgres")
    ]
    config.hook.pytest_deselected(items=[item for item in items if item not in keep])
    items[:] = keep
