"""Fixtures for the web UI: the node's app over a real deployment (SQLite, the minimal profile unless a
test marks another with ``ektp_profile``), its accounts, and browsers logged in with each role."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from ektp_plugins.web.ui import create_app
from flask import Flask

from ektp_core.domain.model import Role
from ektp_core.lifecycle.service import LifecycleService
from ektp_core.plugins import PluginHost

from .webkit import Browser, add_account


@pytest.fixture
def web_app(ektp_service: LifecycleService, ektp_host: PluginHost) -> Flask:
    """The node's app with three accounts: ``op1`` (operator), ``spv1`` (supervisor), ``adm1`` (admin)."""
    for username, role in (("op1", Role.OPERATOR), ("spv1", Role.SUPERVISOR), ("adm1", Role.ADMIN)):
        add_account(ektp_service, username, role)
    app = create_app(ektp_service, ektp_host)
    # The test client speaks plain HTTP; a Secure cookie would never come back.
    app.config["SESSION_COOKIE_SECURE"] = False
    app.testing = True
    return app


@pytest.fixture
def browser(web_app: Flask) -> Callable[[str | None], Browser]:
    """``browser("op1")``: a client logged in as that account; ``browser(None)``: not logged in."""

    def make(username: str | None = None) -> Browser:
        b = Browser(web_app)
        if username:
            b.login(username)
        return b

    return make
