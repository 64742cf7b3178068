"""Fixtures for the verification tests."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from centralkit import TOKEN, CentralProcess, Node, node_profile

from ektp_core.services.node_init import create_deployment


@pytest.fixture
def start_central(tmp_path: Path) -> Iterator[Callable[..., CentralProcess]]:
    """``start_central(config=None)`` starts an emulator with its data in this test's folder."""
    started: list[CentralProcess] = []

    def start(*, config: Path | None = None, data: Path | None = None, port: int | None = None) -> CentralProcess:
        central = CentralProcess(data or tmp_path / "central", port=port, config=config).start()
        started.append(central)
        return central

    yield start
    for central in started:
        central.stop()


@pytest.fixture
def node_factory(
    tmp_path: Path, ektp_database_url: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[..., Node]]:
    monkeypatch.setenv("EKTP_CENTRAL_TOKEN", TOKEN)
    nodes: list[Node] = []

    def make(url: str, **matcher: float) -> Node:
        deployment = create_deployment(
            tmp_path / "node", profile=str(node_profile(tmp_path, url, **matcher)), database_url=ektp_database_url
        )
        nodes.append(Node(deployment))
        return nodes[-1]

    yield make
    for node in nodes:
        node.store.dispose()


@pytest.fixture
def grey_zone(
    start_central: Callable[..., CentralProcess], node_factory: Callable[..., Node], tmp_path: Path
) -> Callable[..., tuple[CentralProcess, Node, str, str]]:
    """``grey_zone(seed, impression=1)``: a node whose second enrolment (person ``seed``'s fingers
    again, under another NIK) waits in ADJUDICATE_RECORD, because the emulator's thresholds put every
    genuine match into the grey zone. Returns the emulator, the node, the first and the second."""
    from centralkit import record_resident

    def make(seed: int, impression: int = 1) -> tuple[CentralProcess, Node, str, str]:
        config = tmp_path / "central.toml"
        config.write_text("[verification.matcher]\nduplicate_score = 100000\nadjudicate_score = 20\n", "utf-8")
        central = start_central(config=config)
        node = node_factory(central.url)
        first = record_resident(node.lc, seed=seed)
        node.verification.submit(first, actor="op1")
        node.settle(first)
        twin = record_resident(node.lc, seed=seed, impression=impression, nama="SITI AMINA")
        node.verification.submit(twin, actor="op1")
        node.settle(twin)
        return central, node, first, twin

    return make
