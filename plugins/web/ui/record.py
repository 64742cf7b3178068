"""Recording a resident (perekaman): the start page, the biodata form with its live NIK check, and resuming.

The enrolment is created (BIO_CAPTURED) as soon as the biodata form passes, so nothing typed is lost;
the capture steps (:mod:`.record_capture`) and the summary and confirmation (:mod:`.record_confirm`)
follow. Endpoints others link to: ``record.start`` (the menu) and ``record.resume`` (continue one).
"""

from __future__ import annotations

import re
import uuid
from typing import Any
from urllib.parse import quote

import attrs
from ektp_plugins.web.ui import access
from ektp_plugins.web.ui.app import _, node, say
from ektp_plugins.web.ui.record_base import (
    bp,
    capture_service,
    enrolment_here,
    first_missing_step,
    not_recording,
    username,
)
from ektp_plugins.web.ui.record_forms import CHOICES, FIELDS, choices, nik_findings, open_enrolment, read_form
from flask import current_app, flash, jsonify, redirect, render_template, request, url_for

from ektp_core.domain.model import POSITIONS, Enrolment, EnrolmentState
from ektp_core.errors import Conflict, ValidationFailed
from ektp_core.store.read_models.recordings import in_progress

# The views of the other steps register on the same blueprint when imported.
from ektp_plugins.web.ui import record_capture, record_confirm  # noqa: F401  isort: skip

__all__ = ["bp"]
_DRAFT = re.compile(r"^[0-9a-f]{32}$")
_SLOTS = sum(len(p) for p in POSITIONS.values())


def _today() -> Any:
    return node().lifecycle.clock().date()


def _minimum_age() -> int:
    return int(node().deployment.profile.lifecycle.eligibility_age)


@attrs.frozen(slots=True)
class StartRow:
    """One recording in progress as the start page lists it. An object, not a dict: the template reads
    its cells as attributes, and Jinja looks an attribute up before an item (a dict's every cell would
    cost a failed attribute lookup first, 200 rows of seven cells)."""

    id: str
    nik: str
    nama: str
    operator: str
    created_at: Any
    #: When it was started, as the page shows it.
    started: str
    #: The link that resumes it.
    href: str
    filled: int
    slots: int = _SLOTS


def _in_progress() -> list[StartRow]:
    """This site's recordings still in progress (BIO_CAPTURED), newest first, with how many slots are filled."""
    n = node()
    with n.lifecycle.store.read() as conn:
        rows = in_progress(conn, n.site.code)
    # The link and the time are made here, once per row, not by url_for and a filter in the template:
    # the list holds up to 200 rows and this page is opened before every recording.
    resume = url_for("record.resume", enrolment_id="-")[:-1]
    when = current_app.jinja_env.filters["when"]
    return [
        StartRow(
            id=r.id,
            nik=r.nik,
            nama=r.nama,
            operator=r.operator,
            created_at=r.created_at,
            started=when(r.created_at),
            href=resume + quote(r.id, safe=""),
            filled=r.filled,
        )
        for r in rows
    ]


@bp.get("/record")
@access.allow(access.DESK)
def start() -> Any:
    """The start page: a new recording, and the recordings of this site still in progress."""
    if not node().site.records:
        return not_recording()
    return render_template("record/start.html", rows=_in_progress())


def _form_page(
    values: dict[str, str],
    errors: dict[str, list[tuple[str, dict[str, Any]]]],
    draft: str,
    status: int = 200,
    *,
    other: str | None = None,
    replace: str | None = None,
) -> Any:
    shown = {field: [_(key, **args) for key, args in problems] for field, problems in errors.items()}
    # The kelurahan of the NIK's kecamatan, for a page shown again (the script fills them as one types).
    kelurahan = (
        nik_findings(values["nik"], today=_today(), minimum_age=_minimum_age())["kelurahan"]
        if values.get("nik")
        else []
    )
    page = render_template(
        "record/biodata.html",
        values=values,
        errors=shown,
        draft=draft,
        choices=choices(),
        fields=FIELDS,
        choice_fields=CHOICES,
        minimum_age=_minimum_age(),
        other=other,
        replace=replace,
        kelurahan=kelurahan,
    )
    return page, status


