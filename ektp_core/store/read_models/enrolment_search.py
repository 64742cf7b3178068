"""Finding enrolments without loading the table: every query is indexed where it can be and always
limited (a regency's table holds hundreds of thousands of rows).

* a NIK (16 digits) is looked up exactly, a shorter run of digits as a prefix: a range on the
  ``nik`` index (``nik >= '1771' AND nik < '1772'``), which every database serves from the index
  whatever its collation, unlike ``LIKE`` whose use of an index depends on it;
* a name matches anywhere in ``nama``, ignoring case (names are stored upper-case, so the search text
  is upper-cased: the same on SQLite and PostgreSQL); a substring cannot use a B-tree index, so this
  one scans, but it still reads one page of rows and counts at most :data:`COUNT_CAP`;
* the state and the site are equalities on their own indexes.

Also here: the lookups of one enrolment the pages need (the open one of a NIK, the newest of a NIK,
an enrolment's print jobs).
"""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

import attrs
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ektp_core.domain.model import Enrolment, EnrolmentState, PrintJob
from ektp_core.store import repository as repo
from ektp_core.store.counters import Family
from ektp_core.store.read_models import periods
from ektp_core.store.tables import enrolments, print_jobs

#: Rows on one page of the search.
PAGE_SIZE = 25
#: The count shown above the results stops here ("more than 1000"): counting all is a full scan.
COUNT_CAP = 1000
#: The deepest page reachable (an OFFSET walks the rows before it).
MAX_PAGE = 400


class TermKind(enum.StrEnum):
    """How a search term matches."""

    #: All 16 digits of a NIK.
    NIK = "nik"
    #: The first 1 to 15 digits of a NIK.
    NIK_PREFIX = "nik_prefix"
    #: Part of the name, anywhere in it, ignoring case.
    NAME = "name"


def _check_term(term: SearchTerm, _attribute: Any, value: str) -> None:
    if term.kind is TermKind.NIK and not (value.isdigit() and len(value) == 16):
        raise ValueError(f"a NIK search needs 16 digits, not {value!r}")
    if term.kind is TermKind.NIK_PREFIX and not (value.isdigit() and 1 <= len(value) <= 15):
        raise ValueError(f"a NIK prefix is 1 to 15 digits, not {value!r}")
    if term.kind is TermKind.NAME and not value.strip():
        raise ValueError("a name search needs some text")


@attrs.frozen
class SearchTerm:
    """What to look for (the web's search box reads it from what was typed)."""

    kind: TermKind = attrs.field(converter=TermKind)
    text: str = attrs.field(validator=_check_term)


@attrs.frozen(kw_only=True)
class Row:
    """One enrolment as the search table shows it."""

    id: str
    nik: str
    nama: str
    site_code: str
    state: EnrolmentState
    operator: str
    created_at: dt.datetime
    updated_at: dt.datetime | None


@attrs.frozen(kw_only=True)
class Page:
    """One page of results."""

    rows: tuple[Row, ...]
    page: int
    has_next: bool
    #: How many match, up to COUNT_CAP; ``capped`` when there are more.
    total: int
    capped: bool


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def conditions(*, term: SearchTerm | None, state: EnrolmentState | None, site_code: str | None) -> list[Any]:
    """The WHERE clauses of a search."""
    where: list[Any] = []
    if term is not None:
        if term.kind is TermKind.NIK:
            where.append(enrolments.c.nik == term.text)
        elif term.kind is TermKind.NIK_PREFIX:
            where.append(enrolments.c.nik >= term.text)
            following = str(int(term.text) + 1).zfill(len(term.text))
            if len(following) == len(term.text):  # "99" has no following prefix: everything above matches
                where.append(enrolments.c.nik < following)
        else:
            where.append(enrolments.c.nama.like(f"%{_escape_like(term.text.upper())}%", escape="\\"))
    if state is not None:
        where.append(enrolments.c.state == state.value)
    if site_code is not None:
        where.append(enrolments.c.site_code == site_code)
    return where


