"""``ektp verify``, ``ektp adjudication`` and ``ektp handover``: the central system's verdicts at the node."""

from __future__ import annotations

import contextlib
import sys
import time
from pathlib import Path
from typing import Any

import click

from ektp_core.cli.options import (
    actor_option,
    deployment_option,
    echo_json,
    fail,
    services,
    sigterm_as_interrupt,
    verification_service,
)
from ektp_core.devices.declared import make_scanner, scanner_settings
from ektp_core.devices.scanners import ScannerError
from ektp_core.devices.verifiers import CentralUnavailable
from ektp_core.domain.model import FINGER_POSITIONS, Modality
from ektp_core.errors import EktpError
from ektp_core.messages import text_of
from ektp_core.services.verification import VerificationService

#: Exit status when the central system cannot be reached (nothing is lost; run the command again later).
EXIT_UNAVAILABLE = 3
#: Exit status of `ektp handover` when the finger does not match (the card is not handed over).
EXIT_MISMATCH = 4


def _central_errors(exc: Exception) -> None:
    if isinstance(exc, CentralUnavailable):
        fail(f"central system unavailable: {exc}. Nothing is lost: run `ektp verify sync` later.", EXIT_UNAVAILABLE)
    fail(str(exc))


@click.group("verify")
def verify_group() -> None:
    """Send enrolments to the central system and bring back its verdicts."""


@verify_group.command("submit")
@click.argument("enrolment_ids", nargs=-1, required=True)
@actor_option
@deployment_option
def verify_submit(enrolment_ids: tuple[str, ...], actor: str, deployment_dir: Path | None) -> None:
    """Send complete enrolments (BIO_CAPTURED) to the central system."""
    unavailable = False
    failed = 0
    with verification_service(deployment_dir) as (_d, _h, service):
        for enrolment_id in enrolment_ids:
            try:
                state = service.submit(enrolment_id, actor=actor)
            except EktpError as exc:  # each enrolment on its own: the others are still sent
                click.echo(f"{enrolment_id}: NOT SENT: {exc}", err=True)
                failed += 1
                continue
            click.echo(f"{enrolment_id}: {state}")
            unavailable = unavailable or state == "SENT_FOR_ENROLLMENT"
    if unavailable:
        fail(
            "the central system could not be reached; the enrolments are kept and `ektp verify sync` sends them again",
            EXIT_UNAVAILABLE,
        )
    if failed:
        fail(f"{failed} of {len(enrolment_ids)} enrolment(s) not sent (see above)")


