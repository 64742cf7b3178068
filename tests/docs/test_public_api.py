"""The bundled plugins are plugins like any other: every name they, the ready profiles, the plugin
templates and the documentation's examples import from ``ektp_core`` is one docs/stability.md calls
public (a module listed as a whole, or the name itself), and none starts with ``_``."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "stability.md"
_ROW = re.compile(r"^\| [^|]+ \| (.+) \|$", re.MULTILINE)
_MODULE_NAMES = re.compile(r"`((?:ektp_core|ektp_plugins)[\w.]*)`(?::\s*)?((?:\s*`[A-Za-z_]\w*`,?)*)")
_IMPORT_FROM = re.compile(r"^\s*from (ektp_core[\w.]*) import \(?([^)]*?)\)?\s*$", re.MULTILINE | re.DOTALL)
_FROM_LINE = re.compile(r"^[ \t]*from (ektp_core[\w.]*) import (\([^)]*\)|[^\n]*)", re.MULTILINE)
_IMPORT = re.compile(r"^[ \t]*import (ektp_core[\w.]*)", re.MULTILINE)


def public_api() -> tuple[set[str], set[tuple[str, str]]]:
    """Modules public as a whole, and (module, name) pairs public one by one, as the page lists them."""
    modules: set[str] = set()
    names: set[tuple[str, str]] = {("ektp_core", "hookimpl"), ("ektp_core", "__version__")}
    for row in _ROW.findall(DOC.read_text("utf-8")):
        for module, listed in _MODULE_NAMES.findall(row):
            found = re.findall(r"`(\w+)`", listed)
            if found:
                names.update((module, name) for name in found)
            else:
                modules.add(module)
    return modules, names


def _sources() -> list[Path]:
    files = [*(ROOT / "plugins").rglob("*.py"), *(ROOT / "profiles").rglob("*.py")]
    files += (ROOT / "plugins" / "devkit" / "templates").rglob("*.py.tmpl")
    files += [p for p in (ROOT / "docs").rglob("*.py") if "_build" not in p.parts and "_ext" not in p.parts]
    return sorted(files)


def imports_of(text: str) -> list[tuple[str, str | None]]:
    """``(module, name)`` for each name a source imports from the core; ``name`` None for ``import m``."""
    found: list[tuple[str, str | None]] = []
    for module, listed in _FROM_LINE.findall(text):
        for item in listed.strip("()").replace("\n", " ").split(","):
            name = item.split("#")[0].strip().split(" as ")[0].strip()
            if name:
                found.append((module, name))
    found += [(module, None) for module in _IMPORT.findall(text)]
    return found


def _allowed(module: str, name: str | None, modules: set[str], names: set[tuple[str, str]]) -> bool:
    if name is None:
        return module in modules or any(m == module for m, _ in names)
    if (module, name) in names:
        return True
    if name.startswith("_"):
        return False
    submodule = f"{module}.{name}"
    if importlib.util.find_spec(module) is not None and _is_module(submodule):
        return submodule in modules or any(m == submodule for m, _ in names)
    return module in modules or (module, name) in names


def _is_module(dotted: str) -> bool:
    try:
        return importlib.util.find_spec(dotted) is not None
    except ModuleNotFoundError:
        return False


def test_the_plugins_use_only_public_names() -> None:
    modules, names = public_api()
    offenders = []
    checked = 0
    for path in _sources():
        for module, name in imports_of(path.read_text("utf-8")):
            checked += 1
            if not _allowed(module, name, modules, names):
                offenders.append(f"{path.relative_to(ROOT)}: {module}{'.' + name if name else ''}")
    assert checked > 300, "the import scan found too little: its patterns no longer match"
    assert not offenders, "not public in docs/stability.md:\n" + "\n".join(offenders)


def test_the_scan_sees_what_it_must() -> None:
    text = "from ektp_core.store.tables import enrolments\nfrom ektp_core.cli.options import (\n    fail,\n    _x,\n)\n"
    assert imports_of(text) == [
        ("ektp_core.store.tables", "enrolments"),
        ("ektp_core.cli.options", "fail"),
        ("ektp_core.cli.options", "_x"),
    ]
    modules, names = public_api()
    assert not _allowed("ektp_core.store.tables", "enrolments", modules, names)
    assert not _allowed("ektp_core.cli.options", "_x", modules, names)
    assert _allowed("ektp_core.cli.options", "fail", modules, names)
    assert _allowed("ektp_core.domain", "nik", modules, names)
    assert _allowed("ektp_core.domain.model", "Biodata", modules, names)
    assert not _allowed("ektp_core.domain.model", "_refuse", modules, names)


def test_every_public_module_exists() -> None:
    modules, names = public_api()
    for module in sorted(modules | {m for m, _ in names}):
        if _is_module(module):
            importlib.import_module(module)
        else:  # `ektp_core.hookimpl` style: a name inside a module
            parent, _, attr = module.rpartition(".")
            assert hasattr(importlib.import_module(parent), attr), module
