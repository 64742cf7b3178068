"""The hook reference is generated from the hookspecs (the core's and the web plugin's), and what it
says holds.

* every hookspec's docstring has the sections the reference is built from, ``Args:`` describes
  exactly the hook's arguments, and ``Example:`` names the hook's module in docs/hooks/examples/;
* every example is a complete plugin module: it is imported, registered on a plugin host with the
  project's hookspecs, and its hook is called the way the core calls it;
* the rendered reference (the extension's functions, and a real Sphinx build of a small MyST
  project whose generated blocks become its directives) has an entry, an anchor and a search entry
  for every hook, and a hook left out of the directives fails the build.
"""

from __future__ import annotations

import datetime as dt
import importlib
import importlib.resources
import importlib.util
import inspect
import json
import re
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import attrs
import click
import pytest
from click.testing import CliRunner
from external import missing

from ektp_core.config import Deployment
from ektp_core.events import Transition, ValidationProblem
from ektp_core.plugins import PluginHost

ROOT = Path(__file__).resolve().parents[2]
EXT = ROOT / "docs" / "_ext"
sys.path.insert(0, str(EXT))
import ektp_hooks  # noqa: E402  (docs/_ext is not a package)

ENTRIES = {e.name: e for e in ektp_hooks.collect_all()}
HOOKS = list(ENTRIES)
SPECS = {name: importlib.import_module(entry.module) for name, entry in ENTRIES.items()}
DEFAULT = ektp_hooks.DEFAULT_MODULE
WEB_HOOKS = {name for name, entry in ENTRIES.items() if entry.module == "ektp_plugins.web.hookspecs"}
EXAMPLE_PLUGIN = "hook-example"


def test_the_hookspecs_are_found() -> None:
    assert {"ektp_register_profiles", "ektp_validate_enrolment", "ektp_render_card", "ektp_after_transition"} <= set(
        HOOKS
    )
    assert {"ektp_register_blueprints", "ektp_register_menu_entries"} == WEB_HOOKS
    # every function of a spec module named like a hook is a hookspec (a marker forgotten would hide it)
    for module in ektp_hooks.SPEC_MODULES:
        spec = importlib.import_module(module)
        named = {
            n
            for n, f in inspect.getmembers(spec, inspect.isfunction)
            if n.startswith("ektp_") and f.__module__ == module
        }
        assert named == {f.__name__ for f in ektp_hooks.hookspec_functions(spec)}


def test_the_core_spec_stays_free_of_flask() -> None:
    assert "flask" not in (ROOT / "ektp_core" / "hookspecs.py").read_text("utf-8").lower()
    assert not WEB_HOOKS & {f.__name__ for f in ektp_hooks.hookspec_functions(importlib.import_module(DEFAULT))}


# --------------------------------------------------------------------------------------------------
# The docstrings
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", HOOKS)
def test_every_hookspec_has_every_section(name: str) -> None:
    doc = ektp_hooks.parse_docstring(getattr(SPECS[name], name).__doc__, hook=name)
    assert list(doc.sections) == list(ektp_hooks.SECTIONS)
    assert doc.summary and doc.summary.endswith(".")
    assert doc.example_path == f"docs/hooks/examples/{name}.py"
    assert "@hookimpl" in doc.example and f"def {name}(" in doc.example


def test_every_example_belongs_to_a_hook() -> None:
    files = {p.stem for p in (ROOT / "docs" / "hooks" / "examples").glob("*.py")}
    assert files == set(HOOKS)


@pytest.mark.parametrize("name", HOOKS)
def test_args_describe_exactly_the_signature(name: str) -> None:
    entry = ENTRIES[name]
    assert ektp_hooks.check_hook(entry) == []
    assert list(entry.doc.args) == list(inspect.signature(getattr(SPECS[name], name)).parameters)


@pytest.mark.parametrize("name", HOOKS)
def test_results_section_matches_firstresult(name: str) -> None:
    entry = ENTRIES[name]
    results = entry.doc.sections["Results"]
    if entry.firstresult:
        assert "firstresult" in results and "first non-None result wins" in results
    else:
        assert "Every implementation is called" in results


def _spec(**sections: str) -> str:
    body = "".join(
        f"\n{name}:\n{textwrap.indent(textwrap.dedent(text).strip(), '    ')}\n" for name, text in sections.items()
    )
    return "Do something.\n" + body


