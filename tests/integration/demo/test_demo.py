"""``ektp demo`` as a user runs it: a subprocess on free ports in a temporary folder, its nodes checked
over HTTP (login pages, the API's health, logging in with the printed credentials), its seed data,
Ctrl-C stopping every child, and a second run reusing the data."""

from __future__ import annotations

import http.cookiejar
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from ektp_plugins.demo.command import READY_LINE

from ektp_core.config import load_deployment
from ektp_core.domain.model import EnrolmentState
from ektp_core.store.tables import enrolments, operators

PORTS = 5  # the Dukcapil node, two kecamatan nodes, the central and SBI emulators


def free_base(count: int = PORTS) -> int:
    """A port whose next ``count - 1`` ports are free too."""
    for _attempt in range(50):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            base = int(s.getsockname()[1])
        if base + count > 65535:
            continue
        try:
            for port in range(base, base + count):
                with socket.socket() as probe:
                    probe.bind(("127.0.0.1", port))
        except OSError:
            continue
        return base
    raise AssertionError("no run of free ports")


class DemoRun:
    """``ektp demo`` running as a subprocess; its output read line by line in the background."""

    def __init__(self, folder: Path, port: int, *extra: str) -> None:
        self.folder = folder
        self.port = port
        self.lines: list[str] = []
        self.process = subprocess.Popen(
            [sys.executable, "-m", "ektp_core", "demo", "--dir", str(folder), "--port", str(port), *extra],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def wait_ready(self, timeout: float = 400.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(READY_LINE in line for line in self.lines):
                return
            if self.process.poll() is not None:
                time.sleep(0.5)  # the last lines
                raise AssertionError(f"ektp demo exited {self.process.returncode}:\n{self.output}")
            time.sleep(0.2)
        raise AssertionError(f"ektp demo was not ready within {timeout:g} s:\n{self.output}")

    def child_pids(self) -> list[int]:
        return [int(m) for m in re.findall(r"started \(pid (\d+),", self.output)]

    def credentials(self) -> dict[str, str]:
        """username -> password, as printed."""
        found = re.findall(
            r"^  ([a-z][a-z.-]+)\s+(admin|supervisor|operator)\s+\S+\s+(\S+)$", self.output, flags=re.MULTILINE
        )
        return {user: password for user, _role, password in found}

    def interrupt(self, timeout: float = 60.0) -> int:
        self.process.send_signal(signal.SIGINT)
        return self.process.wait(timeout=timeout)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()


def gone(pid: int, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        status = Path(f"/proc/{pid}/stat")
        if status.exists() and status.read_text().split(")")[-1].split()[0] == "Z":
            return True  # a zombie of a parent that has not reaped it yet: not running
        time.sleep(0.1)
    return False


class Browser:
    """A cookie-keeping client without ``requests``: the login form's CSRF token, then the session."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))

    def get(self, path: str) -> tuple[int, str, str]:
        try:
            with self.opener.open(self.base + path, timeout=30) as response:
                return response.status, response.geturl(), response.read().decode("utf-8")
        except urllib.error.HTTPError as exc:
            return exc.code, exc.geturl(), exc.read().decode("utf-8")

    def login(self, username: str, password: str) -> tuple[int, str, str]:
        status, _url, page = self.get("/login")
        assert status == 200
        token = re.search(r'name="csrf_token" value="([^"]+)"', page)
        assert token is not None, page
        form = urllib.parse.urlencode(
            {"username": username, "password": password, "csrf_token": token.group(1)}
        ).encode()
        try:
            with self.opener.open(urllib.request.Request(self.base + "/login", data=form), timeout=30) as response:
                return response.status, response.geturl(), response.read().decode("utf-8")
        except urllib.error.HTTPError as exc:
            return exc.code, exc.geturl(), exc.read().decode("utf-8")


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoRun]:
    run = DemoRun(tmp_path_factory.mktemp("demo") / "ektp-demo", free_base())
    try:
        run.wait_ready()
        yield run
    finally:
        run.kill()


def _node_urls(run: DemoRun) -> list[str]:
    return [f"http://127.0.0.1:{run.port + n}" for n in range(3)]


@pytest.mark.slow  # the demo's first run records and verifies residents: about a minute
def test_every_node_serves_its_ui_and_api(demo: DemoRun) -> None:
    for base in _node_urls(demo):
        assert base + "/" in demo.output  # the URL is printed
        with urllib.request.urlopen(base + "/login", timeout=30) as response:
            assert response.status == 200
        with urllib.request.urlopen(base + "/api/v1/health", timeout=30) as response:
            assert response.status == 200 and json.loads(response.read())


@pytest.mark.slow  # the demo's first run records and verifies residents: about a minute
def test_printed_credentials_log_in_and_are_kept_private(demo: DemoRun) -> None:
    printed = demo.credentials()
    assert {
        "admin.dukcapil",
        "supervisor.dukcapil",
        "operator.dukcapil",
        "operator.kampung-melayu",
        "supervisor.kampung-melayu",
        "operator.teluk-segara",
    } <= set(printed)
    credentials = demo.folder / "credentials.txt"
    assert credentials.stat().st_mode & 0o777 == 0o600
    assert all(password in credentials.read_text() for password in printed.values())
    dukcapil, kampung_melayu, _teluk_segara = _node_urls(demo)
    status, url, _page = Browser(dukcapil).login("admin.dukcapil", printed["admin.dukcapil"])
    assert status == 200 and not url.endswith("/login")
    # The kecamatan node never saw the password: the account came through the feed, with its verifier.
    status, url, _page = Browser(kampung_melayu).login("operator.kampung-melayu", printed["operator.kampung-melayu"])
    assert status == 200 and not url.endswith("/login")
    status, _url, _page = Browser(kampung_melayu).login("operator.kampung-melayu", "not-the-password")
    assert status == 401


@pytest.mark.slow  # the demo's first run records and verifies residents: about a minute
def test_the_kecamatan_node_received_its_accounts_through_the_feed(demo: DemoRun) -> None:
    deployment = load_deployment(demo.folder / "17.71.05")
    store = deployment.open_store()
    try:
        with store.read() as conn:
            accounts = dict(conn.execute(sa.select(operators.c.username, operators.c.site_code)).all())
            received = conn.execute(sa.text("SELECT count(*) FROM audit_log WHERE action = 'sync.account_received'"))
            count = received.scalar_one()
    finally:
        store.dispose()
    assert accounts == {"supervisor.kampung-melayu": "17.71.05", "operator.kampung-melayu": "17.71.05"}
    assert count >= 2


@pytest.mark.slow  # the demo's first run records and verifies residents: about a minute
def test_seeded_residents_are_verified_and_one_is_printed(demo: DemoRun) -> None:
    deployment = load_deployment(demo.folder / "dukcapil")
    store = deployment.open_store()
    try:
        with store.read() as conn:
            states = [EnrolmentState(s) for s in conn.execute(sa.select(enrolments.c.state)).scalars()]
    finally:
        store.dispose()
    assert len(states) == 3
    assert states.count(EnrolmentState.CARD_PRINTED) == 1
    assert states.count(EnrolmentState.SENT_FOR_CARD_PRINTING) == 2  # verified, queued at the office
    assert list((demo.folder / "dukcapil" / "proofs").glob("*.pdf"))


@pytest.mark.slow  # the demo's first run records and verifies residents: about a minute
def test_ctrl_c_stops_every_child_and_a_second_run_reuses_the_data(demo: DemoRun) -> None:
    pids = demo.child_pids()
    assert len(pids) == 8  # two emulators, three nodes, the verification loop, two sync loops
    passwords = demo.credentials()
    assert demo.interrupt() == 0
    assert all(gone(pid) for pid in pids), demo.output
    again = DemoRun(demo.folder, demo.port)
    try:
        again.wait_ready(timeout=180)
        assert "Reusing the demo" in again.output and "Seeding" not in again.output
        assert again.credentials() == passwords
        status, url, _page = Browser(f"http://127.0.0.1:{demo.port + 1}").login(
            "operator.kampung-melayu", passwords["operator.kampung-melayu"]
        )
        assert status == 200 and not url.endswith("/login")
        second = again.child_pids()
        again.process.send_signal(signal.SIGTERM)  # a supervisor's stop works as Ctrl-C does
        assert again.process.wait(timeout=60) == 0
        assert all(gone(pid) for pid in second)
    finally:
        again.kill()


def test_a_taken_port_is_refused_before_anything_starts(tmp_path: Path) -> None:
    base = free_base()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", base + 3))
        taken.listen()
        done = subprocess.run(
            [sys.executable, "-m", "ektp_core", "demo", "--dir", str(tmp_path / "d"), "--port", str(base)],
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert done.returncode == 1
    assert f"port {base + 3}" in done.stderr and "central-system emulator" in done.stderr and "taken" in done.stderr
    assert not (tmp_path / "d").exists()


def test_a_folder_that_is_not_a_demo_is_left_alone(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    done = subprocess.run(
        [sys.executable, "-m", "ektp_core", "demo", "--dir", str(tmp_path), "--port", str(free_base()), "--fresh"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1 and "holds no ektp demo" in done.stderr
    assert (tmp_path / "notes.txt").read_text() == "mine"


@pytest.mark.slow
def test_the_kecamatan_rollout_prints_at_the_kecamatan_and_a_dead_child_stops_the_demo(tmp_path: Path) -> None:
    run = DemoRun(tmp_path / "demo", free_base(), "--profile", "kota-bengkulu-kecamatan")
    try:
        run.wait_ready()
        assert "printed the card of SITI AMINAH at 17.71.05 on evolis-17.71.05" in run.output
        assert list((tmp_path / "demo" / "17.71.05" / "proofs").glob("*.pdf"))
        pids = run.child_pids()
        sbi = int(re.search(r"SBI emulator: started \(pid (\d+),", run.output).group(1))  # type: ignore[union-attr]
        os.kill(sbi, signal.SIGKILL)
        assert run.process.wait(timeout=60) == 1
        time.sleep(0.5)
        assert "SBI emulator stopped (exit -9)" in run.output and "ends with:" in run.output
        assert all(gone(pid) for pid in pids)
    finally:
        run.kill()
