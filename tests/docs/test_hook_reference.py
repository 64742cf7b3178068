"""The hook reference is generated from ektp_core/hookspecs.py, and what it says holds.

* every hookspec's docstring has the sections the reference is built from, and ``Args:`` describes
  exactly the hook's arguments;
* every ``Example:`` is a complete plugin module: it is imported, registered on a plugin host with
  the project's hookspecs, and its hook is called the way the core calls it;
* the rendered reference (the extension's functions, and a real Sphinx build of a small MyST
  project using its directives) has an entry, an anchor and a search entry for every hook, and a
  hook left out of the directives fails the build.
"""

from __future__ import annotations

import datetime as dt
import importlib
import importlib.resources
import importlib.util
import inspect
import json
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

from ektp_core import hookspecs
from ektp_core.config import Deployment
from ektp_core.events import Transition, ValidationProblem
from ektp_core.plugins import REGISTRIES, PluginHost

ROOT = Path(__file__).resolve().parents[2]
EXT = ROOT / "docs" / "_ext"
sys.path.insert(0, str(EXT))
import ektp_hooks  # noqa: E402  (docs/_ext is not a package)

HOOKS = [f.__name__ for f in ektp_hooks.hookspec_functions(hookspecs)]
ENTRIES = {e.name: e for e in ektp_hooks.collect_hooks(hookspecs)}
EXAMPLE_PLUGIN = "hook-example"


def test_the_hookspecs_are_found() -> None:
    assert {"ektp_register_profiles", "ektp_validate_enrolment", "ektp_render_card", "ektp_after_transition"} <= set(
        HOOKS
    )
    # every function of the module named like a hook is a hookspec (a marker forgotten would hide it)
    named = {
        n
        for n, f in inspect.getmembers(hookspecs, inspect.isfunction)
        if n.startswith("ektp_") and f.__module__ == hookspecs.__name__
    }
    assert named == set(HOOKS)


# --------------------------------------------------------------------------------------------------
# The docstrings
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", HOOKS)
def test_every_hookspec_has_every_section(name: str) -> None:
    doc = ektp_hooks.parse_docstring(getattr(hookspecs, name).__doc__, hook=name)
    assert list(doc.sections) == list(ektp_hooks.SECTIONS)
    assert doc.summary and doc.summary.endswith(".")
    assert "@hookimpl" in doc.example and f"def {name}(" in doc.example


@pytest.mark.parametrize("name", HOOKS)
def test_args_describe_exactly_the_signature(name: str) -> None:
    entry = ENTRIES[name]
    assert ektp_hooks.check_hook(entry) == []
    assert list(entry.doc.args) == list(inspect.signature(getattr(hookspecs, name)).parameters)


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
    "Example": "@hookimpl\ndef ektp_x(registry):\n    pass",
}


def test_a_well_formed_docstring_is_parsed() -> None:
    doc = ektp_hooks.parse_docstring(_spec(**{**GOOD, "Args": "a: first,\n    continued.\nb: second."}))
    assert doc.summary == "Do something."
    assert doc.args == {"a": "first, continued.", "b": "second."}
    assert doc.example == "@hookimpl\ndef ektp_x(registry):\n    pass\n"


@pytest.mark.parametrize(
    ("sections", "error"),
    [
        ({k: v for k, v in GOOD.items() if k != "Example"}, "no Example: section"),
        ({**GOOD, "Notes": "extra"}, "unknown section 'Notes'"),
        ({"Args": GOOD["Args"], **{k: v for k, v in GOOD.items() if k != "Args"}}, "must come in the order"),
        ({**GOOD, "Args": "just prose without a name"}, "entries are 'name: description'"),
        ({**GOOD, "Args": "a: one.\na: again."}, "described twice"),
        ({**GOOD, "Returns": " "}, "Returns: section is empty"),
    ],
)
def test_a_malformed_docstring_is_refused(sections: dict[str, str], error: str) -> None:
    with pytest.raises(ektp_hooks.HookDocError, match=error):
        ektp_hooks.parse_docstring(_spec(**sections), hook="ektp_x")


def test_text_outside_a_section_is_refused() -> None:
    with pytest.raises(ektp_hooks.HookDocError, match="not indented under its section"):
        ektp_hooks.parse_docstring(_spec(**GOOD) + "stray line\n", hook="ektp_x")


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
        importlib.invalidate_caches()
        module = importlib.import_module(package.name)
        loaded.append(package.name)
        return module

    yield load
    for name in loaded:
        sys.modules.pop(name, None)


def _host(module: Any) -> PluginHost:
    host = PluginHost(load_entry_points=False)
    host.register(module, EXAMPLE_PLUGIN)
    return host


def _registered(host: PluginHost, kind: str) -> list[Any]:
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
    spec = inspect.signature(getattr(hookspecs, name)).parameters
    assert set(params) <= set(spec), f"{name}: the example asks for arguments the hook does not pass"
    assert all(p.default is inspect.Parameter.empty for p in params.values()), "an argument with a default"
    host = _host(module)
    assert name in {i.name: i for i in host.plugins()}[EXAMPLE_PLUGIN].hooks


