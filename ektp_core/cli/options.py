"""What every ``ektp`` command shares: the deployment option, failing for a person, the services of a
deployment, JSON output and SIGTERM handling. Plugins' commands use these too (see docs/stability.md)."""

from __future__ import annotations

import json
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Any, NoReturn

import click

from ektp_core.config import Deployment, find_deployment
from ektp_core.errors import EktpError
from ektp_core.lifecycle.service import LifecycleService
from ektp_core.plugins import PluginHost
from ektp_core.services.verification import VerificationService

deployment_option = click.option(
    "--deployment",
    "-d",
    "deployment_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Deployment folder (default: $EKTP_DEPLOYMENT, else the current folder).",
)

actor_option = click.option(
    "--as", "actor", default="cli", show_default=True, help="Account name recorded in the audit log for this action."
)


def fail(message: str, code: int = 1) -> NoReturn:
    """Print an error for a person and exit (never a traceback for an expected failure)."""
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


def open_deployment(deployment_dir: Path | None) -> Deployment:
    """``--deployment DIR``, else ``$EKTP_DEPLOYMENT``, else the current folder."""
    return find_deployment(deployment_dir)


@contextmanager
def services(deployment_dir: Path | None) -> Iterator[tuple[Deployment, PluginHost, LifecycleService]]:
    """The deployment, its plugin host and a lifecycle service on its database (closed afterwards)."""
    deployment = open_deployment(deployment_dir)
    host = deployment.plugin_host()
    store = deployment.open_store()
    try:
        yield deployment, host, LifecycleService(store, host.hook, deployment)
    finally:
        store.dispose()


def echo_json(value: Any) -> None:
    """One JSON document on standard output (UTF-8 as is; dates and other values as text)."""
    click.echo(json.dumps(value, ensure_ascii=False, default=str))


@contextmanager
def verification_service(deployment_dir: Path | None) -> Iterator[tuple[Deployment, PluginHost, VerificationService]]:
    """The deployment, its plugin host and its verification service (its verifier and matcher built from
    the profile); a verifier the profile cannot build is an error for a person, not a traceback."""
    with services(deployment_dir) as (deployment, host, lifecycle):
        try:
            service = VerificationService.for_deployment(
                lifecycle, host, progress=lambda message: click.echo(message, err=True)
            )
        except EktpError as exc:
            fail(str(exc))
        yield deployment, host, service


@contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Within it, SIGTERM raises ``KeyboardInterrupt``, so a service asked to stop by its supervisor
    (systemd, a test, ``ektp demo``) shuts down exactly as on Ctrl-C. Only the main thread can take
    signals; elsewhere this changes nothing. The previous handler is put back afterwards."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
