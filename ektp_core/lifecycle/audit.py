"""The append-only, hash-chained audit log.

Each entry carries the hash of the one before it, so changing or deleting any entry breaks the
chain from that point on; :func:`verify` finds the first broken link. Entries are appended inside
the same transaction as the change they record. An entry's action is a member of the catalogue in
:mod:`ektp_core.lifecycle.actions`; :func:`append` refuses anything else.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterator, Sequence
from typing import Any

import attrs
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ektp_core.lifecycle.actions import AuditAction, catalogued
from ektp_core.store.tables import audit_head, audit_log

GENESIS = "0" * 64

# Built once: constructing a statement costs several times more than executing it (benchmarks/).
_HEAD_FOR_UPDATE = sa.select(audit_head.c.seq, audit_head.c.hash).where(audit_head.c.id == 1).with_for_update()
_INSERT_ENTRY = audit_log.insert()
_MOVE_HEAD = (
    audit_head.update().where(audit_head.c.id == 1).values(seq=sa.bindparam("new_seq"), hash=sa.bindparam("new_hash"))
)


@attrs.frozen(kw_only=True)
class AuditEntry:
    """One line of the audit log."""

    seq: int
    at: str
    actor: str
    action: str
    subject_kind: str
    subject_id: str
    detail: dict[str, Any]
    prev_hash: str
    hash: str


def _canonical(detail: dict[str, Any]) -> str:
    return json.dumps(detail, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def entry_hash(
    *, seq: int, at: str, actor: str, action: str, subject_kind: str, subject_id: str, detail_json: str, prev_hash: str
) -> str:
    """SHA-256 over every field of an entry and the previous entry's hash."""
    payload = json.dumps(
        [seq, at, actor, action, subject_kind, subject_id, detail_json, prev_hash],
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def lock(conn: Connection) -> None:
    """Take the audit head's row lock now: serialises this transaction with every other writer.

    SQLite already does this with BEGIN IMMEDIATE; on PostgreSQL a check-then-insert (such as
    "no open enrolment for this NIK") must hold it before the check, not only at the append.
    """
    if conn.dialect.name != "sqlite":  # SQLite's BEGIN IMMEDIATE already holds the database's write lock
        conn.execute(_HEAD_FOR_UPDATE)


def append(
    conn: Connection,
    *,
    actor: str,
    action: AuditAction,
    subject_kind: str,
    subject_id: str,
    detail: dict[str, Any] | None = None,
    at: dt.datetime,
) -> AuditEntry:
    """Append one entry in the caller's transaction and return it.

    An ``action`` the catalogue does not have (a caller that passes a string of its own) raises
    :class:`~ektp_core.errors.InvalidValue` before anything is written.
    """
    # The stored text is the member's value, byte for byte what entries held before the catalogue.
    action_text = str(catalogued(action))
    head = conn.execute(_HEAD_FOR_UPDATE).one()
    seq = head.seq + 1
    at_text = at.astimezone(dt.UTC).isoformat()
    detail = detail or {}
    detail_json = _canonical(detail)
    digest = entry_hash(
        seq=seq,
        at=at_text,
        actor=actor,
        action=action_text,
        subject_kind=subject_kind,
        subject_id=subject_id,
        detail_json=detail_json,
        prev_hash=head.hash,
    )
    conn.execute(
        _INSERT_ENTRY,
        {
            "seq": seq,
            "at": at_text,
            "actor": actor,
            "action": action_text,
            "subject_kind": subject_kind,
            "subject_id": subject_id,
            "detail": detail_json,
            "prev_hash": head.hash,
            "hash": digest,
        },
    )
    conn.execute(_MOVE_HEAD, {"new_seq": seq, "new_hash": digest})
    return AuditEntry(
        seq=seq,
        at=at_text,
        actor=actor,
        action=action_text,
        subject_kind=subject_kind,
        subject_id=subject_id,
        detail=detail,
        prev_hash=head.hash,
        hash=digest,
    )


def _row_to_entry(row: Any) -> AuditEntry:
    return AuditEntry(
        seq=row.seq,
        at=row.at,
        actor=row.actor,
        action=row.action,
        subject_kind=row.subject_kind,
        subject_id=row.subject_id,
        detail=json.loads(row.detail),
        prev_hash=row.prev_hash,
        hash=row.hash,
    )


def entries(conn: Connection, *, subject_id: str | None = None, batch: int = 1000) -> Iterator[AuditEntry]:
    """Entries in order, optionally only those about one subject."""
    query = sa.select(audit_log).order_by(audit_log.c.seq)
    if subject_id is not None:
        query = query.where(audit_log.c.subject_id == subject_id)
    for row in conn.execution_options(yield_per=batch).execute(query):
        yield _row_to_entry(row)


#: The entries about a few subjects, in order (the subject index, then a sort of those few entries).
_ABOUT = (
    sa.select(audit_log)
    .where(audit_log.c.subject_id.in_(sa.bindparam("subjects", expanding=True)))
    .order_by(audit_log.c.seq)
)


def entries_about(conn: Connection, subject_ids: Sequence[str]) -> list[AuditEntry]:
    """The entries about any of ``subject_ids`` (an enrolment and its print jobs, say), oldest first: one
    statement for the whole story instead of one per subject."""
    if not subject_ids:
        return []
    return [_row_to_entry(row) for row in conn.execute(_ABOUT, {"subjects": list(subject_ids)})]


def last_entries(conn: Connection, *, limit: int, subject_id: str | None = None) -> list[AuditEntry]:
    """The newest ``limit`` entries (optionally about one subject), oldest of them first."""
    query = sa.select(audit_log).order_by(audit_log.c.seq.desc()).limit(limit)
    if subject_id is not None:
        query = query.where(audit_log.c.subject_id == subject_id)
    return [_row_to_entry(row) for row in reversed(conn.execute(query).all())]


def newest(conn: Connection, *, limit: int, action: str = "") -> list[AuditEntry]:
    """The newest ``limit`` entries, newest first: all, those of one ``action``, or (``action`` ending in
    ``.``, such as ``auth.``) those of a family. Read backwards along the primary key: the newest come
    first without reading the whole log."""
    query = sa.select(audit_log).order_by(audit_log.c.seq.desc()).limit(limit)
    if action.endswith("."):
        escaped = action.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        query = query.where(audit_log.c.action.like(escaped + "%", escape="\\"))
    elif action:
        query = query.where(audit_log.c.action == action)
    return [_row_to_entry(row) for row in conn.execute(query)]


@attrs.frozen
class VerifyResult:
    """The outcome of :func:`verify`."""

    ok: bool
    checked: int
    #: Sequence number of the first entry that fails, when one does.
    first_bad_seq: int | None = None
    problem: str | None = None


def verify(conn: Connection) -> VerifyResult:
    """Walk the chain from the first entry; report the first link that does not hold."""
    prev = GENESIS
    expected_seq = 1
    checked = 0
    for row in conn.execution_options(yield_per=2000).execute(sa.select(audit_log).order_by(audit_log.c.seq)):
        if row.seq != expected_seq:
            return VerifyResult(False, checked, expected_seq, f"entry {expected_seq} is missing (next is {row.seq})")
        if row.prev_hash != prev:
            return VerifyResult(False, checked, row.seq, "its previous-hash does not match the entry before it")
        digest = entry_hash(
            seq=row.seq,
            at=row.at,
            actor=row.actor,
            action=row.action,
            subject_kind=row.subject_kind,
            subject_id=row.subject_id,
            detail_json=row.detail,
            prev_hash=row.prev_hash,
        )
        if digest != row.hash:
            return VerifyResult(False, checked, row.seq, "its content does not match its hash (it was altered)")
        prev = row.hash
        expected_seq += 1
        checked += 1
    head = conn.execute(sa.select(audit_head.c.seq, audit_head.c.hash).where(audit_head.c.id == 1)).one()
    if head.seq != checked or head.hash != prev:
        return VerifyResult(
            False,
            checked,
            checked + 1 if head.seq > checked else head.seq,
            f"the log ends at entry {checked} but the head says {head.seq} (entries were removed)",
        )
    return VerifyResult(True, checked)
