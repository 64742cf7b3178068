"""The node's Flask application: the operators' UI (server-rendered pages) and the HTTP API v1.

Every request to a UI page passes through :func:`_guard`: the session is looked up on the server,
the view's declared roles are checked (a view without a declaration is refused), and every form
post must carry the session's CSRF token. Every refusal is audited. Responses carry security
headers; cookies are HttpOnly, SameSite=Strict and Secure unless ``[web] secure_cookies = false``.
"""

from __future__ import annotations

import datetime as dt
import functools
import hmac
import logging
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import attrs
from ektp_plugins.web.api import API
from ektp_plugins.web.api import blueprint as api_blueprint
from ektp_plugins.web.hookspecs import BLUEPRINTS, MENU_ENTRIES
from ektp_plugins.web.settings import WebSettings
from ektp_plugins.web.ui import access, dates
from ektp_plugins.web.ui.i18n import Catalogues
from ektp_plugins.web.ui.menu import MenuEntry
from flask import Flask, Response, current_app, g, redirect, render_template, request, session, url_for
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response as BaseResponse

from ektp_core import __version__
from ektp_core.domain.model import SiteKind
from ektp_core.errors import EktpError
from ektp_core.keys import crypto
from ektp_core.lifecycle.service import LifecycleService
from ektp_core.messages import format_number
from ektp_core.services.accounts import AccountService, Session, SessionEnded
from ektp_core.sync import packets
from ektp_core.sync.inbox import Inbox

log = logging.getLogger(__name__)
SECRET_FILE = "web-secret"
_UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_CSP = (
    "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self'; "
    "connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'; object-src 'none'"
)


class LoginLimiter:
    """At most N login attempts per minute from one address (a sliding window, in memory)."""

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_minute = per_minute
        self.clock = clock
        self._seen: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def allow(self, source: str) -> bool:
        """Count an attempt from ``source``; False when it is over the limit."""
        if self.per_minute == 0:
            return True
        now = self.clock()
        with self._lock:
            window = self._seen.setdefault(source, deque())
            while window and now - window[0] > 60:
                window.popleft()
            if len(window) >= self.per_minute:
                return False
            window.append(now)
            if len(self._seen) > 10_000:  # forget idle addresses rather than grow without bound
                for key in [k for k, v in self._seen.items() if not v or now - v[-1] > 60]:
                    del self._seen[key]
            return True


@attrs.define
class Node:
    """What every view needs: the node's lifecycle, plugins, deployment and the UI's settings."""

    lifecycle: LifecycleService
    host: Any
    accounts: AccountService
    settings: WebSettings
    catalogues: Catalogues
    limiter: LoginLimiter
    #: Background work (print runs) that pages follow: name -> state, shown by the progress routes.
    tasks: dict[Any, Any] = attrs.field(factory=dict)

    @property
    def deployment(self) -> Any:
        """The node's deployment."""
        return self.lifecycle.deployment

    @property
    def site(self) -> Any:
        """The node's site."""
        return self.lifecycle.deployment.site

    @property
    def prints(self) -> bool:
        """True when this site prints cards (the profile's ``prints``): it has a print queue and blanks."""
        return bool(self.site.prints)

    @property
    def is_dukcapil(self) -> bool:
        """True at the Dukcapil node (it serves the regency, adjudicates and routes print jobs)."""
        return bool(self.site.kind is SiteKind.DUKCAPIL)


def node() -> Node:
    """The current app's :class:`Node`."""
    found: Node = current_app.extensions["ektp_node"]
    return found


def current_user() -> Session | None:
    """The logged-in session of this request, if any."""
    user: Session | None = g.get("user")
    return user


def _(key: str, **values: Any) -> str:
    """The message ``key`` in the request's language."""
    return node().catalogues.text(g.get("lang", "id"), key, **values)


def _page_texts() -> dict[str, Any]:
    """The template's ``_`` bound to the request's language and catalogues, looked up once per page:
    a page calls it a hundred times and more (the same texts as the global :func:`_`)."""
    return {"_": functools.partial(node().catalogues.text, g.get("lang", "id"))}


def say(value: Any) -> str:
    """A core message, an error or a stored reason in the request's language (see ``Catalogues.say``)."""
    return node().catalogues.say(g.get("lang", "id"), value)


