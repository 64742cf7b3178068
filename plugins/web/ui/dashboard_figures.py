"""The dashboard's figures kept between requests and brought forward from the audit log, exact at every request.

Counting a regency's enrolments by state and per day costs tens of milliseconds, and at a busy office
the audit log moves on with every recording, so a cache that counts again whenever the log moved
counts again on nearly every request. Instead the counts are kept with the audit position (sequence
and hash) and the day they are exact at, and brought forward from the entries appended since:

* a new recording (``enrolment.bio_captured`` from no state, with its site) adds one to BIO_CAPTURED,
  to its chart day (found from the entry's time, which is the enrolment's ``created_at``) and to its
  kecamatan's bar;
* a state move of an enrolment (``enrolment.<state>``, ``sync.state_mirrored``: from one state to
  another) moves one enrolment between the two states (in a site's view only when it is that site's);
* any entry about a print job means the print jobs' part (printed per day and per site, jobs queued or
  unknown) is counted again, the enrolments' part still brought forward;
* logins, accounts, captures, blanks and deliveries, and the outbox's receipts change none of these
  counts (:data:`UNRELATED_KINDS`, :data:`UNRELATED_ACTIONS`);
* anything else (an unknown action, an enrolment entry of another shape), a gap longer than
  :data:`MAX_GAP`, another day (the charts' days move), or a chain that no longer holds the kept
  position (a restored backup) means counting everything again.

Every change to enrolment rows and print jobs is audited in the same transaction as the change, and the
head, the gap and any count are read in one snapshot, so the figures served are those a full count
would give at the same moment. What waits for the Dukcapil node or the central system is not audited
(outbox attempts, a submission row) and is read on every request (:func:`stats.count_waiting`).
"""

from __future__ import annotations

import bisect
import datetime as dt
import json
import threading
from collections.abc import Hashable
from typing import Any

import attrs
import sqlalchemy as sa
from ektp_plugins.web.ui.printing_cache import head, same_chain_within
from ektp_plugins.web.ui.stats import (
    DAYS,
    Figures,
    Printed,
    Recorded,
    combine,
    count_printed,
    count_recorded,
    count_waiting,
    day_starts,
)

from ektp_core.domain.model import EnrolmentState
from ektp_core.store.tables import audit_log, enrolments

#: Past this many new entries the gap is not read: counting again is cheaper.
MAX_GAP = 2000
#: Audit subject kinds whose entries change no dashboard count kept here.
UNRELATED_KINDS = frozenset({"login", "operator", "blank", "blank_batch"})
#: Actions about an enrolment that change no count kept here (captures; the outbox's receipts).
UNRELATED_ACTIONS = frozenset({"capture.saved", "capture.exception", "sync.packet_accepted", "sync.packet_refused"})
_STATES = frozenset(s.value for s in EnrolmentState)


@attrs.frozen
class _Kept:
    seq: int
    digest: str
    today: dt.date
    starts: tuple[dt.datetime, ...]
    recorded: Recorded
    printed: Printed


class _Recount(Exception):
    """The gap holds something the counts cannot be brought forward over."""