GOOD = {
    "Called": "Once.",
    "Args": "registry: the registry.",
    "Returns": "Nothing.",
    "Results": "All.",
    "Example": "docs/hooks/examples/ektp_render_card.py",
}


def test_a_well_formed_docstring_is_parsed() -> None:
    doc = ektp_hooks.parse_docstring(_spec(**{**GOOD, "Args": "a: first,\n    continued.\nb: second."}))
    assert doc.summary == "Do something."
    assert doc.args == {"a": "first, continued.", "b": "second."}
    assert doc.example_path == "docs/hooks/examples/ektp_render_card.py"
    assert doc.example == (ROOT / "docs/hooks/examples/ektp_render_card.py").read_text("utf-8")


@pytest.mark.parametrize(
    ("sections", "error"),
    [
        ({k: v for k, v in GOOD.items() if k != "Example"}, "no Example: section"),
        ({**GOOD, "Notes": "extra"}, "unknown section 'Notes'"),
        ({"Args": GOOD["Args"], **{k: v for k, v in GOOD.items() if k != "Args"}}, "must come in the order"),
        ({**GOOD, "Args": "just prose without a name"}, "entries are 'name: description'"),
        ({**GOOD, "Args": "a: one.\na: again."}, "described twice"),
        ({**GOOD, "Returns": " "}, "Returns: section is empty"),
        ({**GOOD, "Example": "@hookimpl\ndef ektp_x(registry):\n    pass"}, "the path of the example module"),
        ({**GOOD, "Example": "examples/ektp_x.py"}, "the path of the example module"),
    ],
)
def test_a_malformed_docstring_is_refused(sections: dict[str, str], error: str) -> None:
    with pytest.raises(ektp_hooks.HookDocError, match=error):
        ektp_hooks.parse_docstring(_spec(**sections), hook="ektp_x")


def test_text_outside_a_section_is_refused() -> None:
    with pytest.raises(ektp_hooks.HookDocError, match="not indented under its section"):
        ektp_hooks.parse_docstring(_spec(**GOOD) + "stray line\n", hook="ektp_x")


def test_an_example_that_is_not_the_hooks_own_is_reported() -> None:
    entry = ENTRIES["ektp_render_card"]
    doc = replace(entry.doc, sections={**entry.doc.sections, "Example": "docs/hooks/examples/ektp_after_transition.py"})
    assert ektp_hooks.check_hook(replace(entry, doc=doc)) == [
        "ektp_render_card: Example: should be docs/hooks/examples/ektp_render_card.py, "
        "not docs/hooks/examples/ektp_after_transition.py"
    ]
    doc = replace(entry.doc, sections={**entry.doc.sections, "Example": "docs/hooks/examples/ektp_render_nothing.py"})
    assert ektp_hooks.check_hook(replace(entry, name="ektp_render_nothing", doc=doc)) == [
        "ektp_render_nothing: Example: docs/hooks/examples/ektp_render_nothing.py does not exist"
    ]


def test_args_that_do_not_match_the_signature_are_reported() -> None:
    entry = ENTRIES["ektp_render_card"]
    doc = replace(entry.doc, args={"card": "x", "deployment": "y", "printer": "z"})
    problems = ektp_hooks.check_hook(replace(entry, doc=doc))
    assert problems == [
        "ektp_render_card: Args: does not describe job",
        "ektp_render_card: Args: describes printer, which the hook does not take",
    ]
    doc = replace(entry.doc, args={"job": "x", "card": "y", "deployment": "z"})
    assert "should follow the signature's order" in ektp_hooks.check_hook(replace(entry, doc=doc))[0]


# --------------------------------------------------------------------------------------------------
# The examples: each one is imported as a plugin, registered, and its hook called as the core does
# --------------------------------------------------------------------------------------------------


