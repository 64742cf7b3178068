"""Printing one job through the core's print service, with a scripted printer: every outcome keeps
the blank ledger balanced and nothing is ever printed twice by itself."""

from __future__ import annotations

import pytest

from ektp_core import hookimpl
from ektp_core.devices.printers import (
    CardJam,
    NoCard,
    PrinterState,
    PrinterStatus,
    PrinterVanished,
    RenderedCard,
)
from ektp_core.domain.model import Capture, EnrolmentState, PrintJobState
from ektp_core.errors import Conflict
from ektp_core.lifecycle.service import LifecycleService
from ektp_core.services.printing import NothingConsumed, PrintService
from ektp_core.testing import make_enrolment

SITE = "17.71"
W, H = 16, 10


class ScriptedPrinter:
    """A CardPrinter double: prints instantly, or raises the error it is told to."""

    name = "scripted"
    canvas = (W, H)

    def __init__(self) -> None:
        self.count = 100
        self.fail_with: Exception | None = None
        self.state = PrinterState.READY
        self.printed: list[RenderedCard] = []
        self.count_on_failure = False
        self.skip_count = False

    def open(self) -> None: ...

    def close(self) -> None: ...

    def status(self) -> PrinterStatus:
        return PrinterStatus(state=self.state, model="scripted", serial="S1", card_count=self.count)

    def print_card(self, card, *, progress=None) -> PrinterStatus:
        if self.fail_with is not None:
            if self.count_on_failure:
                self.count += 1
            raise self.fail_with
        self.printed.append(card)
        if not self.skip_count:
            self.count += 1
        return self.status()


class TinyRenderer:
    @hookimpl
    def ektp_render_card(self, card):
        return RenderedCard(
            width=W,
            height=H,
            dpi=300,
            rgb=b"\x80" * (W * H * 3),
            k=b"\x00" * (W * H),
            overlay=b"\xff" * (W * H),
            preview_png=b"png",
        )


@pytest.fixture
def setup(ektp_service: LifecycleService, ektp_host, ektp_register_plugin):
    ektp_register_plugin(TinyRenderer(), "tiny-renderer")
    return ektp_service, PrintService(ektp_service, ektp_host, ektp_service.deployment), ScriptedPrinter()


def queued_job(lc: LifecycleService, *, photo: bool = True, signature: bool = True) -> str:
    enrolment = make_enrolment()
    captures, images = [], {}
    if photo:
        captures.append(Capture(modality="face", position="face", device="t", quality=90, blob_ref=f"{enrolment.id}-f"))
        images[f"{enrolment.id}-f"] = b"photo"
    if signature:
        captures.append(
            Capture(modality="signature", position="signature", device="t", quality=90, blob_ref=f"{enrolment.id}-s")
        )
        images[f"{enrolment.id}-s"] = b"signature"
    lc.record(enrolment, captures, images)
    for state in (
        EnrolmentState.SENT_FOR_ENROLLMENT,
        EnrolmentState.RECEIVED_AT_CENTRAL,
        EnrolmentState.PRINT_READY_RECORD,
    ):
        lc.transition(enrolment.id, state, actor="central")
    return lc.queue_print(enrolment.id, site_code=SITE, actor="op", routing_reason="test").id


def test_printed_card_is_confirmed_by_the_counter(setup) -> None:
    lc, service, printer = setup
    lc.receive_blanks(SITE, ["BLK-0001", "BLK-0002"], actor="sup")
    job_id = queued_job(lc)
    steps = []
    result = service.print_job(job_id, printer, printer_name="p1", actor="op", progress=lambda s, f: steps.append(s))
    assert result.job.state is PrintJobState.PRINTED and result.job.blank_serial == "BLK-0001"
    assert lc.get(result.job.enrolment_id).state is EnrolmentState.CARD_PRINTED
    assert len(printer.printed) == 1
    check = service.reconcile("p1")
    assert (check.ledger_cards, check.printer_cards, check.matches) == (1, 1, True)
    assert lc.ledger(SITE).balanced


def test_refusals_consume_nothing(setup) -> None:
    lc, service, printer = setup
    no_photo = queued_job(lc, photo=False)
    with pytest.raises(NothingConsumed, match="no photo"):
        service.print_job(no_photo, printer, printer_name="p1", actor="op")
    no_sig = queued_job(lc, signature=False)
    with pytest.raises(NothingConsumed, match="no signature"):
        service.print_job(no_sig, printer, printer_name="p1", actor="op")
    job_id = queued_job(lc)
    with pytest.raises(Conflict, match="no blank cards in stock"):
        service.print_job(job_id, printer, printer_name="p1", actor="op")
    lc.receive_blanks(SITE, ["BLK-0001"], actor="sup")
    printer.state = PrinterState.BUSY
    with pytest.raises(NothingConsumed, match="not ready"):
        service.print_job(job_id, printer, printer_name="p1", actor="op")
    assert all(j.state is PrintJobState.QUEUED for j in lc.jobs())
    ledger = lc.ledger(SITE)
    assert (ledger.in_stock, ledger.reserved) == (1, 0) and ledger.balanced
    assert printer.printed == []


