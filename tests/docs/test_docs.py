"""The documentation keeps up with the code: hooks, commands, profile keys and state machines.

Each test reads the code (never a hard-coded list), so a new hook, command, profile key or
transition fails here until docs/ describes it.
"""

from __future__ import annotations

import importlib
import inspect
import re
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import click
import pytest

from ektp_core import config, hookspecs
from ektp_core.cli import cli
from ektp_core.lifecycle import states
from ektp_core.plugins import PluginHost

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"


def _read(name: str) -> str:
    return (DOCS / name).read_text("utf-8")


# --------------------------------------------------------------------------------------------------
# (a) the hook reference is generated from the hookspecs: the page's generated blocks place the
#     entries (tests/docs/test_hook_reference.py checks the docstrings, their examples and the rendering;
#     tests/docs/test_references.py that the blocks are current)
# --------------------------------------------------------------------------------------------------

_EXT = DOCS / "_ext"
if str(_EXT) not in sys.path:
    sys.path.insert(0, str(_EXT))
import ektp_hooks  # noqa: E402  (docs/_ext is not a package)


def _declared_hooks() -> dict[str, str]:
    """Every hook of every spec module -> its module."""
    found = {}
    for module in ektp_hooks.SPEC_MODULES:
        spec = importlib.import_module(module)
        for name, obj in inspect.getmembers(spec, inspect.isfunction):
            if name.startswith("ektp_") and obj.__module__ == module:
                found[name] = module
    return found


def test_hookspecs_are_found() -> None:
    hooks = _declared_hooks()
    assert hooks["ektp_validate_enrolment"] == "ektp_core.hookspecs"
    assert hooks["ektp_register_blueprints"] == "ektp_plugins.web.hookspecs"
    assert "ektp_register_blueprints" not in {n for n, _f in inspect.getmembers(hookspecs, inspect.isfunction)}


def test_hook_reference_places_every_kind_of_hook_once() -> None:
    blocks = [m["what"] for m in ektp_hooks.GENERATED.finditer(_read("hooks.md"))]
    entries = ektp_hooks.collect_all()
    for kind, module in {(e.kind, e.module) for e in entries}:
        assert blocks.count(f"ektp-hooks {kind} {module}") == 1, (
            f"docs/hooks.md must place the {kind} hooks of {module} in one generated block"
        )
    assert blocks.count("ektp-hook-table") == 1
    assert not [b for b in blocks if b.split()[:2] == ["ektp-hooks", "all"]], "hooks placed twice"


def test_hook_reference_has_no_hand_written_hook_entries() -> None:
    outside = ektp_hooks.GENERATED.sub("", _read("hooks.md"))
    written = sorted(
        h
        for h, module in _declared_hooks().items()
        if re.search(rf"^#+ `{h}`", outside, flags=re.MULTILINE) or f"{module}.{h}" in outside
    )
    assert not written, f"docs/hooks.md has hand-written entries beside the generated ones: {written}"


# --------------------------------------------------------------------------------------------------
# (b) every command of `ektp` (sub-groups walked) has a section in docs/cli.md with its options
# --------------------------------------------------------------------------------------------------


def _is_ours(command: click.Command) -> bool:
    # Commands a test's throw-away plugin added to the shared group must not count; the core's and
    # the bundled plugins' commands must.
    module = getattr(command.callback, "__module__", "") or ""
    return module.startswith(("ektp_core.", "ektp_plugins."))


def _walk(group: click.Group, prefix: str) -> Iterator[tuple[str, click.Command]]:
    for name, command in sorted(group.commands.items()):
        if not _is_ours(command):
            continue
        full = f"{prefix} {name}"
        yield full, command
        if isinstance(command, click.Group):
            yield from _walk(command, full)


def _cli_commands() -> dict[str, click.Command]:
    # Listing the commands makes the group ask the installed plugins for theirs (as `ektp --help` does),
    # so the bundled plugins' commands (ektp sbi-emulator) are documented too.
    cli.list_commands(click.Context(cli))
    return dict(_walk(cli, "ektp"))


def _cli_sections() -> dict[str, str]:
    """Each ``## `ektp ...``` (or deeper) heading of docs/cli.md and the text up to the next heading."""
    text = _read("cli.md")
    parts = re.split(r"^(#{2,6}) `(ektp [^`]+)`[ \t]*$", text, flags=re.MULTILINE)
    # re.split yields [before, level, name, body, level, name, body, ...]
    return {parts[i + 1]: parts[i + 2].split("\n#", 1)[0] for i in range(1, len(parts) - 2, 3)}


def test_cli_commands_are_found() -> None:
    commands = _cli_commands()
    assert {"ektp nik", "ektp db", "ektp db upgrade", "ektp audit verify", "ektp walk"} <= set(commands)


def test_every_command_has_a_section_in_the_cli_page() -> None:
    missing = sorted(set(_cli_commands()) - set(_cli_sections()))
    assert not missing, f"docs/cli.md needs a '## `ektp ...`' section for: {missing}"


def test_cli_page_documents_only_existing_commands() -> None:
    unknown = sorted(set(_cli_sections()) - set(_cli_commands()))
    assert not unknown, f"docs/cli.md documents commands that do not exist: {unknown}"


