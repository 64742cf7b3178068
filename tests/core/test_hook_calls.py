"""Every hook is called through pluggy: hookwrappers and EKTP_TRACE_HOOKS see the calls the core makes one
plugin at a time (registries, commands, ektp_after_transition), and one plugin's failure still does not
stop the others."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import click
import pytest

from ektp_core import hookimpl
from ektp_core.domain.model import EnrolmentState
from ektp_core.lifecycle.service import LifecycleService
from ektp_core.plugins import PluginHost
from ektp_core.testing import make_enrolment


class _Wrapper:
    """A hookwrapper that notes every call it wraps, and what came out of it."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []

    def _note(self, hook: str) -> Iterator[None]:
        try:
            yield
        except Exception as exc:
            self.seen.append((hook, f"raised {exc}"))
            raise
        self.seen.append((hook, "returned"))

    @hookimpl(wrapper=True)
    def ektp_register_printers(self, registry: Any) -> Iterator[None]:
        self.seen.append(("ektp_register_printers", registry.current_plugin))
        return (yield from self._note("ektp_register_printers"))

    @hookimpl(wrapper=True)
    def ektp_after_transition(self, transition: Any) -> Iterator[None]:
        self.seen.append(("ektp_after_transition", transition.to_state))
        return (yield from self._note("ektp_after_transition"))

    @hookimpl(wrapper=True)
    def ektp_register_commands(self, cli: click.Group) -> Iterator[None]:
        self.seen.append(("ektp_register_commands", cli.name or ""))
        return (yield from self._note("ektp_register_commands"))


class _Printers:
    def __init__(self, name: str, fail: bool = False) -> None:
        self.name, self.fail = name, fail

    @hookimpl
    def ektp_register_printers(self, registry: Any) -> None:
        if self.fail:
            raise RuntimeError("driver table corrupt")
        registry.add(self.name, object)


def test_a_wrapper_wraps_each_plugins_registration_call() -> None:
    host = PluginHost(load_entry_points=False)
    wrapper = _Wrapper()
    host.register(wrapper, "wrapper")
    host.register(_Printers("magicard"), "magicard-plugin")
    host.register(_Printers("broken", fail=True), "broken-plugin")
    host.register(_Printers("fargo"), "fargo-plugin")
    assert host.printers.names() == ["fargo", "magicard"]
    # one call per plugin, pluggy's order (the last registered first), the failure seen by the wrapper too
    assert wrapper.seen == [
        ("ektp_register_printers", "fargo-plugin"),
        ("ektp_register_printers", "returned"),
        ("ektp_register_printers", "broken-plugin"),
        ("ektp_register_printers", "raised driver table corrupt"),
        ("ektp_register_printers", "magicard-plugin"),
        ("ektp_register_printers", "returned"),
    ]
    assert "driver table corrupt" in host.failures()["broken-plugin"]


def test_a_wrapper_sees_every_listener_call(ektp_service: LifecycleService, ektp_register_plugin: Any) -> None:
    heard: list[str] = []

    class Broken:
        @hookimpl
        def ektp_after_transition(self, transition: Any) -> None:
            raise RuntimeError("listener down")

    class Good:
        @hookimpl
        def ektp_after_transition(self, transition: Any) -> None:
            heard.append(transition.to_state)

    wrapper = _Wrapper()
    ektp_register_plugin(wrapper, "wrapper")
    ektp_register_plugin(Good(), "good")
    ektp_register_plugin(Broken(), "broken")
    e = ektp_service.record(make_enrolment())
    ektp_service.transition(e.id, EnrolmentState.SENT_FOR_ENROLLMENT, actor="op")
    assert heard == ["BIO_CAPTURED", "SENT_FOR_ENROLLMENT"]  # the broken listener silenced nobody
    assert wrapper.seen == [
        ("ektp_after_transition", "BIO_CAPTURED"),
        ("ektp_after_transition", "raised listener down"),
        ("ektp_after_transition", "BIO_CAPTURED"),
        ("ektp_after_transition", "returned"),
        ("ektp_after_transition", "SENT_FOR_ENROLLMENT"),
        ("ektp_after_transition", "raised listener down"),
        ("ektp_after_transition", "SENT_FOR_ENROLLMENT"),
        ("ektp_after_transition", "returned"),
    ]
    assert ektp_service.get(e.id).state is EnrolmentState.SENT_FOR_ENROLLMENT


