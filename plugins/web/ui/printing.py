"""The print queue (antrean cetak) of this site: jobs with their routing reason, a card preview,
printing on a chosen printer with live progress, supervisors' decisions on UNKNOWN jobs.

Printing runs in a background thread (:mod:`.printing_runs`); the page follows it through a JSON
status route. The blank (blangko) pages of the same blueprint are in :mod:`.blanks`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ektp_plugins.web.ui import access
from ektp_plugins.web.ui.app import _, current_user, node, say
from ektp_plugins.web.ui.blank_forms import today
from ektp_plugins.web.ui.printing_runs import PrintRun, PrintRuns, RunInProgress, explain, report_outcomes
from flask import Blueprint, Response, abort, flash, g, jsonify, redirect, render_template, request, url_for

from ektp_core.devices.declared import PrinterSetting, make_printer, printers_at
from ektp_core.devices.printers import EVOLIS_CANVAS
from ektp_core.domain.model import WEEKDAYS, PrintJob, PrintJobState, Role
from ektp_core.errors import EktpError, NotFound
from ektp_core.services.printing import PrintService
from ektp_core.store.read_models import blank_stock, print_queue

bp = Blueprint("printing", __name__)

#: Job states and the badge each wears.
BADGES = {
    "QUEUED": "info",
    "RESERVED": "info",
    "SENT": "warn",
    "UNKNOWN": "bad",
    "PRINTED": "ok",
    "SPOILED": "bad",
    "CANCELLED": "",
}
#: A supervisor's answers for an UNKNOWN job (as ``ektp print-resolve --outcome``).
OUTCOMES = ("printed", "spoiled", "not-taken")


def runs() -> PrintRuns:
    """This node's print runs (one registry per app)."""
    found: PrintRuns = node().tasks.setdefault("print-runs", PrintRuns())
    return found


def site_printers() -> list[PrinterSetting]:
    """The printers standing at this node's site, in profile order."""
    n = node()
    return printers_at(n.deployment, n.site.code)


def proof_printer() -> PrinterSetting | None:
    """This site's proof printer (PDF/PNG), when it has one."""
    return next((p for p in site_printers() if p.driver == "proof"), None)


def site_job(job_id: str) -> PrintJob:
    """A job of this site's queue (404 for an unknown one or another site's)."""
    n = node()
    try:
        job = n.lifecycle.jobs_by_id(job_id)
    except NotFound:
        abort(404)
    if job.site_code != n.site.code:
        abort(404)
    return job


def flash_note(level: str, key: str, values: dict[str, Any]) -> None:
    """Flash a message kept as a catalogue key (from a run or a refusal)."""
    flash(_(key, **values), level)


# ------------------------------------------------------------------------------------------------
# The queue
# ------------------------------------------------------------------------------------------------


@bp.get("/print")
@access.allow(access.DESK, printing_site=True)
def queue() -> Any:
    """The site's open jobs and the recently finished ones, the printers and their runs."""
    n = node()
    try:
        page_number = int(request.args.get("page", "1"))
    except ValueError:
        page_number = 1
    printers = site_printers()
    with n.lifecycle.store.read() as conn:  # one snapshot: the counts, the page and the ledger agree
        page = print_queue.queue_page(
            conn, n.site.code, day=today(), page=page_number, printer_names=[p.name for p in printers]
        )
        ledger = blank_stock.ledger(conn, n.site.code)
    open_rows, recent_rows = list(page.rows), list(page.recent)
    active = {r.printer: r for r in runs().active()}
    preview = request.args.get("preview") or None
    if preview is not None and not any(r.job.id == preview for r in open_rows + recent_rows):
        preview = None
    user = current_user()
    return render_template(
        "printing/queue.html",
        open_rows=open_rows,
        recent_rows=recent_rows,
        printers=printers,
        checks=page.checks,
        active=active,
        ledger=ledger,
        low_stock=n.settings.low_stock_at(n.site.code),
        badges=BADGES,
        outcomes=OUTCOMES,
        preview=preview,
        supervisor=user is not None and user.role is Role.SUPERVISOR,
        page=page,
        queued=page.due_today,
        queued_any=page.by_state.get(PrintJobState.QUEUED.value, 0),
        labels=state_labels(),
        preview_href=url_for("printing.queue"),
    )


def state_labels() -> dict[str, str]:
    """Job states and weekdays in the reader's language, looked up once per page, not once per row."""
    labels = {state.value: _("job." + state.value) for state in PrintJobState}
    labels.update({day: _("weekday." + day) for day in WEEKDAYS})
    return labels


