"""Checking a device driver's ``options`` table from a profile: one set of rules for every driver.

Values come from TOML, so numbers may also be written as strings ("0x0F49"); anything unexpected is
a ``ValueError`` naming the option, which the devices module turns into a clear configuration error.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from typing import Any


class DriverOptions:
    """A driver's options, refused as a whole when one is unknown."""

    def __init__(self, options: dict[str, Any], known: Iterable[str]) -> None:
        self.known = tuple(known)
        unknown = sorted(set(options) - set(self.known))
        if unknown:
            raise ValueError(f"unknown option {unknown[0]!r} (known: {', '.join(self.known)})")
        self.options = options

    def string(self, key: str) -> str | None:
        """A text option, or None when absent."""
        value = self.options.get(key)
        if value is not None and not isinstance(value, str):
            raise ValueError(f"option {key} must be a string, not {value!r}")
        return value

    def flag(self, key: str, default: bool) -> bool:
        """A true/false option."""
        value = self.options.get(key, default)
        if not isinstance(value, bool):
            raise ValueError(f"option {key} must be true or false, not {value!r}")
        return value

    def number(self, key: str, default: int | None = None, *, positive: bool = False) -> int | None:
        """A whole number ("0x0F49" and "3913" accepted too), or ``default`` when absent."""
        value = self.options.get(key, default)
        if value is None:
            return None
        if isinstance(value, str):
            with contextlib.suppress(ValueError):
                value = int(value, 0)
        if not isinstance(value, int) or isinstance(value, bool) or (positive and value <= 0):
            kind = "a positive whole number" if positive else "a whole number"
            raise ValueError(f"option {key} must be {kind}, not {value!r}")
        return value


__all__ = ["DriverOptions"]
