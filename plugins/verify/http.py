"""The ``http`` verifier: a client for the central-system API v1 (docs/central-api.md).

Profile options (``[verification]``):

* ``url`` (required): the API root, for example ``"https://central.example/api/v1"``;
* ``token_env`` (default ``"EKTP_CENTRAL_TOKEN"``): the environment variable holding the bearer token
  (the token itself is never written in a profile, nor logged);
* ``timeout_seconds`` (default 10): per request;
* ``retries`` (default 3): further attempts after a failure that may pass (refused connection, timeout,
  5xx), with exponential ``backoff_seconds`` (default 0.5, doubled each time, capped at 8 s).

Refusals that resending cannot fix (400, 401, 404, 409, and any redirect, which is never followed so
the token cannot leak to another host) are raised at once as :class:`~ektp_core.devices.verifiers.CentralRefused`;
everything else, after the last retry, as :class:`~ektp_core.devices.verifiers.CentralUnavailable`. Answers
are size-limited, ids are checked before they go into a URL, and the token is never logged.
"""

from __future__ import annotations

import base64
import datetime as dt
import http.client
import json
import logging
import os
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from typing import Any

from ektp_core.devices.verifiers import CentralRefused, CentralUnavailable, Receipt, Submission, Verdict
from ektp_core.domain.model import EnrolmentState

log = logging.getLogger(__name__)

OPTIONS = {"url", "token_env", "timeout_seconds", "retries", "backoff_seconds"}
_MAX_BACKOFF = 8.0
#: Answers larger than these are refused: a broken or hostile peer must not exhaust the node's memory.
MAX_JSON_BYTES = 1 << 20
MAX_IMAGE_BYTES = 16 << 20
#: Enrolment ids and finger positions as the API allows them, checked before they go into a URL path.
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")
_LOOPBACK = ("127.0.0.1", "localhost", "::1")


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _time(text: str) -> dt.datetime:
    moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment.astimezone(dt.UTC) if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """Redirects are refused, never followed: following one would hand the bearer token to another host."""

    def redirect_request(self, req: Any, fp: Any, code: int, msg: str, headers: Any, newurl: str) -> None:
        return None


class _TooLarge(Exception):
    pass


