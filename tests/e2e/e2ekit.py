"""Helpers for the browser end-to-end tests: finding Debian's Chromium, a node served by ``ektp serve``
in its own process, logging in through the login form, and the UI's messages from its catalogues.

Playwright's own browser downloads are never used: the tests drive the distribution's Chromium
(``apt-get install chromium``), found through ``EKTP_CHROMIUM``, ``/usr/bin/chromium`` or the PATH.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from ektp_plugins.demo.processes import stop_process
from ektp_plugins.web.ui.i18n import Catalogues
from webkit import PASSWORD, add_account

from ektp_core.domain.model import Role
from ektp_core.lifecycle.service import LifecycleService
from ektp_core.services.node_init import create_deployment

#: The environment variable naming the Chromium binary (``.ci/run`` sets it).
CHROMIUM_ENV = "EKTP_CHROMIUM"
DEBIAN_CHROMIUM = "/usr/bin/chromium"
#: Chromium's switches: /dev/shm is small in containers (CI), so shared memory goes to /tmp instead.
LAUNCH_ARGS = ["--disable-dev-shm-usage"]
#: Every browser works at the resolution of the offices' desk PCs.
VIEWPORT = {"width": 1366, "height": 768}
#: The three accounts every served node gets (their password is ``webkit.PASSWORD``).
ACCOUNTS = (("op1", Role.OPERATOR), ("spv1", Role.SUPERVISOR), ("adm1", Role.ADMIN))
_BOUND = re.compile(r"web UI http://[\d.]+:(\d+)/")
_CATALOGUES = Catalogues()


def find_chromium() -> str | None:
    """The Chromium to drive: ``$EKTP_CHROMIUM``, else Debian's ``/usr/bin/chromium``, else ``chromium``
    on the PATH; None when there is none."""
    wanted = os.environ.get(CHROMIUM_ENV)
    if wanted:
        return wanted if Path(wanted).is_file() and os.access(wanted, os.X_OK) else None
    if Path(DEBIAN_CHROMIUM).is_file() and os.access(DEBIAN_CHROMIUM, os.X_OK):
        return DEBIAN_CHROMIUM
    return shutil.which("chromium")


def text(key: str, lang: str = "id", **values: Any) -> str:
    """The UI's message ``key`` as a page in ``lang`` shows it (so the tests never copy UI text)."""
    return _CATALOGUES.text(lang, key, **values)


def add_accounts(deployment: Any, accounts: tuple[tuple[str, Role], ...] = ACCOUNTS) -> None:
    """Create the accounts at the deployment's own site (through the same helper as the web tests)."""
    store = deployment.open_store()
    try:
        lc = LifecycleService(store, deployment.plugin_host().hook, deployment)
        for username, role in accounts:
            add_account(lc, username, role)
    finally:
        store.dispose()


class ServedNode:
    """A deployment served by ``ektp serve --port 0`` in its own process (waitress, as in an office)."""

    def __init__(
        self,
        root: Path,
        *,
        profile: str = "minimal",
        site: str | None = None,
        profile_extra: str = "",
        env: dict[str, str] | None = None,
    ) -> None:
        # SQLite in the deployment folder: these tests exercise the browser, not the database, and so
        # stay out of ``tox -e pg`` (which runs only the tests that take ``ektp_database_url``).
        self.deployment = create_deployment(root, profile=profile, site_code=site)
        if profile_extra:
            with open(self.deployment.root / "profile.toml", "a", encoding="utf-8") as out:
                out.write("\n" + profile_extra + "\n")
        self.root = self.deployment.root
        self.log = self.root / "serve.log"
        self.env = {**os.environ, **(env or {}), "PYTHONUNBUFFERED": "1"}
        self.process: subprocess.Popen[bytes] | None = None
        self.port = 0

    @property
    def url(self) -> str:
        """The node's address, without a trailing slash."""
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60.0) -> ServedNode:
        """Start the server on a free port and wait for the line that says which one it took."""
        args = [sys.executable, "-m", "ektp_core", "serve", "--port", "0", "--threads", "4", "-d", str(self.root)]
        with open(self.log, "ab") as out:
            self.process = subprocess.Popen(
                args, stdout=out, stderr=subprocess.STDOUT, env=self.env, stdin=subprocess.DEVNULL
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = _BOUND.search(self.log.read_text("utf-8", errors="replace"))
            if found:
                self.port = int(found.group(1))
                return self
            if self.process.poll() is not None:
                raise RuntimeError(f"ektp serve exited ({self.process.returncode}):\n{self.tail()}")
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"ektp serve did not start within {timeout:g} s:\n{self.tail()}")

    def read(self, what: Any) -> Any:
        """``what(lifecycle)`` on the node's database, beside the running server (SQLite allows it)."""
        store = self.deployment.open_store()
        try:
            return what(LifecycleService(store, self.deployment.plugin_host().hook, self.deployment))
        finally:
            store.dispose()

    def audit(self, action: str) -> list[Any]:
        """The node's audit entries with ``action``, oldest first (read from its database)."""
        from ektp_core.lifecycle import audit

        store = self.deployment.open_store()
        try:
            with store.read() as conn:
                return [entry for entry in audit.entries(conn) if entry.action == action]
        finally:
            store.dispose()

    def tail(self, size: int = 3000) -> str:
        """The end of the server's log (for a failing test's message)."""
        try:
            return self.log.read_text("utf-8", errors="replace")[-size:]
        except OSError:
            return "(no log)"

    def stop(self) -> None:
        """SIGTERM (the server stops as on Ctrl-C), then kill if it lingers."""
        stop_process(self.process)
        self.process = None


def login(page: Any, base_url: str, username: str, password: str | None = None) -> None:
    """Log in through the login form as a person would, and wait for the page after it."""
    page.goto(f"{base_url}/login")
    page.fill("#username", username)
    page.fill("#password", password if password is not None else PASSWORD)
    with page.expect_navigation():
        page.click("form button.primary[type=submit]")
