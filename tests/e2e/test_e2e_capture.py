"""What only a browser shows of the capture steps: the signature pad's script and the live preview."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect

from .e2ekit import ServedNode, login, text
from .flows import RESIDENT, capture_step, fill_biodata
from .regency import Regency


def _start(page: Any, base_url: str) -> str:
    """Save the biodata of a new recording; the enrolment's id."""
    page.goto(f"{base_url}/record/new")
    fill_biodata(page, RESIDENT)
    with page.expect_navigation():
        page.click("#save-biodata")
    return str(page.url.split("/record/", 1)[1].split("/", 1)[0])


def test_saving_an_empty_signature_pad_says_the_pad_is_empty(page: Any, node: ServedNode) -> None:
    """Guards issue 14 defect 6: saving the pad with nothing drawn said "choose an image file first"."""
    login(page, node.url, "op1")
    enrolment_id = _start(page, node.url)
    page.goto(f"{node.url}/record/{enrolment_id}/step/signature")
    assert page.locator("canvas.sig-pad").is_visible()
    with page.expect_navigation():
        page.click("form[data-signature] button[type=submit]")
    assert page.locator(".flash.error").inner_text().strip() == text("rec.sig_pad_empty")


_BROKEN = "img => img.checkVisibility() && img.complete && img.naturalWidth === 0"


def test_the_live_preview_never_shows_a_broken_image(page: Any, regency: Regency) -> None:
    """Guards issue 14 defect 4: the preview box on the photo and finger steps showed a broken-image
    icon (an <img> without a source) before the preview was started, after every capture. It shows a
    note until the operator asks for the stream, then the device's frames."""
    base = regency.kecamatan.url
    login(page, base, "op.kampung-melayu")
    enrolment_id = _start(page, base)
    for step in ("face", "finger"):
        page.goto(f"{base}/record/{enrolment_id}/step/{step}")
        capture_step(page)  # the page after a capture, as the operator saw it
        preview = page.locator(".rec-preview").first
        img = preview.locator("img[data-preview]")
        assert not img.evaluate(_BROKEN), f"a broken image on the {step} step"
        assert preview.locator("[data-preview-idle]").inner_text().strip() == text("rec.preview_idle")
        preview.locator("[data-preview-start]").click()
        # The SBI emulator's STREAM frames arrive: a real picture, and the note gives way.
        page.wait_for_function("img => img.naturalWidth > 0", arg=img.element_handle(), timeout=20_000)
        assert img.is_visible() and not img.evaluate(_BROKEN)
        assert not preview.locator("[data-preview-idle]").is_visible()
    # A stream the node cannot give (here an address it does not serve: a 404) leaves no broken
    # image either, but a note that capturing still works.
    img.evaluate("img => { img.dataset.preview = img.dataset.preview + '-none'; }")
    preview.locator("[data-preview-start]").click()
    idle = preview.locator("[data-preview-idle]")
    expect(idle).to_have_text(text("rec.preview_failed"))
    assert img.is_hidden() and not img.evaluate(_BROKEN)
