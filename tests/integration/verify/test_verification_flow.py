"""Enrolments from BIO_CAPTURED to a verdict through the ``http`` verifier and the central-system
emulator running as its own process; outages lose nothing; adjudication; the handover check."""

from __future__ import annotations

import json
import signal
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa
from centralkit import CentralProcess, Node, finger_sample, print_card, record_resident
from click.testing import CliRunner

from ektp_core.cli import cli
from ektp_core.domain.model import EnrolmentState
from ektp_core.errors import EktpError, IllegalTransition
from ektp_core.lifecycle import audit
from ektp_core.messages import text_of
from ektp_core.services.verification import HandoverRefused, IncompleteEnrolment
from ektp_core.store.tables import central_submissions

E = EnrolmentState


@pytest.fixture
def central(start_central: Callable[..., CentralProcess]) -> CentralProcess:
    return start_central()


def test_a_unique_resident_becomes_print_ready(central: CentralProcess, node_factory: Callable[..., Node]) -> None:
    node = node_factory(central.url)
    enrolment = record_resident(node.lc, seed=101)
    assert node.verification.submit(enrolment, actor="op1") is E.RECEIVED_AT_CENTRAL
    node.settle(enrolment)
    assert node.verdict(enrolment) is E.PRINT_READY_RECORD
    states = [entry.detail["to"] for entry in node.lc.history(enrolment) if "to" in entry.detail]
    assert states[:4] == ["BIO_CAPTURED", "SENT_FOR_ENROLLMENT", "RECEIVED_AT_CENTRAL", "PRINT_READY_RECORD"]
    # The same sync queued the card where the region rules say, with the reason.
    assert states[4:] == ["SENT_FOR_CARD_PRINTING"]
    [job] = [j for j in node.lc.jobs() if j.enrolment_id == enrolment]
    assert job.site_code == "17.71" and "dukcapil-only" in text_of(job.routing_reason)


def test_a_planted_duplicate_is_caught_with_its_candidate(
    central: CentralProcess, node_factory: Callable[..., Node]
) -> None:
    node = node_factory(central.url)
    first = record_resident(node.lc, seed=202)
    node.verification.submit(first, actor="op1")
    node.settle(first)
    # The same person again, new impressions of the same fingers, under another NIK.
    again = record_resident(node.lc, seed=202, impression=1, nama="SITI AMINAH BINTI UMAR")
    node.verification.submit(again, actor="op1")
    node.settle(again)
    assert node.state(again) is E.DUPLICATE_RECORD
    status = node.verification.status(again)
    assert status is not None and status.verdict is not None
    assert [c.enrolment_id for c in status.verdict.candidates][:1] == [first]
    assert any(r.code == "biometric_duplicate" for r in status.verdict.reasons)
    assert first in node.lc.get(again).reason or "duplicate" in (node.lc.get(again).reason or "").lower()


def test_incomplete_enrolments_are_not_sent(central: CentralProcess, node_factory: Callable[..., Node]) -> None:
    node = node_factory(central.url)
    enrolment = record_resident(node.lc, seed=303, fingers=("right_thumb", "right_index"))
    with pytest.raises(IncompleteEnrolment, match="right_middle"):
        node.verification.submit(enrolment, actor="op1")
    assert node.state(enrolment) is E.BIO_CAPTURED
    assert node.verification.status(enrolment) is None
    assert central.health()["pending"] + central.health()["gallery"] == 0


def test_central_down_loses_nothing_and_a_resend_is_stored_once(
    start_central: Callable[..., CentralProcess], node_factory: Callable[..., Node], tmp_path: Path
) -> None:
    central = CentralProcess(tmp_path / "central")  # not started: its port refuses connections
    node = node_factory(central.url)
    enrolment = record_resident(node.lc, seed=404)
    assert node.verification.submit(enrolment, actor="op1") is E.SENT_FOR_ENROLLMENT
    status = node.verification.status(enrolment)
    assert status is not None and status.attempts == 1 and "cannot reach" in (status.last_error or "")
    report = node.verification.sync(actor="op1")
    assert report.unavailable and node.state(enrolment) is E.SENT_FOR_ENROLLMENT

    # The central side comes up; the enrolment reaches it, but the node dies before it hears the answer.
    start_central(data=central.data, port=central.port)
    node.verification.verifier.submit(node.verification.submission(enrolment))
    assert node.state(enrolment) is E.SENT_FOR_ENROLLMENT
    # The next sync resends it: the central side answers with its first receipt and stores nothing twice.
    node.settle(enrolment)
    assert node.verdict(enrolment) is E.PRINT_READY_RECORD
    health = central.health()
    assert health["gallery"] == 1 and health["pending"] == 0
    with node.store.read() as conn:
        assert conn.execute(sa.select(central_submissions.c.attempts)).scalar_one() == 3


