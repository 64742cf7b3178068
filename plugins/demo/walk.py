"""A scripted walk of one resident through the whole lifecycle, on a real deployment.

This is what ``ektp walk`` runs: it shows every state, the routing decision, the blank ledger and
the audit chain. The card is printed on the profile's printer (the minimal profile has an
emulated Evolis printer, spoken to over USB through pyusb, and a proof printer writing PDF and
PNG). The resident's ten fingers are captured through the profile's fingerprint reader (the minimal
profile's is an emulated U.are.U 4000B), the enrolment is verified by the central system named in
the profile's ``[verification]`` (the walk starts ``ektp central-emulator`` as its own process when
that is a local address nobody answers on), and the card is handed over after a 1:1 finger check.
"""

from __future__ import annotations

import io
import secrets
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
import click
from ektp_plugins.demo.processes import local_central
from ektp_plugins.demo.residents import Resident, ResidentMaker, area_code_of
from ektp_plugins.simulators.images import sample_photo, sample_signature

from ektp_core.cli.options import fail
from ektp_core.config import DEPLOYMENT_FILE, Deployment, find_deployment
from ektp_core.devices.declared import choose_printer, make_printer, make_scanner, printer_settings, scanner_settings
from ektp_core.devices.printers import step_reporter
from ektp_core.domain.model import (
    FINGER_POSITIONS,
    Capture,
    Enrolment,
    EnrolmentState,
    Modality,
    Operator,
    PrintJobState,
    Role,
    Site,
)
from ektp_core.errors import EktpError
from ektp_core.keys import crypto
from ektp_core.lifecycle import audit
from ektp_core.lifecycle.routing import load_rules, site_snapshot
from ektp_core.lifecycle.service import LifecycleService
from ektp_core.services.accounts import AccountService
from ektp_core.services.capture import CaptureService, QualityTooLow
from ektp_core.services.printing import PrintService
from ektp_core.services.verification import VerificationService
from ektp_core.store.read_models import enrolment_search


def recording_site(deployment: Deployment, site_code: str | None) -> Site:
    """The site ``--site`` names (default the node's own), refused when the profile has no such site or
    the site does not record."""
    profile = deployment.profile
    code = site_code or deployment.site.code
    site = next((s for s in profile.sites if s.code == code), None)
    if site is None:
        near = [s.code for s in profile.sites if s.code.startswith(code.split(".")[0])][:12]
        raise EktpError(
            f"the profile {profile.name!r} has no site {code!r}"
            + (f" (sites: {', '.join(near)}{', ...' if len(near) == 12 else ''})" if near else "")
        )
    if not site.records:
        raise EktpError(f"site {site.code} ({site.name}) does not record residents in the profile {profile.name!r}")
    return site


def walk_resident(deployment: Deployment, site: Site, serial: int, store: Any) -> Resident:
    """A synthetic resident of the site's area (its kecamatan or kelurahan, else the regency) whose NIK
    this node has never recorded; the walk's ``serial`` picks them and their synthetic fingers."""

    def taken(nik: str) -> bool:
        with store.read() as conn:
            return enrolment_search.newest_of_nik(conn, nik) is not None

    maker = ResidentMaker(area_code_of(site, deployment.profile.region_code), seed=serial)
    resident = next(maker.residents(taken))
    # The walk's fingers are the emulated reader's drawings of identity `serial` (1, 2, ...), as before.
    return attrs.evolve(resident, identity=serial)


