"""The demo's first-run content: accounts, blanks and a few residents, made the way the real nodes make
them (accounts at the Dukcapil node, carried to the kecamatan by the feed; residents recorded at a
kecamatan with the SBI scanner and sent in packets; verdicts and print jobs by the Dukcapil node's
verification loop; one card printed where the profile prints it)."""

from __future__ import annotations

import datetime as dt
import json
import os
import secrets
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import attrs
from ektp_plugins.demo.layout import HOST, KECAMATAN, OFFICE, DemoFolder
from ektp_plugins.simulators.images import sample_signature

from ektp_core.config import Deployment
from ektp_core.devices.declared import choose_printer, make_printer, make_scanner, printer_settings, scanner_settings
from ektp_core.devices.scanners import ScannerError
from ektp_core.domain.model import (
    FINGER_POSITIONS,
    Biodata,
    Capture,
    Enrolment,
    EnrolmentState,
    Modality,
    Operator,
    PrintJobState,
    Role,
)
from ektp_core.errors import EktpError
from ektp_core.keys import crypto
from ektp_core.lifecycle.service import LifecycleService
from ektp_core.services.accounts import AccountService
from ektp_core.services.capture import CaptureService
from ektp_core.services.printing import PrintService
from ektp_core.store.read_models import enrolment_search
from ektp_core.sync.http import HttpTransport
from ektp_core.sync.inbox import Inbox
from ektp_core.sync.outbox import Outbox
from ektp_core.testing import valid_nik

ACTOR = "ektp-demo"
Echo = Callable[[str], object]


@contextmanager
def lifecycle(deployment: Deployment) -> Iterator[LifecycleService]:
    """A lifecycle service over a node's database, closed afterwards."""
    store = deployment.open_store()
    try:
        yield LifecycleService(store, deployment.plugin_host().hook, deployment)
    finally:
        store.dispose()


# ---------------------------------------------------------------------------------------------------
# Accounts
# ---------------------------------------------------------------------------------------------------


@attrs.frozen
class Account:
    """A demo account and its generated password."""

    username: str
    role: Role
    site_code: str
    full_name: str
    password: str


def demo_accounts() -> list[tuple[str, Role, str, str]]:
    """(username, role, site, full name) of every demo account."""
    wanted = [
        ("admin.dukcapil", Role.ADMIN, OFFICE, "Admin Disdukcapil"),
        ("supervisor.dukcapil", Role.SUPERVISOR, OFFICE, "Supervisor Disdukcapil"),
        ("operator.dukcapil", Role.OPERATOR, OFFICE, "Operator Disdukcapil"),
    ]
    for code, slug in KECAMATAN:
        title = slug.replace("-", " ").title()
        wanted += [
            (f"supervisor.{slug}", Role.SUPERVISOR, code, f"Supervisor {title}"),
            (f"operator.{slug}", Role.OPERATOR, code, f"Operator {title}"),
        ]
    return wanted


def create_accounts(dukcapil: Deployment, folder: DemoFolder) -> list[Account]:
    """Create the demo accounts at the Dukcapil node with fresh passwords and write them to
    ``credentials.txt`` (mode 0600) after each one; returns those made now. An account that exists and
    is in the file keeps its password; one that exists but is not in it (a seed stopped in between)
    gets a new password, so the file always tells every password."""
    known = {row[0]: row for row in read_credentials(folder.credentials)}
    listed = [Account(u, Role(r), s, u, p) for u, r, s, p in known.values()]
    made = []
    with lifecycle(dukcapil) as lc:
        have = {account.username for account, _last_login in AccountService(lc).accounts()}
        for username, role, site, name in demo_accounts():
            if username in have and username in known:
                continue
            password = secrets.token_urlsafe(9)
            if username in have:
                AccountService(lc).change(username, actor=ACTOR, password=password)
            else:
                lc.add_operator(
                    Operator(
                        username=username,
                        full_name=name,
                        role=role,
                        site_code=site,
                        password_hash=crypto.hash_password(password),
                    ),
                    actor=ACTOR,
                )
            account = Account(username, role, site, name, password)
            made.append(account)
            listed = [a for a in listed if a.username != username] + [account]
            write_credentials(folder.credentials, listed)
    return made