def exception_reason(reason: str) -> str:
    """A capture exception's stored reason (``missing: the operator's note``) in the request's language:
    the reason's code becomes its label (``rec.exc.missing``), the operator's own note stays as typed."""
    code, _sep, note = str(reason or "").partition(": ")
    label = node().catalogues.name_of(g.get("lang", "id"), "rec.exc", code)
    return f"{label}: {note}" if note else label


def number(value: Any) -> str:
    """A count with the page's digit grouping (``20.000`` in Indonesian, ``20,000`` in English)."""
    return format_number(value, g.get("lang", "id"))


def device_label(device: str) -> str:
    """Who took a capture, for a person: the signature pad, an upload by an operator, an SBI device (by
    its id), or the name the profile gives a scanner."""
    kind, _sep, rest = str(device or "").partition(":")
    if device == "signature-pad":
        return _("rec.dev.signature_pad")
    if kind == "upload" and rest:
        return _("rec.dev.upload", user=rest)
    if kind == "sbi" and rest:
        return _("rec.dev.sbi", device=rest)
    return str(device or "")


def source() -> str:
    """The client's address (what the WSGI server saw; a TLS proxy in front must set it right)."""
    return request.remote_addr or "-"


def _secret_key(keys_dir: Path) -> bytes:
    path = keys_dir / SECRET_FILE
    if not path.exists():
        keys_dir.mkdir(parents=True, exist_ok=True)
        crypto.write_private_file(path, secrets.token_bytes(32))
    return path.read_bytes()


def csrf_token() -> str:
    """The session's CSRF token (made on first use), for a hidden form field or the X-CSRF-Token header."""
    token = session.get("csrf")
    if not token:
        token = session["csrf"] = secrets.token_urlsafe(24)
    return str(token)


def create_app(lifecycle: LifecycleService, host: Any) -> Flask:
    """The node's whole web application over one lifecycle service and plugin host."""
    from ektp_plugins.web.ui import (
        adjudication,
        admin,
        auth,
        cards,
        dashboard,
        enrolments,
        handover,
        operator_guide,
        printing,
        record,
        replacement,
    )

    deployment = lifecycle.deployment
    settings = WebSettings.from_profile(deployment.profile)
    folders = [deployment.root / settings.locales_dir] if settings.locales_dir else []
    app = Flask(
        "ektp_node",
        template_folder=str(Path(__file__).with_name("templates")),
        static_folder=str(Path(__file__).with_name("static")),
        static_url_path="/static",
    )
    app.secret_key = _secret_key(deployment.keys_dir)
    app.config.update(
        MAX_CONTENT_LENGTH=packets.MAX_PACKET,
        SESSION_COOKIE_NAME="ektp_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Strict",
        SESSION_COOKIE_SECURE=settings.secure_cookies,
        PERMANENT_SESSION_LIFETIME=dt.timedelta(hours=24),
        TEMPLATES_AUTO_RELOAD=False,
    )
    accounts = AccountService(lifecycle)
    app.extensions["ektp_node"] = Node(
        lifecycle=lifecycle,
        host=host,
        accounts=accounts,
        settings=settings,
        catalogues=Catalogues(folders),
        limiter=LoginLimiter(settings.login_attempts_per_minute),
    )
    app.extensions["ektp_inbox"] = Inbox.for_deployment(lifecycle)
    app.register_blueprint(api_blueprint())
    for module in (
        auth,
        dashboard,
        record,
        enrolments,
        printing,
        handover,
        replacement,
        cards,
        adjudication,
        admin,
        operator_guide,
    ):
        app.register_blueprint(module.bp)
    # Other plugins' pages (ektp_register_blueprints); their views declare access rules like ours, or
    # they are refused. Their menu entries (ektp_register_menu_entries) follow ours.
    for entry in host.registry(BLUEPRINTS):
        app.register_blueprint(entry.obj)
    app.extensions["ektp_menu"] = _plugin_menu(app, host)
    # Static files are public (CSS, scripts, icons: nothing personal).
    app.view_functions["static"] = access.public(app.view_functions["static"])

    app.before_request(_guard)
    app.after_request(_headers)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(EktpError, _ektp_error)
    app.jinja_env.globals.update(
        _=_,
        say=say,
        csrf_token=csrf_token,
        node=node,
        current_user=current_user,
        nav_items=nav_items,
        version=__version__,
    )
    app.context_processor(_page_texts)
    app.jinja_env.filters["when"] = _when
    app.jinja_env.filters["say"] = say
    app.jinja_env.filters["exception_reason"] = exception_reason
    app.jinja_env.filters["device_label"] = device_label
    app.jinja_env.filters["num"] = number
    # One date format on every page, dd-mm-yyyy (a date field's pattern, a date shown).
    app.jinja_env.filters["day"] = dates.show_date
    app.jinja_env.globals["date_pattern"] = dates.PATTERN
    app.jinja_env.autoescape = True
    return app