def walk(deployment: Deployment, *, site_code: str | None = None, echo: Callable[[str], object] = print) -> Enrolment:
    """Walk one new resident of ``site_code``'s area (default: the node's own site) from BIO_CAPTURED,
    recorded at that site, to CARD_ISSUED; return the final enrolment."""
    recording = recording_site(deployment, site_code)
    store = deployment.open_store()
    host = deployment.plugin_host()
    service = LifecycleService(store, host.hook, deployment)
    rules = load_rules(deployment.profile, host)
    site = deployment.site
    operator, supervisor = "operator.walk", "supervisor.walk"

    have = {account.username for account, _last_login in AccountService(service).accounts()}
    with store.read() as conn:
        serial = enrolment_search.count(conn) + 1
    for username, role in ((operator, Role.OPERATOR), (supervisor, Role.SUPERVISOR)):
        if username not in have:
            # Random passwords: the walk never logs in, and a known password would be a weak account.
            service.add_operator(
                Operator(
                    username=username,
                    full_name=username.replace(".", " ").title(),
                    role=role,
                    site_code=site.code,
                    password_hash=crypto.hash_password(secrets.token_urlsafe(18)),
                ),
                actor="ektp-walk",
            )

    echo(f"\n== Perekaman (recording) at {recording.name} ({recording.code})")
    enrolment_id = uuid.uuid4().hex
    resident = walk_resident(deployment, recording, serial, store).biodata
    # Issue 4 brings the scanners; until then the walk's photo and signature are synthetic samples.
    captures = [
        Capture(modality="face", position="face", device="walk-sample", quality=90, blob_ref=f"{enrolment_id}-face"),
        Capture(
            modality="signature",
            position="signature",
            device="walk-sample",
            quality=90,
            blob_ref=f"{enrolment_id}-signature",
        ),
    ]
    images = {
        f"{enrolment_id}-face": sample_photo(serial, birth_year=resident.tanggal_lahir.year),
        f"{enrolment_id}-signature": sample_signature(serial),
    }
    enrolment = service.record(
        Enrolment(id=enrolment_id, site_code=recording.code, operator=operator, biodata=resident), captures, images
    )
    bio = enrolment.biodata
    report = bio.nik.report
    echo(
        f"   {bio.nama}, NIK {bio.nik} ({report.district}, {report.regency}; {bio.jenis_kelamin_label}, "
        f"born {bio.tanggal_lahir:%d-%m-%Y})"
    )
    capture = CaptureService(service)
    scanner = _finger_scanner(deployment, host, recording.code)
    scanner.open()
    try:
        for position in FINGER_POSITIONS:
            for attempt in range(1, capture.policy[Modality.FINGER].retries + 1):
                # Each attempt is a new placing of the finger, as when an operator asks for it again.
                _present_finger(scanner, serial, position, impression=attempt - 1)
                [sample] = scanner.capture(Modality.FINGER, (position,))
                try:
                    capture.add(enrolment.id, sample, actor=operator, attempt=attempt)
                except QualityTooLow as exc:
                    if exc.attempts_left == 0:
                        raise
                    echo(f"   {position:<13} quality {sample.quality} too low, placed again")
                    continue
                echo(
                    f"   {position:<13} {sample.device}: quality {sample.quality}, "
                    f"{'template' if sample.template else 'NO template'}"
                )
                break
    finally:
        scanner.close()
    for eye, sample in _irises(serial).items():
        capture.add(enrolment.id, sample, actor=operator)
        echo(f"   {eye + ' iris':<13} {sample.device}: quality {sample.quality}")
    echo(f"   enrolment {enrolment.id}: {enrolment.state}, nothing missing: {not capture.missing(enrolment.id)}")

    echo("\n== Verification (central system: SIAK register and ABIS 1:N deduplication)")
    token_env = "EKTP_CENTRAL_TOKEN"
    with local_central(deployment, token_env=token_env, echo=lambda text: echo(f"   {text}")):
        verification = VerificationService.for_deployment(service, host)
        echo(f"   -> {verification.submit(enrolment.id, actor=operator)}")
        for _ in range(30):
            # The walk routes the card itself below, step by step; a node's sync routes it at once.
            synced = verification.sync(actor=operator, wait=5, route=False)
            if synced.unavailable:
                raise EktpError(f"the central system went away: {synced.unavailable}")
            if enrolment.id not in synced.still_waiting:
                break
        status = verification.status(enrolment.id)
        enrolment = service.get(enrolment.id)
        echo(f"   -> {enrolment.state}: {enrolment.reason}")
        if status is not None and status.verdict is not None:
            for c in status.verdict.candidates:
                echo(f"      candidate {c.enrolment_id} (NIK {c.nik}), score {c.score:g}")
        if enrolment.state is not EnrolmentState.PRINT_READY_RECORD:
            raise EktpError(f"the walk's resident was not found print-ready: {enrolment.state} {enrolment.reason}")

    echo("\n== Pencetakan (printing)")
    # The walk's blanks arrive at the site that prints before the rules look (rules that fall back
    # when a site has no blanks would otherwise send the card elsewhere).
    planned = rules.route(enrolment, site_snapshot(deployment.profile, service))
    if service.ledger(planned.site_code).in_stock == 0:
        serials = [f"BLK-{serial:06d}-{i:02d}" for i in range(10)]
        service.receive_blanks(planned.site_code, serials, actor=supervisor, note="walk delivery")
        echo(f"   received 10 blanks ({serials[0]} .. {serials[-1]})")
    routing = rules.route(enrolment, site_snapshot(deployment.profile, service))
    echo(f"   routed to site {routing.site_code}: {routing.reason}")
    job = service.queue_print(
        enrolment.id,
        site_code=routing.site_code,
        actor=operator,
        routing_reason=routing.reason,
        print_day=routing.print_day,
    )
    setting, printer = choose_printer(deployment, host, site_code=routing.site_code)
    printing = PrintService(service, host, deployment)
    printer.open()
    try:
        result = printing.print_job(
            job.id,
            printer,
            printer_name=setting.name,
            actor=operator,
            progress=step_reporter(lambda text: echo(f"   {text}")),
        )
        check = printing.reconcile(setting.name)
    finally:
        printer.close()
    job = result.job
    if result.error is not None or job.state is not PrintJobState.PRINTED:
        raise EktpError(f"the walk's card did not print: {job.state} {job.reason}")
    echo(
        f"   job {job.id} {job.state} on {setting.name} ({setting.driver}), blank {job.blank_serial}; "
        f"enrolment {service.get(enrolment.id).state}"
    )
    echo(
        f"   printer counter: {check.printer_cards} cards since ektp met it, ledger {check.ledger_cards}: "
        f"{'match' if check.matches else 'MISMATCH'}"
    )
    for other in printer_settings(deployment.profile):
        if other.driver == "proof" and other.site == routing.site_code:
            proof = make_printer(other, host, deployment.root)
            proof.open()
            try:
                proof.print_card(printing.render(printing.card_data(job, proof.canvas), job))
            finally:
                proof.close()
            echo(f"   proof copy (PDF and PNG) written by {other.name} to {other.options.get('folder')}")

    echo("\n== Penyerahan (handover: the holder's finger is checked 1:1 before the card is given)")
    scanner = _finger_scanner(deployment, host, recording.code)
    scanner.open()
    try:
        _present_finger(scanner, serial, "right_index", impression=2)
        [live] = scanner.capture(Modality.FINGER, ("right_index",))
    finally:
        scanner.close()
    if live.template is None:
        raise EktpError("the handover finger gave no template")
    score = verification.handover(enrolment.id, "right_index", live.template, operator=operator)
    enrolment = service.get(enrolment.id)
    echo(f"   right index matched (score {score:g}) -> {enrolment.state}")
    with local_central(deployment, token_env=token_env, echo=lambda text: None):
        reported = verification.report_cards()
    echo(f"   printed card reported to the central system: {', '.join(reported) or 'none'}")

    echo("\n== Status timeline")
    for entry in service.history(enrolment.id):
        if "to" not in entry.detail:
            continue  # captures, refused handovers...: shown by `ektp audit log`, not in the state timeline
        echo(f"   {entry.at}  {entry.detail.get('from') or '(new)':>26} -> {entry.detail['to']:<26} by {entry.actor}")

    ledger = service.ledger(routing.site_code)
    echo(
        f"\n== Blank ledger at {routing.site_code}: received {ledger.received} = in stock {ledger.in_stock} "
        f"+ reserved {ledger.reserved} + printed {ledger.printed} + spoiled {ledger.spoiled}: "
        f"{'balanced' if ledger.balanced else 'NOT BALANCED'}"
    )
    with store.read() as conn:
        verified = audit.verify(conn)
    chain = "intact" if verified.ok else f"BROKEN at entry {verified.first_bad_seq}"
    echo(f"== Audit log: {verified.checked} entries, chain {chain}")
    store.dispose()
    return enrolment