def write_credentials(path: Path, accounts: list[Account]) -> None:
    """The credentials file: one account a line, readable by the owner only."""
    lines = [
        "# ektp demo accounts (generated for this demo folder; keep it private)",
        "# username\trole\tsite\tpassword",
    ]
    lines += [f"{a.username}\t{a.role.value}\t{a.site_code}\t{a.password}" for a in accounts]
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write("\n".join(lines) + "\n")
    os.chmod(path, 0o600)


def read_credentials(path: Path) -> list[tuple[str, str, str, str]]:
    """(username, role, site, password) from the credentials file."""
    if not path.exists():
        return []
    rows = []
    for line in path.read_text("utf-8").splitlines():
        if line.startswith("#") or not line.strip():
            continue
        username, role, site, password = line.split("\t")
        rows.append((username, role, site, password))
    return rows


# ---------------------------------------------------------------------------------------------------
# Joining
# ---------------------------------------------------------------------------------------------------


def join_sites(dukcapil: Deployment, sites: list[Deployment], api_url: str, echo: Echo) -> None:
    """Join every kecamatan node to the Dukcapil node with a one-time code (a node that joined earlier
    only learns the Dukcapil node's address, which changes with --port)."""
    with lifecycle(dukcapil) as duk:
        inbox = Inbox.for_deployment(duk)
        for site in sites:
            with lifecycle(site) as lc:
                box = Outbox.for_deployment(lc)
                url = box.peer()["url"] if box.has_joined() else None
                if url == api_url:
                    continue
                if url is not None:
                    box.moved(api_url)
                    continue
                code = inbox.new_join_code(box.site_code, actor=ACTOR)
                keys = HttpTransport(api_url).join(
                    site=box.site_code, public_key=crypto.public_key_text(box.signing_key), code=code
                )
                box.joined(url=api_url, **keys)
                echo(f"  {box.site_code} joined the Dukcapil node with a one-time code")


# ---------------------------------------------------------------------------------------------------
# Blanks
# ---------------------------------------------------------------------------------------------------


def receive_blanks(dukcapil: Deployment, sites: list[Deployment], printing_sites: list[str], echo: Echo) -> None:
    """50 blanks for every printing site: in the Dukcapil node's ledger (the rules read it to route
    cards) and, for a kecamatan that prints, in that node's own ledger too (deliveries do not travel
    down the feed; the site reports each blank it prints on). A ledger that has blanks is left alone."""
    nodes = {d.site.code: d for d in sites}
    with lifecycle(dukcapil) as duk:
        for code in printing_sites:
            serials = [f"DEMO-{code.replace('.', '')}-{n:04d}" for n in range(1, 51)]
            received = False
            if duk.ledger(code).received == 0:
                received = bool(duk.receive_blanks(code, serials, actor=ACTOR, note="demo delivery"))
            if code in nodes:
                with lifecycle(nodes[code]) as lc:
                    if lc.ledger(code).received == 0:
                        received = bool(lc.receive_blanks(code, serials, actor=ACTOR, note="demo delivery"))
            if received:
                echo(f"  50 blanks received for {code} ({serials[0]} .. {serials[-1]})")


# ---------------------------------------------------------------------------------------------------
# Residents
# ---------------------------------------------------------------------------------------------------

#: (site, identity seed of the SBI emulator, name, sex, birth date, kelurahan, kecamatan)
RESIDENTS = (
    ("17.71.05", 101, "SITI AMINAH", "P", dt.date(1990, 1, 1), "KANDANG", "KAMPUNG MELAYU"),
    ("17.71.05", 102, "BUDI SANTOSO", "L", dt.date(1985, 6, 17), "TELUK SEPANG", "KAMPUNG MELAYU"),
    ("17.71.03", 103, "ANDI PRATAMA", "L", dt.date(1998, 11, 23), "PASAR JITRA", "TELUK SEGARA"),
)


