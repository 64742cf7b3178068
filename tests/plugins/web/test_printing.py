"""The print queue pages over a real deployment (minimal profile: emulated Evolis over the fake USB
bus, a proof printer): the queue, the card preview, printing in the background with progress,
printer faults, supervisors' decisions on UNKNOWN jobs. Every case leaves the blank ledger balanced."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from ektp_plugins.web.ui import printing_runs
from ektp_plugins.web.ui.i18n import Catalogues

from ektp_core.domain.model import EnrolmentState, PrintJobState
from ektp_core.lifecycle.service import LifecycleService
from ektp_core.testing.samples import queue_print_ready

SITE = "17.71"


def queued(lc: LifecycleService, seed: int = 0) -> str:
    return queue_print_ready(lc, seed=seed, routing_reason="dukcapil-only: the Dukcapil office prints every card")


def start(b: Any, **form: str) -> str:
    """Post a print and return the run page's path."""
    response = b.post("/print/run", {"printer": "evolis-1", **form})
    assert response.status_code == 302, response.get_data(as_text=True)
    return str(response.headers["Location"])


def finish(b: Any, run_path: str, timeout: float = 60) -> dict[str, Any]:
    """Poll the run's JSON status as the page does, until it is done."""
    deadline = time.monotonic() + timeout
    seen_steps: list[str] = []
    while time.monotonic() < deadline:
        response = b.get(run_path + "/status")
        assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
        status: dict[str, Any] = response.get_json()
        seen_steps += status["steps"]
        if status["done"]:
            status["seen_steps"] = seen_steps
            return status
        time.sleep(0.05)
    raise AssertionError("the print run did not finish")


def balanced(lc: LifecycleService) -> Any:
    ledger = lc.ledger(SITE)
    assert ledger.balanced, ledger
    return ledger


