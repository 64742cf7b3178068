"""Enrolments in the web UI: search by NIK, name and state, paging, the detail page (timeline with
who and when, verdict, print jobs, images) and the site scoping."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from ektp_plugins.simulators.images import sample_photo

from ektp_core.devices.scanners import Sample
from ektp_core.domain.model import EnrolmentState, Modality
from ektp_core.lifecycle.service import LifecycleService
from ektp_core.services.capture import CaptureService
from ektp_core.store.read_models import enrolment_search
from ektp_core.store.read_models.enrolment_search import SearchTerm, TermKind
from ektp_core.testing import make_enrolment
from ektp_core.testing.samples import make_print_ready, valid_nik

E = EnrolmentState


def record(lc: LifecycleService, *, serial: int, nama: str = "SITI AMINAH", site: str = "17.71") -> str:
    nik = valid_nik(birth_date=dt.date(1990, 1, 1), sex="P", serial=serial)
    return lc.record(make_enrolment(site_code=site, nik=nik, nama=nama)).id


def shown_niks(html: str) -> list[str]:
    return re.findall(r'<tr data-enrolment="[^"]+"><td><a href="[^"]+">(\d{16})</a>', html)


@pytest.mark.database
def test_search_by_exact_nik_by_prefix_and_by_part_of_the_name(browser, ektp_service) -> None:  # type: ignore[no-untyped-def]
    lc = ektp_service
    record(lc, serial=11, nama="SITI AMINAH")
    record(lc, serial=12, nama="BUDI SANTOSO")
    record(lc, serial=13, nama="RATNA SARI DEWI")
    b = browser("op1")
    nik = valid_nik(birth_date=dt.date(1990, 1, 1), sex="P", serial=12)
    page = b.get(f"/enrolments?q={nik}").get_data(as_text=True)
    assert shown_niks(page) == [nik]
    # Spaces or dots typed inside a NIK are ignored.
    spaced = f"{nik[:6]} {nik[6:12]}.{nik[12:]}"
    assert shown_niks(b.get("/enrolments", query_string={"q": spaced}).get_data(as_text=True)) == [nik]
    assert len(shown_niks(b.get(f"/enrolments?q={nik[:12]}").get_data(as_text=True))) == 3
    assert shown_niks(b.get(f"/enrolments?q={nik[:15]}9").get_data(as_text=True)) == []
    found = b.get("/enrolments?q=santo").get_data(as_text=True)
    assert "BUDI SANTOSO" in found and "SITI AMINAH" not in found
    assert "RATNA SARI DEWI" in b.get("/enrolments?q=sari dewi").get_data(as_text=True)
    # LIKE's wildcards typed by someone are searched as themselves, not as wildcards.
    assert shown_niks(b.get("/enrolments?q=%25%25").get_data(as_text=True)) == []


@pytest.mark.parametrize(
    ("text", "message"), [("12345678901234567", "16 digit"), ("3171abc", "jangan dicampur"), ("a", "minimal 2 huruf")]
)
def test_a_malformed_search_is_explained_not_run(browser, ektp_service, text, message) -> None:  # type: ignore[no-untyped-def]
    record(ektp_service, serial=21)
    response = browser("op1").get("/enrolments", query_string={"q": text})
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert message in html and 'aria-invalid="true"' in html and "results" not in html


def test_state_filter_and_an_unknown_state(browser, ektp_service) -> None:  # type: ignore[no-untyped-def]
    lc = ektp_service
    waiting = record(lc, serial=31, nama="ANI")
    ready = make_print_ready(lc, nama="BUDI", nik=valid_nik(serial=32))  # a sample NIK could be ANI's
    b = browser("spv1")
    html = b.get("/enrolments?state=PRINT_READY_RECORD").get_data(as_text=True)
    assert ready in html and waiting not in html
    html = b.get("/enrolments?state=BIO_CAPTURED&q=ani").get_data(as_text=True)
    assert waiting in html and ready not in html
    assert b.get("/enrolments?state=NOPE").status_code == 400


@pytest.mark.database
def test_results_are_paged_newest_first(browser, ektp_service) -> None:  # type: ignore[no-untyped-def]
    lc = ektp_service
    ids = [record(lc, serial=100 + i, nama=f"WARGA {chr(65 + i % 26)}") for i in range(enrolment_search.PAGE_SIZE + 5)]
    b = browser("op1")
    first = b.get("/enrolments").get_data(as_text=True)
    assert len(shown_niks(first)) == enrolment_search.PAGE_SIZE
    assert 'rel="next"' in first and 'rel="prev"' not in first
    assert f"{len(ids)} data ditemukan" in first
    second = b.get("/enrolments?page=2").get_data(as_text=True)
    assert len(shown_niks(second)) == 5 and 'rel="next"' not in second and 'rel="prev"' in second
    assert not set(shown_niks(first)) & set(shown_niks(second))
    assert ids[0] in second and ids[-1] in first  # newest first
    # Nonsense page numbers fall back to the first page instead of failing.
    assert b.get("/enrolments?page=abc").status_code == 200


@pytest.mark.database
def test_the_count_is_capped_and_a_page_reads_only_its_rows(ektp_service, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    lc = ektp_service
    for i in range(7):
        record(lc, serial=200 + i)
    monkeypatch.setattr(enrolment_search, "COUNT_CAP", 5)
    with lc.store.read() as conn:
        page = enrolment_search.search(conn, term=None, page=1, size=3)
    assert len(page.rows) == 3 and page.has_next and page.capped and page.total == 5


def test_detail_shows_biodata_timeline_with_actor_verdict_and_jobs(browser, ektp_service) -> None:  # type: ignore[no-untyped-def]
    lc = ektp_service
    job_id = None
    enrolment_id = make_print_ready(lc, nama="DEWI LESTARI")
    job_id = lc.queue_print(enrolment_id, site_code="17.71", actor="spv1", routing_reason="dicetak di Dukcapil").id
    b = browser("op1")
    response = b.get(f"/enrolments/{enrolment_id}")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "DEWI LESTARI" in html
    timeline = html[html.index('id="timeline"') : html.index("</ol>", html.index('id="timeline"'))]
    states = re.findall(r'data-state="([A-Z_]+)"', timeline)
    assert states == [
        "BIO_CAPTURED",
        "SENT_FOR_ENROLLMENT",
        "RECEIVED_AT_CENTRAL",
        "PRINT_READY_RECORD",
        "SENT_FOR_CARD_PRINTING",
    ]
    assert '<span class="actor">central</span>' in timeline and '<span class="actor">spv1</span>' in timeline
    assert job_id in html and "dicetak di Dukcapil" in html
    assert 'data-action="print_job.queued"' in timeline
    assert "Belum dikirim ke sistem pusat" in html  # no submission row: never sent by this node
    assert 'id="resume"' not in html


def test_the_print_steps_are_in_the_timeline(browser, ektp_service) -> None:  # type: ignore[no-untyped-def]
    lc = ektp_service
    enrolment_id = make_print_ready(lc)
    job = lc.queue_print(enrolment_id, site_code="17.71", actor="spv1", routing_reason="di sini")
    lc.receive_blanks("17.71", ["BLK-000001"], actor="spv1")
    lc.reserve_blank(job.id, actor="op1")
    lc.mark_sent(job.id, actor="op1", printer="evolis-meja-2")
    lc.mark_printed(job.id, actor="op1")
    html = browser("op1").get(f"/enrolments/{enrolment_id}").get_data(as_text=True)
    actions = re.findall(r'data-(?:action|state)="([A-Za-z_.]+)"', html[html.index('id="timeline"') :])
    assert actions[-6:] == [
        "SENT_FOR_CARD_PRINTING",
        "print_job.queued",
        "print_job.reserved",
        "print_job.sent",
        "print_job.printed",
        "CARD_PRINTED",
    ]
    assert "evolis-meja-2" in html and "BLK-000001" in html


def test_detail_lists_captures_and_serves_images_uncached(browser, ektp_service) -> None:  # type: ignore[no-untyped-def]
    lc = ektp_service
    enrolment_id = record(lc, serial=41)
    CaptureService(lc).add(
        enrolment_id,
        Sample(modality=Modality.FACE, position="face", image=sample_photo(1), quality=90, device="cam"),
        actor="op1",
    )
    CaptureService(lc).add_exception(
        enrolment_id, "finger", "left_little", reason="amputasi", supervisor="spv1", actor="op1"
    )
    b = browser("op1")
    html = b.get(f"/enrolments/{enrolment_id}").get_data(as_text=True)
    assert f"/enrolments/{enrolment_id}/image/face/face" in html
    assert "amputasi" in html and 'data-action="capture.exception"' in html and 'data-action="capture.saved"' in html
    image = b.get(f"/enrolments/{enrolment_id}/image/face/face")
    assert image.status_code == 200 and image.mimetype.startswith("image/")
    assert image.headers["Cache-Control"] == "no-store"
    assert b.get(f"/enrolments/{enrolment_id}/image/finger/right_thumb").status_code == 404
    assert b.get(f"/enrolments/{enrolment_id}/image/finger/nose").status_code == 404
    assert b.get(f"/enrolments/{enrolment_id}/image/blood/x").status_code == 404


def test_continue_recording_link_only_when_its_page_exists(browser, ektp_service, web_app) -> None:  # type: ignore[no-untyped-def]
    enrolment_id = record(ektp_service, serial=51)
    b = browser("op1")
    html = b.get(f"/enrolments/{enrolment_id}").get_data(as_text=True)
    has_resume = "record.resume" in web_app.view_functions
    assert ('id="resume"' in html) is has_resume
    if has_resume:
        assert f"{enrolment_id}" in html[html.index('id="resume"') - 200 :]


def test_unknown_enrolment_is_404(browser) -> None:  # type: ignore[no-untyped-def]
    b = browser("op1")
    assert b.get("/enrolments/no-such-enrolment").status_code == 404
    assert b.get("/enrolments/no-such-enrolment/image/face/face").status_code == 404


def test_an_admin_is_not_a_desk_account(browser) -> None:  # type: ignore[no-untyped-def]
    assert browser("adm1").get("/enrolments").status_code == 403


@pytest.mark.ektp_profile("kota-bengkulu-kecamatan", site="17.71.05")
def test_a_site_node_shows_only_its_own_enrolments(browser, ektp_service) -> None:  # type: ignore[no-untyped-def]
    lc = ektp_service
    mine = record(lc, serial=61, nama="WARGA SINI", site="17.71.05")
    other = record(lc, serial=62, nama="WARGA LAIN", site="17.71.01")
    b = browser("op1")
    html = b.get("/enrolments").get_data(as_text=True)
    assert mine in html and other not in html
    assert 'name="site"' not in html
    assert b.get(f"/enrolments/{other}").status_code == 404
    assert b.get(f"/enrolments/{mine}").status_code == 200


def test_the_dukcapil_node_filters_by_site(browser, ektp_service) -> None:  # type: ignore[no-untyped-def]
    lc = ektp_service
    here = record(lc, serial=71, site="17.71")
    b = browser("op1")
    html = b.get("/enrolments?site=17.71").get_data(as_text=True)
    assert here in html and 'name="site"' in html
    assert b.get("/enrolments?site=99.99").status_code == 400


@pytest.mark.database
def test_a_nik_prefix_is_a_range_that_stops_at_the_next_prefix(ektp_service) -> None:  # type: ignore[no-untyped-def]
    lc = ektp_service
    base = valid_nik(birth_date=dt.date(1990, 1, 1), sex="P", serial=1)
    ids = {serial: record(lc, serial=serial) for serial in (1, 9, 10, 19, 20)}
    for prefix, wanted in ((base[:15], {1, 9}), (base[:14] + "1", {10, 19}), (base[:14], set(ids))):
        with lc.store.read() as conn:
            page = enrolment_search.search(conn, term=SearchTerm(TermKind.NIK_PREFIX, prefix))
        assert {r.id for r in page.rows} == {ids[s] for s in wanted}, prefix
    with lc.store.read() as conn:
        everything = enrolment_search.search(conn, term=SearchTerm(TermKind.NIK_PREFIX, "9" * 3))
    assert everything.rows == ()


def test_a_nik_search_reads_the_nik_index(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """On SQLite, the embedded default, whatever database the run's other tests use (the plan is read
    with SQLite's EXPLAIN QUERY PLAN)."""
    import sqlalchemy as sa

    from ektp_core.store import Store
    from ektp_core.store.tables import enrolments

    store = Store(f"sqlite:///{tmp_path / 'plan.sqlite3'}")
    store.upgrade()
    for term in (SearchTerm(TermKind.NIK, "1771054101900001"), SearchTerm(TermKind.NIK_PREFIX, "177105")):
        where = enrolment_search.conditions(term=term, state=None, site_code=None)
        select = sa.select(enrolments.c.id).where(*where).limit(26)
        sql = str(select.compile(dialect=store.engine.dialect, compile_kwargs={"literal_binds": True}))
        with store.read() as conn:
            plan = " ".join(str(row) for row in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql).all())
        assert "ix_enrolments_nik" in plan, plan
    store.dispose()


