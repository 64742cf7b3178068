"""`ektp walk` as a user runs it: a separate process, the installed command, twice in one folder."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from portlock import port_lock

from ektp_core.config import load_deployment


def test_walk_end_to_end_as_a_real_process(tmp_path: Path) -> None:
    """The README's main job, run as a user would: a separate process, the installed command."""
    env = {k: v for k, v in os.environ.items() if k not in ("EKTP_DEPLOYMENT", "EKTP_DATABASE_URL")}

    def walk() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "ektp_core", "walk", "--dir", str(tmp_path / "w")],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
        )

    # The walk starts the central-system emulator where the minimal profile points: 127.0.0.1:4800.
    with port_lock(4800):
        done = walk()
        assert done.returncode == 0, done.stderr
        assert "CARD_ISSUED" in done.stdout and "balanced" in done.stdout and "chain intact" in done.stdout
        again = walk()
    assert again.returncode == 0, again.stderr
    assert "printed 2" in again.stdout
    assert load_deployment(tmp_path / "w").site_code == "17.71"