@pytest.fixture
def load_example(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[str], Any]]:
    """Write a hook's example as the package ``hook_example_<hook>`` and import it."""
    monkeypatch.syspath_prepend(str(tmp_path))
    loaded: list[str] = []

    def load(name: str) -> Any:
        package = tmp_path / f"hook_example_{name}"
        package.mkdir()
        (package / "__init__.py").write_text(ENTRIES[name].doc.example, "utf-8")
        if name == "ektp_register_profiles":  # the profile file the example points at
            (package / "profiles").mkdir()
            minimal = importlib.resources.files("ektp_profiles").joinpath("minimal.toml")
            (package / "profiles" / "kecamatan.toml").write_text(minimal.read_text("utf-8"), "utf-8")
        if name == "ektp_declare_message_catalogues":  # the catalogues the example's docstring shows
            (package / "locales").mkdir()
            for language, own, text in (
                ("id", "Bahasa Indonesia", "Kantor {hub} tutup pada hari {day:day}: kartu dicetak di {office}"),
                ("en", "English", "{hub} is closed on {day:day}: the card is printed at {office}"),
            ):
                catalogue = {"_language": own, "hubs.closed": text}
                (package / "locales" / f"{language}.json").write_text(json.dumps(catalogue), "utf-8")
        importlib.invalidate_caches()
        module = importlib.import_module(package.name)
        loaded.append(package.name)
        return module

    yield load
    for name in loaded:
        sys.modules.pop(name, None)


def _host(module: Any, *, web: bool = False) -> PluginHost:
    host = PluginHost(load_entry_points=False)
    if web:  # the web plugin adds its hookspecs (ektp_add_hookspecs) as it registers
        host.register(importlib.import_module("ektp_plugins.web"), "web")
    host.register(module, EXAMPLE_PLUGIN)
    return host


def _registered(host: PluginHost, kind: Any) -> list[Any]:
    registry = host.registry(kind)
    status = {i.name: i for i in host.plugins()}[EXAMPLE_PLUGIN]
    assert status.status == "loaded", status.error
    entries = [e for e in registry if e.plugin == EXAMPLE_PLUGIN]
    assert entries, f"the example added nothing to the {kind} registry"
    return entries


@pytest.mark.parametrize("name", HOOKS)
def test_example_is_a_hookimpl_matching_the_spec(name: str, load_example: Callable[[str], Any]) -> None:
    module = load_example(name)
    impl = getattr(module, name)
    assert hasattr(impl, "ektp_impl"), f"{name}: the example's function is not marked @hookimpl"
    params = inspect.signature(impl).parameters
    spec = inspect.signature(getattr(SPECS[name], name)).parameters
    assert set(params) <= set(spec), f"{name}: the example asks for arguments the hook does not pass"
    assert all(p.default is inspect.Parameter.empty for p in params.values()), "an argument with a default"
    host = _host(module, web=name in WEB_HOOKS)
    assert name in {i.name: i for i in host.plugins()}[EXAMPLE_PLUGIN].hooks


def test_examples_are_lint_clean() -> None:
    ruff = Path(sys.executable).with_name("ruff")
    assert ruff.is_file(), "ruff is not installed next to this Python (the test extra brings it)"
    examples = ROOT / "docs" / "hooks" / "examples"
    # The project's rules and format, as for any code of the repository.
    for command in (["check", "--no-cache"], ["format", "--check", "--no-cache"]):
        result = subprocess.run([str(ruff), *command, str(examples)], capture_output=True, text=True, cwd=ROOT)
        assert result.returncode == 0, result.stdout + result.stderr


def test_every_hook_has_an_example_test() -> None:
    assert set(EXERCISE) == set(HOOKS), "add the new hook's example to EXERCISE below"


def _exercise_profiles(module: Any, deployment: Deployment, tmp_path: Path) -> None:
    from ektp_core.services.node_init import profile_text

    host = _host(module)
    _registered(host, "profiles")
    text, source = profile_text("kota-contoh-kecamatan", host)
    assert "[profile]" in text and source == "profile kota-contoh-kecamatan"


def _exercise_printers(module: Any, deployment: Deployment, tmp_path: Path) -> None:
    from ektp_core.devices.declared import PrinterSetting, make_printer
    from ektp_core.devices.printers import CR80_300DPI

    host = _host(module)
    _registered(host, "printers")
    setting = PrinterSetting(
        name="proof-1", driver="proof-cr80", site=deployment.site_code, options={"folder": "proofs"}
    )
    printer = make_printer(setting, host, tmp_path)
    assert printer.canvas == CR80_300DPI
    with pytest.raises(Exception, match="unknown option"):
        make_printer(attrs.evolve(setting, options={"folder": "proofs", "colour": "red"}), host, tmp_path)


