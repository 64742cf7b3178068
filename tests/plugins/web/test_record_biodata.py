"""Recording, step 1: the biodata form, its live NIK check and the server's own checks."""

from __future__ import annotations

import datetime as dt

from recordkit import NIK, biodata_form, start_recording

from ektp_core.domain.model import EnrolmentState
from ektp_core.testing.samples import make_enrolment, valid_nik


def test_the_start_page_offers_a_new_recording(browser) -> None:
    page = browser("op1").get("/record")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert 'id="new-recording"' in text and 'id="none-in-progress"' in text


def test_the_live_nik_check_fills_the_region_sex_and_birth_date(browser) -> None:
    answer = browser("op1").get(f"/record/nik-check?nik={NIK}").get_json()
    assert answer["valid"] and answer["ok"]
    assert answer["fill"] == {
        "provinsi": "BENGKULU",
        "kabupaten_kota": "KOTA BENGKULU",
        "kecamatan": "KAMPUNG MELAYU",
        "jenis_kelamin": "P",
        "tanggal_lahir": "01-01-1990",  # dd-mm-yyyy, as the form's field takes it
    }
    assert "KANDANG" in answer["kelurahan"]
    assert answer["region"]["district"] == "17.71.05"
    assert answer["age"] >= 30


def test_the_live_check_names_what_is_wrong_with_a_bad_nik(browser) -> None:
    b = browser("op1")
    short = b.get("/record/nik-check?nik=12345").get_json()
    assert not short["valid"] and short["errors"]["nik"] == ["NIK harus 16 angka."]
    bad_date = b.get("/record/nik-check?nik=1771059901900001").get_json()
    assert not bad_date["valid"] and "Tanggal lahir dalam NIK" in bad_date["errors"]["nik"][0]


def test_the_live_check_cross_checks_sex_and_birth_date(browser) -> None:
    answer = browser("op1").get(f"/record/nik-check?nik={NIK}&jenis_kelamin=L&tanggal_lahir=01-02-1990").get_json()
    assert answer["valid"] and not answer["ok"]
    assert "jenis kelamin P" in answer["errors"]["jenis_kelamin"][0]
    assert "01-01-1990" in answer["errors"]["tanggal_lahir"][0]


def test_the_live_check_speaks_english_when_asked(browser) -> None:
    b = browser("op1")
    b.post("/language", {"language": "en", "next": "/record"})
    answer = b.get("/record/nik-check?nik=12345").get_json()
    assert answer["errors"]["nik"] == ["A NIK has exactly 16 digits."]


def _young_nik(today: dt.date) -> tuple[str, str]:
    born = today.replace(year=today.year - 16)
    return f"177105{born:%d%m%y}0001", born.isoformat()


def test_under_age_is_refused_unless_married(browser, ektp_service) -> None:
    b = browser("op1")
    nik, born = _young_nik(ektp_service.clock().date())
    answer = b.get(f"/record/nik-check?nik={nik}&status_perkawinan=BELUM%20KAWIN").get_json()
    assert "Belum wajib KTP-el" in answer["errors"]["tanggal_lahir"][0]
    unsure = b.get(f"/record/nik-check?nik={nik}").get_json()
    assert unsure["ok"] and "sudah kawin" in unsure["warnings"]["tanggal_lahir"][0]
    form = biodata_form(nik=nik, tanggal_lahir=born, jenis_kelamin="L", status_perkawinan="BELUM KAWIN")
    page = b.get("/record/new")
    refused = b.post("/record/new", form)
    assert refused.status_code == 422 and page.status_code == 200
    assert "Belum wajib KTP-el" in refused.get_data(as_text=True)
    # Married at 16: eligible.
    married = b.post("/record/new", {**form, "status_perkawinan": "KAWIN"})
    assert married.status_code == 302


def test_the_server_checks_every_field_again(browser, ektp_service) -> None:
    b = browser("op1")
    b.get("/record/new")
    response = b.post(
        "/record/new",
        biodata_form(jenis_kelamin="L", tanggal_lahir="1990-01-02", rt="0000", agama="JEDI", nama="", no_kk="123"),
    )
    assert response.status_code == 422
    text = response.get_data(as_text=True)
    assert 'id="form-errors"' in text
    for message in (
        "NIK menunjukkan jenis kelamin P",
        "NIK menunjukkan tanggal lahir 01-01-1990",
        "bukan 000",
        "Pilih salah satu nilai",
        "Wajib diisi",
        "16 angka",
    ):
        assert message in text, message
    assert 'value="Jl. Pantai Indah No. 7"' in text  # what was typed is shown again
    assert '<option value="KANDANG">' in text  # the NIK's kelurahan, without the script
    assert ektp_service.deployment is not None
    with ektp_service.store.read() as conn:
        from ektp_core.store.tables import enrolments

        assert conn.execute(enrolments.select()).first() is None


