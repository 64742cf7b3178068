"""The ``acme-gateway`` verifier: an ektp :class:`~ektp_core.devices.verifiers.Verifier` for an HTTP
API.

The API (JSON over HTTP; every request carries the header ``X-Api-Key``)::

    PUT  /records/{id}            the enrolment: {"site", "nik", "biodata", "fingers", "face", "exceptions"}
                                  201 {"id", "received"}   held now
                                  200 {"id", "received"}   held already, with the same content
                                  409 {"error"}            the id is held with other content
    GET  /records/{id}            200 {"id", "state", "matches", "decided", "note"}
                                  404 {"error"}            not held
    POST /records/{id}/review     {"decision": "unique"|"duplicate", "by", "note"}: a supervisor's decision
                                  on a record in review; 200 as GET, 409 when the record is not in review
    POST /records/{id}/printed    {"printed_at"}: the card was printed; 204

``state`` is ``pending`` (still deciding), ``unique``, ``duplicate`` (``matches`` lists the other
records, each ``{"id", "nik", "score"}``), ``review`` (a person must decide) or ``invalid`` (the
biodata failed the register's checks; ``note`` says why). Templates and images are base64. Errors
are ``{"error": "message"}`` with 400 (malformed), 401 (bad key), 404, 409 or 5xx.

What ektp makes of it: ``unique`` is PRINT_READY_RECORD, ``duplicate`` DUPLICATE_RECORD, ``review``
ADJUDICATE_RECORD and ``invalid`` REQUEST_VALIDATION. A refused connection, a timeout, 429 and 5xx
are retried, then raised as :class:`~ektp_core.devices.verifiers.CentralUnavailable` (the enrolment waits
for the next sync); 400, 401, 404, 409 and redirects (never followed: the key would go to another
host) are :class:`~ektp_core.devices.verifiers.CentralRefused`.

Options (``[verification]`` in the profile, next to ``verifier = "acme-gateway"``):

* ``url`` (required): the API root, for example ``"https://gateway.example.go.id/v1"``;
* ``api_key_env`` (default ``"ACME_GATEWAY_API_KEY"``): the environment variable holding the key
  (never the key itself: a profile is copied to every node);
* ``timeout_seconds`` (default 10) and ``retries`` (default 2, further attempts after a failure
  that may pass, one second apart, doubling).
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from typing import Any

from ektp_core.devices.verifiers import (
    CentralRefused,
    CentralUnavailable,
    Reason,
    Receipt,
    Submission,
    Verdict,
    VerdictCandidate,
)
from ektp_core.domain.model import EnrolmentState

OPTIONS = ("url", "api_key_env", "timeout_seconds", "retries")
DEFAULT_KEY_ENV = "ACME_GATEWAY_API_KEY"
#: The API's states and the verdicts they are.
STATES = {
    "unique": EnrolmentState.PRINT_READY_RECORD,
    "duplicate": EnrolmentState.DUPLICATE_RECORD,
    "review": EnrolmentState.ADJUDICATE_RECORD,
    "invalid": EnrolmentState.REQUEST_VALIDATION,
}
#: Supervisors' decisions the API accepts.
DECISIONS = {EnrolmentState.PRINT_READY_RECORD: "unique", EnrolmentState.DUPLICATE_RECORD: "duplicate"}
MAX_ANSWER = 1 << 20
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_REFUSALS = {400: "malformed", 401: "unauthorised", 404: "not_found", 409: "conflict"}


class _Refuse(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req: Any, fp: Any, code: int, msg: str, headers: Any, newurl: str) -> None:
        return None  # a redirect is answered as an HTTPError 3xx, never followed


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _moment(text: Any) -> dt.datetime:
    moment = dt.datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


class AcmeGatewayVerifier:
    """A client for the Acme Gateway API; see the module docstring."""

    name = "acme-gateway"

    def __init__(
        self,
        options: Mapping[str, Any],
        *,
        sleep: Callable[[float], None] = time.sleep,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        unknown = sorted(set(options) - set(OPTIONS))
        if unknown:
            raise ValueError(f"{self.name} verifier: unknown option {unknown[0]!r} (known: {', '.join(OPTIONS)})")
        url = options.get("url")
        parts = urllib.parse.urlsplit(url) if isinstance(url, str) else None
        if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"{self.name} verifier: url must be the http(s) address of the API root, not {url!r}")
        timeout, retries = options.get("timeout_seconds", 10), options.get("retries", 2)
        if not isinstance(timeout, int | float) or isinstance(timeout, bool) or timeout <= 0:
            raise ValueError(f"{self.name} verifier: timeout_seconds must be a number above 0, not {timeout!r}")
        if not isinstance(retries, int) or isinstance(retries, bool) or not 0 <= retries <= 10:
            raise ValueError(f"{self.name} verifier: retries must be a whole number from 0 to 10, not {retries!r}")
        key_env = options.get("api_key_env", DEFAULT_KEY_ENV)
        if not isinstance(key_env, str) or not key_env:
            raise ValueError(f"{self.name} verifier: api_key_env must name an environment variable")
        self.url = str(url).rstrip("/")
        self.key_env = key_env
        self.timeout = float(timeout)
        self.retries = retries
        self._sleep = sleep
        self._environ = environ
        self._opener = urllib.request.build_opener(_Refuse)

    def __repr__(self) -> str:  # never the key
        return f"{type(self).__name__}(url={self.url!r}, api_key_env={self.key_env!r})"

    # -- HTTP ------------------------------------------------------------------------------------------

    def _key(self) -> str:
        key = (os.environ if self._environ is None else self._environ).get(self.key_env)
        if not key:
            raise CentralRefused("unauthorised", f"no API key: set the environment variable {self.key_env}")
        return key

    @staticmethod
    def _path(enrolment_id: str) -> str:
        if not _ID.match(enrolment_id):
            raise CentralRefused("malformed", f"the id {enrolment_id!r} cannot be sent to the API")
        return "/records/" + urllib.parse.quote(enrolment_id, safe="")

    def _call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        """One API call with retries: (status, decoded JSON or None). Refusals are returned, not raised."""
        data = json.dumps(body).encode() if body is not None else None
        headers = {"X-Api-Key": self._key(), "Accept": "application/json"}
        if data is not None:
            headers["Content-Type"] = "application/json"
        problem = ""
        for attempt in range(self.retries + 1):
            if attempt:
                self._sleep(float(2 ** (attempt - 1)))
            request = urllib.request.Request(self.url + path, data=data, headers=headers, method=method)
            try:
                with self._opener.open(request, timeout=self.timeout) as response:
                    return response.status, self._decode(response.read(MAX_ANSWER + 1))
            except urllib.error.HTTPError as exc:
                if 300 <= exc.code < 400:
                    raise CentralRefused(
                        "redirected",
                        f"{self.url} answered with a redirect ({exc.code}); set url to the API's own address",
                    ) from None
                answer = self._decode(exc.read(MAX_ANSWER + 1), lenient=True)
                if exc.code < 500 and exc.code != 429:
                    return exc.code, answer
                problem = f"HTTP {exc.code} from {self.url}: {self._message(answer)}"
            except ValueError as exc:
                problem = f"{self.url} answered something that is not JSON ({exc})"
            except OSError as exc:  # refused, reset, timed out, TLS
                problem = f"cannot reach {self.url}: {getattr(exc, 'reason', None) or exc}"
        raise CentralUnavailable(problem)

    @staticmethod
    def _decode(payload: bytes, *, lenient: bool = False) -> Any:
        if len(payload) > MAX_ANSWER:
            raise ValueError(f"an answer larger than {MAX_ANSWER} bytes")
        if not payload:
            return None
        try:
            return json.loads(payload)
        except (json.JSONDecodeError, UnicodeDecodeError):
            if lenient:
                return {"error": payload[:200].decode("utf-8", "replace")}
            raise

    @staticmethod
    def _message(answer: Any) -> str:
        if isinstance(answer, dict) and "error" in answer:
            return str(answer["error"])[:300]
        return str(answer)[:200]

    def _expect(self, status: int, answer: Any, *ok: int) -> dict[str, Any]:
        if status not in ok:
            raise CentralRefused(_REFUSALS.get(status, f"http_{status}"), self._message(answer))
        if not isinstance(answer, dict):
            raise CentralUnavailable(f"{self.url} answered {status} without a JSON object")
        return answer

    def _verdict(self, enrolment_id: str, answer: dict[str, Any]) -> Verdict | None:
        state = answer.get("state")
        if state == "pending":
            return None
        if state not in STATES or answer.get("id") != enrolment_id:
            raise CentralUnavailable(f"{self.url} answered a record this client cannot read: {str(answer)[:200]}")
        try:
            matches = tuple(
                VerdictCandidate(enrolment_id=str(m["id"]), nik=str(m.get("nik", "")), score=float(m["score"]))
                for m in answer.get("matches") or ()
            )
            decided = _moment(answer["decided"]) if answer.get("decided") else None
        except (KeyError, TypeError, ValueError) as exc:
            raise CentralUnavailable(f"{self.url} answered a record this client cannot read: {exc!r}") from None
        note = str(answer.get("note") or "")
        reasons = (Reason(str(state), note),) if note else ()
        return Verdict(enrolment_id, STATES[state], reasons=reasons, candidates=matches, decided_at=decided)

    # -- ektp_core.devices.verifiers.Verifier ------------------------------------------------------------------------

    def submit(self, submission: Submission) -> Receipt:
        """PUT the record; a resend of the same record is acknowledged as held already."""
        body = {
            "site": submission.site,
            "nik": str(submission.biodata.get("nik", "")),
            "biodata": dict(submission.biodata),
            "fingers": {position: _b64(template) for position, template in submission.fingers.items()},
            "face": _b64(submission.face) if submission.face is not None else None,
            "exceptions": dict(submission.exceptions),
        }
        status, answer = self._call("PUT", self._path(submission.enrolment_id), body)
        answer = self._expect(status, answer, 200, 201)
        try:
            received = _moment(answer["received"])
        except (KeyError, ValueError) as exc:
            raise CentralUnavailable(f"{self.url} acknowledged without a readable time: {exc!r}") from None
        return Receipt(submission.enrolment_id, received, first=status == 201)

    def verdict(self, enrolment_id: str, *, wait: float = 0) -> Verdict | None:
        """GET the record; None while it is pending (the API does not wait, so ``wait`` is not used)."""
        status, answer = self._call("GET", self._path(enrolment_id))
        return self._verdict(enrolment_id, self._expect(status, answer, 200))

    def adjudicate(self, enrolment_id: str, decision: EnrolmentState, *, supervisor: str, note: str) -> Verdict:
        """POST a supervisor's decision on a record in review."""
        if decision not in DECISIONS:
            raise CentralRefused(
                "malformed", f"the API takes the decisions {sorted(DECISIONS.values())}, not {decision}"
            )
        status, answer = self._call(
            "POST",
            self._path(enrolment_id) + "/review",
            {"decision": DECISIONS[decision], "by": supervisor, "note": note},
        )
        verdict = self._verdict(enrolment_id, self._expect(status, answer, 200))
        if verdict is None:
            raise CentralUnavailable(f"{self.url} left record {enrolment_id} pending after a decision")
        return verdict

    def card_printed(self, enrolment_id: str, printed_at: dt.datetime) -> None:
        """POST that the card was printed."""
        status, answer = self._call(
            "POST", self._path(enrolment_id) + "/printed", {"printed_at": printed_at.astimezone(dt.UTC).isoformat()}
        )
        if status != 204:
            self._expect(status, answer, 200)

    def finger_image(self, enrolment_id: str, position: str) -> bytes | None:
        """The API keeps no finger images for adjudication: always None."""
        return None