class DashboardFigures:
    """Each view's (a site, or the regency: None) dashboard counts, kept exact from the audit log (one per app)."""

    def __init__(self, *, max_gap: int = MAX_GAP) -> None:
        self.max_gap = max_gap
        self._kept: dict[Hashable, _Kept] = {}
        self._lock = threading.Lock()
        #: Full counts done (the first, and each time the counts could not be brought forward).
        self.full_counts = 0
        #: Counts of the print jobs' part alone (a print job moved).
        self.printed_counts = 0

    def figures(self, conn: sa.Connection, site_code: str | None, today: dt.date) -> Figures:
        """The figures at ``conn``'s snapshot (a ``Store.read()`` transaction) with ``today``'s charts."""
        seq, digest = head(conn)
        starts = tuple(day_starts(today))
        with self._lock:
            kept = self._kept.get(site_code)
        found = None
        if kept is not None and kept.today == today and kept.starts == starts:
            try:
                found = self._bring_forward(conn, site_code, kept, seq, digest)
            except _Recount:
                found = None
        if found is None:
            found = _Kept(
                seq,
                digest,
                today,
                starts,
                count_recorded(conn, site_code, list(starts)),
                count_printed(conn, site_code, list(starts)),
            )
            with self._lock:
                self.full_counts += 1
        with self._lock:
            current = self._kept.get(site_code)
            # Never replace newer counts with older ones (a slower request of an earlier snapshot).
            if current is None or current.seq <= seq or current.today != today:
                self._kept[site_code] = found
        days = [today - dt.timedelta(days=n) for n in range(DAYS - 1, -1, -1)]
        return combine(
            by_state=found.recorded.by_state,
            days=days,
            recorded_per_day=found.recorded.per_day,
            recorded_per_site=found.recorded.per_site,
            printed=found.printed,
            waiting=count_waiting(conn),
        )

    def _bring_forward(
        self, conn: sa.Connection, site_code: str | None, kept: _Kept, seq: int, digest: str
    ) -> _Kept | None:
        if not same_chain_within(conn, kept.seq, kept.digest, seq, digest, max_gap=self.max_gap):
            return None
        if kept.seq == seq:
            return kept
        rows = conn.execute(
            sa.select(
                audit_log.c.at, audit_log.c.action, audit_log.c.subject_kind, audit_log.c.subject_id, audit_log.c.detail
            )
            .where(audit_log.c.seq > kept.seq, audit_log.c.seq <= seq)
            .order_by(audit_log.c.seq)
        ).all()
        by_state = dict(kept.recorded.by_state)
        per_day = list(kept.recorded.per_day)
        per_site = dict(kept.recorded.per_site)
        jobs_moved = False
        moves: list[tuple[str, str, str]] = []  # (enrolment, from, to), placed once their sites are known
        for row in rows:
            if row.subject_kind in UNRELATED_KINDS or row.action in UNRELATED_ACTIONS:
                continue
            if row.subject_kind == "print_job":
                jobs_moved = True
                continue
            if row.subject_kind != "enrolment":
                raise _Recount
            old, new, site = _enrolment_change(row.action, row.detail)
            if old is not None:
                moves.append((str(row.subject_id), old, new))
                continue
            # A new recording: its entry's time is its created_at, its site in the detail.
            if site_code is not None and site != site_code:
                continue
            by_state[new] = by_state.get(new, 0) + 1
            at = dt.datetime.fromisoformat(row.at)
            if at >= kept.starts[-1]:
                raise _Recount  # stamped after today (a clock ahead): leave it to a full count
            day = bisect.bisect_right(kept.starts, at) - 1
            if day >= 0:
                per_day[day] += 1
                per_site[site] = per_site.get(site, 0) + 1
        if moves:
            ours = _sites_of(conn, {m[0] for m in moves}) if site_code is not None else None
            for enrolment_id, old, new in moves:
                if ours is not None and ours.get(enrolment_id) != site_code:
                    continue
                if by_state.get(old, 0) < 1:
                    raise _Recount  # the kept counts do not hold the enrolment the entry moves
                by_state[old] -= 1
                by_state[new] = by_state.get(new, 0) + 1
        printed = kept.printed
        if jobs_moved:
            printed = count_printed(conn, site_code, list(kept.starts))
            with self._lock:
                self.printed_counts += 1
        recorded = Recorded(by_state={k: v for k, v in by_state.items() if v}, per_day=per_day, per_site=per_site)
        return _Kept(seq, digest, kept.today, kept.starts, recorded, printed)


def _enrolment_change(action: str, detail_json: str) -> tuple[str | None, str, str]:
    """(from, to, site) of an entry that records or moves an enrolment; anything else raises :class:`_Recount`."""
    try:
        detail: Any = json.loads(detail_json)
    except ValueError:
        raise _Recount from None
    if not isinstance(detail, dict):
        raise _Recount
    old, new = detail.get("from"), detail.get("to")
    if new not in _STATES or (old is not None and old not in _STATES):
        raise _Recount
    if action not in (f"enrolment.{str(new).lower()}", "sync.state_mirrored"):
        raise _Recount
    if old is None:
        site = detail.get("site")
        if new != EnrolmentState.BIO_CAPTURED.value or not isinstance(site, str) or action != "enrolment.bio_captured":
            raise _Recount
        return None, str(new), site
    return str(old), str(new), ""


def _sites_of(conn: sa.Connection, ids: set[str]) -> dict[str, str]:
    """The site of each of these enrolments."""
    found: dict[str, str] = {}
    listed = sorted(ids)
    for i in range(0, len(listed), 500):  # keeps each IN list well under every database's parameter limit
        found.update(
            {
                str(r.id): str(r.site_code)
                for r in conn.execute(
                    sa.select(enrolments.c.id, enrolments.c.site_code).where(enrolments.c.id.in_(listed[i : i + 500]))
                )
            }
        )
    return found
