"""The recordings still in progress at a site (BIO_CAPTURED), newest first, with their filled slots.

One walk of the (site, state, created) index from the newest, stopped at the limit, and one count per
listed recording on the captures' enrolment index: the cost follows the list, not the office's history.
"""

from __future__ import annotations

import datetime as dt

import attrs
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ektp_core.store.repository import utc
from ektp_core.store.tables import captures, enrolments

#: The most recordings the list holds.
LIMIT = 200


@attrs.frozen(kw_only=True)
class InProgress:
    """One recording in progress: who, since when, and how many capture slots are filled."""

    id: str
    nik: str
    nama: str
    operator: str
    created_at: dt.datetime
    filled: int


_FILLED = (
    sa.select(sa.func.count()).select_from(captures).where(captures.c.enrolment_id == enrolments.c.id).scalar_subquery()
)
# Built once: the recording start page runs it before every recording.
_IN_PROGRESS = (
    sa.select(
        enrolments.c.id,
        enrolments.c.nik,
        enrolments.c.nama,
        enrolments.c.operator,
        enrolments.c.created_at,
        _FILLED.label("filled"),
    )
    .where(enrolments.c.site_code == sa.bindparam("site"), enrolments.c.state == "BIO_CAPTURED")
    .order_by(enrolments.c.created_at.desc(), enrolments.c.id.desc())
    .limit(sa.bindparam("limit"))
)


def in_progress(conn: Connection, site_code: str, *, limit: int = LIMIT) -> tuple[InProgress, ...]:
    """The site's recordings in progress, newest first, at most ``limit``."""
    return tuple(
        InProgress(
            id=r.id,
            nik=r.nik,
            nama=r.nama,
            operator=r.operator,
            created_at=utc(r.created_at),
            filled=int(r.filled),
        )
        for r in conn.execute(_IN_PROGRESS, {"site": site_code, "limit": limit})
    )