def test_the_central_side_killed_before_its_verdict_still_decides_after_restart(
    start_central: Callable[..., CentralProcess], node_factory: Callable[..., Node]
) -> None:
    central = start_central()
    node = node_factory(central.url)
    enrolments = [record_resident(node.lc, seed=500 + i) for i in range(3)]
    for enrolment in enrolments:
        node.verification.submit(enrolment, actor="op1")
    central.stop(signal.SIGKILL)
    assert node.verification.sync(actor="op1").unavailable
    assert all(node.state(e) is E.RECEIVED_AT_CENTRAL for e in enrolments)
    start_central(data=central.data, port=central.port)
    node.settle(*enrolments)
    assert [node.verdict(e) for e in enrolments] == [E.PRINT_READY_RECORD] * 3


def test_adjudication_by_a_supervisor(grey_zone: Callable[..., tuple[CentralProcess, Node, str, str]]) -> None:
    _central, node, first, twin = grey_zone(606, impression=2)
    assert node.state(twin) is E.ADJUDICATE_RECORD
    [(waiting, verdict)] = node.verification.adjudication_queue()
    assert waiting == twin and verdict is not None and verdict.candidates[0].enrolment_id == first

    from ektp_plugins.verify.sheet import side_by_side

    png = side_by_side(node.verification, twin)
    assert png.startswith(b"\x89PNG")

    with pytest.raises(EktpError, match="supervisor"):
        node.verification.adjudicate(twin, E.PRINT_READY_RECORD, supervisor="op1", note="looks different")
    assert node.state(twin) is E.ADJUDICATE_RECORD
    node.verification.adjudicate(twin, E.DUPLICATE_RECORD, supervisor="sup1", note="same person, second NIK")
    assert node.state(twin) is E.DUPLICATE_RECORD
    entry = node.lc.history(twin)[-1]
    assert entry.actor == "sup1" and "second NIK" in entry.detail["reason"]
    # The central side knows the decision too.
    assert node.verification.verifier.verdict(twin).status is E.DUPLICATE_RECORD
    with pytest.raises(IllegalTransition):
        node.verification.adjudicate(twin, E.PRINT_READY_RECORD, supervisor="sup1", note="again")


def printed_resident(node: Node, seed: int) -> tuple[Node, str]:
    """A resident recorded, verified and with the card printed, waiting for handover."""
    enrolment = record_resident(node.lc, seed=seed)
    node.verification.submit(enrolment, actor="op1")
    node.settle(enrolment)
    print_card(node, enrolment, "BLK-HAND-0001")
    return node, enrolment


def test_handover_refuses_a_wrong_finger_and_accepts_the_holder(
    central: CentralProcess, node_factory: Callable[..., Node]
) -> None:
    node, enrolment = printed_resident(node_factory(central.url), 707)

    stranger = finger_sample(708, "right_index", 1).template
    assert stranger is not None
    with pytest.raises(HandoverRefused, match="does not match"):
        node.verification.handover(enrolment, "right_index", stranger, operator="op1")
    assert node.state(enrolment) is E.CARD_PRINTED
    with node.store.read() as conn:
        refused = [e for e in audit.entries(conn, subject_id=enrolment) if e.action == "enrolment.handover_refused"]
    assert len(refused) == 1 and refused[0].detail["position"] == "right_index"

    holder = finger_sample(707, "right_index", 3).template
    assert holder is not None
    score = node.verification.handover(enrolment, "right_index", holder, operator="op1")
    assert score >= node.verification.settings.matcher.thresholds.handover
    assert node.state(enrolment) is E.CARD_ISSUED
    # The printed card is reported to the central side on the next sync.
    assert node.verification.sync(actor="op1").cards_reported == [enrolment]


def test_the_cli_sends_syncs_and_shows_the_verdict(
    central: CentralProcess, node_factory: Callable[..., Node], tmp_path: Path
) -> None:
    node = node_factory(central.url)
    enrolment = record_resident(node.lc, seed=808)
    runner = CliRunner()
    root = str(node.deployment.root)
    result = runner.invoke(cli, ["verify", "submit", enrolment, "--as", "op1", "-d", root])
    assert result.exit_code == 0, result.output
    assert f"{enrolment}: RECEIVED_AT_CENTRAL" in result.output
    for _ in range(10):
        result = runner.invoke(cli, ["verify", "sync", "--wait", "5", "--json", "-d", root])
        assert result.exit_code == 0, result.output
        if node.state(enrolment) is not E.RECEIVED_AT_CENTRAL:
            break
    result = runner.invoke(cli, ["verify", "status", enrolment, "--json", "-d", root])
    shown = json.loads(result.output)
    assert shown["verdict"]["status"] == "PRINT_READY_RECORD" and shown["state"] == "SENT_FOR_CARD_PRINTING"


