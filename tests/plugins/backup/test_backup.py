"""Backups and restores: every record comes back, the ledger balances, a damaged file or a wrong
passphrase restores nothing. (`ektp backup` and `ektp restore` as commands: tests/integration/
test_backup_commands.py.)"""

from __future__ import annotations

from pathlib import Path

import pytest
from backupkit import PASSPHRASE, check_restored, fill, snapshot
from ektp_plugins.backup.archive import BackupError, create_backup, read_header, restore_backup

from ektp_core.testing.databases import temporary_database


def test_a_restore_brings_back_every_record_and_the_ledger_balances(
    ektp_deployment, ektp_service, tmp_path: Path
) -> None:
    fill(ektp_service)
    before = snapshot(ektp_deployment.database_url)
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
        check_restored(target, before)


def test_a_wrong_passphrase_or_a_damaged_file_restores_nothing(ektp_deployment, ektp_service, tmp_path: Path) -> None:
    fill(ektp_service)
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


def test_a_backup_made_after_a_purge_holds_none_of_the_destroyed_biometrics(
    ektp_deployment, ektp_service, tmp_path: Path
) -> None:
    """A cancelled recording's biometrics, destroyed after the retention period, do not come back from
    a backup made afterwards (issue 15); the other residents' do."""
    import datetime as dt

    import sqlalchemy as sa

    from ektp_core.domain.model import Capture, Operator, Role
    from ektp_core.keys import crypto
    from ektp_core.services.corrections import Corrections
    from ektp_core.store.tables import blobs, captures
    from ektp_core.testing import make_enrolment

    fill(ektp_service)
    ektp_service.add_operator(
        Operator(
            username="spv-purge",
            full_name="SPV",
            role=Role.SUPERVISOR,
            site_code="17.71",
            password_hash=crypto.hash_password("x", n=2**4),
        ),
        actor="test",
    )
    enrolment = make_enrolment(nik="1771054101909999")
    face = f"{enrolment.id}-face"
    ektp_service.record(
        enrolment,
        [Capture(modality="face", position="face", device="t", quality=90, blob_ref=face)],
        {face: b"\xff\xd8 the face of a recording cancelled"},
    )
    corrections = Corrections(ektp_service)
    corrections.cancel(enrolment.id, supervisor="spv-purge", reason="recorded in error")
    assert [p.enrolment_id for p in corrections.purge(older_than=dt.timedelta(0))] == [enrolment.id]
    file = tmp_path / "after-purge.ektpbak"
    create_backup(ektp_deployment, file, PASSPHRASE)
    target = tmp_path / "restored"
    (tmp_path / "db2").mkdir()
    with temporary_database(tmp_path / "db2") as url:
        restore_backup(file, target, PASSPHRASE, database_url=url)
        engine = sa.create_engine(url)
        try:
            with engine.connect() as conn:
                mine = conn.execute(sa.select(sa.func.count()).where(blobs.c.enrolment_id == enrolment.id)).scalar()
                slots = conn.execute(sa.select(sa.func.count()).where(captures.c.enrolment_id == enrolment.id)).scalar()
                others = conn.execute(sa.select(sa.func.count()).select_from(blobs)).scalar()
        finally:
            engine.dispose()
    assert (mine, slots) == (0, 0) and others == 12
