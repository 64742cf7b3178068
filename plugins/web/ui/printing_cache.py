"""Figures of the print queue and blank pages kept between requests, exact as of the audit log's head.

Counting a site's whole print queue, its blank ledger and its stock report costs milliseconds that
grow with the office's history, and twenty operators open these pages all day while the jobs and
blanks under them change a few times a minute (the audit log itself moves on far more often: every
login, recording and capture). So a value is kept with the audit position (sequence and hash) it was
computed at, and used again only while it is **still exact**:

* the audit head is where it was; or
* every entry appended since is one of :data:`HARMLESS` (logins, new recordings, captures: they
  never touch print jobs, blanks or deliveries), and the entry the value was computed at is still in
  the chain with the same hash (a restored backup makes another chain).

A value that also shows some enrolments' own fields (the queue's rows: names, NIK, states) names
those enrolments: entries about other enrolments leave it alone, an entry naming one of them does not.

Every change to print jobs, blanks and deliveries is audited in the same transaction as the change
(``LifecycleService``, the sync feed), and the head and the value are read in one snapshot; any
other entry, an unknown one included, means the value is computed again. There is no time window:
a value is never older than the data, so the pages need not say that figures may lag.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Collection, Hashable
from typing import Any, TypeVar

import attrs
import sqlalchemy as sa

from ektp_core.store.tables import audit_head, audit_log

T = TypeVar("T")

#: Audit actions known to leave print jobs, blanks and deliveries alone. Anything else invalidates.
HARMLESS = frozenset(
    {
        "auth.login",
        "auth.login_failed",
        "auth.logout",
        "auth.locked",
        "auth.unlocked",
        "auth.forbidden",
        "operator.created",
        "operator.updated",
        "enrolment.bio_captured",
        "capture.saved",
        "capture.exception",
    }
)
#: Past this many new entries the gap is not read: computing again is cheaper.
MAX_GAP = 2000
#: Values kept per cache (pages, report ranges); the least recently used go first.
MAX_ENTRIES = 64


@attrs.define
class _Entry:
    seq: int
    digest: str
    value: Any


class AuditCache:
    """Values computed from a read snapshot, kept while the audit log shows they are still exact.

    Values must be immutable: they are shared between the server's threads.
    """

    def __init__(
        self, *, harmless: frozenset[str] = HARMLESS, max_gap: int = MAX_GAP, max_entries: int = MAX_ENTRIES
    ) -> None:
        self.harmless = harmless
        self.max_gap = max_gap
        self.max_entries = max_entries
        self._entries: OrderedDict[Hashable, _Entry] = OrderedDict()
        self._lock = threading.Lock()
        #: Values computed (misses), for tests and curiosity.
        self.computed = 0

    def get(
        self,
        conn: sa.Connection,
        key: Hashable,
        compute: Callable[[sa.Connection], T],
        *,
        enrolments: Callable[[T], Collection[str]] | None = None,
    ) -> T:
        """The value for ``key``: the kept one if still exact at ``conn``'s snapshot, else ``compute(conn)``.

        ``enrolments``, for a value that also shows some enrolments' own fields (names, states): the
        ids of those enrolments. Entries about any other enrolment then leave the value alone; an
        entry naming one of them means computing again.

        ``conn`` must be a read transaction (``Store.read()``) and ``compute`` must read through it: the
        head and the value come from the same snapshot (and a request takes one pooled connection, not
        two).
        """
        seq, digest = head(conn)
        with self._lock:
            entry = self._entries.get(key)
        watched = enrolments(entry.value) if entry is not None and enrolments is not None else None
        if entry is not None and self._still_exact(conn, entry, seq, digest, watched):
            with self._lock:
                if self._entries.get(key) is entry:
                    if entry.seq < seq:  # moved forward: the next check reads a shorter gap
                        self._entries[key] = _Entry(seq, digest, entry.value)
                    self._entries.move_to_end(key)
            value: T = entry.value
            return value
        value = compute(conn)
        with self._lock:
            self.computed += 1
            kept = self._entries.get(key)
            if kept is None or kept.seq <= seq:  # never replace a newer value with an older one
                self._entries[key] = _Entry(seq, digest, value)
                self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)
        return value

    def _still_exact(
        self, conn: sa.Connection, entry: _Entry, seq: int, digest: str, watched: Collection[str] | None
    ) -> bool:
        if not same_chain_within(conn, entry.seq, entry.digest, seq, digest, max_gap=self.max_gap):
            return False
        if entry.seq == seq:
            return True
        gap = (audit_log.c.seq > entry.seq, audit_log.c.seq <= seq, audit_log.c.action.not_in(self.harmless))
        if watched is None:
            return conn.execute(sa.select(audit_log.c.seq).where(*gap).limit(1)).first() is None
        for kind, subject in conn.execute(sa.select(audit_log.c.subject_kind, audit_log.c.subject_id).where(*gap)):
            if kind != "enrolment" or subject in watched:
                return False
        return True


def same_chain_within(
    conn: sa.Connection, kept_seq: int, kept_digest: str, seq: int, digest: str, *, max_gap: int
) -> bool:
    """True when figures kept at audit position (``kept_seq``, ``kept_digest``) may be brought forward
    to the head (``seq``, ``digest``): the same chain (the kept entry still has its hash, so no backup
    was restored under them), not ahead of the head, and at most ``max_gap`` entries behind it."""
    if kept_seq == seq:
        return kept_digest == digest
    if kept_seq > seq or seq - kept_seq > max_gap:
        return False
    if kept_seq == 0:
        return True
    return bool(conn.execute(sa.select(audit_log.c.hash).where(audit_log.c.seq == kept_seq)).scalar() == kept_digest)


def head(conn: sa.Connection) -> tuple[int, str]:
    """The audit log's head: (sequence, hash); (0, "") before the first entry."""
    row = conn.execute(sa.select(audit_head.c.seq, audit_head.c.hash).where(audit_head.c.id == 1)).first()
    return (int(row.seq), str(row.hash)) if row is not None else (0, "")
