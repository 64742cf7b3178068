"""The web UI's papers: the buttons on the enrolment, recording and handover pages (issue, then
download the PDF), and ``/cek``, the public page that checks a paper offline against the regency's
published keys. Every view declares its roles; the app checks them and the CSRF token of every POST."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ektp_plugins.papers.reading import MAX_PDF, statement_of_pdf
from ektp_plugins.papers.render import WIDTHS, render_pdf
from ektp_plugins.web.ui import access
from ektp_plugins.web.ui.app import _, current_user, node, say
from ektp_plugins.web.ui.enrolments import scoped_enrolment
from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for

from ektp_core.domain.model import Enrolment
from ektp_core.errors import EktpError
from ektp_core.keys.paper_statements import NotGenuine, PaperKind
from ektp_core.services.papers import ISSUERS, CheckResult, PaperService

bp = Blueprint("papers", __name__, template_folder=str(Path(__file__).with_name("templates")))

_KINDS = {kind.value: kind for kind in PaperKind}


def _kind(value: str) -> PaperKind:
    found = _KINDS.get(value)
    if found is None:
        abort(404)
    return found


@bp.app_context_processor
def _buttons() -> dict[str, Any]:
    def papers_for(enrolment: Enrolment | None) -> list[tuple[str, str, str | None]]:
        """(kind, label, url of the paper issued already or None) for the papers this account may
        print for the enrolment now."""
        user = current_user()
        if enrolment is None or user is None:
            return []
        service = PaperService(node().lifecycle)
        issued = {p.kind: p for p in service.papers_of(enrolment.id)}
        shown = []
        for kind in PaperKind:
            if user.role in ISSUERS[kind] and service.fits(kind, enrolment):
                done = kind.value in issued
                shown.append(
                    (kind.value, _(f"papers.button.{kind.value}"), issued[kind.value].number if done else None)
                )
        return shown

    return {"papers_for": papers_for, "paper_widths": WIDTHS}


@bp.post("/enrolments/<enrolment_id>/papers/<kind>")
@access.allow(access.DESK)
def issue(enrolment_id: str, kind: str) -> Any:
    """Issue the paper (or find the one issued already), then download it."""
    wanted = _kind(kind)
    enrolment = scoped_enrolment(enrolment_id)
    width = request.form.get("width", "a4")
    if width not in WIDTHS:
        width = "a4"
    user = current_user()
    assert user is not None
    try:
        PaperService(node().lifecycle).issue(wanted, enrolment.id, actor=user.username)
    except EktpError as exc:
        flash(_("papers.refused", detail=say(exc)), "error")
        return redirect(url_for("enrolments.detail", enrolment_id=enrolment.id), code=303)
    return redirect(url_for("papers.download", enrolment_id=enrolment.id, kind=wanted.value, width=width), code=303)


@bp.get("/enrolments/<enrolment_id>/papers/<kind>.pdf")
@access.allow(access.DESK)
def download(enrolment_id: str, kind: str) -> Any:
    """The newest paper of this kind issued for the enrolment, as PDF (nothing is issued here)."""
    wanted = _kind(kind)
    enrolment = scoped_enrolment(enrolment_id)
    width = request.args.get("width", "a4")
    if width not in WIDTHS:
        abort(404)
    service = PaperService(node().lifecycle)
    found = service.latest(enrolment.id, wanted)
    if found is None:
        abort(404)
    data = render_pdf(service.view(found.number), width=width)
    name = f"{wanted.value}-{found.number.replace('/', '-')}-{width}.pdf"
    response = Response(data, mimetype="application/pdf")
    response.headers["Content-Disposition"] = f'inline; filename="{name}"'
    return response


def _result_of(text: str) -> CheckResult:
    return PaperService(node().lifecycle).check(text)


@bp.route("/cek", methods=["GET", "POST"])
@access.public
def check() -> Any:
    """Check a paper: paste its QR code's text (GET ``?q=``) or upload its PDF (POST, with the form's
    CSRF token). Public: a bank or a school checks a resident's paper without an account."""
    result: CheckResult | None = None
    problem: str | None = None
    text = (request.args.get("q") or "").strip()[:4000]
    status = 200
    if request.method == "POST":
        upload = request.files.get("file")
        data = upload.read(MAX_PDF + 1) if upload is not None else b""
        if not data:
            problem, status = _("papers.cek.no_file"), 400
        else:
            try:
                text = statement_of_pdf(data)
            except NotGenuine as exc:
                result = CheckResult(genuine=False, statement=None, reason=exc.reason.value, message=exc.as_message())
            text = "" if result is not None else text
    if text and result is None:
        try:
            result = _result_of(text)
        except EktpError as exc:
            problem, status = say(exc), 409
    if result is not None and not result.genuine:
        status = 200
    return render_template("papers/cek.html", result=result, problem=problem, q=request.args.get("q", "")), status
