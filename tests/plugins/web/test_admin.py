"""Administration in the web UI: access, sites and join codes, devices, profile and plugins, the audit log."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from ektp_core.lifecycle.service import LifecycleService
from ektp_core.store.tables import audit_log, join_codes


def forbidden(lc: LifecycleService) -> list[tuple[str, str]]:
    with lc.store.read() as conn:
        rows = conn.execute(
            sa.select(audit_log.c.actor, audit_log.c.detail)
            .where(audit_log.c.action == "auth.forbidden")
            .order_by(audit_log.c.seq)
        ).all()
    return [(r.actor, r.detail) for r in rows]


@pytest.mark.parametrize("path", ["/admin", "/admin/accounts", "/admin/devices", "/admin/audit"])
def test_an_operator_or_supervisor_gets_403_and_it_is_audited(browser, ektp_service, path) -> None:  # type: ignore[no-untyped-def]
    for username in ("op1", "spv1"):
        assert browser(username).get(path).status_code == 403
    refused = forbidden(ektp_service)
    assert [actor for actor, _ in refused] == ["op1", "spv1"]
    assert all(path in detail and "role" in detail for _, detail in refused)


def test_an_admin_posting_without_the_csrf_token_is_refused(browser, ektp_service) -> None:  # type: ignore[no-untyped-def]
    b = browser("adm1")
    assert b.post("/admin/sites/17.71/join-code", csrf=False).status_code == 400
    with ektp_service.store.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(join_codes)).scalar_one() == 0


def test_overview_shows_sites_profile_and_plugins(browser, ektp_deployment) -> None:  # type: ignore[no-untyped-def]
    html = browser("adm1").get("/admin").get_data(as_text=True)
    assert 'data-site="17.71"' in html and "node ini" in html
    assert ektp_deployment.profile.title in html and str(ektp_deployment.profile.source) in html
    assert 'data-status="loaded"' in html
    # The Dukcapil office does not join itself: no join code for its own site.
    assert "/admin/sites/17.71/join-code" not in html


def test_plugins_that_failed_show_their_error(browser, web_app) -> None:  # type: ignore[no-untyped-def]
    from ektp_plugins.web.ui.app import node

    with web_app.app_context():
        host = node().host
    info = next(iter(host._infos.values()))
    original = (info.status, info.error)
    host._infos[info.name] = type(info)(
        **{
            **info.as_dict(),
            "hooks": tuple(info.hooks),
            "status": "failed",
            "error": "ImportError: no module named kartu",
        }
    )
    try:
        html = browser("adm1").get("/admin").get_data(as_text=True)
    finally:
        host._infos[info.name] = type(info)(
            **{**info.as_dict(), "hooks": tuple(info.hooks), "status": original[0], "error": original[1]}
        )
    assert f'data-plugin="{info.name}" data-status="failed"' in html
    assert "ImportError: no module named kartu" in html and "gagal dimuat" in html


@pytest.mark.ektp_profile("kota-bengkulu")
def test_a_join_code_is_shown_once_and_only_its_hash_is_kept(browser, ektp_service) -> None:  # type: ignore[no-untyped-def]
    b = browser("adm1")
    overview = b.get("/admin").get_data(as_text=True)
    site = re.search(r'action="/admin/sites/([0-9.]+)/join-code"', overview).group(1)  # type: ignore[union-attr]
    response = b.post(f"/admin/sites/{site}/join-code")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    code = re.search(r'<p class="code"><code>([0-9A-F-]+)</code>', html).group(1)  # type: ignore[union-attr]
    assert len(code) == 27 and response.headers["Cache-Control"] == "no-store"
    assert code not in b.get("/admin").get_data(as_text=True)
    with ektp_service.store.read() as conn:
        rows = conn.execute(sa.select(join_codes)).all()
        audited = conn.execute(sa.select(audit_log.c.actor).where(audit_log.c.action == "sync.join_code")).all()
    assert len(rows) == 1 and rows[0].site_code == site and code not in rows[0].code_hash
    assert [a.actor for a in audited] == ["adm1"]
    # An unknown site, or the Dukcapil office itself, gets no code.
    assert b.post("/admin/sites/99.99/join-code").status_code == 404
    dukcapil = ektp_service.deployment.profile.dukcapil_code
    assert b.post(f"/admin/sites/{dukcapil}/join-code").status_code == 404


@pytest.mark.ektp_profile("kota-bengkulu-kecamatan", site="17.71.05")
def test_join_codes_are_made_only_at_the_dukcapil_node(browser, ektp_service) -> None:  # type: ignore[no-untyped-def]
    b = browser("adm1")
    html = b.get("/admin").get_data(as_text=True)
    assert "join-code" not in html
    response = b.post("/admin/sites/17.71.05/join-code")
    assert response.status_code == 403
    assert any("not_dukcapil" in detail for _, detail in forbidden(ektp_service))


def test_devices_are_listed_and_checked_now(browser) -> None:  # type: ignore[no-untyped-def]
    b = browser("adm1")
    html = b.get("/admin/devices").get_data(as_text=True)
    names = re.findall(r'<tr data-device="([^"]+)">', html)
    assert names, html
    response = b.post("/admin/devices", {"kind": "printer", "name": names[0]})
    assert response.status_code == 200
    assert 'id="check-result"' in response.get_data(as_text=True)
    missing = b.post("/admin/devices", {"kind": "printer", "name": "no-such-printer"})
    assert missing.status_code == 404 and "tidak ada di lokasi ini" in missing.get_data(as_text=True)


def test_audit_log_filters_by_action_and_verifies_the_chain(browser, ektp_service) -> None:  # type: ignore[no-untyped-def]
    browser("op1").get("/admin")  # one refusal to find
    b = browser("adm1")
    html = b.get("/admin/audit?action=auth.forbidden").get_data(as_text=True)
    actions = set(re.findall(r'<tr data-action="([^"]+)">', html))
    assert actions == {"auth.forbidden"}
    family = set(re.findall(r'<tr data-action="([^"]+)">', b.get("/admin/audit?action=auth.").get_data(as_text=True)))
    assert {"auth.forbidden", "auth.login"} <= family and all(a.startswith("auth.") for a in family)
    limited = b.get("/admin/audit?limit=2").get_data(as_text=True)
    assert len(re.findall(r"<tr data-action=", limited)) == 2
    assert b.get("/admin/audit?limit=lots").status_code == 200
    verified = b.post("/admin/audit", {"action": ""}).get_data(as_text=True)
    assert 'id="verify-result"' in verified and "Log audit utuh" in verified


@pytest.mark.database
def test_a_broken_audit_chain_is_reported(browser, ektp_service) -> None:  # type: ignore[no-untyped-def]
    b = browser("adm1")
    store = ektp_service.store
    with store.write() as conn:  # someone with raw access drops the database's guard first
        if store.dialect == "sqlite":
            conn.exec_driver_sql("DROP TRIGGER audit_log_no_update")
        else:
            conn.exec_driver_sql("DROP TRIGGER audit_log_append_only ON audit_log")
        conn.execute(audit_log.update().where(audit_log.c.seq == 1).values(actor="mallory"))
    html = b.post("/admin/audit", {}).get_data(as_text=True)
    assert "RUSAK pada entri 1" in html


def test_the_pages_read_in_english_too(browser) -> None:  # type: ignore[no-untyped-def]
    b = browser("adm1")
    b.post("/language", {"language": "en", "next": "/admin"})
    assert "Administration" in b.get("/admin").get_data(as_text=True)
    assert "Accounts &amp; roles" in b.get("/admin/accounts").get_data(as_text=True)
    assert "Verify the chain" in b.get("/admin/audit").get_data(as_text=True)


def test_a_device_that_fails_shows_its_error_not_a_crash(browser, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from ektp_plugins.web.ui import admin

    def unplugged(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise OSError("printer not found on USB")

    monkeypatch.setattr(admin, "make_printer", unplugged)
    b = browser("adm1")
    name = re.findall(r'<tr data-device="([^"]+)"><td>Printer', b.get("/admin/devices").get_data(as_text=True))[0]
    response = b.post("/admin/devices", {"kind": "printer", "name": name})
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "printer not found on USB" in html and 'class="flash error"' in html