@pytest.fixture
def slow_printer(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Printers the runs open get their emulator adjusted by ``settings`` (faults, a slow mechanism)."""
    settings: dict[str, Any] = {}
    real = printing_runs.make_printer

    def make(setting: Any, host: Any, root: Path) -> Any:
        printer = real(setting, host, root)
        emulator = getattr(printer, "emulator", None)
        if emulator is not None:
            for key, value in settings.items():
                setattr(emulator, key, value)
        return printer

    monkeypatch.setattr(printing_runs, "make_printer", make)
    return settings


def test_queue_shows_the_routing_reason_and_a_preview(browser, ektp_service: LifecycleService) -> None:
    job_id = queued(ektp_service)
    b = browser("op1")
    page = b.get("/print").get_data(as_text=True)
    assert "dukcapil-only: the Dukcapil office prints every card" in page
    assert "SITI AMINAH" in page and job_id in page and "Dalam antrean" in page
    assert 'name="job" value="' + job_id in page  # a print button for the queued job
    shown = b.get(f"/print?preview={job_id}").get_data(as_text=True)
    assert f"/print/jobs/{job_id}/preview.png" in shown
    png = b.get(f"/print/jobs/{job_id}/preview.png")
    assert png.status_code == 200 and png.mimetype == "image/png" and png.data.startswith(b"\x89PNG")
    assert png.headers["Cache-Control"] == "no-store"
    assert b.get("/print/jobs/no-such-job/preview.png").status_code == 404
    # The queue is for the desk: an administrator is refused.
    assert browser("adm1").get("/print").status_code == 403


def test_print_one_job_with_progress(browser, ektp_service: LifecycleService, ektp_deployment) -> None:
    job_id = queued(ektp_service)
    ektp_service.receive_blanks(SITE, ["BLK-000001", "BLK-000002"], actor="spv1")
    b = browser("op1")
    run_path = start(b, job=job_id)
    assert "/print/runs/" in run_path
    status = finish(b, run_path)
    assert status["failed"] is None, status
    [job] = status["jobs"]
    assert (job["id"], job["state"], job["blank"]) == (job_id, "PRINTED", "BLK-000001")
    # The driver's steps reached the page, in Indonesian ("panel Y" -> the catalogue's text).
    yellow = Catalogues().text("id", "step.panel Y")
    assert yellow != "step.panel Y" and any(yellow in step for step in status["seen_steps"]), status["seen_steps"]
    assert status["check"]["matches"] and status["check"]["ledger"] == 1 and status["overall"] == 1.0
    assert any("PDF" in note["text"] for note in status["notes"])  # the proof copy
    # The proof copy goes beside the proof printer's own cards, never moving its counter.
    assert list((ektp_deployment.root / "proofs" / "copies").glob("*.pdf"))
    assert not list((ektp_deployment.root / "proofs").glob("*.pdf"))
    page = b.get(run_path).get_data(as_text=True)
    assert "Tercetak" in page and "BLK-000001" in page
    assert ektp_service.jobs_by_id(job_id).state is PrintJobState.PRINTED
    assert ektp_service.get(ektp_service.jobs_by_id(job_id).enrolment_id).state is EnrolmentState.CARD_PRINTED
    ledger = balanced(ektp_service)
    assert (ledger.printed, ledger.in_stock) == (1, 1)
    # Printing it again is refused before anything starts.
    again = b.post("/print/run", {"printer": "evolis-1", "job": job_id}, follow_redirects=True)
    assert "hanya yang dalam antrean bisa dicetak" in again.get_data(as_text=True)
    assert balanced(ektp_service).printed == 1


@pytest.mark.database
def test_print_all_queued_and_a_second_click_is_refused(
    browser, ektp_service: LifecycleService, slow_printer: dict[str, Any]
) -> None:
    jobs = [queued(ektp_service, seed=i) for i in range(2)]
    ektp_service.receive_blanks(SITE, [f"BLK-00001{i}" for i in range(5)], actor="spv1")
    slow_printer["mechanism_seconds"] = 0.6
    b = browser("op1")
    run_path = start(b, all="1")
    second = b.post("/print/run", {"printer": "evolis-1", "all": "1"})
    assert second.status_code == 302 and second.headers["Location"] == run_path  # to the run already going
    shown = b.get(run_path).get_data(as_text=True)
    assert "masih mencetak" in shown
    status = finish(b, run_path)
    assert [j["state"] for j in status["jobs"]] == ["PRINTED", "PRINTED"] and [j["id"] for j in status["jobs"]] == jobs
    ledger = balanced(ektp_service)
    assert (ledger.printed, ledger.in_stock, ledger.reserved) == (2, 3, 0)
    nothing = b.post("/print/run", {"printer": "evolis-1", "all": "1"}, follow_redirects=True)
    assert "Tidak ada pekerjaan dalam antrean" in nothing.get_data(as_text=True)


def test_a_printer_that_is_unplugged(browser, ektp_service: LifecycleService, monkeypatch: pytest.MonkeyPatch) -> None:
    from ektp_core.devices.declared import PrinterSetting

    real = printing_runs.make_printer

    def unplugged(setting: PrinterSetting, host: Any, root: Path) -> Any:
        # The same driver without its emulator: no device on the bus, as with the cable out.
        return real(PrinterSetting(name=setting.name, driver=setting.driver, site=setting.site), host, root)

    monkeypatch.setattr(printing_runs, "make_printer", unplugged)
    job_id = queued(ektp_service)
    ektp_service.receive_blanks(SITE, ["BLK-000001"], actor="spv1")
    b = browser("op1")
    status = finish(b, start(b, job=job_id))
    assert "tidak terhubung" in status["failed"]
    assert ektp_service.jobs_by_id(job_id).state is PrintJobState.QUEUED
    ledger = balanced(ektp_service)
    assert (ledger.in_stock, ledger.reserved) == (1, 0)


def test_ribbon_ends_mid_card_and_the_card_is_spoiled(
    browser, ektp_service: LifecycleService, slow_printer: dict[str, Any]
) -> None:
    job_id = queued(ektp_service)
    ektp_service.receive_blanks(SITE, ["BLK-000001", "BLK-000002"], actor="spv1")
    slow_printer["ribbon_end_on_next_card"] = True
    b = browser("op1")
    status = finish(b, start(b, job=job_id))
    [job] = status["jobs"]
    assert job["state"] == "SPOILED" and job["blank"] == "BLK-000001"
    texts = " ".join(n["text"] for n in status["notes"])
    assert "Pita (ribbon)" in texts and "rusak" in texts
    assert status["check"]["matches"]  # the ruined card went through the printer and the ledger says so
    ledger = balanced(ektp_service)
    assert (ledger.spoiled, ledger.in_stock) == (1, 1)
    # At the Dukcapil node an operator queues it again (never automatic).
    requeued = b.post(f"/print/jobs/{job_id}/requeue", follow_redirects=True)
    assert "Pekerjaan baru" in requeued.get_data(as_text=True)
    open_jobs = ektp_service.jobs(site_code=SITE, states=("QUEUED",))
    assert len(open_jobs) == 1 and open_jobs[0].id != job_id


def test_empty_hopper_gives_the_blank_back(
    browser, ektp_service: LifecycleService, slow_printer: dict[str, Any]
) -> None:
    job_id = queued(ektp_service)
    ektp_service.receive_blanks(SITE, ["BLK-000001"], actor="spv1")
    slow_printer["feeder"] = 0
    b = browser("op1")
    status = finish(b, start(b, job=job_id))
    texts = " ".join(n["text"] for n in status["notes"]) + (status["failed"] or "")
    assert "Hopper" in texts or "belum siap" in texts
    assert ektp_service.jobs_by_id(job_id).state is PrintJobState.QUEUED
    assert balanced(ektp_service).in_stock == 1


def test_no_blanks_in_stock_consumes_nothing(browser, ektp_service: LifecycleService) -> None:
    job_id = queued(ektp_service)
    b = browser("op1")
    status = finish(b, start(b, job=job_id))
    assert "Tidak ada blangko" in status["failed"]
    assert ektp_service.jobs_by_id(job_id).state is PrintJobState.QUEUED
    assert ektp_service.ledger(SITE).received == 0


def test_bad_print_requests(browser, ektp_service: LifecycleService) -> None:
    job_id = queued(ektp_service)
    b = browser("op1")
    page = b.post("/print/run", {"printer": "no-such-printer", "job": job_id}, follow_redirects=True)
    assert "Tidak ada printer bernama" in page.get_data(as_text=True)
    assert b.post("/print/run", {"printer": "evolis-1", "job": "missing"}).status_code == 404
    page = b.post("/print/run", {"printer": "evolis-1"}, follow_redirects=True)
    assert "Pilih pekerjaan" in page.get_data(as_text=True)
    assert b.post("/print/run", {"printer": "evolis-1", "job": job_id}, csrf=False).status_code == 400
    assert b.get("/print/runs/unknown-run").status_code == 404
    assert ektp_service.jobs_by_id(job_id).state is PrintJobState.QUEUED


def unknown_job(lc: LifecycleService, seed: int = 0) -> str:
    job_id = queued(lc, seed=seed)
    lc.reserve_blank(job_id, actor="op1")
    lc.mark_sent(job_id, actor="op1", printer="evolis-1")
    lc.mark_unknown(job_id, actor="op1", reason="the printer stopped answering")
    return job_id


def test_only_a_supervisor_resolves_an_unknown_job(browser, ektp_service: LifecycleService) -> None:
    ektp_service.receive_blanks(SITE, ["BLK-000001", "BLK-000002", "BLK-000003"], actor="spv1")
    printed, spoiled, not_taken = (unknown_job(ektp_service, seed=i) for i in range(3))
    op = browser("op1")
    assert "Menunggu keputusan supervisor" in op.get("/print").get_data(as_text=True)
    refused = op.post(f"/print/jobs/{printed}/resolve", {"outcome": "printed", "reason": "saw the card"})
    assert refused.status_code == 403
    spv = browser("spv1")
    page = spv.get("/print").get_data(as_text=True)
    assert f"/print/jobs/{printed}/resolve" in page
    no_reason = spv.post(f"/print/jobs/{printed}/resolve", {"outcome": "printed", "reason": " "}, follow_redirects=True)
    assert "Alasan wajib diisi" in no_reason.get_data(as_text=True)
    assert ektp_service.jobs_by_id(printed).state is PrintJobState.UNKNOWN
    bad = spv.post(f"/print/jobs/{printed}/resolve", {"outcome": "maybe", "reason": "x"}, follow_redirects=True)
    assert "Pilih apa yang terjadi" in bad.get_data(as_text=True)
    for job_id, outcome, state in (
        (printed, "printed", PrintJobState.PRINTED),
        (spoiled, "spoiled", PrintJobState.SPOILED),
        (not_taken, "not-taken", PrintJobState.QUEUED),
    ):
        done = spv.post(
            f"/print/jobs/{job_id}/resolve",
            {"outcome": outcome, "reason": "looked at the printer"},
            follow_redirects=True,
        )
        assert "diputuskan" in done.get_data(as_text=True)
        assert ektp_service.jobs_by_id(job_id).state is state
    twice = spv.post(f"/print/jobs/{printed}/resolve", {"outcome": "spoiled", "reason": "again"}, follow_redirects=True)
    assert "hanya yang Tidak diketahui" in twice.get_data(as_text=True)
    ledger = balanced(ektp_service)
    assert (ledger.printed, ledger.spoiled, ledger.in_stock, ledger.reserved) == (1, 1, 1, 0)


def test_english_messages(browser, ektp_service: LifecycleService) -> None:
    queued(ektp_service)
    b = browser("op1")
    b.post("/language", {"language": "en", "next": "/print"})
    page = b.get("/print").get_data(as_text=True)
    assert "e-KTP print queue" in page and "Queued" in page


@pytest.mark.ektp_profile("kota-bengkulu-kecamatan", site="17.71.01")
def test_a_site_prints_only_jobs_the_dukcapil_node_signed(browser, ektp_service: LifecycleService) -> None:
    # A job made at the site itself (not routed and signed by the Dukcapil node) is refused, nothing used.
    job_id = queue_print_ready(ektp_service, site_code="17.71.01", routing_reason="made at the site")
    ektp_service.receive_blanks("17.71.01", ["BLK-000001"], actor="spv1")
    b = browser("op1")
    page = b.get("/print").get_data(as_text=True)
    assert "made at the site" in page and "evolis-17.71.01" in page and "evolis-dukcapil" not in page
    response = b.post("/print/run", {"printer": "evolis-17.71.01", "job": job_id})
    status = finish(b, str(response.headers["Location"]))
    assert "tidak ditandatangani oleh Dukcapil" in status["failed"]
    assert ektp_service.jobs_by_id(job_id).state is PrintJobState.QUEUED
    ledger = ektp_service.ledger("17.71.01")
    assert (ledger.in_stock, ledger.reserved, ledger.balanced) == (1, 0, True)
    # Another site's printer is not offered, and asking for it is refused.
    refused = b.post("/print/run", {"printer": "evolis-dukcapil", "job": job_id}, follow_redirects=True)
    assert "Tidak ada printer bernama" in refused.get_data(as_text=True)
    # A reprint is the Dukcapil node's decision: the route is for the Dukcapil node only.
    assert b.post(f"/print/jobs/{job_id}/requeue").status_code == 403


def test_print_all_leaves_jobs_waiting_for_their_print_day(browser, ektp_service: LifecycleService) -> None:
    import datetime as dt

    from ektp_core.devices.region_rules import WEEKDAYS
    from ektp_core.testing.samples import make_print_ready

    tomorrow = WEEKDAYS[(dt.date.today() + dt.timedelta(days=1)).weekday()]
    enrolment_id = make_print_ready(ektp_service)
    job = ektp_service.queue_print(
        enrolment_id, site_code=SITE, actor="op1", routing_reason="semi-vertical", print_day=tomorrow
    )
    ektp_service.receive_blanks(SITE, ["BLK-000001"], actor="spv1")
    b = browser("op1")
    assert "bukan hari ini" in b.get("/print").get_data(as_text=True)
    page = b.post("/print/run", {"printer": "evolis-1", "all": "1"}, follow_redirects=True).get_data(as_text=True)
    assert "menunggu hari cetaknya" in page and "Tidak ada pekerjaan dalam antrean" in page
    assert ektp_service.jobs_by_id(job.id).state is PrintJobState.QUEUED
    # With the box ticked (or by its own button) it prints now, as `ektp print --queued --any-day`.
    status = finish(b, start(b, all="1", any_day="1"))
    assert [j["state"] for j in status["jobs"]] == ["PRINTED"]


def test_out_of_ribbon_before_the_card(browser, ektp_service: LifecycleService, slow_printer: dict[str, Any]) -> None:
    job_id = queued(ektp_service)
    ektp_service.receive_blanks(SITE, ["BLK-000001"], actor="spv1")
    slow_printer["ribbon_left"] = 0
    b = browser("op1")
    status = finish(b, start(b, job=job_id))
    texts = " ".join(n["text"] for n in status["notes"]) + (status["failed"] or "")
    assert "ribbon" in texts.lower(), status
    assert ektp_service.jobs_by_id(job_id).state is PrintJobState.QUEUED
    ledger = balanced(ektp_service)
    assert (ledger.in_stock, ledger.reserved, ledger.spoiled) == (1, 0, 0)


@pytest.mark.database
def test_two_printers_print_at_once(browser, ektp_service: LifecycleService, slow_printer: dict[str, Any]) -> None:
    # A run starting while another prints must not take that run's card for an interrupted one.
    first, second = queued(ektp_service, seed=1), queued(ektp_service, seed=2)
    ektp_service.receive_blanks(SITE, ["BLK-000001", "BLK-000002"], actor="spv1")
    slow_printer["mechanism_seconds"] = 1.0
    op, spv = browser("op1"), browser("spv1")
    evolis = start(op, job=first)
    deadline = time.monotonic() + 30
    while ektp_service.jobs_by_id(first).state is not PrintJobState.SENT:
        assert time.monotonic() < deadline, "the first card was never sent"
        time.sleep(0.02)
    proof = spv.post("/print/run", {"printer": "proof", "job": second})
    assert proof.status_code == 302 and proof.headers["Location"] != evolis
    assert finish(spv, str(proof.headers["Location"]))["jobs"][0]["state"] == "PRINTED"
    assert finish(op, evolis)["jobs"][0]["state"] == "PRINTED"
    assert ektp_service.jobs_by_id(first).printer == "evolis-1"
    assert ektp_service.jobs_by_id(second).printer == "proof"
    ledger = balanced(ektp_service)
    assert (ledger.printed, ledger.in_stock) == (2, 0)
    # The proof copy of the Evolis card did not move the proof printer's own counter.
    page = op.get("/print").get_data(as_text=True)
    assert "data-mismatch" not in page


def test_a_driver_bug_leaves_the_card_for_a_supervisor(
    browser, ektp_service: LifecycleService, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = printing_runs.make_printer

    def broken(setting: Any, host: Any, root: Path) -> Any:
        printer = real(setting, host, root)

        def print_card(card: Any, *, progress: Any = None) -> Any:
            raise RuntimeError("driver bug")

        printer.print_card = print_card
        return printer

    monkeypatch.setattr(printing_runs, "make_printer", broken)
    job_id = queued(ektp_service)
    ektp_service.receive_blanks(SITE, ["BLK-000001"], actor="spv1")
    b = browser("op1")
    status = finish(b, start(b, job=job_id))
    # The exception's class names the fault; its English text goes to the log, not to the operator.
    assert "Kesalahan tak terduga" in status["failed"] and "RuntimeError" in status["failed"]
    assert ektp_service.jobs_by_id(job_id).state is PrintJobState.UNKNOWN  # never printed again by itself
    assert balanced(ektp_service).reserved == 1


@pytest.mark.database
def test_an_interrupted_run_is_settled_when_printing_starts(browser, ektp_service: LifecycleService) -> None:
    # The node stopped mid-run: one card was sent, the next one's blank reserved.
    sent, reserved, fresh = (queued(ektp_service, seed=i) for i in range(3))
    ektp_service.receive_blanks(SITE, ["BLK-000001", "BLK-000002", "BLK-000003"], actor="spv1")
    ektp_service.reserve_blank(sent, actor="op1")
    ektp_service.mark_sent(sent, actor="op1", printer="evolis-1")
    ektp_service.reserve_blank(reserved, actor="op1")
    b = browser("op1")
    assert b.get("/print").get_data(as_text=True).count("data-interrupted") == 2
    status = finish(b, start(b, job=fresh))
    texts = " ".join(n["text"] for n in status["notes"])
    assert f"pekerjaan {sent} berstatus Tidak diketahui" in texts and f"pekerjaan {reserved} mengembalikan" in texts
    assert ektp_service.jobs_by_id(sent).state is PrintJobState.UNKNOWN
    assert ektp_service.jobs_by_id(reserved).state is PrintJobState.QUEUED
    assert ektp_service.jobs_by_id(fresh).state is PrintJobState.PRINTED
    ledger = balanced(ektp_service)
    assert (ledger.reserved, ledger.printed, ledger.in_stock) == (1, 1, 1)


def test_a_supervisor_spoils_a_misprinted_card_and_it_is_printed_again(
    browser,  # type: ignore[no-untyped-def]
    ektp_service: LifecycleService,
) -> None:
    job_id = queued(ektp_service)
    ektp_service.receive_blanks(SITE, ["BLK-000001", "BLK-000002"], actor="spv1")
    op = browser("op1")
    assert finish(op, start(op, job=job_id))["jobs"][0]["state"] == "PRINTED"
    # Operators do not see the form and cannot post it.
    assert f"/print/jobs/{job_id}/spoil" not in op.get("/print").get_data(as_text=True)
    assert op.post(f"/print/jobs/{job_id}/spoil", {"reason": "smudged"}).status_code == 403
    spv = browser("spv1")
    assert f"/print/jobs/{job_id}/spoil" in spv.get("/print").get_data(as_text=True)
    no_reason = spv.post(f"/print/jobs/{job_id}/spoil", {"reason": ""}, follow_redirects=True)
    assert "Alasan wajib diisi" in no_reason.get_data(as_text=True)
    assert ektp_service.jobs_by_id(job_id).state is PrintJobState.PRINTED
    done = spv.post(f"/print/jobs/{job_id}/spoil", {"reason": "foto terlalu gelap"}, follow_redirects=True)
    assert "dicatat rusak" in done.get_data(as_text=True)
    assert ektp_service.jobs_by_id(job_id).state is PrintJobState.SPOILED
    ledger = balanced(ektp_service)
    assert (ledger.printed, ledger.spoiled, ledger.in_stock) == (0, 1, 1)
    twice = spv.post(f"/print/jobs/{job_id}/spoil", {"reason": "again"}, follow_redirects=True)
    assert ektp_service.jobs_by_id(job_id).state is PrintJobState.SPOILED and twice.status_code == 200
    # The card is ordered again and prints on the next blank.
    assert spv.post(f"/print/jobs/{job_id}/requeue").status_code == 302
    [again] = [j for j in ektp_service.jobs(states=["QUEUED"])]
    assert finish(op, start(op, job=again.id))["jobs"][0]["state"] == "PRINTED"
    ledger = balanced(ektp_service)
    assert (ledger.printed, ledger.spoiled, ledger.in_stock) == (1, 1, 0)


@pytest.mark.database
def test_a_long_queue_is_paged_with_the_counts_of_the_whole_queue(
    browser,  # type: ignore[no-untyped-def]
    ektp_service: LifecycleService,
) -> None:
    from ektp_core.store.read_models.print_queue import QUEUE_PAGE

    ids = [queued(ektp_service, seed=i) for i in range(QUEUE_PAGE + 7)]
    b = browser("op1")
    first = b.get("/print").get_data(as_text=True)
    assert first.count('<tr data-job="') - first.count('id="recent"') >= QUEUE_PAGE
    assert "Halaman 1 dari 2" in first
    assert f": {QUEUE_PAGE + 7}</span>" in first  # the QUEUED count is the whole queue's
    second = b.get("/print?page=2").get_data(as_text=True)
    shown = [job_id for job_id in ids if f'data-job="{job_id}"' in second]
    assert len(shown) == 7 and shown == ids[-7:]  # oldest first: the last ones on the last page
    assert "Halaman 2 dari 2" in b.get("/print?page=99").get_data(as_text=True)
    assert b.get("/print?page=x").status_code == 200


def test_a_refused_run_says_it_was_refused_and_why(browser, ektp_service: LifecycleService) -> None:  # type: ignore[no-untyped-def]
    """Guards issue 14 defect 11: a run refused before its first card (no blanks here) read
    "Selesai ... 0 dari 1 kartu diproses", as if it had done its work."""
    from ektp_plugins.web.ui.i18n import Catalogues

    texts = Catalogues()
    job_id = queued(ektp_service)  # and no blank in stock
    b = browser("op1")
    path = start(b, job=job_id)
    status = finish(b, path)
    assert status["summary"] == texts.text("id", "print.run_refused", printer="evolis-1", total=1)
    # Why, right below the summary: no blanks in stock.
    assert status["failed"].startswith(texts.text("id", "print.err.no_blanks", detail="").split("(")[0])
    page = b.get(path).get_data(as_text=True)
    assert "ditolak" in page and "diproses" not in page
    assert ektp_service.jobs_by_id(job_id).state is PrintJobState.QUEUED
    # A run that prints says how many cards were printed, not "processed".
    ektp_service.receive_blanks(SITE, ["BLK-000001"], actor="spv1")
    done = finish(b, start(b, job=job_id))
    assert done["summary"] == texts.text("id", "print.run_done", printer="evolis-1", printed=1, total=1)


def test_spoiling_a_printed_card_says_how_it_is_printed_again(browser, ektp_service: LifecycleService) -> None:  # type: ignore[no-untyped-def]
    """Guards issue 14 defect 11: after a printed card was spoiled the message said "cetak ulang dari
    antrean" while nothing was queued (a reprint is the Dukcapil node's decision). The message names
    the button that queues it, and the queue's count moves only when it is pressed."""
    job_id = queued(ektp_service)
    ektp_service.receive_blanks(SITE, ["BLK-000001", "BLK-000002"], actor="spv1")
    op, spv = browser("op1"), browser("spv1")
    assert finish(op, start(op, job=job_id))["jobs"][0]["state"] == "PRINTED"
    done = spv.post(f"/print/jobs/{job_id}/spoil", {"reason": "foto terlalu gelap"}, follow_redirects=True)
    page = done.get_data(as_text=True)
    assert "dari antrean" not in page and "belum masuk antrean lagi" in page and "Cetak ulang" in page
    assert ektp_service.jobs(states=["QUEUED"]) == []
    assert 'data-today-count="0"' in page and 'data-any-count="0"' in page
    spv.post(f"/print/jobs/{job_id}/requeue")
    assert 'data-any-count="1"' in spv.get("/print").get_data(as_text=True)
