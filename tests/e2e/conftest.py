"""Fixtures for the browser end-to-end tests: Debian's Chromium driven by Playwright (one browser for
the package, a fresh context per test), and real nodes served by ``ektp serve`` in their own processes.

Without a Chromium the tests are skipped on a developer's machine, and fail under CI (``CI`` set), so a
CI image that lost its browser cannot pass silently.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from external import missing

from .e2ekit import CHROMIUM_ENV, DEBIAN_CHROMIUM, LAUNCH_ARGS, VIEWPORT, ServedNode, add_accounts, find_chromium
from .regency import Regency


@pytest.fixture(scope="package")
def chromium() -> Iterator[Any]:
    """Debian's Chromium, launched headless through Playwright (never Playwright's own browsers)."""
    path = find_chromium()
    if path is None:
        message = (
            f"no Chromium found (${CHROMIUM_ENV}={os.environ.get(CHROMIUM_ENV, '')!r}, {DEBIAN_CHROMIUM}, "
            "PATH): install it with `apt-get install chromium` or point EKTP_CHROMIUM at it"
        )
        missing(message)  # a failure under CI
    from playwright.sync_api import sync_playwright

    # Package scope, not session: Playwright's sync API keeps an event loop for as long as it runs,
    # and the rest of the suite should not run beside it.
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=path, args=LAUNCH_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def new_page(chromium: Any) -> Iterator[Callable[..., Any]]:
    """``new_page(lang="id")``: a page in a fresh browser context (its own cookies) at 1366x768, the
    browser asking for that language first."""
    contexts: list[Any] = []

    def make(lang: str = "id") -> Any:
        context = chromium.new_context(viewport=VIEWPORT, locale={"id": "id-ID", "en": "en-GB"}[lang])
        # Longer than the desk's SBI capture timeout (regency.SBI_TIMEOUT_MS): a page waits for a capture.
        context.set_default_timeout(45_000)
        contexts.append(context)
        return context.new_page()

    yield make
    for context in contexts:
        context.close()


@pytest.fixture
def page(new_page: Callable[..., Any]) -> Any:
    """A page in Indonesian (the UI's default language)."""
    return new_page()


@pytest.fixture
def serve_node(tmp_path: Path) -> Iterator[Callable[..., ServedNode]]:
    """``serve_node(profile="minimal", site=None, profile_extra="")``: a new deployment with the accounts
    ``op1`` (operator), ``spv1`` (supervisor) and ``adm1`` (admin), served until the test ends."""
    started: list[ServedNode] = []

    def start(
        profile: str = "minimal", site: str | None = None, profile_extra: str = "", env: dict[str, str] | None = None
    ) -> ServedNode:
        served = ServedNode(
            tmp_path / f"node{len(started)}", profile=profile, site=site, profile_extra=profile_extra, env=env
        )
        add_accounts(served.deployment)
        started.append(served)
        return served.start()

    yield start
    for served in started:
        served.stop()


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedNode]:
    """The minimal profile's Dukcapil node (17.71) with ``op1``, ``spv1`` and ``adm1``, served for the
    module's tests: starting a node takes seconds, and each test opens its own browser context and
    leaves what it made in place, so a test reads counts as a difference, never as absolutes."""
    served = ServedNode(tmp_path_factory.mktemp("node") / "node")
    add_accounts(served.deployment)
    try:
        yield served.start()
    finally:
        served.stop()


@pytest.fixture(scope="module")
def regency(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Regency]:
    """A Kota Bengkulu of two nodes with their emulators and loops (see :mod:`.regency`), for the
    module's tests (it takes ten seconds and more to bring up); each test records its own resident."""
    started = Regency(tmp_path_factory.mktemp("regency") / "regency").start()
    try:
        yield started
    finally:
        started.stop()
