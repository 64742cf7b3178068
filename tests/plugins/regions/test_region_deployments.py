"""Each bundled profile makes a working deployment whose print-ready enrolments land where the rules say."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from ektp_core.cli import cli
from ektp_core.config import Deployment
from ektp_core.domain.model import EnrolmentState, PrintJobState
from ektp_core.lifecycle.routing import PrintRouter
from ektp_core.lifecycle.service import LifecycleService
from ektp_core.messages import text_of
from ektp_core.services.node_init import create_deployment
from ektp_core.testing.samples import make_print_ready

#: profile, where a resident records, where blanks are delivered, where the card must print, the print day
CASES = [
    ("kota-bengkulu", "17.71.07", "17.71", "17.71", "thursday"),
    ("kota-bengkulu-kecamatan", "17.71.05", "17.71.05", "17.71.05", None),
    ("dki-jakarta-pusat", "31.71.01.1002", "31.71.01", "31.71.01", None),
]


@pytest.fixture
def service_for(ektp_database_url: str, tmp_path: Path) -> Iterator[object]:
    stores = []

    def make(profile: str) -> tuple[Deployment, LifecycleService]:
        deployment = create_deployment(tmp_path / profile, profile=profile, database_url=ektp_database_url)
        store = deployment.open_store()
        stores.append(store)
        return deployment, LifecycleService(store, deployment.plugin_host().hook, deployment)

    yield make
    for store in stores:
        store.dispose()


@pytest.mark.parametrize(("name", "recorded_at", "blanks_at", "prints_at", "day"), CASES)
def test_print_ready_enrolment_lands_where_the_rules_say(
    service_for, name: str, recorded_at: str, blanks_at: str, prints_at: str, day: str | None
) -> None:
    deployment, lc = service_for(name)
    assert deployment.profile.name == name
    lc.receive_blanks(blanks_at, [f"BLK-{i:06d}" for i in range(3)], actor="supervisor1")
    enrolment_id = make_print_ready(lc, recorded_at=recorded_at)
    router = PrintRouter.for_deployment(lc, deployment.plugin_host())
    [routed] = router.route_ready(actor="router")
    assert routed.enrolment_id == enrolment_id and routed.site_code == prints_at and routed.print_day == day
    job = lc.jobs_by_id(routed.job_id)
    assert (job.site_code, job.state, job.print_day) == (prints_at, PrintJobState.QUEUED, day)
    assert text_of(job.routing_reason) == routed.reason and deployment.profile.rules["name"] in routed.reason
    assert lc.get(enrolment_id).state is EnrolmentState.SENT_FOR_CARD_PRINTING
    assert router.route_ready(actor="router") == []  # a second run queues nothing


@pytest.mark.ektp_profile("kota-bengkulu-kecamatan")
def test_sites_json(ektp_deployment: Deployment, ektp_service: LifecycleService) -> None:
    ektp_service.receive_blanks("17.71.03", ["BLK-000001"], actor="supervisor1")
    result = CliRunner().invoke(cli, ["sites", "--json", "-d", str(ektp_deployment.root)])
    assert result.exit_code == 0, result.output
    rows = {r["code"]: r for r in json.loads(result.output)}
    assert len(rows) == 11
    assert {k: rows["17.71.03"][k] for k in ("code", "name", "kind", "records", "prints", "prints_at")} == {
        "code": "17.71.03",
        "name": "Kecamatan Teluk Segara",
        "kind": "kecamatan",
        "records": True,
        "prints": True,
        "prints_at": "17.71.03",
    }
    assert rows["17.71.05"]["prints_at"] == "17.71"
    assert "has no blank cards in stock" in rows["17.71.05"]["prints_at_reason"]
    assert (rows["17.71"]["kind"], rows["17.71"]["prints_at"]) == ("dukcapil", "17.71")
    assert (rows["17.71-JB1"]["kind"], rows["17.71-JB1"]["prints"], rows["17.71-JB1"]["prints_at"]) == (
        "mobile",
        False,
        "17.71",
    )
    text = CliRunner().invoke(cli, ["sites", "-d", str(ektp_deployment.root)])
    assert "Kecamatan Teluk Segara" in text.output and "11 sites, rules kecamatan-rollout" in text.output


@pytest.mark.ektp_profile("kota-bengkulu")
def test_route_and_print_days_in_the_cli(
    ektp_deployment: Deployment, ektp_service: LifecycleService, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = str(ektp_deployment.root)
    make_print_ready(ektp_service, recorded_at="17.71.01")  # Selebar prints on Monday
    runner = CliRunner()
    routed = runner.invoke(cli, ["route", "--json", "--as", "router1", "-d", root])
    assert routed.exit_code == 0, routed.output
    [row] = json.loads(routed.output)
    assert (row["site_code"], row["print_day"]) == ("17.71", "monday")
    assert json.loads(runner.invoke(cli, ["route", "--json", "-d", root]).output) == []
    assert "no print-ready enrolments waiting" in runner.invoke(cli, ["route", "-d", root]).output
    queue = runner.invoke(cli, ["print-queue", "-d", root])
    assert "print day: Monday" in queue.output and "Kecamatan Selebar on Monday" in queue.output
    assert json.loads(runner.invoke(cli, ["print-queue", "--json", "-d", root]).output)[0]["print_day"] == "monday"
    # On a Tuesday the office leaves Selebar's card for Monday, and says so.
    monkeypatch.setattr("ektp_core.cli.printing._today", lambda: dt.date(2026, 12, 1))
    tuesday = runner.invoke(cli, ["print", "--queued", "-d", root])
    assert tuesday.exit_code == 0, tuesday.output
    assert (
        f"job {row['job_id']} waits for its print day (Monday; today is Tuesday); --any-day prints it now"
        in tuesday.output
    )
    assert "no QUEUED jobs to print" in tuesday.output
    assert ektp_service.jobs_by_id(row["job_id"]).state is PrintJobState.QUEUED
    # --any-day takes it: with no blanks at the office the run stops at that card (nothing is printed).
    any_day = runner.invoke(cli, ["print", "--queued", "--any-day", "-d", root])
    assert "no blank cards in stock at site 17.71" in any_day.output
