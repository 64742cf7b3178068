"""The capture steps of a recording: face, ten fingers, two irises, signature.

Each capture is stored the moment it is taken (``CaptureService.add``); a sample under the profile's
threshold is refused and counted, and the operator tries again or, for a missing or damaged finger or
eye, records an exception that a supervisor approves on the spot with their password.
"""

from __future__ import annotations

import functools
import importlib
import secrets
from collections.abc import Iterator
from typing import Any

from ektp_plugins.web.ui import access
from ektp_plugins.web.ui.app import _, node, say, source
from ektp_plugins.web.ui.record_base import (
    STEPS,
    attempts,
    bp,
    capture_service,
    common,
    devices,
    enrolment_here,
    not_recording,
    recording,
    slots,
    username,
)
from ektp_plugins.web.ui.record_devices import ScannerBusy
from ektp_plugins.web.ui.record_images import BadImage, from_data_url, picture
from flask import Response, abort, flash, redirect, render_template, request, stream_with_context, url_for
from werkzeug.wrappers import Response as BaseResponse

from ektp_core.devices.scanners import Sample, ScannerError, ScannerNotConnected, ScannerTimeout
from ektp_core.domain.model import POSITIONS, Modality, Role
from ektp_core.errors import EktpError
from ektp_core.keys import crypto
from ektp_core.services.capture import QualityTooLow

#: Why a biometric cannot be taken (stored as the exception's reason, with the operator's note).
EXCEPTION_REASONS = ("missing", "damaged")
#: What to do once the retries are spent. Only a finger or an eye may be recorded as an exception (the
#: step offers its form); the card cannot go without the photo or the signature, so those are taken again.
_NO_RETRIES = {
    Modality.FINGER: "rec.no_retries_left",
    Modality.IRIS: "rec.no_retries_left",
    Modality.FACE: "rec.no_retries_left_face",
    Modality.SIGNATURE: "rec.no_retries_left_signature",
}
#: Fingers an SBI slap scanner takes together.
SLAP_GROUPS = (
    ("left_four", ("left_index", "left_middle", "left_ring", "left_little")),
    ("right_four", ("right_index", "right_middle", "right_ring", "right_little")),
    ("thumbs", ("left_thumb", "right_thumb")),
)


def _modality(value: str) -> Modality:
    try:
        modality = Modality(value)
    except ValueError:
        abort(404)
    return modality


def _back(enrolment_id: str, modality: Modality, position: str = "") -> BaseResponse:
    # Back to the step's page, whose first missing slot has the focus (Enter takes the next one); the
    # message about ``position`` is at the top.
    return redirect(url_for("record.step", enrolment_id=enrolment_id, modality=modality.value))


@bp.get("/record/<enrolment_id>/step/<modality>")
@access.allow(access.DESK)
def step(enrolment_id: str, modality: str) -> Any:
    """One capture step: each slot with its capture, quality or exception, and how to take the rest."""
    if (page := not_recording()) is not None:
        return page
    kind = _modality(modality)
    enrolment = recording(enrolment_id)
    if isinstance(enrolment, Response):
        return enrolment
    service = capture_service()
    taken = service.captures(enrolment_id)
    desk = devices()
    here = desk.for_modality(kind)
    counted = attempts()
    tries = {p: counted.get((enrolment_id, kind.value, p), 0) for p in POSITIONS[kind]}
    groups: tuple[tuple[str, tuple[str, ...]], ...] = ()
    if kind is Modality.FINGER and any(d.slaps for d in here):
        groups = SLAP_GROUPS
    elif kind is Modality.IRIS and any(d.slaps for d in here):
        groups = (("both_eyes", ("left", "right")),)
    index = STEPS.index(kind)
    following = STEPS[index + 1] if index + 1 < len(STEPS) else None
    listed = slots(taken, kind)
    return render_template(
        "record/step.html",
        **common(enrolment, taken),
        modality=kind,
        slots=listed,
        devices=here,
        first_missing=next((position for position, c in listed if c is None), None),
        groups=groups,
        rule=service.policy[kind],
        tries=tries,
        reasons=EXCEPTION_REASONS,
        upload=not here,
        following=following,
        device_problems=desk.problems,
    )


def _store(enrolment_id: str, sample: Sample) -> bool:
    """Keep one sample; on a quality too low, count the attempt and say so. True when it was kept."""
    key = (enrolment_id, sample.modality.value, sample.position)
    counted = attempts()
    attempt = counted.get(key, 0) + 1
    label = _(f"rec.pos.{sample.position}")
    try:
        capture_service().add(enrolment_id, sample, actor=username(), attempt=attempt)
    except QualityTooLow as exc:
        counted[key] = attempt
        advice = _("rec.retry", left=exc.attempts_left) if exc.attempts_left else _(_NO_RETRIES[sample.modality])
        flash(_("rec.quality_low", slot=label, score=exc.score, threshold=exc.threshold) + " " + advice, "warn")
        return False
    counted.pop(key, None)
    threshold = capture_service().policy[sample.modality].min_quality
    flash(_("rec.captured", slot=label, score=sample.quality, threshold=threshold), "ok")
    return True


