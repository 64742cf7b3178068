"""An API server on 127.0.0.1 for tests and try-outs: the API of :mod:`.client`.

It keeps its records in memory and decides at once, by the biodata: a record whose NIK an earlier
record holds is a ``duplicate`` of it; one with the name and birth date of an earlier record but
another NIK goes to ``review``; one whose NIK is not 16 digits or that has no name is ``invalid``;
any other is ``unique``. ``pending_polls`` makes the first GETs of each record answer ``pending``.
:meth:`~AcmeGatewayServer.fail_next` answers the next requests with an HTTP error.

Run one by hand (the API key is read from the environment)::

    ACME_GATEWAY_API_KEY=secret python -m ektp_acme_gateway.server --port 8731
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

_RECORD = re.compile(r"^/v1/records/([A-Za-z0-9._-]{1,128})(/review|/printed)?$")
MAX_BODY = 8 << 20
KEY_ENV = "ACME_GATEWAY_API_KEY"


class AcmeGatewayServer:
    """The API on ``127.0.0.1:port`` (0: any free port) in a background thread."""

    def __init__(self, api_key: str, *, port: int = 0, pending_polls: int = 0) -> None:
        self.api_key = api_key
        self.port = port
        self.pending_polls = pending_polls
        #: Record id -> what the server holds about it.
        self.records: dict[str, dict[str, Any]] = {}
        #: Record id -> when its card was printed, as reported.
        self.printed: dict[str, str] = {}
        self._failures: list[int] = []
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        """The API root, for the verifier's ``url`` option."""
        if self._httpd is None:
            raise RuntimeError("the server is not started")
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"

    def fail_next(self, status: int, times: int = 1) -> None:
        """Answer the next ``times`` requests with ``status`` (500, 503, 429...)."""
        self._failures.extend([status] * times)

    def start(self) -> str:
        """Start serving; returns :attr:`url`."""
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # quiet: tests read the results
                return

            def do_GET(self) -> None:
                server._handle(self, "GET")

            def do_PUT(self) -> None:
                server._handle(self, "PUT")

            def do_POST(self) -> None:
                server._handle(self, "POST")

        self._httpd = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._httpd.daemon_threads = True
        threading.Thread(target=self._httpd.serve_forever, name="api-server", daemon=True).start()
        return self.url

    def stop(self) -> None:
        """Stop serving (safe to call twice)."""
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> AcmeGatewayServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- the API ----------------------------------------------------------------------------------------

    def _handle(self, request: BaseHTTPRequestHandler, method: str) -> None:
        with self._lock:
            if self._failures:
                self._send(request, self._failures.pop(0), {"error": "emulated failure"})
                return
            if request.headers.get("X-Api-Key") != self.api_key:
                self._send(request, 401, {"error": "wrong or missing X-Api-Key"})
                return
            match = _RECORD.match(request.path)
            if match is None:
                self._send(request, 404, {"error": f"no such resource {request.path}"})
                return
            try:
                body = self._body(request) if method != "GET" else None
            except ValueError as exc:
                self._send(request, 400, {"error": str(exc)})
                return
            record_id, action = match.group(1), match.group(2)
            status, answer = self._route(method, record_id, action, body)
            self._send(request, status, answer)

    @staticmethod
    def _body(request: BaseHTTPRequestHandler) -> dict[str, Any]:
        length = int(request.headers.get("Content-Length") or 0)
        if not 0 < length <= MAX_BODY:
            raise ValueError("a JSON body is required")
        body = json.loads(request.rfile.read(length))
        if not isinstance(body, dict):
            raise ValueError("the body must be a JSON object")
        return body

    def _route(self, method: str, record_id: str, action: str | None, body: dict[str, Any] | None) -> tuple[int, Any]:
        if method == "PUT" and action is None and body is not None:
            return self._put(record_id, body)
        record = self.records.get(record_id)
        if record is None:
            return 404, {"error": f"no record {record_id}"}
        if method == "GET" and action is None:
            if record["polls"] < self.pending_polls:
                record["polls"] += 1
                return 200, {"id": record_id, "state": "pending", "matches": [], "decided": None, "note": ""}
            return 200, self._public(record_id)
        if method == "POST" and action == "/review" and body is not None:
            if record["state"] != "review" or body.get("decision") not in ("unique", "duplicate"):
                return 409, {
                    "error": f"record {record_id} is {record['state']}; decide unique or duplicate "
                    "on a record in review"
                }
            record.update(
                state=body["decision"],
                decided=_now(),
                note=f"decided by {body.get('by', '?')}: {body.get('note', '')}".strip(),
            )
            return 200, self._public(record_id)
        if method == "POST" and action == "/printed" and body is not None:
            self.printed[record_id] = str(body.get("printed_at", ""))
            return 204, None
        return 405, {"error": f"{method} is not allowed here"}

    def _put(self, record_id: str, body: dict[str, Any]) -> tuple[int, Any]:
        biodata = body.get("biodata")
        if not isinstance(biodata, dict) or not isinstance(body.get("nik"), str):
            return 400, {"error": "a record needs nik and biodata"}
        digest = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()
        held = self.records.get(record_id)
        if held is not None:
            if held["digest"] != digest:
                return 409, {"error": f"record {record_id} is held with other content"}
            return 200, {"id": record_id, "received": held["received"]}
        state, matches, note = self._decide(body["nik"], biodata)
        self.records[record_id] = {
            "digest": digest,
            "nik": body["nik"],
            "biodata": biodata,
            "received": _now(),
            "state": state,
            "matches": matches,
            "decided": _now(),
            "note": note,
            "polls": 0,
        }
        return 201, {"id": record_id, "received": self.records[record_id]["received"]}

    def _decide(self, nik: str, biodata: dict[str, Any]) -> tuple[str, list[dict[str, Any]], str]:
        if not re.fullmatch(r"\d{16}", nik) or not biodata.get("nama"):
            return "invalid", [], "the NIK must be 16 digits and the name must be given"
        same_nik = [(i, r) for i, r in self.records.items() if r["nik"] == nik]
        if same_nik:
            return (
                "duplicate",
                [{"id": i, "nik": r["nik"], "score": 100.0} for i, r in same_nik],
                "the NIK is held by an earlier record",
            )
        person = (biodata.get("nama"), biodata.get("tanggal_lahir"))
        alike = [
            (i, r)
            for i, r in self.records.items()
            if (r["biodata"].get("nama"), r["biodata"].get("tanggal_lahir")) == person
        ]
        if alike:
            return (
                "review",
                [{"id": i, "nik": r["nik"], "score": 60.0} for i, r in alike],
                "an earlier record has the same name and birth date under another NIK",
            )
        return "unique", [], ""

    def _public(self, record_id: str) -> dict[str, Any]:
        record = self.records[record_id]
        return {
            "id": record_id,
            "state": record["state"],
            "matches": record["matches"],
            "decided": record["decided"],
            "note": record["note"],
        }

    @staticmethod
    def _send(request: BaseHTTPRequestHandler, status: int, answer: Any) -> None:
        payload = json.dumps(answer).encode() if answer is not None else b""
        request.send_response(status)
        request.send_header("Content-Type", "application/json")
        request.send_header("Content-Length", str(len(payload)))
        request.end_headers()
        request.wfile.write(payload)


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def main(argv: list[str] | None = None) -> None:
    """Serve the API in the foreground until interrupted."""
    parser = argparse.ArgumentParser(description="An API server on 127.0.0.1 for try-outs.")
    parser.add_argument("--port", type=int, default=8731)
    parser.add_argument("--key-env", default=KEY_ENV, help="the variable holding the API key")
    args = parser.parse_args(argv)
    key = os.environ.get(args.key_env)
    if not key:
        parser.error(f"set the API key in the environment variable {args.key_env}")
    server = AcmeGatewayServer(key, port=args.port)
    print(f"Acme Gateway API on {server.start()}; Ctrl-C stops it")
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        server.stop()


if __name__ == "__main__":
    main()
