"""Recording, the whole flow in the browser's order on the minimal profile (the emulated U.are.U reader for the
fingers; the photo and irises uploaded, as the profile has no camera; the signature from the pad) and its
confirmation at the Dukcapil node, with the central-system emulator running as its own process, and
with the central system down."""

from __future__ import annotations

import base64
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from io import BytesIO
from pathlib import Path

import pytest

from ektp_core.domain.model import FINGER_POSITIONS, EnrolmentState
from ektp_core.lifecycle import audit
from ektp_core.services.capture import CaptureService
from ektp_core.services.node_init import create_deployment, profile_text

from .test_record_kit import fill_captures, iris_png, photo, pin_resident, signature_png, start_recording

TOKEN = "record-test-central-token-0123456789"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def central_url(tmp_path: Path) -> Iterator[str]:
    """``ektp central-emulator`` as its own process (as tests/verify's start_central runs it)."""
    port = _free_port()
    log = open(tmp_path / "central.log", "ab")  # noqa: SIM115 - closed below, after the process
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
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    url = f"http://127.0.0.1:{port}/api/v1"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, (tmp_path / "central.log").read_text(errors="replace")[-2000:]
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=1):
                    break
            except OSError:
                assert time.monotonic() < deadline, "the central emulator did not come up"
                time.sleep(0.1)
        yield url
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


@pytest.fixture
def central_wanted() -> bool:
    """False: nobody answers at the profile's central address (a test parametrizes it to True)."""
    return False


@pytest.fixture
def ektp_deployment(
    request: pytest.FixtureRequest,
    central_wanted: bool,
    tmp_path: Path,
    ektp_database_url: str,
    monkeypatch: pytest.MonkeyPatch,
):
    """The minimal profile, its verification pointed at this test's central emulator (or at nobody)."""
    monkeypatch.setenv("EKTP_CENTRAL_TOKEN", TOKEN)
    url = request.getfixturevalue("central_url") if central_wanted else f"http://127.0.0.1:{_free_port()}/api/v1"
    text, _ = profile_text("minimal")
    text = text[: text.index("\n[verification]")]
    text += (
        f'\n[verification]\nverifier = "http"\nurl = "{url}"\nretries = 0\nbackoff_seconds = 0.05\n'
        "timeout_seconds = 5\n"
    )
    profile = tmp_path / "profile-under-test.toml"
    profile.write_text(text, "utf-8")
    return create_deployment(tmp_path / "deployment", profile=str(profile), database_url=ektp_database_url)


def _upload(b, enrolment_id: str, modality: str, position: str, data: bytes) -> None:
    sent = b.client.post(
        f"/record/{enrolment_id}/upload",
        data={"csrf_token": b.csrf, "modality": modality, "position": position, "file": (BytesIO(data), "image.png")},
        content_type="multipart/form-data",
    )
    assert sent.status_code == 302


def _transitions(lc, enrolment_id: str) -> list[str]:
    with lc.store.read() as conn:
        return [e.detail["to"] for e in audit.entries(conn, subject_id=enrolment_id) if "to" in e.detail]


@pytest.mark.parametrize("central_wanted", [True])
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
    assert _transitions(ektp_service, enrolment_id) == ["BIO_CAPTURED", "SENT_FOR_ENROLLMENT", "RECEIVED_AT_CENTRAL"]
    # Sent: "continue" opens the summary, which says where it stands; the capture pages take nothing.
    assert b.get(f"/record/{enrolment_id}").headers["Location"].endswith(f"/record/{enrolment_id}/summary")
    assert 'id="sent-state"' in b.get(f"/record/{enrolment_id}/summary").get_data(as_text=True)
    assert b.get(f"/record/{enrolment_id}/step/finger").status_code == 409
    late = b.post(
        f"/record/{enrolment_id}/capture", {"modality": "finger", "position": "right_thumb", "device": "fingerprint-1"}
    )
    assert late.status_code == 409


def test_with_the_central_system_down_the_recording_waits_for_the_next_sync(browser, ektp_service) -> None:
    b = browser("op1")
    enrolment_id = start_recording(b)
    fill_captures(ektp_service, enrolment_id)
    sent = b.post(f"/record/{enrolment_id}/confirm", {}, follow_redirects=True)
    text = sent.get_data(as_text=True)
    assert sent.status_code == 200 and "sinkronisasi berikutnya akan mengirimnya ulang" in text
    assert 'class="flash info"' in text
    assert ektp_service.get(enrolment_id).state is EnrolmentState.SENT_FOR_ENROLLMENT
    # Not in the list of recordings in progress any more; its summary says where it stands.
    assert f"/record/{enrolment_id}" not in b.get("/record").get_data(as_text=True)
    again = b.post(f"/record/{enrolment_id}/confirm", {}, follow_redirects=True).get_data(as_text=True)
    assert "tidak dikirim dua kali" in again
    assert _transitions(ektp_service, enrolment_id) == ["BIO_CAPTURED", "SENT_FOR_ENROLLMENT"]


def test_two_confirmations_at_once_send_once(browser, ektp_service) -> None:
    import threading

    from ektp_core.services.verification import VerificationService

    first, second = browser("op1"), browser("op1")
    enrolment_id = start_recording(first)
    fill_captures(ektp_service, enrolment_id)
    second.get(f"/record/{enrolment_id}/summary")
    answers: list[str] = []

    def confirm(b) -> None:
        answers.append(b.post(f"/record/{enrolment_id}/confirm", {}, follow_redirects=True).get_data(as_text=True))

    threads = [threading.Thread(target=confirm, args=(b,)) for b in (first, second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(answers) == 2 and sum("tidak dikirim dua kali" in a for a in answers) == 1
    assert _transitions(ektp_service, enrolment_id) == ["BIO_CAPTURED", "SENT_FOR_ENROLLMENT"]
    status = VerificationService.for_deployment(ektp_service, ektp_service.deployment.plugin_host()).status(
        enrolment_id
    )
    assert status is not None and status.attempts == 1
