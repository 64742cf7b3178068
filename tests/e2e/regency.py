"""A small Kota Bengkulu on this machine for the browser tests and the screenshots: the Dukcapil node
(17.71, which prints) and the kecamatan node of Kampung Melayu (17.71.05, which records), each served
by ``ektp serve``; the central-system emulator; the SBI emulator as the kecamatan's recording desk
(face, finger slaps, irises); and the loops that move records along (``ektp sync run`` at the
kecamatan, ``ektp verify run`` at the Dukcapil node). Every piece is its own process, as in an office.

It is ``ektp demo`` without the seeding: the tests need an empty regency that is up in seconds, and
they record their own resident through the browser.
"""

from __future__ import annotations

import http.client
import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from ektp_plugins.demo.processes import stop_process

from ektp_core.domain.model import Role
from ektp_core.lifecycle.service import LifecycleService
from ektp_core.services.node_init import profile_text

from .e2ekit import ServedNode, add_accounts

OFFICE = "17.71"
KECAMATAN = "17.71.05"
TOKEN = "e2e-central-token-0123456789abcdef"
#: The accounts: at the office an operator, a supervisor and an admin; at the kecamatan an operator.
OFFICE_ACCOUNTS = (("op1", Role.OPERATOR), ("spv1", Role.SUPERVISOR), ("adm1", Role.ADMIN))
KECAMATAN_ACCOUNTS = (("op.kampung-melayu", Role.OPERATOR), ("spv.kampung-melayu", Role.SUPERVISOR))
#: How long the desk waits for the SBI emulator's capture: it draws synthetic prints, which takes
#: seconds on a loaded CI machine (the driver's default, 10 s, then times out now and again).
SBI_TIMEOUT_MS = 30_000
#: Blank cards delivered to the office before the day starts.
BLANKS = tuple(f"E2E-1771-{n:04d}" for n in range(1, 21))


