"""Login, logout and the language switch."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from ektp_plugins.web.ui import access
from ektp_plugins.web.ui.app import _, current_user, node, source
from flask import Blueprint, current_app, redirect, render_template, request, session, url_for

from ektp_core.services.accounts import LoginRefused

bp = Blueprint("auth", __name__)


def _safe_next(target: str | None) -> str:
    # Only a path on this node: an open redirect would let a phishing link send an operator elsewhere.
    if not target:
        return url_for("dashboard.index")
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return url_for("dashboard.index")
    return target


@bp.route("/login", methods=["GET", "POST"])
@access.public
def login() -> Any:
    """The login form; on success a new session (a new cookie and CSRF token) and the page asked for."""
    n = node()
    error = None
    status = 200
    if request.method == "POST":
        username = request.form.get("username", "").strip().lower()
        password = request.form.get("password", "")
        if not n.limiter.allow(source()):
            n.accounts.forbidden(username, request.path, source=source(), reason="rate_limited")
            error, status = _("auth.rate_limited"), 429
        elif not username or not password:
            error, status = _("auth.missing"), 400
        else:
            try:
                _session, token = n.accounts.login(username, password, source=source())
            except LoginRefused as exc:
                error, status = _("auth." + exc.code), 401 if exc.code == "bad_credentials" else 403
            else:
                language = session.get("lang")
                session.clear()  # a fresh session: nothing from before the login survives (fixation)
                session["token"] = token
                if language:
                    session["lang"] = language
                session.permanent = True
                return redirect(_safe_next(request.args.get("next")))
    elif current_user() is not None:
        return redirect(url_for("dashboard.index"))
    notice = session.pop("notice", None)
    body = render_template(
        "login.html", error=error, notice=_(notice) if notice else None, next=request.args.get("next", "")
    )
    return body, status


@bp.post("/logout")
@access.allow(access.EVERYONE)
def logout() -> Any:
    """End the session on the server and forget the cookie."""
    token = session.get("token")
    if token:
        node().accounts.logout(str(token))
    language = session.get("lang")
    session.clear()
    if language:
        session["lang"] = language
    session["notice"] = "auth.logged_out"
    return redirect(url_for("auth.login"))


@bp.post("/language")
@access.public
def language() -> Any:
    """Switch the UI's language (kept in the session cookie)."""
    wanted = request.form.get("language", "")
    if wanted in node().catalogues.messages:
        session["lang"] = wanted
    return redirect(_safe_next(request.form.get("next") or (request.referrer and urlsplit(request.referrer).path)))


@bp.get("/favicon.ico")
@access.public
def favicon() -> Any:
    """The node's icon at the address browsers ask for by themselves (pages also link it)."""
    return current_app.send_static_file("favicon.ico")
