"""The driver inside ektp: chosen by the example profile, printing queued cards through the core's
print service, with the blank ledger and the printer's counter agreeing."""

from __future__ import annotations

import pytest
from ektp_core.config import Deployment
from ektp_core.devices.declared import choose_printer
from ektp_core.devices.printers import CardJam
from ektp_core.domain.model import PrintJobState
from ektp_core.lifecycle.service import LifecycleService
from ektp_core.plugins import PluginHost
from ektp_core.services.printing import PrintService
from ektp_core.testing import queue_print_ready

from ektp_acme_printer import NAME, PROFILE_FILE
from ektp_acme_printer import AcmePrinter as Printer

SITE = "17.71"
pytestmark = pytest.mark.ektp_profile(str(PROFILE_FILE))


def test_the_profile_chooses_the_driver(ektp_deployment: Deployment, plugin_host: PluginHost) -> None:
    setting, printer = choose_printer(ektp_deployment, plugin_host)
    assert (setting.name, setting.driver) == (f"{NAME}-1", NAME)
    assert isinstance(printer, Printer) and printer.use_emulator


def test_prints_a_queued_card(
    ektp_deployment: Deployment, ektp_service: LifecycleService, plugin_host: PluginHost
) -> None:
    ektp_service.receive_blanks(SITE, ["BLK-000001", "BLK-000002"], actor="supervisor")
    job_id = queue_print_ready(ektp_service)
    setting, printer = choose_printer(ektp_deployment, plugin_host)
    service = PrintService(ektp_service, plugin_host)
    printer.open()
    try:
        result = service.print_job(job_id, printer, printer_name=setting.name, actor="operator1")
        check = service.reconcile(setting.name, printer.status())
    finally:
        printer.close()
    assert result.error is None and result.job.state is PrintJobState.PRINTED
    assert (check.ledger_cards, check.printer_cards, check.matches) == (1, 1, True)
    ledger = ektp_service.ledger(SITE)
    assert (ledger.printed, ledger.in_stock) == (1, 1) and ledger.balanced
    cards = sorted((ektp_deployment.root / f"{NAME}-emulator" / "cards").glob("*.png"))
    assert len(cards) == 1


def test_a_jammed_card_spoils_its_blank(
    ektp_deployment: Deployment, ektp_service: LifecycleService, plugin_host: PluginHost
) -> None:
    ektp_service.receive_blanks(SITE, ["BLK-000001"], actor="supervisor")
    job_id = queue_print_ready(ektp_service)
    setting, printer = choose_printer(ektp_deployment, plugin_host)
    printer.open()
    try:
        assert printer.emulator is not None
        printer.emulator.fail_next("JAM")
        result = PrintService(ektp_service, plugin_host).print_job(
            job_id, printer, printer_name=setting.name, actor="operator1"
        )
    finally:
        printer.close()
    assert isinstance(result.error, CardJam)
    assert result.job.state is PrintJobState.SPOILED
    ledger = ektp_service.ledger(SITE)
    assert (ledger.spoiled, ledger.printed) == (1, 0) and ledger.balanced
