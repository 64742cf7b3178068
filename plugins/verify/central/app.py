"""The HTTP side of the central-system emulator: the Flask application of docs/central-api.md, and
:func:`serve`, which runs it under werkzeug's threaded server until SIGTERM or Ctrl-C.

Requests are logged as method, path, status and duration: never a header (the token) nor a body
(biometrics, biodata).
"""

from __future__ import annotations

import hmac
import json
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ektp_plugins.verify.central.service import MAX_WAIT, ApiError, CentralService
from ektp_plugins.verify.central.settings import CentralSettings, resolve_matcher
from flask import Flask, Response, g, request
from werkzeug.exceptions import HTTPException
from werkzeug.serving import WSGIRequestHandler, make_server

from ektp_core.cli.options import sigterm_as_interrupt
from ektp_core.devices.matchers import Matcher
from ektp_core.domain.model import FINGER_POSITIONS

log = logging.getLogger("ektp.central")

API = "/api/v1"
#: A submission with ten PNG finger images and a face stays far below this.
MAX_BODY = 32 * 1024 * 1024
_CODES = {
    400: "malformed",
    401: "unauthorised",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "malformed",
    503: "unavailable",
}


def _json(data: Any, status: int = 200) -> Response:
    return Response(json.dumps(data, ensure_ascii=False), status=status, mimetype="application/json")


def _error(status: int, code: str, message: str) -> Response:
    response = _json({"error": {"code": code, "message": message}}, status)
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="ektp central"'
    return response


def _body() -> Any:
    raw = request.get_data(cache=False)
    try:
        return json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ApiError(400, "malformed", f"the body is not UTF-8 JSON ({exc})") from None


class ServiceSlot:
    """Where the application finds its service: empty (every request ``503``) while :func:`serve` is
    still loading the gallery, so the port is taken at once and clients are told to come back."""

    def __init__(self, service: CentralService | None = None) -> None:
        self.service = service
        self.status = "starting"

    def get(self) -> CentralService:
        """The service, or the API's 503 while there is none yet."""
        if self.service is None:
            raise ApiError(503, "unavailable", f"the central emulator is {self.status}: try again shortly")
        return self.service


def make_app(service: CentralService | ServiceSlot, token: str) -> Flask:
    """The Flask application serving ``service``; every request but health needs ``token``."""
    if not token:
        raise ValueError("the central emulator needs a token: it never serves without one")
    expected = f"Bearer {token}".encode()
    slot = service if isinstance(service, ServiceSlot) else ServiceSlot(service)
    app = Flask("ektp-central-emulator")
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY
    if slot.service is not None:
        app.extensions["ektp_central"] = slot.service

    @app.before_request
    def _guard() -> Response | None:
        g.started = time.monotonic()
        if slot.service is None:
            return _error(503, "unavailable", f"the central emulator is {slot.status}: try again shortly")
        if slot.service.stopping:
            return _error(503, "unavailable", "the central emulator is stopping")
        if request.path == f"{API}/health":
            return None
        given = request.headers.get("Authorization", "").encode()
        # Constant-time comparison: the answer's timing says nothing about how much of a guess was right.
        if not hmac.compare_digest(given, expected):
            return _error(401, "unauthorised", "missing or wrong bearer token")
        return None

    @app.after_request
    def _log(response: Response) -> Response:
        took = (time.monotonic() - g.get("started", time.monotonic())) * 1000
        log.info("%s %s %d %.0f ms", request.method, request.path, response.status_code, took)
        return response

    @app.errorhandler(ApiError)
    def _api_error(exc: ApiError) -> Response:
        return _error(exc.status, exc.code, exc.message)

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Response:
        status = exc.code or 500
        return _error(status, _CODES.get(status, "error"), exc.description or exc.name)

    @app.errorhandler(Exception)
    def _crash(exc: Exception) -> Response:
        log.exception("internal error on %s %s", request.method, request.path)
        return _error(500, "internal", f"internal error: {type(exc).__name__}")

    @app.get(f"{API}/health")
    def health() -> Response:
        return _json(slot.get().health())

    @app.post(f"{API}/enrolments")
    def submit() -> Response:
        status, answer = slot.get().submit(_body())
        return _json(answer, status)

    @app.get(f"{API}/enrolments/<enrolment_id>")
    def poll(enrolment_id: str) -> Response:
        text = request.args.get("wait", "0")
        try:
            wait = float(text)
        except ValueError:
            raise ApiError(400, "malformed", f"wait: expected seconds 0-{MAX_WAIT:g}, got {text!r}") from None
        if not 0 <= wait <= MAX_WAIT:
            raise ApiError(400, "malformed", f"wait: expected seconds 0-{MAX_WAIT:g}, got {text!r}")
        return _json(slot.get().poll(enrolment_id, wait).as_polled())

    @app.get(f"{API}/enrolments/<enrolment_id>/reasons")
    def reasons(enrolment_id: str) -> Response:
        record = slot.get().find(enrolment_id)
        if record.pending:
            raise ApiError(404, "not_found", f"enrolment {enrolment_id} has no verdict yet")
        polled = record.as_polled()
        return _json(
            {
                "enrolment_id": enrolment_id,
                "status": polled["status"],
                "reasons": polled["reasons"],
                "candidates": polled["candidates"],
            }
        )

    @app.get(f"{API}/enrolments/<enrolment_id>/fingers/<position>")
    def finger(enrolment_id: str, position: str) -> Response:
        if position not in FINGER_POSITIONS:
            raise ApiError(
                404, "not_found", f"{position!r} is not a finger position (expected one of {list(FINGER_POSITIONS)})"
            )
        return Response(slot.get().finger_image(enrolment_id, position), mimetype="image/png")

    @app.get(f"{API}/enrolments/<enrolment_id>/face")
    def face(enrolment_id: str) -> Response:
        image, mimetype = slot.get().face_image(enrolment_id)
        return Response(image, mimetype=mimetype)

    @app.post(f"{API}/enrolments/<enrolment_id>/adjudication")
    def adjudicate(enrolment_id: str) -> Response:
        return _json(slot.get().adjudicate(enrolment_id, _body()).as_polled())

    @app.post(f"{API}/enrolments/<enrolment_id>/correction")
    def correct(enrolment_id: str) -> Response:
        return _json(slot.get().correct(enrolment_id, _body()).as_polled())

    @app.post(f"{API}/cards")
    def cards() -> Response:
        status, answer = slot.get().card_printed(_body())
        return _json(answer, status)

    return app


