"""``ektp serve``: this node's web UI and HTTP API under waitress."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import click
from ektp_plugins.web.api import API

from ektp_core.cli.options import deployment_option, services, sigterm_as_interrupt

DEFAULT_PORT = 5000


def _request_log(app: Any, echo: Any) -> Any:
    """WSGI middleware logging method, path and status only: never query strings or bodies (packets hold
    biometrics, forms hold residents' data and passwords)."""

    def logged(environ: dict[str, Any], start_response: Any) -> Any:
        def start(status: str, headers: Any, exc_info: Any = None) -> Any:
            echo(
                f"{time.strftime('%H:%M:%S')} {environ.get('REQUEST_METHOD')} {environ.get('PATH_INFO')} "
                f"{status.split(' ', 1)[0]}"
            )
            return start_response(status, headers, exc_info)

        return app(environ, start)

    return logged


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port",
    default=DEFAULT_PORT,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="Port to listen on (0: a free one).",
)
@click.option(
    "--threads",
    default=8,
    show_default=True,
    type=click.IntRange(1, 64),
    help="Requests served at once (waitress worker threads).",
)
@click.option("--quiet", is_flag=True, help="Do not log each request.")
@click.option(
    "--trusted-proxy",
    default=None,
    metavar="ADDR",
    help="The address of a TLS proxy in front; its X-Forwarded-For/-Proto headers are believed.",
)
@deployment_option
def serve_command(
    host: str, port: int, threads: int, quiet: bool, trusted_proxy: str | None, deployment_dir: Path | None
) -> None:
    """Serve this node's web UI (/) and HTTP API (/api/v1) with waitress until Ctrl-C or SIGTERM."""
    from ektp_plugins.web.ui import create_app
    from waitress import create_server

    with services(deployment_dir) as (_deployment, plugin_host, lc):
        app = create_app(lc, plugin_host)
        wsgi = app.wsgi_app if quiet else _request_log(app.wsgi_app, lambda line: click.echo(line, err=True))
        app.wsgi_app = wsgi  # type: ignore[method-assign]
        proxy: dict[str, Any] = {}
        if trusted_proxy:
            # Only the proxy's own headers are believed: the client address (rate limits, audit) and https.
            proxy = {
                "trusted_proxy": trusted_proxy,
                "trusted_proxy_count": 1,
                "trusted_proxy_headers": {"x-forwarded-for", "x-forwarded-proto"},
            }
        server = create_server(
            app, host=host, port=port, threads=threads, ident="ektp", clear_untrusted_proxy_headers=True, **proxy
        )
        site = lc.deployment.site
        bound = server.effective_port
        click.echo(
            f"ektp node {site.code} ({site.name}): web UI http://{host}:{bound}/ , API http://{host}:{bound}{API}",
            err=True,
        )
        with sigterm_as_interrupt():
            try:
                server.run()
            except KeyboardInterrupt:
                pass
            finally:
                server.close()
        click.echo("stopped", err=True)
