"""Logging in and out, session limits, lockout, CSRF, roles and the security headers of the web UI."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa
from ektp_plugins.web.ui import access
from ektp_plugins.web.ui.app import node
from flask import Blueprint, Flask
from webkit import PASSWORD, Browser, add_account

from ektp_core.domain.model import Role
from ektp_core.lifecycle.service import LifecycleService
from ektp_core.store.tables import audit_log, web_sessions


def actions(lc: LifecycleService, prefix: str = "auth.") -> list[tuple[str, str, str]]:
    with lc.store.read() as conn:
        rows = conn.execute(
            sa.select(audit_log.c.action, audit_log.c.actor, audit_log.c.detail)
            .where(audit_log.c.action.like(prefix + "%"))
            .order_by(audit_log.c.seq)
        ).all()
    return [(r.action, r.actor, r.detail) for r in rows]


def shift_clock(app: Flask, by: dt.timedelta) -> None:
    """Move the accounts' clock forward (sessions and lockouts read it)."""
    accounts = node_of(app).accounts
    base = accounts.clock
    accounts.clock = lambda: base() + by


def node_of(app: Flask):  # type: ignore[no-untyped-def]
    with app.app_context():
        return node()


def test_a_page_needs_a_login_and_comes_back_after_it(browser) -> None:  # type: ignore[no-untyped-def]
    b = browser(None)
    response = b.get("/dashboard")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=/dashboard")
    b.get("/login")
    response = b.post("/login?next=/dashboard", {"username": "op1", "password": PASSWORD})
    assert response.status_code == 302 and response.headers["Location"] == "/dashboard"
    assert b.get("/dashboard").status_code == 200


def test_a_next_address_off_this_node_is_ignored(browser) -> None:  # type: ignore[no-untyped-def]
    b = browser(None)
    b.get("/login")
    for target in ("//evil.example/x", "https://evil.example/", "javascript:alert(1)"):
        response = b.post(f"/login?next={target}", {"username": "op1", "password": PASSWORD})
        assert response.headers["Location"] == "/dashboard", target
        b.post("/logout")
        b.get("/login")


def test_wrong_password_is_refused_and_audited(browser, ektp_service) -> None:  # type: ignore[no-untyped-def]
    b = browser(None)
    b.get("/login")
    response = b.post("/login", {"username": "op1", "password": "salah-sekali"})
    assert response.status_code == 401
    assert "Nama pengguna atau kata sandi salah" in response.get_data(as_text=True)
    # An unknown account gets the very same answer (no list of usernames by trial).
    unknown = b.post("/login", {"username": "nobody", "password": "salah-sekali"})
    assert unknown.status_code == 401
    assert "Nama pengguna atau kata sandi salah" in unknown.get_data(as_text=True)
    failed = [a for a in actions(ektp_service) if a[0] == "auth.login_failed"]
    assert [a[1] for a in failed] == ["op1", "nobody"]
    assert "salah-sekali" not in str(actions(ektp_service))  # the password is never written anywhere


@pytest.mark.database
def test_five_failures_lock_the_account_even_against_the_right_password(
    browser,
    web_app,  # type: ignore[no-untyped-def]
    ektp_service,
) -> None:
    b = browser(None)
    b.get("/login")
    for _ in range(5):
        assert b.post("/login", {"username": "spv1", "password": "tebakan"}).status_code == 401
    response = b.post("/login", {"username": "spv1", "password": PASSWORD})
    assert response.status_code == 403
    assert "dikunci" in response.get_data(as_text=True)
    assert ("auth.locked", "system") in [(a[0], a[1]) for a in actions(ektp_service)]
    # Other accounts are not affected; after the lockout time the right password works again.
    assert browser("op1").get("/dashboard").status_code == 200
    shift_clock(web_app, dt.timedelta(minutes=16))
    assert b.post("/login", {"username": "spv1", "password": PASSWORD}).status_code == 302


