"""The node's data keyring: the key that encrypts new biometric blobs and the retired keys that still
read older ones.

Key files in the deployment's ``keys/`` folder (each 32 raw bytes, mode 0600):

* ``data.key``: the **current** key. New blobs are encrypted with it. ``ektp init`` makes it.
* ``data.<id>.key``: a key by its id. A rotation writes the new key this way before it becomes
  current, and keeps the key it replaces this way (a **retired** key: it no longer encrypts, it still
  reads the blobs not yet re-encrypted). So every key a blob may name has a file of its own.

A key's id is 8 hex digits derived from the key (the first 4 bytes of HMAC-SHA256 keyed with it):
no table maps ids to keys, a file whose content is not the key its name says is detected, and the id
reveals nothing about the key.

Blob formats (see :mod:`ektp_core.keys.crypto` for the first):

* ``EK1`` + nonce + ciphertext and tag: the format before keyrings. It names no key; it is the node's
  original key, found by trying the keys (current first); AES-GCM's tag tells the right one.
* ``EK2`` + key id (4 bytes) + nonce + ciphertext and tag. The associated data is the header (``EK2``
  and the key id) and the enrolment id, so neither the key id nor the enrolment can be changed
  without the blob failing its check.

A keyring loaded from ``keys/`` follows a rotation made by another process: before encrypting it
checks (one ``stat``) whether ``data.key`` was replaced, and a blob naming a key it does not know
makes it read ``keys/`` again once. So a running ``ektp serve`` keeps reading and writing during
and after ``ektp keys rotate-data-key``.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import re
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path

import attrs
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ektp_core.errors import EktpError
from ektp_core.keys.crypto import TamperedData, fsync_dir, new_data_key

#: The current key's file.
CURRENT_FILE = "data.key"
HEADER_V1 = b"EK1"
HEADER_V2 = b"EK2"
ID_BYTES = 4
_NONCE = 12
_TAG = 16
_KEY_FILE = re.compile(r"^data\.([0-9a-f]{8})\.key$")
_LOCK_FILE = ".data-key.lock"


class UnknownDataKey(TamperedData):
    """A blob names a data key this node does not have (its file was deleted, or the header altered)."""


def key_id(key: bytes) -> str:
    """The short id of a data key: 8 hex digits, derived from the key and revealing nothing of it."""
    return hmac.new(key, b"ektp data key id", hashlib.sha256).digest()[:ID_BYTES].hex()


def key_file(keys_dir: Path, key_id_: str) -> Path:
    """Where the key with this id is kept."""
    return keys_dir / f"data.{key_id_}.key"


def blob_key_id(blob: bytes) -> str | None:
    """The id of the key a blob names; None for an ``EK1`` blob (the original key, unnamed).

    Raises :class:`TamperedData` for a blob in no format ektp writes.
    """
    if blob[:3] == HEADER_V2 and len(blob) >= 3 + ID_BYTES + _NONCE + _TAG:
        return blob[3 : 3 + ID_BYTES].hex()
    if blob[:3] == HEADER_V1 and len(blob) >= 3 + _NONCE + _TAG:
        return None
    raise TamperedData("the blob is not an ektp encrypted blob (wrong header or too short)")


def header_for(key_id_: str) -> bytes:
    """The first bytes of every blob encrypted with this key (``EK2`` and the id)."""
    return HEADER_V2 + bytes.fromhex(key_id_)


def _read_key(path: Path) -> bytes:
    key = path.read_bytes()
    if len(key) != 32:
        raise EktpError(f"{path} is not a 256-bit key")
    return key


@attrs.frozen
class _Keys:
    """One consistent view of the keyring (replaced as a whole on reload, so readers need no lock)."""

    current_id: str
    keys: dict[str, bytes]
    #: ``data.key``'s (inode, mtime, size) when it was read; None for a keyring not read from files.
    stamp: tuple[int, int, int] | None = None


def _stamp(path: Path) -> tuple[int, int, int]:
    st = os.stat(path)
    return (st.st_ino, st.st_mtime_ns, st.st_size)


def _load(keys_dir: Path) -> _Keys:
    current_path = keys_dir / CURRENT_FILE
    # The stamp is taken before reading: should a rotation replace the file in between, the stamp is
    # the old file's and the next check reloads; taken after, an old key could pass for the new one.
    try:
        stamp = _stamp(current_path)
    except FileNotFoundError:
        raise EktpError(
            f"{current_path} is missing: without it no biometrics can be stored or read; restore keys/ from a backup"
        ) from None
    current = _read_key(current_path)
    keys = {key_id(current): current}
    for path in sorted(keys_dir.glob("data.*.key")):
        match = _KEY_FILE.match(path.name)
        if match is None:
            continue
        key = _read_key(path)
        if key_id(key) != match.group(1):
            raise EktpError(
                f"{path} does not hold data key {match.group(1)} (it holds key {key_id(key)}); "
                "a key file was renamed or overwritten: restore keys/ from a backup"
            )
        keys[match.group(1)] = key
    return _Keys(current_id=key_id(current), keys=keys, stamp=stamp)


class DataKeyring:
    """The node's data keys: the current one, which encrypts new blobs, and the retired ones, which
    still read older blobs. Safe to share between threads.

    Made with :meth:`load` (from ``keys/``, following rotations by other processes) or from keys in
    memory (``DataKeyring(key)``: a fixed keyring, for tests and tools).
    """

    def __init__(self, current: bytes, retired: Iterable[bytes] = ()) -> None:
        keys = {key_id(current): current}  # the current key first: EK1 blobs try it first
        keys.update((key_id(k), k) for k in retired if key_id(k) not in keys)
        self._keys = _Keys(current_id=key_id(current), keys=keys)
        self._dir: Path | None = None
        self._reload_lock = threading.Lock()

    @classmethod
    def load(cls, keys_dir: Path) -> DataKeyring:
        """The keyring in ``keys_dir`` (``data.key`` and every ``data.<id>.key``)."""
        state = _load(keys_dir)
        ring = cls(state.keys[state.current_id])
        ring._keys, ring._dir = state, keys_dir
        return ring

    @property
    def current_id(self) -> str:
        """The id of the key new blobs are encrypted with (``data.key`` as last read)."""
        return self._keys.current_id

    @property
    def ids(self) -> list[str]:
        """Every key id, the current one first."""
        state = self._keys
        return [state.current_id, *sorted(k for k in state.keys if k != state.current_id)]

    def reload(self) -> None:
        """Read ``keys/`` again (a keyring not loaded from files has nothing to reload)."""
        if self._dir is None:
            return
        with self._reload_lock:
            self._keys = _load(self._dir)

    def _fresh(self) -> _Keys:
        state = self._keys
        if self._dir is not None and state.stamp is not None:
            try:
                changed = _stamp(self._dir / CURRENT_FILE) != state.stamp
            except FileNotFoundError:
                # A rotation replaces data.key by a rename, so it is never missing; deleted by hand, the
                # key in memory still encrypts correctly, and the next start reports the missing file.
                changed = False
            if changed:
                self.reload()
                state = self._keys
        return state

    def key(self, key_id_: str) -> bytes:
        """The key with this id; ``keys/`` is read again once when it is not known (another process may
        have rotated). Raises :class:`UnknownDataKey` when it is still not there."""
        key = self._keys.keys.get(key_id_)
        if key is None and self._dir is not None:
            self.reload()
            key = self._keys.keys.get(key_id_)
        if key is None:
            raise UnknownDataKey(
                f"the blob is encrypted with data key {key_id_}, which this node does not have "
                f"(keys/data.{key_id_}.key is missing): restore it from a backup"
            )
        return key

    def encrypt(self, plaintext: bytes, *, record_id: str, key_id: str | None = None) -> bytes:
        """``EK2`` + the key's id + nonce + AES-256-GCM ciphertext, under the current key (or the key
        ``key_id``: a rotation names its target); the record id is authenticated, not stored."""
        state = self._fresh()
        kid = key_id or state.current_id
        key = state.keys.get(kid) or self.key(kid)
        header = header_for(kid)
        nonce = os.urandom(_NONCE)
        return header + nonce + AESGCM(key).encrypt(nonce, plaintext, header + record_id.encode("utf-8"))

    def decrypt(self, blob: bytes, *, record_id: str) -> bytes:
        """The plaintext of an ``EK1`` or ``EK2`` blob, or :class:`TamperedData` when the blob, its key or
        the record id does not match (:class:`UnknownDataKey` when it names a key this node lacks)."""
        named = blob_key_id(blob)
        failed = TamperedData(f"the blob for record {record_id} failed its integrity check; it was not decoded")
        if named is None:
            # EK1 names no key: it is the node's original key, current or retired. Try each.
            for candidate in self._keys.keys.values():
                with contextlib.suppress(InvalidTag):
                    return AESGCM(candidate).decrypt(blob[3:15], blob[15:], record_id.encode("utf-8"))
            raise failed
        start = 3 + ID_BYTES
        try:
            return AESGCM(self.key(named)).decrypt(
                blob[start : start + _NONCE], blob[start + _NONCE :], blob[:start] + record_id.encode("utf-8")
            )
        except InvalidTag:
            raise failed from None


def as_keyring(key: DataKeyring | bytes) -> DataKeyring:
    """A keyring as is; raw key bytes as a fixed keyring of that one key."""
    return key if isinstance(key, DataKeyring) else DataKeyring(key)


# --------------------------------------------------------------------------------------------------
# Changing the key files (used by a rotation)
# --------------------------------------------------------------------------------------------------


def write_atomically(path: Path, data: bytes) -> None:
    """Write a secret (0600 from its first byte) under a temporary name, flush it, then rename it into
    place: a reader sees the old file or the new one, never a half-written key."""
    temp = path.with_name(f".{path.name}.{os.urandom(4).hex()}.tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def keep_by_id(keys_dir: Path, key: bytes) -> str:
    """Make sure ``key`` has its own ``data.<id>.key`` file; its id. An existing file is checked, never
    overwritten."""
    kid = key_id(key)
    path = key_file(keys_dir, kid)
    if path.exists():
        if _read_key(path) != key:
            raise EktpError(f"{path} does not hold data key {kid}; restore keys/ from a backup")
    else:
        write_atomically(path, key)
    return kid


def prepare_new_key(keys_dir: Path) -> tuple[str, str]:
    """The first step of a rotation: keep the current key as ``data.<id>.key`` and write a new key as
    ``data.<new id>.key``; ``(current id, new id)``. Nothing uses the new key yet."""
    old = _load(keys_dir)
    old_id = keep_by_id(keys_dir, old.keys[old.current_id])
    while True:
        new = new_data_key()
        if key_id(new) not in old.keys:  # an id clash (1 in 4 billion) would make two keys one
            break
    return old_id, keep_by_id(keys_dir, new)


def make_current(keys_dir: Path, key_id_: str) -> None:
    """Replace ``data.key`` (atomically) with the key kept as ``data.<key_id_>.key``: from now on every
    process encrypts new blobs with it. The key it replaces must already be kept by its id."""
    state = _load(keys_dir)
    if not key_file(keys_dir, state.current_id).exists():
        raise EktpError(
            f"the current data key {state.current_id} is not kept as "
            f"{key_file(keys_dir, state.current_id).name}; it would be lost"
        )
    key = _read_key(key_file(keys_dir, key_id_))
    if key_id(key) != key_id_:
        raise EktpError(f"{key_file(keys_dir, key_id_)} does not hold data key {key_id_}")
    write_atomically(keys_dir / CURRENT_FILE, key)


def check_forgettable(keys_dir: Path, key_id_: str) -> Path:
    """The file of the retired key ``key_id_``; refuses the current key and an unknown id."""
    state = _load(keys_dir)
    if key_id_ == state.current_id:
        raise EktpError(f"data key {key_id_} is the current key; it cannot be forgotten (rotate first)")
    path = key_file(keys_dir, key_id_)
    if not path.exists():
        raise EktpError(f"this node has no data key {key_id_} (its keys: {', '.join(sorted(state.keys))})")
    return path


def forget_key(path: Path) -> None:
    """Delete a retired key's file (the caller has checked, with :func:`check_forgettable` and the
    blobs, that nothing uses it)."""
    path.unlink()
    fsync_dir(path.parent)


@contextlib.contextmanager
def rotation_lock(keys_dir: Path) -> Iterator[None]:
    """Hold a lock for changing the data keys: two rotations at once would each make a key and
    re-encrypt blobs back and forth. Released when the process ends, however it ends (POSIX only;
    elsewhere there is no lock)."""
    handle = open(keys_dir.parent / _LOCK_FILE, "a+")  # noqa: SIM115 - closed below
    try:
        try:
            import fcntl
        except ImportError:
            yield
            return
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise EktpError(
                "another `ektp keys` command is changing this node's data keys; wait for it to finish"
            ) from None
        yield
    finally:
        handle.close()
