"""``ektp new-plugin``: names, folders, and bad input refused with a clear message. (Every kind's
distribution passing its own tests, ruff-clean, and found through its entry point once installed:
tests/integration/devkit/test_generated_plugins.py.)"""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from ektp_plugins.devkit import scaffold
from ektp_plugins.devkit.scaffold import Names, ScaffoldError, new_plugin

from ektp_core.cli import cli


def test_names_follow_the_plugin_name() -> None:
    names = Names("acme-printer", "printer")
    assert (names.distribution, names.package, names.class_prefix, names.title) == (
        "ektp-acme-printer",
        "ektp_acme_printer",
        "Acme",
        "Acme Printer",
    )
    assert Names("kota-contoh", "region").class_prefix == "KotaContoh"
    assert Names("printer", "printer").class_prefix == "Printer"
    assert names.values()["env_prefix"] == "ACME_PRINTER"


def test_the_command_generates_into_ektp_name_by_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["new-plugin", "region", "kota-contoh"])
    assert result.exit_code == 0, result.output
    assert "created ektp-kota-contoh: the region plugin kota-contoh" in result.output
    assert 'entry point kota-contoh = "ektp_kota_contoh"' in result.output
    assert (tmp_path / "ektp-kota-contoh" / "src" / "ektp_kota_contoh" / "rules.py").is_file()


def test_the_command_takes_a_folder(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    result = CliRunner().invoke(cli, ["new-plugin", "printer", "acme-printer", "--dir", str(tmp_path / "empty")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "empty" / "src" / "ektp_acme_printer" / "emulator.py").is_file()


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("Acme", "not usable: use lower-case letters and digits"),
        ("acme_printer", "not usable"),
        ("acme printer", "not usable"),
        ("-acme", "not usable"),
        ("acme--printer", "not usable"),
        ("acme-", "not usable"),
        ("9acme", "starting with a letter"),
        (
            "ektp-acme",
            "leave 'ektp' out of the name: 'ektp-acme' would give the distribution ektp-ektp-acme; try 'acme'",
        ),
        ("ektp", "leave 'ektp' out of the name: 'ektp' would give the distribution ektp-ektp; try 'acme-printer'"),
        ("a" * 33, "longer than 32 characters"),
        ("", "needs a NAME"),
        ("printer-evolis", "already used by ektp"),
        ("core", "a Python package named ektp_core already exists"),
    ],
)
def test_bad_names_are_refused(tmp_path: Path, name: str, message: str) -> None:
    result = CliRunner().invoke(cli, ["new-plugin", "--dir", str(tmp_path / "out"), "--", "printer", name])
    assert result.exit_code == 1
    assert "error: " in result.output and message in result.output
    assert not (tmp_path / "out").exists()


def test_an_unknown_kind_is_refused(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["new-plugin", "matcher", "acme", "--dir", str(tmp_path / "out")])
    assert result.exit_code == 1
    assert "unknown kind 'matcher': choose one of printer, scanner, region, verifier" in result.output
    assert not (tmp_path / "out").exists()


def test_a_folder_that_is_not_empty_is_refused(tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "notes.txt").write_text("mine")
    result = CliRunner().invoke(cli, ["new-plugin", "region", "kota-contoh", "--dir", str(tmp_path / "out")])
    assert result.exit_code == 1
    assert "exists and is not empty" in result.output
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["notes.txt"]


def test_a_file_in_the_way_is_refused(tmp_path: Path) -> None:
    (tmp_path / "out").write_text("a file")
    with pytest.raises(ScaffoldError, match="exists and is not a folder"):
        new_plugin("region", "kota-contoh", tmp_path / "out")


def test_a_folder_that_cannot_be_written_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(self: Path, *args: object, **kwargs: object) -> int:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(Path, "write_text", refuse)
    with pytest.raises(ScaffoldError, match=r"cannot write .*Permission denied; nothing was kept"):
        new_plugin("region", "kota-contoh", tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_an_unknown_placeholder_in_a_template_is_an_error() -> None:
    assert scaffold.render("{{name}} {{package}}", {"name": "a", "package": "b"}) == "a b"
    with pytest.raises(ScaffoldError, match=r"x.tmpl: unknown placeholder \{\{nmae\}\}"):
        scaffold.render("{{nmae}}", {"name": "a"}, source="x.tmpl")
