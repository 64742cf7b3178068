"""`ektp backup` and `ektp restore` as commands, run as their own processes: the passphrase from the
environment, never printed; a backup file never overwritten; a restore that checks what it restored."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from backupkit import PASSPHRASE, fill

from ektp_core.testing.databases import temporary_database


def test_the_commands(ektp_deployment, ektp_service, tmp_path: Path) -> None:
    fill(ektp_service)
    env = {**os.environ, "EKTP_BACKUP_PASSPHRASE": PASSPHRASE}
    file = tmp_path / "cmd.ektpbak"

    def ektp(*args: str, **kw: object) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "ektp_core", *args],
            capture_output=True,
            text=True,
            env=kw.get("env", env),
            stdin=subprocess.DEVNULL,
            timeout=120,
        )  # type: ignore[arg-type]

    made = ektp("backup", str(file), "-d", str(ektp_deployment.root))
    assert made.returncode == 0, made.stderr
    assert "rows in" in made.stdout
    again = ektp("backup", str(file), "-d", str(ektp_deployment.root))
    assert again.returncode == 1 and "exists" in again.stderr
    no_secret = ektp(
        "restore", str(file), str(tmp_path / "x"), env={k: v for k, v in env.items() if k != "EKTP_BACKUP_PASSPHRASE"}
    )
    assert no_secret.returncode == 1 and "EKTP_BACKUP_PASSPHRASE" in no_secret.stderr
    (tmp_path / "db2").mkdir()
    with temporary_database(tmp_path / "db2") as url:
        done = ektp("restore", str(file), str(tmp_path / "restored"), "--database-url", url)
    assert done.returncode == 0, done.stderr
    assert "audit chain intact" in done.stdout and "balanced at every site" in done.stdout
    assert PASSPHRASE not in done.stdout + done.stderr + made.stdout + made.stderr
