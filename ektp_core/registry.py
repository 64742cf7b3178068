"""Named registries that plugins fill at start-up and profiles pick from by name."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Generic, TypeVar

import attrs

from ektp_core.errors import PluginError

T = TypeVar("T")


@attrs.frozen
class Entry(Generic[T]):
    """One registered thing: its name, the object, and the plugin that added it."""

    name: str
    obj: T
    plugin: str
    description: str = ""


@attrs.frozen
class RegistryKind(Generic[T]):
    """One kind of registry: its name, the registration hook that fills it, and what one entry is called.

    Declared next to the hook (the core's in :mod:`ektp_core.hookspecs`, the web plugin's in its own
    hookspecs), so ``host.registry(PRINTERS)`` is typed: a ``Registry[PrinterFactory]``.
    """

    #: ``printers``: how ``host.registry("printers")`` names it.
    name: str
    #: ``ektp_register_printers``: the hook that fills it, called with ``registry=``.
    hook: str
    #: ``printer``: one entry, in messages (``no printer named 'x'``).
    label: str


class Registry(Generic[T]):
    """A name -> object table for one kind of thing (printers, scanners, region rules...).

    Plugins call :meth:`add` from their registration hook; a profile then asks for a name with
    :meth:`get`. Nothing becomes active just because it is registered.
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, Entry[T]] = {}
        #: Set by the plugin host while it calls one plugin's registration hook.
        self.current_plugin = "?"

    def __repr__(self) -> str:
        # What EKTP_TRACE_HOOKS shows for a registration call: which registry, filled by which plugin.
        return f"<{self.kind} registry, {len(self)} entries, now asking plugin {self.current_plugin}>"

    def add(self, name: str, obj: T, *, description: str = "") -> None:
        """Register ``obj`` under ``name``; a second plugin using the same name is an error."""
        if not name or not name.replace("-", "").replace("_", "").replace(".", "").isalnum():
            raise PluginError(
                f"{self.kind} name {name!r} from plugin {self.current_plugin}: use letters, digits, - _ ."
            )
        if name in self._entries:
            first = self._entries[name].plugin
            raise PluginError(f"{self.kind} {name!r} is registered twice: by {first} and by {self.current_plugin}")
        self._entries[name] = Entry(name, obj, self.current_plugin, description)

    def get(self, name: str) -> T:
        """The object registered as ``name``; the error lists what is available."""
        return self.entry(name).obj

    def entry(self, name: str) -> Entry[T]:
        """The full entry (with the plugin that registered it); the error lists what is available."""
        try:
            return self._entries[name]
        except KeyError:
            known = ", ".join(sorted(self._entries)) or "none"
            raise PluginError(f"no {self.kind} named {name!r} (registered: {known})") from None

    def names(self) -> list[str]:
        """Registered names, sorted."""
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[Entry[T]]:
        return iter(sorted(self._entries.values(), key=lambda e: e.name))

    def __len__(self) -> int:
        return len(self._entries)