@bp.get("/print/jobs/<job_id>/preview.png")
@access.allow(access.DESK)
def preview(job_id: str) -> Any:
    """The card's front as it would print now, on the proof canvas or a printer's (``?printer=``)."""
    n = node()
    try:
        job = n.lifecycle.jobs_by_id(job_id)
    except NotFound:
        abort(404)
    if not n.is_dukcapil and job.site_code != n.site.code:
        abort(404)
    printers = site_printers()
    wanted = request.args.get("printer")
    setting = next((p for p in printers if p.name == wanted), None) or proof_printer() or next(iter(printers), None)
    canvas = EVOLIS_CANVAS
    if setting is not None:
        try:
            canvas = make_printer(setting, n.host, n.deployment.root).canvas
        except EktpError:
            canvas = EVOLIS_CANVAS  # a misconfigured printer still lets the card be looked at
    service = PrintService(n.lifecycle, n.host, n.deployment)
    try:
        card = service.render(service.card_data(job, canvas), job)
    except EktpError as exc:
        key, values = explain(exc)
        return Response(_(key, **values), status=409, mimetype="text/plain")
    response = Response(card.preview_png, mimetype="image/png")
    response.headers["Cache-Control"] = "no-store"
    return response


# ------------------------------------------------------------------------------------------------
# Printing
# ------------------------------------------------------------------------------------------------


@bp.post("/print/run")
@access.allow(access.DESK, printing_site=True)
def run() -> Any:
    """Print one job (``job``) or every due QUEUED job (``all``) on the chosen printer, in the background."""
    n = node()
    user = current_user()
    assert user is not None
    printers = site_printers()
    name = request.form.get("printer") or (printers[0].name if printers else "")
    setting = next((p for p in printers if p.name == name), None)
    if setting is None:
        flash(_("print.err.no_printer", printer=name, site=n.site.code), "error")
        return redirect(url_for("printing.queue"))
    wanted = [j for j in request.form.getlist("job") if j]
    if wanted:
        for job_id in wanted:
            job = site_job(job_id)
            if job.state is not PrintJobState.QUEUED:
                flash(_("print.err.not_queued_state", job=job_id, state=_("job." + job.state.value)), "error")
                return redirect(url_for("printing.queue"))
    elif request.form.get("all"):
        any_day = bool(request.form.get("any_day"))
        with n.lifecycle.store.read() as conn:
            wanted, waiting = print_queue.queued_job_ids(conn, n.site.code, day=today(), any_day=any_day)
        if any_day:
            waiting = 0
        if waiting:
            flash(_("print.waiting_day", count=waiting), "info")
        if not wanted:
            flash(_("print.nothing_queued"), "info")
            return redirect(url_for("printing.queue"))
    else:
        flash(_("print.err.choose_job"), "error")
        return redirect(url_for("printing.queue"))
    try:
        started = runs().start(
            n.lifecycle,
            n.host,
            setting=setting,
            job_ids=wanted,
            actor=user.username,
            proof=proof_printer(),
            report_outcomes=not n.is_dukcapil,
        )
    except RunInProgress as exc:
        busy = exc.run
        flash(_("print.err.busy_run", printer=busy.printer, who=busy.started_by), "error")
        return redirect(url_for("printing.progress", run_id=busy.id))
    return redirect(url_for("printing.progress", run_id=started.id))


def _run_or_404(run_id: str) -> PrintRun:
    found = runs().get(run_id)
    if found is None or found.site != node().site.code:
        abort(404)
    return found


@bp.get("/print/runs/<run_id>")
@access.allow(access.DESK, printing_site=True)
def progress(run_id: str) -> Any:
    """A run's page: its cards and their states, the printer's steps; it polls :func:`status`."""
    found = _run_or_404(run_id)
    return render_template("printing/run.html", run=found.snapshot(), status=run_status(found), badges=BADGES)


@bp.get("/print/runs/<run_id>/status")
@access.allow(access.DESK, printing_site=True)
def status(run_id: str) -> Any:
    """A run's state as JSON, in the reader's language (the run page polls it)."""
    return jsonify(run_status(_run_or_404(run_id)))


def run_status(found: PrintRun) -> dict[str, Any]:
    """What the run page shows, translated."""
    snap = found.snapshot()
    with node().lifecycle.store.read() as conn:
        rows = print_queue.rows(conn, snap["job_ids"], day=today())
    finished = (PrintJobState.PRINTED, PrintJobState.SPOILED, PrintJobState.UNKNOWN)
    ended = sum(1 for r in rows if r.job.state in finished)
    total = max(1, len(snap["job_ids"]))
    # The card being printed is the SENT one; its share is the driver's fraction.
    printing_now = not snap["done"] and any(r.job.state is PrintJobState.SENT for r in rows)
    current = snap["fraction"] if printing_now else 0.0
    check = snap["check"]
    return {
        "done": snap["done"],
        "failed": _(snap["failed"][1], **snap["failed"][2]) if snap["failed"] else None,
        "step": _step(snap["step"]),
        "fraction": snap["fraction"],
        "overall": 1.0 if snap["done"] else min(1.0, (ended + current) / total),
        "steps": [f"[{_percent(fraction)}] {_step(step)}" for fraction, step in snap["steps"][-30:]],
        "notes": [{"level": level, "text": _(key, **values)} for level, key, values in snap["notes"]],
        "jobs": [
            {
                "id": r.job.id,
                "nama": r.nama,
                "nik": r.nik,
                "state": r.job.state.value,
                "label": _("job." + r.job.state.value),
                "badge": BADGES.get(r.job.state.value, ""),
                "blank": r.job.blank_serial or "",
                "reason": say(r.job.reason),
            }
            for r in rows
        ],
        "check": None
        if check is None
        else {
            "printer": check.printer,
            "ledger": check.ledger_cards,
            "counted": check.printer_cards,
            "matches": check.matches,
        },
        "summary": _run_summary(snap, rows, ended),
    }


