"""``ektp enrolment correct|cancel|purge``, ``ektp replace`` and ``ektp cards show``: the office's work
beyond a first card (corrections, cancellations, replacement cards, the card register)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import click

from ektp_core.cli.options import actor_option, deployment_option, echo_json, fail, services, verification_service
from ektp_core.cli.verification import scan_finger
from ektp_core.domain.model import FINGER_POSITIONS, ServiceRequest, ServiceType
from ektp_core.errors import EktpError, InvalidValue
from ektp_core.lifecycle import card_register
from ektp_core.services.corrections import Corrections, changes_text
from ektp_core.services.replacement import ReplacementService


def _assignments(pairs: tuple[str, ...]) -> dict[str, str]:
    out = {}
    for pair in pairs:
        field, sep, value = pair.partition("=")
        if not sep or not field.strip():
            fail(f"--set {pair!r}: expected FIELD=VALUE (for example --set nama='SITI AMINAH')")
        out[field.strip()] = value
    return out


@click.group("enrolment")
def enrolment_group() -> None:
    """Correct or cancel a recording, and destroy cancelled recordings' biometrics."""


@enrolment_group.command("correct")
@click.argument("enrolment_id")
@click.option("--set", "assignments", multiple=True, required=True, help="FIELD=VALUE, once per field to change.")
@click.option("--reason", default=None, help="Why (required once the enrolment was sent).")
@actor_option
@deployment_option
def enrolment_correct(
    enrolment_id: str, assignments: tuple[str, ...], reason: str | None, actor: str, deployment_dir: Path | None
) -> None:
    """Correct an enrolment's biodata: before it is sent, at its site; after, a supervisor at the Dukcapil
    node, with a reason (the central system takes the correction first)."""
    changes = _assignments(assignments)
    with verification_service(deployment_dir) as (_, _, verification):
        try:
            changed = Corrections(verification.lifecycle, verification=verification).correct(
                enrolment_id, changes, actor=actor, reason=reason
            )
        except (EktpError, ValueError) as exc:
            fail(str(exc))
    click.echo(f"{enrolment_id}: corrected {changes_text(changed)}")


@enrolment_group.command("cancel")
@click.argument("enrolment_id")
@click.option("--reason", required=True, help="Why the recording is cancelled (kept in the audit log).")
@actor_option
@deployment_option
def enrolment_cancel(enrolment_id: str, reason: str, actor: str, deployment_dir: Path | None) -> None:
    """Cancel (batalkan) a recording never sent, or refused by the central system; a supervisor's act.
    It frees the NIK; its biometrics are destroyed after the profile's retention period."""
    with services(deployment_dir) as (_, _, lifecycle):
        try:
            Corrections(lifecycle).cancel(enrolment_id, supervisor=actor, reason=reason)
        except EktpError as exc:
            fail(str(exc))
    click.echo(f"{enrolment_id}: ENROLLMENT_CANCELLED")


@enrolment_group.command("purge")
@click.option(
    "--older-than-days",
    type=click.IntRange(0, 3650),
    default=None,
    help="Retention in days (default: the profile's [lifecycle] cancelled_biometrics_days).",
)
@actor_option
@deployment_option
def enrolment_purge(older_than_days: int | None, actor: str, deployment_dir: Path | None) -> None:
    """Destroy the biometrics of recordings cancelled longer ago than the retention period."""
    older = dt.timedelta(days=older_than_days) if older_than_days is not None else None
    with services(deployment_dir) as (_, _, lifecycle):
        try:
            purged = Corrections(lifecycle).purge(older_than=older, actor=actor)
        except EktpError as exc:
            fail(str(exc))
    for p in purged:
        click.echo(f"{p.enrolment_id}: destroyed {p.blobs} images and templates, {p.captures} captures")
    click.echo(f"{len(purged)} cancelled recording(s) purged")


def _live_finger(deployment: Any, host: Any, image_path: Path | None, finger: str, service: Any) -> bytes:
    if image_path is not None:
        image, template = image_path.read_bytes(), None
    else:
        image, template = scan_finger(deployment, host, None, finger)
    template = template or service.matcher.extract(image)
    if template is None:
        fail("no fingerprint found in the live image: place the finger again")
    return bytes(template)


