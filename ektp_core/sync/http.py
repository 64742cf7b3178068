"""A site node's HTTP client for the Dukcapil node's API v1 (join, deliver packets, read the feed), and the
signed-request format both ends share. The server side is the web plugin's ``/api/v1``."""

from __future__ import annotations

import http.client
import json
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ektp_core.errors import EktpError
from ektp_core.keys import crypto
from ektp_core.sync import packets

#: A receipt or a key answer is small; anything larger is refused.
MAX_ANSWER = 1 << 16
#: The keys with their chain of statements (under 1 KB each; a node rotates a few times in its life).
MAX_KEYS_ANSWER = 1 << 20
#: A feed page (200 items at most) stays well under this.
MAX_FEED_PAGE = 16 << 20


#: How far a signed request's time may be from the receiving node's clock (seconds): a replay window.
REQUEST_SKEW = 300


def request_signature_text(method: str, path_and_query: str, stamp: str) -> bytes:
    """What a site signs to call an authenticated endpoint (the feed)."""
    return f"{method}\n{path_and_query}\n{stamp}".encode()


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req: Any, fp: Any, code: int, msg: str, headers: Any, newurl: str) -> None:
        return None


class NodeRefused(EktpError):
    """The Dukcapil node refused a request for good (``code`` from its error answer)."""

    message_code = "error.node_refused"

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"the Dukcapil node refused ({code}): {message}")
        self.code = code


class HttpTransport:
    """Delivers packets to ``url`` (the API root, ``https://dukcapil.example/api/v1``).

    A link problem (refused connection, timeout, a cut mid-transfer, a 5xx) raises ``OSError``, so the
    outbox keeps the packet for the next try; a refusal (4xx) is a :class:`NodeRefused`.
    """

    def __init__(self, url: str, *, timeout: float = 30.0) -> None:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise EktpError(f"not an http(s) URL of the Dukcapil node's API: {url!r}")
        self.url = url.rstrip("/")
        self.timeout = timeout
        self._opener = urllib.request.build_opener(_NoRedirects)

    def _call(
        self,
        method: str,
        path: str,
        data: bytes | None,
        content_type: str,
        headers: Mapping[str, str] | None = None,
        limit: int | None = None,
    ) -> Any:
        request = urllib.request.Request(
            self.url + path,
            data=data,
            method=method,
            headers={"Content-Type": content_type, "Accept": "application/json", **(headers or {})},
        )
        try:
            with self._opener.open(request, timeout=self.timeout) as response:
                payload = response.read((limit or MAX_ANSWER) + 1)
        except urllib.error.HTTPError as exc:
            body = exc.read(MAX_ANSWER) if exc.fp is not None else b""
            if exc.code >= 500 or exc.code == 429:
                raise ConnectionError(f"the Dukcapil node answered {exc.code}") from None
            try:
                error = json.loads(body)["error"]
                code, message = str(error["code"]), str(error["message"])
            except (ValueError, KeyError, TypeError):
                code, message = str(exc.code), body[:200].decode("utf-8", "replace")
            raise NodeRefused(code, message) from None
        except http.client.HTTPException as exc:  # a connection cut mid-answer
            raise ConnectionError(f"the link to {self.url} broke: {exc!r}") from None
        if len(payload) > (limit or MAX_ANSWER):
            raise ConnectionError("the Dukcapil node's answer is too large")
        try:
            return json.loads(payload)
        except ValueError:
            raise ConnectionError("the Dukcapil node answered with something that is not JSON") from None

    def send_packet(self, packet: bytes) -> Mapping[str, Any]:
        """POST one packet; returns the signed receipt (checked by the outbox)."""
        answer = self._call("POST", "/packets", packet, "application/octet-stream")
        if not isinstance(answer, dict):
            raise ConnectionError("the Dukcapil node's receipt is not a JSON object")
        return answer

    def join(self, *, site: str, public_key: str, code: str) -> dict[str, Any]:
        """Register this site's key with a one-time code; returns the Dukcapil node's public keys (and
        the chain of its key statements, see :meth:`node_keys`)."""
        answer = self._call(
            "POST",
            "/join",
            json.dumps({"site": site, "public_key": public_key, "code": code}).encode(),
            "application/json",
            limit=MAX_KEYS_ANSWER,
        )
        return _keys_answer(answer, "join")

    def node_keys(self) -> dict[str, Any]:
        """The Dukcapil node's public keys, their version and the chain of key statements (unverified:
        :meth:`ektp_core.sync.node_keys.SiteKeys.accept` walks it from the pinned key)."""
        return _keys_answer(self._call("GET", "/keys", None, "application/json", limit=MAX_KEYS_ANSWER), "keys")

    def feed(self, *, site: str, signing_key: Ed25519PrivateKey, cursor: int) -> Mapping[str, Any]:
        """One page of the site's feed from ``cursor`` (the request signed with the site's key)."""
        path = f"/feed?cursor={int(cursor)}"
        stamp = str(int(time.time()))
        root = urllib.parse.urlsplit(self.url).path
        signature = crypto.sign(signing_key, request_signature_text("GET", root + path, stamp))
        answer = self._call(
            "GET",
            path,
            None,
            "application/json",
            limit=MAX_FEED_PAGE,
            headers={"X-Ektp-Site": site, "X-Ektp-Time": stamp, "X-Ektp-Signature": signature},
        )
        if not isinstance(answer, dict) or not isinstance(answer.get("items"), list):
            raise ConnectionError("the Dukcapil node's feed answer is not a page")
        return answer


def _keys_answer(answer: Any, what: str) -> dict[str, Any]:
    if not isinstance(answer, dict) or not {"signing_key", "exchange_key"} <= set(answer):
        raise EktpError(f"the Dukcapil node's {what} answer has no keys")
    chain = answer.get("chain", [])
    if not isinstance(chain, list):
        raise EktpError(f"the Dukcapil node's {what} answer has a key chain that is not a list")
    return {
        "signing_key": str(answer["signing_key"]),
        "exchange_key": str(answer["exchange_key"]),
        "version": answer.get("version"),
        "chain": chain,
    }


def is_link_error(exc: BaseException) -> bool:
    """Whether an exception means the link is down (retry later) rather than a refusal."""
    return isinstance(exc, OSError | packets.PacketRefused)
