"""A resident's biometrics captured from the emulated devices into an enrolment: through the SBI
client from the emulator service, and through the USB fingerprint driver from its emulator. A
failed capture (broken chain, bad signature, unplug mid-image) stores nothing and keeps the
enrolment's earlier captures."""

from __future__ import annotations

import pytest
from ektp_plugins.scanners import nbis
from ektp_plugins.scanners.sbi import SbiScanner
from ektp_plugins.scanners.sbi import protocol as p
from ektp_plugins.scanners.sbi.emulator import EmulatorThread, SbiEmulator
from ektp_plugins.scanners.uareu import make_scanner

from ektp_core.devices.scanners import ScannerError, ScannerProtocolError, ScannerVanished, UntrustedCapture
from ektp_core.domain.model import FINGER_POSITIONS, Modality, Operator, Role
from ektp_core.keys import crypto
from ektp_core.services.capture import CaptureService
from ektp_core.testing import make_enrolment

SITE = "17.71"


@pytest.fixture
def recording(ektp_service):
    ektp_service.add_operator(
        Operator(
            username="sup1",
            full_name="Sup",
            role=Role.SUPERVISOR,
            site_code=SITE,
            password_hash=crypto.hash_password("x" * 12, n=2**4),
        ),
        actor="admin",
    )
    enrolment = ektp_service.record(make_enrolment())
    return CaptureService(ektp_service), enrolment.id


@pytest.fixture
def sbi():
    with EmulatorThread(SbiEmulator(identity_seed=11)) as running:
        key = p.public_key_text(running.emulator.key.public_key())
        scanner = SbiScanner("sbi-1", {"port": running.port, "trusted_keys": [key], "timeout_ms": 20000})
        scanner.open()
        yield running.emulator, scanner
        scanner.close()


def test_full_set_through_sbi_stored_encrypted(recording, sbi) -> None:
    service, eid = recording
    _emulator, scanner = sbi
    scanner.new_session()
    fingers = scanner.capture("finger", FINGER_POSITIONS, exceptions=("left_little",))
    for sample in [*fingers, *scanner.capture("iris", ("left", "right")), *scanner.capture("face", ("face",))]:
        service.add(eid, sample, actor="op1")
    service.add_exception(eid, "finger", "left_little", reason="scarred", supervisor="sup1", actor="op1")
    assert service.missing(eid) == [(Modality.SIGNATURE, "signature")]
    stored = service.image(eid, "finger", "right_index")
    assert stored == next(s.image for s in fingers if s.position == "right_index")
    assert all(s.template for s in fingers)
    template = nbis.Template.from_iso(service.image(eid, "finger", "right_index", template=True))
    assert len(template.minutiae) >= 20


def test_failed_sbi_captures_store_nothing_and_keep_earlier_ones(recording, sbi) -> None:
    service, eid = recording
    emulator, scanner = sbi
    scanner.new_session()
    (face,) = scanner.capture("face", ("face",))
    service.add(eid, face, actor="op1")
    for mode, error in (
        ("broken_chain", UntrustedCapture),
        ("bad_signature", UntrustedCapture),
        ("garbage", ScannerError),
        ("busy", ScannerError),
        ("wrong_size", ScannerProtocolError),
    ):
        emulator.fail = mode
        with pytest.raises(error):
            for sample in scanner.capture("iris", ("left", "right")):
                service.add(eid, sample, actor="op1")
    emulator.fail = None
    assert [(c.modality, c.position) for c in service.captures(eid)] == [(Modality.FACE, "face")]


def test_usb_reader_fingers_with_templates_that_match(recording) -> None:
    service, eid = recording
    reader = make_scanner("reader-1", {"emulator": True, "finger_timeout_ms": 2000})
    reader.open()
    try:
        reader.emulator.place_finger(seed=5, position="right_thumb", impression=1)
        (sample,) = reader.capture("finger", ("right_thumb",))
        assert sample.template is not None and 0 < sample.quality <= 100  # NBIS template and NFIQ2 score
        service.add(eid, sample, actor="op1")
        reader.emulator.unplug_after_image_bytes = 5000  # unplugged mid-image
        reader.emulator.place_finger(seed=5, position="right_index")
        with pytest.raises(ScannerVanished):
            reader.capture("finger", ("right_index",))
    finally:
        reader.close()
    assert [c.position for c in service.captures(eid)] == ["right_thumb"]
    stored = nbis.Template.from_iso(service.image(eid, "finger", "right_thumb", template=True))
    reference = nbis.extract(_synthetic_finger(5, "right_thumb"))
    assert nbis.match(stored, reference) > 40  # the same finger, another impression


def _synthetic_finger(seed: int, position: str):
    from ektp_plugins.simulators.synthetic import finger

    return finger(seed, position)