@click.command("replace")
@click.argument("nik")
@click.option("--reason", "kind", type=click.Choice(["hilang", "rusak", "perubahan"]), required=True)
@click.option("--police-report", "police_number", default=None, help="hilang: the police report's number.")
@click.option("--police-date", type=click.DateTime(["%Y-%m-%d"]), default=None, help="hilang: its date, YYYY-MM-DD.")
@click.option("--surrendered", "surrendered", default=None, help="rusak/perubahan: the old card's blank serial.")
@click.option("--set", "assignments", multiple=True, help="perubahan: FIELD=VALUE for each changed field.")
@click.option("--proof", default=None, help="perubahan: the document that proves the change (e.g. the new KK).")
@click.option("--finger", type=click.Choice(FINGER_POSITIONS), default="right_index", show_default=True)
@click.option(
    "--image",
    "image_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="The applicant's finger image (PNG) instead of the site's scanner.",
)
@actor_option
@deployment_option
def replace_command(
    nik: str,
    kind: str,
    police_number: str | None,
    police_date: dt.datetime | None,
    surrendered: str | None,
    assignments: tuple[str, ...],
    proof: str | None,
    finger: str,
    image_path: Path | None,
    actor: str,
    deployment_dir: Path | None,
) -> None:
    """Start a replacement card for NIK: identify the applicant 1:1 against the earlier record, then
    record the replacement. Prints the new enrolment id alone on its last line."""
    changes = _assignments(assignments)
    with verification_service(deployment_dir) as (deployment, host, verification):
        try:
            replacements = ReplacementService(verification)
            # Checked before the scanner: a NIK without a card, or missing papers, fail at once.
            earlier = replacements.earlier_record(nik)
            service = ServiceRequest(
                type=ServiceType(kind),
                replaces=earlier.id,
                police_report_number=police_number,
                police_report_date=police_date.date() if police_date else None,
                surrendered_serial=surrendered,
                changed_fields=tuple(changes.keys()),
                proof_document=proof,
            )
            live = _live_finger(deployment, host, image_path, finger, verification)
            identity = replacements.identify(nik, finger, live, operator=actor)
            enrolment = replacements.start(
                identity, service, operator=actor, site_code=deployment.site_code, changes=changes
            )
        except InvalidValue as exc:
            fail(f"{exc.field}: {exc}")
        except (EktpError, ValueError) as exc:
            fail(str(exc))
    verdict = "matched" if identity.matched else "did NOT match: record the biometrics again at the desk"
    click.echo(f"{finger} {verdict} (score {identity.score:g}, threshold {identity.threshold:g})", err=True)
    click.echo(f"replaces {identity.earlier.id} ({kind}); recorded:", err=True)
    click.echo(enrolment.id)


@click.group("cards")
def cards_group() -> None:
    """The card register: every printed card and its state."""


@cards_group.command("show")
@click.argument("nik")
@click.option("--json", "as_json", is_flag=True, help="One JSON document.")
@deployment_option
def cards_show(nik: str, as_json: bool, deployment_dir: Path | None) -> None:
    """Every card of NIK in this node's register, oldest first, with its state."""
    with services(deployment_dir) as (_, _, lifecycle), lifecycle.store.read() as conn:
        found = card_register.of_nik(conn, nik)
    if as_json:
        echo_json(
            [
                {
                    "serial": c.serial,
                    "enrolment_id": c.enrolment_id,
                    "state": c.state.value,
                    "printed_site": c.printed_site,
                    "printed_at": c.printed_at.isoformat(),
                    "handed_over_site": c.handed_over_site,
                    "handed_over_at": c.handed_over_at.isoformat() if c.handed_over_at else None,
                }
                for c in found
            ]
        )
        return
    if not found:
        click.echo(f"NIK {nik}: no card in this node's register")
        return
    for c in found:
        handed = f", handed over {c.handed_over_at:%d-%m-%Y} at {c.handed_over_site}" if c.handed_over_at else ""
        click.echo(f"{c.serial}  {c.state.value:<9}  printed {c.printed_at:%d-%m-%Y} at {c.printed_site}{handed}")


#: What this module adds to the ``ektp`` command.
COMMANDS = (enrolment_group, replace_command, cards_group)
