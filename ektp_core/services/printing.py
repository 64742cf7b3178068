"""Printing one job: reserve a blank, render, send, confirm by the printer's own status.

The order of steps is what keeps the blank ledger honest through faults and crashes:

1. refuse early, with nothing consumed: the enrolment is not being printed, no photo or signature,
   the printer is not ready, no blank in stock;
2. reserve the blank (RESERVED) and render the card; a render failure gives the blank back;
3. mark the job SENT *before* the first byte goes to the printer: from here, if the process dies,
   the job is UNKNOWN at restart and a supervisor decides; it is never printed again by itself;
4. print; the printer's error says what became of the card: nothing taken (the blank returns to
   stock), ruined (SPOILED with the printer's reason), or unknown (UNKNOWN);
5. confirm with the printer's card counter: PRINTED only when the printer counted the card.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import attrs
import sqlalchemy as sa

from ektp_core.config.core_tables import PRINTING
from ektp_core.devices.printers import (
    CardData,
    CardPrinter,
    Outcome,
    PrinterError,
    PrinterStatus,
    Progress,
    RenderedCard,
)
from ektp_core.domain.model import EnrolmentState, Modality, PrintJob, PrintJobState, SiteKind
from ektp_core.errors import EktpError
from ektp_core.lifecycle.service import LifecycleService
from ektp_core.messages import Message, text_of
from ektp_core.store import blobs as blob_store
from ektp_core.store import repository as repo
from ektp_core.store.read_models import print_queue
from ektp_core.store.read_models.print_queue import CounterCheck as CounterCheck  # its old home: kept importable
from ektp_core.store.tables import printers

log = logging.getLogger(__name__)


class NothingConsumed(EktpError):
    """A print was refused before anything was reserved or sent; the ledger is unchanged."""

    message_code = "error.nothing_consumed"


@attrs.frozen(kw_only=True)
class Prepared:
    """A job with its blank reserved and its card rendered, ready to send."""

    job: PrintJob
    card: RenderedCard


@attrs.frozen(kw_only=True)
class PrintResult:
    """What happened to one print job."""

    job: PrintJob
    #: The printer's error when the card did not print; None when it did.
    error: PrinterError | None = None
    status: PrinterStatus | None = None


@attrs.define(kw_only=True)
class PrintRun:
    """The outcome of :meth:`PrintService.print_many`: one result per card sent, and why it stopped early."""

    results: list[PrintResult]
    stopped: str | None = None


class PrintService:
    """Prints jobs of one site on one printer at a time."""

    def __init__(self, lifecycle: LifecycleService, host: Any, deployment: Any = None) -> None:
        self.lifecycle = lifecycle
        self.host = host
        self.deployment = deployment if deployment is not None else lifecycle.deployment

    # ---------------------------------------------------------------------------------------------

    def card_data(self, job: PrintJob, canvas: tuple[int, int]) -> CardData:
        """The biodata, photo and signature of a job's enrolment; refuses a job without them."""
        store = self.lifecycle.store
        with store.read() as conn:
            enrolment = repo.get_enrolment(conn, job.enrolment_id)
            by_modality = {c.modality: c for c in repo.list_captures(conn, job.enrolment_id)}
            images: dict[Modality, bytes] = {}
            for modality, what in ((Modality.FACE, "photo"), (Modality.SIGNATURE, "signature")):
                capture = by_modality.get(modality)
                if capture is None or capture.blob_ref is None:
                    raise NothingConsumed(
                        f"enrolment {enrolment.id} has no {what}: the card cannot be printed; record the {what} first"
                    )
                images[modality] = blob_store.get(
                    conn, self.lifecycle.data_key, ref=capture.blob_ref, enrolment_id=enrolment.id
                )
        profile = getattr(self.deployment, "profile", None)
        place = enrolment.biodata.kabupaten_kota
        back: bool = PRINTING.read(profile)["back"]
        return CardData(
            biodata=enrolment.biodata,
            photo=images[Modality.FACE],
            signature=images[Modality.SIGNATURE],
            issue_place=place,
            issue_date=self.lifecycle.clock().astimezone(dt.UTC).date(),
            canvas=canvas,
            back=back,
        )

    def render(self, card: CardData, job: PrintJob) -> RenderedCard:
        """The card laid out by the first ``ektp_render_card`` implementation that answers."""
        rendered = self.host.hook.ektp_render_card(card=card, job=job, deployment=self.deployment)
        if rendered is None:
            raise EktpError("no plugin rendered the card (is the card-layout plugin blocked?)")
        if not isinstance(rendered, RenderedCard):
            raise EktpError(f"the card renderer returned {type(rendered).__name__}, not a RenderedCard")
        return rendered

    # ---------------------------------------------------------------------------------------------

    def print_job(
        self, job_id: str, printer: CardPrinter, *, printer_name: str, actor: str, progress: Progress | None = None
    ) -> PrintResult:
        """Print one QUEUED job on an open printer. Never retries: a failed card stays failed."""
        job = self.lifecycle.jobs_by_id(job_id)
        self.check_printer(printer, printer_name=printer_name, site_code=job.site_code)
        prepared = self.prepare(job_id, printer.canvas, actor=actor)
        return self.send(prepared, printer, printer_name=printer_name, actor=actor, progress=progress)

    def check_printer(self, printer: CardPrinter, *, printer_name: str, site_code: str) -> PrinterStatus:
        """The printer must be ready (a PrinterError or NothingConsumed otherwise, nothing reserved);
        the first time ektp meets it, its card counter becomes the ledger's reference."""
        status = printer.status()
        if not status.ready:
            raise NothingConsumed(
                Message("print.not_ready", printer=printer_name, state=status.state, detail=status.message)
            )
        self._meet_printer(printer_name, status, site_code=site_code)
        return status

    def prepare(self, job_id: str, canvas: tuple[int, int], *, actor: str) -> Prepared:
        """Steps 1-2: check, reserve a blank, render for ``canvas``. Refusals consume nothing; a render
        failure gives the blank back. Never talks to the printer, so it can run while one prints."""
        lc = self.lifecycle
        job = lc.jobs_by_id(job_id)
        if job.state is not PrintJobState.QUEUED:
            raise NothingConsumed(Message("print.not_queued", job=job_id, state=job.state))
        if lc.get(job.enrolment_id).state is not EnrolmentState.SENT_FOR_CARD_PRINTING:
            raise NothingConsumed(Message("print.not_waiting", enrolment=job.enrolment_id))
        self._check_order(job_id)
        card_data = self.card_data(job, canvas)
        job = lc.reserve_blank(job_id, actor=actor)  # Conflict when the site has no blank: nothing consumed
        try:
            rendered = self.render(card_data, job)
        except Exception:
            lc.release_blank(job_id, actor=actor, reason=Message("reason.render_failed"))
            raise
        return Prepared(job=job, card=rendered)

    def _check_order(self, job_id: str) -> None:
        # At a site node, a job exists because the Dukcapil node routed it here: it is printed only
        # when the Dukcapil node's signed order for it holds (a job made or changed at the site is not).
        deployment = self.lifecycle.deployment
        if deployment is None or deployment.site.kind is SiteKind.DUKCAPIL:
            return
        from ektp_core.sync.feed import FeedRefused, check_signed_job

        try:
            check_signed_job(self.lifecycle, job_id)
        except FeedRefused as exc:
            raise NothingConsumed(Message("print.not_signed", detail=str(exc))) from None

    def send(
        self,
        prepared: Prepared,
        printer: CardPrinter,
        *,
        printer_name: str,
        actor: str,
        progress: Progress | None = None,
    ) -> PrintResult:
        """Steps 3-5: mark SENT, print, settle the job by the printer's answer and counter."""
        lc = self.lifecycle
        job_id = prepared.job.id
        before = printer.status()
        if not before.ready:
            lc.release_blank(
                job_id,
                actor=actor,
                reason=Message(
                    "reason.printer_not_ready", printer=printer_name, state=before.state, detail=before.message
                ),
            )
            raise NothingConsumed(
                Message("print.not_ready_blank_back", printer=printer_name, state=before.state, detail=before.message)
            )
        job = lc.mark_sent(job_id, actor=actor, printer=printer_name)
        try:
            after = printer.print_card(prepared.card, progress=progress)
        except PrinterError as exc:
            return self._failed(job, exc, actor, printer, printer_name)
        except Exception as exc:  # a driver bug mid-card: we cannot know what came out
            lc.mark_unknown(
                job_id, actor=actor, reason=Message("reason.driver_failed", error=type(exc).__name__, detail=str(exc))
            )
            raise
        if before.card_count is not None and after.card_count is not None and after.card_count != before.card_count + 1:
            job = lc.mark_unknown(
                job_id,
                actor=actor,
                reason=Message("reason.counter_mismatch", before=before.card_count, after=after.card_count),
            )
            self._saw_counter(printer_name, after)
            return PrintResult(job=job, status=after)
        job = lc.mark_printed(job_id, actor=actor, reason=Message("reason.confirmed_by", printer=printer_name))
        self._saw_counter(printer_name, after)
        return PrintResult(job=job, status=after)

    def print_many(
        self,
        job_ids: Sequence[str],
        printer: CardPrinter,
        *,
        printer_name: str,
        actor: str,
        progress: Progress | None = None,
    ) -> PrintRun:
        """Print a queue, preparing the next card (reserve and render) while the printer prints the
        current one, so the printer never waits for software. Stops at the first card that does not
        print, or that is refused (``PrintRun.stopped`` says why); a card prepared but not sent gives
        its blank back. A refusal of the very first card is raised, as :meth:`print_job` does."""
        results: list[PrintResult] = []
        run = PrintRun(results=results)
        if not job_ids:
            return run
        first = self.lifecycle.jobs_by_id(job_ids[0])
        self.check_printer(printer, printer_name=printer_name, site_code=first.site_code)
        canvas = printer.canvas
        # Only this thread talks to the printer; the helper thread only reserves and renders.
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="ektp-prepare") as pool:

            def prepare(job_id: str) -> Prepared:
                return self.prepare(job_id, canvas, actor=actor)

            upcoming: Future[Prepared] = pool.submit(prepare, job_ids[0])
            for index in range(len(job_ids)):
                try:
                    prepared = upcoming.result()
                except EktpError as exc:  # no blank left, no photo...: nothing consumed for this card
                    if index == 0:
                        raise
                    run.stopped = f"job {job_ids[index]} was refused: {exc}"
                    return run
                if index + 1 < len(job_ids):
                    upcoming = pool.submit(prepare, job_ids[index + 1])
                try:
                    result = self.send(prepared, printer, printer_name=printer_name, actor=actor, progress=progress)
                except EktpError as exc:
                    run.stopped = f"job {prepared.job.id} was not sent: {exc}"
                    self._give_back(upcoming, index + 1 < len(job_ids), actor)
                    return run
                results.append(result)
                if result.job.state is not PrintJobState.PRINTED:
                    run.stopped = f"job {result.job.id} ended {result.job.state}: {text_of(result.job.reason)}"
                    self._give_back(upcoming, index + 1 < len(job_ids), actor)
                    return run
        return run

    def _give_back(self, upcoming: Future[Prepared], pending: bool, actor: str) -> None:
        # The run stopped early: the card prepared for the next job was never sent; its blank returns.
        if not pending:
            return
        try:
            spare = upcoming.result()
        except EktpError:
            return
        self.lifecycle.release_blank(spare.job.id, actor=actor, reason=Message("reason.run_stopped"))

    def _failed(
        self, job: PrintJob, exc: PrinterError, actor: str, printer: CardPrinter, printer_name: str
    ) -> PrintResult:
        lc = self.lifecycle
        reason = Message("reason.printer_failed", printer=printer_name, error=exc.as_message(), detail=str(exc))
        if exc.outcome is Outcome.NOT_STARTED:
            job = lc.return_unprinted(job.id, actor=actor, reason=reason)
        elif exc.outcome is Outcome.SPOILED:
            job = lc.mark_spoiled(job.id, actor=actor, reason=reason)
        else:
            job = lc.mark_unknown(job.id, actor=actor, reason=reason)
        with contextlib.suppress(PrinterError):  # the printer is gone; its counter is read next time
            self._saw_counter(printer_name, printer.status())
        return PrintResult(job=job, error=exc)

    # ---------------------------------------------------------------------------------------------
    # The printer's own counter
    # ---------------------------------------------------------------------------------------------

    def _meet_printer(self, name: str, status: PrinterStatus, *, site_code: str) -> None:
        at = self.lifecycle.clock()
        with self.lifecycle.store.write() as conn:
            row = conn.execute(sa.select(printers).where(printers.c.name == name)).one_or_none()
            if row is None:
                conn.execute(
                    printers.insert().values(
                        name=name,
                        site_code=site_code,
                        driver=status.model or "?",
                        serial=status.serial or "?",
                        baseline_count=status.card_count,
                        last_count=status.card_count,
                        updated_at=at,
                    )
                )
            elif row.serial not in ("?", status.serial or "?"):
                # Another machine under the same name: the old counter means nothing for it.
                raise EktpError(
                    f"printer {name} was serial {row.serial} and is now {status.serial}; "
                    "register the new printer under a new name"
                )

    def _saw_counter(self, name: str, status: PrinterStatus) -> None:
        if status.card_count is None:
            return
        with self.lifecycle.store.write() as conn:
            conn.execute(
                printers.update()
                .where(printers.c.name == name)
                .values(last_count=status.card_count, updated_at=self.lifecycle.clock())
            )

    def reconcile(self, name: str, status: PrinterStatus | None = None) -> CounterCheck:
        """Cards the ledger says went through a printer against the printer's own counter."""
        if status is not None:
            self._saw_counter(name, status)
        with self.lifecycle.store.read() as conn:
            [check] = print_queue.counter_checks(conn, [name])
        return check
