"""Rotating a node's data key: every blob re-encrypted under the new key and read back identical, a
stopped rotation resumed, a tampered blob refused, retired keys forgotten only when unused, a running
service following the rotation (run by another process: tests/integration/
test_data_key_rotation_across_processes.py), and backups of a rotated node."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from click.testing import CliRunner
from datakeykit import FINGERS, blob_rows, fill_node, plaintexts
from ektp_plugins.backup.archive import create_backup, restore_backup

from ektp_core.cli import cli
from ektp_core.config import Deployment, load_deployment
from ektp_core.errors import EktpError
from ektp_core.keys import crypto, data_keys
from ektp_core.keys.crypto import TamperedData
from ektp_core.keys.data_keys import DataKeyring, UnknownDataKey
from ektp_core.lifecycle import audit
from ektp_core.lifecycle.service import LifecycleService
from ektp_core.services import data_key_rotation
from ektp_core.services.capture import CaptureService
from ektp_core.services.printing import PrintService
from ektp_core.store import blobs as blob_store
from ektp_core.store.tables import blobs
from ektp_core.testing.databases import temporary_database


def _actions(lc: LifecycleService) -> list[str]:
    with lc.store.read() as conn:
        return [e.action for e in audit.entries(conn) if e.action.startswith("data_key.")]


@pytest.fixture
def node(ektp_deployment: Deployment, ektp_service: LifecycleService) -> tuple[Deployment, LifecycleService, dict]:
    return ektp_deployment, ektp_service, fill_node(ektp_service)


# --------------------------------------------------------------------------------------------------
# The keyring itself
# --------------------------------------------------------------------------------------------------


def test_blobs_name_their_key_and_original_format_blobs_stay_readable() -> None:
    old, new = crypto.new_data_key(), crypto.new_data_key()
    original = crypto.encrypt(old, b"photo", record_id="e1")  # as written before keyrings
    ring = DataKeyring(new, [old])
    assert ring.current_id == data_keys.key_id(new) and ring.ids == [data_keys.key_id(new), data_keys.key_id(old)]
    assert ring.decrypt(original, record_id="e1") == b"photo"
    blob = ring.encrypt(b"photo", record_id="e1")
    assert blob[:3] == b"EK2" and data_keys.blob_key_id(blob) == ring.current_id and b"photo" not in blob
    assert ring.decrypt(blob, record_id="e1") == b"photo"
    with pytest.raises(TamperedData, match="e2"):  # moved to another enrolment
        ring.decrypt(blob, record_id="e2")
    with pytest.raises(TamperedData):
        ring.decrypt(blob[:-1] + bytes([blob[-1] ^ 1]), record_id="e1")
    # The key id is authenticated: pointing the blob at the other key of the ring does not decode it.
    relabelled = b"EK2" + bytes.fromhex(data_keys.key_id(old)) + blob[7:]
    with pytest.raises(TamperedData):
        ring.decrypt(relabelled, record_id="e1")
    with pytest.raises(UnknownDataKey, match="deadbeef"):
        ring.decrypt(b"EK2" + bytes.fromhex("deadbeef") + blob[7:], record_id="e1")
    with pytest.raises(TamperedData, match="wrong header"):
        ring.decrypt(b"EK9" + blob[3:], record_id="e1")
    with pytest.raises(TamperedData):  # the old-format reader refuses what it cannot read
        crypto.decrypt(new, blob, record_id="e1")


def test_a_key_file_that_is_not_the_key_its_name_says_is_refused(tmp_path: Path) -> None:
    crypto.save_node_keys(tmp_path)
    crypto.write_private_file(tmp_path / "data.0badc0de.key", crypto.new_data_key())
    with pytest.raises(EktpError, match="does not hold data key 0badc0de"):
        DataKeyring.load(tmp_path)


# --------------------------------------------------------------------------------------------------
# A rotation
# --------------------------------------------------------------------------------------------------


def test_after_a_rotation_every_blob_is_under_the_new_key_and_reads_back_identical(node, ektp_host) -> None:
    deployment, lc, named = node
    keys = deployment.keys_dir
    before = plaintexts(deployment)
    old_id = lc.data_key.current_id
    capture = CaptureService(lc)
    photos = {
        name: PrintService(lc, ektp_host, deployment).card_data(lc.jobs_by_id(job), (1016, 648)).photo
        for name, job in named.items()
        if name.startswith("job")
    }
    fingers = {p: capture.image(named["fingers"], "finger", p) for p in FINGERS}
    with lc.store.read() as conn:
        assert blob_store.key_usage(conn) == {old_id: len(before) - 6, "EK1": 6}

    seen: list[tuple[int, int]] = []
    report = data_key_rotation.rotate(
        lc.store, keys, actor="admin1", site="17.71", batch=3, progress=lambda done, total: seen.append((done, total))
    )

    assert report.key_id != old_id and report.retired == [old_id] and not report.resumed
    assert report.reencrypted == len(before) and report.skipped == 0
    assert seen[0] == (0, len(before)) and seen[-1] == (len(before), len(before))
    assert data_keys.key_id(crypto.load_data_key(keys)) == report.key_id
    for name in ("data.key", f"data.{old_id}.key", f"data.{report.key_id}.key"):
        assert stat.S_IMODE((keys / name).stat().st_mode) == 0o600
    assert not (keys / data_key_rotation.MARKER_FILE).exists()
    header = data_keys.header_for(report.key_id)
    assert all(c.startswith(header) for _e, c in blob_rows(lc).values())
    assert plaintexts(deployment) == before  # nothing lost, nothing encrypted twice
    # Through the normal services, on the service opened before the rotation too.
    for name, job in named.items():
        if name.startswith("job"):
            card = PrintService(lc, ektp_host, deployment).card_data(lc.jobs_by_id(job), (1016, 648))
            assert card.photo == photos[name]
    assert {p: capture.image(named["fingers"], "finger", p) for p in FINGERS} == fingers
    status = data_key_rotation.status(lc.store, keys)
    assert [(k.key_id, k.current, k.blobs) for k in status.keys] == [
        (report.key_id, True, len(before)),
        (old_id, False, 0),
    ]
    assert status.original_format == 0 and status.rotating_to is None
    assert _actions(lc) == ["data_key.rotation_started", "data_key.rotated"]
    with lc.store.read() as conn:
        assert audit.verify(conn).ok


def test_a_blob_written_with_the_old_key_during_the_rotation_is_re_encrypted_too(node) -> None:
    deployment, lc, named = node
    old_key = crypto.load_data_key(deployment.keys_dir)
    eid = named["fingers"]

    def stale_writer(done: int, _total: int) -> None:
        # A process that has not seen the new key yet stores a blob behind the rotation's position.
        if done == 4:
            with lc.store.write() as conn:
                blob_store.put(
                    conn,
                    DataKeyring(old_key),
                    enrolment_id=eid,
                    ref="0" * 32,
                    kind="finger/late",
                    data=b"late finger",
                    at=lc.clock(),
                )

    report = data_key_rotation.rotate(lc.store, deployment.keys_dir, actor="admin1", batch=4, progress=stale_writer)
    assert report.reencrypted == 15
    assert all(c.startswith(data_keys.header_for(report.key_id)) for _e, c in blob_rows(lc).values())
    assert plaintexts(deployment)["0" * 32] == b"late finger"


def test_a_rotation_stopped_midway_resumes_and_ends_correct(node, monkeypatch) -> None:
    deployment, lc, _named = node
    keys = deployment.keys_dir
    before, rows_before = plaintexts(deployment), blob_rows(lc)
    real = blob_store.reencrypt_batch
    calls = []

    def power_cut_after_two_batches(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("power cut")
        return real(*args, **kwargs)

    monkeypatch.setattr(blob_store, "reencrypt_batch", power_cut_after_two_batches)
    with pytest.raises(RuntimeError, match="power cut"):
        data_key_rotation.rotate(lc.store, keys, actor="admin1", batch=4)
    monkeypatch.setattr(blob_store, "reencrypt_batch", real)

    target = data_key_rotation.status(lc.store, keys).rotating_to
    assert target is not None and data_keys.key_id(crypto.load_data_key(keys)) == target
    rows = blob_rows(lc)
    moved = [ref for ref, (_e, c) in rows.items() if c.startswith(data_keys.header_for(target))]
    assert len(moved) == 8  # two batches of four, the third rolled back
    assert all(rows[ref] == rows_before[ref] for ref in rows if ref not in moved)
    assert plaintexts(deployment) == before  # readable in the middle of a rotation
    with pytest.raises(EktpError, match="has not finished"):
        data_key_rotation.forget(lc.store, keys, lc.data_key.ids[-1], actor="admin1")

    report = data_key_rotation.rotate(lc.store, keys, actor="admin1", batch=4)
    assert report.resumed and report.key_id == target  # the same rotation, no third key
    assert report.skipped == 8 and report.reencrypted == len(before) - 8
    assert len(DataKeyring.load(keys).ids) == 2
    assert all(c.startswith(data_keys.header_for(target)) for _e, c in blob_rows(lc).values())
    assert plaintexts(deployment) == before
    assert _actions(lc) == ["data_key.rotation_started", "data_key.rotated"]


def test_a_rotation_stopped_before_the_new_key_became_current_resumes_with_that_key(node, monkeypatch) -> None:
    deployment, lc, _named = node
    keys = deployment.keys_dir
    before = plaintexts(deployment)
    old_id = lc.data_key.current_id

    def crash(*_a, **_k):
        raise OSError("disk full")

    monkeypatch.setattr(data_keys, "make_current", crash)
    with pytest.raises(OSError):
        data_key_rotation.rotate(lc.store, keys, actor="admin1")
    monkeypatch.undo()
    target = data_key_rotation.status(lc.store, keys).rotating_to
    assert target and target != old_id and DataKeyring.load(keys).current_id == old_id  # old key still current
    report = data_key_rotation.rotate(lc.store, keys, actor="admin1")
    assert report.resumed and report.key_id == target and report.retired == [old_id]
    assert plaintexts(deployment) == before


def test_a_missing_retired_key_is_shown_and_stops_the_rotation_until_it_is_back(node, monkeypatch) -> None:
    deployment, lc, _named = node
    keys = deployment.keys_dir
    old_id = lc.data_key.current_id

    def power_cut(*_a, **_k):
        raise RuntimeError("power cut")

    monkeypatch.setattr(blob_store, "reencrypt_batch", power_cut)  # the new key is installed, nothing re-encrypted
    with pytest.raises(RuntimeError):
        data_key_rotation.rotate(lc.store, keys, actor="admin1")
    monkeypatch.undo()
    kept = keys / f"data.{old_id}.key"
    hidden = kept.rename(keys.parent / "elsewhere.key")
    status = data_key_rotation.status(lc.store, keys)
    assert (
        status.missing == {old_id: 8} and status.original_format == 6 and old_id not in [k.key_id for k in status.keys]
    )
    result = CliRunner().invoke(cli, ["keys", "status", "-d", str(deployment.root)])
    assert f"{old_id}  MISSING" in result.output and "has not finished" in result.output
    with pytest.raises(data_key_rotation.RotationStopped, match="cannot be read"):
        data_key_rotation.rotate(lc.store, keys, actor="admin1")
    hidden.rename(kept)
    assert data_key_rotation.rotate(lc.store, keys, actor="admin1").reencrypted == 14


def test_a_tampered_blob_stops_the_rotation_and_is_named(node) -> None:
    deployment, lc, _named = node
    keys = deployment.keys_dir
    rows = blob_rows(lc)
    refs = sorted(rows)
    bad, moved = refs[5], refs[9]
    eid, cipher = rows[bad]
    other_eid = next(e for e, _c in rows.values() if e != rows[moved][0])
    with lc.store.write() as conn:
        conn.execute(blobs.update().where(blobs.c.ref == bad).values(ciphertext=cipher[:-1] + bytes([cipher[-1] ^ 1])))
    tampered = blob_rows(lc)

    with pytest.raises(
        data_key_rotation.RotationStopped, match=f"blob {bad} of enrolment {eid} cannot be read"
    ) as stopped:
        data_key_rotation.rotate(lc.store, keys, actor="admin1", batch=2)
    assert "4 of" in str(stopped.value) and "run `ektp keys rotate-data-key` again" in str(stopped.value)
    target = DataKeyring.load(keys).current_id
    after = blob_rows(lc)
    # The two batches before it are re-encrypted; its own batch (refs[4] too) and the rest are unchanged.
    assert [r for r in refs if after[r][1].startswith(data_keys.header_for(target))] == refs[:4]
    assert all(after[r] == tampered[r] for r in refs[4:])
    assert _actions(lc)[-1] == "data_key.rotation_stopped"

    # Put the good blob back (as from a backup); now a blob moved to another enrolment is refused.
    with lc.store.write() as conn:
        conn.execute(blobs.update().where(blobs.c.ref == bad).values(ciphertext=cipher))
        conn.execute(blobs.update().where(blobs.c.ref == moved).values(enrolment_id=other_eid))
    with pytest.raises(data_key_rotation.RotationStopped, match=f"blob {moved} of enrolment {other_eid}"):
        data_key_rotation.rotate(lc.store, keys, actor="admin1", batch=2)
    with lc.store.write() as conn:
        conn.execute(blobs.update().where(blobs.c.ref == moved).values(enrolment_id=rows[moved][0]))
    report = data_key_rotation.rotate(lc.store, keys, actor="admin1", batch=2)
    assert report.resumed and report.key_id == target
    assert all(c.startswith(data_keys.header_for(target)) for _e, c in blob_rows(lc).values())


def test_forgetting_a_key_is_refused_while_a_blob_may_use_it(node) -> None:
    deployment, lc, named = node
    keys = deployment.keys_dir
    old_key = crypto.load_data_key(keys)
    old_id = data_keys.key_id(old_key)
    report = data_key_rotation.rotate(lc.store, keys, actor="admin1")
    # A process that had not yet seen the new key wrote one blob with the old one.
    eid, _c = next(iter(blob_rows(lc).values()))
    late = blob_store.new_ref()
    with lc.store.write() as conn:
        blob_store.put(
            conn, DataKeyring(old_key), enrolment_id=eid, ref=late, kind="face/face", data=b"late", at=lc.clock()
        )
    with pytest.raises(EktpError, match=f"data key {old_id} still encrypts 1 blobs"):
        data_key_rotation.forget(lc.store, keys, old_id, actor="admin1")
    with pytest.raises(EktpError, match="is the current key"):
        data_key_rotation.forget(lc.store, keys, report.key_id, actor="admin1")
    with lc.store.write() as conn:  # an EK1 blob names no key: it could be under any of them
        conn.execute(
            blobs.update().where(blobs.c.ref == late).values(ciphertext=crypto.encrypt(old_key, b"late", record_id=eid))
        )
    with pytest.raises(EktpError, match="original format"):
        data_key_rotation.forget(lc.store, keys, old_id, actor="admin1")
    assert (keys / f"data.{old_id}.key").exists()

    result = CliRunner().invoke(cli, ["keys", "status", "-d", str(deployment.root)])
    assert result.exit_code == 0 and "original format (EK1, names no key): 1 blobs" in result.output
    # A new rotation takes that blob too (the keyring runs no rotation now, so a new key is made).
    second = data_key_rotation.rotate(lc.store, keys, actor="admin1")
    assert not second.resumed and sorted(second.retired) == sorted([old_id, report.key_id])
    result = CliRunner().invoke(cli, ["keys", "forget-data-key", old_id, "--as", "admin1", "-d", str(deployment.root)])
    assert result.exit_code == 0, result.output
    assert not (keys / f"data.{old_id}.key").exists()
    result = CliRunner().invoke(cli, ["keys", "forget-data-key", old_id, "-d", str(deployment.root)])
    assert result.exit_code == 1 and "has no data key" in result.output
    assert _actions(lc)[-1] == "data_key.forgotten"
    assert old_id not in DataKeyring.load(keys).ids
    assert CaptureService(lc).image(named["fingers"], "finger", "right_index").startswith(b"finger right_index")


def test_two_rotations_at_once_are_refused(node) -> None:
    deployment, lc, _named = node
    with data_keys.rotation_lock(deployment.keys_dir), pytest.raises(EktpError, match="another `ektp keys`"):
        data_key_rotation.rotate(lc.store, deployment.keys_dir, actor="admin1")


# --------------------------------------------------------------------------------------------------
# Backups
# --------------------------------------------------------------------------------------------------


def test_a_backup_taken_midway_through_a_rotation_restores_readable_and_the_rotation_finishes(
    node, tmp_path: Path, monkeypatch
) -> None:
    deployment, lc, _named = node
    before = plaintexts(deployment)
    real = blob_store.reencrypt_batch
    calls = []

    def stop_after_one(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(blob_store, "reencrypt_batch", stop_after_one)
    with pytest.raises(KeyboardInterrupt):
        data_key_rotation.rotate(lc.store, deployment.keys_dir, actor="admin1", batch=5)
    monkeypatch.undo()

    file = tmp_path / "node.ektpbak"
    report = create_backup(deployment, file, "kunci cadangan yang panjang")
    kept = {name for name in report.files if name.startswith("keys/data.")}
    assert len(kept) == 4  # data.key, the retired key, the new key, the rotation marker
    (tmp_path / "db2").mkdir()
    with temporary_database(tmp_path / "db2") as url:
        restore_backup(file, tmp_path / "restored", "kunci cadangan yang panjang", database_url=url)
        restored = load_deployment(tmp_path / "restored")
        assert plaintexts(restored) == before  # both keys came back
        store = restored.open_store()
        try:
            finished = data_key_rotation.rotate(store, restored.keys_dir, actor="admin1")
        finally:
            store.dispose()
        assert finished.resumed and finished.reencrypted == len(before) - 5
        assert plaintexts(restored) == before