def _run_summary(snap: dict[str, Any], rows: Sequence[Any], ended: int) -> str:
    """The run's one line: going, refused (nothing printed, why is the alert below), or finished
    with how many cards were really printed ("0 of 1 processed" read as done for a refused run)."""
    values = {"printer": snap["printer"], "total": len(snap["job_ids"])}
    if not snap["done"]:
        return _("print.run_going", ended=ended, **values)
    printed = sum(1 for r in rows if r.job.state is PrintJobState.PRINTED)
    if snap["failed"]:
        return _("print.run_refused", **values)
    if printed == 0:
        return _("print.run_none_printed", **values)
    return _("print.run_done", printed=printed, **values)


# ------------------------------------------------------------------------------------------------
# Decisions on jobs
# ------------------------------------------------------------------------------------------------


@bp.post("/print/jobs/<job_id>/resolve")
@access.allow(access.SUPERVISORS, printing_site=True)
def resolve(job_id: str) -> Any:
    """A supervisor says what became of an UNKNOWN job's card (as ``ektp print-resolve``)."""
    n = node()
    user = current_user()
    assert user is not None
    job = site_job(job_id)
    outcome = request.form.get("outcome", "")
    reason = (request.form.get("reason") or "").strip()
    if outcome not in OUTCOMES:
        flash(_("print.err.outcome"), "error")
    elif not reason:
        flash(_("print.err.reason_required"), "error")
    elif job.state is not PrintJobState.UNKNOWN:
        flash(_("print.err.not_unknown", job=job_id, state=_("job." + job.state.value)), "error")
    else:
        try:
            done = n.lifecycle.resolve_unknown(
                job_id,
                supervisor=user.username,
                printed=outcome == "printed",
                reason=reason,
                card_taken=outcome != "not-taken",
            )
        except EktpError as exc:
            key, values = explain(exc)
            flash(_(key, **values), "error")
        else:
            flash(_("print.resolved", job=job_id, state=_("job." + done.state.value)), "ok")
            if not n.is_dukcapil and done.state in (PrintJobState.PRINTED, PrintJobState.SPOILED):
                note = report_outcomes(n.lifecycle)
                if note is not None:
                    flash_note(*note)
    return redirect(url_for("printing.queue"))


@bp.post("/print/jobs/<job_id>/spoil")
@access.allow(access.SUPERVISORS, printing_site=True)
def spoil_printed(job_id: str) -> Any:
    """A supervisor spoils a printed card found unusable before handover (a misprint, a scratch): job and
    blank SPOILED with the reason; the card is then printed again (requeued at the Dukcapil node)."""
    n = node()
    user = current_user()
    assert user is not None
    site_job(job_id)
    reason = (request.form.get("reason") or "").strip()
    if not reason:
        flash(_("print.err.reason_required"), "error")
        return redirect(url_for("printing.queue"))
    try:
        done = n.lifecycle.spoil_printed(job_id, supervisor=user.username, reason=reason)
    except EktpError as exc:
        key, values = explain(exc)
        flash(_(key, **values), "error")
    else:
        # A reprint is a decision (requeue at the Dukcapil node), never automatic: say where it is taken.
        key = "print.spoiled_printed" if n.is_dukcapil else "print.spoiled_printed_site"
        flash(_(key, job=job_id, state=_("job." + done.state.value), requeue=_("print.requeue")), "ok")
        if not n.is_dukcapil:
            note = report_outcomes(n.lifecycle)
            if note is not None:
                flash_note(*note)
    return redirect(url_for("printing.queue"))


@bp.post("/print/jobs/<job_id>/requeue")
@access.allow(access.DESK, dukcapil_only=True)
def requeue(job_id: str) -> Any:
    """A new QUEUED job for the resident of a SPOILED one (an operator's decision, never automatic).
    Only the Dukcapil node: a site prints only jobs the Dukcapil node signed."""
    n = node()
    user = current_user()
    assert user is not None
    site_job(job_id)
    try:
        new = n.lifecycle.requeue(job_id, actor=user.username)
    except EktpError as exc:
        key, values = explain(exc)
        flash(_(key, **values), "error")
    else:
        flash(_("print.requeued", job=job_id, new=new.id), "ok")
    return redirect(url_for("printing.queue"))


# The blank pages share this blueprint (endpoints printing.blanks...): imported last, they add their routes.
from ektp_plugins.web.ui import blanks  # noqa: E402,F401


def _step(step: str) -> str:
    # A driver names its steps in English ("checking the printer", "panel Y"); the catalogues know the
    # bundled drivers' (``step.<name>``), and another driver's step is shown as it named it.
    return _("step." + step, text=step) if step else ""


def _percent(fraction: float) -> str:
    return _("print.percent", value=f"{fraction * 100:.1f}".replace(".", "," if g.get("lang", "id") == "id" else "."))