@pytest.mark.database
def test_logout_ends_the_session_on_the_server(browser, web_app, ektp_service) -> None:  # type: ignore[no-untyped-def]
    b = browser("op1")
    stolen = b.client.get_cookie("ektp_session").value
    assert b.post("/logout").status_code == 302
    # Someone who copied the cookie before the logout cannot use it.
    thief = Browser(web_app)
    thief.client.set_cookie("ektp_session", stolen)
    response = thief.get("/dashboard")
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    with ektp_service.store.read() as conn:
        ended = conn.execute(sa.select(web_sessions.c.end_reason)).scalars().all()
    assert ended == ["logout"]
    assert "auth.logout" in [a[0] for a in actions(ektp_service)]


def test_login_gives_a_new_session_cookie(browser) -> None:  # type: ignore[no-untyped-def]
    b = browser(None)
    b.get("/login")
    before = b.client.get_cookie("ektp_session").value
    b.post("/login", {"username": "op1", "password": PASSWORD})
    assert b.client.get_cookie("ektp_session").value != before


@pytest.mark.parametrize(("idle", "expected"), [(dt.timedelta(minutes=29), 200), (dt.timedelta(minutes=31), 302)])
@pytest.mark.database
def test_an_idle_session_ends(browser, web_app, idle, expected) -> None:  # type: ignore[no-untyped-def]
    b = browser("op1")
    shift_clock(web_app, idle)
    response = b.get("/dashboard")
    assert response.status_code == expected
    if expected == 302:
        assert "tidak ada aktivitas" in b.get("/login").get_data(as_text=True)


@pytest.mark.database
def test_a_session_ends_after_its_absolute_limit_even_when_used(browser, web_app) -> None:  # type: ignore[no-untyped-def]
    b = browser("op1")
    for minutes in range(25, 10 * 60, 25):  # used every 25 minutes: never idle
        shift_clock(web_app, dt.timedelta(minutes=25))
        response = b.get("/dashboard")
        if minutes < 10 * 60:
            assert response.status_code == 200, minutes
    shift_clock(web_app, dt.timedelta(minutes=25))
    assert b.get("/dashboard").status_code == 302


def test_a_form_without_its_csrf_token_is_refused_and_audited(browser, ektp_service) -> None:  # type: ignore[no-untyped-def]
    b = browser("op1")
    response = b.post("/logout", csrf=False)
    assert response.status_code == 400
    assert "CSRF" in response.get_data(as_text=True)
    wrong = b.post("/logout", {"csrf_token": "forged"})
    assert wrong.status_code == 400
    refused = [a for a in actions(ektp_service) if a[0] == "auth.forbidden"]
    assert len(refused) == 2 and all('"csrf"' in a[2] for a in refused)
    assert b.get("/dashboard").status_code == 200  # still logged in: nothing happened


def test_login_without_csrf_is_refused(browser) -> None:  # type: ignore[no-untyped-def]
    b = browser(None)
    assert b.post("/login", {"username": "op1", "password": PASSWORD}, csrf=False).status_code == 400


@pytest.fixture
def guarded_app(web_app: Flask) -> Flask:
    """The node app with one page for administrators and one without an access rule."""
    bp = Blueprint("testpages", __name__)

    @bp.get("/test/admin-only")
    @access.allow(access.ADMINS)
    def admin_only() -> str:
        return "secret"

    @bp.get("/test/forgotten")
    def forgotten() -> str:  # no access rule: must be refused
        return "oops"

    @bp.get("/test/dukcapil")
    @access.allow(access.EVERYONE, dukcapil_only=True)
    def dukcapil() -> str:
        return "office"

    web_app.register_blueprint(bp)
    return web_app


def test_roles_are_checked_and_refusals_audited(guarded_app, ektp_service) -> None:  # type: ignore[no-untyped-def]
    op = Browser(guarded_app)
    op.login("op1")
    response = op.get("/test/admin-only")
    assert response.status_code == 403 and "secret" not in response.get_data(as_text=True)
    admin = Browser(guarded_app)
    admin.login("adm1")
    assert admin.get("/test/admin-only").get_data(as_text=True) == "secret"
    refused = [a for a in actions(ektp_service) if a[0] == "auth.forbidden"]
    assert refused[0][1] == "op1" and '"role"' in refused[0][2]


def test_a_view_without_an_access_rule_is_refused_to_everyone(guarded_app) -> None:  # type: ignore[no-untyped-def]
    admin = Browser(guarded_app)
    admin.login("adm1")
    assert admin.get("/test/forgotten").status_code == 403


