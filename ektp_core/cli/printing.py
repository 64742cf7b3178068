"""``ektp print-queue``, ``ektp print``, ``ektp print-resolve``, ``ektp print-requeue``, ``ektp blanks`` and
``ektp devices``."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path
from typing import Any

import click

from ektp_core.cli.options import actor_option, deployment_option, echo_json, fail, open_deployment, services
from ektp_core.devices.declared import choose_printer, make_printer, make_scanner, printer_settings, scanner_settings
from ektp_core.devices.printers import PrinterError, step_reporter
from ektp_core.domain.model import PrintJobState, Role, SiteKind, due_on
from ektp_core.errors import EktpError, NotFound
from ektp_core.lifecycle.service import LifecycleService
from ektp_core.messages import text_of
from ektp_core.services.accounts import AccountService
from ektp_core.services.printing import PrintService

OPEN_JOB_STATES = (PrintJobState.QUEUED, PrintJobState.RESERVED, PrintJobState.SENT, PrintJobState.UNKNOWN)


@click.command("print-queue")
@click.option("--site", "site_code", default=None, help="Site code (default: this node's site).")
@click.option("--all", "show_all", is_flag=True, help="Also show finished jobs (PRINTED, SPOILED, CANCELLED).")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list.")
@deployment_option
def print_queue(site_code: str | None, show_all: bool, as_json: bool, deployment_dir: Path | None) -> None:
    """List the print jobs of a site, oldest first, with the reason for their routing."""
    with services(deployment_dir) as (deployment, _host, lc):
        states = () if show_all else tuple(s.value for s in OPEN_JOB_STATES)
        jobs = lc.jobs(site_code=site_code or deployment.site_code, states=states)
        rows = [
            {
                "id": j.id,
                "state": j.state.value,
                "enrolment_id": j.enrolment_id,
                "site": j.site_code,
                "blank_serial": j.blank_serial,
                "printer": j.printer,
                "routing_reason": text_of(j.routing_reason),
                "reason": text_of(j.reason) or None,
                "print_day": j.print_day,
                "created_at": j.created_at.isoformat(),
            }
            for j in jobs
        ]
    if as_json:
        echo_json(rows)
        return
    if not rows:
        click.echo("no print jobs waiting")
    for r in rows:
        click.echo(f"{r['id']}  {r['state']:9} enrolment {r['enrolment_id']}  blank {r['blank_serial'] or '-'}")
        click.echo(f"    routed: {r['routing_reason']}")
        if r["print_day"]:
            click.echo(f"    print day: {r['print_day'].title()}")
        if r["reason"]:
            click.echo(f"    note: {r['reason']}")


@click.command("print")
@click.argument("job_ids", nargs=-1)
@click.option("--queued", is_flag=True, help="Print every QUEUED job of the printer's site, oldest first.")
@click.option(
    "--any-day",
    is_flag=True,
    help="With --queued: also print jobs whose print day is not today (semi-vertical print days).",
)
@click.option(
    "--printer",
    "printer_name",
    default=None,
    help="Printer name from the profile (default: the first printer at the job's site).",
)
@actor_option
@deployment_option
def print_command(
    job_ids: tuple[str, ...],
    queued: bool,
    any_day: bool,
    printer_name: str | None,
    actor: str,
    deployment_dir: Path | None,
) -> None:
    """Print QUEUED jobs (JOB_ID..., or --queued). A failed card is never printed again automatically;
    a run stops at the first card that does not print. The next card is prepared while one prints.
    With --queued, a job with a print day waits for its day unless --any-day is given."""
    if bool(job_ids) == queued:
        raise click.UsageError("give JOB_IDs or --queued (not both)")
    with services(deployment_dir) as (deployment, host, lc):
        site = lc.jobs_by_id(job_ids[0]).site_code if job_ids else deployment.site_code
        setting, printer = choose_printer(deployment, host, name=printer_name, site_code=site)
        recovered = lc.recover_interrupted(site_code=setting.site, actor=actor)
        for key, ids in recovered.items():
            for jid in ids:
                what = "is UNKNOWN: a supervisor must look" if key == "unknown" else "gave its blank back"
                click.echo(f"after an interrupted run: job {jid} {what}", err=True)
        wanted = list(job_ids) or _due_jobs(lc, setting.site, any_day=any_day)
        for jid in wanted:
            if lc.jobs_by_id(jid).site_code != setting.site:
                fail(
                    f"job {jid} is routed to site {lc.jobs_by_id(jid).site_code}; printer {setting.name} "
                    f"stands at {setting.site}"
                )
        if not wanted:
            click.echo("no QUEUED jobs to print")
            return
        service = PrintService(lc, host, deployment)
        try:
            printer.open()
        except PrinterError as exc:
            fail(f"printer {setting.name}: {exc} (nothing was reserved)")
        try:
            click.echo(f"printing {len(wanted)} card(s) on {setting.name} ...", err=True)
            run = service.print_many(
                wanted,
                printer,
                printer_name=setting.name,
                actor=actor,
                progress=step_reporter(lambda text: click.echo(f"  {text}", err=True)),
            )
            check = service.reconcile(setting.name)
        finally:
            printer.close()
    results = run.results
    for result in results:
        job = result.job
        if result.error is None and job.state is PrintJobState.PRINTED:
            click.echo(f"job {job.id} PRINTED on blank {job.blank_serial}")
        else:
            click.echo(f"job {job.id} {job.state}: {text_of(job.reason)}")
    if run.stopped:
        click.echo(
            f"stopped after {len(results)} of {len(wanted)} card(s): {run.stopped}; the rest stay QUEUED", err=True
        )
    if not check.matches:
        click.echo(
            f"warning: printer {check.printer} counted {check.printer_cards} cards, the ledger "
            f"{check.ledger_cards}: count the cards and tell a supervisor",
            err=True,
        )
    ok = len(results) == len(wanted) and all(r.job.state is PrintJobState.PRINTED for r in results)
    sys.exit(0 if ok else 1)


def _today() -> dt.date:
    # The office's own calendar day (the node's local time), not UTC: print days are office days.
    return dt.date.today()


def _due_jobs(lc: LifecycleService, site: str, *, any_day: bool) -> list[str]:
    """The QUEUED jobs of a site to print now; jobs waiting for another print day are named and left."""
    today = _today()
    due = []
    for job in lc.jobs(site_code=site, states=("QUEUED",)):
        if any_day or due_on(job.print_day, today):
            due.append(job.id)
        else:
            click.echo(
                f"job {job.id} waits for its print day ({(job.print_day or '').title()}; today is "
                f"{today:%A}); --any-day prints it now",
                err=True,
            )
    return due


@click.command("print-resolve")
@click.argument("job_id")
@click.option(
    "--outcome",
    type=click.Choice(["printed", "spoiled", "not-taken"]),
    required=True,
    help="printed: the card came out right; spoiled: the printer took the card and ruined it; "
    "not-taken: the printer never took the card (its counter did not move).",
)
@click.option("--supervisor", required=True, help="The supervisor's account name.")
@click.option("--reason", required=True, help="What the supervisor saw.")
@deployment_option
def print_resolve(job_id: str, outcome: str, supervisor: str, reason: str, deployment_dir: Path | None) -> None:
    """A supervisor resolves an UNKNOWN print job after looking at the printer and its output."""
    with services(deployment_dir) as (_d, _h, lc):
        job = lc.resolve_unknown(
            job_id,
            supervisor=supervisor,
            printed=outcome == "printed",
            reason=reason,
            card_taken=outcome != "not-taken",
        )
    click.echo(f"job {job.id} resolved as {job.state}")


#: Who may queue a spoiled card again: the web UI's desk roles (operators and supervisors).
REQUEUE_ROLES = frozenset({Role.OPERATOR, Role.SUPERVISOR})


class RequeueRefused(EktpError):
    """``ektp print-requeue`` refused before asking the lifecycle: wrong node, account, job or site."""


@click.command("print-requeue")
@click.argument("job_id")
@click.option(
    "--as",
    "actor",
    required=True,
    help="The account (an operator or supervisor of this node) who decided the reprint; recorded in the audit log.",
)
@deployment_option
def print_requeue(job_id: str, actor: str, deployment_dir: Path | None) -> None:
    """Queue the card of a SPOILED print job again: a new QUEUED job at the same site, with the same
    routing and print day. An operator's decision, never automatic; only at the Dukcapil node, for
    a job of its own site's queue (the same rules as the web UI's Cetak ulang)."""
    with services(deployment_dir) as (deployment, _host, lc):
        # The web view's rules, checked first so a refusal says which one: a site node prints only
        # jobs the Dukcapil node signed, so a reprint made there would never print.
        if deployment.site.kind is not SiteKind.DUKCAPIL:
            raise RequeueRefused(
                f"this node serves site {deployment.site_code}: only the Dukcapil node queues a spoiled card "
                "again (a site prints only the jobs the Dukcapil node signed); nothing was changed"
            )
        accounts = {op.username: op for op, _last_login in AccountService(lc).accounts()}
        who = accounts.get(actor)
        if who is None or not who.active or who.role not in REQUEUE_ROLES:
            what = "is not an account here" if who is None else f"({who.role}{'' if who.active else ', disabled'})"
            raise RequeueRefused(
                f"{actor} {what}: only an active operator or supervisor queues a spoiled card again; "
                "nothing was changed"
            )
        try:
            old = lc.jobs_by_id(job_id)
        except NotFound:
            raise RequeueRefused(
                f"no print job {job_id}; nothing was changed (`ektp print-queue --all` lists the jobs)"
            ) from None
        if old.site_code != deployment.site_code:
            raise RequeueRefused(
                f"print job {job_id} is in the queue of site {old.site_code}, not of this node's site "
                f"{deployment.site_code}; nothing was changed"
            )
        if old.state is not PrintJobState.SPOILED:
            raise RequeueRefused(
                f"print job {job_id} is {old.state}; only a SPOILED job can be queued again (nothing was changed)"
            )
        # The lifecycle's own call, as the web view makes it: same checks under lock, same audit entry.
        new = lc.requeue(job_id, actor=actor)
    day = f", print day {new.print_day.title()}" if new.print_day else ""
    click.echo(f"job {job_id} queued again as job {new.id} at site {new.site_code}{day}")


@click.group("blanks")
def blanks_group() -> None:
    """The blank-card (blangko) ledger: receive, count, spoil."""


@blanks_group.command("receive")
@click.argument("serials", nargs=-1)
@click.option("--first", default=None, help="First serial of a numbered run, e.g. BLK-000101.")
@click.option("--count", type=click.IntRange(1, 100000), default=None, help="How many serials from --first.")
@click.option("--site", "site_code", default=None, help="Site code (default: this node's site).")
@click.option("--note", default=None, help="Delivery note (letter number, batch...).")
@actor_option
@deployment_option
def blanks_receive(
    serials: tuple[str, ...],
    first: str | None,
    count: int | None,
    site_code: str | None,
    note: str | None,
    actor: str,
    deployment_dir: Path | None,
) -> None:
    """Add a delivery of blanks to stock (serials, or --first with --count). All or nothing."""
    wanted = list(serials)
    if first is not None or count is not None:
        if first is None or count is None:
            raise click.UsageError("--first and --count go together")
        wanted += _serial_run(first, count)
    if not wanted:
        raise click.UsageError("give serials, or --first and --count")
    with services(deployment_dir) as (deployment, _host, lc):
        site = site_code or deployment.site_code
        lc.receive_blanks(site, wanted, actor=actor, note=note)
        ledger = lc.ledger(site)
    click.echo(f"received {len(wanted)} blanks at {site}; in stock {ledger.in_stock}")


def _serial_run(first: str, count: int) -> list[str]:
    digits = len(first) - len(first.rstrip("0123456789"))
    if digits == 0:
        raise click.UsageError(f"--first {first!r} must end in digits")
    prefix, start = first[:-digits], int(first[-digits:])
    return [f"{prefix}{start + i:0{digits}d}" for i in range(count)]


@blanks_group.command("count")
@click.option("--site", "site_code", default=None, help="Site code (default: this node's site); 'all' for every site.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@deployment_option
def blanks_count(site_code: str | None, as_json: bool, deployment_dir: Path | None) -> None:
    """The daily stock report: received = in stock + reserved + printed + spoiled, and the printers' counters."""
    with services(deployment_dir) as (deployment, host, lc):
        site = None if site_code == "all" else (site_code or deployment.site_code)
        ledger = lc.ledger(site)
        service = PrintService(lc, host, deployment)
        checks = [
            service.reconcile(p.name) for p in printer_settings(deployment.profile) if site is None or p.site == site
        ]
    report = {
        "site": site or "all",
        "received": ledger.received,
        "in_stock": ledger.in_stock,
        "reserved": ledger.reserved,
        "printed": ledger.printed,
        "spoiled": ledger.spoiled,
        "balanced": ledger.balanced,
        "printers": [
            {
                "printer": c.printer,
                "ledger_cards": c.ledger_cards,
                "printer_cards": c.printer_cards,
                "matches": c.matches,
            }
            for c in checks
        ],
    }
    if as_json:
        echo_json(report)
    else:
        click.echo(
            f"site {report['site']}: received {ledger.received} = in stock {ledger.in_stock} + reserved "
            f"{ledger.reserved} + printed {ledger.printed} + spoiled {ledger.spoiled}: "
            f"{'balanced' if ledger.balanced else 'NOT BALANCED'}"
        )
        for c in checks:
            counted = "no counter" if c.printer_cards is None else f"printer counted {c.printer_cards}"
            click.echo(
                f"  {c.printer}: ledger {c.ledger_cards} cards, {counted}"
                f"{'' if c.matches else '  <-- MISMATCH: count the cards'}"
            )
    sys.exit(0 if ledger.balanced and all(c.matches for c in checks) else 1)