def test_the_enrolment_is_created_at_once_and_a_double_submit_lands_on_it(browser, ektp_service) -> None:
    b = browser("op1")
    enrolment_id = start_recording(b)
    enrolment = ektp_service.get(enrolment_id)
    assert enrolment.state is EnrolmentState.BIO_CAPTURED and enrolment.operator == "op1"
    assert enrolment.biodata.nama == "SITI AMINAH" and enrolment.biodata.rt == "003"
    # The same form again (a double click): no second enrolment, back to the first.
    again = b.post("/record/new", {**biodata_form(), "draft": enrolment_id})
    assert again.status_code == 302 and again.headers["Location"].endswith(f"/record/{enrolment_id}")
    with ektp_service.store.read() as conn:
        from ektp_core.store.tables import enrolments

        assert len(conn.execute(enrolments.select()).all()) == 1


def test_a_nik_already_in_progress_is_refused_with_a_link_to_it(browser, ektp_service) -> None:
    b = browser("op1")
    first = start_recording(b)
    answer = b.get(f"/record/nik-check?nik={NIK}").get_json()
    assert not answer["ok"] and "masih memiliki perekaman" in answer["errors"]["nik"][0]
    assert answer["resume"].endswith(f"/record/{first}")
    b.get("/record/new")
    refused = b.post("/record/new", biodata_form())
    assert refused.status_code == 409
    text = refused.get_data(as_text=True)
    assert "masih memiliki perekaman" in text and f"/record/{first}" in text


def test_a_recording_in_progress_is_listed_and_resumed(browser) -> None:
    b = browser("op1")
    enrolment_id = start_recording(b)
    # The tab is closed; another operator (or the same, later) opens the start page.
    other = browser("spv1")
    listed = other.get("/record").get_data(as_text=True)
    assert "SITI AMINAH" in listed and f"/record/{enrolment_id}" in listed and "0 / 14" in listed
    resumed = other.get(f"/record/{enrolment_id}")
    assert resumed.status_code == 302 and resumed.headers["Location"].endswith(f"/record/{enrolment_id}/step/face")


def test_admins_may_not_record_and_posts_need_the_csrf_token(browser, ektp_service) -> None:
    assert browser("adm1").get("/record").status_code == 403
    b = browser("op1")
    b.get("/record/new")
    refused = b.post("/record/new", biodata_form(), csrf=False)
    assert refused.status_code == 400
    with ektp_service.store.read() as conn:
        from ektp_core.store.tables import enrolments

        assert conn.execute(enrolments.select()).first() is None


def test_the_start_page_shows_a_recording_made_a_moment_ago(browser, ektp_service) -> None:  # type: ignore[no-untyped-def]
    b = browser("op1")
    assert 'id="none-in-progress"' in b.get("/record").get_data(as_text=True)
    enrolment = make_enrolment(site_code="17.71", nik=valid_nik(serial=40))
    ektp_service.record(enrolment)
    page = b.get("/record").get_data(as_text=True)
    assert f'href="/record/{enrolment.id}"' in page and valid_nik(serial=40) in page and "0 / 14" in page
    ektp_service.transition(enrolment.id, EnrolmentState.SENT_FOR_ENROLLMENT, actor="op1")
    assert 'id="none-in-progress"' in b.get("/record").get_data(as_text=True)


def test_the_birth_date_is_typed_and_shown_day_month_year(browser, ektp_service) -> None:
    """Guards issue 14 defect 8: the birth date was an <input type=date> (the browser's own format)
    and pages mixed 1995-03-12 and 12-03-1995. The field is a text field in dd-mm-yyyy, a date that
    does not exist gets a clear Indonesian error, and the stored date is shown dd-mm-yyyy."""
    from ektp_plugins.web.ui.i18n import Catalogues

    texts = Catalogues()
    b = browser("op1")
    page = b.get("/record/new").get_data(as_text=True)
    assert 'type="date"' not in page
    field = page.split('id="f-tanggal_lahir"', 1)[1].split(">", 1)[0]
    assert 'pattern="' in field and f'placeholder="{texts.text("id", "date.placeholder")}"' in field
    assert 'type="text" id="f-tanggal_lahir"' in page
    refused = b.post("/record/new", biodata_form(tanggal_lahir="31-02-1990"))
    assert refused.status_code == 422
    assert texts.text("id", "rec.bad_date") in refused.get_data(as_text=True)
    assert "hh-bb-tttt" in texts.text("id", "rec.bad_date")
    made = b.post("/record/new", biodata_form(tanggal_lahir="01-01-1990"))
    assert made.status_code == 302, made.get_data(as_text=True)
    enrolment_id = made.headers["Location"].split("/record/", 1)[1].split("/", 1)[0]
    assert ektp_service.get(enrolment_id).biodata.tanggal_lahir == dt.date(1990, 1, 1)
    detail = b.get(f"/enrolments/{enrolment_id}").get_data(as_text=True)
    assert "01-01-1990" in detail and "1990-01-01" not in detail