def _exercise_scanners(module: Any, deployment: Deployment, tmp_path: Path) -> None:
    from ektp_core.devices.declared import ScannerSetting, make_scanner

    host = _host(module)
    _registered(host, "scanners")
    scanner = make_scanner(
        ScannerSetting(name="jari", driver="uareu-training", site=deployment.site_code), host, tmp_path
    )
    assert scanner.emulator is not None


def _exercise_region_rules(module: Any, deployment: Deployment, tmp_path: Path) -> None:
    from ektp_core.devices.region_rules import SiteSnapshot
    from ektp_core.errors import ConfigError
    from ektp_core.lifecycle.routing import load_rules
    from ektp_core.testing import make_enrolment

    host = _host(module)
    _registered(host, "region_rules")
    profile = attrs.evolve(deployment.profile, rules={"name": "print-at-kecamatan"})
    rules = load_rules(profile, host)
    office = profile.site(profile.dukcapil_code)
    routing = rules.route(
        make_enrolment(site_code=office.code), SiteSnapshot(printers={office.code}, blanks={office.code: 3})
    )
    assert routing.site_code == office.code and routing.reason
    with pytest.raises(ConfigError, match="takes no settings"):
        load_rules(attrs.evolve(profile, rules={"name": "print-at-kecamatan", "weekday": "monday"}), host)


def _exercise_verifiers(module: Any, deployment: Deployment, tmp_path: Path) -> None:
    from ektp_core.devices.declared import make_verifier
    from ektp_core.errors import ConfigError

    host = _host(module)
    _registered(host, "verifiers")

    def profile(**options: Any) -> Any:
        table = {"verifier": "provincial-gateway", **options}
        return attrs.evolve(deployment.profile, raw={**deployment.profile.raw, "verification": table})

    verifier = make_verifier(profile(), host)
    assert verifier.url.startswith("https://") and verifier.token_env == "EKTP_GATEWAY_TOKEN"
    assert (
        make_verifier(profile(url="https://siak.example.go.id/api/v1"), host).url == "https://siak.example.go.id/api/v1"
    )
    with pytest.raises(ConfigError, match=r"key 'verification': expected options that provincial-gateway accepts"):
        make_verifier(profile(url="ftp://siak.example.go.id"), host)


def _exercise_matchers(module: Any, deployment: Deployment, tmp_path: Path) -> None:
    from ektp_core.devices.declared import make_matcher
    from ektp_core.devices.matchers import MatcherSettings

    host = _host(module)
    _registered(host, "matchers")
    profile = deployment.profile
    assert make_matcher(MatcherSettings("bozorth3-server"), host, profile=profile).workers == 4
    assert make_matcher(MatcherSettings("bozorth3-server", options={"workers": 1}), host, profile=profile).workers == 1


def _exercise_add_hookspecs(module: Any, deployment: Deployment, tmp_path: Path) -> None:
    from pluggy import PluginValidationError

    from ektp_core import hookimpl

    host = _host(module)
    assert host.plugins()[-1].status == "loaded"

    class Office:
        @hookimpl
        def ektp_notice_recipients(self, site_code: str) -> list[str]:
            return ["0812-0000-1771"] if site_code == "17.71" else []

    class Helpdesk:
        @hookimpl
        def ektp_notice_recipients(self) -> list[str]:
            return ["0812-0000-0001", "0812-0000-1771"]  # every site's, and the office's again

    host.register(Office(), "office")
    host.register(Helpdesk(), "helpdesk")
    assert module.recipients(host, "17.71") == ["0812-0000-0001", "0812-0000-1771"]
    assert module.recipients(host, "17.72") == ["0812-0000-0001", "0812-0000-1771"]
    host.unregister("helpdesk")
    assert module.recipients(host, "17.72") == []

    class Misnamed:
        @hookimpl
        def ektp_notice_recipients(self, site):  # type: ignore[no-untyped-def]
            return []

    with pytest.raises(PluginValidationError, match="site"):
        host.register(Misnamed(), "misnamed")  # the spec the example added is checked like the core's


