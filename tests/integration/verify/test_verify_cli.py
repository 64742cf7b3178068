"""``ektp adjudication`` and ``ektp handover`` as a supervisor and an operator use them."""

from __future__ import annotations

import json
import signal
from collections.abc import Callable
from pathlib import Path

import pytest
from centralkit import CentralProcess, Node, print_card, record_resident
from click.testing import CliRunner

from ektp_core.cli import cli
from ektp_core.domain.model import EnrolmentState

E = EnrolmentState


@pytest.fixture
def grey_zone_node(
    grey_zone: Callable[..., tuple[CentralProcess, Node, str, str]],
) -> tuple[CentralProcess, Node, str, str]:
    """A node whose second enrolment (the first one's fingers again) waits for adjudication."""
    return grey_zone(1201)


def test_a_supervisor_adjudicates_from_the_command_line(
    grey_zone_node: tuple[CentralProcess, Node, str, str], tmp_path: Path
) -> None:
    _central, node, first, twin = grey_zone_node
    runner = CliRunner()
    root = str(node.deployment.root)
    listed = runner.invoke(cli, ["adjudication", "list", "--json", "-d", root])
    assert listed.exit_code == 0, listed.output
    [waiting] = json.loads(listed.output)
    assert waiting["enrolment_id"] == twin
    assert waiting["verdict"]["candidates"][0]["enrolment_id"] == first

    sheet = tmp_path / "sheet.png"
    shown = runner.invoke(cli, ["adjudication", "show", twin, "--image", str(sheet), "-d", root])
    assert shown.exit_code == 0, shown.output
    assert sheet.read_bytes().startswith(b"\x89PNG")

    refused = runner.invoke(
        cli, ["adjudication", "decide", twin, "--decision", "unique", "--note", "x", "--as", "op1", "-d", root]
    )
    assert refused.exit_code == 1 and "supervisor" in refused.output
    decided = runner.invoke(
        cli,
        [
            "adjudication",
            "decide",
            twin,
            "--decision",
            "unique",
            "--note",
            "twins: different people",
            "--as",
            "sup1",
            "-d",
            root,
        ],
    )
    assert decided.exit_code == 0, decided.output
    assert node.state(twin) is E.PRINT_READY_RECORD
    assert runner.invoke(cli, ["adjudication", "list", "-d", root]).output.startswith("no enrolment waits")


def test_a_decision_while_the_central_side_is_down_changes_nothing(
    grey_zone_node: tuple[CentralProcess, Node, str, str],
) -> None:
    central, node, _first, twin = grey_zone_node
    central.stop(signal.SIGKILL)
    result = CliRunner().invoke(
        cli,
        [
            "adjudication",
            "decide",
            twin,
            "--decision",
            "duplicate",
            "--note",
            "same",
            "--as",
            "sup1",
            "-d",
            str(node.deployment.root),
        ],
    )
    assert result.exit_code == 3 and "unavailable" in result.output
    assert node.state(twin) is E.ADJUDICATE_RECORD


def test_handover_from_a_finger_image(
    start_central: Callable[..., CentralProcess], node_factory: Callable[..., Node], tmp_path: Path
) -> None:
    from ektp_plugins.simulators.synthetic import finger

    central = start_central()
    node = node_factory(central.url)
    enrolment = record_resident(node.lc, seed=1301, image_fingers=("left_index",))
    node.verification.submit(enrolment, actor="op1")
    node.settle(enrolment)
    print_card(node, enrolment, "BLK-CLI-0001")
    root = str(node.deployment.root)
    stranger, holder = tmp_path / "stranger.png", tmp_path / "holder.png"
    finger(1302, "left_index", 1).save(stranger)
    finger(1301, "left_index", 2).save(holder)

    runner = CliRunner()
    refused = runner.invoke(
        cli, ["handover", enrolment, "--finger", "left_index", "--image", str(stranger), "--as", "op1", "-d", root]
    )
    assert refused.exit_code == 4 and "does not match" in refused.output
    assert node.state(enrolment) is E.CARD_PRINTED
    # The right finger, but offered as another finger of the enrolment: refused too.
    other = runner.invoke(
        cli, ["handover", enrolment, "--finger", "right_thumb", "--image", str(holder), "--as", "op1", "-d", root]
    )
    assert other.exit_code == 4 and node.state(enrolment) is E.CARD_PRINTED
    handed = runner.invoke(
        cli, ["handover", enrolment, "--finger", "left_index", "--image", str(holder), "--as", "op1", "-d", root]
    )
    assert handed.exit_code == 0, handed.output
    assert "CARD_ISSUED" in handed.output and node.state(enrolment) is E.CARD_ISSUED
