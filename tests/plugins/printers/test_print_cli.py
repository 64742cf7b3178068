"""`ektp print` and friends end to end: a print-ready enrolment printed on the emulated Evolis printer
through the real driver and pyusb, the card it printed equal to the rendered layout, the ledger and
the printer's counter in agreement."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from PIL import Image

from ektp_core.cli import cli
from ektp_core.domain.model import EnrolmentState
from ektp_core.lifecycle.service import LifecycleService
from ektp_core.services.printing import PrintService
from ektp_core.testing.samples import queue_print_ready

SITE = "17.71"


def print_ready_job(lc: LifecycleService, *, seed: int = 1) -> str:
    return queue_print_ready(lc, seed=seed, routing_reason="dukcapil-only")


@pytest.fixture
def run(ektp_deployment):
    runner = CliRunner()

    def invoke(*args: str):
        return runner.invoke(cli, [*args, "-d", str(ektp_deployment.root)])

    return invoke


def test_print_on_the_emulated_evolis_matches_the_layout(ektp_deployment, ektp_service, ektp_host, run) -> None:
    job_id = print_ready_job(ektp_service)
    assert run("blanks", "receive", "--first", "BLK-000001", "--count", "5").exit_code == 0
    queue = json.loads(run("print-queue", "--json").stdout)
    assert [j["id"] for j in queue] == [job_id] and queue[0]["routing_reason"] == "dukcapil-only"
    devices = {d["name"]: d for d in json.loads(run("devices", "--json").stdout)}
    assert devices["evolis-1"]["connected"] and devices["evolis-1"]["state"] == "READY"
    assert devices["proof"]["connected"]
    scanner = devices["fingerprint-1"]
    assert (scanner["kind"], scanner["connected"], scanner["state"], scanner["modalities"]) == (
        "scanner",
        True,
        "READY",
        ["finger"],
    )
    before = devices["evolis-1"]["card_count"]

    result = run("print", job_id)
    assert result.exit_code == 0, result.output
    assert f"job {job_id} PRINTED on blank BLK-000001" in result.stdout
    assert "panel K" in result.stderr  # progress is shown

    # What the emulated printer decoded from the USB stream is the layout the renderer made.
    job = ektp_service.jobs_by_id(job_id)
    service = PrintService(ektp_service, ektp_host, ektp_deployment)
    expected = service.render(service.card_data(job, (1016, 648)), job)
    printed = Image.open(ektp_deployment.root / "emulated-evolis" / "cards" / "card-000001.png").convert("RGB")
    assert printed.tobytes() == Image.open(io.BytesIO(expected.preview_png)).convert("RGB").tobytes()

    counts = json.loads(run("blanks", "count", "--json").stdout)
    assert counts["balanced"] and (counts["printed"], counts["in_stock"]) == (1, 4)
    assert counts["printers"][0]["matches"] and counts["printers"][0]["printer_cards"] == 1
    assert json.loads(run("devices", "--json").stdout)[0]["card_count"] == before + 1
    assert ektp_service.get(job.enrolment_id).state is EnrolmentState.CARD_PRINTED


def test_print_refusals_consume_nothing(ektp_service, run) -> None:
    job_id = print_ready_job(ektp_service)
    refused = run("print", job_id)
    assert refused.exit_code == 1 and "no blank cards in stock" in refused.output
    run("blanks", "receive", "BLK-000010")
    assert run("print", job_id).exit_code == 0
    again = run("print", job_id)
    assert again.exit_code == 1 and "only a QUEUED job can be printed" in again.output
    assert run("print").exit_code == 2  # neither jobs nor --queued
    counts = json.loads(run("blanks", "count", "--json").stdout)
    assert counts["received"] == 1 and counts["printed"] == 1 and counts["balanced"]


def test_print_queued_prints_the_whole_queue(ektp_service, run) -> None:
    jobs = [print_ready_job(ektp_service, seed=i) for i in range(3)]
    run("blanks", "receive", "--first", "BLK-000001", "--count", "2")
    result = run("print", "--queued")
    assert result.exit_code == 1  # two printed, then no blank left for the third
    assert result.stdout.count("PRINTED") == 2 and "no blank cards in stock" in result.stderr
    assert json.loads(run("print-queue", "--json").stdout)[0]["id"] == jobs[2]


def test_spoil_and_receive_errors(run) -> None:
    run("blanks", "receive", "BLK-000001", "BLK-000002")
    assert run("blanks", "spoil", "BLK-000001", "--reason", "bent in transport").exit_code == 0
    dup = run("blanks", "receive", "BLK-000002")
    assert dup.exit_code == 1 and "already in the ledger" in dup.output
    assert run("blanks", "receive", "--first", "BLK-9", "--count", "0").exit_code == 2
    counts = json.loads(run("blanks", "count", "--json").stdout)
    assert (counts["spoiled"], counts["in_stock"], counts["received"]) == (1, 1, 2)


def test_a_printer_that_is_not_there(ektp_deployment, ektp_service, run) -> None:
    profile = ektp_deployment.root / "profile.toml"
    profile.write_text(
        profile.read_text().replace('options = { emulator = true, emulator_state = "emulated-evolis" }', "options = {}")
    )
    devices = {d["name"]: d for d in json.loads(run("devices", "--json").stdout)}
    assert not devices["evolis-1"]["connected"] and devices["evolis-1"]["state"] == "OFFLINE"
    job_id = print_ready_job(ektp_service)
    run("blanks", "receive", "BLK-000001")
    result = run("print", job_id, "--printer", "evolis-1")
    assert result.exit_code == 1 and "nothing was reserved" in result.output
    counts = json.loads(run("blanks", "count", "--json").stdout)
    assert counts["in_stock"] == 1 and counts["reserved"] == 0


def test_proof_printer_prints_through_the_ledger(ektp_deployment, ektp_service, run) -> None:
    job_id = print_ready_job(ektp_service)
    run("blanks", "receive", "BLK-000001")
    result = run("print", job_id, "--printer", "proof")
    assert result.exit_code == 0, result.output
    pdfs = list(Path(ektp_deployment.root / "proofs").glob("*.pdf"))
    assert len(pdfs) == 1 and pdfs[0].read_bytes().startswith(b"%PDF")


def test_print_resolve_by_a_supervisor(ektp_service, run) -> None:
    from ektp_core.domain.model import Operator, PrintJobState, Role
    from ektp_core.keys import crypto

    ektp_service.add_operator(
        Operator(
            username="sup1",
            full_name="Sup",
            role=Role.SUPERVISOR,
            site_code=SITE,
            password_hash=crypto.hash_password("x" * 12, n=2**4),
        ),
        actor="admin",
    )
    run("blanks", "receive", "BLK-000001", "BLK-000002")
    stuck = []
    for seed in range(2):
        job_id = print_ready_job(ektp_service, seed=seed)
        ektp_service.reserve_blank(job_id, actor="op")
        ektp_service.mark_sent(job_id, actor="op", printer="evolis-1")
        ektp_service.mark_unknown(job_id, actor="op", reason="the process died")
        stuck.append(job_id)
    refused = run("print-resolve", stuck[0], "--outcome", "printed", "--supervisor", "op", "--reason", "x")
    assert refused.exit_code == 1 and "supervisor" in refused.output
    ok = run(
        "print-resolve",
        stuck[0],
        "--outcome",
        "not-taken",
        "--supervisor",
        "sup1",
        "--reason",
        "the counter did not move",
    )
    assert ok.exit_code == 0 and "QUEUED" in ok.output
    assert (
        run(
            "print-resolve", stuck[1], "--outcome", "spoiled", "--supervisor", "sup1", "--reason", "card half printed"
        ).exit_code
        == 0
    )
    assert ektp_service.jobs_by_id(stuck[0]).state is PrintJobState.QUEUED
    counts = json.loads(run("blanks", "count", "--json").stdout)
    assert (counts["in_stock"], counts["spoiled"], counts["reserved"]) == (1, 1, 0) and counts["balanced"]


def test_devices_text_lists_printers_and_scanners(run) -> None:
    lines = run("devices").stdout.splitlines()
    assert any(line.startswith("printer") and "evolis-1" in line and "cards" in line for line in lines)
    scanner = next(line for line in lines if line.startswith("scanner"))
    assert "fingerprint-1" in scanner and "(finger)" in scanner and "cards" not in scanner
