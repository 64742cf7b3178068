"""Reading TOML tables with checks: every key against what it should be, with its path in the file."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ektp_core.errors import ConfigError


class TableReader:
    """One TOML table of a profile or deployment file, read key by key: each value is checked against
    what it should be, and a mistake names the file, the key's full path and what was expected."""

    def __init__(self, path: str, data: dict[str, Any], prefix: str = "") -> None:
        self.path, self.data, self.prefix = path, data, prefix
        self.seen: set[str] = set()

    def _key(self, key: str) -> str:
        return f"{self.prefix}{key}"

    def get(self, key: str, kind: type | tuple[type, ...], expected: str, default: Any = ...) -> Any:
        self.seen.add(key)
        if key not in self.data:
            if default is ...:
                raise ConfigError(self.path, self._key(key), expected + " (the key is missing)")
            return default
        value = self.data[key]
        # bool is an int in Python; never accept true where a number is wanted
        if not isinstance(value, kind) or (isinstance(value, bool) and bool not in _as_tuple(kind)):
            raise ConfigError(self.path, self._key(key), expected, value)
        return value

    def table(self, key: str, *, required: bool = False) -> TableReader:
        raw = self.get(key, dict, "a table", default=... if required else {})
        return TableReader(self.path, raw, f"{self._key(key)}.")

    def strings(self, key: str, default: Iterable[str] = ()) -> tuple[str, ...]:
        value = self.get(key, list, "a list of strings", default=list(default))
        if not all(isinstance(v, str) for v in value):
            raise ConfigError(self.path, self._key(key), "a list of strings", value)
        return tuple(value)

    def no_unknown(self, allowed: Iterable[str] | None = None) -> None:
        known = set(allowed) if allowed is not None else self.seen
        for key in self.data:
            if key not in known:
                raise ConfigError(self.path, self._key(key), "no such key (check the spelling; see docs/profiles)")


def _as_tuple(kind: type | tuple[type, ...]) -> tuple[type, ...]:
    return kind if isinstance(kind, tuple) else (kind,)
