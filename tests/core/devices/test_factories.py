"""One factory convention for every device a profile picks: printers, scanners, verifiers, matchers and
region rules are built with the keyword arguments they name among name, options and profile, and a
refused option is the same ConfigError (file, key, what was expected) whatever the kind."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import attrs
import pytest

from ektp_core import hookimpl
from ektp_core.config import Deployment
from ektp_core.devices import factories
from ektp_core.devices.declared import (
    make_matcher,
    make_printer,
    make_scanner,
    make_verifier,
    printer_settings,
    scanner_settings,
)
from ektp_core.devices.matchers import MatcherSettings
from ektp_core.errors import ConfigError, PluginError
from ektp_core.lifecycle.routing import load_rules
from ektp_core.plugins import PluginHost


def _build(factory: Any, kind: factories.FactoryKind = factories.PRINTER, **options: Any) -> Any:
    return factories.build(
        factory,
        kind,
        driver="acme",
        plugin="acme-plugin",
        name="printer-1",
        options=options,
        profile=None,
        source="profile.toml",
        key="devices.printers[0].options",
    )


def test_a_factory_gets_only_the_arguments_it_names() -> None:
    assert _build(lambda options: options, colour="red") == {"colour": "red"}
    assert _build(lambda name: name) == "printer-1"
    assert _build(lambda profile, name: (profile, name)) == (None, "printer-1")
    assert _build(lambda **everything: sorted(everything)) == ["name", "options", "profile"]

    class Printer:
        def __init__(self, name: str, options: dict[str, Any], *, clock: Any = "the real clock") -> None:
            self.name, self.options, self.clock = name, options, clock

    built = _build(Printer, speed=2)
    assert (built.name, built.options, built.clock) == ("printer-1", {"speed": 2}, "the real clock")


def test_options_are_a_fresh_dict_each_time() -> None:
    given = {"colour": "red"}
    built = factories.build(
        lambda options: options,
        factories.VERIFIER,
        driver="acme",
        plugin="p",
        name="acme",
        options=given,
        profile=None,
        source="-",
        key="verification",
    )
    built["colour"] = "blue"
    assert given == {"colour": "red"}


@pytest.mark.parametrize(
    ("kind", "key", "word"),
    [
        (factories.PRINTER, "devices.printers[0].options", "options"),
        (factories.SCANNER, "devices.scanners[1].options", "options"),
        (factories.VERIFIER, "verification", "options"),
        (factories.MATCHER, "verification.matcher", "options"),
        (factories.REGION_RULES, "rules", "settings"),
    ],
)
def test_refused_options_give_the_same_error_for_every_kind(kind: factories.FactoryKind, key: str, word: str) -> None:
    def refuse(options: dict[str, Any]) -> None:
        raise ValueError(f"unknown option {sorted(options)[0]!r}")

    with pytest.raises(ConfigError) as info:
        factories.build(
            refuse,
            kind,
            driver="acme",
            plugin="p",
            name="x",
            options={"colour": "red"},
            profile=None,
            source="/srv/ektp/profile.toml",
            key=key,
        )
    assert str(info.value) == (
        f"/srv/ektp/profile.toml: key '{key}': expected {word} that acme accepts (unknown option 'colour')"
    )


def test_a_factory_asking_for_something_else_is_a_plugin_error() -> None:
    def printer(name: str, config: dict[str, Any]) -> None: ...

    with pytest.raises(PluginError, match=r"printer driver acme of plugin acme-plugin cannot be built: .*'config'"):
        _build(printer)


def test_the_calls_of_older_releases_still_work_with_a_warning() -> None:
    class OldRules:
        def __init__(self, profile: Any, settings: dict[str, Any]) -> None:
            self.profile, self.settings = profile, settings

    with pytest.warns(DeprecationWarning, match=r"'settings'.*name its parameters among name, options, profile"):
        rules = _build(OldRules, factories.REGION_RULES, print_days={})
    assert rules.settings == {"print_days": {}}

    def old_verifier(config: dict[str, Any]) -> dict[str, Any]:
        return config

    with pytest.warns(DeprecationWarning, match="old_verifier"):
        assert _build(old_verifier, factories.VERIFIER, url="https://x") == {"url": "https://x"}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _build(lambda options: options, factories.VERIFIER)  # the new form warns about nothing


@attrs.frozen
class _Built:
    """What a factory of the test plugin built: the arguments it was given."""

    name: str
    options: dict[str, Any]
    profile: Any

    def check(self) -> list[str]:
        """Region rules' check: nothing to say."""
        return []


