"""The commands the docs show that the tests do not run, each with the reason. Reviewed by hand: add
an entry only for a command that cannot run on a test machine (root, real hardware, a package index,
minutes of load) or that another page's run already runs verbatim (``RunOn``).

Keys are (page, command as shown: one part of a ``&&`` chain, without prompt or comment).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RunOn:
    """The same command, from the same starting state, is run by another page's run."""

    page: str

    def __str__(self) -> str:
        return f"the same command is run on {self.page}"


ROOT_INSTALL = "installs system packages or users as root; the test machine's Python and user stand in"
VENV = (
    "makes and fills a new environment from a package index; the tests run in an environment with this "
    "checkout installed, which stands in for it"
)
PIP_INDEX = "installs from a package index into the environment running the tests; tox builds its environments so"
PG_SERVER = (
    "sets up a PostgreSQL server as root; the run uses SQLite, or a fresh database on the server "
    "EKTP_TEST_DATABASE_URL names (tox -e pg)"
)
SYSTEMD = "systemd, as root; the units' ExecStart commands run as services where the units are shown"
TOX = "runs the whole test suite; CI runs exactly this line (.ci/run, kept equal by tests/docs/test_readme.py)"
TOX_PG = "the test suite on a PostgreSQL server: .ci/run runs tox -e pg against one"
BENCHMARK = (
    "a benchmark: tens of seconds to minutes of load, and its result is a figure to read, not a pass "
    "or a failure (tests/integration/test_bench_web.py runs bench_web end to end at a tiny size)"
)

EXCUSES: dict[tuple[str, str], str | RunOn] = {
    # README.md
    ("README.md", "python3 -m venv .venv"): VENV,
    ("README.md", ".venv/bin/pip install -q '.[biometrics,simulated,papers,reports]'"): VENV,
    ("README.md", ".venv/bin/ektp demo"): RunOn("docs/demo.md"),
    ("README.md", "python3 -m pip install -q tox"): TOX,
    ("README.md", "python3 -m tox -e py,lint,type,docs,examples"): TOX,
    # docs/quickstart.md
    ("docs/quickstart.md", "python3 -m venv .venv"): VENV,
    ("docs/quickstart.md", ".venv/bin/pip install -q '.[biometrics,simulated,papers,reports]'"): VENV,
    ("docs/quickstart.md", ".venv/bin/ektp demo"): RunOn("docs/demo.md"),
    ("docs/quickstart.md", "python3 -m pip install -q tox"): TOX,
    ("docs/quickstart.md", "python3 -m tox -e py,lint,type,docs,examples"): TOX,
    ("docs/quickstart.md", "EKTP_TEST_DATABASE_URL=postgresql+psycopg://USER:PASS@HOST/postgres tox -e pg"): TOX_PG,
    ("docs/quickstart.md", 'pip install -e ".[docs]"'): PIP_INDEX,
    (
        "docs/quickstart.md",
        "sphinx-build -W --keep-going -b html docs docs/_build/html",
    ): "the documentation build: tox -e docs runs the same command in CI",
    # docs/demo.md
    ("docs/demo.md", "python3 -m venv .venv"): VENV,
    ("docs/demo.md", ".venv/bin/pip install -q '.[biometrics,simulated,papers,reports]'"): VENV,
    # docs/testing.md
    ("docs/testing.md", "EKTP_TEST_DATABASE_URL=postgresql+psycopg://USER:PASS@HOST/postgres pytest"): TOX_PG,
    # docs/extras.md, docs/storage.md
    ("docs/extras.md", 'pip install "ektp[postgres]"'): PIP_INDEX,
    ("docs/extras.md", 'pip install -e ".[dev]"'): PIP_INDEX,
    ("docs/storage.md", 'pip install "ektp[postgres]"'): PIP_INDEX,
    ("docs/papers.md", 'pip install "ektp[papers]"'): PIP_INDEX,
    # docs/plugins.md: the printer tutorial's first steps, verbatim
    ("docs/plugins.md", "ektp new-plugin printer acme-printer"): RunOn("docs/tutorials/printer-driver.md"),
    ("docs/plugins.md", "cd ektp-acme-printer"): RunOn("docs/tutorials/printer-driver.md"),
    ("docs/plugins.md", "python -m pytest"): RunOn("docs/tutorials/printer-driver.md"),
    ("docs/plugins.md", "python -m pip install -e ."): RunOn("docs/tutorials/printer-driver.md"),
    ("docs/plugins.md", "ektp plugins"): RunOn("docs/tutorials/printer-driver.md"),
    ("docs/plugins.md", "ektp init office --profile acme-printer"): RunOn("docs/tutorials/printer-driver.md"),
    # docs/benchmarks.md
    ("docs/benchmarks.md", "python benchmarks/bench_lifecycle.py"): BENCHMARK,
    ("docs/benchmarks.md", "python benchmarks/bench_printing.py"): BENCHMARK,
    ("docs/benchmarks.md", "python benchmarks/bench_printing.py --mechanism 16 --queue 4"): BENCHMARK,
    ("docs/benchmarks.md", "python benchmarks/bench_web.py"): BENCHMARK,
    ("docs/benchmarks.md", "python benchmarks/bench_web.py --enrolments 2000 --seconds 20"): BENCHMARK,
    ("docs/benchmarks.md", "python benchmarks/bench_web.py --json --strict"): BENCHMARK,
    (
        "docs/benchmarks.md",
        "python benchmarks/bench_web.py --database-url 'postgresql+psycopg://user@host/scratchdb'",
    ): BENCHMARK,
    # docs/deployment.md
    ("docs/deployment.md", "sudo apt-get install -y python3 python3-venv"): ROOT_INSTALL,
    ("docs/deployment.md", "sudo useradd --system --home /srv/ektp --create-home ektp"): ROOT_INSTALL,
    ("docs/deployment.md", "sudo -u ektp python3 -m venv /srv/ektp/venv"): VENV,
    ("docs/deployment.md", "sudo -u ektp /srv/ektp/venv/bin/pip install 'ektp[biometrics,postgres]'"): VENV,
    ("docs/deployment.md", "sudo apt-get install -y postgresql"): PG_SERVER,
    ("docs/deployment.md", "sudo -u postgres createuser ektp"): PG_SERVER,
    ("docs/deployment.md", "sudo -u postgres createdb --owner ektp ektp"): PG_SERVER,
    ("docs/deployment.md", "sudo systemctl daemon-reload"): SYSTEMD,
    ("docs/deployment.md", "sudo systemctl enable --now ektp-dukcapil ektp-verify"): SYSTEMD,
    ("docs/deployment.md", "sudo udevadm control --reload-rules"): "USB device rules, as root, for real hardware",
    ("docs/deployment.md", "sudo udevadm trigger"): "USB device rules, as root, for real hardware",
    ("docs/deployment.md", "sudo systemctl stop ektp-dukcapil ektp-verify"): SYSTEMD
    + " (mirrored: the two services are stopped with SIGTERM)",
    (
        "docs/deployment.md",
        "sudo -u ektp /srv/ektp/venv/bin/pip install --upgrade 'ektp[biometrics,postgres]'",
    ): "upgrades from a package index; the run's environment is already the version under test",
    ("docs/deployment.md", "sudo systemctl start ektp-dukcapil ektp-verify"): SYSTEMD
    + " (mirrored: the two services are started again)",
}
