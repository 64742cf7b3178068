"""The regency of real nodes the sync tests share: a Dukcapil node and two kecamatan sites, each with
its own database, served by ``ektp serve`` (test_regency_flow.py uses its own, per regional profile)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
from test_nodes import SITES, Regency

from ektp_core.testing.databases import temporary_database


@pytest.fixture
def regency(tmp_path: Path, ektp_database_url: str) -> Iterator[Regency]:
    with ExitStack() as stack:
        urls = [ektp_database_url]
        for n in range(len(SITES)):
            folder = tmp_path / f"db{n}"
            folder.mkdir()
            urls.append(stack.enter_context(temporary_database(folder)))
        world = Regency(tmp_path, urls)
        world.start()
        yield world
        world.stop()
