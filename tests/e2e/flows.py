"""What an operator does in the browser, step by step, shared by the end-to-end tests and
``tools/screenshots.py``: record a resident at the desk with its simulated devices, wait for a state.

Every step goes through the pages as a person would: typing into the fields, pressing the buttons,
following the links; nothing is posted around the UI.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

#: A resident of Kampung Melayu (17.71.05): the NIK's date part is the birth date, +40 for a woman.
RESIDENT = {
    "nik": "1771055708950001",
    "nama": "SRI WAHYUNI",
    "tempat_lahir": "BENGKULU",
    "tanggal_lahir": "17-08-1995",  # typed day-month-year, as the form asks
    "jenis_kelamin": "P",
    "golongan_darah": "O",
    "agama": "ISLAM",
    "status_perkawinan": "BELUM KAWIN",
    "pekerjaan": "PERDAGANGAN",
    "alamat": "JL. SUKAJADI NO. 12",
    "rt": "003",
    "rw": "002",
    "kelurahan": "SUMUR MELELE",
}
_SELECTS = ("jenis_kelamin", "golongan_darah", "agama", "status_perkawinan", "pekerjaan")
#: The capture steps in the order the recording pages take them.
STEPS = ("face", "finger", "iris", "signature")

Shot = Callable[[Any, str], None]


def _no_shot(page: Any, name: str) -> None:
    return None


def fill_biodata(page: Any, resident: dict[str, str]) -> None:
    """Type the biodata form (the NIK first: its live check fills the region fields)."""
    page.fill("#f-nik", resident["nik"])
    page.locator("#f-nik").blur()
    for field, value in resident.items():
        if field == "nik":
            continue
        if field in _SELECTS:
            page.select_option(f"#f-{field}", value)
        else:
            page.fill(f"#f-{field}", value)
    # The live NIK check fills kecamatan, kabupaten/kota and provinsi from the NIK's region code.
    # (A string predicate would be eval'd, which the pages' CSP forbids: a locator assertion polls.)
    from playwright.sync_api import expect

    expect(page.locator("#f-kecamatan")).not_to_have_value("")


def _next_capture(page: Any) -> Any:
    """The button that takes a capture still missing: the first finger group (slap) with a finger not
    taken yet, else the first slot not taken yet; None when nothing is missing."""
    groups = page.locator(".rec-groups form")
    for index in range(groups.count()):
        form = groups.nth(index)
        positions = form.locator("input[name=position]").evaluate_all("els => els.map((e) => e.value)")
        if any(page.locator(f"#slot-{p} .badge.warn").count() for p in positions):
            return form.locator("button[type=submit]")
    missing = page.locator("section.rec-slot:has(.badge.warn) form[action*='/capture'] button[type=submit]")
    return missing.first if missing.count() else None


def capture_step(page: Any, *, tries: int = 30) -> None:
    """On a capture step's page, take every missing capture with the desk's device (a slap button per
    finger group, else each slot's own button), waiting for each page the server answers. On a loaded
    machine a capture can time out and leave the device busy a while: it is pressed again after a
    pause, up to ``tries`` presses in all."""
    for _ in range(tries):
        button = _next_capture(page)
        if button is None:
            return
        if page.locator(".flash.error").count():
            page.wait_for_timeout(2000)  # the device may still be busy with the capture that timed out
        with page.expect_navigation():
            button.click()
    raise AssertionError(f"captures still missing after {tries} tries: {page.inner_text('main')[:1500]}")


def sign(page: Any) -> None:
    """Sign on the pad with the mouse (a pointer drawing the resident's signature) and save it."""
    pad = page.locator("canvas.sig-pad")
    box = pad.bounding_box()
    assert box is not None, "the signature pad is not shown"
    x, y, w, h = box["x"], box["y"], box["width"], box["height"]
    page.mouse.move(x + w * 0.1, y + h * 0.6)
    page.mouse.down()
    for step in range(1, 25):
        page.mouse.move(x + w * (0.1 + 0.03 * step), y + h * (0.6 - 0.25 * ((step % 6) / 5)), steps=2)
    page.mouse.up()
    with page.expect_navigation():
        page.click("form[data-signature] button[type=submit]")


def save_biodata(page: Any, base_url: str, resident: dict[str, str] = RESIDENT, *, shot: Shot = _no_shot) -> str:
    """Start a recording of ``resident`` at the node ``base_url`` (logged in as an operator there):
    type the biodata and save it. Returns the enrolment's id."""
    page.goto(f"{base_url}/record/new")
    fill_biodata(page, resident)
    shot(page, "record-biodata")
    with page.expect_navigation():
        page.click("#save-biodata")
    return str(page.url.split("/record/", 1)[1].split("/", 1)[0])


def record_resident(page: Any, base_url: str, resident: dict[str, str] = RESIDENT, *, shot: Shot = _no_shot) -> str:
    """Record ``resident`` at the node ``base_url`` (logged in as an operator there): biodata, photo,
    fingers, irises, signature, summary, confirm. Returns the enrolment's id."""
    enrolment_id = save_biodata(page, base_url, resident, shot=shot)
    for step in STEPS:
        page.goto(f"{base_url}/record/{enrolment_id}/step/{step}")
        if step == "signature":
            sign(page)
        else:
            capture_step(page)
        shot(page, f"record-{step}")
    with page.expect_navigation():
        page.click("#next-step")
    assert page.locator("#complete").count() == 1, page.inner_text("main")
    shot(page, "record-summary")
    page.once("dialog", lambda dialog: dialog.accept())  # "send this recording?" (form[data-confirm])
    with page.expect_navigation():
        page.click("#confirm")
    return enrolment_id


def wait_until(what: Callable[[], Any], *, timeout: float, message: str, every: float = 0.5) -> Any:
    """Ask ``what()`` until it gives something true, up to ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        found = what()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"{message} (waited {timeout:g} s)")
        time.sleep(every)
