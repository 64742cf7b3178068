"""A plugin's page appears in the web UI's top menu (ektp_register_menu_entries), labelled in the
operator's language, for the roles its entry names and its page's access rule lets in, and no others."""

from __future__ import annotations

import logging
import re
from typing import Any

import pytest
from ektp_plugins.web.ui import access, create_app
from ektp_plugins.web.ui.menu import MenuEntry
from flask import Blueprint, Flask, render_template_string
from flask.testing import FlaskClient

from ektp_core import hookimpl
from ektp_core.domain.model import Operator, Role
from ektp_core.keys import crypto
from ektp_core.lifecycle.service import LifecycleService
from ektp_core.plugins import PluginHost

PASSWORD = "kata-sandi-menu"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
_MENU = re.compile(r'<nav class="menu"[^>]*>(.*?)</nav>', flags=re.DOTALL)

stock = Blueprint("stock", __name__, url_prefix="/stok")


@stock.get("/")
@access.allow(access.DESK)  # operators may open it; the menu shows it to supervisors only
def overview() -> str:
    # A plugin's page in the UI's frame (its menu included).
    return render_template_string('{% extends "base.html" %}{% block content %}<h1>Stok</h1>{% endblock %}')


class StockPlugin:
    """A page and its menu entry, as a third-party plugin adds them."""

    @hookimpl
    def ektp_register_blueprints(self, registry: Any) -> None:
        registry.add("stock", stock)

    @hookimpl
    def ektp_register_menu_entries(self, registry: Any) -> None:
        registry.add("stock", MenuEntry("stock.overview", "Stok blangko", "Blank stock", access.SUPERVISORS))
        registry.add("lost", MenuEntry("nowhere.page", "Hilang", "Lost", access.EVERYONE))


def _app(service: LifecycleService, host: PluginHost) -> Flask:
    for username, role in (("op1", Role.OPERATOR), ("spv1", Role.SUPERVISOR), ("adm1", Role.ADMIN)):
        service.add_operator(
            Operator(
                username=username,
                full_name=username,
                role=role,
                site_code=service.deployment.site_code,
                active=True,
                password_hash=crypto.hash_password(PASSWORD, n=2**10),
            ),
            actor="test",
        )
    app = create_app(service, host)
    app.config["SESSION_COOKIE_SECURE"] = False  # the test client speaks plain HTTP
    return app


def _logged_in(app: Flask, username: str) -> FlaskClient:
    client = app.test_client()
    token = _CSRF.search(client.get("/login").get_data(as_text=True))
    assert token is not None
    data = {"username": username, "password": PASSWORD, "csrf_token": token.group(1)}
    assert client.post("/login", data=data).status_code == 302
    return client


def _menu(client: FlaskClient, path: str = "/dashboard") -> str:
    found = _MENU.search(client.get(path).get_data(as_text=True))
    assert found is not None, "no top menu on the page"
    return found.group(1)


def test_a_plugin_page_is_in_the_menu_for_its_roles_only(
    ektp_service: LifecycleService, ektp_host: PluginHost, ektp_register_plugin: Any, caplog: pytest.LogCaptureFixture
) -> None:
    ektp_register_plugin(StockPlugin(), "stock")
    with caplog.at_level(logging.ERROR):
        app = _app(ektp_service, ektp_host)
    assert "menu entry lost of plugin stock names the endpoint 'nowhere.page'" in caplog.text

    supervisor = _logged_in(app, "spv1")
    menu = _menu(supervisor)
    assert '<a href="/stok/" >Stok blangko</a>' in menu  # after the UI's own entries
    assert menu.index("/stok/") > menu.index("/dashboard")
    assert 'aria-current="page">Stok blangko' in _menu(supervisor, "/stok/")
    token = _CSRF.search(supervisor.get("/dashboard").get_data(as_text=True))
    assert token is not None
    supervisor.post("/language", data={"language": "en", "next": "/dashboard", "csrf_token": token.group(1)})
    assert ">Blank stock</a>" in _menu(supervisor)

    operator = _logged_in(app, "op1")
    assert "/stok/" not in _menu(operator)  # not in the entry's roles...
    assert operator.get("/stok/").status_code == 200  # ...though the page lets operators in
    administrator = _logged_in(app, "adm1")
    assert "/stok/" not in _menu(administrator)
    assert "Hilang" not in _menu(supervisor)


def test_an_entry_for_a_page_the_role_may_not_open_is_not_shown(
    ektp_service: LifecycleService, ektp_host: PluginHost, ektp_register_plugin: Any
) -> None:
    class AdminsEntry:
        @hookimpl
        def ektp_register_blueprints(self, registry: Any) -> None:
            registry.add("stock", stock)

        @hookimpl
        def ektp_register_menu_entries(self, registry: Any) -> None:
            registry.add("stock", MenuEntry("stock.overview", "Stok blangko", "Blank stock", access.ADMINS))

    ektp_register_plugin(AdminsEntry(), "admins-entry")
    app = _app(ektp_service, ektp_host)
    assert "/stok/" not in _menu(_logged_in(app, "adm1"))  # the page allows desks only


def test_a_menu_entry_with_an_unknown_role_is_refused() -> None:
    with pytest.raises(ValueError, match="'janitor' is not a valid Role"):
        MenuEntry("stock.overview", "Stok", "Stock", {"janitor"})