@verify_group.command("sync")
@click.option(
    "--wait",
    type=click.FloatRange(0, 30),
    default=0.0,
    show_default=True,
    help="Seconds to wait for each pending verdict.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@actor_option
@deployment_option
def verify_sync(wait: float, as_json: bool, actor: str, deployment_dir: Path | None) -> None:
    """Resend what was not received, fetch verdicts, report printed cards."""
    with verification_service(deployment_dir) as (_d, _h, service):
        try:
            report = service.sync(actor=actor, wait=wait)
        except EktpError as exc:
            fail(str(exc))
    if as_json:
        echo_json(
            {
                "sent": report.sent,
                "verdicts": report.verdicts,
                "still_waiting": report.still_waiting,
                "failed": report.failed,
                "routed": report.routed,
                "cards_reported": report.cards_reported,
                "unavailable": report.unavailable,
            }
        )
    else:
        click.echo(
            f"sent {len(report.sent)}, verdicts {len(report.verdicts)}, still waiting "
            f"{len(report.still_waiting)}, cards reported {len(report.cards_reported)}"
        )
        for enrolment_id, verdict in report.verdicts.items():
            click.echo(f"  {enrolment_id}: {verdict}")
        for enrolment_id, where in report.routed.items():
            click.echo(f"  {enrolment_id}: print job queued at {where}")
        for enrolment_id, error in report.failed.items():
            click.echo(f"  {enrolment_id}: FAILED {error}")
    if report.unavailable:
        fail(
            f"central system unavailable: {report.unavailable}. Nothing is lost: run `ektp verify sync` later.",
            EXIT_UNAVAILABLE,
        )
    if report.failed:
        sys.exit(1)


@verify_group.command("run")
@click.option("--interval", type=click.FloatRange(1), default=30.0, show_default=True, help="Seconds between rounds.")
@click.option("--once", is_flag=True, help="One round and stop.")
@actor_option
@deployment_option
def verify_run(interval: float, once: bool, actor: str, deployment_dir: Path | None) -> None:
    """At the Dukcapil node: a verification sync round (send what sites and desks recorded, fetch
    verdicts, queue the print jobs, report printed cards) again and again, until Ctrl-C or SIGTERM; a
    central system that is down only delays things."""
    with contextlib.suppress(KeyboardInterrupt), sigterm_as_interrupt():
        while True:
            # Opened again each round: a profile changed meanwhile is read, and nothing stays locked.
            with services(deployment_dir) as (_deployment, host, lc):
                try:
                    report = VerificationService.for_deployment(lc, host).sync(actor=actor)
                    line = (
                        f"sent {len(report.sent)}, verdicts {len(report.verdicts)}, still waiting "
                        f"{len(report.still_waiting)}, print jobs queued {len(report.routed)}, failed "
                        f"{len(report.failed)}, cards reported {len(report.cards_reported)}"
                    )
                    if report.unavailable:
                        line += f"; central system unavailable: {report.unavailable}"
                except EktpError as exc:
                    line = f"error: {exc}"
            click.echo(f"{time.strftime('%H:%M:%S')} {line}", err=True)
            if once:
                return
            time.sleep(interval)
    click.echo("stopped", err=True)


@verify_group.command("status")
@click.argument("enrolment_id")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@deployment_option
def verify_status(enrolment_id: str, as_json: bool, deployment_dir: Path | None) -> None:
    """Show an enrolment's submission: attempts, receipt, verdict, reasons and candidates."""
    with verification_service(deployment_dir) as (_d, _h, service):
        try:
            state = service.lifecycle.get(enrolment_id).state
        except EktpError as exc:
            fail(str(exc))
        status = service.status(enrolment_id)
    if as_json:

        def when(value: Any) -> str | None:
            return value.isoformat() if value is not None else None

        echo_json(
            {
                "enrolment_id": enrolment_id,
                "state": state.value,
                "attempts": status.attempts if status else 0,
                "last_attempt_at": when(status.last_attempt_at) if status else None,
                "last_error": text_of(status.last_error) or None if status else None,
                "received_at": when(status.received_at) if status else None,
                "verdict": status.verdict.to_dict() if status and status.verdict else None,
                "card_reported_at": when(status.card_reported_at) if status else None,
            }
        )
        return
    click.echo(f"{enrolment_id}: {state}")
    if status is None:
        click.echo("  not sent yet")
        return
    click.echo(
        f"  attempts {status.attempts}" + (f", last error: {text_of(status.last_error)}" if status.last_error else "")
    )
    if status.received_at:
        click.echo(f"  received at central {status.received_at.isoformat()}")
    if status.verdict:
        for reason in status.verdict.reasons:
            click.echo(f"  reason {reason.code}: {reason.message}")
        for c in status.verdict.candidates:
            click.echo(f"  candidate {c.enrolment_id} (NIK {c.nik}) score {c.score:g}")


@click.group("adjudication")
def adjudication_group() -> None:
    """Supervisors decide on suspected duplicates (ADJUDICATE_RECORD)."""


@adjudication_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list.")
@deployment_option
def adjudication_list(as_json: bool, deployment_dir: Path | None) -> None:
    """The enrolments waiting for a supervisor, with their candidates and scores."""
    with verification_service(deployment_dir) as (_d, _h, service):
        queue = service.adjudication_queue()
    if as_json:
        echo_json([{"enrolment_id": eid, "verdict": v.to_dict() if v else None} for eid, v in queue])
        return
    if not queue:
        click.echo("no enrolment waits for adjudication")
    for eid, verdict in queue:
        if verdict is None:
            click.echo(f"{eid}: (no verdict kept)")
            continue
        candidates = ", ".join(f"{c.enrolment_id} ({c.score:g})" for c in verdict.candidates)
        click.echo(f"{eid}: " + (f"candidates {candidates}" if candidates else verdict.summary()))


@adjudication_group.command("decide")
@click.argument("enrolment_id")
@click.option(
    "--decision",
    type=click.Choice(["unique", "duplicate"]),
    required=True,
    help="unique: a different person (PRINT_READY_RECORD); duplicate: the same person (DUPLICATE_RECORD).",
)
@click.option("--note", required=True, help="Why (kept in the audit log).")
@actor_option
@deployment_option
def adjudication_decide(enrolment_id: str, decision: str, note: str, actor: str, deployment_dir: Path | None) -> None:
    """Decide a suspected duplicate; the decision goes to the central system and the audit log."""
    wanted = "PRINT_READY_RECORD" if decision == "unique" else "DUPLICATE_RECORD"
    with verification_service(deployment_dir) as (_d, _h, service):
        try:
            state = service.adjudicate(enrolment_id, wanted, supervisor=actor, note=note)
        except EktpError as exc:
            _central_errors(exc)
    click.echo(
        f"{enrolment_id}: {state}"
        + ("" if state == wanted else " (the central system already held this earlier decision)")
    )


@click.command("handover")
@click.argument("enrolment_id")
@click.option(
    "--finger",
    type=click.Choice(FINGER_POSITIONS),
    default="right_index",
    show_default=True,
    help="The finger the holder puts on the scanner.",
)
@click.option(
    "--image",
    "image_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Use this finger image (PNG) instead of the site's scanner.",
)
@click.option(
    "--scanner",
    "scanner_name",
    default=None,
    help="Scanner name from the profile (default: the first that takes fingers).",
)
@actor_option
@deployment_option
def handover_command(
    enrolment_id: str,
    finger: str,
    image_path: Path | None,
    scanner_name: str | None,
    actor: str,
    deployment_dir: Path | None,
) -> None:
    """Check the holder's finger against the enrolment, then hand the card over (CARD_ISSUED)."""
    from ektp_core.services.verification import HandoverRefused

    with verification_service(deployment_dir) as (deployment, host, service):
        if image_path is not None:
            image = image_path.read_bytes()
            template = None
        else:
            image, template = scan_finger(deployment, host, scanner_name, finger)
        try:
            if template is None:
                template = service.matcher.extract(image)
            if template is None:
                fail("no fingerprint found in the live image: place the finger again")
                return
            score = service.handover(enrolment_id, finger, template, operator=actor)
        except HandoverRefused as exc:
            fail(str(exc), EXIT_MISMATCH)
        except (EktpError, ValueError) as exc:
            fail(str(exc))
    click.echo(f"{enrolment_id}: CARD_ISSUED ({finger} matched, score {score:g})")


def scan_finger(deployment: Any, host: Any, scanner_name: str | None, finger: str) -> tuple[bytes, bytes | None]:
    """One finger from the profile's first finger scanner (or the one named): its image and template."""
    settings = [s for s in scanner_settings(deployment.profile) if scanner_name in (None, s.name)]
    for setting in settings:
        scanner = make_scanner(setting, host, deployment.root)
        if "finger" not in getattr(scanner, "modalities", ("finger",)):
            continue
        try:
            scanner.open()
            try:
                sample = scanner.capture(Modality.FINGER, (finger,))[0]
            finally:
                scanner.close()
        except ScannerError as exc:
            fail(f"scanner {setting.name}: {exc}")
        return sample.image, sample.template
    fail(f"no finger scanner {scanner_name or ''} in the profile; give --image".replace("  ", " "))
    raise AssertionError("unreachable")


#: What this module adds to the ``ektp`` command.
COMMANDS = (verify_group, adjudication_group, handover_command)
