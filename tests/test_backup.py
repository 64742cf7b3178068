"""Backups and restores: every record comes back, the ledger balances, a damaged file or a wrong
passphrase restores nothing."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa
from ektp_plugins.backup.archive import BackupError, create_backup, read_header, restore_backup

from ektp_core.config import load_deployment
from ektp_core.lifecycle import audit
from ektp_core.lifecycle.service import LifecycleService
from ektp_core.services.capture import CaptureService
from ektp_core.store.tables import metadata
from ektp_core.testing.databases import temporary_database
from ektp_core.testing.samples import queue_print_ready, valid_nik

PASSPHRASE = "kunci cadangan yang panjang"


def _fill(lc: LifecycleService) -> None:
    """A node with some history: printed, spoiled and queued cards, blanks, biometrics, accounts."""
    lc.receive_blanks("17.71", [f"BLK-{n:06d}" for n in range(1, 21)], actor="spv1", note="delivery 1")
    for seed in range(6):
        job = queue_print_ready(lc, seed=seed, nik=valid_nik(serial=seed + 1))
        if seed < 4:
            lc.reserve_blank(job, actor="op1")
            lc.mark_sent(job, actor="op1", printer="evolis-1")
            if seed == 3:
                lc.mark_spoiled(job, actor="op1", reason="ribbon creased")
            else:
                lc.mark_printed(job, actor="op1")
    lc.spoil_blank("BLK-000020", actor="spv1", reason="bent in the box")


def _snapshot(url: str) -> dict[str, list[tuple[object, ...]]]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            tables = {}
            for table in metadata.sorted_tables:
                order = list(table.primary_key.columns) or list(table.columns)
                tables[table.name] = [tuple(row) for row in conn.execute(sa.select(table).order_by(*order))]
            return tables
    finally:
        engine.dispose()


def test_a_restore_brings_back_every_record_and_the_ledger_balances(
    ektp_deployment, ektp_service, tmp_path: Path
) -> None:
    _fill(ektp_service)
    before = _snapshot(ektp_deployment.database_url)
    assert len(before["enrolments"]) == 6 and len(before["blobs"]) == 12
    file = tmp_path / "node.ektpbak"
    report = create_backup(ektp_deployment, file, PASSPHRASE)
    assert report.rows["audit_log"] == len(before["audit_log"])
    assert read_header(file)["site"] == "17.71"
    assert b"SITI" not in file.read_bytes() and b"BLK-0000" not in file.read_bytes()  # encrypted

    target = tmp_path / "restored"
    (tmp_path / "db2").mkdir()
    # Into a new database of the same kind (SQLite, or PostgreSQL under tox -e pg).
    with temporary_database(tmp_path / "db2") as url:
        restored = restore_backup(file, target, PASSPHRASE, database_url=url)
        assert restored.rows == report.rows
        _check_restored(target, before)


def _check_restored(target: Path, before: dict[str, list[tuple[object, ...]]]) -> None:
    deployment = load_deployment(target)
    assert _snapshot(deployment.database_url) == before
    store = deployment.open_store()
    try:
        lc = LifecycleService(store, deployment.plugin_host().hook, deployment)
        ledger = lc.ledger("17.71")
        assert ledger.balanced and (ledger.received, ledger.printed, ledger.spoiled) == (20, 3, 2)
        with store.read() as conn:
            assert audit.verify(conn).ok
        # The keys came back too: the biometrics decrypt at the restored node.
        enrolment_id = before["enrolments"][0][0]
        photo = CaptureService(lc).image(enrolment_id, "face", "face")
        assert photo.startswith(b"\x89PNG") or photo[:2] == b"\xff\xd8"
        # And the node keeps working: the next audit entry chains on.
        lc.receive_blanks("17.71", ["BLK-999999"], actor="spv1")
        with store.read() as conn:
            assert audit.verify(conn).ok
    finally:
        store.dispose()


def test_a_wrong_passphrase_or_a_damaged_file_restores_nothing(ektp_deployment, ektp_service, tmp_path: Path) -> None:
    _fill(ektp_service)
    file = tmp_path / "node.ektpbak"
    create_backup(ektp_deployment, file, PASSPHRASE)
    with pytest.raises(BackupError, match="wrong passphrase"):
        restore_backup(file, tmp_path / "a", "not the passphrase")
    assert not (tmp_path / "a").exists()

    data = bytearray(file.read_bytes())
    data[len(data) // 2] ^= 0x01
    damaged = tmp_path / "damaged.ektpbak"
    damaged.write_bytes(bytes(data))
    with pytest.raises(BackupError, match="damaged"):
        restore_backup(damaged, tmp_path / "b", PASSPHRASE)
    assert not (tmp_path / "b").exists()

    cut = tmp_path / "cut.ektpbak"
    cut.write_bytes(file.read_bytes()[:-100])
    with pytest.raises(BackupError, match=r"cut short|damaged"):
        restore_backup(cut, tmp_path / "c", PASSPHRASE)
    assert not (tmp_path / "c").exists()

    with pytest.raises(BackupError, match="not an ektp backup"):
        restore_backup(ektp_deployment.root / "ektp.toml", tmp_path / "d", PASSPHRASE)


def test_a_restore_never_overwrites_a_deployment(ektp_deployment, ektp_service, tmp_path: Path) -> None:
    file = tmp_path / "node.ektpbak"
    create_backup(ektp_deployment, file, PASSPHRASE)
    before = (ektp_deployment.root / "ektp.toml").read_bytes()
    with pytest.raises(BackupError, match="already holds a deployment"):
        restore_backup(file, ektp_deployment.root, PASSPHRASE)
    assert (ektp_deployment.root / "ektp.toml").read_bytes() == before


def test_the_commands(ektp_deployment, ektp_service, tmp_path: Path) -> None:
    _fill(ektp_service)
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
