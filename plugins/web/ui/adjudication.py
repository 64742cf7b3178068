"""Adjudication at the Dukcapil node: the enrolments the central system found possibly duplicate
(ADJUDICATE_RECORD), each compared side by side with its candidates (photos, the ten fingers with
each finger's score, biodata), and a supervisor's decision with a required note.

The page mirrors ``ektp adjudication show`` (plugins/verify/sheet.py): finger images come from this
node's own records, else from the central system. Deciding tells the central system first; when it
cannot be reached nothing changes here and the page says so.
"""

from __future__ import annotations

from typing import Any

from ektp_plugins.web.ui import access
from ektp_plugins.web.ui.app import _, current_user, node, say
from ektp_plugins.web.ui.central import verification
from ektp_plugins.web.ui.enrolments import BIODATA_FIELDS
from ektp_plugins.web.ui.images import image_response
from flask import Blueprint, abort, flash, redirect, render_template, request, url_for

from ektp_core.devices.verifiers import CentralRefused, CentralUnavailable, VerdictCandidate
from ektp_core.domain.model import FINGER_POSITIONS, Enrolment, EnrolmentState, Modality
from ektp_core.errors import EktpError, IllegalTransition, NotFound
from ektp_core.services.capture import CaptureService

bp = Blueprint("adjudication", __name__)
E = EnrolmentState
#: The decisions a supervisor may give, as the form names them, and the state each leads to.
DECISIONS = {"unique": E.PRINT_READY_RECORD, "duplicate": E.DUPLICATE_RECORD}
#: Fields compared between the enrolment and a candidate held at this node.
COMPARED = tuple(f for f in BIODATA_FIELDS if f not in ("berlaku_hingga", "no_kk"))


def _local(enrolment_id: str) -> Enrolment | None:
    try:
        return node().lifecycle.get(enrolment_id)
    except NotFound:
        return None


@bp.get("/adjudication")
@access.allow(access.SUPERVISORS, dukcapil_only=True)
def index() -> Any:
    """The enrolments waiting for a supervisor's decision, oldest first."""
    try:
        queue = verification().adjudication_queue()
    except EktpError as exc:
        return render_template("adjudication/index.html", rows=[], error=say(exc)), 503
    rows = []
    for enrolment_id, verdict in queue:
        enrolment = _local(enrolment_id)
        if enrolment is None:
            continue
        best = max(verdict.candidates, key=lambda c: c.score) if verdict and verdict.candidates else None
        rows.append({"e": enrolment, "verdict": verdict, "best": best})
    sites = {s.code: s for s in node().deployment.profile.sites}
    return render_template("adjudication/index.html", rows=rows, error=None, sites=sites)


def _candidate(verdict: Any, wanted: str | None) -> VerdictCandidate | None:
    if verdict is None or not verdict.candidates:
        return None
    if wanted:
        for c in verdict.candidates:
            if c.enrolment_id == wanted:
                return c  # type: ignore[no-any-return]
        abort(404)
    return max(verdict.candidates, key=lambda c: c.score)  # type: ignore[no-any-return]


def _has_face(enrolment_id: str) -> bool:
    return any(
        c.modality is Modality.FACE and c.blob_ref for c in CaptureService(node().lifecycle).captures(enrolment_id)
    )


def _page(enrolment_id: str, *, note: str = "", decision: str = "", error: str | None = None, status: int = 200) -> Any:
    n = node()
    enrolment = _local(enrolment_id)
    if enrolment is None:
        abort(404)
    service = verification()
    held = service.status(enrolment_id)
    verdict = held.verdict if held is not None else None
    candidate = _candidate(verdict, request.args.get("candidate"))
    other = _local(candidate.enrolment_id) if candidate is not None else None
    fingers = [
        {"position": p, "score": candidate.finger_scores.get(p) if candidate else None} for p in FINGER_POSITIONS
    ]
    compared = []
    if other is not None:
        left, right = enrolment.biodata.to_dict(), other.biodata.to_dict()
        compared = [(f, left.get(f), right.get(f), left.get(f) == right.get(f)) for f in COMPARED]
    sites = {s.code: s for s in n.deployment.profile.sites}
    body = render_template(
        "adjudication/show.html",
        e=enrolment,
        verdict=verdict,
        candidate=candidate,
        other=other,
        fingers=fingers,
        compared=compared,
        waiting=enrolment.state is E.ADJUDICATE_RECORD,
        note=note,
        decision=decision,
        error=error,
        sites=sites,
        own_face=_has_face(enrolment_id),
        other_face=other is not None and _has_face(other.id),
    )
    return body, status