def _biodata(seed: int, name: str, sex: str, born: dt.date, kelurahan: str, kecamatan: str, site: str) -> Biodata:
    return Biodata(
        nik=valid_nik(district=site, birth_date=born, sex=sex, serial=seed),
        nama=name,
        tempat_lahir="BENGKULU",
        tanggal_lahir=born,
        jenis_kelamin=sex,
        golongan_darah="O",
        alamat=f"JL. SUPRAPTO NO. {seed - 90}",
        rt="002",
        rw="001",
        kelurahan=kelurahan,
        kecamatan=kecamatan,
        kabupaten_kota="KOTA BENGKULU",
        provinsi="BENGKULU",
        agama="ISLAM",
        status_perkawinan="BELUM KAWIN",
        pekerjaan="KARYAWAN SWASTA",
    )


def _sbi_control(port: int, **values: Any) -> None:
    request = urllib.request.Request(
        f"http://{HOST}:{port}/control",
        data=json.dumps(values).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10):
        pass


def _sbi_scanner(deployment: Deployment) -> Any:
    host = deployment.plugin_host()
    for setting in scanner_settings(deployment.profile):
        if setting.driver == "sbi" and setting.site == deployment.site.code:
            return make_scanner(setting, host, deployment.root)
    raise EktpError(f"the demo profile has no SBI scanner at {deployment.site.code}")


def record_resident(site: Deployment, sbi_port: int, seed: int, biodata: Biodata, operator: str) -> tuple[str, bool]:
    """Record one resident at a kecamatan node (ten fingers, two irises and the face from the SBI
    emulator set to the identity ``seed``, a synthetic signature) and put the packet in the outbox;
    returns the enrolment id and whether it was recorded now (False: kept from a seed stopped midway)."""
    with lifecycle(site) as lc, lc.store.read() as conn:
        found = enrolment_search.newest_of_nik(conn, str(biodata.nik))
    earlier = found.id if found is not None else None
    if earlier is not None:  # a seed stopped midway: the resident is kept, its packet made if missing
        with lifecycle(site) as lc:
            if lc.get(earlier).state is EnrolmentState.BIO_CAPTURED:
                Outbox.for_deployment(lc).enqueue(earlier, actor=operator)
        return str(earlier), False
    _sbi_control(sbi_port, identity_seed=seed, impression=0, fail=None, hold=True)
    for attempt in range(1, 4):
        scanner = _sbi_scanner(site)
        scanner.open()
        try:
            scanner.new_session()
            samples = (
                scanner.capture(Modality.FINGER, FINGER_POSITIONS)
                + scanner.capture(Modality.IRIS, ("left", "right"))
                + scanner.capture(Modality.FACE, ("face",))
            )
            break
        except ScannerError:
            if attempt == 3:  # a busy machine can make a capture time out: captured again, as at a desk
                raise
        finally:
            scanner.close()
    with lifecycle(site) as lc:
        enrolment_id = uuid.uuid4().hex
        ref = f"{enrolment_id}-signature"
        lc.record(
            Enrolment(id=enrolment_id, site_code=site.site.code, operator=operator, biodata=biodata),
            [
                Capture(
                    modality="signature", position="signature", device="demo-signature-pad", quality=90, blob_ref=ref
                )
            ],
            {ref: sample_signature(seed)},
        )
        capture = CaptureService(lc)
        for sample in samples:
            capture.add(enrolment_id, sample, actor=operator)
        missing = capture.missing(enrolment_id)
        if missing:
            raise EktpError(f"the demo resident {biodata.nama} lacks {missing}")
        Outbox.for_deployment(lc).enqueue(enrolment_id, actor=operator)
    return enrolment_id, True


