"""Every ``ektp`` command the docs tell a person to type exists, with the options it is shown with, and
the deployment guide's commands run (with SQLite in place of the server's PostgreSQL)."""
from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import click
import pytest

from ektp_core.cli import cli

DOCS = Path(__file__).resolve().parents[1] / "docs"
ROOT = DOCS.parent
_BLOCK = re.compile(r"^```(sh|console|bash|ini)\n(.*?)^```", re.MULTILINE | re.DOTALL)


def _command_lines() -> list[tuple[str, str]]:
    found = []
    for path in [*DOCS.glob("*.md"), *(DOCS / "tutorials").glob("*.md"), ROOT / "README.md"]:
        for _lang, body in _BLOCK.findall(path.read_text("utf-8")):
            text = body.replace("\\\n", " ")
            for line in text.splitlines():
                line = line.strip().removeprefix("$ ").removeprefix("ExecStart=")  # systemd units too
                for part in re.split(r"&&|\|\||;", line.split(" #", 1)[0]):
                    words = shlex.split(part, comments=True) if part.strip() else []
                    while words and re.match(r"^[A-Z_]+=", words[0]):  # VAR=value before the command
                        words = words[1:]
                    if words[:1] == ["sudo"]:
                        words = words[3:] if words[1:2] == ["-u"] else words[1:]
                    if words and (words[0] == "ektp" or words[0].endswith("/bin/ektp")):
                        found.append((path.name, " ".join(words[1:])))
    return found


COMMANDS = _command_lines()


def test_the_docs_show_commands() -> None:
    assert len(COMMANDS) > 40


@pytest.mark.parametrize(("page", "line"), COMMANDS, ids=[f"{p}: ektp {c}"[:90] for p, c in COMMANDS])
def test_a_documented_command_exists_with_its_options(page: str, line: str) -> None:
    words = shlex.split(line)
    command: click.Command = cli
    ctx = click.Context(cli, info_name="ektp")
    while isinstance(command, click.Group) and words and not words[0].startswith("-"):
        sub = command.get_command(ctx, words[0])
        assert sub is not None, f"{page}: `ektp {line}`: no command {words[0]!r}"
        command, words = sub, words[1:]
    if isinstance(command, click.Group) and not words:
        return
    known = {name for param in command.params
             for name in [*getattr(param, "opts", []), *getattr(param, "secondary_opts", [])]}
    known |= {"--help"}
    for word in words:
        if word.startswith("-") and not re.match(r"^-\d", word):
            assert word.split("=", 1)[0] in known, f"{page}: `ektp {line}`: {command.name} has no option {word}"


def _ektp(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([sys.executable, "-m", "ektp_core", *args], capture_output=True, text=True, timeout=300,
                          env={**os.environ, **(env or {})}, cwd=cwd, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, f"ektp {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
    return done


def test_the_deployment_guides_commands_run(tmp_path: Path) -> None:
    """docs/deployment.md, in order, on this machine: the Dukcapil node (SQLite instead of PostgreSQL), its
    first administrator, a kecamatan node and its join code, the device list, a backup, a restore, and
    the upgrade step."""
    guide = (DOCS / "deployment.md").read_text("utf-8")
    for shown in ("ektp init /srv/ektp/dukcapil --profile kota-bengkulu", "ektp account add admin.dukcapil",
                  "ektp sync join-code 17.71.05", "ektp devices -d", "ektp backup /var/backups/ektp/",
                  "ektp restore dukcapil-", "ektp db upgrade -d /srv/ektp/dukcapil",
                  "ektp init /srv/ektp/node --profile kota-bengkulu --site 17.71.05"):
        assert shown in guide.replace("\\\n    ", ""), shown
    office, node = tmp_path / "dukcapil", tmp_path / "node"
    _ektp("init", str(office), "--profile", "kota-bengkulu")
    _ektp("account", "add", "admin.dukcapil", "--role", "admin", "--full-name", "Nama Admin",
          "--password-env", "ADMIN_PW", "-d", str(office), env={"ADMIN_PW": "sandi-admin-yang-kuat-1"})
    _ektp("init", str(node), "--profile", "kota-bengkulu", "--site", "17.71.05")
    code = _ektp("sync", "join-code", "17.71.05", "--as", "admin.dukcapil", "-d", str(office)).stdout.strip()
    assert len(code) >= 8
    _ektp("devices", "-d", str(node))
    secret = {"EKTP_BACKUP_PASSPHRASE": "frasa sandi cadangan"}
    _ektp("backup", str(tmp_path / "dukcapil.ektpbak"), "-d", str(office), env=secret)
    restored = _ektp("restore", str(tmp_path / "dukcapil.ektpbak"), str(tmp_path / "dukcapil-restored"), env=secret)
    assert "audit chain intact" in restored.stdout
    _ektp("db", "upgrade", "-d", str(office))
    listed = _ektp("account", "list", "-d", str(tmp_path / "dukcapil-restored")).stdout
    assert "admin.dukcapil" in listed
