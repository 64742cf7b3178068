"""Encrypted blobs: biometric images and templates at rest.

Each blob is AES-256-GCM encrypted with the node's current data key and the enrolment id as
associated data, so a blob copied onto another enrolment, or altered, fails to decrypt instead of
decoding. A blob names the key that encrypted it (:mod:`ektp_core.keys.data_keys`), so blobs under a
retired key stay readable while a rotation re-encrypts them (:func:`reencrypt_batch`).
"""

from __future__ import annotations

import datetime as dt
import os
import time
from collections.abc import Iterable

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ektp_core.errors import EktpError, NotFound
from ektp_core.keys.crypto import TamperedData
from ektp_core.keys.data_keys import HEADER_V1, HEADER_V2, ID_BYTES, DataKeyring, as_keyring, header_for
from ektp_core.store.tables import blobs

#: The longest blob reference the ``blobs`` table holds.
MAX_REF_LENGTH = 64

_INSERT = blobs.insert()
_BY_REF = sa.select(blobs.c.enrolment_id, blobs.c.ciphertext).where(blobs.c.ref == sa.bindparam("ref"))


def new_ref() -> str:
    """A new opaque blob reference: time-ordered (nanoseconds, then random), so new blobs are appended
    at the end of the table's key instead of at random places in a large, growing table."""
    return f"{time.time_ns():016x}{os.urandom(8).hex()}"


def put_many(
    conn: Connection,
    key: DataKeyring | bytes,
    *,
    enrolment_id: str,
    items: Iterable[tuple[str, str, bytes]],
    at: dt.datetime,
) -> None:
    """Encrypt and store several ``(ref, kind, data)`` blobs of one enrolment in one statement, under
    the keyring's current key (raw key bytes: under that key)."""
    ring = as_keyring(key)
    rows = []
    for ref, kind, data in items:
        if not ref or len(ref) > MAX_REF_LENGTH:
            raise EktpError(f"blob reference {ref!r} must be 1-{MAX_REF_LENGTH} characters")
        rows.append(
            {
                "ref": ref,
                "enrolment_id": enrolment_id,
                "kind": kind,
                "ciphertext": ring.encrypt(data, record_id=enrolment_id),
                "created_at": at,
            }
        )
    if rows:
        conn.execute(_INSERT, rows)


def put(
    conn: Connection, key: DataKeyring | bytes, *, enrolment_id: str, ref: str, kind: str, data: bytes, at: dt.datetime
) -> None:
    """Encrypt ``data`` under the keyring's current key and store it under ``ref`` in the caller's
    transaction."""
    if not ref or len(ref) > MAX_REF_LENGTH:
        # Checked here, not left to the database: SQLite would store a longer one, PostgreSQL refuse it.
        raise EktpError(f"blob reference {ref!r} must be 1-{MAX_REF_LENGTH} characters")
    conn.execute(
        _INSERT,
        {
            "ref": ref,
            "enrolment_id": enrolment_id,
            "kind": kind,
            "ciphertext": as_keyring(key).encrypt(data, record_id=enrolment_id),
            "created_at": at,
        },
    )


def get(conn: Connection, key: DataKeyring | bytes, *, ref: str, enrolment_id: str) -> bytes:
    """The decrypted blob, whichever of the keyring's keys encrypted it. Raises :class:`NotFound`, or
    ``TamperedData`` when it fails its check (altered, or stored for another enrolment)."""
    row = conn.execute(_BY_REF, {"ref": ref}).one_or_none()
    if row is None:
        raise NotFound("blob", ref)
    # Decrypt with the enrolment the caller asked about, not the row's: a row moved between
    # enrolments is refused by the cipher's tag.
    return as_keyring(key).decrypt(bytes(row.ciphertext), record_id=enrolment_id)


# --------------------------------------------------------------------------------------------------
# Data key rotation: which key encrypts which blob, and re-encrypting them
# --------------------------------------------------------------------------------------------------

#: Blobs in the original format name no key; blobs in no format ektp writes are counted apart.
ORIGINAL_FORMAT = "EK1"
UNREADABLE_FORMAT = "?"


