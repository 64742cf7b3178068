"""Recording with an SBI device service (the SBI emulator in this process): the photo, a slap of fingers with
an exception, both irises, the live preview as multipart JPEG frames, a capture that times out, and a
service that is not there."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from ektp_plugins.scanners.sbi.emulator import EmulatorThread, SbiEmulator
from ektp_plugins.web.ui.record_devices import resident_seed
from recordkit import devices_of, start_recording
from webkit import PASSWORD

from ektp_core.services.capture import CaptureService
from ektp_core.services.node_init import create_deployment, profile_text


@pytest.fixture
def sbi() -> Iterator[EmulatorThread]:
    with EmulatorThread(SbiEmulator(identity_seed=1)) as running:
        yield running


@pytest.fixture
def sbi_port(sbi: EmulatorThread) -> int:
    return sbi.port


@pytest.fixture
def ektp_deployment(sbi_port: int, tmp_path: Path, ektp_database_url: str):
    """The minimal profile with an SBI service (finger slaps, irises, face) next to its U.are.U reader."""
    text = profile_text("minimal")[0] + (
        '\n[[devices.scanners]]\nname = "sbi-1"\ndriver = "sbi"\nsite = "17.71"\n'
        f"options = {{ port = {sbi_port}, trust_any_device = true, timeout_ms = 30000 }}\n"
    )
    profile = tmp_path / "profile-sbi.toml"
    profile.write_text(text, "utf-8")
    return create_deployment(tmp_path / "deployment", profile=str(profile), database_url=ektp_database_url)


def _control(sbi: EmulatorThread, **settings: object) -> dict[str, object]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{sbi.port}/control",
        data=json.dumps(settings).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        answer: dict[str, object] = json.loads(response.read())
    return answer


def _captures(lc, enrolment_id):
    return {(c.modality.value, c.position): c for c in CaptureService(lc).captures(enrolment_id)}


def test_photo_slaps_and_irises_from_the_sbi_service(browser, ektp_service, sbi) -> None:
    b = browser("op1")
    enrolment_id = start_recording(b)
    face_page = b.get(f"/record/{enrolment_id}/step/face").get_data(as_text=True)
    assert "sbi-1" in face_page and 'name="file"' not in face_page and "data-preview=" in face_page
    b.post(f"/record/{enrolment_id}/capture", {"modality": "face", "position": "face", "device": "sbi-1"})
    face = _captures(ektp_service, enrolment_id)[("face", "face")]
    assert face.device.startswith("sbi:") and face.quality >= 80
    # The emulator was told who stands in front of it.
    assert _control(sbi)["identity_seed"] == resident_seed(enrolment_id)
    # Fingers by slap; the left little finger is missing (an exception approved first) and is skipped.
    b.post(
        f"/record/{enrolment_id}/exception",
        {
            "modality": "finger",
            "position": "left_little",
            "reason": "missing",
            "supervisor": "spv1",
            "supervisor_password": PASSWORD,
        },
    )
    finger_page = b.get(f"/record/{enrolment_id}/step/finger").get_data(as_text=True)
    assert "Ambil empat jari kiri" in finger_page
    slap = b.post(
        f"/record/{enrolment_id}/capture",
        {
            "modality": "finger",
            "device": "sbi-1",
            "position": ["left_index", "left_middle", "left_ring", "left_little"],
        },
        follow_redirects=True,
    ).get_data(as_text=True)
    stored = _captures(ektp_service, enrolment_id)
    assert {p for (m, p), c in stored.items() if m == "finger" and c.exception is None} == {
        "left_index",
        "left_middle",
        "left_ring",
    }, slap[slap.index("<main") :][:1200]
    assert stored[("finger", "left_little")].exception is not None
    b.post(f"/record/{enrolment_id}/capture", {"modality": "iris", "device": "sbi-1", "position": ["left", "right"]})
    stored = _captures(ektp_service, enrolment_id)
    assert ("iris", "left") in stored and ("iris", "right") in stored


def test_the_live_preview_is_a_stream_of_jpeg_frames(browser) -> None:
    b = browser("op1")
    enrolment_id = start_recording(b)
    response = b.client.get(f"/record/{enrolment_id}/preview/sbi-1/face", buffered=False)
    assert response.status_code == 200
    assert response.mimetype == "multipart/x-mixed-replace" and response.headers["Cache-Control"] == "no-store"
    first = b""
    parts = response.iter_encoded()
    while b"\xff\xd9" not in first:
        first += next(parts)
    response.close()
    assert first.startswith(b"--frame\r\nContent-Type: image/jpeg") and b"\xff\xd8" in first
    # The U.are.U sends no preview.
    assert b.get(f"/record/{enrolment_id}/preview/fingerprint-1/finger").status_code == 404


def test_a_capture_that_times_out_is_said_so(browser, ektp_service, sbi, web_app) -> None:
    b = browser("op1")
    enrolment_id = start_recording(b)
    b.get(f"/record/{enrolment_id}/step/face")
    devices_of(web_app).get("sbi-1").driver.timeout_ms = 1000  # not 30 s: the test waits for it
    _control(sbi, fail="timeout")
    page = b.post(
        f"/record/{enrolment_id}/capture",
        {"modality": "face", "position": "face", "device": "sbi-1"},
        follow_redirects=True,
    ).get_data(as_text=True)
    assert "Perangkat tidak menjawab tepat waktu" in page
    assert _captures(ektp_service, enrolment_id) == {}


def test_an_sbi_service_that_is_not_there(browser, ektp_service, sbi) -> None:
    b = browser("op1")
    enrolment_id = start_recording(b)
    sbi.__exit__()  # the service stops before the first capture
    page = b.post(
        f"/record/{enrolment_id}/capture",
        {"modality": "face", "position": "face", "device": "sbi-1"},
        follow_redirects=True,
    ).get_data(as_text=True)
    assert "Perangkat tidak terhubung" in page
    assert _captures(ektp_service, enrolment_id) == {}
