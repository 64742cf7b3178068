"""Every ``ektp`` command the docs tell a person to type exists, with the options it is shown with.
(That each one runs is tests/docs/test_docs_run.py's job.)"""

from __future__ import annotations

import re
import shlex

import click
import pytest
from docs_run.extract import all_shown

from ektp_core.cli import cli


def _command_lines() -> list[tuple[str, str]]:
    """(page, the ektp command's arguments) of every ektp command the docs show (tests/docs/docs_run/extract.py:
    sh and console blocks, prompts such as ``site$``, systemd units' ExecStart)."""
    found = []
    for shown in all_shown():
        words = shlex.split(shown.text)
        while words and re.match(r"^[A-Z_]+=", words[0]):  # VAR=value before the command
            words = words[1:]
        if words[:1] == ["sudo"]:
            words = words[3:] if words[1:2] == ["-u"] else words[1:]
        if words and (words[0] == "ektp" or words[0].endswith("/bin/ektp")):
            found.append((shown.page.rsplit("/", 1)[-1], " ".join(words[1:])))
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
    known = {
        name
        for param in command.params
        for name in [*getattr(param, "opts", []), *getattr(param, "secondary_opts", [])]
    }
    known |= {"--help"}
    for word in words:
        if word.startswith("-") and not re.match(r"^-\d", word):
            assert word.split("=", 1)[0] in known, f"{page}: `ektp {line}`: {command.name} has no option {word}"
