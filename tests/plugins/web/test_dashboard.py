"""The dashboard's figures: per day (the office's local days) and per site, today's counts, the regency's view."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from ektp_core.domain.model import EnrolmentState
from ektp_core.lifecycle.service import LifecycleService
from ektp_core.store.read_models.dashboard import DAYS, DashboardFigures, dashboard_figures
from ektp_core.store.tables import central_submissions, outbox
from ektp_core.testing import make_enrolment
from ektp_core.testing.samples import make_print_ready, queue_print_ready, valid_nik

TODAY = dt.date(2026, 11, 27)


def figures(lc: LifecycleService, site_code: str | None, *, today: dt.date) -> DashboardFigures:
    with lc.store.read() as conn:
        return dashboard_figures(conn, site_code, today=today)


def at(day: dt.date, hour: int) -> dt.datetime:
    """A local time of the office, in UTC as the store keeps it."""
    return dt.datetime.combine(day, dt.time(hour)).astimezone().astimezone(dt.UTC)


@pytest.mark.ektp_profile("kota-bengkulu")
@pytest.mark.database
def test_counts_per_local_day_and_per_site(ektp_service: LifecycleService) -> None:
    lc = ektp_service
    plan = [
        (TODAY, 8, "17.71.05"),
        (TODAY, 23, "17.71.05"),
        (TODAY, 0, "17.71.01"),
        (TODAY - dt.timedelta(days=1), 23, "17.71.01"),
        (TODAY - dt.timedelta(days=13), 9, "17.71"),
        (TODAY - dt.timedelta(days=14), 9, "17.71"),  # outside the charts' fortnight
        (TODAY + dt.timedelta(days=1), 1, "17.71"),
    ]  # stamped tomorrow (a clock ahead): not today
    for n, (day, hour, site) in enumerate(plan):
        lc.clock = lambda day=day, hour=hour: at(day, hour)  # type: ignore[misc]
        lc.record(make_enrolment(site_code=site, nik=valid_nik(serial=n + 1)))
    lc.clock = lambda: at(TODAY, 10)  # type: ignore[method-assign]
    lc.receive_blanks("17.71", ["BLK-1", "BLK-2"], actor="spv")
    job = queue_print_ready(lc, seed=1, nik=valid_nik(serial=99))
    lc.reserve_blank(job, actor="op")
    lc.mark_sent(job, actor="op", printer="evolis-dukcapil")
    lc.mark_printed(job, actor="op")

    regency = figures(lc, None, today=TODAY)
    assert regency.days[-1] == TODAY and len(regency.days) == DAYS
    assert regency.recorded_today == 4  # three at the kecamatan plus the printed resident
    assert regency.recorded_per_day[-2] == 1 and regency.recorded_per_day[0] == 1
    assert sum(regency.recorded_per_day) == 6
    assert regency.printed_today == 1 and sum(regency.printed_per_day) == 1
    assert regency.per_site == {"17.71": (2, 1), "17.71.01": (2, 0), "17.71.05": (2, 0)}
    kecamatan = figures(lc, "17.71.05", today=TODAY)
    assert kecamatan.recorded_today == 2 and kecamatan.printed_today == 0
    assert kecamatan.per_site == {"17.71.05": (2, 0)}
    assert kecamatan.by_state == {"BIO_CAPTURED": 2}


def test_the_page_shows_the_figures_and_when_they_were_counted(browser, ektp_service: LifecycleService) -> None:  # type: ignore[no-untyped-def]
    ektp_service.record(make_enrolment(site_code="17.71"))
    b = browser("op1")
    page = b.get("/dashboard").get_data(as_text=True)
    assert 'id="recorded-today">1<' in page and 'id="as-of">per ' in page
    assert 'data-state="BIO_CAPTURED">1<' in page
    assert "<svg" in page  # the chart is drawn on the server


@pytest.mark.database
def test_the_page_shows_every_kind_of_change_on_the_next_request(browser, ektp_service: LifecycleService) -> None:  # type: ignore[no-untyped-def]
    lc = ektp_service
    b = browser("op1")

    def page() -> str:
        return str(b.get("/dashboard").get_data(as_text=True))

    assert 'id="recorded-today">0<' in page()
    lc.record(make_enrolment(site_code="17.71", nik=valid_nik(serial=1)))
    assert 'id="recorded-today">1<' in page() and 'data-state="BIO_CAPTURED">1<' in page()
    ready = make_print_ready(lc, nik=valid_nik(serial=2))
    assert 'data-state="PRINT_READY_RECORD">1<' in page()
    job = lc.queue_print(ready, site_code="17.71", actor="op1", routing_reason="test").id
    assert 'id="queued-jobs">1<' in page()
    lc.receive_blanks("17.71", ["BLK-1", "BLK-2", "BLK-3"], actor="spv1")
    assert 'data-stock="17.71">3<' in page()
    lc.reserve_blank(job, actor="op1")
    lc.mark_sent(job, actor="op1", printer="evolis-dukcapil")
    lc.mark_printed(job, actor="op1")
    shown = page()
    assert 'id="printed-today">1<' in shown and 'data-state="CARD_PRINTED">1<' in shown
    assert 'data-stock="17.71">2<' in shown and 'id="queued-jobs">0<' in shown
    # Not counted, read on every request: a submission row for an enrolment already sent, an outbox row.
    sent = lc.record(make_enrolment(site_code="17.71", nik=valid_nik(serial=3))).id
    lc.transition(sent, EnrolmentState.SENT_FOR_ENROLLMENT, actor="central")
    assert 'id="waiting-central">0<' in page()
    with lc.store.write() as conn:
        conn.execute(central_submissions.insert().values(enrolment_id=sent, verifier="test", attempts=0))
    assert 'id="waiting-central">1<' in page()
    if 'id="waiting-packets"' in page():
        with lc.store.write() as conn:
            conn.execute(
                outbox.insert().values(
                    packet_id="p-1",
                    seq=1,
                    kind="enrolment",
                    subject_id=sent,
                    enrolment_id=sent,
                    created_at=dt.datetime.now(dt.UTC),
                    packet=json.dumps({}).encode(),
                    attempts=0,
                )
            )
        assert 'id="waiting-packets">1<' in page()


def test_the_devices_states_are_said_in_the_pages_language(browser) -> None:
    """READY is "siap" on an Indonesian page and "ready" on an English one (the list is cached for 20 s,
    each request still says it in its own language)."""
    from ektp_plugins.web.ui.i18n import Catalogues

    catalogues = Catalogues()
    b = browser("op1")
    devices = json.loads(b.get("/dashboard/devices").get_data(as_text=True))
    assert devices and all(d["label"] == catalogues.text("id", "term." + d["state"].upper()) for d in devices)
    assert any(d["label"] == "siap" for d in devices), devices
    b.post("/language", {"language": "en", "next": "/dashboard"})
    english = json.loads(b.get("/dashboard/devices").get_data(as_text=True))
    assert [d["label"] for d in english] == [catalogues.text("en", "term." + d["state"].upper()) for d in english]
    assert "said" not in english[0]
