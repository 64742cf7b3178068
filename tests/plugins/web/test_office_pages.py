"""The office's work beyond a first card in the web UI: correcting and cancelling a recording from its
page, the replacement service (the applicant's finger checked 1:1 on the desk's emulated reader, then
the service and its papers) and "Di mana kartu saya?". Every refusal shows the core's own message in
the request's language and changes nothing."""

from __future__ import annotations

import datetime as dt
import html
import re
from typing import Any

import sqlalchemy as sa
from test_handover import recorded

from ektp_core.domain.model import CardState, EnrolmentState, ServiceType
from ektp_core.lifecycle.service import LifecycleService
from ektp_core.services.capture import CaptureService
from ektp_core.store.tables import audit_log, enrolments
from ektp_core.testing.samples import make_enrolment

E = EnrolmentState
#: The blank serial test_handover.recorded prints the resident's card on.
SERIAL = "BLK-HANDOVER"


def text_of(response: Any) -> str:
    return html.unescape(response.get_data(as_text=True))


def form_of(page: str, form_id: str) -> dict[str, str]:
    """The named inputs and selected options of one form on a page, as a browser would send them."""
    start = page.index(f'id="{form_id}"')
    body = page[start : page.index("</form>", start)]
    values = {
        m.group(1): m.group(2) for m in re.finditer(r'<input type="text" id="f-\w+" name="(\w+)" value="([^"]*)"', body)
    }
    for select in re.finditer(r'<select id="f-\w+" name="(\w+)"[^>]*>(.*?)</select>', body, re.DOTALL):
        chosen = re.search(r'<option value="([^"]*)" selected>', select.group(2))
        values[select.group(1)] = chosen.group(1) if chosen else ""
    return {k: html.unescape(v) for k, v in values.items()}


def recording(lc: LifecycleService, **biodata: Any) -> str:
    enrolment = make_enrolment(operator="op1", **biodata)
    lc.record(enrolment)
    return enrolment.id


def issued(lc: LifecycleService, host: Any) -> tuple[str, str]:
    """A resident with fingers from the emulated reader whose card was handed over: (enrolment, NIK)."""
    enrolment_id, nik = recorded(lc, host)
    lc.transition(enrolment_id, E.CARD_ISSUED, actor="op1")
    return enrolment_id, nik


def enrolments_of(lc: LifecycleService, nik: str) -> int:
    with lc.store.read() as conn:
        return int(conn.execute(sa.select(sa.func.count()).where(enrolments.c.nik == nik)).scalar_one())


def audited(lc: LifecycleService, action: str) -> int:
    with lc.store.read() as conn:
        return int(
            conn.execute(
                sa.select(sa.func.count()).select_from(audit_log).where(audit_log.c.action == action)
            ).scalar_one()
        )


# -- correcting -----------------------------------------------------------------------------------------------


def test_a_recording_not_yet_sent_is_corrected_by_a_desk_account(browser, ektp_service: LifecycleService) -> None:
    lc = ektp_service
    enrolment_id = recording(lc, nama="SITI AMINAH")
    b = browser("op1")
    detail = text_of(b.get(f"/enrolments/{enrolment_id}"))
    assert 'id="correct"' in detail and "Koreksi data" in detail
    assert 'id="service-type" data-type="baru"' in detail
    assert 'id="cancel-form"' not in detail  # an operator does not cancel
    page = b.get(f"/enrolments/{enrolment_id}/correct")
    assert page.status_code == 200
    values = form_of(text_of(page), "correct-form")
    assert values["nama"] == "SITI AMINAH" and values["nik"] == lc.get(enrolment_id).biodata.nik.value
    assert 'for="f-nama"' in text_of(page) and 'for="reason"' in text_of(page)  # every field labelled
    # The same values again: the core says there is nothing to correct.
    same = b.post(f"/enrolments/{enrolment_id}/correct", values)
    assert same.status_code == 409 and "Tidak ada yang dikoreksi" in text_of(same)
    # A field the form itself refuses: shown next to the field, nothing sent to the core.
    bad = b.post(f"/enrolments/{enrolment_id}/correct", {**values, "rt": "0000"})
    assert bad.status_code == 422 and 'aria-invalid="true"' in text_of(bad)
    assert b.post(f"/enrolments/{enrolment_id}/correct", {**values, "nama": "X"}, csrf=False).status_code == 400
    assert lc.get(enrolment_id).biodata.nama == "SITI AMINAH"
    done = b.post(f"/enrolments/{enrolment_id}/correct", {**values, "nama": "SITI AMINAH PUTRI", "rt": "7"})
    assert done.status_code == 303
    after = text_of(b.get(done.headers["Location"]))
    assert "Koreksi disimpan: Nama, RT." in after
    assert 'data-action="enrolment.corrected"' in after and "SITI AMINAH → SITI AMINAH PUTRI" in after
    corrected = lc.get(enrolment_id).biodata
    assert corrected.nama == "SITI AMINAH PUTRI" and corrected.rt == "007"