def test_examples_are_lint_clean(tmp_path: Path) -> None:
    ruff = Path(sys.executable).with_name("ruff")
    assert ruff.is_file(), "ruff is not installed next to this Python (the test extra brings it)"
    for name in HOOKS:
        (tmp_path / f"{name}.py").write_text(ENTRIES[name].doc.example, "utf-8")
    # The project's rules except import sorting, which depends on where the example module lives.
    result = subprocess.run(
        [
            str(ruff),
            "check",
            "--no-cache",
            "--isolated",
            "--line-length",
            "96",
            "--select",
            "E,F,W,B,UP,SIM,RUF",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
    )
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
    host = _host(module)
    (entry,) = _registered(host, "verifiers")
    verifier = entry.obj({})
    assert verifier.url.startswith("https://") and verifier.token_env == "EKTP_GATEWAY_TOKEN"
    assert entry.obj({"url": "https://siak.example.go.id/api/v1"}).url == "https://siak.example.go.id/api/v1"
    with pytest.raises(ValueError, match="url must be"):
        entry.obj({"url": "ftp://siak.example.go.id"})


def _exercise_matchers(module: Any, deployment: Deployment, tmp_path: Path) -> None:
    host = _host(module)
    (entry,) = _registered(host, "matchers")
    assert entry.obj({}).workers == 4
    assert entry.obj({"workers": 1}).workers == 1


def _exercise_commands(module: Any, deployment: Deployment, tmp_path: Path) -> None:
    host = PluginHost(load_entry_points=False)
    host.register(module, EXAMPLE_PLUGIN)
    group = click.Group("ektp")
    # as ektp_core.cli.PluginGroup does: each plugin's implementation with the top-level group
    for impl in host.pm.hook.ektp_register_commands.get_hookimpls():
        impl.function(*[{"cli": group}[a] for a in impl.argnames])
    assert "site-info" in group.commands
    result = CliRunner().invoke(group, ["site-info", "--deployment", str(deployment.root)])
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"{deployment.site.code} {deployment.site.name} (dukcapil)")


def _exercise_blueprints(module: Any, deployment: Deployment, tmp_path: Path) -> None:
    import flask
    from ektp_plugins.web.ui import access

    host = _host(module)
    (entry,) = _registered(host, "blueprints")
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
    "ektp_register_profiles": _exercise_profiles,
    "ektp_register_printers": _exercise_printers,
    "ektp_register_scanners": _exercise_scanners,
    "ektp_register_region_rules": _exercise_region_rules,
    "ektp_register_verifiers": _exercise_verifiers,
    "ektp_register_matchers": _exercise_matchers,
    "ektp_register_commands": _exercise_commands,
    "ektp_register_blueprints": _exercise_blueprints,
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
    assert set(REGISTRIES.values()) | {"ektp_register_commands"} == registration
    assert {e.name for e in ektp_hooks.select(entries, "lifecycle")} == {
        "ektp_validate_enrolment",
        "ektp_render_card",
        "ektp_after_transition",
    }


def test_rendering_says_firstresult_and_bundled_implementations() -> None:
    entries = {e.name: e for e in ektp_hooks.collect_hooks(implementations=ektp_hooks.bundled_implementations())}
    render = "\n".join(ektp_hooks.render_hook(entries["ektp_render_card"]))
    assert "yes (``firstresult``)" in render and "``card-layout``" in render
    render = "\n".join(ektp_hooks.render_hook(entries["ektp_register_profiles"]))
    assert ":First result only: no" in render and "``profiles``" in render
    assert "fills the ``profiles`` registry" in render


def test_the_hook_page_is_generated() -> None:
    text = (ROOT / "docs" / "hooks.md").read_text("utf-8")
    assert ".. ektp-hooks:: registration" in text and ".. ektp-hooks:: lifecycle" in text
    assert ".. ektp-hook-table::" in text
    for name in HOOKS:  # no hand-written entry left beside the generated one
        assert f"## `{name}`" not in text and f"autofunction:: ektp_core.hookspecs.{name}" not in text
    assert "ektp_hooks" in (ROOT / "docs" / "conf.py").read_text("utf-8")


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
    page = (
        "# Hooks\n\n```{toctree}\nother\n```\n\n```{eval-rst}\n.. ektp-hook-table::\n```\n\n"
        "## Registration\n\n```{eval-rst}\n.. ektp-hooks:: registration\n```\n\n"
        "## Lifecycle\n\n```{eval-rst}\n.. ektp-hooks:: lifecycle\n```\n"
    )
    result = _build(tmp_path, page)
    assert result.returncode == 0, result.stderr
    html = (tmp_path / "html" / "index.html").read_text("utf-8")
    search = (tmp_path / "html" / "searchindex.js").read_text("utf-8")
    for name in HOOKS:
        assert f'<section id="{name}">' in html
        assert f'href="#{name}"' in html  # the summary table links to it
        assert f"ektp_core.hookspecs.{name}" in search
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
                from ektp_core import hookimpl


                @hookimpl
                def ektp_old_thing(name):
                    print(name)
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