def _exercise_declare_profile_tables(module: Any, deployment: Deployment, tmp_path: Path) -> None:
    from ektp_core.errors import ConfigError

    host = _host(module)
    tables = host.profile_tables()
    declared = tables.get("print_report")
    assert declared is not None and declared.plugins == (EXAMPLE_PLUGIN,)
    profile = deployment.profile
    assert dict(module.report_settings(profile)) == {"folder": "reports", "hour": 17}
    raw = {**profile.raw, "print_report": {"folder": "laporan", "hour": 7}}
    tables.check(raw, profile.source)
    assert dict(module.report_settings(attrs.evolve(profile, raw=raw))) == {"folder": "laporan", "hour": 7}
    for table, error in (
        ({"hour": 24}, "key 'print_report.hour': expected an hour of the day, 0-23 (got 24)"),
        ({"hours": 7}, "key 'print_report.hours': expected no such key"),
    ):
        with pytest.raises(ConfigError, match=re.escape(error)):
            tables.check({**profile.raw, "print_report": table}, profile.source)
    assert "print_report" not in PluginHost(load_entry_points=False).profile_tables()


def _exercise_message_catalogues(module: Any, deployment: Deployment, tmp_path: Path) -> None:
    from ektp_core.messages import Message, default_catalogues

    host = _host(module)
    status = {i.name: i for i in host.plugins()}[EXAMPLE_PLUGIN]
    assert status.status == "loaded", status.error
    said = Message("hubs.closed", hub="Pasar Minggu", day="friday", office="Disdukcapil")
    assert (
        default_catalogues().render("id", said)
        == "Kantor Pasar Minggu tutup pada hari Jumat: kartu dicetak di Disdukcapil"
    )
    assert str(said) == "Pasar Minggu is closed on Friday: the card is printed at Disdukcapil"


def _exercise_menu_entries(module: Any, deployment: Deployment, tmp_path: Path) -> None:
    from ektp_plugins.web.hookspecs import MENU_ENTRIES
    from ektp_plugins.web.ui import access

    from ektp_core.domain.model import Role

    host = _host(module, web=True)
    (entry,) = _registered(host, MENU_ENTRIES)
    menu = entry.obj
    assert menu.endpoint == "stock.overview" and menu.roles == access.SUPERVISORS == {Role.SUPERVISOR}
    assert (menu.label("id"), menu.label("en"), menu.label("jv")) == ("Stok blangko", "Blank stock", "Stok blangko")


def _exercise_commands(module: Any, deployment: Deployment, tmp_path: Path) -> None:
    host = PluginHost(load_entry_points=False)
    host.register(module, EXAMPLE_PLUGIN)
    group = click.Group("ektp")
    # as ektp_core.cli.PluginGroup does: each plugin's implementation with the top-level group
    for call in host.hook.each_plugin("ektp_register_commands"):
        call(cli=group)
    assert "site-info" in group.commands
    result = CliRunner().invoke(group, ["site-info", "--deployment", str(deployment.root)])
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"{deployment.site.code} {deployment.site.name} (dukcapil)")


def _exercise_blueprints(module: Any, deployment: Deployment, tmp_path: Path) -> None:
    import flask
    from ektp_plugins.web.hookspecs import BLUEPRINTS
    from ektp_plugins.web.ui import access

    host = _host(module, web=True)
    (entry,) = _registered(host, BLUEPRINTS)
    app = flask.Flask(__name__)
    app.register_blueprint(entry.obj)
    for endpoint, view in app.view_functions.items():
        if endpoint != "static":
            assert access.rule_of(view) is not None, f"{endpoint} has no access rule"
    page = app.test_client().get("/bantuan/")
    assert page.status_code == 200 and "Dukcapil helpdesk: 0736-21000" in page.get_data(as_text=True)


def _exercise_validate_enrolment(module: Any, deployment: Deployment, tmp_path: Path) -> None:
    from ektp_core.testing import make_enrolment

    host = _host(module)
    site = deployment.site.code

    def problems(enrolment: Any, where: Deployment | None) -> list[ValidationProblem]:
        results = host.hook.ektp_validate_enrolment(enrolment=enrolment, deployment=where)
        return [p for found in results for p in found]

    assert problems(make_enrolment(site_code=site), deployment) == []
    assert problems(make_enrolment(site_code=site), None) == []
    assert [p.field for p in problems(make_enrolment(site_code=site, nama="LATIHAN SATU"), deployment)] == ["nama"]
    assert [p.message for p in problems(make_enrolment(site_code="99.99"), deployment)] == [
        "site 99.99 does not record residents"
    ]