def test_after_sending_only_a_supervisor_at_the_dukcapil_node_corrects_with_a_reason(
    browser, ektp_service: LifecycleService
) -> None:
    lc = ektp_service
    enrolment_id = recording(lc, nama="DEWI LESTARI")
    for state in (E.SENT_FOR_ENROLLMENT, E.RECEIVED_AT_CENTRAL, E.PRINT_READY_RECORD):
        lc.transition(enrolment_id, state, actor="central")
    op = browser("op1")
    assert 'id="correct"' not in text_of(op.get(f"/enrolments/{enrolment_id}"))
    values = form_of(text_of(op.get(f"/enrolments/{enrolment_id}/correct")), "correct-form")
    refused = op.post(f"/enrolments/{enrolment_id}/correct", {**values, "nama": "DEWI L", "reason": "salah ketik"})
    assert refused.status_code == 409
    assert "hanya supervisor di kantor Dukcapil yang boleh mengoreksinya" in text_of(refused)
    spv = browser("spv1")
    assert 'id="correct"' in text_of(spv.get(f"/enrolments/{enrolment_id}"))
    no_reason = spv.post(f"/enrolments/{enrolment_id}/correct", {**values, "nama": "DEWI L"})
    assert no_reason.status_code == 409 and "Alasan wajib diisi" in text_of(no_reason)
    other = make_enrolment().biodata.nik.value
    nik = spv.post(f"/enrolments/{enrolment_id}/correct", {**values, "nik": other[:-1] + "9", "reason": "salah"})
    assert nik.status_code in (409, 422)
    assert lc.get(enrolment_id).biodata.nama == "DEWI LESTARI"
    done = spv.post(f"/enrolments/{enrolment_id}/correct", {**values, "nama": "DEWI LESTARI PUTRI", "reason": "KK"})
    assert done.status_code == 303 and lc.get(enrolment_id).biodata.nama == "DEWI LESTARI PUTRI"
    # Once its card is queued, a data change is a replacement: the core refuses the state.
    lc.queue_print(enrolment_id, site_code="17.71", actor="spv1", routing_reason="test")
    assert 'id="correct"' not in text_of(spv.get(f"/enrolments/{enrolment_id}"))
    late = spv.post(f"/enrolments/{enrolment_id}/correct", {**values, "nama": "DEWI", "reason": "KK"})
    assert late.status_code == 409 and "tidak dapat berpindah" in text_of(late)
    assert lc.get(enrolment_id).biodata.nama == "DEWI LESTARI PUTRI"


def test_the_correction_form_is_for_desk_accounts_only(browser, ektp_service: LifecycleService) -> None:
    enrolment_id = recording(ektp_service)
    admin = browser("adm1")
    assert admin.get(f"/enrolments/{enrolment_id}/correct").status_code == 403
    assert admin.post(f"/enrolments/{enrolment_id}/correct", {"nama": "X"}).status_code == 403
    assert browser("op1").get("/enrolments/no-such-enrolment/correct").status_code == 404


# -- cancelling ----------------------------------------------------------------------------------------------


