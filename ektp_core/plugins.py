"""The plugin host: one pluggy manager per deployment (never a module-level global).

Built-in core behaviour is itself a plugin (``ektp_core.builtin``) that cannot be switched off.
Every other plugin, bundled ones included, is found through the ``ektp`` entry-point group, so the
path third-party plugins take is the one the project uses every day. Loading is guarded: a plugin
that fails to import is recorded by name with its error and the others still load; a profile can
make that fatal. ``EKTP_TRACE_HOOKS=1`` traces every hook call to standard error;
``EKTP_DISABLE_PLUGIN_AUTOLOAD=1`` loads no entry-point plugin (the core alone).
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterable
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, overload

import attrs
import pluggy

from ektp_core import hookspecs, messages
from ektp_core.config.schema import ProfileTables
from ektp_core.errors import PluginError
from ektp_core.registry import Registry, RegistryKind

if TYPE_CHECKING:
    from ektp_core.config.profile import ProfileSource
    from ektp_core.devices.matchers import MatcherFactory
    from ektp_core.devices.printers import PrinterFactory
    from ektp_core.devices.region_rules import RegionRulesFactory
    from ektp_core.devices.scanners import ScannerFactory
    from ektp_core.devices.verifiers import VerifierFactory

T = TypeVar("T")

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "ektp"
TRACE_ENV = "EKTP_TRACE_HOOKS"
#: Set to 1 to load no entry-point plugin at all (the core alone, plus plugins registered by code).
NO_AUTOLOAD_ENV = "EKTP_DISABLE_PLUGIN_AUTOLOAD"
#: Plugins that are part of the core and cannot be blocked.
ESSENTIAL = ("ektp_core.builtin",)

#: The core's registries by name (``host.registry("printers")``); each is filled by its hook.
REGISTRIES: dict[str, RegistryKind[Any]] = {
    kind.name: kind
    for kind in (
        hookspecs.PROFILES,
        hookspecs.PRINTERS,
        hookspecs.SCANNERS,
        hookspecs.REGION_RULES,
        hookspecs.VERIFIERS,
        hookspecs.MATCHERS,
    )
}


@attrs.frozen
class PluginCall:
    """One plugin's implementation of a hook, called through pluggy on its own.

    ``call(**kwargs)`` goes through the plugin manager like any hook call, so hookwrappers and
    ``EKTP_TRACE_HOOKS`` see it; only the other plugins' implementations are left out.
    """

    #: The plugin's name (``regions``, ``printer-evolis``...).
    plugin: str
    caller: pluggy.HookCaller = attrs.field(repr=False)

    def __call__(self, **kwargs: Any) -> Any:
        return self.caller(**kwargs)


class HookRelay:
    """``host.hook``: pluggy's hook relay (``host.hook.ektp_render_card(card=...)`` calls every plugin),
    plus :meth:`each_plugin` for the hooks the core calls one plugin at a time."""

    def __init__(self, pm: pluggy.PluginManager) -> None:
        self._pm = pm
        self._each: dict[str, tuple[list[pluggy.HookImpl], tuple[PluginCall, ...]]] = {}

    def __getattr__(self, name: str) -> Any:
        return getattr(self._pm.hook, name)

    def each_plugin(self, name: str) -> tuple[PluginCall, ...]:
        """The implementations of hook ``name``, each callable through pluggy on its own, in pluggy's
        order (the last registered first, ``tryfirst`` and ``trylast`` respected); empty when no
        plugin implements it (or no plugin declares it).

        The core uses it where one plugin's failure must not stop the others (pluggy stops a call at
        the first exception), or where it must know which plugin did what: registries, commands and
        ``ektp_after_transition``. Every hookwrapper of the hook wraps each plugin's call.
        """
        caller: pluggy.HookCaller | None = getattr(self._pm.hook, name, None)
        if caller is None:
            return ()
        impls = caller.get_hookimpls()
        cached = self._each.get(name)
        if cached is not None and cached[0] == impls:  # the same implementations, in the same order
            return cached[1]
        own = [impl for impl in impls if not (impl.wrapper or impl.hookwrapper)]
        calls = tuple(
            PluginCall(impl.plugin_name, self._pm.subset_hook_caller(name, [o.plugin for o in own if o is not impl]))
            for impl in reversed(own)  # pluggy calls the last one in its list first
        )
        self._each[name] = (impls, calls)
        return calls


@attrs.frozen
class PluginInfo:
    """What ``ektp plugins`` shows about one plugin."""

    name: str
    version: str | None
    hooks: tuple[str, ...]
    #: ``essential``, ``entry point`` or ``registered`` (added by code, e.g. a test fixture).
    source: str
    distribution: str | None = None
    #: Why it is not loaded, when it is not.
    error: str | None = None
    #: ``loaded``, ``failed``, ``blocked`` or ``not allowed``.
    status: str = "loaded"

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready view."""
        return attrs.asdict(self, value_serializer=lambda _i, _a, v: list(v) if isinstance(v, tuple) else v)