def _exercise_render_card(module: Any, deployment: Deployment, tmp_path: Path) -> None:
    from ektp_plugins.printers.layout import render_card
    from ektp_plugins.simulators.images import sample_photo, sample_signature

    from ektp_core.devices.printers import CardData, RenderedCard
    from ektp_core.domain.model import PrintJob
    from ektp_core.testing.samples import make_biodata

    host = _host(module)
    card = CardData(
        biodata=make_biodata(),
        photo=sample_photo(5, birth_year=1990),
        signature=sample_signature(5),
        issue_place="KOTA BENGKULU",
        issue_date=dt.date(2024, 5, 2),
    )
    job = PrintJob(id="job-1", enrolment_id="enrolment-1", site_code=deployment.site_code, blank_serial="B0001")
    # a real office: the example lets the next renderer draw the card (here there is none)
    assert host.hook.ektp_render_card(card=card, job=job, deployment=deployment) is None
    training = attrs.evolve(deployment, profile=attrs.evolve(deployment.profile, name="latihan-bengkulu"))
    rendered = host.hook.ektp_render_card(card=card, job=job, deployment=training)
    assert isinstance(rendered, RenderedCard)
    plain = render_card(card)
    assert rendered.rgb == plain.rgb and rendered.k != plain.k and rendered.preview_png != plain.preview_png


def _exercise_after_transition(module: Any, deployment: Deployment, tmp_path: Path) -> None:
    host = _host(module)
    at = dt.datetime(2024, 5, 2, 9, 30, tzinfo=dt.UTC)
    unknown = Transition(
        kind="print_job",
        subject_id="job-7",
        from_state="SENT",
        to_state="UNKNOWN",
        actor="operator1",
        at=at,
        reason="the printer stopped answering",
    )
    printed = attrs.evolve(unknown, subject_id="job-8", to_state="PRINTED", reason=None)
    for transition in (unknown, printed):
        host.hook.ektp_after_transition(transition=transition, deployment=deployment)
    host.hook.ektp_after_transition(transition=unknown, deployment=None)  # no deployment: nothing written
    lines = (deployment.root / "supervisor-alerts.jsonl").read_text("utf-8").splitlines()
    assert [json.loads(line) for line in lines] == [
        {"job": "job-7", "reason": "the printer stopped answering", "at": "2024-05-02T09:30:00+00:00"}
    ]


EXERCISE: dict[str, Callable[[Any, Deployment, Path], None]] = {
    "ektp_add_hookspecs": _exercise_add_hookspecs,
    "ektp_declare_profile_tables": _exercise_declare_profile_tables,
    "ektp_declare_message_catalogues": _exercise_message_catalogues,
    "ektp_register_profiles": _exercise_profiles,
    "ektp_register_printers": _exercise_printers,
    "ektp_register_scanners": _exercise_scanners,
    "ektp_register_region_rules": _exercise_region_rules,
    "ektp_register_verifiers": _exercise_verifiers,
    "ektp_register_matchers": _exercise_matchers,
    "ektp_register_commands": _exercise_commands,
    "ektp_register_blueprints": _exercise_blueprints,
    "ektp_register_menu_entries": _exercise_menu_entries,
    "ektp_validate_enrolment": _exercise_validate_enrolment,
    "ektp_render_card": _exercise_render_card,
    "ektp_after_transition": _exercise_after_transition,
}


@pytest.mark.parametrize("name", HOOKS)
def test_example_works_when_its_hook_is_called(
    name: str, load_example: Callable[[str], Any], ektp_deployment: Deployment, tmp_path: Path
) -> None:
    EXERCISE[name](load_example(name), ektp_deployment, tmp_path)


# --------------------------------------------------------------------------------------------------
# The rendered reference
# --------------------------------------------------------------------------------------------------


