"""The ``http`` verifier's transport: retries with backoff, timeouts, refusals, and the token kept secret.

A scripted HTTP server on 127.0.0.1 answers each request with the next scripted action, so every
failure the central side can show (down, slow, 5xx, 503, 4xx) is exercised over a real socket.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import logging
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from ektp_plugins.verify.http import HttpVerifier

from ektp_core.devices.verifiers import CentralRefused, CentralUnavailable, Submission
from ektp_core.domain.model import EnrolmentState

TOKEN = "s3cret-token-value"


class Scripted(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.script: list[tuple[Any, ...]] = []
        self.seen: list[dict[str, Any]] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/api/v1"


class Handler(BaseHTTPRequestHandler):
    server: Scripted

    def log_message(self, *args: Any) -> None:
        pass

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        self.server.seen.append(
            {
                "method": self.command,
                "path": self.path,
                "headers": dict(self.headers),
                "body": json.loads(body) if body else None,
            }
        )
        action = self.server.script.pop(0) if self.server.script else ("json", 500, {"error": {"code": "x"}})
        if action[0] == "close":
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        if action[0] == "redirect":
            self.send_response(302)
            self.send_header("Location", action[1])
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if action[0] == "raw":
            self.send_response(200)
            self.send_header("Content-Length", str(len(action[1])))
            self.end_headers()
            self.wfile.write(action[1])
            return
        if action[0] == "sleep":
            time.sleep(action[1])
            action = action[2]
        _, status, payload = action
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = _answer


@pytest.fixture
def server() -> Iterator[Scripted]:
    srv = Scripted()
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def _verifier(url: str, sleeps: list[float], **options: Any) -> HttpVerifier:
    return HttpVerifier(
        {"url": url, "timeout_seconds": 2, **options}, sleep=sleeps.append, environ={"EKTP_CENTRAL_TOKEN": TOKEN}
    )


SUBMISSION = Submission(
    enrolment_id="e-1",
    site="17.71",
    biodata={"nik": "1771014101900001"},
    fingers={"right_thumb": b"FMR\0template"},
    finger_images={"right_thumb": b"\x89PNG"},
    exceptions={"left_little": "amputated"},
)
RECEIVED = {
    "enrolment_id": "e-1",
    "status": "RECEIVED_AT_CENTRAL",
    "received_at": "2026-11-28T01:02:03Z",
    "first": True,
}


def test_submit_sends_the_documented_body_with_the_token(server: Scripted) -> None:
    server.script = [("json", 202, RECEIVED)]
    receipt = _verifier(server.url, []).submit(SUBMISSION)
    assert receipt.enrolment_id == "e-1" and receipt.first
    request = server.seen[0]
    assert request["method"] == "POST" and request["path"] == "/api/v1/enrolments"
    assert request["headers"]["Authorization"] == f"Bearer {TOKEN}"
    body = request["body"]
    assert base64.b64decode(body["fingers"]["right_thumb"]) == b"FMR\0template"
    assert body["exceptions"] == {"left_little": "amputated"} and body["face"] is None


def test_busy_and_broken_answers_are_retried_with_growing_backoff(server: Scripted) -> None:
    sleeps: list[float] = []
    server.script = [
        ("json", 503, {"error": {"code": "unavailable", "message": "busy"}}),
        ("json", 502, {}),
        ("close",),
        ("json", 200, {**RECEIVED, "first": False}),
    ]
    receipt = _verifier(server.url, sleeps, retries=3, backoff_seconds=0.25).submit(SUBMISSION)
    assert not receipt.first
    assert sleeps == [0.25, 0.5, 1.0]
    assert len(server.seen) == 4


def test_down_after_the_last_retry_is_unavailable_not_lost(server: Scripted) -> None:
    sleeps: list[float] = []
    server.script = [("json", 500, {"error": {"code": "x", "message": "database down"}})] * 3
    with pytest.raises(CentralUnavailable, match="database down"):
        _verifier(server.url, sleeps, retries=2).submit(SUBMISSION)
    assert len(server.seen) == 3 and len(sleeps) == 2


def test_refused_connection_is_unavailable() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    with pytest.raises(CentralUnavailable, match="cannot reach"):
        _verifier(f"http://127.0.0.1:{port}/api/v1", [], retries=1).submit(SUBMISSION)


def test_a_slow_central_side_times_out(server: Scripted) -> None:
    server.script = [("sleep", 1.5, ("json", 202, RECEIVED))]
    with pytest.raises(CentralUnavailable):
        _verifier(server.url, [], retries=0, timeout_seconds=0.3).submit(SUBMISSION)


@pytest.mark.parametrize(("status", "code"), [(400, "malformed"), (401, "unauthorised"), (409, "conflict")])
def test_refusals_are_not_retried(server: Scripted, status: int, code: str) -> None:
    server.script = [("json", status, {"error": {"code": code, "message": "no"}})]
    with pytest.raises(CentralRefused) as info:
        _verifier(server.url, [], retries=3).submit(SUBMISSION)
    assert info.value.code == code
    assert len(server.seen) == 1


def test_the_token_is_never_in_errors_or_logs(server: Scripted, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    server.script = [("json", 500, {})] * 2 + [("json", 401, {"error": {"code": "unauthorised", "message": "bad"}})]
    verifier = _verifier(server.url, [], retries=2)
    with pytest.raises(CentralRefused) as info:
        verifier.submit(SUBMISSION)
    assert TOKEN not in str(info.value) and TOKEN not in caplog.text and TOKEN not in repr(verifier)


def test_a_missing_token_is_a_clear_refusal(server: Scripted) -> None:
    verifier = HttpVerifier({"url": server.url, "token_env": "MY_TOKEN"}, environ={})
    with pytest.raises(CentralRefused, match="MY_TOKEN"):
        verifier.submit(SUBMISSION)
    assert server.seen == []


def test_a_pending_verdict_is_none_and_a_decided_one_is_read(server: Scripted) -> None:
    decided = {
        "enrolment_id": "e-1",
        "status": "DUPLICATE_RECORD",
        "decided_at": "2026-11-28T01:02:05Z",
        "reasons": [{"code": "biometric_duplicate", "message": "matches e-0"}],
        "candidates": [
            {"enrolment_id": "e-0", "nik": "1771014101900002", "score": 87.5, "finger_scores": {"right_thumb": 95}}
        ],
    }
    server.script = [("json", 200, RECEIVED), ("json", 200, decided)]
    verifier = _verifier(server.url, [])
    assert verifier.verdict("e-1", wait=2) is None
    assert server.seen[0]["path"] == "/api/v1/enrolments/e-1?wait=2"
    verdict = verifier.verdict("e-1")
    assert verdict is not None and verdict.status is EnrolmentState.DUPLICATE_RECORD
    assert verdict.candidates[0].finger_scores == {"right_thumb": 95.0}


def test_an_unreadable_verdict_is_not_trusted(server: Scripted) -> None:
    server.script = [("json", 200, {"enrolment_id": "e-1", "status": "CARD_PRINTED"})]
    with pytest.raises(CentralUnavailable, match="cannot read"):
        _verifier(server.url, []).verdict("e-1")


@pytest.mark.parametrize(
    "options", [{"url": "ftp://x"}, {"url": "http://x", "colour": "red"}, {"url": "http://x", "retries": -1}, {}]
)
def test_bad_options_are_refused(options: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="http verifier"):
        HttpVerifier(options)


def test_a_redirect_is_not_followed_and_the_token_stays_home(server: Scripted) -> None:
    elsewhere = Scripted()
    thread = threading.Thread(target=elsewhere.serve_forever, daemon=True)
    thread.start()
    try:
        server.script = [("redirect", f"http://localhost:{elsewhere.server_address[1]}/steal")]
        with pytest.raises(CentralRefused, match="redirect") as info:
            _verifier(server.url, []).submit(SUBMISSION)
        assert info.value.code == "redirected"
        assert elsewhere.seen == []
    finally:
        elsewhere.shutdown()
        elsewhere.server_close()


def test_an_oversized_answer_is_refused(server: Scripted, monkeypatch: pytest.MonkeyPatch) -> None:
    import ektp_plugins.verify.http as module

    monkeypatch.setattr(module, "MAX_JSON_BYTES", 64)
    server.script = [("json", 202, {**RECEIVED, "padding": "x" * 200})]
    with pytest.raises(CentralUnavailable, match="larger than 64 bytes"):
        _verifier(server.url, [], retries=0).submit(SUBMISSION)


@pytest.mark.parametrize(
    "answer",
    [
        ("json", 202, ["not", "an", "object"]),
        ("json", 202, {"enrolment_id": "e-1", "first": True}),
        ("json", 202, {**RECEIVED, "received_at": "yesterday"}),
        ("raw", b"\xff\xfe not json"),
    ],
)
def test_an_unreadable_receipt_is_not_trusted(server: Scripted, answer: tuple[Any, ...]) -> None:
    server.script = [answer]
    with pytest.raises(CentralUnavailable):
        _verifier(server.url, [], retries=0).submit(SUBMISSION)


@pytest.mark.parametrize("bad_id", ["../../admin", "e 1", "", "x" * 200])
def test_ids_that_would_change_the_url_are_refused_before_sending(server: Scripted, bad_id: str) -> None:
    verifier = _verifier(server.url, [])
    with pytest.raises(CentralRefused, match="cannot be sent"):
        verifier.verdict(bad_id)
    with pytest.raises(CentralRefused):
        verifier.finger_image("e-1", "../../x")
    assert server.seen == []


def test_receipt_times_with_an_offset_become_utc(server: Scripted) -> None:
    server.script = [("json", 202, {**RECEIVED, "received_at": "2026-11-28T08:02:03+07:00"})]
    receipt = _verifier(server.url, []).submit(SUBMISSION)
    assert receipt.received_at.utcoffset() == dt.timedelta(0) and receipt.received_at.hour == 1


def test_user_and_password_in_the_url_are_refused() -> None:
    with pytest.raises(ValueError, match="no user or password"):
        HttpVerifier({"url": "https://admin:secret@central.example/api/v1"})
