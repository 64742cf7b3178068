"""The tutorials' code is tested: each tutorial shows (by ``literalinclude``) a distribution kept in
``docs/tutorials/code/``, which must still be exactly what ``ektp new-plugin`` generates, and whose
tests must pass. Every file and Python object a tutorial includes must exist."""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from ektp_plugins.devkit.scaffold import new_plugin

ROOT = Path(__file__).resolve().parents[2]
TUTORIALS = ROOT / "docs" / "tutorials"
CODE = TUTORIALS / "code"
#: Tutorial page -> (kind, plugin name) of the distribution it walks through.
PAGES = {
    "printer-driver.md": ("printer", "acme-printer"),
    "region-rules.md": ("region", "kota-contoh"),
    "verifier.md": ("verifier", "acme-gateway"),
}
_INCLUDE = re.compile(r"^```\{literalinclude\} (\S+)\n((?::[\w-]+:.*\n)*)", flags=re.MULTILINE)
_IGNORED = ("__pycache__", ".pytest_cache", ".egg-info", "build")


def _files(folder: Path) -> dict[str, str]:
    return {
        p.relative_to(folder).as_posix(): p.read_text("utf-8")
        for p in sorted(folder.rglob("*"))
        if p.is_file()
        and not any(
            part.endswith(_IGNORED) or part.startswith(".")  # caches: .ruff_cache...
            for part in p.relative_to(folder).parts
        )
    }


def _includes(page: str) -> list[tuple[str, dict[str, str]]]:
    text = (TUTORIALS / page).read_text("utf-8")
    found = []
    for path, options in _INCLUDE.findall(text):
        opts = dict(re.findall(r"^:([\w-]+):\s*(.*)$", options, flags=re.MULTILINE))
        found.append((path, opts))
    return found


@pytest.mark.parametrize("page", sorted(PAGES))
def test_the_tutorial_code_is_what_new_plugin_generates(tmp_path: Path, page: str) -> None:
    kind, name = PAGES[page]
    kept = CODE / f"ektp-{name}"
    generated = new_plugin(kind, name, tmp_path / f"ektp-{name}").directory
    expected, actual = _files(generated), _files(kept)
    hint = (
        f"docs/tutorials/code/ektp-{name} is not what `ektp new-plugin {kind} {name}` generates: regenerate it "
        f"(rm -r docs/tutorials/code/ektp-{name} && cd docs/tutorials/code && ektp new-plugin {kind} {name}) "
        f"and check docs/tutorials/{page} still describes it"
    )
    assert sorted(actual) == sorted(expected), hint
    for relative, text in expected.items():
        assert actual[relative] == text, f"{relative}: {hint}"


@pytest.mark.parametrize("page", sorted(PAGES))
def test_everything_the_tutorial_includes_exists(page: str) -> None:
    includes = _includes(page)
    assert includes, f"docs/tutorials/{page} includes no code"
    for path, options in includes:
        source = TUTORIALS / path
        assert source.is_file(), f"{page} includes {path}, which does not exist"
        assert source.resolve().is_relative_to(CODE), f"{page} includes {path} from outside docs/tutorials/code"
        if "pyobject" in options:
            tree = ast.parse(source.read_text("utf-8"))
            names = {node.name for node in ast.walk(tree) if isinstance(node, ast.ClassDef | ast.FunctionDef)}
            for part in options["pyobject"].split("."):
                assert part in names, f"{page}: {path} has no {options['pyobject']}"
        for key in ("start-at", "start-after", "end-before"):
            if key in options:
                marker = options[key].strip('"')
                assert marker in source.read_text("utf-8"), f"{page}: {path} has no {marker!r} ({key})"


@pytest.mark.parametrize("page", sorted(PAGES))
def test_the_tutorial_code_passes_its_tests(page: str) -> None:
    _kind, name = PAGES[page]
    kept = CODE / f"ektp-{name}"
    env = {
        **os.environ,
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONPATH": os.pathsep.join(filter(None, [str(kept / "src"), os.environ.get("PYTHONPATH")])),
    }
    env.pop("EKTP_DEPLOYMENT", None)
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=kept,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert " passed" in result.stdout