@pytest.mark.parametrize("name", sorted(_cli_commands()))
def test_every_option_and_argument_is_documented(name: str) -> None:
    command = _cli_commands()[name]
    section = _cli_sections().get(name, "")
    for param in command.params:
        if isinstance(param, click.Option):
            if param.hidden or "--help" in param.opts:
                continue
            long_names = [o for o in param.opts if o.startswith("--")]
            assert any(o in section for o in long_names), f"{name}: option {param.opts} is not in docs/cli.md"
        elif isinstance(param, click.Argument):
            argument = param.human_readable_name
            assert argument in section, f"{name}: argument {argument} is not in docs/cli.md"


# --------------------------------------------------------------------------------------------------
# (c) every profile table and key that the core and the bundled plugins declare is documented, and
#     every deployment key
# --------------------------------------------------------------------------------------------------


def _declared_tables() -> list[Any]:
    """Every top-level profile table the core and the bundled plugins declare (ektp_declare_profile_tables)."""
    return [declared.table for declared in PluginHost().profile_tables()]


def _keys(table: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """(key, full path) for every key and sub-table of a table."""
    path = path or table.key
    for setting in table.settings:
        yield setting.key, f"{path}.{setting.key}"
    for sub in table.tables:
        yield sub.key, f"{path}.{sub.key}"
        yield from _keys(sub, f"{path}.{sub.key}")


def test_profile_tables_are_found() -> None:
    tables = {t.key: t for t in _declared_tables()}
    assert set(config.PROFILE_KEYS) <= set(tables)
    web = {path for _key, path in _keys(tables["web"])}
    assert {"web.login_attempts_per_minute", "web.lockout_failures"} <= web  # the web plugin's and the core's


def test_every_declared_profile_table_has_a_section() -> None:
    text = _read("profiles.md")
    for table in _declared_tables():
        assert re.search(rf"^#+ `\[{{1,2}}{table.key}\]{{1,2}}`", text, flags=re.MULTILINE), (
            f"docs/profiles.md needs a section for the profile table [{table.key}]"
        )


def test_every_declared_profile_key_is_documented() -> None:
    text = _read("profiles.md")
    missing = sorted(
        path
        for table in _declared_tables()
        for key, path in _keys(table)
        if f"`{key}`" not in text and f"[{path}]" not in text
    )
    assert not missing, f"docs/profiles.md does not describe these profile keys: {missing}"


def _keys_read_by(function: Callable[..., Any], reader: str = r"\w+") -> set[str]:
    """The keys a config function reads with its ``TableReader`` objects (``reader.get("key", ...)``)."""
    source = inspect.getsource(function)
    return set(re.findall(rf"\b{reader}\.(?:get|table|strings)\(\s*\"(\w+)\"", source))


def test_every_deployment_key_is_documented() -> None:
    keys = _keys_read_by(config.load_deployment)
    assert {"deployment", "database_url", "site"} <= keys
    text = _read("profiles.md")
    missing = sorted(k for k in keys if f"`{k}`" not in text and f"[{k}]" not in text)
    assert not missing, f"docs/profiles.md does not describe these ektp.toml keys: {missing}"
    for variable in (config.ENV_DEPLOYMENT, "EKTP_DATABASE_URL"):
        assert variable in text


# --------------------------------------------------------------------------------------------------
# The transition tables in docs/lifecycle.md are the ones in ektp_core/lifecycle/states.py
# --------------------------------------------------------------------------------------------------


def _doc_table(title: str) -> dict[str, set[str]]:
    text = _read("lifecycle.md")
    assert f"### {title}\n" in text, f"docs/lifecycle.md has no '### {title}' section"
    section = text.split(f"### {title}\n", 1)[1].split("\n#", 1)[0]
    rows: dict[str, set[str]] = {}
    for line in section.splitlines():
        match = re.match(r"^\|\s*`(\w+)`\s*\|(.*)\|\s*$", line)
        if match:
            rows[match.group(1)] = set(re.findall(r"`(\w+)`", match.group(2)))
    return rows


@pytest.mark.parametrize(
    ("title", "table"),
    [
        ("Enrolment transitions", states.ENROLMENT_TRANSITIONS),
        ("Print job transitions", states.PRINT_JOB_TRANSITIONS),
        ("Blank transitions", states.BLANK_TRANSITIONS),
        ("Card transitions", states.CARD_TRANSITIONS),
    ],
)
def test_transition_tables_match_the_code(title: str, table: dict[object, frozenset[object]]) -> None:
    expected = {str(state): {str(s) for s in targets} for state, targets in table.items()}
    assert _doc_table(title) == expected


# --------------------------------------------------------------------------------------------------
# The quickstart shows the README's two commands
# --------------------------------------------------------------------------------------------------


def test_quickstart_shows_the_readme_commands() -> None:
    readme = (ROOT / "README.md").read_text("utf-8")
    assert "\n## The two commands\n" in readme, "README.md lost its section 'The two commands'"
    section = readme.split("## The two commands", 1)[1].split("\n## ", 1)[0]
    commands = re.findall(r"```sh\n(.+?)\n```", section)
    assert commands
    quickstart = _read("quickstart.md")
    for command in commands:
        assert command in quickstart, f"docs/quickstart.md does not show the README's command: {command}"
