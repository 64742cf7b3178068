"""Rotating the node's data key: a new current key, every blob re-encrypted under it, the old key
retired (and deleted later, once nothing uses it).

A rotation, run by ``ektp keys rotate-data-key``:

1. keeps the current key as ``keys/data.<id>.key``, writes a new key as ``keys/data.<new id>.key``,
   writes the marker ``keys/data.rotating`` (the new id), then replaces ``keys/data.key`` with the
   new key (each step an atomic write; see :func:`ektp_core.keys.data_keys.install_new_key`). From then on
   every process encrypts new blobs with the new key;
2. re-encrypts the blobs not yet under the new key, in batches ordered by reference, each batch one
   transaction (a stop loses nothing: a batch is all done or not at all);
3. counts again (a blob written by another process just before it saw the new key), and when no blob
   is left under another key, audits ``data_key.rotated`` and removes the marker.

Run again after a stop, it finds the marker and finishes the same rotation (blobs already under the
new key are skipped) instead of making another key. A blob that fails its check stops the rotation
at its batch, which is left as it was, and is named; the blobs before it are already re-encrypted
and readable, the rest are still under the retired key and readable too.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs

from ektp_core.errors import EktpError
from ektp_core.keys import data_keys
from ektp_core.keys.data_keys import DataKeyring
from ektp_core.lifecycle import audit
from ektp_core.lifecycle.actions import AuditAction
from ektp_core.store import blobs as blob_store

#: Marks a rotation that has not finished (it holds the id of the key it re-encrypts to).
MARKER_FILE = "data.rotating"
#: Blobs re-encrypted per transaction: a fingerprint image is up to a few hundred kB, so a batch stays
#: within tens of MB of memory and a transaction stays short for the node's other writers.
BATCH = 100
#: Passes over the table before giving up on blobs that keep appearing under an old key (a process
#: that writes with a fixed key and never sees the new one).
MAX_PASSES = 5

Progress = Callable[[int, int], object]


class RotationStopped(EktpError):
    """A rotation could not finish; what was re-encrypted stays so, and running it again resumes."""

    message_code = "error.rotation_stopped"


@attrs.frozen(kw_only=True)
class KeyUsage:
    """One data key and how many blobs it encrypts."""

    key_id: str
    current: bool
    blobs: int


@attrs.frozen(kw_only=True)
class KeyringStatus:
    """The node's data keys and what they encrypt."""

    keys: list[KeyUsage]
    #: Blobs in the original format (``EK1``, naming no key).
    original_format: int
    #: Blobs naming a key this node has no file for: id -> count (unreadable until the key is restored).
    missing: dict[str, int]
    #: Blobs in no format ektp writes.
    unreadable: int
    #: The key an unfinished rotation re-encrypts to, if one stopped midway.
    rotating_to: str | None

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready form (``ektp keys status --json``)."""
        return {
            "keys": [attrs.asdict(k) for k in self.keys],
            "original_format": self.original_format,
            "missing": self.missing,
            "unreadable": self.unreadable,
            "rotating_to": self.rotating_to,
        }


@attrs.frozen(kw_only=True)
class RotationReport:
    """What a rotation did."""

    key_id: str
    retired: list[str]
    reencrypted: int
    #: Blobs already under the new key when the run started (a resumed rotation's earlier batches).
    skipped: int
    resumed: bool


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _marker(keys_dir: Path) -> str | None:
    path = keys_dir / MARKER_FILE
    if not path.exists():
        return None
    text = path.read_text("ascii").strip()
    if len(text) != 2 * data_keys.ID_BYTES or any(c not in "0123456789abcdef" for c in text):
        raise EktpError(f"{path} is damaged ({text!r}); it should hold the id of the key a rotation moves to")
    return text


def status(store: Any, keys_dir: Path) -> KeyringStatus:
    """Every data key of the node with the number of blobs under it."""
    ring = DataKeyring.load(keys_dir)
    with store.read() as conn:
        usage = blob_store.key_usage(conn)
    keys = [KeyUsage(key_id=kid, current=kid == ring.current_id, blobs=usage.get(kid, 0)) for kid in ring.ids]
    known = {*ring.ids, blob_store.ORIGINAL_FORMAT, blob_store.UNREADABLE_FORMAT}
    return KeyringStatus(
        keys=keys,
        original_format=usage.get(blob_store.ORIGINAL_FORMAT, 0),
        missing={k: n for k, n in sorted(usage.items()) if k not in known},
        unreadable=usage.get(blob_store.UNREADABLE_FORMAT, 0),
        rotating_to=_marker(keys_dir),
    )


def _start(store: Any, keys_dir: Path, *, actor: str, site: str) -> tuple[DataKeyring, bool]:
    """The keyring with the rotation's target as its current key, and whether an earlier run is resumed."""
    target = _marker(keys_dir)
    if target is None:
        old_id, target = data_keys.prepare_new_key(keys_dir)
        data_keys.write_atomically(keys_dir / MARKER_FILE, target.encode("ascii"))
        data_keys.make_current(keys_dir, target)
        with store.write() as conn:
            audit.append(
                conn,
                actor=actor,
                action=AuditAction.DATA_KEY_ROTATION_STARTED,
                subject_kind="data_key",
                subject_id=target,
                detail={"site": site, "retired": old_id},
                at=_now(),
            )
        return DataKeyring.load(keys_dir), False
    ring = DataKeyring.load(keys_dir)
    if ring.current_id != target:
        # Stopped between writing the marker and replacing data.key: finish that step first.
        if target not in ring.ids:
            raise RotationStopped(
                f"{keys_dir / MARKER_FILE} names data key {target}, but "
                f"{data_keys.key_file(keys_dir, target)} is missing; restore keys/ from a backup"
            )
        data_keys.make_current(keys_dir, target)
        ring = DataKeyring.load(keys_dir)
    return ring, True