def test_a_travelled_enrolment_shows_its_recording_time_and_its_arrival(browser, ektp_service) -> None:  # type: ignore[no-untyped-def]
    """Guards issue 14 defect 9 on the page: the Dukcapil node showed the arrival (02:42) as the
    recording time (02:40). The enrolment's recording time is the site's; the arrival is labelled."""
    import datetime as dt

    from ektp_plugins.web.ui.app import _when
    from ektp_plugins.web.ui.i18n import Catalogues

    from ektp_core.testing import make_enrolment

    texts = Catalogues()
    recorded = dt.datetime(2026, 12, 7, 2, 40, tzinfo=dt.UTC)
    arrival = recorded + dt.timedelta(minutes=2)
    ektp_service.clock = lambda: arrival
    enrolment = ektp_service.record(make_enrolment(site_code="17.71.05"), recorded_at=recorded)
    page = browser("op1").get(f"/enrolments/{enrolment.id}").get_data(as_text=True)
    assert texts.text("id", "enr.recorded_when", when=_when(recorded)) in page
    assert texts.text("id", "enr.arrived_when", when=_when(arrival)) in page


def test_a_print_jobs_day_reads_as_a_weekday_in_the_readers_language(browser, ektp_service) -> None:  # type: ignore[no-untyped-def]
    """The enrolment's print jobs showed the print day's code ("wednesday") in an Indonesian page."""
    from ektp_plugins.web.ui.i18n import Catalogues

    from ektp_core.testing.samples import make_print_ready

    enrolment_id = make_print_ready(ektp_service)
    ektp_service.queue_print(
        enrolment_id, site_code="17.71", actor="op1", routing_reason="semi-vertical", print_day="wednesday"
    )
    page = browser("op1").get(f"/enrolments/{enrolment_id}").get_data(as_text=True)
    assert f'<span class="badge">{Catalogues().text("id", "weekday.wednesday")}</span>' in page
    assert ">wednesday<" not in page