#: The menu, in the order of an office's day; an entry shows only to the roles its view allows.
NAV = (
    ("dashboard.index", "nav.dashboard"),
    ("record.start", "nav.record"),
    ("enrolments.index", "nav.enrolments"),
    ("printing.queue", "nav.print_queue"),
    ("printing.blanks", "nav.blanks"),
    ("handover.index", "nav.handover"),
    # One entry for the card desk: "Di mana kartu saya?", which leads on to the replacement service.
    ("cards.index", "nav.cards"),
    ("adjudication.index", "nav.adjudication"),
    ("admin.index", "nav.admin"),
    ("admin.locked", "nav.locked"),
)


#: Pages that belong to a menu entry other than their blueprint's first one.
_SECTIONS = {
    "printing.blanks": "blanks",
    "printing.receive": "blanks",
    "printing.spoil": "blanks",
    "printing.report": "blanks",
    "admin.locked": "locked",
    "admin.unlock": "locked",
    "replacement.index": "cards",
    "replacement.check": "cards",
    "replacement.start": "cards",
}


def _section(endpoint: str) -> str:
    return _SECTIONS.get(endpoint) or endpoint.split(".")[0]


def _plugin_menu(app: Flask, host: Any) -> list[MenuEntry]:
    """Other plugins' menu entries whose page the app serves (a wrong endpoint is logged, not shown)."""
    entries = []
    for entry in host.registry(MENU_ENTRIES):
        if entry.obj.endpoint not in app.view_functions:
            log.error(
                "menu entry %s of plugin %s names the endpoint %r, which no page of the app serves",
                entry.name,
                entry.plugin,
                entry.obj.endpoint,
            )
            continue
        entries.append(entry.obj)
    return entries


def nav_items() -> list[tuple[str, str, bool]]:
    """The menu entries the logged-in account may open: (endpoint, label, is the current page's).

    The UI's own entries first, then other plugins' (``ektp_register_menu_entries``) for the roles
    they name; either shows only when the page's access rule lets the account in."""
    user = current_user()
    if user is None:
        return []
    n = node()
    here = _section(request.endpoint or "")

    def allowed(endpoint: str) -> bool:
        rule = access.rule_of(current_app.view_functions.get(endpoint))
        return (
            rule is not None
            and user.role in rule.roles
            and (n.is_dukcapil or not rule.dukcapil_only)
            and (n.prints or not rule.printing_site)
        )

    shown = [(endpoint, _(key), _section(endpoint) == here) for endpoint, key in NAV if allowed(endpoint)]
    for entry in current_app.extensions.get("ektp_menu", []):
        if user.role in entry.roles and allowed(entry.endpoint):
            shown.append((entry.endpoint, entry.label(g.lang), _section(entry.endpoint) == here))
    return shown


def _when(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value)
        except ValueError:
            return str(value)
    if not isinstance(value, dt.datetime):
        return str(value)
    moment: dt.datetime = value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)
    return moment.astimezone().strftime("%d-%m-%Y %H:%M")


def _is_api() -> bool:
    return request.path.startswith(API + "/") or request.path == API


