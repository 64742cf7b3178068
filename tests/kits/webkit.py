"""Helpers for the web UI's tests: a node app with accounts, and a logged-in test client.

The fixtures ``web_app`` and ``browser`` are defined here and imported by the conftest.py of each
folder whose tests use them (tests/plugins/web, tests/integration/web).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import jinja2
import pytest
from ektp_plugins.web.ui import create_app
from flask import Flask
from flask.testing import FlaskClient

from ektp_core.domain.model import Operator, Role
from ektp_core.keys import crypto
from ektp_core.lifecycle.service import LifecycleService
from ektp_core.plugins import PluginHost

#: Every test account's password (hashed with a cheap scrypt cost: tests log in hundreds of times).
PASSWORD = "kata-sandi-uji"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def add_account(
    lc: LifecycleService,
    username: str,
    role: Role | str,
    *,
    site_code: str | None = None,
    password: str = PASSWORD,
    active: bool = True,
) -> Operator:
    """Create an account at the node's site (or another)."""
    site = site_code or lc.deployment.site_code
    return lc.add_operator(
        Operator(
            username=username,
            full_name=username.replace(".", " ").title(),
            role=role,
            site_code=site,
            active=active,
            password_hash=crypto.hash_password(password, n=2**10),
        ),
        actor="test",
    )


def csrf_of(html: str | bytes) -> str:
    """The CSRF token in a rendered page."""
    text = html.decode() if isinstance(html, bytes) else html
    found = _CSRF.search(text)
    assert found, "no CSRF token in the page"
    return found.group(1)


class Browser:
    """A test client that keeps the CSRF token of the last page it saw and sends it with every form."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.client: FlaskClient = app.test_client()
        self.csrf = ""

    def get(self, path: str, **kw: Any) -> Any:
        response = self.client.get(path, **kw)
        if response.mimetype == "text/html":
            found = _CSRF.search(response.get_data(as_text=True))
            if found:
                self.csrf = found.group(1)
        return response

    def post(self, path: str, data: dict[str, Any] | None = None, *, csrf: bool = True, **kw: Any) -> Any:
        if csrf and not self.csrf:
            self.get("/login")
        form = dict(data or {})
        if csrf:
            form.setdefault("csrf_token", self.csrf)
        response = self.client.post(path, data=form, **kw)
        if response.mimetype == "text/html":
            found = _CSRF.search(response.get_data(as_text=True))
            if found:
                self.csrf = found.group(1)
        return response

    def login(self, username: str, password: str = PASSWORD) -> Any:
        self.get("/login")
        response = self.post("/login", {"username": username, "password": password})
        assert response.status_code == 302, response.get_data(as_text=True)
        self.get("/dashboard")
        return response


class _CompiledTemplates(jinja2.BytecodeCache):
    """The templates compiled once per test process and shared by every test's new app: a test still
    gets an app of its own, without Jinja parsing and compiling each page again (Jinja checks each
    template's source against what was compiled)."""

    def __init__(self) -> None:
        self._code: dict[str, bytes] = {}

    def load_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        code = self._code.get(bucket.key)
        if code is not None:
            bucket.bytecode_from_string(code)

    def dump_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        self._code[bucket.key] = bucket.bytecode_to_string()


_TEMPLATES = _CompiledTemplates()


@pytest.fixture
def web_app(ektp_service: LifecycleService, ektp_host: PluginHost) -> Flask:
    """The node's app with three accounts: ``op1`` (operator), ``spv1`` (supervisor), ``adm1`` (admin)."""
    for username, role in (("op1", Role.OPERATOR), ("spv1", Role.SUPERVISOR), ("adm1", Role.ADMIN)):
        add_account(ektp_service, username, role)
    app = create_app(ektp_service, ektp_host)
    app.jinja_env.bytecode_cache = _TEMPLATES
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
