"""Profile tables are declared by whoever reads them (ektp_declare_profile_tables): a third-party plugin's
table gets the same checks and the same errors (file, key, what was expected) as the core's, and a table
or key that no loaded plugin declares is refused when the profile loads."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from ektp_core.cli import cli
from ektp_core.config import load_profile
from ektp_core.config.schema import REQUIRED, ProfileTables, Setting, Table, UndeclaredKey, Values
from ektp_core.errors import ConfigError, PluginError

# --------------------------------------------------------------------------------------------------
# Declarations
# --------------------------------------------------------------------------------------------------

HOUR = Setting(
    key="hour",
    types=int,
    expected="an hour of the day, 0-23",
    default=17,
    check=lambda hour: 0 <= hour <= 23,
    description="When.",
)
REPORT = Table(
    key="print_report",
    description="The daily print report.",
    settings=(
        Setting(key="folder", types=str, expected="a folder", default=REQUIRED, description="Where."),
        HOUR,
        Setting(key="sites", types=list, items=str, expected="a list of site codes", default=[], description="Whose."),
    ),
    tables=(Table(key="mail", description="Who gets it.", extra="the mail server's options"),),
)


def _read(raw: Any) -> Values:
    found = REPORT.read_data(raw, "p.toml")
    assert isinstance(found, Values)
    return found


def test_values_with_their_defaults() -> None:
    found = _read({"folder": "laporan"})
    assert dict(found) == {"folder": "laporan", "hour": 17, "sites": [], "mail": Values({}, {}, frozenset())}
    assert found.given == {"folder"}
    found["sites"].append("17.71")
    assert _read({"folder": "x"})["sites"] == []  # a mutable default is never shared
    mail = _read({"folder": "x", "mail": {"host": "smtp.example.go.id"}})["mail"]
    assert mail.extra == {"host": "smtp.example.go.id"}  # an open table keeps the keys it does not declare


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({}, "p.toml: key 'print_report.folder': expected a folder (the key is missing)"),
        ({"folder": 3}, "p.toml: key 'print_report.folder': expected a folder (got 3)"),
        ({"folder": "x", "hour": 24}, "p.toml: key 'print_report.hour': expected an hour of the day, 0-23 (got 24)"),
        ({"folder": "x", "hour": True}, "key 'print_report.hour': expected an hour of the day, 0-23 (got True)"),
        ({"folder": "x", "sites": ["17.71", 3]}, "key 'print_report.sites': expected a list of site codes"),
        ({"folder": "x", "hours": 7}, "p.toml: key 'print_report.hours': expected no such key"),
        ({"folder": "x", "mail": "smtp"}, "p.toml: key 'print_report.mail': expected a table (got 'smtp')"),
        ("daily", "p.toml: key 'print_report': expected a table (got 'daily')"),
    ],
)
def test_mistakes_name_the_file_the_key_and_what_was_expected(raw: Any, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        _read(raw)
    assert message in str(info.value)


def test_an_unknown_key_is_an_undeclared_key() -> None:
    with pytest.raises(UndeclaredKey):
        _read({"folder": "x", "colour": "red"})


def test_arrays_of_tables() -> None:
    printers = Table(key="printers", description="", array=True, settings=(REPORT.settings[0],))
    assert printers.read_data(None, "p.toml") == []
    (one,) = printers.read_data([{"folder": "a"}], "p.toml")  # type: ignore[misc]
    assert one["folder"] == "a"
    with pytest.raises(ConfigError, match=r"key 'printers\[1\]': expected a table"):
        printers.read_data([{"folder": "a"}, "b"], "p.toml")
    with pytest.raises(ConfigError, match=r"key 'printers': expected a list of \[\[printers\]\] tables"):
        printers.read_data({"folder": "a"}, "p.toml")


def test_a_table_declared_twice_must_be_shared_by_both() -> None:
    tables = ProfileTables()
    tables.current_plugin = "one"
    tables.add(REPORT)
    tables.current_plugin = "two"
    with pytest.raises(
        PluginError, match=r"\[print_report\] is declared by one and by two; both must declare it shared"
    ):
        tables.add(Table(key="print_report", description="", settings=(HOUR,)))
    shared = Table(key="web", description="", shared=True, settings=(HOUR,))
    tables.add(shared)
    tables.current_plugin = "three"
    with pytest.raises(PluginError, match=r"declares hour twice \(declared by two and by three\)"):
        tables.add(shared)
    tables.add(Table(key="web", description="", shared=True, settings=(REPORT.settings[0],)))
    web = tables.get("web")
    assert web is not None and web.plugins == ("two", "three")
    assert [s.key for s in web.table.settings] == ["hour", "folder"]
    # Each part reads only its own keys; the merged declaration checks them all.
    assert dict(shared.read(_profile({"web": {"hour": 9, "folder": "x"}}))) == {"hour": 9}
    with pytest.raises(ConfigError, match=r"web\.colour"):
        tables.check({"web": {"hour": 9, "folder": "x", "colour": "red"}}, "p.toml")


def _profile(raw: dict[str, Any]) -> Any:
    class Raw:
        source = "p.toml"

    profile = Raw()
    profile.raw = raw  # type: ignore[attr-defined]
    return profile


# --------------------------------------------------------------------------------------------------
# A third-party plugin's table, checked when a profile loads
# --------------------------------------------------------------------------------------------------

PROFILE = """
[profile]
name = "t"
region = "17.71"

