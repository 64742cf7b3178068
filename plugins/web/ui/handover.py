"""Penyerahan (handover): find a printed card by NIK, look at the resident's photo and card, check the
holder's finger 1:1 on this site's reader, and hand the card over (CARD_ISSUED).

The reader is the one the recording pages use (built once per app, kept open: see
:mod:`.record_devices`). With the emulated U.are.U reader the holder is simulated: by default the
resident's own synthetic finger (the one the recording pages presented, in a new impression), or,
to show a refusal, another person's.
"""

from __future__ import annotations

import secrets
from typing import Any

from ektp_plugins.web.ui import access
from ektp_plugins.web.ui.app import _, current_user, node, say
from ektp_plugins.web.ui.enrolments import scoped_enrolment
from ektp_plugins.web.ui.images import image_response
from flask import Blueprint, flash, redirect, render_template, request, url_for

from ektp_core.devices.scanners import Sample, ScannerError
from ektp_core.domain import nik as nik_rules
from ektp_core.domain.model import FINGER_POSITIONS, Enrolment, EnrolmentState, Modality
from ektp_core.errors import EktpError, IllegalTransition
from ektp_core.services.capture import CaptureService
from ektp_core.services.verification import HANDOVER_FROM, HandoverRefused, VerificationService
from ektp_core.store.read_models import enrolment_search

bp = Blueprint("handover", __name__)

#: The finger asked for first when the enrolment has its template.
PREFERRED = ("right_index", "right_thumb", "left_index", "left_thumb")
#: The emulator's simulated holders: the resident, or somebody else (a refusal to show).
HOLDERS = ("resident", "other")
#: The impression the emulated resident places at handover (recording used the first ones).
HANDOVER_IMPRESSION = 2


def _find(nik: str) -> Enrolment | None:
    """The newest enrolment of a NIK that this node may show."""
    n = node()
    with n.lifecycle.store.read() as conn:
        return enrolment_search.newest_of_nik(conn, nik, site_code=None if n.is_dukcapil else n.site.code)


def _fingers(enrolment_id: str) -> list[str]:
    """Finger positions with a stored template (only those can be checked), the preferred first."""
    have = {
        c.position
        for c in CaptureService(node().lifecycle).captures(enrolment_id)
        if c.modality is Modality.FINGER and c.template_ref is not None
    }
    ordered = [p for p in PREFERRED if p in have] + [p for p in FINGER_POSITIONS if p in have and p not in PREFERRED]
    return ordered


def _printed_job(enrolment_id: str) -> str | None:
    with node().lifecycle.store.read() as conn:
        return enrolment_search.printed_job_of(conn, enrolment_id)


def _reader() -> Any:
    """The site's fingerprint reader as the recording pages keep it (None when the site has none)."""
    from ektp_plugins.web.ui.record_base import devices

    found = devices().for_modality(Modality.FINGER)
    return found[0] if found else None


@bp.get("/handover")
@access.allow(access.DESK)
def index() -> Any:
    """Search by NIK; a printed card shows the photo, the card and the finger check."""
    typed = (request.args.get("nik") or "").strip()
    enrolment = None
    problem = None
    if typed:
        digits = nik_rules.digits_of(typed)
        if digits is None:
            problem = _("handover.err.nik_format")
        else:
            enrolment = _find(digits)
            if enrolment is None:
                problem = _("handover.err.not_found", nik=digits)
    reader = _reader()
    ready = enrolment is not None and enrolment.state in HANDOVER_FROM
    return render_template(
        "handover/index.html",
        typed=typed,
        enrolment=enrolment,
        problem=problem,
        ready=ready,
        fingers=_fingers(enrolment.id) if enrolment is not None else [],
        job_id=_printed_job(enrolment.id) if enrolment is not None else None,
        reader=reader,
        emulated=reader is not None and getattr(reader.driver, "emulator", None) is not None,
        holders=HOLDERS,
        issued=enrolment is not None and enrolment.state is EnrolmentState.CARD_ISSUED,
    )


@bp.get("/handover/<enrolment_id>/photo")
@access.allow(access.DESK)
def photo(enrolment_id: str) -> Any:
    """The resident's pas foto, never cached."""
    scoped_enrolment(enrolment_id)
    try:
        data = CaptureService(node().lifecycle).image(enrolment_id, Modality.FACE, "face")
    except EktpError:
        data = None
    return image_response(data)


@bp.post("/handover/<enrolment_id>")
@access.allow(access.DESK)
def check(enrolment_id: str) -> Any:
    """Take the holder's finger and hand the card over when it matches (the core audits a refusal)."""
    n = node()
    user = current_user()
    assert user is not None
    enrolment = scoped_enrolment(enrolment_id)
    back = redirect(url_for("handover.index", nik=enrolment.biodata.nik.value))
    position = request.form.get("position", "")
    if position not in FINGER_POSITIONS:
        flash(_("handover.err.position"), "error")
        return back
    if enrolment.state not in HANDOVER_FROM:
        flash(_("handover.err.not_printed", state=_("state." + enrolment.state.value)), "error")
        return back
    reader = _reader()
    if reader is None:
        flash(_("handover.err.no_reader", site=n.site.code), "error")
        return back
    try:
        sample = _capture(reader, enrolment_id, position, request.form.get("holder", "resident"))
    except ScannerError as exc:
        flash(_("handover.err.scanner", device=reader.name, detail=say(exc)), "error")
        return back
    if sample.template is None:
        flash(_("handover.err.no_template", device=reader.name), "error")
        return back
    finger = _("handover.finger." + position)
    try:
        score = VerificationService.for_deployment(n.lifecycle, n.host).handover(
            enrolment_id, position, sample.template, operator=user.username
        )
    except HandoverRefused as exc:
        flash(_("handover.refused", finger=finger, detail=say(exc)), "error")
        return back
    except IllegalTransition as exc:
        flash(_("handover.err.not_printed", state=say(exc)), "error")
        return back
    except EktpError as exc:
        flash(_("handover.err.other", detail=say(exc)), "error")
        return back
    flash(_("handover.issued", nama=enrolment.biodata.nama, finger=finger, score=f"{score:g}"), "ok")
    return back


def _capture(reader: Any, enrolment_id: str, position: str, holder: str) -> Sample:
    """One finger from the reader. With the emulated reader, ``holder`` says whose finger is placed."""
    from ektp_plugins.web.ui.record_base import devices

    emulator = getattr(reader.driver, "emulator", None)
    if emulator is None or holder != "other":
        # The recording pages' own path: the emulated reader shows the resident's synthetic finger.
        [sample] = devices().capture(
            reader, Modality.FINGER, (position,), enrolment_id=enrolment_id, attempt=HANDOVER_IMPRESSION + 1
        )
        return sample
    # Somebody else's finger on the emulated glass: a refusal to demonstrate. Placed under the
    # device's lock, exactly as the shared capture does, so no other desk's capture interleaves.
    if not reader.lock.acquire(blocking=False):
        raise ScannerError(f"{reader.name} is still busy with an earlier capture")
    try:
        if not reader.opened:
            reader.driver.open()
            reader.opened = True
        emulator.place_finger(seed=1_000_000 + secrets.randbelow(1_000_000), position=position, impression=0)
        [sample] = reader.driver.capture(Modality.FINGER, (position,))
        return sample  # type: ignore[no-any-return]
    finally:
        reader.lock.release()
