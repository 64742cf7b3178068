"""Recording biometrics: quality thresholds from the profile, retries, exceptions approved by a
supervisor, encryption at rest, and nothing stored from a refused capture."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from ektp_core.config import load_profile
from ektp_core.devices.scanners import Sample
from ektp_core.domain.model import EnrolmentState, Modality, Operator, Role
from ektp_core.errors import ConfigError, EktpError, IllegalTransition
from ektp_core.keys import crypto
from ektp_core.keys.crypto import TamperedData
from ektp_core.services.capture import CapturePolicy, CaptureService, QualityTooLow
from ektp_core.store.tables import blobs, captures
from ektp_core.testing import make_enrolment

SITE = "17.71"
IMAGE = b"\x89PNG fake finger image bytes " * 20


def sample(
    position: str = "right_index",
    quality: int = 80,
    modality: Modality = Modality.FINGER,
    template: bytes | None = b"FMR\x00 20\x00template",
) -> Sample:
    return Sample(
        modality=modality,
        position=position,
        image=IMAGE + position.encode(),
        quality=quality,
        device="test-scanner SN1",
        template=template,
    )


@pytest.fixture
def svc(ektp_service):
    for username, role in (("op1", Role.OPERATOR), ("sup1", Role.SUPERVISOR)):
        ektp_service.add_operator(
            Operator(
                username=username,
                full_name=username,
                role=role,
                site_code=SITE,
                password_hash=crypto.hash_password("x" * 12, n=2**4),
            ),
            actor="admin",
        )
    enrolment = ektp_service.record(make_enrolment())
    return CaptureService(ektp_service), enrolment.id


def count(lc, table) -> int:
    with lc.store.read() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()


def test_capture_is_kept_encrypted(svc) -> None:
    service, eid = svc
    service.add(eid, sample(), actor="op1")
    assert service.image(eid, "finger", "right_index") == IMAGE + b"right_index"
    assert service.image(eid, "finger", "right_index", template=True).startswith(b"FMR")
    with service.lifecycle.store.read() as conn:
        stored = [bytes(r.ciphertext) for r in conn.execute(sa.select(blobs.c.ciphertext))]
    assert stored and all(b"finger image" not in blob and b"FMR" not in blob for blob in stored)


def test_low_quality_is_refused_with_score_and_threshold(svc) -> None:
    service, eid = svc
    with pytest.raises(QualityTooLow, match="quality 30 is below the threshold 40; try again \\(2 attempt"):
        service.add(eid, sample(quality=30), actor="op1")
    with pytest.raises(QualityTooLow, match="no attempts left: record an exception"):
        service.add(eid, sample(quality=30), actor="op1", attempt=3)
    assert count(service.lifecycle, captures) == 0 and count(service.lifecycle, blobs) == 0


def test_retry_replaces_the_earlier_capture(svc) -> None:
    service, eid = svc
    service.add(eid, sample(quality=50), actor="op1")
    service.add(eid, sample(quality=90), actor="op1", attempt=2)
    (capture,) = service.captures(eid)
    assert capture.quality == 90
    assert count(service.lifecycle, blobs) == 2  # the new image and template only


def test_exception_needs_a_supervisor(svc) -> None:
    service, eid = svc
    with pytest.raises(EktpError, match="supervisor"):
        service.add_exception(eid, "finger", "left_little", reason="amputated", supervisor="op1", actor="op1")
    capture = service.add_exception(eid, "finger", "left_little", reason="amputated", supervisor="sup1", actor="op1")
    assert capture.exception.approved_by == "sup1" and capture.quality is None and capture.blob_ref is None
    assert (Modality.FINGER, "left_little") not in service.missing(eid)
    assert len(service.missing(eid)) == 13


def test_no_captures_after_the_record_was_sent(svc) -> None:
    service, eid = svc
    service.lifecycle.transition(eid, EnrolmentState.SENT_FOR_ENROLLMENT, actor="op1")
    with pytest.raises(IllegalTransition):
        service.add(eid, sample(), actor="op1")
    assert count(service.lifecycle, captures) == 0


def test_tampered_or_moved_blob_is_detected_not_decoded(svc, ektp_service) -> None:
    service, eid = svc
    service.add(eid, sample(), actor="op1")
    other = ektp_service.record(make_enrolment()).id
    with ektp_service.store.write() as conn:
        row = conn.execute(sa.select(blobs.c.ref, blobs.c.ciphertext).where(blobs.c.enrolment_id == eid)).first()
        flipped = bytearray(row.ciphertext)
        flipped[-1] ^= 1
        conn.execute(blobs.update().where(blobs.c.ref == row.ref).values(ciphertext=bytes(flipped)))
    with pytest.raises(TamperedData):
        service.image(eid, "finger", "right_index")
    from ektp_core.store import blobs as blob_store

    with ektp_service.store.read() as conn, pytest.raises(TamperedData):
        blob_store.get(conn, ektp_service.data_key, ref=row.ref, enrolment_id=other)
    assert crypto  # the module under test


def test_policy_from_the_profile(tmp_path) -> None:
    base = tmp_path / "p.toml"
    text = (
        '[profile]\nname = "t"\nregion = "17.71"\n[[sites]]\ncode = "17.71"\nname = "D"\nkind = "dukcapil"\n'
        "prints = true\n"
    )
    base.write_text(text + "[capture.finger]\nmin_quality = 60\nretries = 5\n")
    policy = CapturePolicy.from_profile(load_profile(base))
    assert policy[Modality.FINGER].min_quality == 60 and policy[Modality.FINGER].retries == 5
    assert policy[Modality.IRIS].min_quality == 50
    for bad, key in (
        ("[capture.finger]\nmin_quality = 101\n", "capture.finger.min_quality"),
        ("[capture.nose]\nmin_quality = 1\n", "capture.nose"),
        ("[capture.iris]\nretry = 2\n", "capture.iris.retry"),
    ):
        base.write_text(text + bad)
        with pytest.raises(ConfigError, match=key.replace(".", "\\.")):
            CapturePolicy.from_profile(load_profile(base))


def test_blob_reference_length_is_checked_on_every_database(ektp_service) -> None:
    from ektp_core.domain.model import Capture

    enrolment = make_enrolment()
    ref = "x" * 65
    capture = Capture(modality="face", position="face", device="cam", quality=90, blob_ref=ref)
    with pytest.raises(EktpError, match="1-64 characters"):
        ektp_service.record(enrolment, [capture], {ref: b"img"})
    assert count(ektp_service, captures) == 0