def create_app(
    data_dir: Path,
    *,
    token: str,
    settings: CentralSettings | None = None,
    register_file: Path | None = None,
    matcher: Matcher | None = None,
) -> Flask:
    """The emulator as a Flask application over ``data_dir``, its verdict worker started.

    ``matcher`` defaults to the one ``settings`` names, built through the plugin registry. The service
    is ``app.extensions["ektp_central"]``; call its ``stop()`` when done.
    """
    settings = settings or CentralSettings()
    service = CentralService(
        data_dir,
        matcher=matcher if matcher is not None else resolve_matcher(settings.matcher),
        settings=settings,
        register_file=register_file,
    )
    app = make_app(service, token)
    service.start()
    return app


class _QuietHandler(WSGIRequestHandler):
    """werkzeug's handler without its own access log (the app logs requests, without query strings)."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """Requests are logged by the application."""


def serve(
    *,
    host: str,
    port: int,
    data_dir: Path,
    token: str,
    settings: CentralSettings,
    register_file: Path | None = None,
    announce: Callable[[str], None] = print,
) -> None:
    """Run the emulator in the foreground until SIGTERM or Ctrl-C; then stop cleanly (the verdict in
    progress is finished, waiting polls are answered, the database is closed).

    The port is taken first (so a port in use fails at once) and answers ``503`` while the register
    is seeded and the gallery loaded.
    """
    matcher = resolve_matcher(settings.matcher)
    slot = ServiceSlot()
    slot.status = "loading its gallery"
    server = make_server(host, port, make_app(slot, token), threaded=True, request_handler=_QuietHandler)
    failure: list[BaseException] = []

    def load() -> None:
        try:
            service = CentralService(data_dir, matcher=matcher, settings=settings, register_file=register_file)
        except BaseException as exc:  # reported by the main thread, which then stops the server
            failure.append(exc)
            threading.Thread(target=server.shutdown, daemon=True).start()
            return
        service.start()
        slot.service = service
        thresholds = settings.matcher.thresholds
        announce(
            f"ready: gallery {service.gallery_size}, register {service.store.count_register()}, pending "
            f"{service.store.count_pending()}; matcher {settings.matcher.name} "
            f"(duplicate >= {thresholds.duplicate:g}, adjudicate >= {thresholds.adjudicate:g})"
        )

    announce(f"ektp central emulator: http://{host}:{server.server_port}{API}")
    announce(f"data: {data_dir}; Ctrl-C or SIGTERM stops it")
    loader = threading.Thread(target=load, name="central-load", daemon=True)
    loader.start()
    try:
        with sigterm_as_interrupt():  # SIGTERM ends the server exactly as Ctrl-C does
            server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        if slot.service is not None:
            slot.service.stop()
        server.server_close()
    if failure:
        raise failure[0]
    announce("ektp central emulator stopped")