@bp.post("/record/<enrolment_id>/capture")
@access.allow(access.DESK)
def capture(enrolment_id: str) -> Any:
    """Capture one finger (or a slap, both irises, the face) from a device of this site and store it."""
    if (refused := _open_recording(enrolment_id)) is not None:
        return refused
    kind = _modality(request.form.get("modality", ""))
    positions = tuple(p for p in request.form.getlist("position") if p in POSITIONS[kind])
    # A slap skips the fingers already recorded as exceptions (the SBI request names them as such).
    excepted = tuple(
        c.position
        for c in capture_service().captures(enrolment_id)
        if c.modality is kind and c.exception is not None and c.position in positions
    )
    positions = tuple(p for p in positions if p not in excepted)
    if not positions:
        flash(_("rec.no_position"), "error")
        return _back(enrolment_id, kind)
    desk = devices()
    try:
        device = desk.get(request.form.get("device", ""))
        if kind not in device.modalities:
            raise ScannerNotConnected(f"{device.name} does not capture {kind.value}")
        if not device.slaps:
            positions = positions[:1]  # a single-finger reader: one placing, one finger
        samples = desk.capture(
            device,
            kind,
            positions,
            exceptions=excepted,
            enrolment_id=enrolment_id,
            attempt=attempts().get((enrolment_id, kind.value, positions[0]), 0) + 1,
        )
    except ScannerBusy:
        flash(_("rec.scanner_busy"), "error")
        return _back(enrolment_id, kind, positions[0])
    except ScannerTimeout as exc:
        flash(_("rec.scanner_timeout", detail=say(exc)), "error")
        return _back(enrolment_id, kind, positions[0])
    except ScannerNotConnected as exc:
        flash(_("rec.scanner_absent", detail=say(exc)), "error")
        return _back(enrolment_id, kind, positions[0])
    except ScannerError as exc:
        flash(_("rec.scanner_failed", detail=say(exc)), "error")
        return _back(enrolment_id, kind, positions[0])
    for sample in samples:
        try:
            _store(enrolment_id, sample)
        except EktpError as exc:  # the enrolment moved on meanwhile (sent from another tab)
            flash(_("rec.not_stored", detail=say(exc)), "error")
            break
    return _back(enrolment_id, kind, positions[0])


def _open_recording(enrolment_id: str) -> Response | None:
    """None when this site records and the enrolment is one it is recording; otherwise the page to answer
    with (the site does not record, or the enrolment is not there or no longer recording)."""
    if (page := not_recording()) is not None:
        return page
    enrolment = recording(enrolment_id)
    return enrolment if isinstance(enrolment, Response) else None


def _form_slot(enrolment_id: str, kinds: tuple[Modality, ...] | None = None) -> tuple[Modality, str] | BaseResponse:
    """The modality and position a form names, or the page that refuses them."""
    kind = _modality(request.form.get("modality", ""))
    position = request.form.get("position", "")
    if (kinds is not None and kind not in kinds) or position not in POSITIONS[kind]:
        flash(_("rec.no_position"), "error")
        return _back(enrolment_id, kind)
    return kind, position


@bp.post("/record/<enrolment_id>/upload")
@access.allow(access.DESK)
def upload(enrolment_id: str) -> Any:
    """The signature pad's drawing, or a picture where the site has no device for that modality."""
    if (refused := _open_recording(enrolment_id)) is not None:
        return refused
    slot = _form_slot(enrolment_id)
    if isinstance(slot, BaseResponse):
        return slot
    kind, position = slot
    if kind is not Modality.SIGNATURE and devices().for_modality(kind):
        # A device is there: its capture (and its quality score) is the record, not a file.
        flash(_("rec.upload_not_here"), "error")
        return _back(enrolment_id, kind, position)
    try:
        drawn = request.form.get("drawing", "")
        if drawn:
            data = from_data_url(drawn)
        else:
            sent = request.files.get("file")
            data = sent.read(8 * 1024 * 1024 + 1) if sent is not None else b""
            if not data and kind is Modality.SIGNATURE and request.form.get("pad") == "1":
                # Saved from the pad with nothing drawn (and no file): the pad is empty, not a file missing.
                raise BadImage("rec.sig_pad_empty")
        image, quality = picture(data, kind)
    except BadImage as exc:
        flash(_(exc.key, **exc.values), "error")
        return _back(enrolment_id, kind, position)
    template = _finger_template(image) if kind is Modality.FINGER else None
    device = "signature-pad" if drawn else f"upload:{username()}"
    sample = Sample(modality=kind, position=position, image=image, quality=quality, device=device, template=template)
    try:
        _store(enrolment_id, sample)
    except EktpError as exc:
        flash(_("rec.not_stored", detail=say(exc)), "error")
    return _back(enrolment_id, kind, position)