def test_every_page_of_the_ui_declares_who_may_use_it(web_app) -> None:  # type: ignore[no-untyped-def]
    missing = [
        rule.rule
        for rule in web_app.url_map.iter_rules()
        if not rule.rule.startswith("/api/") and access.rule_of(web_app.view_functions[rule.endpoint]) is None
    ]
    assert missing == []


def test_dukcapil_only_pages_at_the_dukcapil_node(guarded_app) -> None:  # type: ignore[no-untyped-def]
    b = Browser(guarded_app)
    b.login("op1")
    assert b.get("/test/dukcapil").status_code == 200  # the minimal profile's node is the Dukcapil office


def test_disabled_and_foreign_accounts_cannot_log_in(web_app, ektp_service) -> None:  # type: ignore[no-untyped-def]
    add_account(ektp_service, "op.off", Role.OPERATOR, active=False)
    b = Browser(web_app)
    b.get("/login")
    response = b.post("/login", {"username": "op.off", "password": PASSWORD})
    assert response.status_code == 403 and "dinonaktifkan" in response.get_data(as_text=True)
    reasons = [a[2] for a in actions(ektp_service) if a[0] == "auth.login_failed"]
    assert '"inactive"' in reasons[-1]
    # An account bound to a kecamatan cannot log in at the Dukcapil office's node.
    add_account(ektp_service, "op.kec", Role.OPERATOR, site_code="17.71.01")
    response = b.post("/login", {"username": "op.kec", "password": PASSWORD})
    assert response.status_code == 403 and "kantor lain" in response.get_data(as_text=True)


@pytest.mark.database
def test_changing_a_password_ends_the_accounts_sessions(browser, web_app) -> None:  # type: ignore[no-untyped-def]
    b = browser("op1")
    node_of(web_app).accounts.change("op1", actor="adm1", password="sandi-baru-123")
    assert b.get("/dashboard").status_code == 302
    b.get("/login")
    assert b.post("/login", {"username": "op1", "password": PASSWORD}).status_code == 401
    assert b.post("/login", {"username": "op1", "password": "sandi-baru-123"}).status_code == 302


@pytest.mark.database
def test_login_attempts_are_rate_limited_per_address(browser, ektp_service) -> None:  # type: ignore[no-untyped-def]
    b = browser(None)
    b.get("/login")
    codes = [b.post("/login", {"username": f"user{n}", "password": "x"}).status_code for n in range(11)]
    assert codes[:10] == [401] * 10 and codes[10] == 429
    assert any('"rate_limited"' in a[2] for a in actions(ektp_service) if a[0] == "auth.forbidden")


def test_security_headers_and_cookie_flags(ektp_service, ektp_host) -> None:  # type: ignore[no-untyped-def]
    from ektp_plugins.web.ui import create_app

    add_account(ektp_service, "op1", Role.OPERATOR)
    app = create_app(ektp_service, ektp_host)  # the default: Secure cookies
    response = app.test_client().get("/login")
    headers = response.headers
    assert "script-src 'self'" in headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Cache-Control"] == "no-store"
    cookie = headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Secure" in cookie


def test_the_ui_speaks_indonesian_first_and_english_on_request(browser) -> None:  # type: ignore[no-untyped-def]
    b = browser(None)
    assert "Kata sandi" in b.get("/login").get_data(as_text=True)
    assert "Password" in b.get("/login", headers={"Accept-Language": "en-GB,en;q=0.9"}).get_data(as_text=True)
    b.post("/language", {"language": "en", "next": "/login"})
    assert "Password" in b.get("/login").get_data(as_text=True)
    b.post("/language", {"language": "xx", "next": "/login"})  # unknown: ignored
    assert "Password" in b.get("/login").get_data(as_text=True)


