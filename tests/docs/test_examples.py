"""The example third-party distribution (docs/examples/ektp-bengkulu-hubs) keeps working with this ektp.

``tox -e examples`` builds it, installs it next to ektp and runs all its tests; this runs the tests
that need no installation on every plain ``pytest`` run, so a core change that breaks it shows early.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "examples" / "ektp-bengkulu-hubs"


def test_the_example_declares_its_entry_point() -> None:
    pyproject = tomllib.loads((EXAMPLE / "pyproject.toml").read_text("utf-8"))
    assert pyproject["project"]["entry-points"]["ektp"] == {"bengkulu-hubs": "ektp_bengkulu_hubs"}
    assert any(d.startswith("ektp") for d in pyproject["project"]["dependencies"])


def test_the_example_s_tests_pass_from_the_checkout() -> None:
    env = {
        **os.environ,
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONPATH": os.pathsep.join(filter(None, [str(EXAMPLE / "src"), os.environ.get("PYTHONPATH")])),
    }
    for name in ("EKTP_DEPLOYMENT", "EKTP_REQUIRE_INSTALLED"):
        env.pop(name, None)
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=EXAMPLE,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert " passed" in result.stdout