def free_port() -> int:
    """A port nobody listens on now (the OS's choice)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def regency_profile(central_port: int, sbi_port: int) -> str:
    """The bundled kota-bengkulu profile with this machine's services: the verifier on our central
    emulator, the SBI emulator as the kecamatan's desk (with a patient timeout), and no print days
    (the office would otherwise print Kampung Melayu's cards on Wednesdays only, and a test must not
    depend on the weekday)."""
    text, _source = profile_text("kota-bengkulu")
    text, count = re.subn(
        r'(?m)^url = "http://127\.0\.0\.1:\d+/api/v1"$', f'url = "http://127.0.0.1:{central_port}/api/v1"', text
    )
    assert count == 1, "the kota-bengkulu profile's [verification] url moved"
    text, count = re.subn(r"(?ms)^\[rules\.print_days\]\n.*?(?=^\[|\Z)", "", text)
    assert count == 1, "the kota-bengkulu profile's [rules.print_days] moved"
    scanner = (
        f'[[devices.scanners]]\nname = "sbi-{KECAMATAN}"\ndriver = "sbi"\nsite = "{KECAMATAN}"\n'
        f"options = {{ port = {sbi_port}, trust_any_device = true, timeout_ms = {SBI_TIMEOUT_MS} }}\n\n"
    )
    return text.replace("[[devices.scanners]]", scanner + "[[devices.scanners]]", 1)


def adjudicating_profile(text: str) -> str:
    """The profile as the central emulator reads it with ``adjudicate``: no score is a sure duplicate
    and every candidate is in the grey zone, so any recording after the first (a different synthetic
    person: the desk's emulated scanner shows one per enrolment) waits for a supervisor's adjudication."""
    for key, value in (("duplicate_score", 100000), ("adjudicate_score", 0)):
        text, count = re.subn(rf"(?m)^{key} = \d+$", f"{key} = {value}", text)
        assert count == 1, f"the kota-bengkulu profile's [verification.matcher] {key} moved"
    return text


class Process:
    """``ektp ARGS`` as a child process, its output in ``log``."""

    def __init__(self, args: list[str], log: Path, env: dict[str, str]) -> None:
        self.args = [sys.executable, "-m", "ektp_core", *args]
        self.log = log
        self.env = env
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, ready_url: str | None = None, *, any_answer: bool = False, timeout: float = 60.0) -> Process:
        """Start it; with ``ready_url`` wait until that answers (200, or anything with ``any_answer``)."""
        with open(self.log, "ab") as out:
            self.process = subprocess.Popen(
                self.args, stdout=out, stderr=subprocess.STDOUT, env=self.env, stdin=subprocess.DEVNULL
            )
        deadline = time.monotonic() + timeout
        while ready_url is not None:
            if self.process.poll() is not None:
                raise RuntimeError(f"{' '.join(self.args[3:])} exited:\n{self.log.read_text(errors='replace')[-2000:]}")
            try:
                with urllib.request.urlopen(ready_url, timeout=1) as response:
                    if response.status == 200:
                        break
            except urllib.error.HTTPError:
                if any_answer:
                    break
            except (OSError, http.client.HTTPException):  # HTTPException: a self-connected probe
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{ready_url} did not answer within {timeout:g} s")
            time.sleep(0.1)
        return self

    def stop(self) -> None:
        """SIGTERM, then kill if it lingers."""
        stop_process(self.process)
        self.process = None


def _run(args: list[str], env: dict[str, str]) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "ektp_core", *args], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"ektp {' '.join(args)} failed ({done.returncode}): {done.stderr[-2000:]}")
    return done.stdout.strip()


class Regency:
    """The Dukcapil node, one kecamatan node, the emulators and the loops; :meth:`stop` ends them all."""

    def __init__(self, root: Path, *, interval: float = 1.0, adjudicate: bool = False) -> None:
        self.root = root
        self.interval = interval
        self.adjudicate = adjudicate
        self.env = {**os.environ, "EKTP_CENTRAL_TOKEN": TOKEN, "PYTHONUNBUFFERED": "1"}
        self.logs = root / "logs"
        self.central_port = free_port()
        self.sbi_port = free_port()
        self.processes: list[Process] = []
        self.office: ServedNode
        self.kecamatan: ServedNode

    def start(self) -> Regency:
        """Bring everything up (about ten seconds); on a failure, stop what already runs."""
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        self.logs.mkdir(parents=True, exist_ok=True)
        profile = self.root / "kota-bengkulu-e2e.toml"
        profile.write_text(regency_profile(self.central_port, self.sbi_port), "utf-8")
        central_config = profile
        if self.adjudicate:
            central_config = self.root / "central-adjudicates.toml"
            central_config.write_text(adjudicating_profile(profile.read_text("utf-8")), "utf-8")
        self.office = ServedNode(self.root / "dukcapil", profile=str(profile), site=OFFICE, env=self.env)
        self.kecamatan = ServedNode(self.root / KECAMATAN, profile=str(profile), site=KECAMATAN, env=self.env)
        add_accounts(self.office.deployment, OFFICE_ACCOUNTS)
        add_accounts(self.kecamatan.deployment, KECAMATAN_ACCOUNTS)
        self._receive_blanks()
        central = Process(
            [
                "central-emulator",
                "--port",
                str(self.central_port),
                "--data",
                str(self.root / "central"),
                "--token",
                TOKEN,
                "--config",
                str(central_config),
            ],
            self.logs / "central.log",
            self.env,
        )
        self.processes.append(central.start(f"http://127.0.0.1:{self.central_port}/api/v1/health"))
        sbi = Process(["sbi-emulator", "--port", str(self.sbi_port)], self.logs / "sbi.log", self.env)
        self.processes.append(sbi.start(f"http://127.0.0.1:{self.sbi_port}/device", any_answer=True))
        self.office.start()
        self.kecamatan.start()
        api = f"{self.office.url}/api/v1"
        code = _run(["sync", "join-code", KECAMATAN, "-d", str(self.office.root)], self.env).splitlines()[-1]
        _run(["sync", "join", api, code, "-d", str(self.kecamatan.root)], self.env)
        every = str(self.interval)
        self.processes.append(
            Process(
                ["verify", "run", "--interval", every, "--as", "verify-run", "-d", str(self.office.root)],
                self.logs / "verify-run.log",
                self.env,
            ).start()
        )
        self.processes.append(
            Process(
                ["sync", "run", "--interval", every, "-d", str(self.kecamatan.root)],
                self.logs / "sync-run.log",
                self.env,
            ).start()
        )

    def _receive_blanks(self) -> None:
        deployment = self.office.deployment
        store = deployment.open_store()
        try:
            lc = LifecycleService(store, deployment.plugin_host().hook, deployment)
            lc.receive_blanks(OFFICE, list(BLANKS), actor="spv1", note="e2e delivery")
        finally:
            store.dispose()

    def read(self, node: ServedNode, what: Any) -> Any:
        """``what(lifecycle)`` on a node's database (read while the node runs: SQLite allows it)."""
        return node.read(what)

    def stop(self) -> None:
        """Stop the loops, the nodes and the emulators, newest first."""
        for process in reversed(self.processes[2:]):
            process.stop()
        for node in ("kecamatan", "office"):
            served = getattr(self, node, None)
            if served is not None:
                served.stop()
        for process in reversed(self.processes[:2]):
            process.stop()
