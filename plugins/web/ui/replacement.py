"""Layanan penggantian (replacement cards): a lost (hilang), damaged (rusak) or changed (perubahan) card
replaced from the resident's earlier record.

1. Search by NIK: the resident's newest record whose card was handed over, its photo and card.
2. The applicant's finger is checked 1:1 against that record on the desk's reader, exactly as at
   handover (:mod:`.handover`'s capture: the recording pages' shared devices, the emulated reader's
   simulated holder); the core audits the check either way.
3. The service form: the type and its papers (a police report's number and date, the surrendered
   card's serial, the changed fields' new values and the document that proves them). The core records
   the new enrolment; the desk continues it as an unfinished recording (:func:`record.resume`): to
   the summary when the earlier biometrics were carried over, to the capture steps when the finger
   did not match (or the profile asks for new biometrics).

The outcome of step 2 waits for step 3 in the login session (Flask's session cookie, signed with the
node's secret key, so a browser cannot forge a match), for one account, one NIK and
:data:`IDENTITY_VALID_SECONDS`; it is used once.
"""

from __future__ import annotations

import time
from typing import Any

from ektp_plugins.web.ui import access, handover
from ektp_plugins.web.ui.app import _, current_user, node, say
from ektp_plugins.web.ui.central import verification
from ektp_plugins.web.ui.dates import parse_date, show_date
from ektp_plugins.web.ui.images import image_response
from ektp_plugins.web.ui.record_base import not_recording
from ektp_plugins.web.ui.record_forms import FIELDS, choices, open_enrolment
from flask import Blueprint, abort, flash, redirect, render_template, request, session, url_for

from ektp_core.devices.scanners import ScannerError
from ektp_core.domain import nik as nik_rules
from ektp_core.domain.model import FINGER_POSITIONS, CardState, Enrolment, EnrolmentState, Modality, ServiceRequest
from ektp_core.errors import EktpError, InvalidValue, NotFound
from ektp_core.services.capture import CaptureService
from ektp_core.services.replacement import Identity, ReplacementService

bp = Blueprint("replacement", __name__)

#: The replacement types the form offers (``baru`` is a first card: the recording pages).
TYPES = ("hilang", "rusak", "perubahan")
#: The biodata fields a data change may give on the form (the recording form's, without the NIK).
CHANGE_FIELDS = tuple(f for f in FIELDS if f != "nik")
#: How long a finger check stays good for the service form.
IDENTITY_VALID_SECONDS = 15 * 60
_KEY = "replacement_identity"
_PAPERS = ("police_report_number", "police_report_date", "surrendered_serial", "proof_document")


def _service() -> ReplacementService:
    return ReplacementService(verification())


def _checked(nik: str) -> dict[str, Any] | None:
    """The finger check of ``nik`` kept for this account, while it is still good."""
    user = current_user()
    kept = session.get(_KEY)
    if not isinstance(kept, dict) or user is None:
        return None
    if kept.get("nik") != nik or kept.get("user") != user.username:
        return None
    if time.time() - float(kept.get("at", 0)) > IDENTITY_VALID_SECONDS:
        return None
    return kept


def _values(earlier: Enrolment) -> dict[str, str]:
    bio = earlier.biodata.to_dict()
    values = {f: "" if bio.get(f) is None else str(bio[f]) for f in CHANGE_FIELDS}
    values["tanggal_lahir"] = show_date(earlier.biodata.tanggal_lahir)
    return values


