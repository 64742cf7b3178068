"""Encrypted blobs: biometric images and templates at rest.

Each blob is AES-256-GCM encrypted with the node's data key and the enrolment id as associated
data, so a blob copied onto another enrolment, or altered, fails to decrypt instead of decoding.
"""

from __future__ import annotations

import datetime as dt
import os
import time
from collections.abc import Iterable

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from .. import security
from ..errors import EktpError, NotFound
from .tables import blobs

#: The longest blob reference the ``blobs`` table holds.
MAX_REF_LENGTH = 64

_INSERT = blobs.insert()
_BY_REF = sa.select(blobs.c.enrolment_id, blobs.c.ciphertext).where(blobs.c.ref == sa.bindparam("ref"))


def new_ref() -> str:
    """A new opaque blob reference: time-ordered (nanoseconds, then random), so new blobs are appended
    at the end of the table's key instead of at random places in a large, growing table."""
    return f"{time.time_ns():016x}{os.urandom(8).hex()}"


def put_many(conn: Connection, key: bytes, *, enrolment_id: str,
             items: Iterable[tuple[str, str, bytes]], at: dt.datetime) -> None:
    """Encrypt and store several ``(ref, kind, data)`` blobs of one enrolment in one statement."""
    rows = []
    for ref, kind, data in items:
        if not ref or len(ref) > MAX_REF_LENGTH:
            raise EktpError(f"blob reference {ref!r} must be 1-{MAX_REF_LENGTH} characters")
        rows.append({"ref": ref, "enrolment_id": enrolment_id, "kind": kind,
                     "ciphertext": security.encrypt(key, data, record_id=enrolment_id), "created_at": at})
    if rows:
        conn.execute(_INSERT, rows)


def put(conn: Connection, key: bytes, *, enrolment_id: str, ref: str, kind: str, data: bytes,
        at: dt.datetime) -> None:
    """Encrypt ``data`` and store it under ``ref`` in the caller's transaction."""
    if not ref or len(ref) > MAX_REF_LENGTH:
        # Checked here, not left to the database: SQLite would store a longer one, PostgreSQL refuse it.
        raise EktpError(f"blob reference {ref!r} must be 1-{MAX_REF_LENGTH} characters")
    conn.execute(_INSERT, {"ref": ref, "enrolment_id": enrolment_id, "kind": kind,
                           "ciphertext": security.encrypt(key, data, record_id=enrolment_id), "created_at": at})


def get(conn: Connection, key: bytes, *, ref: str, enrolment_id: str) -> bytes:
    """The decrypted blob. Raises :class:`NotFound`, or ``TamperedData`` when it fails its check
    (altered, or stored for another enrolment)."""
    row = conn.execute(_BY_REF, {"ref": ref}).one_or_none()
    if row is None:
        raise NotFound("blob", ref)
    # Decrypt with the enrolment the caller asked about, not the row's: a row moved between
    # enrolments is refused by the cipher's tag.
    return security.decrypt(key, bytes(row.ciphertext), record_id=enrolment_id)
