"""Fixtures for the verification tests."""
from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from centralkit import TOKEN, CentralProcess, Node, node_profile

from ektp_core.deploy import create_deployment


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
def node_factory(tmp_path: Path, ektp_database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[
        Callable[..., Node]]:
    monkeypatch.setenv("EKTP_CENTRAL_TOKEN", TOKEN)
    nodes: list[Node] = []

    def make(url: str, **matcher: float) -> Node:
        deployment = create_deployment(tmp_path / "node", profile=str(node_profile(tmp_path, url, **matcher)),
                                       database_url=ektp_database_url)
        nodes.append(Node(deployment))
        return nodes[-1]

    yield make
    for node in nodes:
        node.store.dispose()
