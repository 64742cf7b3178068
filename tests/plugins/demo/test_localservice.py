"""``localservice.answers``: the readiness probe every started service (the demo's children, the
central emulator) is waited for with."""

from __future__ import annotations

import http.server
import socket
import socketserver
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from ektp_plugins.demo.processes import answers


@contextmanager
def _serving(
    handler: type[socketserver.BaseRequestHandler], server_class: type = socketserver.TCPServer
) -> Iterator[str]:
    server = server_class(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/api/v1/health"
    finally:
        server.shutdown()
        server.server_close()


class _Echo(socketserver.StreamRequestHandler):
    """What a probe reads when it connected to itself: its own request back."""

    def handle(self) -> None:
        self.wfile.write(self.rfile.readline())


def _status(code: int) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(code)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    return Handler


def test_an_answer_that_is_not_http_is_nobody_there_yet() -> None:
    with _serving(_Echo) as url:
        assert answers(url) is False
        assert answers(url, ready=True) is False


def test_ready_means_200_and_any_answer_means_up() -> None:
    with _serving(_status(200), http.server.HTTPServer) as url:
        assert answers(url, ready=True) is True
    with _serving(_status(503), http.server.HTTPServer) as url:
        assert answers(url) is True
        assert answers(url, ready=True) is False


def test_a_closed_port_is_nobody_there() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    assert answers(f"http://127.0.0.1:{port}/") is False