class UnreadableBlob(TamperedData):
    """A blob failed its check during a re-encryption; nothing of its batch was changed."""

    def __init__(self, ref: str, enrolment_id: str, reason: str) -> None:
        super().__init__(f"blob {ref} of enrolment {enrolment_id} cannot be read ({reason})")
        self.ref, self.enrolment_id = ref, enrolment_id


def _head(length: int) -> sa.ColumnElement[bytes]:
    return sa.func.substr(blobs.c.ciphertext, 1, length, type_=sa.LargeBinary)


def _not_under(key_id: str) -> sa.ColumnElement[bool]:
    return _head(3 + ID_BYTES) != sa.literal(header_for(key_id), sa.LargeBinary)


def key_usage(conn: Connection) -> dict[str, int]:
    """How many blobs each key encrypts: key id -> count, plus :data:`ORIGINAL_FORMAT` for ``EK1`` blobs
    and :data:`UNREADABLE_FORMAT` for blobs in no known format. Reads only each blob's first bytes."""
    head = _head(3)
    label = sa.case(
        (
            head == sa.literal(HEADER_V2, sa.LargeBinary),
            sa.func.substr(blobs.c.ciphertext, 4, ID_BYTES, type_=sa.LargeBinary),
        ),
        (head == sa.literal(HEADER_V1, sa.LargeBinary), sa.literal(b"", sa.LargeBinary)),
        else_=sa.literal(b"?", sa.LargeBinary),
    ).label("k")
    # Grouped through a subquery: PostgreSQL cannot tell that a CASE repeated in GROUP BY, with its
    # own bound parameters, is the selected one.
    labelled = sa.select(label).subquery()
    usage: dict[str, int] = {}
    for raw, count in conn.execute(sa.select(labelled.c.k, sa.func.count()).group_by(labelled.c.k)):
        value = bytes(raw)
        name = (
            ORIGINAL_FORMAT
            if value == b""
            else UNREADABLE_FORMAT
            if value == b"?" or len(value) != ID_BYTES
            else value.hex()
        )
        usage[name] = usage.get(name, 0) + int(count)
    return usage


def count_not_under(conn: Connection, key_id: str) -> int:
    """How many blobs are not (yet) encrypted with the key ``key_id``."""
    return int(conn.execute(sa.select(sa.func.count()).select_from(blobs).where(_not_under(key_id))).scalar_one())


_UPDATE_CIPHERTEXT = (
    blobs.update().where(blobs.c.ref == sa.bindparam("b_ref")).values(ciphertext=sa.bindparam("b_ciphertext"))
)


def reencrypt_batch(conn: Connection, keyring: DataKeyring, *, after: str, limit: int) -> tuple[int, str | None]:
    """Re-encrypt, in the caller's transaction, up to ``limit`` blobs after the reference ``after`` that
    are not under the keyring's current key; ``(how many, the last reference)`` (``None`` when none was
    left). Blobs already under the current key are skipped by the query, so a batch is never done twice.

    Each blob is decrypted with the enrolment id of its own row, then encrypted again: a blob that was
    altered or moved to another enrolment raises :class:`UnreadableBlob`, and the caller's rollback
    leaves the whole batch as it was.
    """
    target = keyring.current_id
    rows = conn.execute(
        sa.select(blobs.c.ref, blobs.c.enrolment_id, blobs.c.ciphertext)
        .where(blobs.c.ref > after, _not_under(target))
        .order_by(blobs.c.ref)
        .limit(limit)
        .with_for_update()  # PostgreSQL: a blob replaced meanwhile (a capture retried) waits for us
    ).all()
    updates = []
    for row in rows:
        try:
            plaintext = keyring.decrypt(bytes(row.ciphertext), record_id=row.enrolment_id)
        except TamperedData as exc:
            raise UnreadableBlob(row.ref, row.enrolment_id, str(exc)) from None
        updates.append(
            {"b_ref": row.ref, "b_ciphertext": keyring.encrypt(plaintext, record_id=row.enrolment_id, key_id=target)}
        )
    if updates:
        conn.execute(_UPDATE_CIPHERTEXT, updates)
    return len(rows), (rows[-1].ref if rows else None)
