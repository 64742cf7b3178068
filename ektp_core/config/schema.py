"""Profile tables as declarations: every key with its type, default, description and check.

The core and every plugin declare the profile tables they read, through the hook
``ektp_declare_profile_tables`` (the core's own in its essential plugin, from
:mod:`ektp_core.config.core_tables`). A profile is checked against every loaded plugin's declarations
when it loads, and each owner reads its values through its own declaration (:meth:`Table.read`):
either way a mistake is the same :class:`~ektp_core.errors.ConfigError`, naming the file, the key's
full path and what was expected.

A third-party plugin gets the same for its own table::

    FOLDER = Table(
        key="acme",
        description="Where the ACME printer drops its proofs.",
        settings=(Setting(key="folder", types=str, expected="a folder", default="proofs",
                          description="The folder, relative to the deployment."),),
    )

    @hookimpl
    def ektp_declare_profile_tables(tables):
        tables.add(FOLDER)

    folder = FOLDER.read(deployment.profile)["folder"]
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, Protocol

import attrs

from ektp_core.errors import ConfigError, PluginError


class _Required:
    def __repr__(self) -> str:
        return "REQUIRED"


#: The default of a key the profile must give.
REQUIRED: Any = _Required()
#: The message for a key no declaration knows, as for every file ektp reads.
UNKNOWN_KEY = "no such key (check the spelling; see docs/profiles)"


class UndeclaredKey(ConfigError):
    """A table or key that no declaration at hand knows (a plugin that is not loaded may)."""


class ProfileLike(Protocol):
    """What :meth:`Table.read` needs of a profile: its parsed TOML and where it came from."""

    @property
    def raw(self) -> dict[str, Any]:
        """The profile's parsed TOML."""
        ...

    @property
    def source(self) -> str:
        """The profile's file (or a description of where it came from)."""
        ...


def _types(value: type | tuple[type, ...]) -> tuple[type, ...]:
    return value if isinstance(value, tuple) else (value,)


@attrs.frozen(kw_only=True)
class Setting:
    """One key of a profile table."""

    key: str
    #: The TOML types accepted (``str``, ``int``, ``float``, ``bool``, ``list``, ``dict``); ``True``
    #: is never taken for a number.
    types: tuple[type, ...] = attrs.field(converter=_types)
    #: What an error says was expected: ``a whole number 0-100``.
    expected: str
    #: One or two sentences for people (docs/profiles.md lists every key).
    description: str
    #: The value when the key is absent (:data:`REQUIRED`: it must be given).
    default: Any = None
    #: A further check of a value of the right type; False refuses it with ``expected``.
    check: Callable[[Any], bool] | None = None
    #: For a list: the type every item must have.
    items: type | None = None
    #: The default as the documentation shows it, when it depends on other keys.
    shown_default: str | None = None

    @property
    def required(self) -> bool:
        """True when the profile must give the key."""
        return self.default is REQUIRED

    def read(self, data: Mapping[str, Any], source: str, path: str) -> Any:
        """The value of this key in ``data`` (the table it belongs to), checked; ``path`` is its full key."""
        if self.key not in data:
            if self.required:
                raise ConfigError(source, path, self.expected + " (the key is missing)")
            # a fresh copy of a mutable default, so no reader changes another's
            return type(self.default)(self.default) if isinstance(self.default, dict | list) else self.default
        value: Any = data[self.key]
        # bool is an int in Python; never accept true where a number is wanted
        right_type = isinstance(value, self.types) and not (isinstance(value, bool) and bool not in self.types)
        if not right_type:
            raise ConfigError(source, path, self.expected, value)
        if self.items is not None and not all(isinstance(item, self.items) for item in value):
            raise ConfigError(source, path, self.expected, value)
        if self.check is not None and not self.check(value):
            raise ConfigError(source, path, self.expected, value)
        return value


@attrs.frozen
class Values(Mapping[str, Any]):
    """The values read from one table: each declared key (its default when absent), each sub-table's
    :class:`Values` (a list of them for ``[[arrays]]``), and the keys an open table holds besides."""

    data: Mapping[str, Any]
    #: Keys of an open table that no setting declares (a verifier's options, the rules' settings).
    extra: Mapping[str, Any] = attrs.field(factory=dict)
    #: The keys the profile wrote (the others hold their defaults).
    given: frozenset[str] = frozenset()

    def __getitem__(self, key: str) -> Any:
        return self.data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.data)

    def __len__(self) -> int:
        return len(self.data)


