"""Fixtures for the verification tests."""
from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from centralkit import CentralProcess


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
