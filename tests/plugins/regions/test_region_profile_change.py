"""Kota Bengkulu switches from semi-vertical to the kecamatan rollout: records stay, waiting jobs move."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from ektp_core.cli import cli
from ektp_core.config import Deployment, load_deployment
from ektp_core.domain.model import EnrolmentState, PrintJobState
from ektp_core.errors import EktpError
from ektp_core.lifecycle import audit
from ektp_core.lifecycle.routing import PrintRouter
from ektp_core.lifecycle.service import LifecycleService
from ektp_core.messages import text_of
from ektp_core.services.profile_change import change_profile
from ektp_core.testing.samples import make_print_ready

pytestmark = pytest.mark.ektp_profile("kota-bengkulu")


def _queue_three(deployment: Deployment, lc: LifecycleService) -> dict[str, str]:
    """Residents recorded at Selebar, Kampung Melayu and Ratu Samban, routed semi-vertically; the last
    one's blank is already reserved at the office. Kecamatan Selebar and Kampung Melayu get blanks."""
    ids = {site: make_print_ready(lc, recorded_at=site) for site in ("17.71.01", "17.71.05", "17.71.07")}
    jobs = {
        j.enrolment_id: j
        for j in (
            lc.jobs_by_id(r.job_id)
            for r in PrintRouter.for_deployment(lc, deployment.plugin_host()).route_ready(actor="router")
        )
    }
    assert {j.site_code for j in jobs.values()} == {"17.71"}
    lc.receive_blanks("17.71", ["BLK-000001"], actor="supervisor1")
    lc.reserve_blank(jobs[ids["17.71.07"]].id, actor="operator1")
    lc.receive_blanks("17.71.01", ["BLK-010001", "BLK-010002"], actor="supervisor1")
    lc.receive_blanks("17.71.05", ["BLK-050001"], actor="supervisor1")
    return ids


def _open_job(lc: LifecycleService, enrolment_id: str):  # type: ignore[no-untyped-def]
    [job] = [j for j in lc.jobs() if j.enrolment_id == enrolment_id and j.state is not PrintJobState.CANCELLED]
    return job


def test_switch_reroutes_queued_jobs_and_leaves_reserved_ones(
    ektp_deployment: Deployment, ektp_service: LifecycleService
) -> None:
    ids = _queue_three(ektp_deployment, ektp_service)
    root = ektp_deployment.root
    result = CliRunner().invoke(cli, ["profile", "use", "kota-bengkulu-kecamatan", "--as", "admin1", "-d", str(root)])
    assert result.exit_code == 0, result.output
    assert "profile kota-bengkulu -> kota-bengkulu-kecamatan" in result.output
    assert "re-routed 2 queued job(s)" in result.output
    assert "17.71 (Monday) -> 17.71.01" in result.output
    assert "left alone: job" in result.output and "RESERVED at 17.71" in result.output

    lc = ektp_service
    selebar, melayu, samban = (_open_job(lc, ids[s]) for s in ("17.71.01", "17.71.05", "17.71.07"))
    assert (selebar.site_code, selebar.state, selebar.print_day) == ("17.71.01", PrintJobState.QUEUED, None)
    assert text_of(selebar.routing_reason) == (
        "kecamatan-rollout: Kecamatan Selebar prints the cards it records (printer, 2 blank cards in stock)"
    )
    assert (melayu.site_code, melayu.state) == ("17.71.05", PrintJobState.QUEUED)
    assert (samban.site_code, samban.state, samban.print_day) == ("17.71", PrintJobState.RESERVED, "thursday")
    cancelled = [j for j in lc.jobs() if j.state is PrintJobState.CANCELLED]
    assert len(cancelled) == 2
    assert {text_of(j.reason) for j in cancelled} == {"re-routed: profile kota-bengkulu -> kota-bengkulu-kecamatan"}
    assert lc.ledger().balanced and lc.ledger().reserved == 1

    with lc.store.read() as conn:
        [entry] = [e for e in audit.last_entries(conn, limit=5) if e.action == "profile.changed"]
        assert audit.verify(conn).ok
    assert entry.actor == "admin1" and entry.subject_id == "kota-bengkulu-kecamatan"
    assert {k: entry.detail[k] for k in ("from", "to", "rerouted", "unchanged", "left_alone")} == {
        "from": "kota-bengkulu",
        "to": "kota-bengkulu-kecamatan",
        "rerouted": 2,
        "unchanged": 0,
        "left_alone": 1,
    }

    reloaded = load_deployment(root)
    assert reloaded.profile.name == "kota-bengkulu-kecamatan"
    assert 'name = "kota-bengkulu"' in (root / "profile.previous.toml").read_text()
    sites = json.loads(CliRunner().invoke(cli, ["sites", "--json", "-d", str(root)]).output)
    assert {r["code"]: r["prints_at"] for r in sites}["17.71.01"] == "17.71.01"


def test_a_failure_midway_loses_nothing_and_a_second_run_finishes(
    ektp_deployment: Deployment, ektp_service: LifecycleService, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = _queue_three(ektp_deployment, ektp_service)
    real = LifecycleService.queue_print

    def broken(self: LifecycleService, *args: object, **kwargs: object) -> object:
        raise RuntimeError("database went away")

    monkeypatch.setattr(LifecycleService, "queue_print", broken)
    with pytest.raises(EktpError, match=r"stopped after re-routing 0 of 2 queued jobs .*run the same command again"):
        change_profile(ektp_deployment, "kota-bengkulu-kecamatan", actor="admin1")
    root = ektp_deployment.root
    assert load_deployment(root).profile.name == "kota-bengkulu"  # the old profile stays in force
    assert not (root / "profile.toml.new").exists()
    lc = ektp_service
    # The job cancelled before the failure left its enrolment print-ready, not lost.
    states = {site: lc.get(ids[site]).state for site in ids}
    assert list(states.values()).count(EnrolmentState.PRINT_READY_RECORD) == 1
    with lc.store.read() as conn:
        assert not [e for e in audit.last_entries(conn, limit=50) if e.action == "profile.changed"]

    monkeypatch.setattr(LifecycleService, "queue_print", real)
    change = change_profile(load_deployment(root), "kota-bengkulu-kecamatan", actor="admin1")
    assert change.old_name == "kota-bengkulu" and len(change.moved) + len(change.routed) == 2
    assert _open_job(lc, ids["17.71.01"]).site_code == "17.71.01"
    assert _open_job(lc, ids["17.71.05"]).site_code == "17.71.05"
    assert load_deployment(root).profile.name == "kota-bengkulu-kecamatan"


def test_a_bad_profile_changes_nothing(ektp_deployment: Deployment, tmp_path: Path) -> None:
    root = ektp_deployment.root
    before = (root / "profile.toml").read_text()
    other = tmp_path / "jakarta.toml"
    other.write_text(
        (Path(ektp_deployment.profile.source).parent / "profile.toml")
        .read_text()
        .replace('region = "17.71"', 'region = "31.71"')
    )
    result = CliRunner().invoke(cli, ["profile", "use", str(other), "-d", str(root)])
    assert result.exit_code == 1
    assert f"the new profile ({other}) is not valid" in result.output and "nothing was changed" in result.output
    assert (root / "profile.toml").read_text() == before and not (root / "profile.previous.toml").exists()