def test_outcomes_of_printer_errors(setup) -> None:
    lc, service, printer = setup
    lc.receive_blanks(SITE, [f"BLK-{i:04d}" for i in range(1, 5)], actor="sup")
    # the hopper was empty: nothing taken, the blank returns, the job waits (never re-sent by itself)
    job_a = queued_job(lc)
    printer.fail_with = NoCard("feeder empty")
    result = service.print_job(job_a, printer, printer_name="p1", actor="op")
    assert result.job.state is PrintJobState.QUEUED and isinstance(result.error, NoCard)
    assert lc.ledger(SITE).in_stock == 4
    # a jam: the card is spoiled with the printer's reason; the job waits for an operator
    printer.fail_with, printer.count_on_failure = CardJam("card jammed"), True
    result = service.print_job(job_a, printer, printer_name="p1", actor="op")
    assert result.job.state is PrintJobState.SPOILED and "jammed" in result.job.reason
    # unplugged mid-card: UNKNOWN until a supervisor looks
    job_b = queued_job(lc)
    printer.fail_with, printer.count_on_failure = PrinterVanished("gone"), False
    result = service.print_job(job_b, printer, printer_name="p1", actor="op")
    assert result.job.state is PrintJobState.UNKNOWN
    with pytest.raises(NothingConsumed):
        service.print_job(job_b, printer, printer_name="p1", actor="op")
    ledger = lc.ledger(SITE)
    assert (ledger.spoiled, ledger.reserved, ledger.in_stock) == (1, 1, 2) and ledger.balanced
    assert printer.printed == []
    assert service.reconcile("p1").matches  # the jammed card was counted by both


def test_a_card_the_printer_did_not_count_is_unknown(setup) -> None:
    lc, service, printer = setup
    lc.receive_blanks(SITE, ["BLK-0001"], actor="sup")
    printer.skip_count = True
    result = service.print_job(queued_job(lc), printer, printer_name="p1", actor="op")
    assert result.job.state is PrintJobState.UNKNOWN and "counter" in result.job.reason


def test_renderer_failure_gives_the_blank_back(setup, ektp_register_plugin) -> None:
    lc, service, printer = setup

    class Broken:
        @hookimpl(tryfirst=True)
        def ektp_render_card(self, card):
            raise RuntimeError("font missing")

    ektp_register_plugin(Broken(), "broken-renderer")
    lc.receive_blanks(SITE, ["BLK-0001"], actor="sup")
    job_id = queued_job(lc)
    with pytest.raises(RuntimeError, match="font missing"):
        service.print_job(job_id, printer, printer_name="p1", actor="op")
    assert lc.jobs_by_id(job_id).state is PrintJobState.QUEUED
    assert lc.ledger(SITE).in_stock == 1


def test_a_different_machine_under_the_same_name_is_refused(setup) -> None:
    lc, service, printer = setup
    lc.receive_blanks(SITE, ["BLK-0001", "BLK-0002"], actor="sup")
    service.print_job(queued_job(lc), printer, printer_name="p1", actor="op")
    other = ScriptedPrinter()
    other.status = lambda: PrinterStatus(state=PrinterState.READY, serial="S2", card_count=5)  # type: ignore[method-assign]
    with pytest.raises(Exception, match="register the new printer under a new name"):
        service.print_job(queued_job(lc), other, printer_name="p1", actor="op")
    assert lc.ledger(SITE).in_stock == 1


def test_print_many_prepares_ahead_and_stops_at_a_failure(setup) -> None:
    lc, service, printer = setup
    lc.receive_blanks(SITE, [f"BLK-{i:04d}" for i in range(1, 9)], actor="sup")
    jobs = [queued_job(lc) for _ in range(3)]
    results = service.print_many(jobs, printer, printer_name="p1", actor="op").results
    assert [r.job.state for r in results] == [PrintJobState.PRINTED] * 3
    more = [queued_job(lc) for _ in range(3)]
    original = printer.print_card

    def jam_second(card, *, progress=None):
        if len(printer.printed) == 4:
            printer.count += 1
            raise CardJam("jam")
        return original(card, progress=progress)

    printer.print_card = jam_second  # type: ignore[method-assign]
    run = service.print_many(more, printer, printer_name="p1", actor="op")
    assert [r.job.state for r in run.results] == [PrintJobState.PRINTED, PrintJobState.SPOILED]
    assert "SPOILED" in run.stopped
    # the third card was prepared while the second printed; its blank went back to stock
    assert lc.jobs_by_id(more[2]).state is PrintJobState.QUEUED
    ledger = lc.ledger(SITE)
    assert (ledger.printed, ledger.spoiled, ledger.reserved, ledger.in_stock) == (4, 1, 0, 3) and ledger.balanced
    assert service.reconcile("p1").matches


def test_print_many_stops_when_blanks_run_out(setup) -> None:
    lc, service, printer = setup
    lc.receive_blanks(SITE, ["BLK-0001", "BLK-0002"], actor="sup")
    jobs = [queued_job(lc) for _ in range(3)]
    run = service.print_many(jobs, printer, printer_name="p1", actor="op")
    assert [r.job.state for r in run.results] == [PrintJobState.PRINTED] * 2
    assert "no blank cards in stock" in run.stopped
    assert lc.jobs_by_id(jobs[2]).state is PrintJobState.QUEUED and lc.ledger(SITE).balanced