def record_residents(sites: list[Deployment], sbi_port: int, echo: Echo) -> dict[str, str]:
    """Record :data:`RESIDENTS` at their kecamatan nodes; returns enrolment id -> site."""
    by_code = {d.site.code: d for d in sites}
    slugs = dict(KECAMATAN)
    recorded = {}
    for code, seed, name, sex, born, kelurahan, kecamatan in RESIDENTS:
        biodata = _biodata(seed, name, sex, born, kelurahan, kecamatan, code)
        enrolment_id, new = record_resident(by_code[code], sbi_port, seed, biodata, f"operator.{slugs[code]}")
        recorded[enrolment_id] = code
        echo(
            f"  recorded {name} (NIK {biodata.nik}) at {code} with the SBI emulator (identity {seed}); packet "
            "in the outbox"
            if new
            else f"  {name} (NIK {biodata.nik}) was recorded at {code} by an earlier run"
        )
    _sbi_control(sbi_port, identity_seed=1, impression=0, hold=False)  # back to the emulator's own default
    return recorded


# ---------------------------------------------------------------------------------------------------
# Waiting for the nodes
# ---------------------------------------------------------------------------------------------------


def wait_for(what: str, check: Callable[[], bool], *, timeout: float, alive: Callable[[], None]) -> None:
    """Poll ``check`` until true; ``alive`` raises when a child died meanwhile."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        alive()
        if check():
            return
        time.sleep(0.5)
    raise EktpError(f"timed out after {timeout:g} s waiting for {what}; see the logs")


def accounts_at(site: Deployment) -> set[str]:
    """The usernames a node holds."""
    with lifecycle(site) as lc:
        return {account.username for account, _last_login in AccountService(lc).accounts()}


#: States of an enrolment the central system has not decided on yet.
UNDECIDED = {
    EnrolmentState.BIO_CAPTURED,
    EnrolmentState.SENT_FOR_ENROLLMENT,
    EnrolmentState.RECEIVED_AT_CENTRAL,
    EnrolmentState.SEARCH_FAILURE_AT_CENTRAL,
}


def verified(dukcapil: Deployment, enrolment_ids: list[str]) -> bool:
    """True when the Dukcapil node holds every enrolment with a verdict, each print-ready one routed."""
    with lifecycle(dukcapil) as lc:
        for enrolment_id in enrolment_ids:
            try:
                state = lc.get(enrolment_id).state
            except EktpError:
                return False  # not received yet
            if state in UNDECIDED or state is EnrolmentState.PRINT_READY_RECORD:
                return False  # a print-ready enrolment is routed (SENT_FOR_CARD_PRINTING) by the same round
    return True


def print_one(node: Deployment, site_code: str, operator: str, echo: Echo) -> str | None:
    """Print the oldest queued card at ``node`` on its Evolis printer and a proof copy; returns the
    enrolment id, or None when nothing is queued there yet."""
    with lifecycle(node) as lc:
        queued = lc.jobs(site_code=site_code, states=[PrintJobState.QUEUED.value])
        if not queued:
            return None
        job = sorted(queued, key=lambda j: j.created_at)[0]
        host = node.plugin_host()
        setting, printer = choose_printer(node, host, site_code=site_code)
        printing = PrintService(lc, host, node)
        printer.open()
        try:
            result = printing.print_job(job.id, printer, printer_name=setting.name, actor=operator)
        finally:
            printer.close()
        if result.error is not None or result.job.state is not PrintJobState.PRINTED:
            raise EktpError(f"the demo card did not print: {result.job.state} {result.job.reason}")
        for other in printer_settings(node.profile):
            if other.driver == "proof" and other.site == site_code:
                proof = make_printer(other, host, node.root)
                proof.open()
                try:
                    proof.print_card(printing.render(printing.card_data(result.job, proof.canvas), result.job))
                finally:
                    proof.close()
        echo(
            f"  printed the card of {lc.get(job.enrolment_id).biodata.nama} at {site_code} on {setting.name} "
            f"(blank {result.job.blank_serial}), with a proof copy"
        )
        return job.enrolment_id
