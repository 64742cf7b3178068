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
from typing import Any

import attrs
import pluggy

from ektp_core import hookspecs
from ektp_core.errors import PluginError
from ektp_core.registry import Registry

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "ektp"
TRACE_ENV = "EKTP_TRACE_HOOKS"
#: Set to 1 to load no entry-point plugin at all (the core alone, plus plugins registered by code).
NO_AUTOLOAD_ENV = "EKTP_DISABLE_PLUGIN_AUTOLOAD"
#: Plugins that are part of the core and cannot be blocked.
ESSENTIAL = ("ektp_core.builtin",)

#: The registration hooks and the registry kind each one fills.
REGISTRIES = {
    "profiles": "ektp_register_profiles",
    "printers": "ektp_register_printers",
    "scanners": "ektp_register_scanners",
    "region_rules": "ektp_register_region_rules",
    "verifiers": "ektp_register_verifiers",
    "matchers": "ektp_register_matchers",
    "blueprints": "ektp_register_blueprints",
}


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
        self.allow = set(allow) if allow else None
        self.block = set(block)
        self.required = set(required)
        self._infos: dict[str, PluginInfo] = {}
        self._registries: dict[str, Registry[Any]] = {}
        if _flag(TRACE_ENV):
            self.pm.trace.root.setwriter(sys.stderr.write)
            self.pm.enable_tracing()
        for name in ESSENTIAL:
            module = __import__(name, fromlist=["_"])
            self._register(module, name, source="essential", version=None, dist=None)
        if load_entry_points and not _flag(NO_AUTOLOAD_ENV):
            self._load_entry_points()
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
        self.pm.register(plugin, name=name)
        hooks = tuple(sorted(h.name for h in (self.pm.get_hookcallers(plugin) or [])))
        self._infos[name] = PluginInfo(name, version, hooks, source, dist)
        self._registries.clear()  # a new plugin may add to them

    def register(self, plugin: object, name: str) -> None:
        """Add a plugin object at run time (tests, embedding applications)."""
        self._register(plugin, name, source="registered", version=None, dist=None)

    def unregister(self, name: str) -> None:
        """Remove a plugin added with :meth:`register`."""
        self.pm.unregister(name=name)
        self._infos.pop(name, None)
        self._registries.clear()

    @property
    def hook(self) -> Any:
        """The hook relay: ``host.hook.ektp_validate_enrolment(...)``."""
        return self.pm.hook

    def plugins(self, *, include_inactive: bool = False) -> list[PluginInfo]:
        """Loaded plugins (and, with ``include_inactive``, blocked, not allowed and failed ones)."""
        infos = sorted(self._infos.values(), key=lambda i: (i.source != "essential", i.name))
        return [i for i in infos if include_inactive or i.status in ("loaded", "failed")]

    def failures(self) -> dict[str, str]:
        """Plugins that failed to load, with their errors."""
        return {i.name: i.error or "" for i in self._infos.values() if i.status == "failed"}

    def registry(self, kind: str) -> Registry[Any]:
        """The registry of one kind (see :data:`REGISTRIES`), filled by every plugin's registration hook.

        Each plugin is called on its own, so the registry knows who added what, and a plugin whose
        registration hook raises is reported without stopping the others.
        """
        if kind not in REGISTRIES:
            raise PluginError(f"unknown registry {kind!r}; known: {', '.join(REGISTRIES)}")
        if kind not in self._registries:
            registry: Registry[Any] = Registry(kind.replace("_", " ").rstrip("s"))
            caller = getattr(self.pm.hook, REGISTRIES[kind])
            for impl in reversed(caller.get_hookimpls()):
                registry.current_plugin = impl.plugin_name
                # Called one plugin at a time (to know who added what), so trace it ourselves.
                self.pm.trace.root.get("hook")(REGISTRIES[kind], {"plugin": impl.plugin_name})
                try:
                    impl.function(*[{"registry": registry}[a] for a in impl.argnames])
                except PluginError:
                    raise
                except Exception as exc:
                    error = f"{type(exc).__name__} in {REGISTRIES[kind]}: {exc}"
                    log.error("plugin %s failed: %s", impl.plugin_name, error)
                    old = self._infos.get(impl.plugin_name)
                    if old is not None:
                        self._infos[impl.plugin_name] = attrs.evolve(old, error=error, status="failed")
            self._registries[kind] = registry
        return self._registries[kind]


def _flag(variable: str) -> bool:
    """True when the environment variable says yes (1, true, yes, on)."""
    return os.environ.get(variable, "").strip().lower() in ("1", "true", "yes", "on")
