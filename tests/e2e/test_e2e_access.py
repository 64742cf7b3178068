"""In a real browser against a served node: logging in and out, the language switch, and the refusals
(a wrong password, a form without its CSRF token, an operator at a supervisor's or admin's page)."""

from __future__ import annotations

from typing import Any

from webkit import PASSWORD

from .e2ekit import ServedNode, login, text


def _refusals(node: ServedNode, actor: str = "-") -> list[tuple[str, str]]:
    """(path, reason) of the node's audited refusals of ``actor`` ("-": nobody logged in)."""
    return [(e.detail["what"], e.detail["reason"]) for e in node.audit("auth.forbidden") if e.actor == actor]


def _error(page: Any) -> str:
    return str(page.inner_text("#error-message")).strip()


def test_login_page_is_indonesian_first_and_switches_to_english(page: Any, node: ServedNode) -> None:
    page.goto(f"{node.url}/login")
    assert page.get_attribute("html", "lang") == "id"
    assert page.inner_text("h1").strip() == text("auth.title")
    # The username field has the focus: an operator types at once.
    assert page.evaluate("document.activeElement.id") == "username"

    with page.expect_navigation():
        page.select_option("#language", "en")
    assert page.get_attribute("html", "lang") == "en"
    assert page.inner_text("h1").strip() == text("auth.title", "en")
    assert page.url.endswith("/login")

    # The language chosen before the login stays after it.
    login(page, node.url, "op1")
    assert page.url.endswith("/dashboard")
    assert page.get_attribute("html", "lang") == "en"
    assert text("nav.logout", "en") in page.inner_text("header")


def test_login_sets_a_strict_http_only_secure_session_cookie(page: Any, node: ServedNode) -> None:
    login(page, node.url, "op1")
    assert page.url.endswith("/dashboard")
    cookie = next(c for c in page.context.cookies() if c["name"] == "ektp_session")
    # Chromium keeps a Secure cookie on http://127.0.0.1 (a secure context), so the node's default
    # (secure cookies) works here without [web] secure_cookies = false.
    assert cookie["httpOnly"] and cookie["secure"] and cookie["sameSite"] == "Strict"
    assert page.evaluate("document.cookie") == ""  # scripts cannot read it


def test_wrong_password_is_refused_with_a_message(page: Any, node: ServedNode) -> None:
    page.goto(f"{node.url}/login")
    page.fill("#username", "op1")
    page.fill("#password", "bukan-kata-sandinya")
    with page.expect_navigation() as navigation:
        page.click("form button.primary[type=submit]")
    assert navigation.value.status == 401
    assert page.inner_text("#login-error").strip() == text("auth.bad_credentials")
    assert page.locator("nav.menu").count() == 0
    # Still not logged in: the dashboard sends back to the login form.
    page.goto(f"{node.url}/dashboard")
    assert "/login" in page.url
    assert page.locator("#username").is_visible()


def test_a_form_without_its_csrf_token_is_refused(page: Any, node: ServedNode) -> None:
    page.goto(f"{node.url}/login")
    page.fill("#username", "op1")
    page.fill("#password", PASSWORD)
    page.evaluate("document.querySelector('form.stack input[name=csrf_token]').remove()")
    with page.expect_navigation() as navigation:
        page.click("form button.primary[type=submit]")
    assert navigation.value.status == 400
    assert _error(page) == text("errors.csrf")
    page.goto(f"{node.url}/dashboard")
    assert "/login" in page.url, "a login without its CSRF token must not log in"
    assert ("/login", "csrf") in _refusals(node)

    # Logged in, a logout form whose token was swapped for another is refused too: the session stays.
    login(page, node.url, "op1")
    page.evaluate("document.querySelector('form[action=\"/logout\"] input[name=csrf_token]').value = 'forged'")
    with page.expect_navigation() as navigation:
        page.click("form[action='/logout'] button[type=submit]")
    assert navigation.value.status == 400
    assert _error(page) == text("errors.csrf")
    page.goto(f"{node.url}/dashboard")
    assert page.url.endswith("/dashboard")
    assert page.locator("nav.menu").is_visible()
    assert ("/logout", "csrf") in _refusals(node, "op1")


def test_an_operator_is_refused_the_supervisors_and_admins_pages(page: Any, node: ServedNode) -> None:
    login(page, node.url, "op1")
    menu = page.inner_text("nav.menu")
    assert text("nav.adjudication") not in menu and text("nav.admin") not in menu
    for path in ("/adjudication", "/admin"):
        response = page.goto(f"{node.url}{path}")
        assert response.status == 403, path
        assert _error(page) == text("errors.forbidden")
    # The refusals are in the audit log, under the operator's name.
    refused = _refusals(node, "op1")
    assert ("/adjudication", "role") in refused and ("/admin", "role") in refused


def test_a_supervisor_and_an_admin_open_their_pages(new_page: Any, node: ServedNode) -> None:
    supervisor = new_page()
    login(supervisor, node.url, "spv1")
    assert supervisor.goto(f"{node.url}/adjudication").status == 200
    assert text("nav.adjudication") in supervisor.inner_text("nav.menu")
    admin = new_page()
    login(admin, node.url, "adm1")
    assert admin.goto(f"{node.url}/admin").status == 200
    assert text("nav.admin") in admin.inner_text("nav.menu")


def test_after_logout_the_back_button_does_not_show_the_dashboard(page: Any, node: ServedNode) -> None:
    login(page, node.url, "op1")
    assert page.url.endswith("/dashboard")
    with page.expect_navigation():
        page.click("form[action='/logout'] button[type=submit]")
    assert page.url.endswith("/login")
    assert text("auth.logged_out") in page.inner_text("main")

    page.go_back()
    page.wait_for_load_state()
    # The dashboard is never kept by the browser (no-store) and the session ended on the server: the
    # browser asks again and lands on the login form.
    assert "/login" in page.url
    assert page.locator("nav.menu").count() == 0
    assert page.locator("#username").is_visible()
