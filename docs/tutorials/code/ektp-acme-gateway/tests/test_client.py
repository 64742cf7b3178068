"""The client against the API server on 127.0.0.1: every answer, refusal and failure."""

from __future__ import annotations

import datetime as dt
import socket
from collections.abc import Iterator

import pytest
from ektp_core.devices.verifiers import CentralRefused, CentralUnavailable, Submission, Verifier
from ektp_core.domain.model import EnrolmentState
from ektp_core.testing import make_biodata

from ektp_acme_gateway import AcmeGatewayServer as Server
from ektp_acme_gateway import AcmeGatewayVerifier as Client

KEY = "test-key"
E = EnrolmentState


@pytest.fixture
def server() -> Iterator[Server]:
    with Server(KEY) as server:
        yield server


def client(url: str, key: str = KEY, **options: object) -> Client:
    environ = {"ACME_GATEWAY_API_KEY": key}
    return Client({"url": url, **options}, environ=environ, sleep=lambda _seconds: None)


def submission(enrolment_id: str, **biodata: object) -> Submission:
    bio = make_biodata(**biodata).to_dict()
    return Submission(
        enrolment_id=enrolment_id, site="17.71", biodata=bio, fingers={"right_index": b"template"}, face=b"face"
    )


def test_is_a_verifier_and_hides_the_key(server: Server) -> None:
    verifier = client(server.url)
    assert isinstance(verifier, Verifier)
    assert KEY not in repr(verifier)


def test_submits_once_and_a_resend_gets_the_first_answer(server: Server) -> None:
    verifier = client(server.url)
    first = verifier.submit(submission("enr-1"))
    again = verifier.submit(submission("enr-1", nik=first_nik(server, "enr-1")))
    assert first.first and not again.first
    assert again.received_at == first.received_at
    assert server.records["enr-1"]["biodata"]["nama"]


def first_nik(server: Server, record_id: str) -> str:
    nik: str = server.records[record_id]["nik"]
    return nik


def test_a_new_resident_is_print_ready(server: Server) -> None:
    verifier = client(server.url)
    verifier.submit(submission("enr-1"))
    verdict = verifier.verdict("enr-1")
    assert verdict is not None and verdict.status is E.PRINT_READY_RECORD and verdict.candidates == ()


def test_the_same_nik_again_is_a_duplicate(server: Server) -> None:
    verifier = client(server.url)
    verifier.submit(submission("enr-1"))
    verifier.submit(submission("enr-2", nik=first_nik(server, "enr-1")))
    verdict = verifier.verdict("enr-2")
    assert verdict is not None and verdict.status is E.DUPLICATE_RECORD
    assert [c.enrolment_id for c in verdict.candidates] == ["enr-1"]
    assert "held by an earlier record" in verdict.summary()


def test_a_look_alike_goes_to_review_and_a_supervisor_decides(server: Server) -> None:
    verifier = client(server.url)
    verifier.submit(submission("enr-1"))
    verifier.submit(submission("enr-2"))  # same name and birth date, another NIK
    verdict = verifier.verdict("enr-2")
    assert verdict is not None and verdict.status is E.ADJUDICATE_RECORD
    decided = verifier.adjudicate("enr-2", E.PRINT_READY_RECORD, supervisor="supervisor1", note="twins")
    assert decided.status is E.PRINT_READY_RECORD and "twins" in decided.summary()
    with pytest.raises(CentralRefused, match="conflict"):
        verifier.adjudicate("enr-2", E.DUPLICATE_RECORD, supervisor="supervisor1", note="changed my mind")


def test_pending_is_no_verdict_yet(server: Server) -> None:
    server.pending_polls = 1
    verifier = client(server.url)
    verifier.submit(submission("enr-1"))
    assert verifier.verdict("enr-1") is None
    assert verifier.verdict("enr-1") is not None


def test_a_printed_card_is_reported(server: Server) -> None:
    verifier = client(server.url)
    verifier.submit(submission("enr-1"))
    verifier.card_printed("enr-1", dt.datetime(2026, 3, 2, 9, 30, tzinfo=dt.UTC))
    assert server.printed == {"enr-1": "2026-03-02T09:30:00+00:00"}
    assert verifier.finger_image("enr-1", "right_index") is None


@pytest.mark.parametrize(
    ("call", "code"),
    [
        (lambda v: v.verdict("enr-unknown"), "not_found"),
        (lambda v: v.submit(submission("bad id/..")), "malformed"),
        (lambda v: v.adjudicate("enr-1", E.ADJUDICATE_RECORD, supervisor="s", note=""), "malformed"),
    ],
)
def test_refusals(server: Server, call: object, code: str) -> None:
    verifier = client(server.url)
    verifier.submit(submission("enr-1"))
    with pytest.raises(CentralRefused) as raised:
        call(verifier)  # type: ignore[operator]
    assert raised.value.code == code


def test_other_content_under_a_held_id_is_a_conflict(server: Server) -> None:
    verifier = client(server.url)
    verifier.submit(submission("enr-1"))
    with pytest.raises(CentralRefused, match="conflict"):
        verifier.submit(submission("enr-1", nama="ANOTHER NAME"))


def test_a_wrong_or_missing_key_is_refused(server: Server) -> None:
    with pytest.raises(CentralRefused, match="unauthorised"):
        client(server.url, key="wrong").submit(submission("enr-1"))
    no_key = Client({"url": server.url}, environ={})
    with pytest.raises(CentralRefused, match="ACME_GATEWAY_API_KEY"):
        no_key.submit(submission("enr-1"))


def test_server_errors_are_retried(server: Server) -> None:
    server.fail_next(503, times=2)
    assert client(server.url, retries=2).submit(submission("enr-1")).first
    server.fail_next(500, times=3)
    with pytest.raises(CentralUnavailable, match="HTTP 500"):
        client(server.url, retries=2).verdict("enr-1")


def test_nobody_listening_is_unavailable() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(CentralUnavailable, match="cannot reach"):
        client(f"http://127.0.0.1:{port}/v1", retries=1, timeout_seconds=1).verdict("enr-1")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({}, "url must be the http"),
        ({"url": "ftp://gateway/v1"}, "url must be the http"),
        ({"url": "http://127.0.0.1/v1", "token": "x"}, "unknown option 'token'"),
        ({"url": "http://127.0.0.1/v1", "timeout_seconds": 0}, "timeout_seconds must be a number above 0"),
        ({"url": "http://127.0.0.1/v1", "retries": -1}, "retries must be a whole number"),
    ],
)
def test_bad_options_are_refused_with_their_name(options: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Client(options)
