"""The demo's child processes, without running the whole demo: a child that dies as it starts says why."""

from __future__ import annotations

from pathlib import Path

import pytest
from ektp_plugins.demo.children import Child

from ektp_core.errors import EktpError


def test_a_child_that_dies_at_start_says_why(tmp_path: Path) -> None:
    child = Child(
        "a node",
        ["serve", "--port", "0", "-d", str(tmp_path / "nowhere")],
        tmp_path / "logs" / "x.log",
        ready_url="http://127.0.0.1:9/",
    )
    with pytest.raises(EktpError, match=r"a node stopped \(exit 1\); its log .* ends with:\n(.|\n)*error"):
        child.start(timeout=60)
    assert not child.alive()