def _finger_scanner(deployment: Deployment, host: Any, site_code: str) -> Any:
    # The recording site's own reader first; a site without one in the profile borrows this node's
    # (a walk of another site on one machine: the reader stands in for the one at that desk).
    settings = scanner_settings(deployment.profile)
    for wanted in (site_code, deployment.site.code):
        for setting in settings:
            if setting.site in (None, wanted):
                scanner = make_scanner(setting, host, deployment.root)
                if "finger" in getattr(scanner, "modalities", ("finger",)):
                    return scanner
    raise EktpError("the walk needs a fingerprint reader in the profile's [[devices.scanners]]")


def _present_finger(scanner: Any, seed: int, position: str, *, impression: int) -> None:
    # An emulated reader is given the resident's synthetic finger; at a real reader the resident
    # places it, as the operator asks.
    emulator = getattr(scanner, "emulator", None)
    if emulator is not None:
        emulator.place_finger(seed=seed, position=position, impression=impression)


def _irises(seed: int) -> dict[str, Any]:
    from ektp_core.devices.scanners import Sample

    try:
        from ektp_plugins.simulators.synthetic import iris
    except ImportError as exc:  # NumPy and SciPy come with the `simulated` extra
        raise EktpError(f"the walk's irises are synthetic and need the simulated extra: {exc}") from None
    samples = {}
    for eye in ("left", "right"):
        image = iris(seed, eye)
        buffer = io.BytesIO()
        image.save(buffer, "PNG")
        samples[eye] = Sample(
            modality=Modality.IRIS, position=eye, image=buffer.getvalue(), quality=80, device="walk-synthetic-iris"
        )
    return samples


