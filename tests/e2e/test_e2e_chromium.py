"""Which Chromium the browser tests drive, and what happens without one (no browser needed here)."""

from __future__ import annotations

from pathlib import Path

import pytest

from . import e2ekit


def test_the_environment_variable_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    browser = tmp_path / "chromium"
    browser.write_text("#!/bin/sh\n", "utf-8")
    browser.chmod(0o755)
    monkeypatch.setenv(e2ekit.CHROMIUM_ENV, str(browser))
    assert e2ekit.find_chromium() == str(browser)


def test_a_wrong_environment_variable_finds_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Pointing at a browser that is not there must not quietly fall back to another one.
    monkeypatch.setenv(e2ekit.CHROMIUM_ENV, str(tmp_path / "no-such-chromium"))
    assert e2ekit.find_chromium() is None


def test_without_the_variable_debian_s_chromium_or_the_path(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv(e2ekit.CHROMIUM_ENV, raising=False)
    found = e2ekit.find_chromium()
    if Path(e2ekit.DEBIAN_CHROMIUM).is_file():
        assert found == e2ekit.DEBIAN_CHROMIUM
    else:
        monkeypatch.setenv("PATH", str(tmp_path))
        assert e2ekit.find_chromium() is None