def test_tracing_shows_each_listener_call(monkeypatch: pytest.MonkeyPatch, capsys: Any, ektp_deployment: Any) -> None:
    monkeypatch.setenv("EKTP_TRACE_HOOKS", "1")
    host = ektp_deployment.plugin_host()
    store = ektp_deployment.open_store()
    try:

        class Listener:
            @hookimpl
            def ektp_after_transition(self, transition: Any) -> None:
                pass

        host.register(Listener(), "listener")
        capsys.readouterr()
        LifecycleService(store, host.hook, ektp_deployment).record(make_enrolment())
    finally:
        store.dispose()
    err = capsys.readouterr().err
    assert "ektp_validate_enrolment [hook]" in err and "ektp_after_transition [hook]" in err
    assert "to_state='BIO_CAPTURED'" in err


def test_tracing_names_the_plugin_each_registration_call_asks(monkeypatch: pytest.MonkeyPatch, capsys: Any) -> None:
    monkeypatch.setenv("EKTP_TRACE_HOOKS", "1")
    host = PluginHost()
    capsys.readouterr()
    host.region_rules  # noqa: B018 - builds the registry
    err = capsys.readouterr().err
    assert "ektp_register_region_rules [hook]" in err and "now asking plugin regions" in err


def test_commands_are_added_one_plugin_at_a_time_through_pluggy(monkeypatch: pytest.MonkeyPatch, capsys: Any) -> None:
    from ektp_core.cli.app import PluginGroup

    wrapper = _Wrapper()

    class BadCommands:
        @hookimpl
        def ektp_register_commands(self, cli: click.Group) -> None:
            raise RuntimeError("no click here")

    original = PluginHost.__init__

    def with_extras(self: PluginHost, **kwargs: Any) -> None:
        original(self, **kwargs)
        self.register(wrapper, "wrapper")
        self.register(BadCommands(), "bad-commands")

    monkeypatch.setattr(PluginHost, "__init__", with_extras)
    group = PluginGroup("ektp")
    names = group.list_commands(click.Context(group))
    assert {"serve", "new-plugin", "central-emulator"} <= set(names)  # the bundled plugins' commands
    assert "warning: plugin bad-commands could not add its commands: no click here" in capsys.readouterr().err
    assert ("ektp_register_commands", "raised no click here") in wrapper.seen
    assert wrapper.seen.count(("ektp_register_commands", "returned")) >= 5


def test_each_plugin_follows_registrations() -> None:
    host = PluginHost(load_entry_points=False)
    assert host.hook.each_plugin("ektp_after_transition") == ()
    assert host.hook.each_plugin("ektp_no_such_hook") == ()

    class Listener:
        @hookimpl
        def ektp_after_transition(self) -> None:
            pass

    host.register(Listener(), "one")
    first = host.hook.each_plugin("ektp_after_transition")
    assert [call.plugin for call in first] == ["one"]
    assert host.hook.each_plugin("ektp_after_transition") is first  # kept while nothing changes
    host.register(Listener(), "two")
    assert [call.plugin for call in host.hook.each_plugin("ektp_after_transition")] == ["two", "one"]
    host.unregister("two")
    assert [call.plugin for call in host.hook.each_plugin("ektp_after_transition")] == ["one"]


def test_a_plugin_whose_hookspecs_fail_is_not_left_half_registered() -> None:
    class BadSpecs:
        @hookimpl
        def ektp_add_hookspecs(self, plugin_manager: Any) -> None:
            raise RuntimeError("spec module missing")

        @hookimpl
        def ektp_after_transition(self) -> None:
            pass

    host = PluginHost(load_entry_points=False)
    with pytest.raises(RuntimeError, match="spec module missing"):
        host.register(BadSpecs(), "bad-specs")
    assert host.pm.get_plugin("bad-specs") is None
    assert host.hook.each_plugin("ektp_after_transition") == ()