def _guard() -> BaseResponse | None:
    """Language, session, CSRF and the view's roles, for every UI request."""
    n = node()
    g.lang = n.catalogues.pick(session.get("lang"), request.accept_languages)
    if _is_api():
        return None  # the API authenticates with signatures, not sessions
    view = current_app.view_functions.get(request.endpoint or "")
    if view is None:
        return None  # 404/405 follow
    rule = access.rule_of(view)
    g.user = None
    token = session.get("token")
    if token:
        try:
            g.user = n.accounts.session(str(token))
        except SessionEnded as exc:
            session.pop("token", None)
            if rule is None or not rule.public:
                session["notice"] = "auth.session_" + ("idle" if exc.code == "idle" else "ended")
    who = g.user.username if g.user is not None else ""
    if request.method in _UNSAFE:
        sent = request.form.get("csrf_token") or request.headers.get("X-CSRF-Token") or ""
        expected = session.get("csrf") or ""
        if not expected or not hmac.compare_digest(str(sent), str(expected)):
            n.accounts.forbidden(who, request.path, source=source(), reason="csrf")
            if g.user is None and rule is not None and not rule.public:
                # The session ended before the form was sent (a logout in another tab, the idle
                # limit): the post is refused all the same, but the operator is asked to log in
                # again and comes back to the form's page, where the page's script puts back what
                # was typed (kept in this tab's sessionStorage, never on the server).
                session["notice"] = "auth.session_ended_form"
                return redirect(url_for("auth.login", next=_form_page()), code=303)
            return _page(400, "errors.csrf")
    if rule is None:
        n.accounts.forbidden(who, request.path, source=source(), reason="no_rule")
        return _page(403, "errors.forbidden")
    if rule.public:
        return None
    if g.user is None:
        if request.accept_mimetypes.best == "application/json":
            # A page's script (the dashboard's devices, a print run's progress) asking after a logout:
            # no redirect to the login page, whose rendering would use up the notice the person is
            # about to read there ("Anda telah keluar.").
            from flask import jsonify

            refused = jsonify({"error": {"code": "login_required", "message": _("errors.login_required")}})
            refused.status_code = 401
            return refused
        return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
    if g.user.role not in rule.roles:
        n.accounts.forbidden(who, request.path, source=source(), reason="role")
        return _page(403, "errors.forbidden")
    if rule.dukcapil_only and not n.is_dukcapil:
        n.accounts.forbidden(who, request.path, source=source(), reason="not_dukcapil")
        return _page(403, "errors.dukcapil_only")
    if rule.printing_site and not n.prints:
        # Not a refusal of the person (nothing is audited): this office has no printing to show.
        return _page(404, "errors.not_printing")
    return None


def _form_page() -> str:
    """The page a refused post came from (its Referer, on this node only), for the login to return
    to; the dashboard when it is unknown."""
    came_from = urlsplit(request.referrer or "")
    if came_from.netloc == request.host and came_from.path.startswith("/") and not came_from.path.startswith("//"):
        return came_from.path + (f"?{came_from.query}" if came_from.query else "")
    return url_for("dashboard.index")


def _page(status: int, message_key: str, **values: Any) -> Response:
    response = current_app.make_response(render_template("error.html", status=status, message=_(message_key, **values)))
    response.status_code = status
    return response


def _http_error(exc: HTTPException) -> Any:
    if _is_api():
        from flask import jsonify

        code = {404: "not_found", 405: "method_not_allowed", 413: "too_large"}.get(exc.code or 500, "error")
        return jsonify({"error": {"code": code, "message": exc.description}}), exc.code or 500
    if "lang" not in g:
        g.lang = node().catalogues.pick(session.get("lang"), request.accept_languages)
    key = {404: "errors.not_found", 405: "errors.not_allowed", 413: "errors.too_large"}.get(
        exc.code or 500, "errors.generic"
    )
    return _page(exc.code or 500, key)


def _ektp_error(exc: EktpError) -> Any:
    # A domain refusal that a view did not handle itself: shown as it is (its messages are written for
    # people), never as a stack trace.
    log.info("refused: %s", exc)
    return _page(409, "errors.refused", reason=say(exc))


def _headers(response: Response) -> Response:
    response.headers.setdefault("Content-Security-Policy", _CSP)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["Permissions-Policy"] = "camera=(), microphone=(), geolocation=()"
    response.headers["Cross-Origin-Opener-Policy"] = "same-origin"
    if request.is_secure:
        response.headers["Strict-Transport-Security"] = "max-age=31536000"
    if not request.path.startswith("/static/"):
        # Pages hold residents' data: never kept by the browser or a proxy.
        response.headers["Cache-Control"] = "no-store"
    return response
