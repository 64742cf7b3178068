"""The rules inside ektp: chosen by the example profile, routing print-ready enrolments by the ledger."""

from __future__ import annotations

import pytest
from ektp_core.config import Deployment
from ektp_core.lifecycle.routing import PrintRouter, load_rules
from ektp_core.lifecycle.service import LifecycleService
from ektp_core.plugins import PluginHost
from ektp_core.testing import make_print_ready

from ektp_kota_contoh import PROFILE_FILE
from ektp_kota_contoh import KotaContohRules as Rules

pytestmark = pytest.mark.ektp_profile(str(PROFILE_FILE))


def test_the_profile_chooses_the_rules(ektp_deployment: Deployment, plugin_host: PluginHost) -> None:
    rules = load_rules(ektp_deployment.profile, plugin_host)
    assert isinstance(rules, Rules) and rules.min_blanks == 5


def test_print_ready_cards_go_where_the_blanks_are(ektp_service: LifecycleService, plugin_host: PluginHost) -> None:
    ektp_service.receive_blanks("17.71", [f"BLK-OFFICE-{i}" for i in range(10)], actor="supervisor")
    ektp_service.receive_blanks("17.71.02", [f"BLK-GC-{i}" for i in range(5)], actor="supervisor")
    ektp_service.receive_blanks("17.71.05", [f"BLK-KM-{i}" for i in range(2)], actor="supervisor")
    gading = make_print_ready(ektp_service, recorded_at="17.71.02")
    melayu = make_print_ready(ektp_service, recorded_at="17.71.05", seed=1)
    jobs = {
        job.enrolment_id: job
        for job in PrintRouter.for_deployment(ektp_service, plugin_host).route_ready(actor="system")
    }
    assert jobs[gading].site_code == "17.71.02"
    assert jobs[melayu].site_code == "17.71"
    assert "fewer than the 5" in jobs[melayu].reason
