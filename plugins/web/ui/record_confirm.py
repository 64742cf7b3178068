"""The summary of a recording and its confirmation: the enrolment goes to the central system (at the
Dukcapil node) or into the outbox to the Dukcapil node (at a site node).

Confirming twice sends once: confirmations of one enrolment run one after the other, and one that finds
the enrolment already past BIO_CAPTURED only says where it stands.
"""

from __future__ import annotations

from typing import Any

from ektp_plugins.web.ui import access
from ektp_plugins.web.ui.app import _, node, say
from ektp_plugins.web.ui.record_base import (
    STEPS,
    bp,
    capture_service,
    common,
    confirm_lock,
    enrolment_here,
    not_recording,
    required,
    slots,
    username,
)
from ektp_plugins.web.ui.states import state_label, unsent
from flask import flash, redirect, render_template, url_for

from ektp_core.devices.verifiers import CentralRefused
from ektp_core.domain.model import EnrolmentState
from ektp_core.errors import EktpError
from ektp_core.services.verification import IncompleteEnrolment, VerificationService
from ektp_core.sync.outbox import Outbox

E = EnrolmentState


def _missing(enrolment_id: str) -> list[tuple[str, str]]:
    """Slots still without a capture or an exception that the profile requires before sending."""
    needed = required()
    return [(m.value, p) for m, p in capture_service().missing(enrolment_id) if m in needed]


@bp.get("/record/<enrolment_id>/summary")
@access.allow(access.DESK)
def summary(enrolment_id: str) -> Any:
    """The biodata, every capture as a thumbnail with its quality, what is missing, and the confirm button."""
    enrolment = enrolment_here(enrolment_id)
    service = capture_service()
    taken = service.captures(enrolment_id)
    return render_template(
        "record/summary.html",
        **common(enrolment, taken),
        groups=[(m, slots(taken, m)) for m in STEPS],
        missing=_missing(enrolment_id),
        policy=service.policy,
        recording=enrolment.state is E.BIO_CAPTURED,
        waiting=enrolment.id in unsent([enrolment.id]),
        state_label=state_label,
    )


@bp.post("/record/<enrolment_id>/confirm")
@access.allow(access.DESK)
def confirm(enrolment_id: str) -> Any:
    """Send a complete enrolment on; an incomplete one is refused with the missing slots named."""
    if (page := not_recording()) is not None:
        return page
    back = redirect(url_for("record.summary", enrolment_id=enrolment_id))
    with confirm_lock(enrolment_id):
        enrolment = enrolment_here(enrolment_id)
        if enrolment.state is not E.BIO_CAPTURED:
            flash(_("rec.already_sent", state=_("state." + enrolment.state.value)), "info")
            return back
        missing = _missing(enrolment_id)
        if missing:
            names = ", ".join(_(f"rec.pos.{p}") for _m, p in missing)
            flash(_("rec.incomplete", slots=names), "error")
            return back
        n = node()
        if n.is_dukcapil:
            _send_to_central(enrolment_id)
        else:
            _queue_for_dukcapil(enrolment_id)
    return back


def _send_to_central(enrolment_id: str) -> None:
    n = node()
    try:
        state = VerificationService.for_deployment(n.lifecycle, n.host).submit(enrolment_id, actor=username())
    except IncompleteEnrolment as exc:
        names = ", ".join(_(f"rec.pos.{p}") for _m, p in exc.missing)
        flash(_("rec.incomplete", slots=names), "error")
        return
    except CentralRefused as exc:
        # Marked SENT_FOR_ENROLLMENT before the request: the next sync tries again once fixed.
        flash(_("rec.central_refused", detail=say(exc)), "warn")
        return
    except EktpError as exc:
        flash(_("rec.send_failed", detail=say(exc)), "error")
        return
    if state is E.RECEIVED_AT_CENTRAL:
        flash(_("rec.sent_central"), "ok")
    elif state is E.SENT_FOR_ENROLLMENT:
        flash(_("rec.central_later"), "info")
    else:
        reason = n.lifecycle.get(enrolment_id).reason or ""
        flash(_("rec.sent_state", state=_("state." + state.value), reason=reason), "warn")


def _queue_for_dukcapil(enrolment_id: str) -> None:
    n = node()
    try:
        packet = Outbox.for_deployment(n.lifecycle).enqueue(enrolment_id, actor=username())
    except EktpError as exc:
        flash(_("rec.queue_failed", detail=say(exc)), "error")
        return
    flash(_("rec.queued", packet=packet), "ok")
