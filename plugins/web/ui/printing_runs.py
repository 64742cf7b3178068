"""Print runs in the background: the web page starts one, a thread prints, the page follows it.

A run prints one job or a queue on one printer of this site through
:meth:`~ektp_core.services.printing.PrintService.print_many`, exactly as ``ektp print`` does: the printer is
opened, the next card is prepared while one prints, the run stops at the first card that does not
print, and afterwards the printer's counter is reconciled with the ledger. A proof copy is written
when the site has a proof printer, and at a site node the outcomes are queued for the Dukcapil node.

Nothing here knows Flask: messages are kept as catalogue keys with their values, and each page
translates them into the language of whoever is looking.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import uuid
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import PurePosixPath
from typing import Any

import attrs

from ektp_core.devices.declared import PrinterSetting, make_printer
from ektp_core.devices.printers import (
    CardJam,
    CoverOpen,
    NoCard,
    PrinterBusy,
    PrinterError,
    PrinterNotConnected,
    PrinterTimeout,
    PrinterVanished,
    RibbonEnded,
)
from ektp_core.domain.model import PrintJobState
from ektp_core.errors import Conflict, EktpError, IllegalTransition
from ektp_core.lifecycle.service import LifecycleService
from ektp_core.messages import Message
from ektp_core.services.printing import CounterCheck, NothingConsumed, PrintService

log = logging.getLogger(__name__)

#: A message for a page: (level, catalogue key, values). Levels are the flash classes: ok, info, warn, error.
Note = tuple[str, str, dict[str, Any]]

#: Printer errors and what the operator should do about each (catalogue keys).
_PRINTER_ERRORS: tuple[tuple[type[PrinterError], str], ...] = (
    (PrinterNotConnected, "print.err.not_connected"),
    (NoCard, "print.err.no_card"),
    (RibbonEnded, "print.err.ribbon"),
    (CoverOpen, "print.err.cover"),
    (PrinterBusy, "print.err.busy"),
    (CardJam, "print.err.jam"),
    (PrinterTimeout, "print.err.timeout"),
    (PrinterVanished, "print.err.vanished"),
)
#: Refusals of the print service (nothing consumed), by the code of the core's message.
_REFUSALS = {
    "print.not_ready": "print.err.not_ready",
    "print.not_ready_blank_back": "print.err.not_ready",
    "print.not_signed": "print.err.not_signed",
    "print.not_waiting": "print.err.not_waiting",
    "print.not_queued": "print.err.not_queued",
}


def explain(exc: BaseException, *, printer: str = "") -> tuple[str, dict[str, Any]]:
    """The catalogue key and values that tell an operator what went wrong and what to do; the core's
    own message goes along as ``detail`` (rendered in the page's language when the page is shown)."""
    said = exc.as_message() if isinstance(exc, EktpError) else Message("error.general")
    values: dict[str, Any] = {"detail": said, "printer": printer}
    if isinstance(exc, PrinterError):
        for cls, key in _PRINTER_ERRORS:
            if isinstance(exc, cls):
                return key, values
        return "print.err.printer", values
    if isinstance(exc, Conflict) and said.code == "blank.none_in_stock":
        return "print.err.no_blanks", values
    if isinstance(exc, NothingConsumed) and said.code in _REFUSALS:
        return _REFUSALS[said.code], values
    if isinstance(exc, IllegalTransition):
        return "print.err.state", values
    return "print.err.refused", values


class RunInProgress(EktpError):
    """The printer already has a run going: a second one is refused (a double click, another desk)."""

    def __init__(self, run: PrintRun) -> None:
        super().__init__(f"printer {run.printer} is already printing (run {run.id} by {run.started_by})")
        self.run = run


@attrs.define(eq=False)
class PrintRun:
    """One run on one printer: what it prints, how far it got and what came of it."""

    id: str
    printer: str
    site: str
    job_ids: list[str]
    started_by: str
    started_at: dt.datetime
    #: The driver's current step for the card being printed and the fraction of it done.
    step: str = ""
    fraction: float = 0.0
    #: Each step once per card, in order, with its fraction (shown in the page's language).
    steps: list[tuple[float, str]] = attrs.field(factory=list)
    notes: list[Note] = attrs.field(factory=list)
    #: Why the run did not start or stopped at once (nothing consumed), as a note.
    failed: Note | None = None
    check: CounterCheck | None = None
    done: bool = False
    finished_at: dt.datetime | None = None
    lock: threading.Lock = attrs.field(factory=threading.Lock, repr=False)

    def progress(self, step: str, fraction: float) -> None:
        """The driver's progress callback (called from the printing thread)."""
        with self.lock:
            if step != self.step or fraction < self.fraction:
                self.steps.append((fraction, step))
                del self.steps[:-200]  # a long queue must not grow without bound
            self.step, self.fraction = step, max(0.0, min(1.0, float(fraction)))

    def note(self, level: str, key: str, **values: Any) -> None:
        """Add a message for the page."""
        with self.lock:
            self.notes.append((level, key, values))

    def snapshot(self) -> dict[str, Any]:
        """A consistent copy of the run's state for a page."""
        with self.lock:
            return {
                "id": self.id,
                "printer": self.printer,
                "site": self.site,
                "job_ids": list(self.job_ids),
                "started_by": self.started_by,
                "started_at": self.started_at,
                "step": self.step,
                "fraction": self.fraction,
                "steps": list(self.steps),
                "notes": list(self.notes),
                "failed": self.failed,
                "check": self.check,
                "done": self.done,
                "finished_at": self.finished_at,
            }


class PrintRuns:
    """The node's print runs: at most one running per printer; the last few kept for their pages."""

    def __init__(self, keep: int = 50) -> None:
        self.keep = keep
        self._lock = threading.Lock()
        self._runs: OrderedDict[str, PrintRun] = OrderedDict()
        self._threads: dict[str, threading.Thread] = {}

    def get(self, run_id: str) -> PrintRun | None:
        """A run by its id (None when unknown or forgotten)."""
        with self._lock:
            return self._runs.get(run_id)

    def active(self, printer: str | None = None) -> list[PrintRun]:
        """Runs still going (on one printer, or on any)."""
        with self._lock:
            return [r for r in self._runs.values() if not r.done and printer in (None, r.printer)]

    def join(self, run_id: str, timeout: float | None = None) -> bool:
        """Wait for a run's thread to end (tests, shutdown); True when it has."""
        thread = self._threads.get(run_id)
        if thread is not None:
            thread.join(timeout)
            return not thread.is_alive()
        return True

    def start(
        self,
        lifecycle: LifecycleService,
        host: Any,
        *,
        setting: PrinterSetting,
        job_ids: Sequence[str],
        actor: str,
        proof: PrinterSetting | None,
        report_outcomes: bool,
    ) -> PrintRun:
        """Start printing ``job_ids`` on ``setting`` in a thread; RunInProgress when that printer is busy.

        When no other run of this node is going, jobs left half-way by an interrupted run are settled
        first, as ``ektp print`` does (SENT -> UNKNOWN, RESERVED -> blank back). That must never happen
        while another run is printing, so it is done here, under the lock, before the thread starts.
        """
        with self._lock:
            going = [r for r in self._runs.values() if not r.done]
            busy = next((r for r in going if r.printer == setting.name), None)
            if busy is not None:
                raise RunInProgress(busy)
            run = PrintRun(
                id=uuid.uuid4().hex,
                printer=setting.name,
                site=setting.site,
                job_ids=list(job_ids),
                started_by=actor,
                started_at=lifecycle.clock(),
            )
            if not going:
                recovered = lifecycle.recover_interrupted(site_code=setting.site, actor=actor)
                for job_id in recovered["unknown"]:
                    run.note("warn", "print.recovered_unknown", job=job_id)
                for job_id in recovered["released"]:
                    run.note("info", "print.recovered_released", job=job_id)
            self._runs[run.id] = run
            while len(self._runs) > self.keep:
                oldest = next(iter(self._runs))
                if not self._runs[oldest].done:
                    break
                del self._runs[oldest]
                self._threads.pop(oldest, None)
            thread = threading.Thread(
                target=_execute,
                name=f"ektp-print-{setting.name}",
                daemon=True,
                args=(run, lifecycle, host, setting, proof, report_outcomes),
            )
            self._threads[run.id] = thread
        thread.start()
        return run


def _execute(
    run: PrintRun,
    lifecycle: LifecycleService,
    host: Any,
    setting: PrinterSetting,
    proof: PrinterSetting | None,
    report_outcomes: bool,
) -> None:
    """The run's thread: print, reconcile, proof copies, outcomes for the Dukcapil node."""
    deployment = lifecycle.deployment
    service = PrintService(lifecycle, host, deployment)
    printed: list[str] = []
    #: Jobs that ended PRINTED or SPOILED: their outcome goes back to the Dukcapil node from a site.
    settled: list[str] = []
    try:
        printer = make_printer(setting, host, deployment.root)
        try:
            printer.open()
        except PrinterError as exc:
            key, values = explain(exc, printer=setting.name)
            run.failed = ("error", key, values)
            run.note("info", "print.nothing_reserved")
            return
        try:
            outcome = service.print_many(
                run.job_ids, printer, printer_name=setting.name, actor=run.started_by, progress=run.progress
            )
            for result in outcome.results:
                job = result.job
                if job.state in (PrintJobState.PRINTED, PrintJobState.SPOILED):
                    settled.append(job.id)
                if job.state is PrintJobState.PRINTED:
                    printed.append(job.id)
                elif result.error is not None:
                    key, values = explain(result.error, printer=setting.name)
                    run.note("error", key, **values)
                if job.state is PrintJobState.UNKNOWN:
                    run.note("error", "print.job_unknown", job=job.id, detail=job.reason or "")
                elif job.state is PrintJobState.SPOILED:
                    run.note("warn", "print.job_spoiled", job=job.id, blank=job.blank_serial or "-")
                elif job.state is PrintJobState.QUEUED:
                    run.note("info", "print.job_back", job=job.id)
            if outcome.stopped:
                run.note(
                    "warn", "print.stopped", done=len(outcome.results), total=len(run.job_ids), detail=outcome.stopped
                )
        except EktpError as exc:  # the first card was refused: nothing consumed
            key, values = explain(exc, printer=setting.name)
            run.failed = ("error", key, values)
        finally:
            try:
                run.check = service.reconcile(setting.name)
            finally:
                printer.close()
        if run.check is not None and not run.check.matches:
            run.note(
                "error",
                "print.mismatch",
                printer=setting.name,
                counted=run.check.printer_cards,
                ledger=run.check.ledger_cards,
            )
        if printed and proof is not None and proof.name != setting.name:
            _proof_copies(run, lifecycle, service, host, proof, printed)
        if report_outcomes and settled:
            _report_outcomes(run, lifecycle)
    except Exception as exc:  # a driver bug: the job is UNKNOWN (the core saw to it); the page must say so
        log.exception("print run %s on %s failed", run.id, setting.name)
        run.failed = (
            "error",
            "print.err.unexpected",
            {"detail": type(exc).__name__, "printer": setting.name},
        )
    finally:
        with run.lock:
            run.done = True
            run.finished_at = lifecycle.clock()


#: Runs on several printers may finish at once; their proof copies go into one folder, one at a time.
_PROOF_COPIES = threading.Lock()


def copies_setting(proof: PrinterSetting) -> PrinterSetting:
    """Where proof copies go: the ``copies`` folder inside the proof printer's folder. Its own card
    counter (the folder's index) then counts only the cards printed on it through the ledger, so
    the copies never show as a counter mismatch."""
    folder = str(PurePosixPath(str(proof.options.get("folder", "proofs"))) / "copies")
    return attrs.evolve(proof, name=f"{proof.name}-copies", options={**proof.options, "folder": folder})


def _proof_copies(
    run: PrintRun,
    lifecycle: LifecycleService,
    service: PrintService,
    host: Any,
    proof: PrinterSetting,
    job_ids: list[str],
) -> None:
    """A proof copy (PDF and PNG) of every card printed, for the office's file (as ``ektp walk`` does)."""
    setting = copies_setting(proof)
    try:
        with _PROOF_COPIES:
            printer = make_printer(setting, host, lifecycle.deployment.root)
            printer.open()
            try:
                for job_id in job_ids:
                    job = lifecycle.jobs_by_id(job_id)
                    printer.print_card(service.render(service.card_data(job, printer.canvas), job))
            finally:
                printer.close()
        run.note(
            "info", "print.proof_written", count=len(job_ids), printer=proof.name, folder=str(setting.options["folder"])
        )
    except EktpError as exc:  # the real card printed; a missing proof copy is worth a warning, no more
        run.note("warn", "print.proof_failed", printer=proof.name, detail=exc.as_message())


def _report_outcomes(run: PrintRun, lifecycle: LifecycleService) -> None:
    found = report_outcomes(lifecycle)
    if found is not None:
        level, key, values = found
        run.note(level, key, **values)


def report_outcomes(lifecycle: LifecycleService) -> Note | None:
    """At a site node: queue the packets that tell the Dukcapil node what became of its print jobs
    (sent by the next ``ektp sync``); a note for the page, or None when there was nothing to say."""
    from ektp_core.sync.outbox import Outbox

    try:
        made = Outbox.for_deployment(lifecycle).enqueue_outcomes()
    except EktpError as exc:  # not joined yet: the outcome is derived again at the next attempt
        return ("warn", "print.outcome_not_queued", {"detail": exc.as_message()})
    return ("info", "print.outcome_queued", {"count": len(made)}) if made else None
