"""Plugin loading: entry points, guarded loading, allow/block lists, registries, tracing."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from ektp_core import hookimpl
from ektp_core.cli import cli
from ektp_core.errors import PluginError
from ektp_core.plugins import PluginHost
from ektp_core.registry import Registry


def _fake_distribution(root: Path, name: str, entry_points: dict[str, str], modules: dict[str, str]) -> None:
    """A minimal installed distribution on sys.path: importlib.metadata finds its entry points."""
    info = root / f"{name.replace('-', '_')}-1.2.3.dist-info"  # the wheel spelling: no dash in the name
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.2.3\n")
    lines = "\n".join(f"{k} = {v}" for k, v in entry_points.items())
    (info / "entry_points.txt").write_text(f"[ektp]\n{lines}\n")
    for module, source in modules.items():
        (root / f"{module}.py").write_text(textwrap.dedent(source))


@pytest.fixture
def third_party(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "site"
    _fake_distribution(
        root,
        "ektp-thirdparty",
        {
            "good-printer": "good_printer_plugin",
            "broken": "broken_plugin",
        },
        {
            "good_printer_plugin": """
            from ektp_core import hookimpl

            class Magicard:
                pass

            @hookimpl
            def ektp_register_printers(registry):
                registry.add("magicard", Magicard, description="a second printer protocol")
        """,
            "broken_plugin": """
            raise ImportError("libmissing.so: cannot open shared object file")
        """,
        },
    )
    monkeypatch.syspath_prepend(str(root))
    return root


def test_bundled_plugins_load_through_entry_points() -> None:
    host = PluginHost()
    infos = {i.name: i for i in host.plugins()}
    assert infos["ektp_core.builtin"].source == "essential"
    assert infos["regions"].source == "entry point"
    assert "ektp_register_region_rules" in infos["regions"].hooks
    assert "dukcapil-only" in host.registry("region_rules")


def test_broken_plugin_is_reported_by_name_and_others_still_load(third_party: Path) -> None:
    host = PluginHost()
    assert "libmissing.so" in host.failures()["broken"]
    assert host.registry("printers").entry("magicard").plugin == "good-printer"
    assert "regions" in {i.name for i in host.plugins()}


def test_broken_plugin_can_be_made_fatal(third_party: Path) -> None:
    with pytest.raises(PluginError, match="broken: ImportError"):
        PluginHost(fatal_errors=True)
    with pytest.raises(PluginError, match="requires plugins that are not loaded: broken"):
        PluginHost(required=["broken"])
    with pytest.raises(PluginError, match="nope \\(not installed\\)"):
        PluginHost(required=["nope"])


def test_allow_and_block_lists(third_party: Path) -> None:
    host = PluginHost(block=["broken"])
    assert host.failures() == {}
    statuses = {i.name: i.status for i in host.plugins(include_inactive=True)}
    assert statuses["broken"] == "blocked"
    only = PluginHost(allow=["regions"])
    statuses = {i.name: i.status for i in only.plugins(include_inactive=True)}
    assert statuses["good-printer"] == "not allowed" and statuses["regions"] == "loaded"
    assert "magicard" not in only.registry("printers")


def test_essential_plugin_cannot_be_blocked() -> None:
    host = PluginHost(block=["ektp_core.builtin"], allow=["regions"])
    assert "ektp_core.builtin" in {i.name for i in host.plugins()}
    # Its NIK check still runs: a NIK that says "woman" on a man's biodata is refused.
    from ektp_core.testing import make_enrolment, valid_nik

    enrolment = make_enrolment(jenis_kelamin="LAKI-LAKI", nik=valid_nik(sex="P"))
    problems = [p for found in host.hook.ektp_validate_enrolment(enrolment=enrolment, deployment=None) for p in found]
    assert any(p.field == "nik" for p in problems)


def test_plugin_managers_do_not_leak_between_hosts() -> None:
    class Extra:
        @hookimpl
        def ektp_register_printers(self, registry):
            registry.add("extra", object)

    a, b = PluginHost(), PluginHost()
    a.register(Extra(), "extra")
    assert "extra" in a.registry("printers")
    assert "extra" not in b.registry("printers")
    a.unregister("extra")
    assert "extra" not in a.registry("printers")


def test_same_name_from_two_plugins_is_an_error() -> None:
    class One:
        @hookimpl
        def ektp_register_printers(self, registry):
            registry.add("evolis", object)

    host = PluginHost()
    host.register(One(), "one")
    host.register(One(), "two")
    with pytest.raises(PluginError, match=r"registered twice: by (one|two) and by (one|two)"):
        host.registry("printers")


def test_failing_registration_hook_is_reported_not_fatal() -> None:
    class Bad:
        @hookimpl
        def ektp_register_scanners(self, registry):
            raise RuntimeError("device table corrupt")

    host = PluginHost()
    host.register(Bad(), "bad-scanner")
    assert all(entry.plugin != "bad-scanner" for entry in host.registry("scanners"))
    assert "device table corrupt" in host.failures()["bad-scanner"]


def test_registry_get_lists_known_names() -> None:
    reg: Registry[int] = Registry("printer")
    reg.add("evolis", 1)
    with pytest.raises(PluginError, match=r"no printer named 'fargo' \(registered: evolis\)"):
        reg.get("fargo")
    with pytest.raises(PluginError, match="use letters"):
        reg.add("bad name!", 2)


def test_hook_tracing_behind_environment_variable(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.setenv("EKTP_TRACE_HOOKS", "1")
    host = PluginHost()
    host.hook.ektp_register_printers(registry=Registry("printer"))
    assert "ektp_register_printers" in capsys.readouterr().err


def test_plugins_command_json_and_all(third_party: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("EKTP_DEPLOYMENT", raising=False)
    runner = CliRunner()
    result = runner.invoke(cli, ["plugins", "--json"])
    assert result.exit_code == 0, result.output
    rows = {r["name"]: r for r in json.loads(result.stdout)}
    assert {"name", "hooks", "version"} <= set(rows["regions"])
    assert rows["good-printer"]["version"] == "1.2.3"
    assert rows["broken"]["status"] == "failed"
    text = runner.invoke(cli, ["plugins", "--all"])
    assert "broken 1.2.3" in text.output and "libmissing.so" in text.output


def test_tracing_is_off_for_zero(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.setenv("EKTP_TRACE_HOOKS", "0")
    PluginHost().registry("printers")
    assert capsys.readouterr().err == ""


def test_tracing_never_shows_the_database_password(monkeypatch: pytest.MonkeyPatch, capsys, tmp_path: Path) -> None:
    from ektp_core.config import Deployment, load_profile

    monkeypatch.setenv("EKTP_TRACE_HOOKS", "1")
    profile = load_profile(Path(__file__).parents[2] / "profiles" / "minimal.toml")
    deployment = Deployment(
        root=tmp_path, profile=profile, database_url="postgresql+psycopg://ektp:s3cret@db/ektp", site_code="17.71"
    )
    host = PluginHost()
    host.hook.ektp_after_transition(transition=None, deployment=deployment)
    err = capsys.readouterr().err
    assert "ektp_after_transition" in err and "s3cret" not in err and "***" in err


def test_same_entry_point_name_from_two_distributions_is_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "site"
    _fake_distribution(root, "ektp-regions-fork", {"regions": "fork_regions"}, {"fork_regions": ""})
    monkeypatch.syspath_prepend(str(root))
    host = PluginHost()
    assert any("already used by" in error for error in host.failures().values())
    assert "dukcapil-only" in host.registry("region_rules")
