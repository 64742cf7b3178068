"""The node's HTTP API v1 (a Flask blueprint): joining, packets and receipts, and its OpenAPI document.

The Dukcapil node serves it; site nodes call it through :mod:`.client`. Errors are JSON
``{"error": {"code", "message"}}``; every refusal of a packet is audited by the core's inbox.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from ektp_plugins.web.openapi import document
from flask import Blueprint, Response, current_app, jsonify, request

from ektp_core import __version__
from ektp_core.errors import EktpError, NotFound, ValidationFailed
from ektp_core.keys import crypto
from ektp_core.sync import packets
from ektp_core.sync.feed import Feed
from ektp_core.sync.http import REQUEST_SKEW, request_signature_text
from ektp_core.sync.inbox import Inbox
from ektp_core.sync.receipts import sign_receipt

log = logging.getLogger(__name__)
API = "/api/v1"
_STATUS = {"malformed": 400, "bad_signature": 403, "tampered": 403, "unknown_site": 403, "conflict": 409}


class ApiError(Exception):
    """An error answered as JSON."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def _error(status: int, code: str, message: str) -> tuple[Response, int]:
    return jsonify({"error": {"code": code, "message": message}}), status


def blueprint() -> Blueprint:
    """The ``/api/v1`` blueprint; the app must hold an :class:`Inbox` in ``extensions["ektp_inbox"]``."""
    bp = Blueprint("ektp_api", __name__, url_prefix=API)

    def inbox() -> Inbox:
        found: Inbox = current_app.extensions["ektp_inbox"]
        return found

    @bp.errorhandler(ApiError)
    def api_error(exc: ApiError) -> tuple[Response, int]:
        return _error(exc.status, exc.code, exc.message)

    @bp.get("/health")
    def health() -> Response:
        site = inbox().lifecycle.deployment.site
        return jsonify({"status": "ok", "site": site.code, "kind": str(site.kind)})

    @bp.get("/keys")
    def keys() -> Response:
        # The public keys, their version and the chain of key statements a site walks from its pinned key.
        return jsonify(inbox().published_keys())

    @bp.get("/openapi.json")
    def openapi() -> Response:
        return jsonify(document(__version__))

    @bp.post("/join")
    def join() -> Response:
        body: Any = request.get_json(silent=True)
        if not isinstance(body, dict) or not all(isinstance(body.get(k), str) for k in ("site", "public_key", "code")):
            raise ApiError(400, "malformed", "expected a JSON object with site, public_key and code")
        try:
            box = inbox()
            box.join(body["code"], site_code=body["site"], public_key=body["public_key"])
            return jsonify(box.published_keys())
        except ValidationFailed as exc:
            raise ApiError(400, "join_refused", str(exc)) from None
        except (ValueError, EktpError) as exc:
            raise ApiError(400, "malformed", str(exc)) from None

    def signed_site() -> str:
        """The site whose key signed this request; 401 otherwise (the feed holds account verifiers)."""
        site = request.headers.get("X-Ektp-Site", "")
        stamp = request.headers.get("X-Ektp-Time", "")
        signature = request.headers.get("X-Ektp-Signature", "")
        try:
            if abs(time.time() - int(stamp)) > REQUEST_SKEW:
                raise ApiError(401, "unauthorised", "request time too far from the node's clock (check the clock)")
            key = inbox().site_key(site)
            crypto.verify_signature(
                crypto.load_public_key(key),
                request_signature_text(request.method, request.full_path.rstrip("?"), stamp),
                signature,
            )
        except (ValueError, NotFound, crypto.TamperedData):
            raise ApiError(401, "unauthorised", "not signed by a joined site's key") from None
        return site

    @bp.get("/feed")
    def feed() -> Response:
        site = signed_site()
        try:
            cursor = int(request.args.get("cursor", "0"))
        except ValueError:
            raise ApiError(400, "malformed", "cursor must be a whole number") from None
        box = inbox()
        keys = box.keys()
        page = Feed(box.lifecycle, keys.signing).since(site, max(0, cursor))
        # keys_version (not signed: a hint) tells a site whose pinned key fails that new keys are published.
        return jsonify({"items": page.items, "cursor": page.cursor, "more": page.more, "keys_version": keys.version})

    @bp.post("/packets")
    def packet() -> tuple[Response, int]:
        length = request.content_length
        if length is not None and length > packets.MAX_PACKET:
            raise ApiError(413, "too_large", f"packets are at most {packets.MAX_PACKET} bytes")
        data = request.get_data(cache=False)
        box = inbox()
        try:
            receipt = box.accept(data)
        except packets.PacketRefused as exc:
            log.warning("packet refused (%s): %s", exc.code, exc)
            raise ApiError(_STATUS.get(exc.code, 400), exc.code, str(exc)) from None
        except NotFound as exc:
            raise ApiError(404, "not_found", str(exc)) from None
        keys = box.keys()
        return jsonify({**sign_receipt(keys.signing, receipt), "keys_version": keys.version}), 200

    return bp
