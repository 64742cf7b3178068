"""The demo's child processes: started one by one, each waited for, all stopped together."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from ektp_plugins.demo.processes import answers

from ektp_core.errors import EktpError

#: How long a child has to stop after SIGTERM before it is killed.
STOP_GRACE = 10.0


def log_tail(path: Path, size: int = 1500) -> str:
    """The end of a log file (what a child said last before dying)."""
    try:
        return path.read_text("utf-8", errors="replace")[-size:]
    except OSError:
        return "(no log)"


class Child:
    """One ``ektp`` command run as a child process, its output in ``log``."""

    def __init__(
        self,
        name: str,
        args: Sequence[str],
        log: Path,
        *,
        env: dict[str, str] | None = None,
        ready_url: str | None = None,
        ready_status: bool = True,
    ) -> None:
        self.name = name
        self.args = [sys.executable, "-m", "ektp_core", *args]
        self.log = log
        self.env = {**os.environ, **(env or {}), "PYTHONUNBUFFERED": "1"}
        self.ready_url = ready_url
        self.ready_status = ready_status
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        """The process id once started."""
        return self.process.pid if self.process is not None else None

    def alive(self) -> bool:
        """True while the process runs."""
        return self.process is not None and self.process.poll() is None

    def died(self) -> EktpError:
        """The error that says this child stopped, with the end of its log."""
        code = self.process.returncode if self.process is not None else None
        return EktpError(f"{self.name} stopped (exit {code}); its log {self.log} ends with:\n{log_tail(self.log)}")

    def start(self, timeout: float = 180.0) -> None:
        """Start the process and wait until it answers at ``ready_url`` (or, without one, until it has
        lived a second); raises with the log's tail if it dies or never answers."""
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log, "ab") as out:
            out.write(f"\n---- {time.strftime('%Y-%m-%d %H:%M:%S')} ektp {' '.join(self.args[3:])}\n".encode())
            out.flush()
            # Its own session: a Ctrl-C in the terminal reaches the demo only, which stops the children in
            # order (the loops before the nodes they talk to).
            self.process = subprocess.Popen(
                self.args,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=self.env,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        deadline = time.monotonic() + (timeout if self.ready_url else 1.0)
        while time.monotonic() < deadline:
            if not self.alive():
                raise self.died()
            if self.ready_url and answers(self.ready_url, ready=self.ready_status):
                return
            time.sleep(0.1)
        if self.ready_url:
            raise EktpError(
                f"{self.name} did not answer at {self.ready_url} within {timeout:g} s; its log "
                f"{self.log} ends with:\n{log_tail(self.log)}"
            )
        if not self.alive():
            raise self.died()

    def terminate(self) -> None:
        """Ask the process to stop (SIGTERM)."""
        if self.alive():
            assert self.process is not None
            self.process.send_signal(signal.SIGTERM)

    def wait_or_kill(self, deadline: float) -> None:
        """Wait for the process until ``deadline`` (monotonic), then kill it."""
        if self.process is None:
            return
        try:
            self.process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


class Children:
    """The started children, stopped in the reverse order of their start."""

    def __init__(self, echo: Callable[[str], object]) -> None:
        self.started: list[Child] = []
        self.echo = echo

    def start(self, child: Child) -> Child:
        """Start ``child`` and wait for it (see :meth:`Child.start`)."""
        self.started.append(child)
        child.start()
        self.echo(f"  {child.name}: started (pid {child.pid}, log {child.log})")
        return child

    def first_dead(self) -> Child | None:
        """A child that stopped on its own, if any."""
        return next((c for c in self.started if not c.alive()), None)

    def stop(self) -> None:
        """Stop every child, newest first (the loops, then the nodes, then the emulators they talk to):
        SIGTERM, then a kill if it still runs after :data:`STOP_GRACE` seconds."""
        for child in reversed(self.started):
            child.terminate()
            child.wait_or_kill(time.monotonic() + STOP_GRACE)
