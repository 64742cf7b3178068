"""The wheel holds every file of the packages (a module, template or catalogue left out of it works in a
checkout and breaks the installed ektp: the web UI's package once was)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
#: Folder in the checkout -> package name in the wheel.
PACKAGE_DIRS = {"ektp_core": "ektp_core", "plugins": "ektp_plugins", "profiles": "ektp_profiles"}


def _tracked() -> list[str]:
    done = subprocess.run(["git", "ls-files", *PACKAGE_DIRS], capture_output=True, text=True, cwd=ROOT, check=True)
    return done.stdout.split()


def test_every_package_is_listed() -> None:
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))["tool"]["setuptools"]["packages"])
    found = set()
    for folder, package in PACKAGE_DIRS.items():
        for init in (ROOT / folder).rglob("__init__.py"):
            relative = init.parent.relative_to(ROOT / folder)
            found.add(".".join([package, *relative.parts]))
    assert found - listed == set(), "add these to [tool.setuptools] packages in pyproject.toml"


def test_the_wheel_holds_every_file_of_the_packages(tmp_path: Path) -> None:
    # Built from a copy of the tracked files, so the build leaves nothing in the checkout.
    source = tmp_path / "src"
    listed = subprocess.run(["git", "ls-files"], capture_output=True, text=True, cwd=ROOT, check=True).stdout.split()
    for name in listed:
        if (ROOT / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, source / name)
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(source), "--no-deps", "-q", "-w", str(tmp_path / "dist")],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert built.returncode == 0, built.stderr
    [wheel] = (tmp_path / "dist").glob("ektp-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    missing = []
    for path in _tracked():
        folder, _, rest = path.partition("/")
        if f"{PACKAGE_DIRS[folder]}/{rest}" not in names:
            missing.append(path)
    assert missing == [], "files left out of the wheel (see [tool.setuptools] package-data)"
