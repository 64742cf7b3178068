"""The README's two commands stay true: CI runs the README's test command, the main job is `ektp demo`,
and the walk stays documented as the second command to try."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _section(title: str) -> str:
    """The README's section ``## title``: a renamed or removed section fails the test that reads it."""
    text = (ROOT / "README.md").read_text("utf-8")
    assert f"\n## {title}\n" in text, f"README.md has no section '## {title}'"
    return text.split(f"\n## {title}\n", 1)[1].split("\n## ", 1)[0]


def _commands() -> list[str]:
    return re.findall(r"```sh\n(.+?)\n```", _section("The two commands"))


def test_readme_has_two_commands() -> None:
    commands = _commands()
    assert len(commands) == 2
    assert commands[0].endswith("ektp demo")
    assert "tox" in commands[1]


def test_the_walk_is_the_second_command_to_try() -> None:
    first_look = _section("A first look")
    assert "ektp walk --dir ektp-walk" in re.findall(r"```sh\n(.+?)\n```", first_look, flags=re.DOTALL)[0]


def test_ci_runs_the_readme_test_command() -> None:
    ci = (ROOT / ".ci" / "run").read_text("utf-8")
    assert _commands()[1] in ci


def test_the_fast_lane_is_mentioned_for_day_to_day_work() -> None:
    assert "`tox -e fast`" in _section("The two commands")
    assert "[testenv:fast]" in (ROOT / "tox.ini").read_text("utf-8")
