"""pytest fixtures for ektp and its plugins (loaded automatically through the ``pytest11`` entry point).

* ``ektp_database_url``: an empty database for one test (SQLite, or PostgreSQL when
  ``EKTP_TEST_DATABASE_URL`` is set);
* ``ektp_deployment``: a deployment folder in ``tmp_path``, migrated, with the ``minimal`` profile
  (use ``@pytest.mark.ektp_profile("name-or-path")`` to choose another);
* ``ektp_host``: that deployment's plugin host; ``ektp_service``: its lifecycle service;
* ``ektp_register_plugin``: register a plugin object for one test, removed afterwards.

``--ektp-sqlite-synchronous=NORMAL`` lowers SQLite's ``synchronous`` from ektp's ``FULL`` for every
test not marked ``ektp_durable`` (see :mod:`ektp_core.testing.sqlite_sync`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from ektp_core.config import Deployment
from ektp_core.lifecycle.service import LifecycleService
from ektp_core.plugins import PluginHost
from ektp_core.services.node_init import create_deployment
from ektp_core.testing.databases import temporary_database
from ektp_core.testing.sqlite_sync import LEVELS, Synchronous, sqlite_synchronous

_SYNCHRONOUS = "--ektp-sqlite-synchronous"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.getgroup("ektp").addoption(
        _SYNCHRONOUS,
        choices=LEVELS,
        default="FULL",
        help="SQLite's synchronous setting for tests not marked ektp_durable: FULL (ektp's own, the "
        "default) or NORMAL (no fsync per commit: faster, for tests that do not test durability)",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "ektp_profile(name): the profile the ektp_deployment fixture uses")
    config.addinivalue_line(
        "markers", f"ektp_durable: a durability test: SQLite stays at synchronous=FULL whatever {_SYNCHRONOUS} says"
    )


def pytest_report_header(config: pytest.Config) -> str | None:
    level: Synchronous = config.getoption(_SYNCHRONOUS)
    if level == "FULL":
        return None
    return f"ektp: SQLite synchronous={level} for tests not marked ektp_durable ({_SYNCHRONOUS})"


@pytest.fixture(autouse=True)
def _ektp_sqlite_synchronous(request: pytest.FixtureRequest) -> Iterator[None]:
    """Applies ``--ektp-sqlite-synchronous`` to the test, unless it is marked ``ektp_durable``."""
    level: Synchronous = request.config.getoption(_SYNCHRONOUS)
    if request.node.get_closest_marker("ektp_durable"):
        level = "FULL"
    with sqlite_synchronous(level):
        yield


@pytest.fixture
def ektp_database_url(tmp_path: Path) -> Iterator[str]:
    """A URL to an empty database, removed after the test."""
    with temporary_database(tmp_path) as url:
        yield url


@pytest.fixture
def ektp_deployment(request: pytest.FixtureRequest, tmp_path: Path, ektp_database_url: str) -> Deployment:
    """A fresh deployment in ``tmp_path / "deployment"`` with a migrated database."""
    marker = request.node.get_closest_marker("ektp_profile")
    profile = marker.args[0] if marker else "minimal"
    site = marker.kwargs.get("site") if marker else None
    return create_deployment(tmp_path / "deployment", profile=profile, site_code=site, database_url=ektp_database_url)


@pytest.fixture
def ektp_host(ektp_deployment: Deployment) -> PluginHost:
    """The deployment's plugin host (a new one per test: nothing leaks between tests)."""
    host: PluginHost = ektp_deployment.plugin_host()
    return host


@pytest.fixture
def ektp_service(ektp_deployment: Deployment, ektp_host: PluginHost) -> Iterator[LifecycleService]:
    """A lifecycle service on the deployment's database."""
    store = ektp_deployment.open_store()
    yield LifecycleService(store, ektp_host.hook, ektp_deployment)
    store.dispose()


@pytest.fixture
def ektp_register_plugin(ektp_host: PluginHost) -> Iterator[Callable[[Any, str], Any]]:
    """``ektp_register_plugin(plugin, name)`` adds a plugin to ``ektp_host`` for this test only."""
    names: list[str] = []

    def register(plugin: Any, name: str) -> Any:
        ektp_host.register(plugin, name)
        names.append(name)
        return plugin

    try:
        yield register
    finally:
        for name in names:
            ektp_host.unregister(name)
