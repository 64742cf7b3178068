"""Helpers for the region tests: bundled profiles parsed without a database, rules built from them."""

from __future__ import annotations

import tomllib
from typing import Any

from ektp_core.config import Profile, parse_profile
from ektp_core.devices.region_rules import RegionRules
from ektp_core.lifecycle.routing import load_rules
from ektp_core.plugins import PluginHost

_HOST = PluginHost()


def bundled_text(name: str) -> str:
    """The TOML text of a registered profile."""
    text: str = _HOST.registry("profiles").get(name).read_text("utf-8")
    return text


def profile(name: str, *replacements: tuple[str, str]) -> Profile:
    """A bundled profile, parsed, after plain-text replacements (each must apply)."""
    text = bundled_text(name)
    for old, new in replacements:
        assert old in text, old
        text = text.replace(old, new, 1)
    return parse_profile(tomllib.loads(text), f"{name}.toml")


def rules(name: str, *replacements: tuple[str, str]) -> RegionRules:
    """The checked rules of a bundled profile."""
    return load_rules(profile(name, *replacements), _HOST)


def from_text(text: str) -> Profile:
    """A profile from TOML text."""
    data: dict[str, Any] = tomllib.loads(text)
    return parse_profile(data, "test.toml")


def host() -> PluginHost:
    """A plugin host shared by the pure tests (no deployment, nothing registered by tests)."""
    return _HOST
