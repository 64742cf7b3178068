"""Conversions between database rows and domain values, and the read queries the core needs.

Rows never reach the attrs constructors directly: ``*_from_row`` builds the value, ``*_to_row`` the
dict for an insert.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import threading
from collections import OrderedDict
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ektp_core.domain.model import (
    FIRST_CARD,
    Biodata,
    Blank,
    Capture,
    CaptureException,
    Card,
    Enrolment,
    Operator,
    PrintJob,
    ServiceRequest,
    Site,
)
from ektp_core.errors import NotFound
from ektp_core.store.tables import blanks, captures, enrolments, operators, print_jobs, sites


def utc(value: dt.datetime) -> dt.datetime:
    """SQLite hands back naive datetimes; everything ektp stores is UTC."""
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def enrolment_to_row(e: Enrolment) -> dict[str, Any]:
    text = json.dumps(e.biodata.to_dict(), ensure_ascii=False)
    _remember_biodata(text, e.biodata)
    return {
        "id": e.id,
        "site_code": e.site_code,
        "operator": e.operator,
        "nik": e.biodata.nik.value,
        "nama": e.biodata.nama,
        "biodata": text,
        "state": e.state.value,
        "reason": e.reason,
        "created_at": e.created_at,
        "updated_at": e.updated_at,
        "service_type": e.service.type.value,
        "service": json.dumps(e.service.to_dict(), ensure_ascii=False) if e.service.is_replacement else None,
    }


# Biodata is frozen, so one parsed value can serve every read of the same stored text; re-validating
# the NIK and the code lists on every state change was most of a transition's cost (benchmarks/).
_BIODATA_CACHE: OrderedDict[str, Biodata] = OrderedDict()
_BIODATA_CACHE_SIZE = 4096


_BIODATA_LOCK = threading.Lock()  # web workers may share the cache


def _remember_biodata(text: str, biodata: Biodata) -> None:
    with _BIODATA_LOCK:
        _BIODATA_CACHE[text] = biodata
        _BIODATA_CACHE.move_to_end(text)
        if len(_BIODATA_CACHE) > _BIODATA_CACHE_SIZE:
            _BIODATA_CACHE.popitem(last=False)


def _biodata(text: str) -> Biodata:
    with _BIODATA_LOCK:
        found = _BIODATA_CACHE.get(text)
    if found is None:
        found = Biodata.from_dict(json.loads(text))
        _remember_biodata(text, found)
    return found


def enrolment_from_row(row: Any) -> Enrolment:
    return Enrolment(
        id=row.id,
        site_code=row.site_code,
        operator=row.operator,
        biodata=_biodata(row.biodata),
        state=row.state,
        reason=row.reason,
        created_at=utc(row.created_at),
        updated_at=utc(row.updated_at) if row.updated_at else None,
        service=_service(getattr(row, "service", None)),
    )


def _service(text: str | None) -> ServiceRequest:
    return ServiceRequest.from_dict(json.loads(text)) if text else FIRST_CARD


def card_from_row(row: Any) -> Card:
    return Card(
        serial=row.serial,
        enrolment_id=row.enrolment_id,
        nik=row.nik,
        state=row.state,
        printed_site=row.printed_site,
        printed_at=utc(row.printed_at),
        collection_site=row.collection_site,
        handed_over_at=utc(row.handed_over_at) if row.handed_over_at else None,
        handed_over_site=row.handed_over_site,
        reason=row.reason,
        updated_at=utc(row.updated_at) if row.updated_at else None,
    )


def capture_to_row(enrolment_id: str, c: Capture) -> dict[str, Any]:
    return {
        "enrolment_id": enrolment_id,
        "modality": c.modality.value,
        "position": c.position,
        "device": c.device,
        "quality": c.quality,
        "blob_ref": c.blob_ref,
        "template_ref": c.template_ref,
        "exception_reason": c.exception.reason if c.exception else None,
        "exception_approved_by": c.exception.approved_by if c.exception else None,
    }


def capture_from_row(row: Any) -> Capture:
    exc = (
        CaptureException(reason=row.exception_reason, approved_by=row.exception_approved_by)
        if row.exception_reason
        else None
    )
    return Capture(
        modality=row.modality,
        position=row.position,
        device=row.device,
        quality=row.quality,
        blob_ref=row.blob_ref,
        template_ref=row.template_ref,
        exception=exc,
    )


def job_to_row(j: PrintJob) -> dict[str, Any]:
    return {
        "id": j.id,
        "enrolment_id": j.enrolment_id,
        "site_code": j.site_code,
        "state": j.state.value,
        "routing_reason": j.routing_reason,
        "blank_serial": j.blank_serial,
        "printer": j.printer,
        "reason": j.reason,
        "print_day": j.print_day,
        "created_at": j.created_at,
        "updated_at": j.updated_at,
    }


def job_from_row(row: Any) -> PrintJob:
    return PrintJob(
        id=row.id,
        enrolment_id=row.enrolment_id,
        site_code=row.site_code,
        state=row.state,
        routing_reason=row.routing_reason,
        blank_serial=row.blank_serial,
        printer=row.printer,
        reason=row.reason,
        print_day=row.print_day,
        created_at=utc(row.created_at),
        updated_at=utc(row.updated_at) if row.updated_at else None,
    )


def blank_from_row(row: Any) -> Blank:
    return Blank(
        serial=row.serial,
        site_code=row.site_code,
        state=row.state,
        job_id=row.job_id,
        enrolment_id=row.enrolment_id,
        reason=row.reason,
    )


def site_to_row(s: Site) -> dict[str, Any]:
    return {
        "code": s.code,
        "name": s.name,
        "kind": s.kind.value,
        "records": s.records,
        "prints": s.prints,
        "region_code": s.region_code,
    }


def site_from_row(row: Any) -> Site:
    return Site(
        code=row.code, name=row.name, kind=row.kind, records=row.records, prints=row.prints, region_code=row.region_code
    )


def operator_from_row(row: Any) -> Operator:
    return Operator(
        username=row.username,
        full_name=row.full_name,
        role=row.role,
        site_code=row.site_code,
        password_hash=row.password_hash,
        active=row.active,
    )


# --------------------------------------------------------------------------------------------------
# Reads
# --------------------------------------------------------------------------------------------------


@functools.cache
def _by_key(table: sa.Table, key: str, lock: bool) -> sa.Select[Any]:
    query = sa.select(table).where(table.c[key] == sa.bindparam("key"))
    return query.with_for_update() if lock else query


def _get_one(conn: Connection, table: sa.Table, key: str, value: str, kind: str, lock: bool) -> Any:
    row = conn.execute(_by_key(table, key, lock), {"key": value}).one_or_none()
    if row is None:
        raise NotFound(kind, value)
    return row


def get_enrolment(conn: Connection, enrolment_id: str, *, lock: bool = False) -> Enrolment:
    return enrolment_from_row(_get_one(conn, enrolments, "id", enrolment_id, "enrolment", lock))


def get_job(conn: Connection, job_id: str, *, lock: bool = False) -> PrintJob:
    return job_from_row(_get_one(conn, print_jobs, "id", job_id, "print job", lock))


def get_blank(conn: Connection, serial: str, *, lock: bool = False) -> Blank:
    return blank_from_row(get_blank_row(conn, serial, lock=lock))


def get_blank_row(conn: Connection, serial: str, *, lock: bool = False) -> Any:
    """A blank's row as stored, with what the domain type leaves out (``updated_at``, for its counters)."""
    return _get_one(conn, blanks, "serial", serial, "blank", lock)


def get_operator(conn: Connection, username: str) -> Operator:
    return operator_from_row(_get_one(conn, operators, "username", username, "operator", False))


def list_captures(conn: Connection, enrolment_id: str) -> list[Capture]:
    rows = conn.execute(sa.select(captures).where(captures.c.enrolment_id == enrolment_id).order_by(captures.c.id))
    return [capture_from_row(r) for r in rows]


def list_sites(conn: Connection) -> list[Site]:
    return [site_from_row(r) for r in conn.execute(sa.select(sites).order_by(sites.c.code))]


def list_jobs(conn: Connection, *, site_code: str | None = None, states: tuple[str, ...] = ()) -> list[PrintJob]:
    query = sa.select(print_jobs).order_by(print_jobs.c.created_at, print_jobs.c.id)
    if site_code:
        query = query.where(print_jobs.c.site_code == site_code)
    if states:
        query = query.where(print_jobs.c.state.in_(states))
    return [job_from_row(r) for r in conn.execute(query)]