def test_rendering_has_every_hook() -> None:
    entries = list(ENTRIES.values())
    table = "\n".join(ektp_hooks.render_table(entries))
    for entry in entries:
        assert f":ref:`{entry.name} <{entry.name}>`" in table
        text = "\n".join(ektp_hooks.render_hook(entry))
        assert f".. py:function:: {entry.signature}" in text
        for arg, _annotation in entry.params:
            assert f":param {arg}:" in text
        assert ".. code-block:: python" in text and f"def {entry.name}(" in text
    registration = {e.name for e in ektp_hooks.select(entries, "registration")}
    assert registration == {n for n in HOOKS if n.startswith("ektp_register_")}
    assert set(ektp_hooks.registry_kinds()) | {"ektp_register_commands"} == registration
    assert {e.name for e in ektp_hooks.select(entries, "start-up")} == {
        "ektp_add_hookspecs",
        "ektp_declare_profile_tables",
        "ektp_declare_message_catalogues",
    }
    assert {e.name for e in ektp_hooks.select(entries, "lifecycle")} == {
        "ektp_validate_enrolment",
        "ektp_render_card",
        "ektp_after_transition",
    }


def test_markdown_has_every_hook() -> None:
    entries = list(ENTRIES.values())
    table = "\n".join(ektp_hooks.render_markdown_table(entries))
    for entry in entries:
        assert f"| [`{entry.name}`](#{entry.name}) | `{entry.module}` |" in table
        text = "\n".join(ektp_hooks.render_markdown_hook(entry))
        assert text.startswith(f"### `{entry.name}`\n\n```python\n{entry.signature}\n```")
        for arg, _annotation in entry.params:
            assert f"- `{arg}`" in text
        assert entry.doc.example.rstrip() in text and f"(hooks/examples/{entry.name}.py)" in text
        prose = text.replace(entry.doc.example.rstrip(), "").replace("```", "")
        assert "``" not in prose and ":class:" not in prose, "reStructuredText markup left in the Markdown"


def test_markdown_text_converts_roles_and_literals() -> None:
    text = ":class:`~ektp_core.registry.Registry`, :func:`ektp_core.devices.matchers.decide`, ``x = 1``"
    assert ektp_hooks.markdown_text(text) == "`Registry`, `ektp_core.devices.matchers.decide`, `x = 1`"
    assert ektp_hooks.markdown_text(":ref:`the renderer <ektp_render_card>`") == "`the renderer`"


def test_rendering_says_firstresult_and_bundled_implementations() -> None:
    entries = {e.name: e for e in ektp_hooks.collect_all(implementations=ektp_hooks.bundled_implementations())}
    render = "\n".join(ektp_hooks.render_hook(entries["ektp_render_card"]))
    assert "yes (``firstresult``)" in render and "``card-layout``" in render
    render = "\n".join(ektp_hooks.render_hook(entries["ektp_register_profiles"]))
    assert ":First result only: no" in render and "``profiles``" in render
    assert "fills the ``profiles`` registry" in render
    render = "\n".join(ektp_hooks.render_hook(entries["ektp_declare_profile_tables"]))
    assert "``ektp_core.builtin``" in render and "``web``" in render
    render = "\n".join(ektp_hooks.render_markdown_hook(entries["ektp_add_hookspecs"]))
    assert "- **Historic:** yes" in render and "- **Bundled implementations:** `web`" in render


def test_the_hook_page_is_generated() -> None:
    text = (ROOT / "docs" / "hooks.md").read_text("utf-8")
    blocks = [m["what"] for m in ektp_hooks.GENERATED.finditer(text)]
    kinds = {(e.kind, e.module) for e in ENTRIES.values()}
    assert sorted(blocks) == sorted(["ektp-hook-table", *(f"ektp-hooks {kind} {module}" for kind, module in kinds)])
    outside = ektp_hooks.GENERATED.sub("", text)
    for name in HOOKS:  # no hand-written entry left beside the generated one
        assert f"## `{name}`" not in outside and f"autofunction:: ektp_core.hookspecs.{name}" not in outside
    assert "ektp_hooks" in (ROOT / "docs" / "conf.py").read_text("utf-8")


def test_sphinx_renders_each_generated_block_with_its_directive() -> None:
    text = (ROOT / "docs" / "hooks.md").read_text("utf-8")
    source = [text]
    found = list(ektp_hooks.GENERATED.finditer(text))
    source[0] = ektp_hooks.GENERATED.sub(lambda m: ektp_hooks.directive_for(m["what"]), text)
    assert source[0].count("```{eval-rst}") == len(found)
    assert ".. ektp-hook-table::" in source[0]
    assert ".. ektp-hooks:: registration\n   :module: ektp_plugins.web.hookspecs" in source[0]
    assert "### `" not in source[0]  # the Markdown entries are replaced, not shown twice


