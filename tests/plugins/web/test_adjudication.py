"""Adjudication in the web UI: who may open it where (the queue and deciding against the central-system
emulator as its own process: tests/integration/web/test_adjudication_central.py)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from ektp_core.store.tables import audit_log


def test_an_operator_is_refused_and_it_is_audited(browser, ektp_service) -> None:  # type: ignore[no-untyped-def]
    assert browser("op1").get("/adjudication").status_code == 403
    assert browser("adm1").get("/adjudication").status_code == 403
    with ektp_service.store.read() as conn:
        refused = conn.execute(
            sa.select(audit_log.c.actor, audit_log.c.detail).where(audit_log.c.action == "auth.forbidden")
        ).all()
    assert [r.actor for r in refused] == ["op1", "adm1"] and all("/adjudication" in r.detail for r in refused)


def test_an_empty_queue(browser) -> None:  # type: ignore[no-untyped-def]
    html = browser("spv1").get("/adjudication").get_data(as_text=True)
    assert 'id="empty"' in html


@pytest.mark.ektp_profile("kota-bengkulu-kecamatan", site="17.71.05")
def test_adjudication_is_refused_at_a_site_node(browser, ektp_service) -> None:  # type: ignore[no-untyped-def]
    b = browser("spv1")
    assert b.get("/adjudication").status_code == 403
    assert b.post("/adjudication/x/decide", {"decision": "unique", "note": "n"}).status_code == 403
    with ektp_service.store.read() as conn:
        reasons = conn.execute(sa.select(audit_log.c.detail).where(audit_log.c.action == "auth.forbidden")).scalars()
        assert all("not_dukcapil" in r for r in reasons)
    assert "/adjudication" not in b.get("/dashboard").get_data(as_text=True)
