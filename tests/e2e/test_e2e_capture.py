"""What only a browser shows of the capture steps: the signature pad's script (the live preview, which
needs the desk's SBI emulator, is in test_e2e_flow.py with the regency's other test)."""

from __future__ import annotations

from typing import Any

from .e2ekit import ServedNode, login, text
from .flows import save_biodata


def test_saving_an_empty_signature_pad_says_the_pad_is_empty(page: Any, node: ServedNode) -> None:
    """Guards issue 14 defect 6: saving the pad with nothing drawn said "choose an image file first"."""
    login(page, node.url, "op1")
    enrolment_id = save_biodata(page, node.url)
    page.goto(f"{node.url}/record/{enrolment_id}/step/signature")
    assert page.locator("canvas.sig-pad").is_visible()
    with page.expect_navigation():
        page.click("form[data-signature] button[type=submit]")
    assert page.locator(".flash.error").inner_text().strip() == text("rec.sig_pad_empty")
