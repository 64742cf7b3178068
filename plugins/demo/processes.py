"""Start a local service (the central-system emulator, say) as its own process, for walks and demos.

A profile that points its verifier at ``http://127.0.0.1:PORT/...`` and finds nobody answering
there gets ``ektp central-emulator`` started on that port, with its data in the deployment folder,
and stopped again afterwards. A service that already answers is used as it is.
"""

from __future__ import annotations

import http.client
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ektp_core.config import PROFILE_FILE
from ektp_core.errors import EktpError

_LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")


def answers(url: str, timeout: float = 1.0, *, ready: bool = False) -> bool:
    """True when something answers an HTTP GET at ``url`` (with ``ready``: answers 200, so a service
    still loading, which answers 503, is not ready yet)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return bool(response.status == 200) or not ready
    except urllib.error.HTTPError:
        return not ready
    except (OSError, http.client.HTTPException):
        # HTTPException: not an HTTP answer. Polling a port in the ephemeral range before the
        # service listens can connect the probe to itself (a TCP self-connect), which then reads
        # its own request back as the "status line": nobody is there yet.
        return False


class LocalService:
    """A child process running one ``ektp`` command, up once ``health_url`` answers."""

    def __init__(
        self, name: str, args: Sequence[str], health_url: str, *, log: Path, env: dict[str, str] | None = None
    ) -> None:
        self.name = name
        self.args = [sys.executable, "-m", "ektp_core", *args]
        self.health_url = health_url
        self.log = log
        self.env = {**os.environ, **(env or {}), "PYTHONUNBUFFERED": "1"}
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 120.0) -> None:
        """Start the process and wait until it answers 200; its output goes to ``log``."""
        self.log.parent.mkdir(parents=True, exist_ok=True)
        try:
            with open(self.log, "ab") as out:
                self.process = subprocess.Popen(self.args, stdout=out, stderr=subprocess.STDOUT, env=self.env)
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    tail = self.log.read_text("utf-8", errors="replace")[-800:]
                    raise EktpError(
                        f"{self.name} stopped at start (exit {self.process.returncode}); its log "
                        f"{self.log} ends with:\n{tail}"
                    )
                if answers(self.health_url, ready=True):
                    return
                time.sleep(0.1)
            raise EktpError(f"{self.name} was not ready at {self.health_url} within {timeout:g} s; see {self.log}")
        except BaseException:  # Ctrl-C or a failed start: never leave the child running
            self.stop()
            raise

    def stop(self) -> None:
        """Ask the process to stop (SIGTERM), and kill it if it does not within 15 s."""
        stop_process(self.process)


def stop_process(process: subprocess.Popen[Any] | None, *, grace: float = 15) -> None:
    """Stop a child service as Ctrl-C would (SIGTERM), and kill it if it has not stopped after ``grace``
    seconds. Nothing happens to a process that already ended."""
    if process is None or process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextmanager
def local_central(
    deployment: Any, *, token_env: str = "EKTP_CENTRAL_TOKEN", echo: Callable[[str], object] = print
) -> Iterator[LocalService | None]:
    """While inside, the central system of the deployment's ``[verification]`` answers: an emulator is
    started when the URL is local and silent (and ``token_env`` set to a fresh token when unset)."""
    raw = deployment.profile.raw.get("verification", {})
    url = raw.get("url") if isinstance(raw, dict) and raw.get("verifier", "http") == "http" else None
    if not isinstance(url, str):
        yield None
        return
    parts = urllib.parse.urlsplit(url)
    if answers(url.rstrip("/") + "/health") or parts.hostname not in _LOCAL_HOSTS or parts.port is None:
        yield None
        return
    token_env = str(raw.get("token_env", token_env))
    generated = not os.environ.get(token_env)
    if generated:  # for this process's verifier only; taken away again at the end
        os.environ[token_env] = secrets.token_urlsafe(24)
    service = LocalService(
        "ektp central-emulator",
        [
            "central-emulator",
            "--host",
            parts.hostname,
            "--port",
            str(parts.port),
            "--data",
            str(deployment.root / "central-emulator"),
            "--config",
            str(deployment.root / PROFILE_FILE),
        ],
        url.rstrip("/") + "/health",
        log=deployment.root / "central-emulator.log",
        env={"EKTP_CENTRAL_TOKEN": os.environ[token_env]},
    )
    echo(f"starting ektp central-emulator on {parts.hostname}:{parts.port} (log: {service.log})")
    try:
        service.start()
        yield service
    finally:
        service.stop()
        if generated:
            os.environ.pop(token_env, None)