def test_a_plugins_pages_join_the_app_under_the_same_rules(
    ektp_service,
    ektp_host,  # type: ignore[no-untyped-def]
    ektp_register_plugin,
) -> None:
    from ektp_plugins.web.ui import create_app

    from ektp_core import hookimpl

    stock = Blueprint("stock", __name__, url_prefix="/stok")

    @stock.get("/")
    @access.allow(access.SUPERVISORS)
    def stock_page() -> str:
        return "stok blangko"

    @stock.get("/open")
    def undeclared() -> str:
        return "no rule"

    class StockPlugin:
        @hookimpl
        def ektp_register_blueprints(self, registry):  # type: ignore[no-untyped-def]
            registry.add("stock", stock)

    ektp_register_plugin(StockPlugin(), "stock")
    add_account(ektp_service, "spv1", Role.SUPERVISOR)
    add_account(ektp_service, "op1", Role.OPERATOR)
    app = create_app(ektp_service, ektp_host)
    app.config["SESSION_COOKIE_SECURE"] = False
    supervisor, operator = Browser(app), Browser(app)
    supervisor.login("spv1")
    operator.login("op1")
    assert supervisor.get("/stok/").get_data(as_text=True) == "stok blangko"
    assert operator.get("/stok/").status_code == 403
    assert supervisor.get("/stok/open").status_code == 403


def test_the_node_serves_a_real_icon_and_every_page_links_it(browser) -> None:  # type: ignore[no-untyped-def]
    """Guards issue 14 defect 12: /favicon.ico was a 404 on every page. It is an ICO image served to
    anyone (it holds nothing personal), and the pages link it."""
    from io import BytesIO

    from PIL import Image

    b = browser(None)
    response = b.get("/favicon.ico")
    assert response.status_code == 200
    icon = Image.open(BytesIO(response.data))
    assert icon.format == "ICO" and icon.size[0] >= 16
    page = b.get("/login").get_data(as_text=True)
    assert 'rel="icon" href="/static/favicon.ico"' in page
    assert b.get("/static/favicon.ico").status_code == 200


def test_a_form_sent_after_the_session_ended_asks_to_log_in_again(browser, ektp_service) -> None:  # type: ignore[no-untyped-def]
    """Guards issue 14 defect 7 on the server: a form sent after a logout in another tab answered
    "400 ... (token CSRF)". It is still refused, audited and nothing of it is kept on the server, but
    the operator is sent to log in again and back to the form's page (the browser keeps the values)."""
    from recordkit import biodata_form

    from ektp_core.store.tables import enrolments

    desk = browser("op1")
    desk.get("/record/new")
    other_tab = Browser(desk.app)
    other_tab.client = desk.client  # the same browser: one cookie for both tabs
    other_tab.post("/logout", {"csrf_token": desk.csrf})
    sent = desk.client.post(
        "/record/new",
        data={**biodata_form(), "csrf_token": desk.csrf, "draft": "d" * 32},
        headers={"Referer": "http://localhost/record/new"},
    )
    assert sent.status_code == 303
    assert sent.headers["Location"] == "/login?next=/record/new"
    login_page = desk.get(sent.headers["Location"]).get_data(as_text=True)
    assert "Sesi Anda berakhir sebelum formulir terkirim" in login_page
    with ektp_service.store.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(enrolments)).scalar_one() == 0
    assert [a for a in actions(ektp_service) if a[0] == "auth.forbidden" and '"csrf"' in a[2]]
    # A Referer from elsewhere is not followed: back to the dashboard after the login.
    elsewhere = desk.client.post(
        "/blanks/spoil", data={"csrf_token": "x"}, headers={"Referer": "https://evil.example/x"}
    )
    assert elsewhere.status_code == 303 and elsewhere.headers["Location"] == "/login?next=/dashboard"
    # Logged in with a wrong token it stays a plain refusal.
    again = browser("op1")
    assert again.post("/blanks/spoil", {"csrf_token": "forged"}).status_code == 400


def test_a_pages_script_asking_after_the_logout_does_not_use_up_the_notice(browser) -> None:  # type: ignore[no-untyped-def]
    """The dashboard's device list is fetched after the page loads: when the logout comes first, that
    request gets a 401 in JSON, not a redirect to the login page whose rendering would consume the
    "Anda telah keluar." notice (seen in CI: the login page then showed no notice)."""
    b = browser("op1")
    assert b.post("/logout").status_code == 302
    late = b.client.get("/dashboard/devices", headers={"Accept": "application/json"})
    assert late.status_code == 401 and late.get_json()["error"]["code"] == "login_required"
    assert "Anda telah keluar." in b.get("/login").get_data(as_text=True)
    # A person's own navigation is still sent to the login form.
    assert b.get("/dashboard").status_code == 302
