"""Enrolments: search (by NIK or name, with a state filter, paged) and one enrolment's whole story:
biodata, the SIAK status timeline from the audit log, the central system's verdict with its reasons
and candidates, print jobs and the captured images.

A site node shows only its own enrolments; the Dukcapil node shows the regency's (filter by site).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import attrs
from ektp_plugins.web.ui import access
from ektp_plugins.web.ui.app import _, current_user, node, say
from ektp_plugins.web.ui.central import verification
from ektp_plugins.web.ui.dates import show_date
from ektp_plugins.web.ui.images import image_response
from ektp_plugins.web.ui.search_text import SearchInvalid, parse_query
from ektp_plugins.web.ui.states import state_label, unsent
from flask import Blueprint, abort, current_app, render_template, request, url_for

from ektp_core.domain.model import POSITIONS, Enrolment, EnrolmentState, Modality, Role
from ektp_core.errors import EktpError, NotFound
from ektp_core.lifecycle import audit
from ektp_core.lifecycle.states import CANCELLABLE_STATES
from ektp_core.services.capture import CaptureService
from ektp_core.services.corrections import CORRECTABLE_AFTER_SENDING
from ektp_core.store.read_models import enrolment_search, sync_status
from ektp_core.store.read_models.enrolment_search import PAGE_SIZE

bp = Blueprint("enrolments", __name__)

#: Biodata fields in card order, as the detail page lists them.
BIODATA_FIELDS = (
    "nik",
    "nama",
    "tempat_lahir",
    "tanggal_lahir",
    "jenis_kelamin",
    "golongan_darah",
    "alamat",
    "rt",
    "rw",
    "kelurahan",
    "kecamatan",
    "kabupaten_kota",
    "provinsi",
    "agama",
    "status_perkawinan",
    "pekerjaan",
    "kewarganegaraan",
    "berlaku_hingga",
    "no_kk",
)
#: Audit actions about an enrolment that are not state changes but belong in its story.
SECONDARY = (
    "capture.saved",
    "capture.exception",
    "enrolment.handover_refused",
    "enrolment.corrected",
    "enrolment.identity_checked",
    "enrolment.biometrics_destroyed",
)


def scoped_enrolment(enrolment_id: str) -> Enrolment:
    """The enrolment if this node may show it (404 otherwise: another site's is as unknown as none)."""
    n = node()
    try:
        enrolment = n.lifecycle.get(enrolment_id)
    except NotFound:
        abort(404)
    if not n.is_dukcapil and enrolment.site_code != n.site.code:
        abort(404)
    return enrolment


def may_correct(enrolment: Enrolment) -> bool:
    """True when the logged-in account may correct the enrolment here, as the core would decide: not
    yet sent, at its own site; sent (and not yet queued for printing), a supervisor at the Dukcapil node."""
    user = current_user()
    n = node()
    if user is None:
        return False
    if enrolment.state is EnrolmentState.BIO_CAPTURED:
        return enrolment.site_code == n.site.code and user.role in access.DESK
    return enrolment.state in CORRECTABLE_AFTER_SENDING and n.is_dukcapil and user.role is Role.SUPERVISOR


def may_cancel(enrolment: Enrolment) -> bool:
    """True when the logged-in account is a supervisor and the enrolment is in a cancellable state
    (at a site, the core still refuses one already sent to the Dukcapil node, and says so)."""
    user = current_user()
    return user is not None and user.role is Role.SUPERVISOR and enrolment.state in CANCELLABLE_STATES


def _page_number(raw: str | None) -> int:
    try:
        return max(1, int(raw or 1))
    except ValueError:
        return 1


@bp.get("/enrolments")
@access.allow(access.DESK | access.SUPERVISORS)
def index() -> Any:
    """Search by NIK (exact, or the first digits) or by part of the name; filter by state (and site)."""
    n = node()
    text = request.args.get("q", "").strip()[:120]
    state_text = request.args.get("state", "")
    site_text = request.args.get("site", "") if n.is_dukcapil else ""
    error = None
    status = 200
    state = None
    if state_text:
        try:
            state = EnrolmentState(state_text)
        except ValueError:
            error, status = _("enr.bad_state"), 400
    sites = {s.code: s for s in n.deployment.profile.sites}
    if site_text and site_text not in sites:
        error, status = _("enr.bad_site"), 400
    try:
        query = parse_query(text)
    except SearchInvalid as exc:
        error, status, query = _(exc.key), 400, None
    page = None
    if error is None:
        site_code = (site_text or None) if n.is_dukcapil else n.site.code
        with n.lifecycle.store.read() as conn:
            page = enrolment_search.search(
                conn, term=query, state=state, site_code=site_code, page=_page_number(request.args.get("page"))
            )
    args = {k: v for k, v in (("q", text), ("state", state_text), ("site", site_text)) if v}
    body = render_template(
        "enrolments/index.html",
        page=page,
        error=error,
        q=text,
        state=state_text,
        site=site_text,
        sites=sites,
        states=list(EnrolmentState),
        args=args,
        page_size=PAGE_SIZE,
        unsent=unsent([r.id for r in page.rows]) if page is not None else frozenset(),
        state_label=state_label,
    )
    return body, status


@attrs.frozen
class Event:
    """One line of the status timeline."""

    at: str
    actor: str
    action: str
    #: True for a SIAK state change, False for a capture, an exception or a refused handover.
    state_change: bool
    to_state: str | None = None
    from_state: str | None = None
    #: The reason: a message (as its dict) or, in entries written before 0.3, plain text.
    reason: Any = None
    detail: dict[str, Any] = attrs.field(factory=dict)


def timeline(conn: Any, enrolment_id: str, job_ids: Sequence[str] = ()) -> list[Event]:
    """The enrolment's audit entries, oldest first: its state changes and, between them, the secondary
    events (captures, exceptions, refused handovers, and the steps of its print jobs), read in one
    statement on the page's read transaction ``conn``."""
    events = []
    entries = audit.entries_about(conn, [enrolment_id, *job_ids])
    for entry in entries:
        detail = dict(entry.detail)
        if entry.subject_kind == "enrolment" and "to" in detail:
            events.append(
                Event(
                    at=entry.at,
                    actor=entry.actor,
                    action=entry.action,
                    state_change=True,
                    to_state=str(detail["to"]),
                    from_state=detail.get("from"),
                    reason=detail.get("reason_message") or detail.get("reason"),
                    detail=detail,
                )
            )
        elif entry.action in SECONDARY or (entry.subject_kind == "print_job" and "to" in detail):
            events.append(
                Event(
                    at=entry.at,
                    actor=entry.actor,
                    action=entry.action,
                    state_change=False,
                    to_state=detail.get("to"),
                    reason=detail.get("reason_message") or detail.get("reason"),
                    detail=detail,
                )
            )
    return events


def verdict_of(enrolment_id: str) -> tuple[Any, str | None]:
    """What the node knows of the enrolment's trip to the central system, or the reason it cannot say."""
    try:
        return verification().status(enrolment_id), None
    except EktpError as exc:
        return None, say(exc)


@bp.get("/enrolments/<enrolment_id>")
@access.allow(access.DESK | access.SUPERVISORS)
def detail(enrolment_id: str) -> Any:
    """One enrolment: biodata, timeline, verdict, print jobs and captures."""
    enrolment = scoped_enrolment(enrolment_id)
    n = node()
    captures = CaptureService(n.lifecycle).captures(enrolment_id)
    by_slot = {(c.modality, c.position): c for c in captures}
    slots = [(m, p, by_slot.get((m, p))) for m, positions in POSITIONS.items() for p in positions]
    status, verdict_error = verdict_of(enrolment_id)
    # One snapshot for the print jobs, the timeline and the arrival (one transaction, not one each).
    with n.lifecycle.store.read() as conn:
        jobs = list(enrolment_search.jobs_of(conn, enrolment_id))
        events = timeline(conn, enrolment_id, [j.id for j in jobs])
        # A travelled enrolment keeps its site's recording time; its arrival here is shown beside it.
        arrived = sync_status.arrived_at(conn, enrolment_id) if n.is_dukcapil else None
    resume = None
    if enrolment.state is EnrolmentState.BIO_CAPTURED and "record.resume" in current_app.view_functions:
        resume = url_for("record.resume", enrolment_id=enrolment_id)
    adjudicate = None
    user = current_user()
    if (
        enrolment.state is EnrolmentState.ADJUDICATE_RECORD
        and n.is_dukcapil
        and user is not None
        and user.role in access.SUPERVISORS
    ):
        adjudicate = url_for("adjudication.show", enrolment_id=enrolment_id)
    bio = enrolment.biodata.to_dict()
    bio["jenis_kelamin"] = enrolment.biodata.jenis_kelamin_label
    bio["tanggal_lahir"] = show_date(enrolment.biodata.tanggal_lahir)
    bio["berlaku_hingga"] = enrolment.biodata.berlaku_hingga_label
    sites = {s.code: s for s in n.deployment.profile.sites}
    return render_template(
        "enrolments/detail.html",
        e=enrolment,
        bio=bio,
        fields=BIODATA_FIELDS,
        events=events,
        status=status,
        verdict_error=verdict_error,
        jobs=jobs,
        slots=slots,
        resume=resume,
        adjudicate=adjudicate,
        sites=sites,
        face=by_slot.get((Modality.FACE, "face")),
        unsent=unsent([enrolment_id]),
        state_label=state_label,
        arrived=arrived,
        service=enrolment.service,
        replaces=_replaced(enrolment),
        cards=[c for c in n.lifecycle.cards_of(enrolment.biodata.nik.value) if c.enrolment_id == enrolment_id],
        correct=url_for("enrolments.correct_form", enrolment_id=enrolment_id) if may_correct(enrolment) else None,
        cancel=may_cancel(enrolment),
    )


def _replaced(enrolment: Enrolment) -> str | None:
    """The link to the enrolment a replacement starts from, when this node may show it."""
    earlier = enrolment.service.replaces
    if not earlier:
        return None
    n = node()
    try:
        found = n.lifecycle.get(earlier)
    except NotFound:
        return None  # recorded at another node: its id is shown without a link
    if not n.is_dukcapil and found.site_code != n.site.code:
        return None
    return url_for("enrolments.detail", enrolment_id=earlier)


@bp.get("/enrolments/<enrolment_id>/image/<modality>/<position>")
@access.allow(access.DESK | access.SUPERVISORS)
def image(enrolment_id: str, modality: str, position: str) -> Any:
    """One capture's image, decrypted for this response only (never cached)."""
    scoped_enrolment(enrolment_id)
    try:
        wanted = Modality(modality)
    except ValueError:
        abort(404)
    if position not in POSITIONS[wanted]:
        abort(404)
    try:
        data = CaptureService(node().lifecycle).image(enrolment_id, wanted, position)
    except EktpError:
        abort(404)
    return image_response(data)


# The correction and cancellation views register on this blueprint when imported.
from ektp_plugins.web.ui import enrolment_corrections  # noqa: E402, F401  isort: skip
