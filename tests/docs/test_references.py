"""The references kept as Markdown in the repository are what ``python tools/references.py`` makes of
the code now: docs/hooks.md's generated blocks (the hookspecs and their examples) and docs/devices.md
(the device interfaces). A change to either without regenerating fails here, naming the command."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _tool() -> ModuleType:
    spec = importlib.util.spec_from_file_location("references_tool", ROOT / "tools" / "references.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("page", ["hooks.md", "devices.md"])
def test_the_reference_is_current(page: str) -> None:
    tool = _tool()
    path = ROOT / "docs" / page
    expected = tool.expected()[path]
    assert path.read_text("utf-8") == expected, f"docs/{page} is stale: run python tools/references.py"


def test_the_check_names_a_stale_page(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tool = _tool()
    stale = tmp_path / "devices.md"
    stale.write_text("# Device interfaces\n\nwritten by hand\n", "utf-8")
    monkeypatch.setattr(tool, "DEVICES_PAGE", stale)
    assert tool.stale() == [stale]
    assert tool.main([]) == 0 and tool.stale() == []  # regenerated
    assert "### `CardPrinter`" in stale.read_text("utf-8")


def test_the_command_is_the_one_the_pages_name() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "references.py"), "--check"], capture_output=True, text=True, cwd=ROOT
    )
    assert result.returncode == 0, result.stderr
    for page in ("hooks.md", "devices.md"):
        assert "python tools/references.py" in (ROOT / "docs" / page).read_text("utf-8")


def test_the_device_reference_covers_every_interface() -> None:
    text = (ROOT / "docs" / "devices.md").read_text("utf-8")
    for name in (
        "CardPrinter",
        "PrinterFactory",
        "BiometricScanner",
        "ScannerFactory",
        "Verifier",
        "VerifierFactory",
        "Matcher",
        "MatcherFactory",
        "RegionRules",
        "RegionRulesFactory",
        "SiteState",
    ):
        assert f"### `{name}`\n\n*protocol*" in text
    assert "## Building devices: the factory convention" in text and "`name`, `options` and `profile`" in text
    assert "| `template` | `bytes \\| None` | `None` |" in text  # a pipe in a table cell is escaped
