"""Recording confirmed at the Dukcapil node with the central system down: the recording waits for the
next sync, and two confirmations at once send once. (The whole flow in the browser's order, up to the
central-system emulator running as its own process: tests/integration/web/test_record_to_central.py.)"""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from recordkit import fill_captures, start_recording, transitions

from ektp_core.config import Deployment
from ektp_core.domain.model import EnrolmentState
from ektp_core.services.node_init import create_deployment, profile_text


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def ektp_deployment(tmp_path: Path, ektp_database_url: str, monkeypatch: pytest.MonkeyPatch) -> Deployment:
    """The minimal profile, its verification pointed at an address where nobody answers."""
    monkeypatch.setenv("EKTP_CENTRAL_TOKEN", "record-test-central-token-0123456789")
    text, _ = profile_text("minimal")
    text = text[: text.index("\n[verification]")]
    text += (
        f'\n[verification]\nverifier = "http"\nurl = "http://127.0.0.1:{_free_port()}/api/v1"\nretries = 0\n'
        "backoff_seconds = 0.05\ntimeout_seconds = 5\n"
    )
    profile = tmp_path / "profile-under-test.toml"
    profile.write_text(text, "utf-8")
    return create_deployment(tmp_path / "deployment", profile=str(profile), database_url=ektp_database_url)


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
    assert transitions(ektp_service, enrolment_id) == ["BIO_CAPTURED", "SENT_FOR_ENROLLMENT"]


@pytest.mark.database
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
    assert transitions(ektp_service, enrolment_id) == ["BIO_CAPTURED", "SENT_FOR_ENROLLMENT"]
    status = VerificationService.for_deployment(ektp_service, ektp_service.deployment.plugin_host()).status(
        enrolment_id
    )
    assert status is not None and status.attempts == 1
