"""What waits to travel between the nodes: a site's outbox, the sites joined to the Dukcapil node, the
signed print jobs a site received, and the enrolments waiting for the central system's verdict."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

import attrs
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ektp_core.store.repository import utc
from ektp_core.store.tables import central_submissions, enrolments, inbox, outbox, signed_jobs, site_keys


@attrs.frozen(kw_only=True)
class OutboxFigures:
    """A site's packets: waiting for the Dukcapil node's receipt, sent, and the newest error of one."""

    waiting: int
    sent: int
    #: The newest packet's error (a receipt clears it, so it is a waiting packet's but for a race).
    last_error: str | None


# Built once: the dashboard runs them on every request.
_WAITING = outbox.c.sent_at.is_(None)
_WAITING_COUNT = sa.select(sa.func.count()).select_from(outbox).where(_WAITING)
_WAITING_ERROR = (
    sa.select(outbox.c.last_error)
    .where(_WAITING, outbox.c.last_error.is_not(None))
    .order_by(outbox.c.seq.desc())
    .limit(1)
)
_WAITING_CENTRAL = (
    sa.select(sa.func.count())
    .select_from(central_submissions.join(enrolments))
    .where(enrolments.c.state == "SENT_FOR_ENROLLMENT")
)


def waiting_packets(conn: Connection) -> tuple[int, str | None]:
    """Packets waiting to be sent and the newest error of one of them (both from the waiting packets'
    own index: a site's outbox keeps every packet it ever sent)."""
    return int(conn.execute(_WAITING_COUNT).scalar_one()), conn.execute(_WAITING_ERROR).scalar()


def unsent_enrolments(conn: Connection, enrolment_ids: Iterable[str]) -> frozenset[str]:
    """Of ``enrolment_ids``, those whose enrolment packet still waits in this site's outbox (no receipt
    from the Dukcapil node yet): confirmed at the desk, not yet arrived. Read through the outbox's
    enrolment index, for the ids of one page only."""
    wanted = sorted(set(enrolment_ids))
    if not wanted:
        return frozenset()
    rows = conn.execute(
        sa.select(outbox.c.enrolment_id)
        .where(outbox.c.enrolment_id.in_(wanted), outbox.c.kind == "enrolment", _WAITING)
        .distinct()
    )
    return frozenset(str(row.enrolment_id) for row in rows)


_UNSENT_ENROLMENTS = sa.select(sa.func.count()).select_from(outbox).where(_WAITING, outbox.c.kind == "enrolment")


def unsent_enrolment_count(conn: Connection) -> int:
    """Enrolments confirmed at this site whose packet still waits for the Dukcapil node's receipt
    (one enrolment packet per enrolment; read through the waiting packets' own index)."""
    return int(conn.execute(_UNSENT_ENROLMENTS).scalar_one())


def arrived_at(conn: Connection, enrolment_id: str) -> dt.datetime | None:
    """When the enrolment's packet arrived at this (the Dukcapil) node; None for one recorded here."""
    found = conn.execute(
        sa.select(inbox.c.received_at)
        .where(inbox.c.enrolment_id == enrolment_id)
        .order_by(inbox.c.received_at)
        .limit(1)
    ).scalar()
    return None if found is None else utc(found)


def outbox_figures(conn: Connection) -> OutboxFigures:
    """The outbox's packets waiting and sent, and the newest packet's error (``ektp sync status``)."""
    waiting, _last = waiting_packets(conn)
    total = int(conn.execute(sa.select(sa.func.count()).select_from(outbox)).scalar_one())
    last_error = conn.execute(
        sa.select(outbox.c.last_error).where(outbox.c.last_error.is_not(None)).order_by(outbox.c.seq.desc()).limit(1)
    ).scalar()
    return OutboxFigures(waiting=waiting, sent=total - waiting, last_error=last_error)


def queued_signed_jobs(conn: Connection) -> int:
    """Print jobs the Dukcapil node routed to this site that are still QUEUED in their signed order."""
    return int(
        conn.execute(
            sa.select(sa.func.count()).select_from(signed_jobs).where(signed_jobs.c.state == "QUEUED")
        ).scalar_one()
    )


def waiting_for_central(conn: Connection) -> int:
    """Enrolments handed to the central system and still waiting for its verdict (SENT_FOR_ENROLLMENT with
    a submission row; read from the state index: only the waiting ones are visited)."""
    return int(conn.execute(_WAITING_CENTRAL).scalar_one())


@attrs.frozen(kw_only=True)
class JoinedSite:
    """A site that registered its key at this (the Dukcapil) node."""

    site_code: str
    public_key: str
    registered_at: dt.datetime
    registered_by: str


def joined_sites(conn: Connection) -> dict[str, JoinedSite]:
    """The sites joined here, by code (only the Dukcapil node keeps site keys)."""
    return {
        r.site_code: JoinedSite(
            site_code=r.site_code,
            public_key=r.public_key,
            registered_at=utc(r.registered_at),
            registered_by=r.registered_by,
        )
        for r in conn.execute(sa.select(site_keys).order_by(site_keys.c.site_code))
    }