class PluginHost:
    """Loads plugins for one deployment and builds the registries they fill."""

    def __init__(
        self,
        *,
        allow: Iterable[str] | None = None,
        block: Iterable[str] = (),
        required: Iterable[str] = (),
        fatal_errors: bool = False,
        load_entry_points: bool = True,
    ) -> None:
        self.pm = pluggy.PluginManager("ektp")
        self.pm.add_hookspecs(hookspecs)
        self._hook = HookRelay(self.pm)
        self.allow = set(allow) if allow else None
        self.block = set(block)
        self.required = set(required)
        self._infos: dict[str, PluginInfo] = {}
        self._registries: dict[str, Registry[Any]] = {}
        self._tables: ProfileTables | None = None
        if _flag(TRACE_ENV):
            self.pm.trace.root.setwriter(sys.stderr.write)
            self.pm.enable_tracing()
        # Historic: a plugin registered later (the web plugin, say) adds its hookspecs as it registers.
        self.pm.hook.ektp_add_hookspecs.call_historic(kwargs={"plugin_manager": self.pm})
        for name in ESSENTIAL:
            module = __import__(name, fromlist=["_"])
            self._register(module, name, source="essential", version=None, dist=None)
        if load_entry_points and not _flag(NO_AUTOLOAD_ENV):
            self._load_entry_points()
        self._add_catalogues()
        problems = [i for i in self._infos.values() if i.status == "failed"]
        missing = sorted(
            n for n in self.required if self._infos.get(n, None) is None or self._infos[n].status != "loaded"
        )
        if missing:
            raise PluginError(
                "the profile requires plugins that are not loaded: "
                + ", ".join(
                    f"{n} ({self._infos[n].error or self._infos[n].status})"
                    if n in self._infos
                    else f"{n} (not installed)"
                    for n in missing
                )
            )
        if fatal_errors and problems:
            raise PluginError("plugins failed to load: " + "; ".join(f"{p.name}: {p.error}" for p in problems))

    # ---------------------------------------------------------------------------------------------

    def _load_entry_points(self) -> None:
        # On a name clash the bundled plugin (distribution "ektp") wins and the other is reported.
        entry_points = metadata.entry_points(group=ENTRY_POINT_GROUP)
        for ep in sorted(entry_points, key=lambda e: (e.name, (e.dist.name if e.dist else "") != "ektp")):
            dist = ep.dist.name if ep.dist else None
            version = ep.dist.version if ep.dist else None
            if ep.name in self._infos:
                first = self._infos[ep.name].distribution or self._infos[ep.name].source
                error = f"the plugin name {ep.name!r} is already used by {first}; this one was not loaded"
                log.error("plugin %s from %s: %s", ep.name, dist, error)
                self._infos[f"{ep.name} ({dist})"] = PluginInfo(
                    ep.name, version, (), "entry point", dist, error, "failed"
                )
                continue
            if ep.name in self.block:
                self._infos[ep.name] = PluginInfo(ep.name, version, (), "entry point", dist, None, "blocked")
                continue
            if self.allow is not None and ep.name not in self.allow:
                self._infos[ep.name] = PluginInfo(ep.name, version, (), "entry point", dist, None, "not allowed")
                continue
            try:
                plugin = ep.load()
                self._register(plugin, ep.name, source="entry point", version=version, dist=dist)
            except Exception as exc:  # a broken plugin must never take the host down
                error = f"{type(exc).__name__}: {exc}"
                log.error("plugin %s (%s) failed to load: %s", ep.name, ep.value, error)
                self._infos[ep.name] = PluginInfo(ep.name, version, (), "entry point", dist, error, "failed")

    def _register(self, plugin: Any, name: str, *, source: str, version: str | None, dist: str | None) -> None:
        try:
            self.pm.register(plugin, name=name)
        except Exception:
            # Registering runs the plugin's historic hooks (ektp_add_hookspecs); one that raised would
            # otherwise leave the plugin half registered.
            if self.pm.get_plugin(name) is not None:
                self.pm.unregister(name=name)
            raise
        hooks = tuple(sorted(h.name for h in (self.pm.get_hookcallers(plugin) or [])))
        self._infos[name] = PluginInfo(name, version, hooks, source, dist)
        self._registries.clear()  # a new plugin may add to them
        self._tables = None

    def register(self, plugin: object, name: str) -> None:
        """Add a plugin object at run time (tests, embedding applications)."""
        self._register(plugin, name, source="registered", version=None, dist=None)
        self._add_catalogues(only=name)

    def _add_catalogues(self, only: str | None = None) -> None:
        """Add the loaded plugins' message catalogues (``ektp_declare_message_catalogues``) to the process's."""
        for call in self.hook.each_plugin("ektp_declare_message_catalogues"):
            if only is not None and call.plugin != only:
                continue
            try:
                folders: list[Path] = []
                call(folders=folders)
                # Each host asks again, but a folder is read (and checked) once per process.
                known = set(messages.catalogue_folders())
                folders = [Path(f) for f in folders if Path(f) not in known]
                messages.Catalogues(folders)  # a broken catalogue is refused before it is shared
                for folder in folders:
                    messages.add_folder(folder)
            except Exception as exc:
                self._failed(call.plugin, f"{type(exc).__name__} in ektp_declare_message_catalogues: {exc}")

    def unregister(self, name: str) -> None:
        """Remove a plugin added with :meth:`register`."""
        self.pm.unregister(name=name)
        self._infos.pop(name, None)
        self._registries.clear()
        self._tables = None

    @property
    def hook(self) -> HookRelay:
        """The hook relay: ``host.hook.ektp_validate_enrolment(...)``, and ``host.hook.each_plugin(name)``."""
        return self._hook

    def plugins(self, *, include_inactive: bool = False) -> list[PluginInfo]:
        """Loaded plugins (and, with ``include_inactive``, blocked, not allowed and failed ones)."""
        infos = sorted(self._infos.values(), key=lambda i: (i.source != "essential", i.name))
        return [i for i in infos if include_inactive or i.status in ("loaded", "failed")]

    def failures(self) -> dict[str, str]:
        """Plugins that failed to load, with their errors."""
        return {i.name: i.error or "" for i in self._infos.values() if i.status == "failed"}

    @overload
    def registry(self, kind: RegistryKind[T]) -> Registry[T]: ...

    @overload
    def registry(self, kind: str) -> Registry[Any]: ...

    def registry(self, kind: RegistryKind[Any] | str) -> Registry[Any]:
        """The registry of one kind, filled by every plugin's registration hook for it.

        ``kind`` is a :class:`~ektp_core.registry.RegistryKind` (the core's are in
        :mod:`ektp_core.hookspecs`, a plugin may declare its own), or the name of one of the core's
        (:data:`REGISTRIES`). The hook is called through pluggy one plugin at a time, so the registry
        knows who added what, and a plugin whose registration hook raises is reported (marked failed)
        without stopping the others. The registry is built once and kept until a plugin is registered
        or unregistered.
        """
        if isinstance(kind, str):
            if kind not in REGISTRIES:
                raise PluginError(f"unknown registry {kind!r}; known: {', '.join(REGISTRIES)}")
            kind = REGISTRIES[kind]
        registry = self._registries.get(kind.hook)
        if registry is None:
            registry = Registry(kind.label)
            for call in self.hook.each_plugin(kind.hook):
                registry.current_plugin = call.plugin
                try:
                    call(registry=registry)
                except PluginError:
                    raise
                except Exception as exc:
                    self._failed(call.plugin, f"{type(exc).__name__} in {kind.hook}: {exc}")
            self._registries[kind.hook] = registry
        return registry

    def profile_tables(self) -> ProfileTables:
        """The profile tables the loaded plugins declare (``ektp_declare_profile_tables``), the core's
        included, asked one plugin at a time like a registry and kept until a plugin is registered or
        unregistered. A plugin whose declaration raises is reported (marked failed); its tables are
        then unknown, so a profile that uses them is refused."""
        if self._tables is None:
            tables = ProfileTables()
            for call in self.hook.each_plugin("ektp_declare_profile_tables"):
                tables.current_plugin = call.plugin
                try:
                    call(tables=tables)
                except PluginError:
                    raise
                except Exception as exc:
                    self._failed(call.plugin, f"{type(exc).__name__} in ektp_declare_profile_tables: {exc}")
            self._tables = tables
        return self._tables

    def _failed(self, plugin: str, error: str) -> None:
        log.error("plugin %s failed: %s", plugin, error)
        old = self._infos.get(plugin)
        if old is not None:
            self._infos[plugin] = attrs.evolve(old, error=error, status="failed")

    # The core's registries, typed.

    @property
    def profiles(self) -> Registry[ProfileSource]:
        """Ready profiles (``ektp_register_profiles``): name -> a TOML file."""
        return self.registry(hookspecs.PROFILES)

    @property
    def printers(self) -> Registry[PrinterFactory]:
        """Card-printer drivers (``ektp_register_printers``)."""
        return self.registry(hookspecs.PRINTERS)

    @property
    def scanners(self) -> Registry[ScannerFactory]:
        """Biometric scanner drivers (``ektp_register_scanners``)."""
        return self.registry(hookspecs.SCANNERS)

    @property
    def region_rules(self) -> Registry[RegionRulesFactory]:
        """Region rules (``ektp_register_region_rules``)."""
        return self.registry(hookspecs.REGION_RULES)

    @property
    def verifiers(self) -> Registry[VerifierFactory]:
        """Adapters to a central system (``ektp_register_verifiers``)."""
        return self.registry(hookspecs.VERIFIERS)

    @property
    def matchers(self) -> Registry[MatcherFactory]:
        """Biometric matchers (``ektp_register_matchers``)."""
        return self.registry(hookspecs.MATCHERS)


def _flag(variable: str) -> bool:
    """True when the environment variable says yes (1, true, yes, on)."""
    return os.environ.get(variable, "").strip().lower() in ("1", "true", "yes", "on")
