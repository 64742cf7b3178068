"""Behaviour every form of the UI shares, in a real browser: the confirmation dialog and the
double-submit protection (static/ektp.js)."""

from __future__ import annotations

from typing import Any

from .e2ekit import ServedNode, login

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
    assert node.read(lambda lc: lc.ledger(SITE).spoiled) == 0

    # Confirmed (and clicked twice): sent once, the blank spoiled once.
    page.on("dialog", lambda dialog: dialog.accept())
    with page.expect_navigation():
        button.dblclick()
    page.wait_for_load_state()
    assert node.read(lambda lc: lc.ledger(SITE).spoiled) == 1
    assert page.locator(".flash.ok").count() == 1
    assert page.locator(".flash.error").count() == 0, page.inner_text("main")
