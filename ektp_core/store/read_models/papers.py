"""The papers issued to residents and the keys that sign them: what :mod:`ektp_core.services.papers`
reads (indexed: papers by enrolment, the audit log by its subject)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from typing import Any

import attrs
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ektp_core.store.repository import utc
from ektp_core.store.tables import audit_log, node_key_transitions, outbox, paper_keys, papers, site_keys


@attrs.frozen(kw_only=True)
class PaperRow:
    """One issued paper as stored."""

    number: str
    site_code: str
    kind: str
    enrolment_id: str
    issued_at: dt.datetime
    issued_by: str
    valid_until: dt.date | None
    statement: str


def _row(row: Any) -> PaperRow:
    return PaperRow(
        number=row.number,
        site_code=row.site_code,
        kind=row.kind,
        enrolment_id=row.enrolment_id,
        issued_at=utc(row.issued_at),
        issued_by=row.issued_by,
        valid_until=row.valid_until,
        statement=row.statement,
    )


def papers_of(conn: Connection, enrolment_id: str) -> list[PaperRow]:
    """An enrolment's papers, oldest first."""
    rows = conn.execute(
        sa.select(papers).where(papers.c.enrolment_id == enrolment_id).order_by(papers.c.issued_at, papers.c.number)
    ).all()
    return [_row(r) for r in rows]


def paper(conn: Connection, number: str) -> PaperRow | None:
    """One paper by its number."""
    row = conn.execute(sa.select(papers).where(papers.c.number == number)).one_or_none()
    return _row(row) if row is not None else None


def next_seq(conn: Connection, site_code: str, kind: str, year: int) -> int:
    """The next number of a site's papers of one kind in one year (the caller inserts it in the same
    transaction; the unique constraint refuses a number taken meanwhile)."""
    found = conn.execute(
        sa.select(sa.func.max(papers.c.seq)).where(
            papers.c.site_code == site_code, papers.c.kind == kind, papers.c.year == year
        )
    ).scalar()
    return int(found or 0) + 1


def queued_for_dukcapil(conn: Connection, enrolment_id: str) -> bool:
    """At a site: the enrolment's recording was confirmed and waits for (or went to) the Dukcapil node."""
    found = conn.execute(
        sa.select(outbox.c.packet_id).where(outbox.c.kind == "enrolment", outbox.c.subject_id == enrolment_id)
    ).first()
    return found is not None


def handover_entry(conn: Connection, enrolment_id: str) -> Any:
    """The audit entry that handed the enrolment's card over (its time, actor and detail), or None."""
    row = conn.execute(
        sa.select(audit_log.c.at, audit_log.c.actor, audit_log.c.detail)
        .where(audit_log.c.subject_id == enrolment_id, audit_log.c.action == "enrolment.card_issued")
        .order_by(audit_log.c.seq.desc())
        .limit(1)
    ).one_or_none()
    if row is None:
        return None
    return dt.datetime.fromisoformat(row.at), row.actor, json.loads(row.detail)


def site_key_history(conn: Connection, site_codes: Sequence[str]) -> list[tuple[str, str, dt.datetime | None]]:
    """At the Dukcapil node: every (site, public key, registered at) it ever registered, oldest first:
    each join audited (``sync.joined``, a rotation joins again), then the keys registered now. The
    audit log is read by subject (indexed), for ``site_codes`` and every site registered now."""
    registered = conn.execute(sa.select(site_keys).order_by(site_keys.c.site_code)).all()
    subjects = sorted({*site_codes, *(str(row.site_code) for row in registered)})
    joined = conn.execute(
        sa.select(audit_log.c.subject_id, audit_log.c.at, audit_log.c.detail)
        .where(audit_log.c.subject_id.in_(subjects), audit_log.c.action == "sync.joined")
        .order_by(audit_log.c.seq)
    ).all()
    found: list[tuple[str, str, dt.datetime | None]] = []
    for row in joined:
        key = json.loads(row.detail).get("public_key")
        if isinstance(key, str):
            found.append((str(row.subject_id), key, dt.datetime.fromisoformat(row.at)))
    for row in registered:
        if not any(site == row.site_code and key == row.public_key for site, key, _at in found):
            found.append((str(row.site_code), str(row.public_key), utc(row.registered_at)))
    return found


def node_key_history(conn: Connection) -> Sequence[Any]:
    """The Dukcapil node's completed key transitions, oldest first."""
    return conn.execute(
        sa.select(
            node_key_transitions.c.version,
            node_key_transitions.c.previous_signing_key,
            node_key_transitions.c.signing_key,
            node_key_transitions.c.completed_at,
        )
        .where(node_key_transitions.c.completed_at.is_not(None))
        .order_by(node_key_transitions.c.version)
    ).all()


def newest_published_keys(conn: Connection) -> Any:
    """The newest published-keys document this node imported (its row), or None."""
    return conn.execute(
        sa.select(paper_keys).order_by(paper_keys.c.published_at.desc(), paper_keys.c.id.desc()).limit(1)
    ).one_or_none()
