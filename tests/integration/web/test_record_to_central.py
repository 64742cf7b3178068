"""Recording, the whole flow in the browser's order on the minimal profile (the emulated U.are.U reader
for the fingers; the photo and irises uploaded, as the profile has no camera; the signature from the
pad) and its confirmation at the Dukcapil node, with the central-system emulator running as its own
process. (With the central system down: tests/plugins/web/test_record_flow.py.)"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from io import BytesIO
from pathlib import Path

import pytest
from centralkit import TOKEN, CentralProcess
from recordkit import iris_png, photo, pin_resident, signature_png, start_recording, transitions

from ektp_core.config import Deployment
from ektp_core.domain.model import FINGER_POSITIONS, EnrolmentState
from ektp_core.services.capture import CaptureService
from ektp_core.services.node_init import create_deployment, profile_text


@pytest.fixture
def ektp_deployment(tmp_path: Path, ektp_database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Deployment]:
    """The minimal profile, its verification pointed at this test's central emulator."""
    monkeypatch.setenv("EKTP_CENTRAL_TOKEN", TOKEN)
    central = CentralProcess(tmp_path / "central").start()
    try:
        text, _ = profile_text("minimal")
        text = text[: text.index("\n[verification]")]
        text += (
            f'\n[verification]\nverifier = "http"\nurl = "{central.url}"\nretries = 0\nbackoff_seconds = 0.05\n'
            "timeout_seconds = 5\n"
        )
        profile = tmp_path / "profile-under-test.toml"
        profile.write_text(text, "utf-8")
        yield create_deployment(tmp_path / "deployment", profile=str(profile), database_url=ektp_database_url)
    finally:
        central.stop()


def _upload(b, enrolment_id: str, modality: str, position: str, data: bytes) -> None:
    sent = b.client.post(
        f"/record/{enrolment_id}/upload",
        data={"csrf_token": b.csrf, "modality": modality, "position": position, "file": (BytesIO(data), "image.png")},
        content_type="multipart/form-data",
    )
    assert sent.status_code == 302


def test_a_resident_recorded_in_the_browser_reaches_the_central_system(
    browser, ektp_service, web_app, monkeypatch
) -> None:
    b = browser("op1")
    enrolment_id = start_recording(b)
    # Photo: no camera in the minimal profile, so a file.
    assert b.get(f"/record/{enrolment_id}").headers["Location"].endswith("/step/face")
    _upload(b, enrolment_id, "face", "face", photo())
    # Ten fingers from the emulated U.are.U, one at a time, each stored as it is taken.
    assert b.get(f"/record/{enrolment_id}").headers["Location"].endswith("/step/finger")
    b.get(f"/record/{enrolment_id}/step/finger")
    pin_resident(web_app, monkeypatch)  # one whose fingers reach the threshold within three impressions
    captures = CaptureService(ektp_service)
    for position in FINGER_POSITIONS:
        for _attempt in range(3):
            page = b.post(
                f"/record/{enrolment_id}/capture",
                {"modality": "finger", "position": position, "device": "fingerprint-1"},
                follow_redirects=True,
            )
            assert page.status_code == 200
            if any(c.position == position for c in captures.captures(enrolment_id)):
                break
        else:
            raise AssertionError(f"{position} never reached the threshold")
    # Irises uploaded; the signature from the pad.
    assert b.get(f"/record/{enrolment_id}").headers["Location"].endswith("/step/iris")
    for side in ("left", "right"):
        _upload(b, enrolment_id, "iris", side, iris_png(side))
    drawn = "data:image/png;base64," + base64.b64encode(signature_png()).decode()
    b.post(f"/record/{enrolment_id}/upload", {"modality": "signature", "position": "signature", "drawing": drawn})
    # Everything there: the summary offers to send.
    assert b.get(f"/record/{enrolment_id}").headers["Location"].endswith("/summary")
    summary = b.get(f"/record/{enrolment_id}/summary").get_data(as_text=True)
    assert 'id="complete"' in summary and 'id="missing-list"' not in summary
    assert len(re.findall(rf"/record/{enrolment_id}/image/", summary)) == 14
    sent = b.post(f"/record/{enrolment_id}/confirm", {}, follow_redirects=True).get_data(as_text=True)
    assert "diterima pusat" in sent
    assert ektp_service.get(enrolment_id).state is EnrolmentState.RECEIVED_AT_CENTRAL
    # A second confirmation (a double click, the back button) sends nothing twice.
    again = b.post(f"/record/{enrolment_id}/confirm", {}, follow_redirects=True).get_data(as_text=True)
    assert "tidak dikirim dua kali" in again
    assert transitions(ektp_service, enrolment_id) == ["BIO_CAPTURED", "SENT_FOR_ENROLLMENT", "RECEIVED_AT_CENTRAL"]
    # Sent: "continue" opens the summary, which says where it stands; the capture pages take nothing.
    assert b.get(f"/record/{enrolment_id}").headers["Location"].endswith(f"/record/{enrolment_id}/summary")
    assert 'id="sent-state"' in b.get(f"/record/{enrolment_id}/summary").get_data(as_text=True)
    assert b.get(f"/record/{enrolment_id}/step/finger").status_code == 409
    late = b.post(
        f"/record/{enrolment_id}/capture", {"modality": "finger", "position": "right_thumb", "device": "fingerprint-1"}
    )
    assert late.status_code == 409
