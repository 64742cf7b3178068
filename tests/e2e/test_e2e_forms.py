"""Behaviour every form of the UI shares, in a real browser: the confirmation dialog and the
double-submit protection (static/ektp.js)."""

from __future__ import annotations

from typing import Any

from webkit import PASSWORD

from .e2ekit import ServedNode, login, text

SITE = "17.71"


def _receive(node: ServedNode, *serials: str) -> None:
    node.read(lambda lc: lc.receive_blanks(SITE, list(serials), actor="spv1", note="e2e"))


def test_a_cancelled_confirmation_leaves_the_button_usable_and_a_confirmed_one_sends_once(
    page: Any, node: ServedNode
) -> None:
    """Guards issue 14 defect 1: cancelling a form's confirmation (spoiling a blank here; the same
    script serves sending a recording, spoiling a printed card and adjudicating) disabled the button
    until the page was reloaded. Confirmed, the form must still be sent once for a double click."""
    _receive(node, "E2E-CONF-0001")
    spoiled = node.read(lambda lc: lc.ledger(SITE).spoiled)  # the module's node: counted as a difference
    login(page, node.url, "op1")
    page.goto(f"{node.url}/blanks")
    page.fill("#serial", "E2E-CONF-0001")
    page.fill("#reason", "tergores")
    button = page.locator("#spoil-form button[type=submit]")

    asked: list[str] = []

    def dismiss(dialog: Any) -> None:
        asked.append(dialog.message)
        dialog.dismiss()

    page.once("dialog", dismiss)
    button.click()
    page.wait_for_timeout(300)  # the protection acts after the submit event: give it its turn
    assert asked, "no confirmation was asked"
    assert button.is_enabled(), "the button stayed disabled after the confirmation was cancelled"
    assert page.url.endswith("/blanks")
    assert node.read(lambda lc: lc.ledger(SITE).spoiled) == spoiled

    # Confirmed (and clicked twice): sent once, the blank spoiled once.
    page.on("dialog", lambda dialog: dialog.accept())
    with page.expect_navigation():
        button.dblclick()
    page.wait_for_load_state()
    assert node.read(lambda lc: lc.ledger(SITE).spoiled) == spoiled + 1
    assert page.locator(".flash.ok").count() == 1
    assert page.locator(".flash.error").count() == 0, page.inner_text("main")


def _kept(page: Any) -> list[str]:
    return list(page.evaluate("Object.keys(sessionStorage).filter((k) => k.startsWith('ektp.keep.'))"))


def test_a_session_ended_mid_form_keeps_the_typed_biodata_through_the_login(new_page: Any, node: ServedNode) -> None:
    """Guards issue 14 defect 7: a logout in another tab while the biodata form was being typed lost
    it all with "400 ... (token CSRF)". The operator logs in again and finds the form as they left
    it (kept in this tab's sessionStorage only, forgotten once the form is accepted)."""
    from .flows import RESIDENT, fill_biodata

    desk = new_page()
    login(desk, node.url, "op1")
    desk.goto(f"{node.url}/record/new")
    fill_biodata(desk, RESIDENT)
    other_tab = desk.context.new_page()  # the same browser: the same session cookie
    other_tab.goto(f"{node.url}/dashboard")
    with other_tab.expect_navigation():
        other_tab.click("form[data-logout] button[type=submit]")
    other_tab.close()

    with desk.expect_navigation():
        desk.click("#save-biodata")
    assert "/login" in desk.url, desk.url
    assert text("auth.session_ended_form") in desk.inner_text("main")
    assert _kept(desk) == ["ektp.keep.biodata"]
    desk.fill("#username", "op1")
    desk.fill("#password", PASSWORD)
    with desk.expect_navigation():
        desk.click("form button.primary[type=submit]")
    assert desk.url.endswith("/record/new"), desk.url
    for field in ("nik", "nama", "tempat_lahir", "tanggal_lahir", "alamat", "rt", "rw", "kelurahan"):
        assert desk.input_value(f"#f-{field}") == RESIDENT[field], field
    assert desk.input_value("#f-agama") == RESIDENT["agama"]
    assert desk.inner_text("#restored").strip() == text("rec.restored_after_login")
    assert _kept(desk) == []  # back in the form: the copy is gone
    with desk.expect_navigation():
        desk.click("#save-biodata")
    assert "/step/" in desk.url, desk.url
    assert _kept(desk) == []


def test_logging_out_in_the_same_tab_forgets_what_was_kept(page: Any, node: ServedNode) -> None:
    """The kept biodata is cleared by a logout of the tab that kept it (defect 7's other half)."""
    login(page, node.url, "op1")
    page.goto(f"{node.url}/record/new")
    page.evaluate("sessionStorage.setItem('ektp.keep.biodata', JSON.stringify({user: 'op1', values: {nama: 'X'}}))")
    with page.expect_navigation():
        page.click("form[data-logout] button[type=submit]")
    assert _kept(page) == []
    # Nor does another account get somebody else's typing back.
    login(page, node.url, "op1")
    page.goto(f"{node.url}/record/new")
    page.evaluate("sessionStorage.setItem('ektp.keep.biodata', JSON.stringify({user: 'spv1', values: {nama: 'X'}}))")
    page.reload()
    assert page.input_value("#f-nama") == "" and _kept(page) == []
    page.evaluate("sessionStorage.setItem('ektp.keep.biodata', JSON.stringify({user: 'op1', values: {nama: 'X'}}))")
    page.reload()
    assert page.input_value("#f-nama") == "X"  # the same account does