@attrs.frozen(kw_only=True)
class Table:
    """A table of the profile: its keys (:class:`Setting`) and sub-tables, declared by whoever reads it."""

    #: Its key: ``capture`` at the top of the profile, ``finger`` inside ``[capture]``.
    key: str
    description: str
    settings: tuple[Setting, ...] = ()
    tables: tuple[Table, ...] = ()
    #: ``[[key]]``: a list of tables, each read with these settings.
    array: bool = False
    #: An open table: what its other keys are (they are kept in ``Values.extra``); None: other keys
    #: are errors.
    extra: str | None = None
    #: Several plugins declare keys in it (each declaration must say so); reading one declaration
    #: leaves the others' keys to the host's check.
    shared: bool = False
    #: The profile must have it.
    required: bool = False

    def __attrs_post_init__(self) -> None:
        keys = [s.key for s in self.settings] + [t.key for t in self.tables]
        twice = sorted({k for k in keys if keys.count(k) > 1})
        if twice:
            raise PluginError(f"profile table [{self.key}] declares {', '.join(twice)} twice")

    def setting(self, key: str) -> Setting:
        """The declared setting ``key``."""
        for setting in self.settings:
            if setting.key == key:
                return setting
        raise KeyError(key)

    def read(self, profile: ProfileLike | None) -> Values:
        """This top-level table's values in ``profile`` (all defaults for None or an absent table)."""
        if profile is None:
            return self._read_one({}, "-", self.key, strict=not self.shared)
        found = self.read_data(profile.raw.get(self.key), profile.source, strict=not self.shared)
        assert isinstance(found, Values), "an array table is read with read_data"
        return found

    def read_data(
        self, raw: Any, source: str, path: str | None = None, *, strict: bool = True
    ) -> Values | list[Values]:
        """Check and read ``raw`` (the table as parsed from TOML, None when absent) found at ``path``
        (default: the table's key) in ``source``. ``strict=False`` leaves keys it does not declare."""
        path = path or self.key
        if raw is None:
            if self.required:
                raise ConfigError(source, path, "a table (the key is missing)")
            return [] if self.array else self._read_one({}, source, path, strict=strict)
        if self.array:
            if not isinstance(raw, list):
                raise ConfigError(source, path, f"a list of [[{path}]] tables", raw)
            items = []
            for index, item in enumerate(raw):
                if not isinstance(item, dict):
                    raise ConfigError(source, f"{path}[{index}]", "a table", item)
                items.append(self._read_one(item, source, f"{path}[{index}]", strict=strict))
            return items
        if not isinstance(raw, dict):
            raise ConfigError(source, path, "a table", raw)
        return self._read_one(raw, source, path, strict=strict)

    def _read_one(self, raw: Mapping[str, Any], source: str, path: str, *, strict: bool) -> Values:
        known = {s.key for s in self.settings} | {t.key for t in self.tables}
        if strict and self.extra is None:
            for key in raw:
                if key not in known:
                    raise UndeclaredKey(source, f"{path}.{key}", UNKNOWN_KEY)
        values: dict[str, Any] = {s.key: s.read(raw, source, f"{path}.{s.key}") for s in self.settings}
        for table in self.tables:
            values[table.key] = table.read_data(raw.get(table.key), source, f"{path}.{table.key}", strict=strict)
        extra = {k: v for k, v in raw.items() if k not in known}
        return Values(values, extra if self.extra is not None else {}, frozenset(k for k in raw if k in known))

    def merged(self, other: Table) -> Table:
        """This table with the settings and sub-tables of ``other`` (another plugin's part of it)."""
        return attrs.evolve(
            self,
            description=self.description or other.description,
            settings=self.settings + other.settings,
            tables=self.tables + other.tables,
            extra=self.extra or other.extra,
        )


@attrs.frozen
class DeclaredTable:
    """A top-level table as a plugin host knows it: every plugin's part merged, and who declared it."""

    table: Table
    #: The plugins that declared it, in the order they did.
    plugins: tuple[str, ...]


class ProfileTables:
    """The profile tables one plugin host knows, filled through ``ektp_declare_profile_tables``."""

    def __init__(self) -> None:
        self._declared: dict[str, DeclaredTable] = {}
        #: Set by the plugin host while it calls one plugin's implementation.
        self.current_plugin = "?"

    def __repr__(self) -> str:
        return f"<profile tables {', '.join(self._declared) or '(none)'}, now asking plugin {self.current_plugin}>"

    def add(self, table: Table) -> None:
        """Declare a top-level table; a table another plugin declared too must be ``shared`` by both."""
        if not isinstance(table, Table):
            raise PluginError(f"plugin {self.current_plugin} declared {table!r}, which is not a Table")
        known = self._declared.get(table.key)
        if known is None:
            self._declared[table.key] = DeclaredTable(table, (self.current_plugin,))
            return
        first = ", ".join(known.plugins)
        if not (table.shared and known.table.shared):
            raise PluginError(
                f"profile table [{table.key}] is declared by {first} and by {self.current_plugin}; "
                "both must declare it shared"
            )
        try:
            merged = known.table.merged(table)
        except PluginError as exc:
            raise PluginError(f"{exc} (declared by {first} and by {self.current_plugin})") from None
        self._declared[table.key] = DeclaredTable(merged, (*known.plugins, self.current_plugin))

    def __iter__(self) -> Iterator[DeclaredTable]:
        return iter(self._declared.values())

    def __contains__(self, key: object) -> bool:
        return key in self._declared

    def get(self, key: str) -> DeclaredTable | None:
        """The declared table ``key``, or None."""
        return self._declared.get(key)

    def check(self, data: Mapping[str, Any], source: str, *, loaded: Iterable[str] = ()) -> None:
        """Check a whole profile (its parsed TOML) against every declaration: each table present is
        read strictly, a required table must be there, and a table nobody declares is refused
        (``loaded``: the plugins asked, named in that error)."""
        for key, raw in data.items():
            declared = self._declared.get(key)
            if declared is None:
                plugins = ", ".join(loaded)
                raise UndeclaredKey(
                    source,
                    key,
                    f"{UNKNOWN_KEY[:-1]}, or load the plugin that reads [{key}]: "
                    + (f"none of the loaded plugins declares it ({plugins})" if plugins else "no plugin declares it")
                    + ")",
                )
            declared.table.read_data(raw, source, key)
        for declared in self._declared.values():
            if declared.table.required and declared.table.key not in data:
                raise ConfigError(source, declared.table.key, "a table (the key is missing)")