@bp.get("/adjudication/<enrolment_id>")
@access.allow(access.SUPERVISORS, dukcapil_only=True)
def show(enrolment_id: str) -> Any:
    """One enrolment beside a candidate (``?candidate=ID``; the best scoring by default)."""
    return _page(enrolment_id)


def _owner(enrolment_id: str, owner: str) -> None:
    """Only the enrolment or one of its candidates: this route is not a way to any enrolment's fingers."""
    if owner == enrolment_id:
        return
    held = verification().status(enrolment_id)
    if held is None or held.verdict is None or owner not in {c.enrolment_id for c in held.verdict.candidates}:
        abort(404)


@bp.get("/adjudication/<enrolment_id>/finger/<owner>/<position>")
@access.allow(access.SUPERVISORS, dukcapil_only=True)
def finger(enrolment_id: str, owner: str, position: str) -> Any:
    """A finger image of the enrolment or of a candidate: this node's record, else the central system's copy."""
    if position not in FINGER_POSITIONS:
        abort(404)
    _owner(enrolment_id, owner)
    return image_response(verification().finger_image(owner, position))


@bp.get("/adjudication/<enrolment_id>/photo/<owner>")
@access.allow(access.SUPERVISORS, dukcapil_only=True)
def photo(enrolment_id: str, owner: str) -> Any:
    """The photo of the enrolment or of a candidate held at this node."""
    _owner(enrolment_id, owner)
    try:
        data = CaptureService(node().lifecycle).image(owner, Modality.FACE, "face")
    except EktpError:
        abort(404)
    return image_response(data)


@bp.post("/adjudication/<enrolment_id>/decide")
@access.allow(access.SUPERVISORS, dukcapil_only=True)
def decide(enrolment_id: str) -> Any:
    """Give the decision: the central system first, then the enrolment's new state and the audit log."""
    user = current_user()
    assert user is not None  # the guard let only a logged-in supervisor through
    choice = request.form.get("decision", "")
    note = request.form.get("note", "").strip()[:1000]
    if _local(enrolment_id) is None:
        abort(404)
    if choice not in DECISIONS:
        return _page(enrolment_id, note=note, error=_("adj.choose"), status=400)
    if not note:
        return _page(enrolment_id, decision=choice, error=_("adj.note_required"), status=400)
    try:
        state = verification().adjudicate(enrolment_id, DECISIONS[choice], supervisor=user.username, note=note)
    except IllegalTransition:
        # Already decided (a double click, or another supervisor first): nothing changed.
        flash(_("adj.already", state=_("state." + node().lifecycle.get(enrolment_id).state.value)), "warn")
        return redirect(url_for("adjudication.show", enrolment_id=enrolment_id))
    except CentralUnavailable as exc:
        return _page(enrolment_id, note=note, decision=choice, error=_("adj.central_down", error=say(exc)), status=503)
    except (CentralRefused, EktpError) as exc:
        return _page(enrolment_id, note=note, decision=choice, error=_("adj.refused", error=say(exc)), status=409)
    key = "adj.decided" if state is DECISIONS[choice] else "adj.decided_earlier"
    flash(_(key, state=_("state." + state.value), nik=node().lifecycle.get(enrolment_id).biodata.nik.value), "ok")
    return redirect(url_for("adjudication.index"))
