"""The recordings still in progress at a site (BIO_CAPTURED, newest first, with their filled slots), as
the record start page lists them, kept up to date from the audit log instead of read whole each time.

Reading the list costs a walk of the site's enrolments (an office keeps every resident it ever
recorded; while fewer than :data:`LIMIT` are in progress the walk reaches the first one), and the page
is opened before every recording. So the list is kept with the audit position (sequence and hash) it
is exact at, and brought forward from the entries appended since:

* every change to an enrolment row or its captures is audited in the same transaction with
  ``subject_kind = "enrolment"`` and the enrolment's id (recording, captures, every state move, states
  mirrored by the sync feed): those enrolments alone are read again, and put in, moved or taken out;
* entries about logins, accounts, print jobs and blanks (:data:`UNRELATED`) change nothing here;
* any other entry, a gap longer than :data:`MAX_GAP`, a chain that no longer holds the kept position
  (a restored backup), or a full list losing a row (the next one beyond it is not known) means the
  list is read whole again.

The list served is therefore always the one a full read would give at the same snapshot: nothing
lags, so the page does not say that it might.
"""

from __future__ import annotations

import threading
from collections.abc import Collection
from typing import Any

import attrs
import sqlalchemy as sa
from ektp_plugins.web.ui.printing_cache import head, same_chain_within

from ektp_core.domain.model import EnrolmentState
from ektp_core.store.tables import audit_log, captures, enrolments

#: The most recordings the start page lists.
LIMIT = 200
#: Past this many new entries the gap is not read: reading the list whole is cheaper.
MAX_GAP = 2000
#: Audit subject kinds that never touch an enrolment row or its captures.
UNRELATED = frozenset({"login", "operator", "print_job", "blank", "blank_batch"})


@attrs.frozen(kw_only=True)
class InProgress:
    """One recording in progress: who, since when, and how many capture slots are filled."""

    id: str
    nik: str
    nama: str
    operator: str
    created_at: Any
    filled: int


@attrs.frozen
class _Kept:
    seq: int
    digest: str
    rows: tuple[InProgress, ...]
    #: True when the rows are every recording in progress (fewer than LIMIT + 1 were found).
    complete: bool


def _order(row: InProgress) -> tuple[Any, str]:
    return row.created_at, row.id


def read_in_progress(
    conn: sa.Connection, site_code: str, *, ids: Collection[str] | None = None, limit: int = LIMIT
) -> list[InProgress]:
    """The site's recordings in progress (only ``ids`` when given), newest first, at most ``limit``."""
    # Counted per listed enrolment through the captures' enrolment index: a GROUP BY over the whole
    # captures table (hundreds of thousands of rows at an office) made this page slow.
    filled = (
        sa.select(sa.func.count())
        .select_from(captures)
        .where(captures.c.enrolment_id == enrolments.c.id)
        .scalar_subquery()
    )
    query = (
        sa.select(
            enrolments.c.id,
            enrolments.c.nik,
            enrolments.c.nama,
            enrolments.c.operator,
            enrolments.c.created_at,
            filled.label("filled"),
        )
        .where(enrolments.c.site_code == site_code, enrolments.c.state == EnrolmentState.BIO_CAPTURED.value)
        .order_by(enrolments.c.created_at.desc(), enrolments.c.id.desc())
        .limit(limit)
    )
    if ids is not None:
        query = query.where(enrolments.c.id.in_(list(ids)))
    return [
        InProgress(id=r.id, nik=r.nik, nama=r.nama, operator=r.operator, created_at=r.created_at, filled=int(r.filled))
        for r in conn.execute(query)
    ]


class InProgressList:
    """Each site's list of recordings in progress, kept exact from the audit log (one per app)."""

    def __init__(self, *, limit: int = LIMIT, max_gap: int = MAX_GAP) -> None:
        self.limit = limit
        self.max_gap = max_gap
        self._kept: dict[str, _Kept] = {}
        self._lock = threading.Lock()
        #: Whole reads done (the first, and each time the list could not be brought forward).
        self.full_reads = 0

    def rows(self, conn: sa.Connection, site_code: str) -> tuple[InProgress, ...]:
        """The list at ``conn``'s snapshot (a ``Store.read()`` transaction), newest first."""
        seq, digest = head(conn)
        with self._lock:
            kept = self._kept.get(site_code)
        found = self._bring_forward(conn, site_code, kept, seq, digest) if kept is not None else None
        if found is None:
            rows = read_in_progress(conn, site_code, limit=self.limit + 1)
            found = _Kept(seq, digest, tuple(rows[: self.limit]), len(rows) <= self.limit)
            with self._lock:
                self.full_reads += 1
        with self._lock:
            current = self._kept.get(site_code)
            if current is None or current.seq <= seq:  # never replace a newer list with an older one
                self._kept[site_code] = found
        return found.rows

    def _bring_forward(self, conn: sa.Connection, site_code: str, kept: _Kept, seq: int, digest: str) -> _Kept | None:
        if not same_chain_within(conn, kept.seq, kept.digest, seq, digest, max_gap=self.max_gap):
            return None
        if kept.seq == seq:
            return kept
        touched: set[str] = set()
        for kind, subject in conn.execute(
            sa.select(audit_log.c.subject_kind, audit_log.c.subject_id).where(
                audit_log.c.seq > kept.seq, audit_log.c.seq <= seq
            )
        ):
            if kind == "enrolment":
                touched.add(str(subject))
            elif kind not in UNRELATED:
                return None
        if not touched:
            return _Kept(seq, digest, kept.rows, kept.complete)
        # The touched ones still in progress here, read now (in the same snapshot as the head).
        fresh = read_in_progress(conn, site_code, ids=touched, limit=len(touched))
        still = {r.id for r in fresh}
        if not kept.complete and any(r.id in touched and r.id not in still for r in kept.rows):
            return None  # a full list lost a row: the one that moves up into it is not kept here
        merged = sorted([*[r for r in kept.rows if r.id not in touched], *fresh], key=_order, reverse=True)
        # A full list stays full: whatever ranks below its last kept row was beyond it before too.
        return _Kept(seq, digest, tuple(merged[: self.limit]), kept.complete and len(merged) <= self.limit)