@click.command("walk")
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("ektp-walk"),
    show_default=True,
    help="Deployment folder to create (or reuse).",
)
@click.option("--fresh", is_flag=True, help="Delete the folder first.")
@click.option(
    "--site",
    "site_code",
    default=None,
    help="Record at this site of the profile (a resident of its area); default the node's own site.",
)
def walk_command(directory: Path, fresh: bool, site_code: str | None) -> None:
    """Create a deployment (if needed) and walk one resident from recording to CARD_ISSUED."""
    if fresh and directory.exists():
        shutil.rmtree(directory)
    if not (directory / DEPLOYMENT_FILE).exists():
        # `ektp init` itself, so the walk shows what it shows (the command, not a copy of its code).
        ctx = click.get_current_context()
        ektp = ctx.find_root().command
        init = ektp.get_command(ctx, "init") if isinstance(ektp, click.Group) else None
        if init is None:
            raise click.ClickException("the walk runs inside `ektp`, whose `init` command it uses")
        ctx.invoke(
            init,
            directory=directory,
            profile_name="minimal",
            site_code=None,
            database_url="sqlite:///ektp.sqlite3",
        )
    deployment = find_deployment(directory)
    try:
        recording_site(deployment, site_code)  # refused before anything is made or started
    except EktpError as exc:
        fail(str(exc))
    walk(deployment, site_code=site_code, echo=click.echo)
