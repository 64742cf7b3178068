"""Accounts and roles in the web UI: create (duplicates and weak passwords refused), role change
(ends that account's sessions), password reset, disable/enable, unlock, and no self-demotion."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from webkit import PASSWORD, Browser

from ektp_core.domain.model import Role
from ektp_core.lifecycle.service import LifecycleService
from ektp_core.store.tables import audit_log, operators

NEW_PASSWORD = "Blangko-2024!"


def account(lc: LifecycleService, username: str) -> sa.Row | None:  # type: ignore[type-arg]
    with lc.store.read() as conn:
        return conn.execute(sa.select(operators).where(operators.c.username == username)).first()


def count_accounts(lc: LifecycleService) -> int:
    with lc.store.read() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(operators)).scalar_one())


def create(b: Browser, **overrides: str):  # type: ignore[no-untyped-def]
    form = {
        "username": "op.baru",
        "full_name": "Operator Baru",
        "role": "operator",
        "site_code": "17.71",
        "password": NEW_PASSWORD,
        "password_again": NEW_PASSWORD,
    }
    form.update(overrides)
    return b.post("/admin/accounts/new", form)


def test_create_an_account_that_can_log_in(browser, web_app, ektp_service) -> None:  # type: ignore[no-untyped-def]
    b = browser("adm1")
    response = create(b)
    assert response.status_code == 302
    assert "op.baru" in b.get("/admin/accounts").get_data(as_text=True)
    row = account(ektp_service, "op.baru")
    assert row is not None and row.role == "operator" and row.site_code == "17.71"
    assert NEW_PASSWORD not in row.password_hash
    with ektp_service.store.read() as conn:
        created = conn.execute(
            sa.select(audit_log.c.actor)
            .where(audit_log.c.action == "operator.created")
            .where(audit_log.c.subject_id == "op.baru")
        ).all()
    assert [c.actor for c in created] == ["adm1"]
    Browser(web_app).login("op.baru", NEW_PASSWORD)


@pytest.mark.database
def test_a_duplicate_username_is_refused_and_nothing_changes(browser, ektp_service) -> None:  # type: ignore[no-untyped-def]
    b = browser("adm1")
    before = count_accounts(ektp_service)
    response = create(b, username="op1", full_name="Someone Else")
    assert response.status_code == 409
    html = response.get_data(as_text=True)
    assert "sudah dipakai" in html and 'value="Someone Else"' in html  # the form keeps what was typed
    assert NEW_PASSWORD not in html  # ...but never the password
    assert count_accounts(ektp_service) == before
    assert account(ektp_service, "op1").full_name != "Someone Else"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("password", "again", "message"),
    [
        ("pendek1!", "pendek1!", "terlalu pendek"),
        ("katasandi", "katasandi", "terlalu pendek"),
        ("Password!!", "Password!!", "mudah ditebak"),
        ("aaaaaaaaaaaa", "aaaaaaaaaaaa", "mudah ditebak"),
        ("op.baru-2024xx", "op.baru-2024xx", "nama pengguna"),
        ("hanyahurufsaja", "hanyahurufsaja", "mencampur huruf"),
        (NEW_PASSWORD, NEW_PASSWORD + "x", "tidak sama"),
    ],
)
def test_a_weak_or_mistyped_password_is_refused(browser, ektp_service, password, again, message) -> None:  # type: ignore[no-untyped-def]
    response = create(browser("adm1"), password=password, password_again=again)
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)
    assert account(ektp_service, "op.baru") is None


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("username", "X", "Nama pengguna tidak sah"),
        ("role", "root", "Peran tidak dikenal"),
        ("site_code", "99.99", "tidak ada dalam profil"),
        ("full_name", "", "Isi semua kolom"),
    ],
)
def test_bad_account_fields_are_refused(browser, ektp_service, field, value, message) -> None:  # type: ignore[no-untyped-def]
    before = count_accounts(ektp_service)
    response = create(browser("adm1"), **{field: value})
    assert response.status_code == 400 and message in response.get_data(as_text=True)
    assert count_accounts(ektp_service) == before


def test_a_role_change_logs_that_account_out(browser, ektp_service) -> None:  # type: ignore[no-untyped-def]
    operator = browser("op1")
    assert operator.get("/dashboard").status_code == 200
    admin = browser("adm1")
    response = admin.post("/admin/accounts/op1/role", {"role": "supervisor"})
    assert response.status_code == 302
    assert "op1 sekarang" in admin.get("/admin/accounts").get_data(as_text=True)
    assert account(ektp_service, "op1").role == "supervisor"  # type: ignore[union-attr]
    again = operator.get("/dashboard")
    assert again.status_code == 302 and again.headers["Location"].startswith("/login")
    # Logging in again gives the new rights.
    relogged = browser("op1")
    assert relogged.get("/adjudication").status_code == 200


def test_an_admin_cannot_demote_or_disable_themselves(browser, ektp_service) -> None:  # type: ignore[no-untyped-def]
    b = browser("adm1")
    for path, form in (
        ("/admin/accounts/adm1/role", {"role": "operator"}),
        ("/admin/accounts/adm1/active", {"active": "0"}),
    ):
        response = b.post(path, form)
        assert response.status_code == 302
        assert "akun Anda sendiri" in b.get("/admin/accounts").get_data(as_text=True)
    row = account(ektp_service, "adm1")
    assert row.role == Role.ADMIN.value and row.active  # type: ignore[union-attr]
    assert b.get("/admin").status_code == 200  # still logged in, still an admin


@pytest.mark.database
def test_disable_ends_the_sessions_and_enable_lets_it_back(browser, web_app, ektp_service) -> None:  # type: ignore[no-untyped-def]
    operator = browser("op1")
    admin = browser("adm1")
    admin.post("/admin/accounts/op1/active", {"active": "0"})
    assert account(ektp_service, "op1").active is False  # type: ignore[union-attr]
    assert operator.get("/dashboard").status_code == 302
    b = Browser(web_app)
    b.get("/login")
    assert b.post("/login", {"username": "op1", "password": PASSWORD}).status_code == 403
    admin.post("/admin/accounts/op1/active", {"active": "1"})
    Browser(web_app).login("op1")


def test_password_reset_needs_a_strong_password_and_ends_sessions(browser, web_app, ektp_service) -> None:  # type: ignore[no-untyped-def]
    operator = browser("op1")
    admin = browser("adm1")
    admin.post("/admin/accounts/op1/password", {"password": "lemah", "password_again": "lemah"})
    assert "tidak diubah" in admin.get("/admin/accounts").get_data(as_text=True)
    assert operator.get("/dashboard").status_code == 200  # nothing changed
    admin.post("/admin/accounts/op1/password", {"password": NEW_PASSWORD, "password_again": NEW_PASSWORD})
    assert operator.get("/dashboard").status_code == 302
    Browser(web_app).login("op1", NEW_PASSWORD)


@pytest.mark.database
def test_unlock_after_five_wrong_passwords(browser, web_app, ektp_service) -> None:  # type: ignore[no-untyped-def]
    intruder = Browser(web_app)
    intruder.get("/login")
    for _ in range(5):
        assert intruder.post("/login", {"username": "op1", "password": "salah-salah"}).status_code == 401
    assert intruder.post("/login", {"username": "op1", "password": PASSWORD}).status_code == 403  # locked
    admin = browser("adm1")
    html = admin.get("/admin/accounts").get_data(as_text=True)
    row = html[html.index('data-account="op1"') :]
    row = row[: row.index("</tr>")]
    assert "data-locked" in row and "/admin/accounts/op1/unlock" in row
    assert admin.post("/admin/accounts/op1/unlock").status_code == 302
    assert "Kunci login op1 dibuka" in admin.get("/admin/accounts").get_data(as_text=True)
    Browser(web_app).login("op1")
    admin.post("/admin/accounts/op1/unlock")
    assert "tidak sedang terkunci" in admin.get("/admin/accounts").get_data(as_text=True)


def test_changing_an_unknown_account_says_so(browser) -> None:  # type: ignore[no-untyped-def]
    b = browser("adm1")
    b.post("/admin/accounts/nobody/role", {"role": "operator"})
    assert "Tidak ada akun nobody" in b.get("/admin/accounts").get_data(as_text=True)
    b.post("/admin/accounts/op1/role", {"role": "root"})
    assert "Peran tidak dikenal" in b.get("/admin/accounts").get_data(as_text=True)


@pytest.mark.ektp_profile("kota-bengkulu-kecamatan", site="17.71.05")
def test_a_site_node_lists_its_accounts_read_only(browser, ektp_service) -> None:  # type: ignore[no-untyped-def]
    b = browser("adm1")
    html = b.get("/admin/accounts").get_data(as_text=True)
    assert 'data-account="op1"' in html and "/admin/accounts/new" not in html and "/role" not in html
    assert create(b).status_code == 403
    assert b.post("/admin/accounts/op1/role", {"role": "admin"}).status_code == 403
    assert account(ektp_service, "op.baru") is None and account(ektp_service, "op1").role == "operator"  # type: ignore[union-attr]


def lock_out(web_app, username: str, address: str) -> None:  # type: ignore[no-untyped-def]
    # From an address of its own: the per-address rate limit is not what this test is about.
    intruder = Browser(web_app)
    intruder.get("/login")
    for _ in range(5):
        response = intruder.post(
            "/login", {"username": username, "password": "salah-salah"}, environ_base={"REMOTE_ADDR": address}
        )
        assert response.status_code in (401, 403)


def test_a_supervisor_unlocks_an_operator_of_the_site_but_not_an_admin(browser, web_app) -> None:  # type: ignore[no-untyped-def]
    supervisor = browser("spv1")
    lock_out(web_app, "op1", "10.0.0.1")
    lock_out(web_app, "adm1", "10.0.0.2")
    html = supervisor.get("/admin/locked").get_data(as_text=True)
    assert 'data-account="op1"' in html and 'data-account="adm1"' not in html
    supervisor.post("/admin/accounts/op1/unlock")
    assert "Kunci login op1 dibuka" in supervisor.get("/admin/locked").get_data(as_text=True)
    Browser(web_app).login("op1")
    supervisor.post("/admin/accounts/adm1/unlock")
    b = Browser(web_app)
    b.get("/login")
    assert b.post("/login", {"username": "adm1", "password": PASSWORD}).status_code == 403  # still locked
    assert browser("op1").get("/admin/locked").status_code == 403
