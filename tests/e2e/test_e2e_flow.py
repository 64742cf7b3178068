"""The whole way of one resident, in the browser, across a regency of processes: an operator at the
kecamatan records her with the desk's simulated devices; the record travels to the Dukcapil node and
is verified by the central-system emulator; a Dukcapil operator prints the card where the profile
says (semi-vertical Kota Bengkulu: at the office) and hands it over after a finger check. The capture
steps' live preview, which needs the desk's SBI emulator, is checked on the same regency (another
resident: a NIK is recorded once; the rest of the capture steps' checks are in test_e2e_capture.py)."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect

from .e2ekit import login, text
from .flows import RESIDENT, capture_step, record_resident, save_biodata, wait_until
from .regency import OFFICE, Regency

#: The record crosses two loops (sync every second, verification every second) on a busy machine.
TRAVEL = 90.0


def _state_on_page(page: Any, url: str) -> str:
    """The enrolment's state as its detail page shows it, or "" while the node does not have it yet
    (the page is then a 404 without a state; waiting on the element would only burn the timeout)."""
    page.goto(url)
    state = page.locator("#current-state")
    if state.count() == 0:
        return ""
    return str(state.inner_text()).strip()


def test_a_resident_is_recorded_verified_printed_and_handed_over(new_page: Any, regency: Regency) -> None:
    desk = new_page()
    login(desk, regency.kecamatan.url, "op.kampung-melayu")
    enrolment_id = record_resident(desk, regency.kecamatan.url)
    assert desk.locator("#sent-state").is_visible()
    # Confirmed: "waiting to be sent" until the sync loop's packet reaches the Dukcapil node, then sent.
    shown = desk.inner_text("#sent-state")
    if desk.get_attribute("#sent-state", "data-waiting") == "true":
        assert text("state.waiting_to_send") in shown
    else:
        assert text("state.SENT_FOR_ENROLLMENT") in shown

    # At the Dukcapil office the record arrives, is verified and its card is queued for printing there.
    office = new_page()
    login(office, regency.office.url, "op1")
    detail = f"{regency.office.url}/enrolments/{enrolment_id}"
    queued = text("state.SENT_FOR_CARD_PRINTING")
    wait_until(
        lambda: _state_on_page(office, detail) == queued,
        timeout=TRAVEL,
        message=f"the enrolment never reached {queued} at the Dukcapil node",
    )
    timeline = office.inner_text("ol.timeline, .timeline")
    assert text("state.PRINT_READY_RECORD") in timeline

    # The print queue of the office holds the card; the operator prints it on the office's printer.
    office.goto(f"{regency.office.url}/print")
    row = office.locator(f"#queue tr:has-text('{RESIDENT['nik']}')")
    assert row.count() == 1
    with office.expect_navigation():
        row.locator("button[name=job]").click()
    assert "/print/runs/" in office.url
    office.wait_for_selector("#run[data-done=true]", timeout=60_000)
    office.reload()
    assert office.locator("#run-failed .flash").count() == 0, office.inner_text("#run")
    assert office.get_attribute("#run-jobs [data-state]", "data-state") == "PRINTED"
    assert office.locator("#run-check [data-mismatch]").count() == 0

    # The card really went through the office's printers: a proof file and the emulated Evolis's card.
    proofs = list((regency.office.root / "proofs").rglob("*.pdf"))
    assert proofs, "no PDF proof of the printed card"
    job = regency.read(regency.office, lambda lc: next(j for j in lc.jobs() if j.enrolment_id == enrolment_id))
    assert job.site_code == OFFICE and job.blank_serial
    emulated = regency.office.root / "emulated-evolis" / OFFICE
    assert any(p.is_file() for p in emulated.rglob("*")), f"the emulated Evolis at {emulated} printed nothing"

    # Handover: find the card by NIK, the holder places a finger on the office's reader, CARD_ISSUED.
    office.goto(f"{regency.office.url}/handover")
    office.fill("#nik", RESIDENT["nik"])
    with office.expect_navigation():
        office.click("#nik-form button[type=submit]")
    assert office.get_attribute("#enrolment-state", "data-state") == "CARD_PRINTED"
    # Somebody else's finger first (the emulated reader plays another person): refused, nothing issued.
    office.check("#handover-form input[name=holder][value=other]")
    with office.expect_navigation():
        office.click("#handover-form button[type=submit]")
    assert office.locator(".flash.error").count() >= 1, office.inner_text("main")
    assert office.get_attribute("#enrolment-state", "data-state") == "CARD_PRINTED"
    # Then the resident's own finger. A genuine finger is sometimes refused by a 1:1 matcher (for a
    # few synthetic residents the handover impression of the first finger scores under the threshold,
    # as a dry or shifted finger does at a real desk); the operator then asks for the next finger, as
    # the operator guide says. Three fingers are ample.
    fingers = [str(v) for v in office.locator("#position option").evaluate_all("els => els.map(e => e.value)")]
    for position in fingers[:3]:
        office.select_option("#position", position)
        office.check("#handover-form input[name=holder][value=resident]")
        with office.expect_navigation():
            office.click("#handover-form button[type=submit]")
        if office.locator(".flash.ok").count():
            break
    assert office.locator(".flash.ok").count() >= 1, office.inner_text("main")
    issued = text("state.CARD_ISSUED")
    assert _state_on_page(office, detail) == issued

    # The kecamatan that recorded her learns it through the feed: its own page says the card is issued.
    back_home = f"{regency.kecamatan.url}/enrolments/{enrolment_id}"
    wait_until(
        lambda: _state_on_page(desk, back_home) == issued,
        timeout=TRAVEL,
        message="the kecamatan node never learnt that the card was issued",
    )


#: The resident whose recording shows the live preview: not RESIDENT, whom the other test records.
PREVIEWED = {**RESIDENT, "nik": "1771055708950004", "nama": "NURUL HIDAYAH"}
_BROKEN = "img => img.checkVisibility() && img.complete && img.naturalWidth === 0"


def test_the_live_preview_never_shows_a_broken_image(page: Any, regency: Regency) -> None:
    """Guards issue 14 defect 4: the preview box on the photo and finger steps showed a broken-image
    icon (an <img> without a source) before the preview was started, after every capture. It shows a
    note until the operator asks for the stream, then the device's frames."""
    base = regency.kecamatan.url
    login(page, base, "op.kampung-melayu")
    enrolment_id = save_biodata(page, base, PREVIEWED)
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