def test_a_supervisor_cancels_a_recording_with_a_reason(browser, ektp_service: LifecycleService) -> None:
    lc = ektp_service
    enrolment_id = recording(lc)
    op = browser("op1")
    assert op.post(f"/enrolments/{enrolment_id}/cancel", {"reason": "salah orang"}).status_code == 403
    spv = browser("spv1")
    detail = text_of(spv.get(f"/enrolments/{enrolment_id}"))
    assert 'id="cancel-form"' in detail and 'for="cancel-reason"' in detail
    assert spv.post(f"/enrolments/{enrolment_id}/cancel", {"reason": "x"}, csrf=False).status_code == 400
    empty = spv.post(f"/enrolments/{enrolment_id}/cancel", {"reason": "  "}, follow_redirects=True)
    assert "Pembatalan ditolak; tidak ada yang diubah: Alasan wajib diisi" in text_of(empty)
    assert lc.get(enrolment_id).state is E.BIO_CAPTURED
    done = spv.post(f"/enrolments/{enrolment_id}/cancel", {"reason": "perekaman ganda"}, follow_redirects=True)
    page = text_of(done)
    assert "dibatalkan (ENROLLMENT_CANCELLED)" in page and 'id="cancel-form"' not in page
    assert lc.get(enrolment_id).state is E.ENROLLMENT_CANCELLED
    again = spv.post(f"/enrolments/{enrolment_id}/cancel", {"reason": "lagi"}, follow_redirects=True)
    assert "Pembatalan ditolak" in text_of(again) and "tidak dapat berpindah" in text_of(again)


def test_a_recording_in_a_state_that_cannot_be_cancelled_is_refused(browser, ektp_service: LifecycleService) -> None:
    lc = ektp_service
    enrolment_id = recording(lc)
    for state in (E.SENT_FOR_ENROLLMENT, E.RECEIVED_AT_CENTRAL, E.PRINT_READY_RECORD):
        lc.transition(enrolment_id, state, actor="central")
    spv = browser("spv1")
    assert 'id="cancel-form"' not in text_of(spv.get(f"/enrolments/{enrolment_id}"))
    refused = spv.post(f"/enrolments/{enrolment_id}/cancel", {"reason": "salah"}, follow_redirects=True)
    assert "Pembatalan ditolak" in text_of(refused)
    assert lc.get(enrolment_id).state is E.PRINT_READY_RECORD


def test_a_refusal_is_said_in_the_requests_language(browser, ektp_service: LifecycleService) -> None:
    lc = ektp_service
    enrolment_id = recording(lc)
    spv = browser("spv1")
    spv.post("/language", {"language": "en", "next": "/dashboard"})
    refused = spv.post(f"/enrolments/{enrolment_id}/cancel", {"reason": ""}, follow_redirects=True)
    assert "Cancelling was refused; nothing was changed: a reason is required" in text_of(refused)
    assert lc.get(enrolment_id).state is E.BIO_CAPTURED


# -- replacement ---------------------------------------------------------------------------------------------