class _Acme:
    """A plugin registering one device of each kind, recording how each was built."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[str, ...]]] = []

    def _factory(self, kind: str) -> Any:
        def factory(**arguments: Any) -> _Built:
            self.calls.append((kind, tuple(sorted(arguments))))
            if arguments["options"].get("broken"):
                raise ValueError("broken is not an option")
            return _Built(**arguments)

        return factory

    @hookimpl
    def ektp_register_printers(self, registry: Any) -> None:
        registry.add("acme", self._factory("printer"))

    @hookimpl
    def ektp_register_scanners(self, registry: Any) -> None:
        registry.add("acme", self._factory("scanner"))

    @hookimpl
    def ektp_register_verifiers(self, registry: Any) -> None:
        registry.add("acme", self._factory("verifier"))

    @hookimpl
    def ektp_register_matchers(self, registry: Any) -> None:
        registry.add("acme", self._factory("matcher"))

    @hookimpl
    def ektp_register_region_rules(self, registry: Any) -> None:
        registry.add("acme", self._factory("rules"))


def test_every_kind_is_built_by_the_one_convention(ektp_deployment: Deployment, tmp_path: Path) -> None:
    acme = _Acme()
    host = PluginHost(load_entry_points=False)
    host.register(acme, "acme")
    profile = attrs.evolve(
        ektp_deployment.profile,
        raw={
            **ektp_deployment.profile.raw,
            "devices": {
                "printers": [{"name": "p1", "driver": "acme", "site": "17.71", "options": {"folder": "out"}}],
                "scanners": [{"name": "s1", "driver": "acme", "site": "17.71"}],
            },
            "verification": {"verifier": "acme", "url": "https://central"},
        },
        rules={"name": "acme"},
    )
    printer: Any = make_printer(printer_settings(profile)[0], host, tmp_path)
    assert printer == _Built("p1", {"folder": str(tmp_path / "out")}, profile)  # a relative folder made absolute
    scanner: Any = make_scanner(scanner_settings(profile)[0], host, tmp_path)
    assert scanner == _Built("s1", {}, profile)
    verifier: Any = make_verifier(profile, host)
    assert verifier == _Built("acme", {"url": "https://central"}, profile)
    matcher: Any = make_matcher(MatcherSettings("acme", options={"workers": 2}), host, profile=profile)
    assert matcher == _Built("acme", {"workers": 2}, profile)
    assert load_rules(profile, host) == _Built("acme", {}, profile)
    assert {kind for kind, _arguments in acme.calls} == {"printer", "scanner", "verifier", "matcher", "rules"}
    assert all(arguments == ("name", "options", "profile") for _kind, arguments in acme.calls)
    broken = attrs.evolve(printer_settings(profile)[0], options={"broken": True})
    with pytest.raises(ConfigError, match=r"key 'devices\.printers\[0\]\.options': expected options that acme accepts"):
        make_printer(broken, host, tmp_path)


def test_a_driver_nobody_registered_lists_the_registered_ones(ektp_host: PluginHost, tmp_path: Path) -> None:
    from ektp_core.devices.declared import PrinterSetting

    with pytest.raises(PluginError, match=r"no printer named 'fargo' \(registered: evolis, proof\)"):
        make_printer(PrinterSetting(name="p", driver="fargo", site="17.71"), ektp_host, tmp_path)


def test_the_registries_are_typed_properties_of_the_host(ektp_host: PluginHost) -> None:
    assert ektp_host.printers is ektp_host.registry("printers")
    assert ektp_host.region_rules.names() == ektp_host.registry("region_rules").names()
    assert "http" in ektp_host.verifiers and "nbis-bozorth3" in ektp_host.matchers
    assert "uareu4000" in ektp_host.scanners and "minimal" in ektp_host.profiles
    with pytest.raises(PluginError, match="unknown registry 'blueprints'"):
        ektp_host.registry("blueprints")  # the web plugin's: asked for by its RegistryKind
