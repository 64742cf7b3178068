"""pytest fixtures for ektp and its plugins (loaded automatically through the ``pytest11`` entry point).

* ``ektp_database_url``: an empty database for one test (SQLite, or PostgreSQL when
  ``EKTP_TEST_DATABASE_URL`` is set);
* ``ektp_deployment``: a deployment folder in ``tmp_path``, migrated, with the ``minimal`` profile
  (use ``@pytest.mark.ektp_profile("name-or-path")`` to choose another);
* ``ektp_host``: that deployment's plugin host; ``ektp_service``: its lifecycle service;
* ``ektp_register_plugin``: register a plugin object for one test, removed afterwards.
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


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "ektp_profile(name): the profile the ektp_deployment fixture uses")


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