def rotate(
    store: Any,
    keys_dir: Path,
    *,
    actor: str,
    site: str = "",
    batch: int = BATCH,
    progress: Progress = lambda _done, _total: None,
) -> RotationReport:
    """Rotate the data key (or finish a rotation that stopped); see the module's description.

    Raises :class:`RotationStopped` naming a blob that fails its check; the rotation can be run again
    once that blob is dealt with.
    """
    if batch < 1:
        raise EktpError("the batch size must be at least 1")
    with data_keys.rotation_lock(keys_dir):
        ring, resumed = _start(store, keys_dir, actor=actor, site=site)
        target = ring.current_id
        with store.read() as conn:
            total = blob_store.count_not_under(conn, target)
            skipped = sum(blob_store.key_usage(conn).values()) - total
        done, left = 0, total
        progress(done, total)
        for _pass in range(MAX_PASSES):
            after = ""
            while True:
                try:
                    with store.write() as conn:
                        count, last = blob_store.reencrypt_batch(conn, ring, after=after, limit=batch)
                except blob_store.UnreadableBlob as exc:
                    with store.write() as conn:
                        audit.append(
                            conn,
                            actor=actor,
                            action=AuditAction.DATA_KEY_ROTATION_STOPPED,
                            subject_kind="data_key",
                            subject_id=target,
                            detail={"site": site, "blob": exc.ref, "enrolment": exc.enrolment_id, "reencrypted": done},
                            at=_now(),
                        )
                    raise RotationStopped(
                        f"{exc}. The rotation stopped: {done} of {total} blobs re-encrypted; nothing in that "
                        "blob's batch or after it was changed, and every other blob stays readable under its "
                        "key. Restore that blob (or the key it names) from a backup, then run "
                        "`ektp keys rotate-data-key` again: it resumes"
                    ) from None
                if last is None:
                    break
                done, after = done + count, last
                total = max(total, done)
                progress(done, total)
            with store.read() as conn:
                left = blob_store.count_not_under(conn, target)
            if not left:
                break
            total += left  # written under the old key by a process that had not yet seen the new one
        else:
            raise RotationStopped(
                f"{left} blobs keep appearing under another data key: a process writes with a "
                f"fixed key and has not seen key {target}; restart it and run this again"
            )
        retired = [kid for kid in ring.ids if kid != target]
        with store.write() as conn:
            audit.append(
                conn,
                actor=actor,
                action=AuditAction.DATA_KEY_ROTATED,
                subject_kind="data_key",
                subject_id=target,
                detail={"site": site, "reencrypted": done, "retired": retired, "resumed": resumed},
                at=_now(),
            )
        (keys_dir / MARKER_FILE).unlink(missing_ok=True)
    return RotationReport(key_id=target, retired=retired, reencrypted=done, skipped=skipped, resumed=resumed)


def forget(store: Any, keys_dir: Path, key_id: str, *, actor: str, site: str = "") -> Path:
    """Delete the retired data key ``key_id``; refused while a blob may still be encrypted with it (a
    blob naming it, or any blob in the original ``EK1`` format, which names no key), during a
    rotation, and for the current key. The deleted file's path."""
    with data_keys.rotation_lock(keys_dir):
        if _marker(keys_dir) is not None:
            raise EktpError("a data key rotation has not finished; run `ektp keys rotate-data-key` to finish it first")
        path = data_keys.check_forgettable(keys_dir, key_id)
        with store.write() as conn:
            usage = blob_store.key_usage(conn)
            if usage.get(key_id):
                raise EktpError(
                    f"data key {key_id} still encrypts {usage[key_id]} blobs; it cannot be forgotten "
                    "(run `ektp keys rotate-data-key` to re-encrypt them)"
                )
            if usage.get(blob_store.ORIGINAL_FORMAT):
                raise EktpError(
                    f"{usage[blob_store.ORIGINAL_FORMAT]} blobs are in the original format, which names "
                    f"no key, so they may be under data key {key_id}; it cannot be forgotten (run "
                    "`ektp keys rotate-data-key` to re-encrypt them)"
                )
            audit.append(
                conn,
                actor=actor,
                action=AuditAction.DATA_KEY_FORGOTTEN,
                subject_kind="data_key",
                subject_id=key_id,
                detail={"site": site},
                at=_now(),
            )
            # Deleted last, inside the transaction: a failed delete leaves no audit entry claiming it.
            data_keys.forget_key(path)
    return path