def _build(tmp_path: Path, page: str) -> subprocess.CompletedProcess[str]:
    # The docs extra has Sphinx and MyST (tox -e py installs it); a developer's test extra alone may not.
    if importlib.util.find_spec("sphinx") is None or importlib.util.find_spec("myst_parser") is None:
        missing("Sphinx and MyST, the docs extra (pip install -e '.[docs]')")
    source = tmp_path / "src"
    source.mkdir()
    (source / "conf.py").write_text(
        textwrap.dedent(f"""\
        import sys
        sys.path.insert(0, {str(EXT)!r})
        extensions = ["myst_parser", "ektp_hooks"]
        myst_heading_anchors = 3
        """),
        "utf-8",
    )
    (source / "index.md").write_text(page, "utf-8")
    (source / "other.md").write_text("# Other\n\nSee [the renderer](index.md#ektp_render_card).\n", "utf-8")
    return subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html", str(source), str(tmp_path / "html")],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_sphinx_builds_an_entry_anchor_and_search_entry_per_hook(tmp_path: Path) -> None:
    # The generated blocks as docs/hooks.md has them (left empty: the extension puts the directives
    # in their place), so the build also proves that substitution.
    def block(what: str) -> str:
        return f"{ektp_hooks.marker(what)}\nstale text the build must not show\n<!-- end generated -->\n\n"

    page = (
        "# Hooks\n\n```{toctree}\nother\n```\n\n"
        + block("ektp-hook-table")
        + "## Start-up\n\n"
        + block(f"ektp-hooks start-up {DEFAULT}")
        + "## Registration\n\n"
        + block(f"ektp-hooks registration {DEFAULT}")
        + "## Lifecycle\n\n"
        + block(f"ektp-hooks lifecycle {DEFAULT}")
        + "## Web\n\n"
        + block("ektp-hooks registration ektp_plugins.web.hookspecs")
    )
    result = _build(tmp_path, page)
    assert result.returncode == 0, result.stderr
    html = (tmp_path / "html" / "index.html").read_text("utf-8")
    search = (tmp_path / "html" / "searchindex.js").read_text("utf-8")
    assert "stale text" not in html
    for name in HOOKS:
        assert f'<section id="{name}">' in html
        assert f'href="#{name}"' in html  # the summary table links to it
        assert f"{ENTRIES[name].module}.{name}" in search
    assert 'href="index.html#ektp_render_card"' in (tmp_path / "html" / "other.html").read_text("utf-8")


def test_a_hook_left_out_fails_the_build(tmp_path: Path) -> None:
    result = _build(tmp_path, "# Hooks\n\n```{toctree}\nother\n```\n\n```{eval-rst}\n.. ektp-hooks:: lifecycle\n```\n")
    assert result.returncode != 0
    assert "ektp_register_profiles is not rendered by any ektp-hooks directive" in result.stderr


def test_historic_and_deprecated_hooks_say_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "deprecated_specs.py").write_text(
        textwrap.dedent('''\
        import pluggy

        hookspec = pluggy.HookspecMarker("ektp")


        @hookspec(historic=True, warn_on_impl=DeprecationWarning("use ektp_new_thing instead"))
        def ektp_old_thing(name: str) -> None:
            """Do the old thing.

            Called:
                Never any more.

            Args:
                name: the thing's name.

            Returns:
                Nothing.

            Results:
                Every implementation is called.

            Example:
                docs/hooks/examples/ektp_after_transition.py
            """
        '''),
        "utf-8",
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    (entry,) = ektp_hooks.collect_hooks("deprecated_specs")
    sys.modules.pop("deprecated_specs", None)
    assert entry.historic and entry.deprecated == "use ektp_new_thing instead"
    text = "\n".join(ektp_hooks.render_hook(entry, "deprecated_specs"))
    assert ":Deprecated: use ektp_new_thing instead" in text
    assert ":Historic: yes" in text and ":Bundled implementations: none" in text
    assert ".. py:function:: ektp_old_thing(name: str) -> None" in text