def search(
    conn: Connection,
    *,
    term: SearchTerm | None,
    state: EnrolmentState | None = None,
    site_code: str | None = None,
    page: int = 1,
    size: int = PAGE_SIZE,
) -> Page:
    """One page of enrolments, newest first, and a capped count of all that match."""
    page = max(1, min(page, MAX_PAGE))
    where = conditions(term=term, state=state, site_code=site_code)
    columns = (
        enrolments.c.id,
        enrolments.c.nik,
        enrolments.c.nama,
        enrolments.c.site_code,
        enrolments.c.state,
        enrolments.c.operator,
        enrolments.c.created_at,
        enrolments.c.updated_at,
    )
    select = (
        sa.select(*columns)
        .where(*where)
        .order_by(enrolments.c.created_at.desc(), enrolments.c.id.desc())
        .limit(size + 1)
        .offset((page - 1) * size)
    )
    # The counted rows select a constant, not a column: a name search then reads only the ``nama``
    # index (SQLite's covering-index scan), not every row of the wide table (20,000 rows: 7.7 -> 1.8 ms).
    capped_count = sa.select(sa.func.count()).select_from(
        sa.select(sa.literal_column("1")).select_from(enrolments).where(*where).limit(COUNT_CAP + 1).subquery()
    )
    found = conn.execute(select).all()
    total = int(conn.execute(capped_count).scalar_one())
    rows = tuple(
        Row(
            id=r.id,
            nik=r.nik,
            nama=r.nama,
            site_code=r.site_code,
            state=EnrolmentState(r.state),
            operator=r.operator,
            created_at=repo.utc(r.created_at),
            updated_at=repo.utc(r.updated_at) if r.updated_at is not None else None,
        )
        for r in found[:size]
    )
    return Page(rows=rows, page=page, has_next=len(found) > size, total=min(total, COUNT_CAP), capped=total > COUNT_CAP)


@attrs.frozen
class OpenEnrolment:
    """An enrolment of a NIK still in progress (a second recording of the NIK is refused)."""

    id: str
    state: str
    site_code: str


def open_enrolment(conn: Connection, nik: str, open_states: frozenset[EnrolmentState]) -> OpenEnrolment | None:
    """The enrolment of ``nik`` in one of ``open_states``, if any (the lifecycle allows one at a time)."""
    row = conn.execute(
        sa.select(enrolments.c.id, enrolments.c.state, enrolments.c.site_code).where(
            enrolments.c.nik == nik, enrolments.c.state.in_(sorted(s.value for s in open_states))
        )
    ).first()
    return OpenEnrolment(row.id, row.state, row.site_code) if row is not None else None


def count(conn: Connection) -> int:
    """How many enrolments this node holds, in every state (read from the counters, not the table)."""
    return sum(periods.totals(conn, Family.ENROLMENTS).values())


def newest_of_nik(conn: Connection, nik: str, *, site_code: str | None = None) -> Enrolment | None:
    """The newest enrolment of a NIK (of one site, when given)."""
    query = sa.select(enrolments.c.id).where(enrolments.c.nik == nik)
    if site_code is not None:
        query = query.where(enrolments.c.site_code == site_code)
    found = conn.execute(query.order_by(enrolments.c.created_at.desc()).limit(1)).scalar()
    return repo.get_enrolment(conn, found) if found else None


_JOBS_OF = (
    sa.select(print_jobs)
    .where(print_jobs.c.enrolment_id == sa.bindparam("enrolment_id"))
    .order_by(print_jobs.c.created_at)
)


def jobs_of(conn: Connection, enrolment_id: str) -> tuple[PrintJob, ...]:
    """An enrolment's print jobs, oldest first (indexed on the enrolment)."""
    return tuple(repo.job_from_row(r) for r in conn.execute(_JOBS_OF, {"enrolment_id": enrolment_id}))


def printed_job_of(conn: Connection, enrolment_id: str) -> str | None:
    """The newest PRINTED print job of an enrolment (the card to hand over), if any."""
    found = conn.execute(
        sa.select(print_jobs.c.id)
        .where(print_jobs.c.enrolment_id == enrolment_id, print_jobs.c.state == "PRINTED")
        .order_by(print_jobs.c.updated_at.desc())
        .limit(1)
    ).scalar()
    return str(found) if found else None
