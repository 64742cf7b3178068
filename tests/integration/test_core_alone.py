"""The core stands alone: with the bundled plugins (and Flask, Pillow, NumPy, pyusb) impossible to import,
every core module imports, ``ektp init`` makes a deployment from a core-only profile, and the pytest kit's
fixtures work. Each check runs in a fresh interpreter whose importer refuses those packages."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

#: Installed before anything else in the child: these packages cannot be imported there.
BLOCKER = textwrap.dedent(
    """
    import importlib.abc, sys

    BLOCKED = ("ektp_plugins", "ektp_profiles", "flask", "PIL", "numpy", "scipy", "usb", "nbis", "waitress")

    class Blocked(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path, target=None):
            if name.split(".")[0] in BLOCKED:
                raise ImportError(f"{name} is blocked: the core must not need it")
            return None

    sys.meta_path.insert(0, Blocked())
    """
)

#: A profile the core alone can run: one Dukcapil office, no devices, no region rules, no verifier.
CORE_ONLY_PROFILE = textwrap.dedent(
    """
    [profile]
    name = "core-only"
    region = "17.71"

    [[sites]]
    code = "17.71"
    name = "Disdukcapil Kota Bengkulu"
    kind = "dukcapil"
    prints = true
    """
)


def _run(tmp_path: Path, code: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "EKTP_DISABLE_PLUGIN_AUTOLOAD": "1", "PYTHONDONTWRITEBYTECODE": "1"}
    env.pop("EKTP_DATABASE_URL", None)
    return subprocess.run(
        [sys.executable, "-c", BLOCKER + textwrap.dedent(code)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_every_core_module_imports_without_the_plugins(tmp_path: Path) -> None:
    done = _run(
        tmp_path,
        """
        import importlib, pkgutil
        import ektp_core

        names = [m.name for m in pkgutil.walk_packages(ektp_core.__path__, "ektp_core.")
                 if ".migrations." not in m.name and not m.name.endswith("__main__")]
        for name in names:
            importlib.import_module(name)
        print(len(names), "modules")
        """,
    )
    assert done.returncode == 0, done.stderr
    assert int(done.stdout.split()[0]) > 50


def test_init_with_a_core_only_profile(tmp_path: Path) -> None:
    (tmp_path / "core-only.toml").write_text(CORE_ONLY_PROFILE, "utf-8")
    done = _run(
        tmp_path,
        """
        import sys
        from ektp_core.cli import main

        sys.argv = ["ektp", "init", "office", "--profile", "core-only.toml"]
        try:
            main()
        except SystemExit as exc:
            if exc.code:
                raise
        sys.argv = ["ektp", "plugins", "-d", "office"]
        main()
        """,
    )
    assert done.returncode == 0, done.stderr
    assert "created deployment" in done.stdout
    assert "ektp_core.builtin" in done.stdout and "regions" not in done.stdout
    assert (tmp_path / "office" / "ektp.sqlite3").is_file()


def test_the_pytest_kit_works_without_the_plugins(tmp_path: Path) -> None:
    (tmp_path / "core-only.toml").write_text(CORE_ONLY_PROFILE, "utf-8")
    (tmp_path / "test_kit.py").write_text(
        textwrap.dedent(
            f"""
            import pytest

            from ektp_core.domain.model import EnrolmentState
            from ektp_core.testing import make_enrolment

            pytestmark = pytest.mark.ektp_profile({str(tmp_path / "core-only.toml")!r})


            def test_record_and_verify(ektp_service, ektp_register_plugin):
                seen = []

                class Listener:
                    from ektp_core import hookimpl

                    @hookimpl
                    def ektp_after_transition(self, transition):
                        seen.append(transition.to_state)

                ektp_register_plugin(Listener(), "listener")
                enrolment = ektp_service.record(make_enrolment())
                ektp_service.transition(enrolment.id, EnrolmentState.SENT_FOR_ENROLLMENT, actor="operator1")
                assert seen == ["BIO_CAPTURED", "SENT_FOR_ENROLLMENT"]
            """
        ),
        "utf-8",
    )
    done = _run(
        tmp_path,
        """
        import sys
        import pytest

        sys.exit(pytest.main(["-q", "-p", "no:cacheprovider", "test_kit.py"]))
        """,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 passed" in done.stdout
