"""`ektp enrolment correct|cancel|purge`, `ektp replace` and `ektp cards show`: the office's work beyond
a first card from the command line, with a clear refusal (exit 1, nothing stored) for bad input."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner, Result

from ektp_core.cli import cli
from ektp_core.config import Deployment
from ektp_core.domain.model import Capture, EnrolmentState, Operator, Role
from ektp_core.keys import crypto
from ektp_core.lifecycle.service import LifecycleService
from ektp_core.store.tables import enrolments
from ektp_core.testing import make_enrolment

Run = Callable[..., Result]
E = EnrolmentState
SITE = "17.71"


@pytest.fixture
def run(ektp_deployment: Deployment, monkeypatch: pytest.MonkeyPatch) -> Run:
    monkeypatch.setenv("EKTP_CENTRAL_TOKEN", "test-token")
    runner = CliRunner()

    def invoke(*args: str) -> Result:
        return runner.invoke(cli, [*args, "-d", str(ektp_deployment.root)])

    return invoke


@pytest.fixture
def lc(ektp_service: LifecycleService) -> LifecycleService:
    for username, role in (("op1", Role.OPERATOR), ("spv1", Role.SUPERVISOR)):
        ektp_service.add_operator(
            Operator(
                username=username,
                full_name=username,
                role=role,
                site_code=SITE,
                password_hash=crypto.hash_password("x", n=2**4),
            ),
            actor="test",
        )
    return ektp_service


def _finger_png(seed: int) -> bytes:
    from ektp_plugins.simulators.synthetic import finger

    out = io.BytesIO()
    finger(seed, "right_index").save(out, format="PNG")
    return out.getvalue()


def _issued_with_a_real_finger(lc: LifecycleService, image: bytes) -> str:
    from ektp_plugins.scanners.nbis import iso_template_of

    enrolment = make_enrolment()
    template = iso_template_of(image)
    assert template is not None
    capture = Capture(
        modality="finger",
        position="right_index",
        device="test",
        quality=80,
        blob_ref=f"{enrolment.id}-i",
        template_ref=f"{enrolment.id}-t",
    )
    lc.record(enrolment, [capture], {f"{enrolment.id}-i": image, f"{enrolment.id}-t": template})
    for state in (E.SENT_FOR_ENROLLMENT, E.RECEIVED_AT_CENTRAL, E.PRINT_READY_RECORD):
        lc.transition(enrolment.id, state, actor="central")
    lc.receive_blanks(SITE, ["BLK-000001"], actor="spv1")
    job = lc.queue_print(enrolment.id, site_code=SITE, actor="op1", routing_reason="test").id
    lc.reserve_blank(job, actor="op1")
    lc.mark_sent(job, actor="op1", printer="evolis-1")
    lc.mark_printed(job, actor="op1")
    lc.transition(enrolment.id, E.CARD_ISSUED, actor="op1")
    return enrolment.id


def _count(lc: LifecycleService) -> int:
    with lc.store.read() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(enrolments)).scalar_one())


def test_correct_cancel_and_purge(run: Run, lc: LifecycleService) -> None:
    enrolment = make_enrolment()
    face = Capture(modality="face", position="face", device="test", quality=90, blob_ref=f"{enrolment.id}-f")
    lc.record(enrolment, [face], {f"{enrolment.id}-f": b"\xff\xd8 face"})
    result = run("enrolment", "correct", enrolment.id, "--set", "alamat=JL. MAWAR NO. 2", "--as", "op1")
    assert result.exit_code == 0, result.output
    assert "alamat" in result.output and lc.get(enrolment.id).biodata.alamat == "JL. MAWAR NO. 2"
    bad = run("enrolment", "correct", enrolment.id, "--set", "rt", "--as", "op1")
    assert bad.exit_code == 1 and "FIELD=VALUE" in bad.output
    assert run("enrolment", "cancel", enrolment.id, "--reason", "x", "--as", "op1").exit_code == 1
    result = run("enrolment", "cancel", enrolment.id, "--reason", "recorded twice", "--as", "spv1")
    assert result.exit_code == 0 and "ENROLLMENT_CANCELLED" in result.output
    result = run("enrolment", "purge", "--older-than-days", "0")
    assert result.exit_code == 0 and "1 cancelled recording(s) purged" in result.output


def test_replace_a_lost_card_from_the_command_line(run: Run, lc: LifecycleService, tmp_path: Path) -> None:
    image = _finger_png(7)
    first = _issued_with_a_real_finger(lc, image)
    nik = lc.get(first).biodata.nik.value
    applicant = tmp_path / "finger.png"
    applicant.write_bytes(image)
    # Missing papers, or a NIK without a card: refused before anything is stored.
    missing = run("replace", nik, "--reason", "hilang", "--image", str(applicant), "--as", "op1")
    assert missing.exit_code == 1 and "police" in missing.output
    assert (
        run("replace", "1771054101900009", "--reason", "rusak", "--surrendered", "BLK-1", "--as", "op1").exit_code == 1
    )
    assert _count(lc) == 1
    result = run(
        "replace", nik, "--reason", "hilang", "--police-report", "LP/12/XII/2026", "--police-date", "2026-12-01",
        "--image", str(applicant), "--as", "op1",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    new_id = result.stdout.strip().splitlines()[-1]
    new = lc.get(new_id)
    assert new.service.type.value == "hilang" and new.service.replaces == first
    cards = run("cards", "show", nik, "--json")
    assert [c["state"] for c in json.loads(cards.stdout)] == ["LOST"]