@blanks_group.command("spoil")
@click.argument("serial")
@click.option("--reason", required=True, help="Why the blank is unusable (kept for the stock report).")
@actor_option
@deployment_option
def blanks_spoil(serial: str, reason: str, actor: str, deployment_dir: Path | None) -> None:
    """Mark a blank in stock as spoiled (damaged, misprinted outside ektp...)."""
    with services(deployment_dir) as (_d, _h, lc):
        lc.spoil_blank(serial, actor=actor, reason=reason)
    click.echo(f"blank {serial} SPOILED: {reason}")


@click.command("devices")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list.")
@deployment_option
def devices_command(as_json: bool, deployment_dir: Path | None) -> None:
    """The profile's printers and scanners at every site, with what each says about itself."""
    deployment = open_deployment(deployment_dir)
    host = deployment.plugin_host()
    rows = []
    for kind, settings, make in (
        ("printer", printer_settings(deployment.profile), make_printer),
        ("scanner", scanner_settings(deployment.profile), make_scanner),
    ):
        for setting in settings:
            status: Any
            row: dict[str, Any] = {
                "kind": kind,
                "name": setting.name,
                "driver": setting.driver,
                "site": setting.site,
                "connected": False,
            }
            try:
                device = make(setting, host, deployment.root)
                device.open()
                try:
                    status = device.status()
                finally:
                    device.close()
                row.update(
                    connected=True,
                    state=status.state.value,
                    message=str(status.message),
                    model=status.model,
                    serial=status.serial,
                )
                if kind == "printer":
                    row.update(
                        firmware=status.firmware,
                        card_count=status.card_count,
                        ribbon=status.ribbon,
                        ribbon_remaining=status.ribbon_remaining,
                    )
                else:
                    row.update(modalities=[m.value for m in getattr(status, "modalities", ())])
            except Exception as exc:  # one broken device must not hide the others
                row.update(state="OFFLINE", message=str(exc))
            rows.append(row)
    if as_json:
        echo_json(rows)
        return
    if not rows:
        click.echo("no devices in the profile ([[devices.printers]])")
    for r in rows:
        extra = ""
        if r["connected"] and r["kind"] == "printer":
            extra = f" {r.get('model', '')} serial {r.get('serial', '')} cards {r.get('card_count')}"
        elif r["connected"]:
            extra = f" {r.get('model', '')} serial {r.get('serial') or '-'} ({', '.join(r.get('modalities', []))})"
        click.echo(
            f"{r['kind']:8} {r['name']:16} {r['driver']:10} site {r['site']:10} {r['state']}{extra}"
            f"{'  ' + r['message'] if r.get('message') else ''}"
        )


#: What this module adds to the ``ektp`` command.
COMMANDS = (print_queue, print_command, print_resolve, print_requeue, blanks_group, devices_command)