class HttpVerifier:
    """Talks to a central system over the JSON API v1; see the module docstring for options."""

    name = "http"

    def __init__(
        self,
        options: Mapping[str, Any],
        *,
        sleep: Callable[[float], None] = time.sleep,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        unknown = set(options) - OPTIONS
        if unknown:
            raise ValueError(f"http verifier: unknown options {sorted(unknown)} (known: {sorted(OPTIONS)})")
        url = options.get("url")
        parts = urllib.parse.urlsplit(url) if isinstance(url, str) else None
        if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"http verifier: url must be an http(s) URL of the API root, got {url!r}")
        if parts.username or parts.password:
            raise ValueError("http verifier: put no user or password in url; the token comes from token_env")
        if parts.scheme == "http" and parts.hostname not in _LOOPBACK:
            log.warning(
                "http verifier: %s is plain HTTP to another machine: biometrics and the token travel "
                "unencrypted (use https)",
                url,
            )
        self.url = str(url).rstrip("/")
        self.token_env = str(options.get("token_env", "EKTP_CENTRAL_TOKEN"))
        self.timeout = float(options.get("timeout_seconds", 10))
        self.retries = int(options.get("retries", 3))
        self.backoff = float(options.get("backoff_seconds", 0.5))
        if self.timeout <= 0 or self.retries < 0 or self.backoff < 0:
            raise ValueError("http verifier: timeout_seconds must be > 0, retries and backoff_seconds >= 0")
        self._environ = environ
        self._sleep = sleep
        self._opener = urllib.request.build_opener(_NoRedirects)

    def __repr__(self) -> str:  # never the token
        return f"HttpVerifier(url={self.url!r}, token_env={self.token_env!r})"

    # -- transport ------------------------------------------------------------------------------------------

    def _token(self) -> str:
        token = (os.environ if self._environ is None else self._environ).get(self.token_env)
        if not token:
            raise CentralRefused("unauthorised", f"no token: set the environment variable {self.token_env}")
        return token

    @staticmethod
    def _path_part(value: str, what: str) -> str:
        if not _ID.match(value):
            raise CentralRefused(
                "malformed",
                f"{what} {value!r} cannot be sent to the central API (letters, digits and . _ : - only, at most 128)",
            )
        return urllib.parse.quote(value, safe="")

    @staticmethod
    def _read(response: Any, limit: int) -> bytes:
        payload: bytes = response.read(limit + 1)
        if len(payload) > limit:
            raise _TooLarge(f"answer larger than {limit} bytes refused")
        return payload

    def _request(
        self, method: str, path: str, body: Any = None, *, timeout: float | None = None, raw: bool = False
    ) -> tuple[int, Any]:
        """One API call with retries; returns (status, decoded JSON or bytes)."""
        data = json.dumps(body, separators=(",", ":")).encode() if body is not None else None
        headers = {"Authorization": f"Bearer {self._token()}", "Accept": "application/json"}
        if data is not None:
            headers["Content-Type"] = "application/json"
        limit = MAX_IMAGE_BYTES if raw else MAX_JSON_BYTES
        delay = self.backoff
        last = ""
        for attempt in range(self.retries + 1):
            if attempt:
                self._sleep(min(delay, _MAX_BACKOFF))
                delay *= 2
            request = urllib.request.Request(self.url + path, data=data, headers=headers, method=method)
            try:
                with self._opener.open(request, timeout=timeout or self.timeout) as response:
                    payload = self._read(response, limit)
                    return response.status, payload if raw else json.loads(payload or b"null")
            except urllib.error.HTTPError as exc:
                if 300 <= exc.code < 400:
                    raise CentralRefused(
                        "redirected",
                        f"{self.url} answered with a redirect ({exc.code}), which is "
                        "not followed: set [verification] url to the API's own address",
                    ) from None
                payload = self._read(exc, MAX_JSON_BYTES) if exc.fp is not None else b""
                if exc.code < 500 and exc.code != 429:
                    return exc.code, payload if raw else self._json_or_text(payload)
                last = f"HTTP {exc.code} from {self.url}: {self._message(self._json_or_text(payload))}"
            except _TooLarge as exc:
                last = f"{self.url}: {exc}"
            except (json.JSONDecodeError, UnicodeDecodeError):
                last = f"{self.url} answered with something that is not JSON"
            except (OSError, http.client.HTTPException) as exc:  # URLError, timeouts, resets, TLS, short reads
                last = f"cannot reach {self.url}: {getattr(exc, 'reason', None) or exc}"
            log.info(
                "central system call %s %s failed (attempt %d of %d): %s",
                method,
                path.split("?")[0],
                attempt + 1,
                self.retries + 1,
                last,
            )
        raise CentralUnavailable(last)

    @staticmethod
    def _json_or_text(payload: bytes) -> Any:
        try:
            return json.loads(payload)
        except (json.JSONDecodeError, UnicodeDecodeError):
            return {"error": {"code": "unknown", "message": payload[:200].decode("utf-8", "replace")}}

    @staticmethod
    def _message(body: Any) -> str:
        if isinstance(body, dict) and isinstance(body.get("error"), dict):
            return str(body["error"].get("message", ""))[:500]
        return str(body)[:200]

    def _refuse(self, status: int, body: Any) -> CentralRefused:
        code = body["error"].get("code") if isinstance(body, dict) and isinstance(body.get("error"), dict) else None
        fallback = {400: "malformed", 401: "unauthorised", 404: "not_found", 409: "conflict"}.get(status, "refused")
        return CentralRefused(str(code or fallback), self._message(body))

    def _expect(self, status: int, body: Any, *ok: int) -> dict[str, Any]:
        if status not in ok:
            if status == 503:
                raise CentralUnavailable(f"central system busy: {self._message(body)}")
            raise self._refuse(status, body)
        if not isinstance(body, dict):
            raise CentralUnavailable(f"central system sent an answer this node cannot read: {str(body)[:100]}")
        return body

    @staticmethod
    def _verdict(answer: dict[str, Any]) -> Verdict:
        try:
            return Verdict.from_dict(answer)
        except ValueError as exc:
            raise CentralUnavailable(f"central system sent a verdict this node cannot read: {exc}") from None

    # -- ektp_core.devices.verifiers.Verifier ---------------------------------------------------------------------

    def submit(self, submission: Submission) -> Receipt:
        """POST the enrolment; a resend of the same enrolment id gets the first answer."""
        self._path_part(submission.enrolment_id, "enrolment id")
        status, answer = self._request("POST", "/enrolments", self._body(submission))
        answer = self._expect(status, answer, 200, 201, 202)
        if answer.get("enrolment_id") != submission.enrolment_id:
            raise CentralUnavailable(
                f"central system acknowledged {answer.get('enrolment_id')!r}, not {submission.enrolment_id!r}"
            )
        try:
            received = _time(answer["received_at"])
        except (KeyError, TypeError, AttributeError, ValueError):
            raise CentralUnavailable("central system sent a receipt without a readable received_at") from None
        return Receipt(submission.enrolment_id, received, bool(answer.get("first", True)))

    @staticmethod
    def _body(submission: Submission) -> dict[str, Any]:
        body = {
            "enrolment_id": submission.enrolment_id,
            "site": submission.site,
            "biodata": dict(submission.biodata),
            "fingers": {p: _b64(t) for p, t in submission.fingers.items()},
            "finger_images": {p: _b64(i) for p, i in submission.finger_images.items()},
            "face": _b64(submission.face) if submission.face is not None else None,
            "exceptions": dict(submission.exceptions),
        }
        if submission.service.get("replaces"):
            # Only a replacement says so: a first card's body stays what it always was (idempotency).
            body["service"] = dict(submission.service)
        return body

    def verdict(self, enrolment_id: str, *, wait: float = 0) -> Verdict | None:
        """GET the enrolment; None while its status is still RECEIVED_AT_CENTRAL."""
        wait = max(0.0, min(30.0, wait))
        query = f"?wait={wait:g}" if wait else ""
        status, answer = self._request(
            "GET", f"/enrolments/{self._path_part(enrolment_id, 'enrolment id')}{query}", timeout=self.timeout + wait
        )
        answer = self._expect(status, answer, 200)
        if answer.get("status") == EnrolmentState.RECEIVED_AT_CENTRAL.value:
            return None
        return self._verdict(answer)

    def adjudicate(self, enrolment_id: str, decision: EnrolmentState, *, supervisor: str, note: str) -> Verdict:
        """POST a supervisor's decision; returns the enrolment's verdict as the central side now holds it."""
        status, answer = self._request(
            "POST",
            f"/enrolments/{self._path_part(enrolment_id, 'enrolment id')}/adjudication",
            {"decision": decision.value, "supervisor": supervisor, "note": note},
        )
        return self._verdict(self._expect(status, answer, 200))

    def correct(self, submission: Submission, *, reason: str, supervisor: str) -> None:
        """POST a supervisor's correction: the whole corrected submission (the NIK unchanged)."""
        status, answer = self._request(
            "POST",
            f"/enrolments/{self._path_part(submission.enrolment_id, 'enrolment id')}/correction",
            {"submission": self._body(submission), "reason": reason, "supervisor": supervisor},
        )
        self._expect(status, answer, 200)

    def card_printed(self, enrolment_id: str, printed_at: dt.datetime) -> None:
        """POST that the enrolment's card was printed."""
        self._path_part(enrolment_id, "enrolment id")
        status, answer = self._request(
            "POST", "/cards", {"enrolment_id": enrolment_id, "printed_at": printed_at.astimezone(dt.UTC).isoformat()}
        )
        self._expect(status, answer, 200, 201)

    def finger_image(self, enrolment_id: str, position: str) -> bytes | None:
        """GET a finger image the central side holds; None when it has none."""
        status, answer = self._request(
            "GET",
            f"/enrolments/{self._path_part(enrolment_id, 'enrolment id')}/fingers/"
            f"{self._path_part(position, 'finger position')}",
            raw=True,
        )
        if status == 404:
            return None
        if status != 200:
            raise self._refuse(status, self._json_or_text(answer))
        return bytes(answer)
