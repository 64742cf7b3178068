"""What only a browser shows of the recording pages and the dashboard: the live NIK check (a script
asking the server as the operator types), a double click that must record once, and the device list
fetched after the dashboard loads."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from playwright.sync_api import expect

from ektp_core.store.tables import enrolments

from .e2ekit import ServedNode, login, text
from .flows import RESIDENT, fill_biodata


def _count(node: ServedNode) -> int:
    def count(lc: Any) -> int:
        with lc.store.read() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(enrolments)).scalar_one())

    return int(node.read(count))


def test_the_live_nik_check_fills_the_region_and_flags_a_bad_nik(page: Any, node: ServedNode) -> None:
    login(page, node.url, "op1")
    page.goto(f"{node.url}/record/new")
    assert page.evaluate("document.activeElement.id") == "f-nik"
    page.fill("#f-nik", RESIDENT["nik"])
    # The answer fills the region from the NIK's code, with sex and birth date.
    expect(page.locator("#nik-result")).to_have_class("nik-result ok")
    expect(page.locator("#f-kecamatan")).to_have_value("KAMPUNG MELAYU")
    expect(page.locator("#f-jenis_kelamin")).to_have_value("P")
    expect(page.locator("#f-tanggal_lahir")).to_have_value("17-08-1995")

    # Day 72 is no date (a woman's day is 41..71): flagged at once, before anything is sent.
    page.fill("#f-nik", "1771057208950001")
    expect(page.locator("#nik-result")).to_have_class("nik-result bad")
    expect(page.locator("#err-nik")).not_to_be_empty()
    assert page.get_attribute("#f-nik", "aria-invalid") == "true"


def test_a_bad_nik_sent_anyway_is_refused_and_nothing_is_stored(page: Any, node: ServedNode) -> None:
    before = _count(node)  # the module's node: earlier tests' recordings stay
    login(page, node.url, "op1")
    page.goto(f"{node.url}/record/new")
    fill_biodata(page, RESIDENT)
    page.fill("#f-nik", "1771057208950001")
    with page.expect_navigation() as navigation:
        page.click("#save-biodata")
    assert navigation.value.status == 422
    assert page.inner_text("#form-errors").strip() == text("rec.form_has_errors")
    assert page.inner_text("#err-nik").strip()
    # What was typed is still there to correct.
    assert page.input_value("#f-nama") == RESIDENT["nama"]
    assert _count(node) == before


def test_a_double_click_on_save_records_once(page: Any, node: ServedNode) -> None:
    before = _count(node)
    login(page, node.url, "op1")
    page.goto(f"{node.url}/record/new")
    # A resident of her own: the module's other tests type RESIDENT's NIK, which must stay unrecorded.
    fill_biodata(page, {**RESIDENT, "nik": "1771055708950003", "nama": "RINA MARLINA"})
    with page.expect_navigation():
        page.dblclick("#save-biodata")
    page.wait_for_load_state()
    assert "/step/" in page.url, page.url
    assert _count(node) == before + 1


def test_the_dashboard_fetches_the_devices_state(page: Any, node: ServedNode) -> None:
    login(page, node.url, "op1")
    devices = page.locator("#devices tbody")
    # The minimal profile's emulated Evolis, proof printer and U.are.U reader, each with its state.
    expect(devices.locator("tr")).to_have_count(3, timeout=30_000)
    expect(devices).to_contain_text("fingerprint-1")
    assert devices.locator(".badge").count() == 3
