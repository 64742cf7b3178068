"""docs/stability.md lists the public API; every name it lists must exist (the page cannot drift)."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

DOC = Path(__file__).resolve().parents[2] / "docs" / "stability.md"
_ROW = re.compile(r"^\| [^|]+ \| (.+) \|$", re.MULTILINE)
_MODULE_NAMES = re.compile(r"`((?:ektp_core|ektp_plugins)[\w.]*)`(?::\s*)?((?:\s*`[A-Za-z_]\w*`,?)*)")


def test_every_public_name_in_the_stability_page_exists() -> None:
    text = DOC.read_text("utf-8")
    checked = 0
    for row in _ROW.findall(text):
        for module_name, names in _MODULE_NAMES.findall(row):
            try:
                module = importlib.import_module(module_name)
            except ImportError:
                # `ektp_core.hookimpl` style: a name inside a module.
                parent, _, attr = module_name.rpartition(".")
                module = importlib.import_module(parent)
                assert hasattr(module, attr), module_name
                checked += 1
                continue
            for name in re.findall(r"`(\w+)`", names):
                assert hasattr(module, name), f"{module_name}.{name} is listed as public but does not exist"
                checked += 1
    assert checked >= 55  # the pattern still reads the table


def test_the_listed_fixtures_are_offered() -> None:
    from ektp_core.testing import pytest_plugin

    for fixture in ("ektp_deployment", "ektp_service", "ektp_host", "ektp_register_plugin", "ektp_database_url"):
        assert hasattr(pytest_plugin, fixture), fixture
