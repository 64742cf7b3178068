"""Test set-up. ektp's pytest plugin brings the fixtures (``ektp_deployment``, ``ektp_host``,
``ektp_service``, ``ektp_register_plugin``, the ``ektp_profile`` marker); this file adds
``plugin_host``: the test's plugin host with this plugin in it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from ektp_core.plugins import PluginHost

import ektp_acme_gateway


@pytest.fixture
def plugin_host(ektp_host: PluginHost, ektp_register_plugin: Callable[[Any, str], Any]) -> PluginHost:
    """The deployment's plugin host with this plugin loaded: through its entry point once the
    distribution is installed, registered for this test only before that (a fresh checkout)."""
    info = {i.name: i for i in ektp_host.plugins(include_inactive=True)}.get(ektp_acme_gateway.NAME)
    if info is None:
        ektp_register_plugin(ektp_acme_gateway, ektp_acme_gateway.NAME)
    elif info.status != "loaded":
        pytest.fail(f"the installed plugin {ektp_acme_gateway.NAME} is {info.status}: {info.error}")
    return ektp_host