def _finger_template(png: bytes) -> bytes | None:
    """The minutiae template of an uploaded finger, where the biometrics extra (NBIS) is installed."""
    try:
        nbis = importlib.import_module("ektp_plugins.scanners.nbis")
    except ImportError:
        return None
    template: bytes | None = nbis.iso_template_of(png)
    return template


def _supervisor_ok(name: str, password: str) -> bool:
    """True when ``name`` is an active, unlocked supervisor of this site and the password is theirs."""
    n = node()
    for account, locked_until in n.accounts.accounts(n.site.code):
        if account.username == name:
            return (
                account.active
                and locked_until is None
                and account.role is Role.SUPERVISOR
                and crypto.verify_password(password, account.password_hash)
            )
    # The same work as a real check, so the answer's timing does not tell which names exist.
    crypto.verify_password(password, _dummy_verifier())
    return False


@functools.cache
def _dummy_verifier() -> str:
    return crypto.hash_password(secrets.token_urlsafe(16))


@bp.post("/record/<enrolment_id>/exception")
@access.allow(access.DESK)
def exception(enrolment_id: str) -> Any:
    """A finger or eye that cannot be captured, approved by a supervisor typing their password here."""
    if (refused := _open_recording(enrolment_id)) is not None:
        return refused
    slot = _form_slot(enrolment_id, (Modality.FINGER, Modality.IRIS))
    if isinstance(slot, BaseResponse):
        return slot
    kind, position = slot
    reason = request.form.get("reason", "")
    note = " ".join(request.form.get("note", "").split())[:150]
    supervisor = request.form.get("supervisor", "").strip().lower()[:64]
    password = request.form.get("supervisor_password", "")
    if reason not in EXCEPTION_REASONS or not supervisor or not password:
        flash(_("rec.exc_incomplete"), "error")
        return _back(enrolment_id, kind, position)
    n = node()
    if not n.limiter.allow(source()):
        flash(_("auth.rate_limited"), "error")
        return _back(enrolment_id, kind, position)
    if not _supervisor_ok(supervisor, password):
        n.accounts.forbidden(
            username(), f"{request.path} (approval as {supervisor})", source=source(), reason="supervisor_password"
        )
        flash(_("rec.exc_refused"), "error")
        return _back(enrolment_id, kind, position)
    text = reason + (f": {note}" if note else "")
    try:
        capture_service().add_exception(
            enrolment_id, kind, position, reason=text, supervisor=supervisor, actor=username()
        )
    except EktpError as exc:
        flash(_("rec.not_stored", detail=say(exc)), "error")
        return _back(enrolment_id, kind, position)
    attempts().pop((enrolment_id, kind.value, position), None)
    flash(_("rec.exc_recorded", slot=_(f"rec.pos.{position}"), supervisor=supervisor), "ok")
    return _back(enrolment_id, kind, position)


@bp.get("/record/<enrolment_id>/preview/<device>/<modality>")
@access.allow(access.DESK)
def preview(enrolment_id: str, device: str, modality: str) -> Any:
    """The device's live preview as ``multipart/x-mixed-replace`` JPEG frames, for an ``<img>``."""
    recording_now = recording(enrolment_id)
    if isinstance(recording_now, Response):
        return recording_now
    kind = _modality(modality)
    desk = devices()
    try:
        found = desk.get(device)
    except ScannerNotConnected:
        abort(404)
    if not found.streams or kind not in found.modalities:
        abort(404)

    def parts() -> Iterator[bytes]:
        try:
            for frame in desk.preview(found, kind):
                yield (
                    b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: "
                    + str(len(frame)).encode()
                    + b"\r\n\r\n"
                    + frame
                    + b"\r\n"
                )
        except (EktpError, OSError):
            return  # the device went away: the picture simply stops

    response = Response(stream_with_context(parts()), mimetype="multipart/x-mixed-replace; boundary=frame")
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/record/<enrolment_id>/image/<modality>/<position>")
@access.allow(access.DESK)
def image(enrolment_id: str, modality: str, position: str) -> Any:
    """A capture's picture, decrypted for this page only (never cached)."""
    enrolment_here(enrolment_id)
    kind = _modality(modality)
    if position not in POSITIONS[kind]:
        abort(404)
    try:
        data = capture_service().image(enrolment_id, kind, position)
    except EktpError:
        abort(404)
    mimetype = (
        "image/png"
        if data.startswith(b"\x89PNG")
        else ("image/jpeg" if data.startswith(b"\xff\xd8") else "application/octet-stream")
    )
    response = Response(data, mimetype=mimetype)
    response.headers["Cache-Control"] = "no-store"
    response.headers["Content-Disposition"] = "inline"
    return response
