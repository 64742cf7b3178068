"""A scripted walk of one resident through the whole lifecycle, on a real deployment.

This is what ``ektp walk`` runs: it shows every state, the routing decision, the blank ledger and
the audit chain. The card is printed on the profile's printer (the minimal profile has an
emulated Evolis printer, spoken to over USB through pyusb, and a proof printer writing PDF and
PNG). There is no central system yet: the walk plays the central system's verdict itself, and says
so on screen.
"""

from __future__ import annotations

import datetime as dt
import secrets
import uuid
from collections.abc import Callable

import sqlalchemy as sa

from . import audit, security
from .config import Deployment
from .devices import choose_printer, make_printer, printer_settings
from .errors import EktpError
from .lifecycle import LifecycleService
from .model import Biodata, Capture, Enrolment, EnrolmentState, Operator, PrintJobState, Role
from .print_service import PrintService
from .printing import step_reporter
from .routing import load_rules
from .store.tables import enrolments, operators
from .testing.images import sample_photo, sample_signature


def _demo_resident(serial: int) -> Biodata:
    # A woman born 1 January 1990 in Kampung Melayu (17.71.05): day 01 + 40 = 41 in her NIK.
    return Biodata(
        nik=f"177105410190{serial:04d}", nama="SITI AMINAH", tempat_lahir="BENGKULU",
        tanggal_lahir=dt.date(1990, 1, 1), jenis_kelamin="P", golongan_darah="O", alamat="JL. PANTAI INDAH NO. 7",
        rt="003", rw="001", kelurahan="KANDANG", kecamatan="KAMPUNG MELAYU", kabupaten_kota="KOTA BENGKULU",
        provinsi="BENGKULU", agama="ISLAM", status_perkawinan="KAWIN", pekerjaan="WIRASWASTA",
    )


def walk(deployment: Deployment, *, echo: Callable[[str], object] = print) -> Enrolment:
    """Walk one new resident from BIO_CAPTURED to CARD_ISSUED; return the final enrolment."""
    store = deployment.open_store()
    host = deployment.plugin_host()
    service = LifecycleService(store, host.hook, deployment)
    rules = load_rules(deployment.profile, host)
    site = deployment.site
    operator, supervisor = "operator.walk", "supervisor.walk"

    with store.read() as conn:
        have = set(conn.execute(sa.select(operators.c.username)).scalars())
        serial = int(conn.execute(sa.select(sa.func.count()).select_from(enrolments)).scalar_one()) + 1
    for username, role in ((operator, Role.OPERATOR), (supervisor, Role.SUPERVISOR)):
        if username not in have:
            # Random passwords: the walk never logs in, and a known password would be a weak account.
            service.add_operator(Operator(username=username, full_name=username.replace(".", " ").title(), role=role,
                                          site_code=site.code,
                                          password_hash=security.hash_password(secrets.token_urlsafe(18))),
                                 actor="ektp-walk")

    echo(f"\n== Perekaman (recording) at {site.name}")
    enrolment_id = uuid.uuid4().hex
    resident = _demo_resident(serial)
    # Issue 4 brings the scanners; until then the walk's photo and signature are synthetic samples.
    captures = [Capture(modality="face", position="face", device="walk-sample", quality=90,
                        blob_ref=f"{enrolment_id}-face"),
                Capture(modality="signature", position="signature", device="walk-sample", quality=90,
                        blob_ref=f"{enrolment_id}-signature")]
    images = {f"{enrolment_id}-face": sample_photo(serial, birth_year=resident.tanggal_lahir.year),
              f"{enrolment_id}-signature": sample_signature(serial)}
    enrolment = service.record(Enrolment(id=enrolment_id, site_code=site.code, operator=operator, biodata=resident),
                               captures, images)
    bio = enrolment.biodata
    report = bio.nik.report
    echo(f"   {bio.nama}, NIK {bio.nik} ({report.district}, {report.regency}; {bio.jenis_kelamin_label}, "
         f"born {bio.tanggal_lahir:%d-%m-%Y})")
    echo(f"   enrolment {enrolment.id}: {enrolment.state}")

    echo("\n== Verification (no central system configured yet: the walk gives the verdict itself)")
    for state in (EnrolmentState.SENT_FOR_ENROLLMENT, EnrolmentState.RECEIVED_AT_CENTRAL,
                  EnrolmentState.PRINT_READY_RECORD):
        enrolment = service.transition(enrolment.id, state, actor=operator if state.name.startswith("SENT")
                                       else "central-walk", reason="walk" if state.name.startswith("PRINT") else None)
        echo(f"   -> {enrolment.state}")

    echo("\n== Pencetakan (printing)")
    routing = rules.route(enrolment)
    echo(f"   routed to site {routing.site_code}: {routing.reason}")
    if service.ledger(routing.site_code).in_stock == 0:
        serials = [f"BLK-{serial:06d}-{i:02d}" for i in range(10)]
        service.receive_blanks(routing.site_code, serials, actor=supervisor, note="walk delivery")
        echo(f"   received 10 blanks ({serials[0]} .. {serials[-1]})")
    job = service.queue_print(enrolment.id, site_code=routing.site_code, actor=operator,
                              routing_reason=routing.reason)
    setting, printer = choose_printer(deployment, host, site_code=routing.site_code)
    printing = PrintService(service, host, deployment)
    printer.open()
    try:
        result = printing.print_job(job.id, printer, printer_name=setting.name, actor=operator,
                                    progress=step_reporter(lambda text: echo(f"   {text}")))
        check = printing.reconcile(setting.name)
    finally:
        printer.close()
    job = result.job
    if result.error is not None or job.state is not PrintJobState.PRINTED:
        raise EktpError(f"the walk's card did not print: {job.state} {job.reason}")
    echo(f"   job {job.id} {job.state} on {setting.name} ({setting.driver}), blank {job.blank_serial}; "
         f"enrolment {service.get(enrolment.id).state}")
    echo(f"   printer counter: {check.printer_cards} cards since ektp met it, ledger {check.ledger_cards}: "
         f"{'match' if check.matches else 'MISMATCH'}")
    for other in printer_settings(deployment.profile):
        if other.driver == "proof" and other.site == routing.site_code:
            proof = make_printer(other, host, deployment.root)
            proof.open()
            try:
                proof.print_card(printing.render(printing.card_data(job, proof.canvas), job))
            finally:
                proof.close()
            echo(f"   proof copy (PDF and PNG) written by {other.name} to {other.options.get('folder')}")

    echo("\n== Penyerahan (handover)")
    enrolment = service.transition(enrolment.id, EnrolmentState.CARD_ISSUED, actor=operator,
                                   reason="handed to the resident")
    echo(f"   -> {enrolment.state}")

    echo("\n== Status timeline")
    for entry in service.history(enrolment.id):
        echo(f"   {entry.at}  {entry.detail.get('from') or '(new)':>26} -> {entry.detail['to']:<26} by {entry.actor}")

    ledger = service.ledger(routing.site_code)
    echo(f"\n== Blank ledger at {routing.site_code}: received {ledger.received} = in stock {ledger.in_stock} "
         f"+ reserved {ledger.reserved} + printed {ledger.printed} + spoiled {ledger.spoiled}: "
         f"{'balanced' if ledger.balanced else 'NOT BALANCED'}")
    with store.read() as conn:
        verified = audit.verify(conn)
    chain = "intact" if verified.ok else f"BROKEN at entry {verified.first_bad_seq}"
    echo(f"== Audit log: {verified.checked} entries, chain {chain}")
    store.dispose()
    return enrolment
