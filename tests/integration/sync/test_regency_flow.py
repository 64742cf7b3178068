"""A regency end to end, every node its own process: an enrolment recorded at a kecamatan site reaches the
Dukcapil node, is verified by the central-system emulator, its print job lands where the profile's
rules say, and the way back (states, the signed print job, the site's accounts) reaches the site."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from ektp_plugins.verify.http import HttpVerifier
from PIL import Image
from test_nodes import Regency, ektp, join_all

from ektp_core.devices.declared import choose_printer
from ektp_core.devices.scanners import Sample
from ektp_core.domain.model import FINGER_POSITIONS, EnrolmentState, Modality, Operator, PrintJobState, Role
from ektp_core.errors import EktpError
from ektp_core.keys import crypto
from ektp_core.services.accounts import AccountService, LoginRefused, SessionEnded
from ektp_core.services.capture import CaptureService
from ektp_core.services.printing import NothingConsumed, PrintService
from ektp_core.services.verification import VerificationService
from ektp_core.store.tables import operators, signed_jobs
from ektp_core.sync.feed import FeedRefused, check_signed_job
from ektp_core.sync.outbox import Outbox
from ektp_core.testing import make_enrolment
from ektp_core.testing.databases import temporary_database

TOKEN = "regency-flow-token-0123456789"
E = EnrolmentState


def _png(size: tuple[int, int] = (64, 64)) -> bytes:
    buffer = io.BytesIO()
    Image.new("L", size, 128).save(buffer, "PNG")
    return buffer.getvalue()


@pytest.fixture
def central(tmp_path: Path) -> Iterator[str]:
    with __import__("socket").socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = open(tmp_path / "central.log", "ab")  # noqa: SIM115 - kept open for the child's lifetime
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "ektp_core",
            "central-emulator",
            "--port",
            str(port),
            "--data",
            str(tmp_path / "central"),
            "--token",
            TOKEN,
        ],
        stdout=log,
        stderr=log,
    )
    url = f"http://127.0.0.1:{port}/api/v1"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=1) as response:
                if response.status == 200:
                    break
        except OSError:
            time.sleep(0.1)
    yield url
    process.terminate()
    process.wait(timeout=20)


#: (profile, the Dukcapil office, the recording site, where its cards print when it has blanks)
REGENCIES = [
    ("kota-bengkulu", "17.71", "17.71.05", "17.71"),
    ("kota-bengkulu-kecamatan", "17.71", "17.71.05", "17.71.05"),
    ("dki-jakarta-pusat", "31.71", "31.71.06.1001", "31.71.06.1001"),
]


@pytest.fixture(params=REGENCIES, ids=[r[0] for r in REGENCIES])
def regency(request: pytest.FixtureRequest, tmp_path: Path, ektp_database_url: str) -> Iterator[Regency]:
    from contextlib import ExitStack

    profile, office, site, _prints_at = request.param
    with ExitStack() as stack:
        folder = tmp_path / "db-site"
        folder.mkdir()
        urls = [ektp_database_url, stack.enter_context(temporary_database(folder))]
        world = Regency(tmp_path, urls, profile=profile, office=office, sites=(site,))
        world.site, world.prints_at = site, _prints_at  # type: ignore[attr-defined]
        world.start()
        yield world
        world.stop()


def record_at_site(world: Regency, seed: int) -> str:
    from ektp_plugins.simulators.synthetic import finger_minutiae

    lc = world.lifecycle(world.sites[world.site])  # type: ignore[attr-defined]
    try:
        enrolment = lc.record(make_enrolment(site_code=world.site))  # type: ignore[attr-defined]
        capture = CaptureService(lc)
        for position in FINGER_POSITIONS:
            template = finger_minutiae(seed, position).iso_bytes()
            capture.add(
                enrolment.id,
                Sample(
                    modality=Modality.FINGER,
                    position=position,
                    image=_png(),
                    quality=70,
                    device="test",
                    template=template,
                ),
                actor="op1",
            )
        for modality, positions in (
            (Modality.IRIS, ("left", "right")),
            (Modality.FACE, ("face",)),
            (Modality.SIGNATURE, ("signature",)),
        ):
            for position in positions:
                capture.add(
                    enrolment.id,
                    Sample(modality=modality, position=position, image=_png(), quality=90, device="test"),
                    actor="op1",
                )
        Outbox.for_deployment(lc).enqueue(enrolment.id, actor="op1")
    finally:
        lc.store.dispose()
    return enrolment.id


def test_a_site_enrolment_is_verified_routed_and_comes_back(
    regency: Regency, central: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    join_all(regency)
    here = regency.site  # type: ignore[attr-defined]
    dukcapil = regency.lifecycle(regency.dukcapil)
    try:
        # An account made at the Dukcapil node for an operator of the site.
        dukcapil.add_operator(
            Operator(
                username="op.kampung",
                full_name="Operator Kampung Melayu",
                role=Role.OPERATOR,
                site_code=here,
                password_hash=crypto.hash_password("rahasia-kampung-1", n=2**4),
            ),
            actor="admin",
        )
        # The kecamatan has blanks (allocated by the Dukcapil office), so a kecamatan rollout prints there.
        dukcapil.receive_blanks(here, ["BLK-KM-0001", "BLK-KM-0002"], actor="admin")
        enrolment = record_at_site(regency, seed=4242)
        ektp("sync", "send", "-d", str(regency.sites[here].root))

        monkeypatch.setenv("EKTP_CENTRAL_TOKEN", TOKEN)
        host = regency.dukcapil.plugin_host()
        # Routing after verdicts uses the profile's rules, from the plugin host.
        service = VerificationService(dukcapil, HttpVerifier({"url": central, "retries": 1}), host=host)
        for _ in range(20):
            report = service.sync(actor="dukcapil", wait=5)
            assert not report.failed and report.unavailable is None, report
            if enrolment in report.routed:
                break
        [job] = [j for j in dukcapil.jobs() if j.enrolment_id == enrolment]
    finally:
        dukcapil.store.dispose()
    expected_site = regency.prints_at  # type: ignore[attr-defined]
    assert job.site_code == expected_site and job.routing_reason

    pulled = json.loads(ektp("sync", "pull", "--json", "-d", str(regency.sites[here].root)).stdout)
    assert pulled["states"][enrolment] == "SENT_FOR_CARD_PRINTING"
    assert "op.kampung" in pulled["accounts"]
    site = regency.lifecycle(regency.sites[here])
    try:
        assert site.get(enrolment).state is E.SENT_FOR_CARD_PRINTING
        with site.store.read() as conn:
            verifier = conn.execute(
                sa.select(operators.c.password_hash).where(operators.c.username == "op.kampung")
            ).scalar_one()
        # The site checks the log-in offline, with the verifier; it never had the password.
        assert crypto.verify_password("rahasia-kampung-1", verifier)
        assert not crypto.verify_password("wrong", verifier)
        # The operator logs in at the site; a new password set at the Dukcapil node ends that session at
        # the site's next pull, and the old password no longer works there.
        accounts_here = AccountService(site)
        _session, token = accounts_here.login("op.kampung", "rahasia-kampung-1")
        office_accounts = regency.lifecycle(regency.dukcapil)
        try:
            AccountService(office_accounts).change("op.kampung", actor="admin", password="sandi-baru-kampung-2")
        finally:
            office_accounts.store.dispose()
        ektp("sync", "pull", "-d", str(regency.sites[here].root))
        with pytest.raises(SessionEnded):
            accounts_here.session(token)
        with pytest.raises(LoginRefused):
            accounts_here.login("op.kampung", "rahasia-kampung-1")
        accounts_here.login("op.kampung", "sandi-baru-kampung-2")
        if expected_site == here:
            assert pulled["jobs"] == [job.id]
            order = check_signed_job(site, job.id)
            assert order["job_id"] == job.id and order["state"] == "QUEUED"
            # The kecamatan prints it on its own printer, from its own blanks.
            site.receive_blanks(here, ["BLK-SITE-0001"], actor="op.kampung")
            host = regency.sites[here].plugin_host()
            setting, printer = choose_printer(regency.sites[here], host, site_code=here)
            printer.open()
            try:
                printed = PrintService(site, host, regency.sites[here]).print_job(
                    job.id, printer, printer_name=setting.name, actor="op.kampung"
                )
            finally:
                printer.close()
            assert printed.job.state is PrintJobState.PRINTED and site.get(enrolment).state is E.CARD_PRINTED
            # The next send reports the printed card: the Dukcapil node's record and ledger follow.
            reported = json.loads(ektp("sync", "send", "--json", "-d", str(regency.sites[here].root)).stdout)
            assert len(reported["sent"]) == 1
            office = regency.lifecycle(regency.dukcapil)
            try:
                assert office.jobs_by_id(job.id).state is PrintJobState.PRINTED
                assert office.jobs_by_id(job.id).blank_serial == "BLK-SITE-0001"
                assert office.get(enrolment).state is E.CARD_PRINTED
                ledger = office.ledger(here)
                assert ledger.balanced and ledger.printed == 1
            finally:
                office.store.dispose()
            again = json.loads(ektp("sync", "send", "--json", "-d", str(regency.sites[here].root)).stdout)
            assert again["sent"] == []  # reported once
            # A supervisor at the site finds the card misprinted and spoils it: reported as a second outcome.
            site.add_operator(
                Operator(
                    username="spv.kampung",
                    full_name="Supervisor",
                    role=Role.SUPERVISOR,
                    site_code=here,
                    password_hash=crypto.hash_password("x", n=2**4),
                ),
                actor="admin",
            )
            with pytest.raises(EktpError, match="supervisor"):
                site.spoil_printed(job.id, supervisor="op.kampung", reason="colours smeared")
            site.spoil_printed(job.id, supervisor="spv.kampung", reason="colours smeared")
            assert site.get(enrolment).state is E.SENT_FOR_CARD_PRINTING
            spoiled = json.loads(ektp("sync", "send", "--json", "-d", str(regency.sites[here].root)).stdout)
            assert len(spoiled["sent"]) == 1
            office = regency.lifecycle(regency.dukcapil)
            try:
                assert office.jobs_by_id(job.id).state is PrintJobState.SPOILED
                assert office.get(enrolment).state is E.SENT_FOR_CARD_PRINTING
                ledger = office.ledger(here)
                assert ledger.balanced and (ledger.printed, ledger.spoiled) == (0, 1)
                # The Dukcapil node orders the card again; the new job is the site's to print.
                assert office.requeue(job.id, actor="admin").site_code == here
            finally:
                office.store.dispose()
            with site.store.write() as conn:  # a job altered at the site is not printed
                item = json.loads(conn.execute(sa.select(signed_jobs.c.item)).scalar_one())
                item["routing_reason"] = "printed wherever"
                conn.execute(signed_jobs.update().values(item=json.dumps(item)))
            with pytest.raises(FeedRefused):
                check_signed_job(site, job.id)
        else:
            assert pulled["jobs"] == []  # printed at the office: nothing for the site to print
    finally:
        site.store.dispose()
    # Asking again from the cursor brings only what changed since (the reported card's job), never twice.
    ektp("sync", "pull", "-d", str(regency.sites[here].root))
    again = json.loads(ektp("sync", "pull", "--json", "-d", str(regency.sites[here].root)).stdout)
    assert again["applied"] == 0


def test_a_site_does_not_print_a_job_the_dukcapil_node_did_not_sign(regency: Regency) -> None:
    join_all(regency)
    here = regency.site  # type: ignore[attr-defined]
    site = regency.lifecycle(regency.sites[here])
    try:
        enrolment = site.record(make_enrolment(site_code=here))
        for state in (E.SENT_FOR_ENROLLMENT, E.RECEIVED_AT_CENTRAL, E.PRINT_READY_RECORD):
            site.transition(enrolment.id, state, actor="someone")
        job = site.queue_print(enrolment.id, site_code=here, actor="someone", routing_reason="made up at the site")
        site.receive_blanks(here, ["BLK-FORGED-01"], actor="someone")
        with pytest.raises(NothingConsumed, match="signed by the Dukcapil node"):
            PrintService(site, regency.sites[here].plugin_host(), regency.sites[here]).prepare(
                job.id, (1016, 648), actor="someone"
            )
        assert site.ledger(here).in_stock == 1  # nothing consumed
    finally:
        site.store.dispose()


@pytest.mark.parametrize("regency", [REGENCIES[1]], indirect=True, ids=[REGENCIES[1][0]])
def test_a_site_cut_off_for_a_long_time_catches_up(
    regency: Regency, central: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    join_all(regency)
    here = regency.site  # type: ignore[attr-defined]
    regency.stop()  # the Dukcapil node is out of reach: the site keeps recording
    backlog = [record_at_site(regency, seed=7000 + n) for n in range(20)]
    cut = ektp("sync", "send", "-d", str(regency.sites[here].root), check=False)
    assert cut.returncode == 3
    regency.start()
    sent = json.loads(ektp("sync", "send", "--json", "-d", str(regency.sites[here].root)).stdout)
    assert len(sent["sent"]) == 20 and sent["waiting"] == 0

    monkeypatch.setenv("EKTP_CENTRAL_TOKEN", TOKEN)
    dukcapil = regency.lifecycle(regency.dukcapil)
    try:
        dukcapil.receive_blanks(here, [f"BLK-LONG-{n:04d}" for n in range(25)], actor="admin")
        service = VerificationService(
            dukcapil, HttpVerifier({"url": central, "retries": 1}), host=regency.dukcapil.plugin_host()
        )
        routed: dict[str, str] = {}
        for _ in range(40):
            report = service.sync(actor="dukcapil", wait=2)
            assert not report.failed and report.unavailable is None, report
            routed.update(report.routed)
            if len(routed) == 20:
                break
        assert set(routed) == set(backlog) and all(where.startswith(here) for where in routed.values())
    finally:
        dukcapil.store.dispose()
    pulled = json.loads(ektp("sync", "pull", "--json", "-d", str(regency.sites[here].root)).stdout)
    assert {e for e, state in pulled["states"].items() if state == "SENT_FOR_CARD_PRINTING"} == set(backlog)
    assert len(pulled["jobs"]) == 20