@bp.get("/record/new")
@access.allow(access.DESK)
def new() -> Any:
    """The biodata form of a new recording."""
    if not node().site.records:
        return not_recording()
    return _form_page({f: "" for f in FIELDS}, {}, uuid.uuid4().hex)


@bp.post("/record/new")
@access.allow(access.DESK)
def create() -> Any:
    """Check the biodata on the server and create the enrolment (BIO_CAPTURED) at once."""
    n = node()
    if not n.site.records:
        return not_recording()
    draft = request.form.get("draft", "")
    if not _DRAFT.match(draft):
        draft = uuid.uuid4().hex
    form = read_form(request.form, today=_today(), minimum_age=_minimum_age())
    if not form.ok:
        return _form_page(form.values, form.errors, draft, 422)
    assert form.biodata is not None
    nik = form.biodata.nik.value
    # The same form sent twice (a double click, a reload) lands on the enrolment it already made.
    existing = open_enrolment(n.lifecycle, nik)
    if existing is not None and existing.id == draft:
        return redirect(url_for("record.resume", enrolment_id=draft))
    if existing is not None:
        form.add("nik", "rec.nik_in_progress", state=_("state." + existing.state), site=existing.site_code)
        here = existing.site_code == n.site.code and existing.state == EnrolmentState.BIO_CAPTURED.value
        return _form_page(form.values, form.errors, draft, 409, other=existing.id if here else None)
    try:
        n.lifecycle.record(Enrolment(id=draft, site_code=n.site.code, operator=username(), biodata=form.biodata))
    except ValidationFailed as exc:
        for problem in exc.problems:
            field, sep, message = problem.partition(": ")
            form.add(field if sep and field in FIELDS else "nik", "rec.invalid", reason=message if sep else problem)
        return _form_page(form.values, form.errors, draft, 422)
    except Conflict as exc:
        again = open_enrolment(n.lifecycle, nik)
        if again is not None and again.id == draft:
            return redirect(url_for("record.resume", enrolment_id=draft))
        form.add("nik", "rec.invalid", reason=say(exc))
        # The resident already holds a card: the core's message names the replacement path; the page
        # links it, with the NIK filled in.
        held = exc.as_message().code == "enrolment.card_active"
        return _form_page(form.values, form.errors, draft, 409, replace=nik if held else None)
    flash(_("rec.created", nama=form.biodata.nama), "ok")
    return redirect(url_for("record.resume", enrolment_id=draft))


@bp.get("/record/nik-check")
@access.allow(access.DESK)
def nik_check() -> Any:
    """The live NIK check (JSON): validity, region names, sex and birth date, cross-checks, eligibility."""
    args = request.args
    found = nik_findings(
        args.get("nik", "")[:40],
        sex=args.get("jenis_kelamin", "")[:1],
        birth=args.get("tanggal_lahir", "")[:10],
        status=args.get("status_perkawinan", "")[:40].upper(),
        today=_today(),
        minimum_age=_minimum_age(),
    )
    for kind in ("errors", "warnings"):
        found[kind] = {field: [_(key, **values) for key, values in problems] for field, problems in found[kind].items()}
    if found["valid"]:
        existing = open_enrolment(node().lifecycle, found["nik"])
        if existing is not None:
            found["errors"].setdefault("nik", []).append(
                _("rec.nik_in_progress", state=_("state." + existing.state), site=existing.site_code)
            )
            if existing.site_code == node().site.code and existing.state == EnrolmentState.BIO_CAPTURED.value:
                found["resume"] = url_for("record.resume", enrolment_id=existing.id)
    found["ok"] = found["valid"] and not found["errors"]
    return jsonify(found)


@bp.get("/record/<enrolment_id>")
@access.allow(access.DESK)
def resume(enrolment_id: str) -> Any:
    """Continue a recording: the first step with something missing, or the summary when all is there."""
    enrolment = enrolment_here(enrolment_id)
    if enrolment.state is not EnrolmentState.BIO_CAPTURED:
        return redirect(url_for("record.summary", enrolment_id=enrolment_id))
    step = first_missing_step(capture_service().captures(enrolment_id))
    if step is None:
        return redirect(url_for("record.summary", enrolment_id=enrolment_id))
    return redirect(url_for("record.step", enrolment_id=enrolment_id, modality=step.value))
