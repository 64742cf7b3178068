"""The installed plugin inside ektp: found through its entry point, its profile deployed, cards routed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from ektp_core.config import Deployment
from ektp_core.lifecycle.routing import PrintRouter, load_rules
from ektp_core.lifecycle.service import LifecycleService
from ektp_core.plugins import PluginHost
from ektp_core.testing import make_print_ready

from ektp_bengkulu_hubs import HubRules

pytestmark = [pytest.mark.usefixtures("needs_installation"), pytest.mark.ektp_profile("kota-bengkulu-hubs")]


def ektp(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ektp_core", *args], capture_output=True, text=True, timeout=120)


def test_ektp_plugins_lists_it() -> None:
    result = ektp("plugins", "--json")
    assert result.returncode == 0, result.stderr
    plugins = {p["name"]: p for p in json.loads(result.stdout)}
    hubs = plugins["bengkulu-hubs"]
    assert (hubs["status"], hubs["source"], hubs["distribution"]) == ("loaded", "entry point", "ektp-bengkulu-hubs")
    assert set(hubs["hooks"]) == {"ektp_register_profiles", "ektp_register_region_rules"}


def test_ektp_init_takes_its_profile(tmp_path: Path) -> None:
    result = ektp("init", str(tmp_path / "office"), "--profile", "kota-bengkulu-hubs")
    assert result.returncode == 0, result.stdout + result.stderr
    sites = ektp("sites", "-d", str(tmp_path / "office"))
    assert sites.returncode == 0, sites.stderr
    assert "the hub Kecamatan Selebar has no blank cards in stock" in sites.stdout  # none delivered yet


def test_the_profile_loads_the_rules(ektp_deployment: Deployment, ektp_host: PluginHost) -> None:
    assert "bengkulu-hubs" in {p.name for p in ektp_host.plugins()}
    rules = load_rules(ektp_deployment.profile, ektp_host)
    assert isinstance(rules, HubRules) and rules.hub_day == "thursday"


def test_print_ready_cards_go_to_the_hubs(ektp_service: LifecycleService, ektp_host: PluginHost) -> None:
    ektp_service.receive_blanks("17.71.01", ["BLK-SEL-1", "BLK-SEL-2"], actor="supervisor")
    melayu = make_print_ready(ektp_service, recorded_at="17.71.05")
    teluk = make_print_ready(ektp_service, recorded_at="17.71.03", seed=1)
    jobs = {j.enrolment_id: j for j in PrintRouter.for_deployment(ektp_service, ektp_host).route_ready(actor="system")}
    assert (jobs[melayu].site_code, jobs[melayu].print_day) == ("17.71.01", "thursday")
    assert jobs[teluk].site_code == "17.71"  # Ratu Agung has no blanks yet
    assert "Ratu Agung has no blank cards in stock" in jobs[teluk].reason
