"""What the recording pages share: the blueprint, the site's devices, the enrolment being recorded, steps."""

from __future__ import annotations

import threading
from typing import Any

from ektp_plugins.web.ui.app import _, current_user, node
from ektp_plugins.web.ui.record_devices import DeskDevices
from flask import Blueprint, Response, abort, current_app, render_template

from ektp_core.domain.model import POSITIONS, Capture, Enrolment, EnrolmentState, Modality
from ektp_core.errors import NotFound
from ektp_core.services.capture import CaptureService
from ektp_core.services.verification import VerificationSettings

bp = Blueprint("record", __name__)

#: The capture steps, in the order the operator takes them.
STEPS = (Modality.FACE, Modality.FINGER, Modality.IRIS, Modality.SIGNATURE)
_SETUP = threading.Lock()


def devices() -> DeskDevices:
    """This site's scanners, built on first use and kept for the app's life."""
    n = node()
    with _SETUP:
        found = n.tasks.get("record.devices")
        if found is None:
            found = n.tasks["record.devices"] = DeskDevices(n.deployment, n.host)
    return found


def attempts() -> dict[tuple[str, str, str], int]:
    """Low-quality attempts per (enrolment, modality, position), counted since the last good capture."""
    n = node()
    with _SETUP:
        found: dict[tuple[str, str, str], int] = n.tasks.setdefault("record.attempts", {})
    return found


def confirm_lock(enrolment_id: str) -> threading.Lock:
    """One lock per enrolment, so two confirmations of it (a double click) run one after the other."""
    n = node()
    with _SETUP:
        locks: dict[str, threading.Lock] = n.tasks.setdefault("record.confirm", {})
        return locks.setdefault(enrolment_id, threading.Lock())


def capture_service() -> CaptureService:
    """The capture service of this node."""
    return CaptureService(node().lifecycle)


def required() -> tuple[Modality, ...]:
    """The modalities the profile requires before an enrolment is sent (``[verification] required``)."""
    return VerificationSettings.from_profile(node().deployment.profile).required


def username() -> str:
    """The logged-in operator's username."""
    user = current_user()
    assert user is not None  # the guard lets no anonymous request reach a recording view
    return user.username


def not_recording() -> Response | None:
    """The page saying this site does not record, or None when it does."""
    if node().site.records:
        return None
    response = current_app.make_response(render_template("record/not_recording.html"))
    response.status_code = 409
    return response


def enrolment_here(enrolment_id: str) -> Enrolment:
    """The enrolment, when it was recorded at this site; 404 otherwise (another site's data is not shown)."""
    try:
        enrolment = node().lifecycle.get(enrolment_id)
    except NotFound:
        abort(404)
    if enrolment.site_code != node().site.code:
        abort(404)
    return enrolment


def recording(enrolment_id: str) -> Enrolment | Response:
    """The enrolment when it still takes captures, else a page saying it was already sent."""
    enrolment = enrolment_here(enrolment_id)
    if enrolment.state is not EnrolmentState.BIO_CAPTURED:
        response = current_app.make_response(
            render_template(
                "error.html",
                status=409,
                message=_("rec.not_recording_state", state=_("state." + enrolment.state.value)),
            )
        )
        response.status_code = 409
        return response
    return enrolment


def slots(captures: list[Capture], modality: Modality) -> list[tuple[str, Capture | None]]:
    """Each position of a modality with its capture or exception (None when still missing)."""
    have = {c.position: c for c in captures if c.modality is modality}
    return [(p, have.get(p)) for p in POSITIONS[modality]]


def step_counts(captures: list[Capture]) -> dict[Modality, tuple[int, int]]:
    """For each step: (slots done, slots in all)."""
    done: dict[Modality, int] = {}
    for c in captures:
        done[c.modality] = done.get(c.modality, 0) + 1
    return {m: (done.get(m, 0), len(POSITIONS[m])) for m in STEPS}


def first_missing_step(captures: list[Capture]) -> Modality | None:
    """The first step with a slot still missing, or None when every slot is filled."""
    for modality, (done, total) in step_counts(captures).items():
        if done < total:
            return modality
    return None


def common(enrolment: Enrolment, captures: list[Capture], **extra: Any) -> dict[str, Any]:
    """What every recording page shows: the resident, the steps and how far each is."""
    return {"enrolment": enrolment, "bio": enrolment.biodata, "steps": STEPS, "counts": step_counts(captures), **extra}