def test_the_reasons_of_a_printed_card_are_said_in_indonesian(browser, ektp_service: LifecycleService) -> None:
    """The enrolment's reason, its history and its job's routing are stored as messages: the page
    says them in Indonesian (in English after the switch), never as the stored JSON."""
    from ektp_core.messages import Message
    from ektp_core.testing.samples import queue_print_ready

    lc = ektp_service
    job_id = queue_print_ready(lc, seed=3, routing_reason=Message("regions.semi_vertical", office="Disdukcapil"))
    job = lc.jobs_by_id(job_id)
    lc.receive_blanks(job.site_code, ["BLK-000777"], actor="spv1")
    lc.reserve_blank(job_id, actor="op1")
    lc.mark_sent(job_id, actor="op1", printer="evolis-1")
    lc.mark_printed(job_id, actor="op1", reason=Message("reason.confirmed_by", printer="evolis-1"))
    b = browser("op1")
    page = b.get(f"/enrolments/{job.enrolment_id}").get_data(as_text=True)
    assert '{"code"' not in page and "&#34;code&#34;" not in page
    assert "Dikonfirmasi oleh printer evolis-1" in page
    assert "semi-vertikal: semua kartu dicetak di Disdukcapil" in page
    b.post("/language", {"language": "en", "next": "/dashboard"})
    english = b.get(f"/enrolments/{job.enrolment_id}").get_data(as_text=True)
    assert "confirmed by evolis-1" in english and "semi-vertical: every card is printed at Disdukcapil" in english
