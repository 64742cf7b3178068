"""The distributions ``ektp new-plugin`` generates, run for real: every kind's own tests pass as
generated (in a pytest process of their own), the code is ruff-clean, and an installed one is found
through its entry point. (The command itself, in-process: tests/plugins/devkit/test_new_plugin.py.)"""

from __future__ import annotations

import io
import os
import re
import shutil
import socket
import subprocess
import sys
import sysconfig
import tomllib
from pathlib import Path

import pytest
from ektp_plugins.devkit import scaffold
from ektp_plugins.devkit.scaffold import KINDS, Names, new_plugin
from external import missing
from PIL import Image

# Not the tutorials' names (tests/docs/test_tutorials.py runs those): the templates must work for any name.
NAMES = {"printer": "seluma-printer", "scanner": "acme-scanner", "region": "kaur-rules", "verifier": "rl-gateway"}


def run_generated_tests(directory: Path, python: str = sys.executable) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(directory / "src"), os.environ.get("PYTHONPATH")])),
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    env.pop("EKTP_DEPLOYMENT", None)
    return subprocess.run(
        [python, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=directory,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_each_kind_generates_a_distribution_whose_tests_pass(tmp_path: Path, kind: str) -> None:
    name = NAMES[kind]
    generated = new_plugin(kind, name, tmp_path / f"ektp-{name}")
    names = Names(name, kind)
    directory = generated.directory
    pyproject = tomllib.loads((directory / "pyproject.toml").read_text("utf-8"))
    assert pyproject["project"]["name"] == f"ektp-{name}"
    assert pyproject["project"]["entry-points"]["ektp"] == {name: names.package}
    assert (directory / "src" / names.package / "__init__.py").is_file()
    assert (directory / "src" / names.package / "profiles" / f"{name}.toml").is_file()
    assert (directory / "tests" / "conftest.py").is_file()
    leftovers = [p for p in directory.rglob("*") if p.is_file() and "{{" in p.read_text("utf-8")]
    assert not leftovers, f"placeholders left in {leftovers}"
    result = run_generated_tests(directory)
    assert result.returncode == 0, result.stdout + result.stderr
    assert " passed" in result.stdout and "failed" not in result.stdout
    assert "TODO" not in "".join(p.read_text("utf-8") for p in directory.rglob("*.py"))


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_generated_code_is_ruff_clean(tmp_path: Path, kind: str) -> None:
    # Only the ruff of this environment (pinned with the project): another version may judge otherwise.
    ruff = shutil.which("ruff", path=str(Path(sys.executable).parent))
    assert ruff is not None, "ruff is not installed next to this Python (the test extra brings it)"
    # A long name makes the longest lines: they must still fit.
    name = f"bengkulu-selatan-kaur-seluma-{kind}-lebong"[: scaffold.NAME_MAX].rstrip("-")
    generated = new_plugin(kind, name, tmp_path / "dist")
    result = subprocess.run(
        [ruff, "check", "--no-cache", "."], cwd=generated.directory, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_printer_emulator_runs_as_a_module_cleanly_and_is_ready_after_each_card(tmp_path: Path) -> None:
    """`python -m <package>.emulator` as its docstring says to run it: no RuntimeWarning (the package
    imported its emulator module, so runpy found it in sys.modules before running it as __main__),
    and, with a mechanism time, a STATUS sent right after the end-of-job answer finds it READY."""
    names = Names(NAMES["printer"], "printer")
    directory = new_plugin("printer", names.name, tmp_path / "dist").directory
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(directory / "src"), os.environ.get("PYTHONPATH")])),
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    module = f"{names.package}.emulator"
    helped = subprocess.run(
        [sys.executable, "-W", "error::RuntimeWarning", "-m", module, "--help"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert helped.returncode == 0 and "RuntimeWarning" not in helped.stderr, helped.stderr
    assert "--mechanism-seconds" in helped.stdout

    process = subprocess.Popen(
        [sys.executable, "-m", module, str(tmp_path / "state"), "--port", "0", "--mechanism-seconds", "0.2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert process.stdout is not None
        banner = process.stdout.readline()
        found = re.search(r"listening on 127\.0\.0\.1:(\d+);", banner)
        assert found, banner + (process.stderr.read() if process.poll() is not None and process.stderr else "")
        card = io.BytesIO()
        Image.new("RGB", (1016, 648), "white").save(card, format="PNG")
        png = card.getvalue()
        with socket.create_connection(("127.0.0.1", int(found[1])), timeout=10) as sock:
            replies = sock.makefile("rb")
            sock.sendall(b"HELLO\n")
            assert replies.readline().startswith(b"OK ")
            for number in range(1, 4):
                sock.sendall(f"PRINT 1016 648 {len(png)}\n".encode() + png)
                assert replies.readline() == f"OK cards={number}\n".encode()
                sock.sendall(b"STATUS\n")
                assert replies.readline().startswith(f"OK state=READY cards={number} ".encode())
    finally:
        process.terminate()
        _out, err = process.communicate(timeout=30)
    assert "RuntimeWarning" not in err, err
    assert len(list((tmp_path / "state" / "cards").glob("*.png"))) == 3


def _can_build_wheels() -> bool:
    try:
        import setuptools
    except ImportError:
        return False
    version = tuple(int(part) for part in setuptools.__version__.split(".")[:2])
    if version >= (70, 1):  # bdist_wheel is part of setuptools from 70.1
        return True
    try:
        import wheel  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.mark.slow
def test_an_installed_plugin_is_listed_by_ektp_plugins(tmp_path: Path) -> None:
    """Install a generated distribution (no network: no build isolation, no dependencies) into a
    throw-away venv that sees this interpreter's packages, and ask that venv's ektp about it."""
    if not _can_build_wheels():
        missing("a wheel builder: this interpreter has neither setuptools >= 70.1 nor wheel (pip install wheel)")
    generated = new_plugin("region", "kota-contoh", tmp_path / "ektp-kota-contoh")
    venv = tmp_path / "venv"
    subprocess.run(
        [sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", str(venv)], check=True, timeout=120
    )
    python = str(venv / ("Scripts" if os.name == "nt" else "bin") / "python")
    # --system-site-packages shows the base interpreter's packages; when this interpreter is itself a
    # venv (tox, a developer's .venv), its packages (ektp, pip, setuptools) are added the same way.
    purelib = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    Path(purelib, "ektp-parent.pth").write_text(
        f"import site; site.addsitedir({sysconfig.get_paths()['purelib']!r})\n", "utf-8"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "EKTP_DEPLOYMENT")}
    install = subprocess.run(
        [
            python,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "--disable-pip-version-check",
            str(generated.directory),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert install.returncode == 0, install.stdout + install.stderr
    listed = subprocess.run(
        [python, "-m", "ektp_core", "plugins"], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120
    )
    assert listed.returncode == 0, listed.stderr
    assert "kota-contoh 0.1.0  [entry point, loaded]" in listed.stdout
    assert "    ektp_register_region_rules" in listed.stdout
    profiles = subprocess.run(
        [python, "-m", "ektp_core", "profiles"], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120
    )
    assert "kota-contoh " in profiles.stdout and "(kota-contoh)" in profiles.stdout
    office = tmp_path / "office"
    init = subprocess.run(
        [python, "-m", "ektp_core", "init", str(office), "--profile", "kota-contoh"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
    )
    assert init.returncode == 0, init.stdout + init.stderr
    routed = subprocess.run(
        [python, "-m", "ektp_core", "sites", "-d", str(office)], capture_output=True, text=True, env=env, timeout=120
    )
    assert routed.returncode == 0 and "kota-contoh:" in routed.stdout, routed.stdout + routed.stderr
    # Installed, the generated tests find the plugin through its entry point (no test is skipped).
    result = run_generated_tests(generated.directory, python)
    assert result.returncode == 0 and "skipped" not in result.stdout, result.stdout + result.stderr