def _page(
    typed: str,
    *,
    earlier: Enrolment | None = None,
    problem: str | None = None,
    form: dict[str, str] | None = None,
    refused: str | None = None,
    status: int = 200,
) -> Any:
    n = node()
    nik = earlier.biodata.nik.value if earlier is not None else ""
    cards = n.lifecycle.cards_of(nik) if earlier is not None else []
    reader = handover._reader()
    checked = _checked(nik) if earlier is not None else None
    if checked is not None and earlier is not None and checked.get("earlier") != earlier.id:
        checked = None
    values = _values(earlier) if earlier is not None else {}
    papers = {k: "" for k in _PAPERS}
    chosen = ""
    if form is not None:
        values.update({f: form.get(f, "") for f in CHANGE_FIELDS})
        papers.update({k: form.get(k, "") for k in _PAPERS})
        chosen = form.get("service_type", "")
    page = render_template(
        "office/replace.html",
        typed=typed,
        earlier=earlier,
        problem=problem,
        refused=refused,
        open_one=open_enrolment(n.lifecycle, nik) if earlier is not None else None,
        active=next((c for c in cards if c.state is CardState.ACTIVE), None),
        cards=cards,
        fingers=handover._fingers(earlier.id) if earlier is not None else [],
        reader=reader,
        emulated=reader is not None and getattr(reader.driver, "emulator", None) is not None,
        holders=handover.HOLDERS,
        checked=checked,
        types=TYPES,
        chosen=chosen,
        values=values,
        papers=papers,
        errors={},
        choices=choices(),
    )
    return page, status


def _earlier(typed: str) -> tuple[Enrolment | None, str | None]:
    """The record a replacement of the typed NIK starts from, or the reason there is none."""
    digits = nik_rules.digits_of(typed)
    if digits is None:
        return None, _("handover.err.nik_format")
    try:
        return _service().earlier_record(digits), None
    except EktpError as exc:
        return None, say(exc)


@bp.get("/replace")
@access.allow(access.DESK)
def index() -> Any:
    """Search by NIK; the earlier record, its card, the finger check and then the service form."""
    if not node().site.records:
        return not_recording()
    typed = (request.args.get("nik") or "").strip()[:40]
    if not typed:
        return _page("")
    earlier, problem = _earlier(typed)
    return _page(typed, earlier=earlier, problem=problem, status=200 if earlier is not None else 404)


@bp.get("/replace/<enrolment_id>/photo")
@access.allow(access.DESK)
def photo(enrolment_id: str) -> Any:
    """The pas foto of a record a replacement may start from (its card was handed over), never cached."""
    n = node()
    try:
        enrolment = n.lifecycle.get(enrolment_id)
    except NotFound:
        abort(404)
    if enrolment.state is not EnrolmentState.CARD_ISSUED:
        abort(404)
    try:
        data = CaptureService(n.lifecycle).image(enrolment_id, Modality.FACE, "face")
    except EktpError:
        data = None
    return image_response(data)


@bp.post("/replace/check")
@access.allow(access.DESK)
def check() -> Any:
    """Take the applicant's finger and compare it 1:1 with the earlier record (audited by the core)."""
    n = node()
    if not n.site.records:
        return not_recording()
    user = current_user()
    assert user is not None
    typed = (request.form.get("nik") or "").strip()[:40]
    earlier, problem = _earlier(typed)
    if earlier is None:
        return _page(typed, problem=problem, status=404)
    back = redirect(url_for("replacement.index", nik=earlier.biodata.nik.value), code=303)
    position = request.form.get("position", "")
    if position not in FINGER_POSITIONS:
        flash(_("handover.err.position"), "error")
        return back
    reader = handover._reader()
    if reader is None:
        flash(_("handover.err.no_reader", site=n.site.code), "error")
        return back
    try:
        # The earlier record's resident: the emulated reader presents their synthetic finger.
        sample = handover._capture(reader, earlier.id, position, request.form.get("holder", "resident"))
    except ScannerError as exc:
        flash(_("handover.err.scanner", device=reader.name, detail=say(exc)), "error")
        return back
    if sample.template is None:
        flash(_("handover.err.no_template", device=reader.name), "error")
        return back
    try:
        identity = _service().identify(earlier.biodata.nik.value, position, sample.template, operator=user.username)
    except EktpError as exc:
        flash(_("rep.check_refused", detail=say(exc)), "error")
        return back
    session[_KEY] = {
        "nik": earlier.biodata.nik.value,
        "earlier": identity.earlier.id,
        "position": position,
        "score": identity.score,
        "threshold": identity.threshold,
        "user": user.username,
        "at": time.time(),
    }
    finger = _("handover.finger." + position)
    if identity.matched:
        flash(_("rep.matched", finger=finger, score=f"{identity.score:g}"), "ok")
    else:
        flash(_("rep.not_matched", finger=finger, score=f"{identity.score:g}"), "warn")
    return back