def test_the_cli_says_when_the_central_side_is_down(node_factory: Callable[..., Node], tmp_path: Path) -> None:
    node = node_factory(CentralProcess(tmp_path / "nowhere").url)
    enrolment = record_resident(node.lc, seed=909)
    result = CliRunner().invoke(cli, ["verify", "submit", enrolment, "--as", "op1", "-d", str(node.deployment.root)])
    assert result.exit_code == 3
    assert "Nothing is lost" in result.output or "kept" in result.output
    assert node.state(enrolment) is E.SENT_FOR_ENROLLMENT
    assert len(node.verification.capture.captures(enrolment)) == 10  # nothing of the record was dropped


def test_a_central_side_that_lost_the_enrolment_gets_it_again(
    start_central: Callable[..., CentralProcess], node_factory: Callable[..., Node], tmp_path: Path
) -> None:
    central = start_central(data=tmp_path / "first")
    node = node_factory(central.url)
    enrolment = record_resident(node.lc, seed=1401)
    node.verification.submit(enrolment, actor="op1")
    central.stop()
    # The central side comes back without its data (restored from an old backup, say): it answers 404.
    start_central(data=tmp_path / "restored", port=central.port)
    report = node.verification.sync(actor="op1")
    assert enrolment in report.failed and "not_found" in report.failed[enrolment]
    assert node.state(enrolment) is E.SENT_FOR_ENROLLMENT
    node.settle(enrolment)
    assert node.verdict(enrolment) is E.PRINT_READY_RECORD


def test_a_missing_token_stops_the_round_and_loses_nothing(
    central: CentralProcess, node_factory: Callable[..., Node], monkeypatch: pytest.MonkeyPatch
) -> None:
    node = node_factory(central.url)
    enrolments = [record_resident(node.lc, seed=1501 + i) for i in range(2)]
    for enrolment in enrolments:
        node.verification.submit(enrolment, actor="op1")
    monkeypatch.delenv("EKTP_CENTRAL_TOKEN")
    report = node.verification.sync(actor="op1")
    assert report.unavailable and "EKTP_CENTRAL_TOKEN" in report.unavailable
    assert all(node.state(e) is E.RECEIVED_AT_CENTRAL for e in enrolments)


def test_a_decision_whose_answer_was_lost_is_caught_up(
    grey_zone: Callable[..., tuple[CentralProcess, Node, str, str]],
) -> None:
    _central, node, _first, twin = grey_zone(1601)
    # The central side took a decision but the node never heard the answer (it crashed)...
    node.verification.verifier.adjudicate(twin, E.DUPLICATE_RECORD, supervisor="sup1", note="same person")
    assert node.state(twin) is E.ADJUDICATE_RECORD
    # ...so another supervisor's different decision applies the one the central side holds, and says so.
    assert (
        node.verification.adjudicate(twin, E.PRINT_READY_RECORD, supervisor="sup1", note="different person")
        is E.DUPLICATE_RECORD
    )
    assert "already holds the decision" in node.lc.history(twin)[-1].detail["reason"]
    status = node.verification.status(twin)
    assert status is not None and status.verdict is not None and status.verdict.status is E.DUPLICATE_RECORD


def test_a_sync_catches_up_with_a_decision_taken_at_the_central_side(
    grey_zone: Callable[..., tuple[CentralProcess, Node, str, str]],
) -> None:
    _central, node, _first, twin = grey_zone(1701)
    node.verification.verifier.adjudicate(twin, E.PRINT_READY_RECORD, supervisor="sup1", note="twins")
    report = node.verification.sync(actor="op1")
    assert report.verdicts == {twin: "PRINT_READY_RECORD"}
    assert node.verdict(twin) is E.PRINT_READY_RECORD and twin in report.routed


def test_only_an_account_may_hand_a_card_over(central: CentralProcess, node_factory: Callable[..., Node]) -> None:
    node, enrolment = printed_resident(node_factory(central.url), 1801)
    holder = finger_sample(1801, "right_index", 2).template
    assert holder is not None
    with pytest.raises(EktpError, match="not an account"):
        node.verification.handover(enrolment, "right_index", holder, operator="somebody")
    assert node.state(enrolment) is E.CARD_PRINTED