def test_a_lost_card_is_replaced_after_the_applicants_finger_matches(
    browser, ektp_service: LifecycleService, ektp_host
) -> None:
    lc = ektp_service
    earlier_id, nik = issued(lc, ektp_host)
    b = browser("op1")
    page = text_of(b.get(f"/replace?nik={nik}"))
    assert "SITI AMINAH" in page and f"/replace/{earlier_id}/photo" in page
    assert f"{SERIAL} · Aktif (ACTIVE)" in page and 'id="check-form"' in page and 'id="service-form"' not in page
    photo = b.get(f"/replace/{earlier_id}/photo")
    assert photo.status_code == 200 and photo.headers["Cache-Control"] == "no-store"
    # The service form before the finger check: refused, nothing stored.
    early = b.post("/replace/start", {"nik": nik, "service_type": "hilang", "police_report_number": "LP/1"})
    assert early.status_code == 409 and "Periksa sidik jari pemohon dulu" in text_of(early)
    assert b.post("/replace/check", {"nik": nik, "position": "right_index"}, csrf=False).status_code == 400
    assert audited(lc, "enrolment.identity_checked") == 0
    checked = b.post("/replace/check", {"nik": nik, "position": "right_index", "holder": "resident"})
    assert checked.status_code == 303
    page = text_of(b.get(checked.headers["Location"]))
    assert 'id="identity" data-matched="yes"' in page and 'id="service-form"' in page
    assert audited(lc, "enrolment.identity_checked") == 1
    values = form_of(page, "service-form")
    # A lost card without its police report: the core's refusal, nothing recorded.
    missing = b.post("/replace/start", {**values, "nik": nik, "service_type": "hilang"})
    assert missing.status_code == 422
    assert "Kartu hilang memerlukan nomor dan tanggal surat keterangan kehilangan" in text_of(missing)
    bad_date = b.post(
        "/replace/start",
        {
            **values,
            "nik": nik,
            "service_type": "hilang",
            "police_report_number": "LP/1",
            "police_report_date": "31-02-2026",
        },
    )
    assert bad_date.status_code == 422 and "hh-bb-tttt" in text_of(bad_date)
    changed = b.post("/replace/start", {**values, "nik": nik, "service_type": "hilang", "pekerjaan": "PETANI/PEKEBUN"})
    assert changed.status_code == 422 and "bukan perubahan data" in text_of(changed)
    assert b.post("/replace/start", {"nik": nik, "service_type": "hilang"}, csrf=False).status_code == 400
    assert enrolments_of(lc, nik) == 1
    started = b.post(
        "/replace/start",
        {
            **values,
            "nik": nik,
            "service_type": "hilang",
            "police_report_number": "LP/123/IV/2026/Polresta",
            "police_report_date": "02-04-2026",
        },
    )
    assert started.status_code == 303 and started.headers["Location"].startswith("/record/")
    new_id = started.headers["Location"].split("/")[2]
    new = lc.get(new_id)
    assert new.service.type is ServiceType.HILANG and new.service.replaces == earlier_id
    assert new.service.police_report_number == "LP/123/IV/2026/Polresta"
    assert CaptureService(lc).captures(new_id)  # the earlier biometrics were carried over
    assert [c.state for c in lc.cards_of(nik)] == [CardState.LOST]  # reported lost at once
    resumed = text_of(b.get(started.headers["Location"], follow_redirects=True))
    assert "dibuat dengan biometrik rekaman sebelumnya" in resumed
    # The check was used once: a second replacement needs a new one.
    twice = b.post("/replace/start", {**values, "nik": nik, "service_type": "hilang", "police_report_number": "LP/2"})
    assert twice.status_code == 409 and "Periksa sidik jari pemohon dulu" in text_of(twice)
    detail = text_of(b.get(f"/enrolments/{new_id}"))
    assert 'data-type="hilang"' in detail and "LP/123/IV/2026/Polresta · 02-04-2026" in detail
    assert f'href="/enrolments/{earlier_id}"' in detail


def test_an_unmatched_finger_leads_to_recording_the_biometrics_again(
    browser, ektp_service: LifecycleService, ektp_host
) -> None:
    lc = ektp_service
    _earlier_id, nik = issued(lc, ektp_host)
    b = browser("spv1")
    checked = b.post(
        "/replace/check", {"nik": nik, "position": "right_thumb", "holder": "other"}, follow_redirects=True
    )
    page = text_of(checked)
    assert "TIDAK cocok dengan rekaman sebelumnya" in page and "biometrik harus direkam ulang" in page
    assert 'id="identity" data-matched="no"' in page and "rekam ulang biometrik" in page
    values = form_of(page, "service-form")
    no_proof = b.post(
        "/replace/start", {**values, "nik": nik, "service_type": "perubahan", "pekerjaan": "PETANI/PEKEBUN"}
    )
    assert no_proof.status_code == 422 and "Perubahan data memerlukan dokumen pendukung" in text_of(no_proof)
    wrong_card = b.post(
        "/replace/start",
        {**values, "nik": nik, "service_type": "rusak", "surrendered_serial": "BLK-999999"},
    )
    assert wrong_card.status_code == 409 and f"bukan KTP-el aktif penduduk ini ({SERIAL})" in text_of(wrong_card)
    assert enrolments_of(lc, nik) == 1
    started = b.post(
        "/replace/start",
        {
            **values,
            "nik": nik,
            "service_type": "perubahan",
            "pekerjaan": "PETANI/PEKEBUN",
            "proof_document": "KK 1771050101900001",
            "surrendered_serial": SERIAL,
        },
    )
    assert started.status_code == 303
    new_id = started.headers["Location"].split("/")[2]
    new = lc.get(new_id)
    assert new.service.type is ServiceType.PERUBAHAN and new.service.changed_fields == ("pekerjaan",)
    assert new.biodata.pekerjaan == "PETANI/PEKEBUN" and new.state is E.BIO_CAPTURED
    assert CaptureService(lc).captures(new_id) == []  # to be recorded again
    resumed = b.get(started.headers["Location"], follow_redirects=True)
    assert f"/record/{new_id}/step/face" in resumed.request.path
    assert "sidik jari pemohon tidak cocok: biometrik harus direkam ulang" in text_of(resumed)
    assert [c.state for c in lc.cards_of(nik)] == [CardState.ACTIVE]  # replaced only at handover