def _service_request(form: Any, earlier: Enrolment) -> tuple[ServiceRequest, dict[str, str]]:
    """The service request and a data change's new values from the posted form; raises
    :class:`InvalidValue` (the core's refusal) or :class:`_Refused` (the form's own)."""
    kind = form.get("service_type", "")
    if kind not in TYPES:
        raise _Refused("rep.choose_type")
    old = _values(earlier)
    typed = {f: " ".join(str(form.get(f, "")).split()) for f in CHANGE_FIELDS}
    changes: dict[str, str] = {}
    for field in CHANGE_FIELDS:
        if field not in form or typed[field] == old[field]:
            continue
        value = typed[field]
        if field == "tanggal_lahir":
            parsed = parse_date(value)
            if parsed is None:
                raise _Refused("rep.bad_date", field=_("rec.f.tanggal_lahir"))
            if show_date(parsed) == old[field]:
                continue
            value = parsed.isoformat()
        changes[field] = value.upper() if field in ("golongan_darah", "agama", "status_perkawinan") else value
    if changes and kind != "perubahan":
        raise _Refused("rep.changes_only_perubahan")
    police_date = None
    raw_date = (form.get("police_report_date") or "").strip()
    if raw_date:
        police_date = parse_date(raw_date)
        if police_date is None:
            raise _Refused("rep.bad_date", field=_("rep.police_date"))
    service = ServiceRequest(
        type=kind,
        replaces=earlier.id,
        police_report_number=(form.get("police_report_number") or "").strip() or None,
        police_report_date=police_date,
        surrendered_serial=(form.get("surrendered_serial") or "").strip() or None,
        changed_fields=tuple(changes),
        proof_document=(form.get("proof_document") or "").strip() or None,
    )
    return service, changes


class _Refused(Exception):
    """The form itself is wrong (a catalogue key and its values), before the core is asked."""

    def __init__(self, key: str, **values: Any) -> None:
        super().__init__(key)
        self.key = key
        self.values = values


@bp.post("/replace/start")
@access.allow(access.DESK)
def start() -> Any:
    """Record the replacement from the checked record; then continue it as an unfinished recording."""
    n = node()
    if not n.site.records:
        return not_recording()
    user = current_user()
    assert user is not None
    typed = (request.form.get("nik") or "").strip()[:40]
    earlier, problem = _earlier(typed)
    if earlier is None:
        return _page(typed, problem=problem, status=404)
    form = request.form.to_dict()
    checked = _checked(earlier.biodata.nik.value)
    if checked is None or checked.get("earlier") != earlier.id:
        return _page(typed, earlier=earlier, form=form, refused=_("rep.check_first"), status=409)
    try:
        service, changes = _service_request(request.form, earlier)
    except _Refused as exc:
        return _page(typed, earlier=earlier, form=form, refused=_(exc.key, **exc.values), status=422)
    except InvalidValue as exc:
        return _page(typed, earlier=earlier, form=form, refused=say(exc), status=422)
    identity = Identity(earlier, str(checked["position"]), float(checked["score"]), float(checked["threshold"]))
    try:
        enrolment = _service().start(identity, service, operator=user.username, site_code=n.site.code, changes=changes)
    except EktpError as exc:
        return _page(typed, earlier=earlier, form=form, refused=say(exc), status=409)
    session.pop(_KEY, None)  # one check, one replacement
    kind = _("service." + service.type.value)
    if CaptureService(n.lifecycle).captures(enrolment.id):
        flash(_("rep.started_copied", kind=kind), "ok")
    elif identity.matched:
        flash(_("rep.started_profile_rerecord", kind=kind), "warn")
    else:
        flash(_("rep.started_rerecord", kind=kind), "warn")
    return redirect(url_for("record.resume", enrolment_id=enrolment.id), code=303)