[[sites]]
code = "17.71"
name = "Disdukcapil"
kind = "dukcapil"
prints = true

[rules]
name = "dukcapil-only"
"""

PLUGIN = """
from ektp_core import hookimpl
from ektp_core.config.schema import Setting, Table

REPORT = Table(
    key="print_report",
    description="The daily print report.",
    settings=(
        Setting(key="hour", types=int, expected="an hour of the day, 0-23", default=17,
                check=lambda hour: 0 <= hour <= 23, description="When."),
    ),
)


@hookimpl
def ektp_declare_profile_tables(tables):
    tables.add(REPORT)
"""


@pytest.fixture
def report_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An installed distribution whose plugin ``print-report`` declares ``[print_report]``."""
    root = tmp_path / "site"
    info = root / "ektp_print_report-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: ektp-print-report\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[ektp]\nprint-report = ektp_print_report\n")
    (root / "ektp_print_report.py").write_text(textwrap.dedent(PLUGIN))
    monkeypatch.syspath_prepend(str(root))
    return root


def _write(tmp_path: Path, extra: str) -> Path:
    path = tmp_path / "profile.toml"
    path.write_text(PROFILE + extra, "utf-8")
    return path


def test_a_plugin_table_is_checked_like_the_cores(report_plugin: Path, tmp_path: Path) -> None:
    assert load_profile(_write(tmp_path, "[print_report]\nhour = 7\n")).raw["print_report"] == {"hour": 7}
    with pytest.raises(ConfigError) as info:
        load_profile(_write(tmp_path, "[print_report]\nhour = 24\n"))
    assert str(info.value) == (
        f"{tmp_path / 'profile.toml'}: key 'print_report.hour': expected an hour of the day, 0-23 (got 24)"
    )
    with pytest.raises(ConfigError, match=r"key 'print_report\.hours': expected no such key"):
        load_profile(_write(tmp_path, "[print_report]\nhours = 7\n"))


def test_a_table_no_loaded_plugin_declares_is_refused(report_plugin: Path, tmp_path: Path) -> None:
    blocked = '[print_report]\nhour = 7\n\n[plugins]\nblock = ["print-report"]\n'
    with pytest.raises(ConfigError) as info:
        load_profile(_write(tmp_path, blocked))
    message = str(info.value)
    assert "key 'print_report': expected no such key" in message
    assert "load the plugin that reads [print_report]: none of the loaded plugins declares it (" in message
    assert "ektp_core.builtin" in message and "print-report" not in message.split("(ektp_core.builtin")[1]
    with pytest.raises(ConfigError, match=r"key 'print_reports': expected no such key"):
        load_profile(_write(tmp_path, "[print_reports]\nhour = 7\n"))  # misspelled


def test_a_misspelled_core_key_is_refused_without_asking_the_plugins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ektp_core import plugins

    started: list[bool] = []
    original = plugins.PluginHost.__init__

    def counting(self: Any, **kwargs: Any) -> None:
        started.append(kwargs.get("load_entry_points", True))
        original(self, **kwargs)

    monkeypatch.setattr(plugins.PluginHost, "__init__", counting)
    load_profile(_write(tmp_path, "[capture.finger]\nmin_quality = 60\n"))
    assert True not in started  # only the core's tables: no plugin was loaded to check them
    with pytest.raises(ConfigError, match=r"key 'capture\.finger\.min_qualty': expected no such key"):
        load_profile(_write(tmp_path, "[capture.finger]\nmin_qualty = 60\n"))


def test_ektp_init_refuses_a_profile_whose_plugin_is_missing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("EKTP_DEPLOYMENT", raising=False)
    profile = _write(tmp_path, "[print_report]\nhour = 7\n")
    target = tmp_path / "office"
    result = CliRunner().invoke(cli, ["init", str(target), "--profile", str(profile)])
    assert result.exit_code != 0
    assert "key 'print_report': expected no such key" in result.output
    assert "none of the loaded plugins declares it" in result.output
    assert not target.exists()  # nothing was created


def test_a_deployment_whose_profile_was_edited_wrong_is_refused_by_any_command(
    ektp_deployment: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("EKTP_DEPLOYMENT", raising=False)
    profile = ektp_deployment.root / "profile.toml"
    profile.write_text(profile.read_text("utf-8") + '\n[verificaton]\nverifier = "http"\n', "utf-8")
    for command in (["sites"], ["plugins"], ["devices"]):
        result = CliRunner().invoke(cli, [*command, "-d", str(ektp_deployment.root)])
        assert result.exit_code != 0, command
        assert "key 'verificaton': expected no such key" in result.output, command