def test_a_replacement_needs_a_handed_over_card_and_a_desk_account(browser, ektp_service: LifecycleService) -> None:
    lc = ektp_service
    enrolment_id = recording(lc)
    nik = lc.get(enrolment_id).biodata.nik.value
    b = browser("op1")
    none = b.get(f"/replace?nik={nik}")
    assert none.status_code == 404 and "belum pernah menerima KTP-el di kantor ini" in text_of(none)
    assert "NIK harus 16 angka" in text_of(b.get("/replace?nik=12345"))
    checked = b.post("/replace/check", {"nik": nik, "position": "right_index"})
    assert checked.status_code == 404 and audited(lc, "enrolment.identity_checked") == 0
    admin = browser("adm1")
    assert admin.get("/replace").status_code == 403
    assert admin.post("/replace/check", {"nik": nik, "position": "right_index"}).status_code == 403
    assert admin.post("/replace/start", {"nik": nik}).status_code == 403
    assert admin.get(f"/replace/{enrolment_id}/photo").status_code == 403
    assert b.get(f"/replace/{enrolment_id}/photo").status_code == 404  # not a handed-over record


def test_a_first_card_for_a_resident_holding_one_names_the_replacement_path(
    browser, ektp_service: LifecycleService, ektp_host
) -> None:
    lc = ektp_service
    _earlier, nik = issued(lc, ektp_host)
    b = browser("op1")
    form = form_of(text_of(b.get(f"/enrolments/{_earlier}/correct")), "correct-form")
    b.get("/record/new")
    refused = b.post("/record/new", {**form, "draft": "a" * 32})
    page = text_of(refused)
    assert refused.status_code == 409 and "adalah layanan penggantian" in page
    assert f'href="/replace?nik={nik}"' in page
    assert enrolments_of(lc, nik) == 1


# -- where is my card? ---------------------------------------------------------------------------------------


def test_where_is_my_card_shows_each_card_in_one_line_and_the_open_recording(
    browser, ektp_service: LifecycleService, ektp_host
) -> None:
    lc = ektp_service
    enrolment_id, nik = recorded(lc, ektp_host)
    b = browser("op1")
    page = text_of(b.get(f"/cards?nik={nik}"))
    line = re.search(rf'<li data-serial="{SERIAL}" data-state="PRINTED">(.*?)</li>', page, re.DOTALL)
    assert line is not None and "menunggu diambil di sana" in line.group(1)
    assert "Disdukcapil Kota Bengkulu (17.71)" in line.group(1)
    assert 'id="open-enrolment"' in page and f'href="/enrolments/{enrolment_id}"' in page  # printed, not handed over
    lc.transition(enrolment_id, E.CARD_ISSUED, actor="op1")
    page = text_of(b.get(f"/cards?nik={nik}"))
    assert f"Kartu {SERIAL} dipegang penduduk: diserahkan di Disdukcapil Kota Bengkulu (17.71)" in page
    assert 'id="open-enrolment"' not in page and "Tidak ada perekaman yang sedang berjalan" not in page
    other = recording(lc, nama="RINA MARLINA", tanggal_lahir=dt.date(1990, 3, 3))
    other_nik = lc.get(other).biodata.nik.value
    page = text_of(b.get(f"/cards?nik={other_nik}"))
    assert 'id="no-cards"' in page and 'id="open-enrolment"' in page
    bad = b.get("/cards?nik=12")
    assert bad.status_code == 400 and "NIK harus 16 angka" in text_of(bad)
    assert browser("adm1").get(f"/cards?nik={nik}").status_code == 403


def test_one_menu_entry_leads_to_both_pages(browser, ektp_service: LifecycleService) -> None:
    b = browser("op1")
    menu = text_of(b.get("/dashboard"))
    assert re.search(r'href="/cards"\s*>Kartu</a>', menu) and 'href="/replace"' not in menu
    nik = ektp_service.get(recording(ektp_service)).biodata.nik.value
    cards = text_of(b.get(f"/cards?nik={nik}"))
    assert f'href="/replace?nik={nik}" id="to-replacement"' in cards
    assert 'href="/cards" aria-current="page"' in text_of(b.get("/replace"))  # the same menu entry
    assert 'href="/cards"' not in text_of(browser("adm1").get("/dashboard"))
