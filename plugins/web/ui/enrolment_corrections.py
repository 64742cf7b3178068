"""Correcting (koreksi data) and cancelling (batalkan perekaman) an enrolment from its detail page.

The pages only ask; the core decides (:class:`~ektp_core.services.corrections.Corrections`): a
recording not yet sent is corrected at its site by any desk account; once sent, only by a supervisor
at the Dukcapil node with a reason (and through the central system first when it holds the record);
a cancellation is a supervisor's act with a reason, from the states the lifecycle allows. The detail
page shows each action only where it applies, and every refusal shows the core's own message in the
request's language, with nothing changed.
"""

from __future__ import annotations

from typing import Any

from ektp_plugins.web.ui import access
from ektp_plugins.web.ui.app import _, current_user, node, say
from ektp_plugins.web.ui.central import verification
from ektp_plugins.web.ui.dates import show_date
from ektp_plugins.web.ui.enrolments import bp, may_correct, scoped_enrolment
from ektp_plugins.web.ui.record_forms import CHOICES, FIELDS, choices, read_form
from flask import flash, redirect, render_template, request, url_for

from ektp_core.domain.model import Enrolment, EnrolmentState
from ektp_core.errors import EktpError
from ektp_core.services.corrections import Corrections

#: The longest reason kept (the audit log stores it whole; a page of text is not a reason).
REASON_MAX = 500


def _values(enrolment: Enrolment) -> dict[str, str]:
    bio = enrolment.biodata.to_dict()
    values = {f: "" if bio.get(f) is None else str(bio[f]) for f in FIELDS}
    values["tanggal_lahir"] = show_date(enrolment.biodata.tanggal_lahir)
    return values


def _form(
    enrolment: Enrolment,
    values: dict[str, str],
    errors: dict[str, list[str]],
    *,
    reason: str = "",
    refused: str | None = None,
    status: int = 200,
) -> Any:
    sent = enrolment.state is not EnrolmentState.BIO_CAPTURED
    page = render_template(
        "enrolments/correct.html",
        e=enrolment,
        values=values,
        errors=errors,
        choices=choices(),
        choice_fields=CHOICES,
        sent=sent,
        reason=reason,
        reason_max=REASON_MAX,
        refused=refused,
        allowed=may_correct(enrolment),
    )
    return page, status


@bp.get("/enrolments/<enrolment_id>/correct")
@access.allow(access.DESK)
def correct_form(enrolment_id: str) -> Any:
    """The biodata form again, filled with the stored values."""
    enrolment = scoped_enrolment(enrolment_id)
    return _form(enrolment, _values(enrolment), {})


@bp.post("/enrolments/<enrolment_id>/correct")
@access.allow(access.DESK)
def correct(enrolment_id: str) -> Any:
    """Check the form as a recording's, then hand the changed fields to the core (which may refuse)."""
    n = node()
    user = current_user()
    assert user is not None
    enrolment = scoped_enrolment(enrolment_id)
    reason = " ".join(request.form.get("reason", "").split())
    if len(reason) > REASON_MAX:
        return _form(
            enrolment,
            {f: request.form.get(f, "") for f in FIELDS},
            {},
            reason=reason[:REASON_MAX],
            refused=_("corr.reason_too_long", max=REASON_MAX),
            status=422,
        )
    form = read_form(request.form, today=n.lifecycle.clock().date(), minimum_age=_minimum_age())
    if not form.ok:
        shown = {field: [_(key, **args) for key, args in problems] for field, problems in form.errors.items()}
        return _form(enrolment, form.values, shown, reason=reason, status=422)
    assert form.biodata is not None
    old, new = enrolment.biodata.to_dict(), form.biodata.to_dict()
    # Only the form's own fields: citizenship and validity are not on it and stay as stored.
    changes = {f: new[f] for f in FIELDS if new.get(f) != old.get(f)}
    try:
        service = verification() if enrolment.state is not EnrolmentState.BIO_CAPTURED else None
    except EktpError:
        service = None  # the core says a correction needs the central system, if it does
    try:
        changed = Corrections(n.lifecycle, verification=service).correct(
            enrolment_id, changes, actor=user.username, reason=reason or None
        )
    except EktpError as exc:
        return _form(enrolment, form.values, {}, reason=reason, refused=say(exc), status=409)
    names = ", ".join(_("enr_bio." + field) for field in changed)
    flash(_("corr.done", fields=names), "ok")
    return redirect(url_for("enrolments.detail", enrolment_id=enrolment_id), code=303)


def _minimum_age() -> int:
    return int(node().deployment.profile.lifecycle.eligibility_age)


@bp.post("/enrolments/<enrolment_id>/cancel")
@access.allow(access.SUPERVISORS)
def cancel(enrolment_id: str) -> Any:
    """Cancel (batalkan) the recording with the supervisor's reason; the core refuses what it must."""
    user = current_user()
    assert user is not None
    enrolment = scoped_enrolment(enrolment_id)
    back = redirect(url_for("enrolments.detail", enrolment_id=enrolment_id), code=303)
    reason = " ".join(request.form.get("reason", "").split())
    if len(reason) > REASON_MAX:
        flash(_("corr.reason_too_long", max=REASON_MAX), "error")
        return back
    try:
        Corrections(node().lifecycle).cancel(enrolment_id, supervisor=user.username, reason=reason)
    except EktpError as exc:
        flash(_("cancelling.refused", detail=say(exc)), "error")
        return back
    flash(_("cancelling.done", nama=enrolment.biodata.nama), "ok")
    return back
