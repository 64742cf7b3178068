"""The devices a profile declares (``[[devices.printers]]``) and opening them through the registry.

A profile names each device, the driver (a name in the printers registry), the site it stands at
and the driver's options. Option values that are paths (``folder``, ``emulator_state``) are read
relative to the deployment folder.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import attrs

from ektp_core.config import Profile
from ektp_core.devices.printers import CardPrinter
from ektp_core.errors import ConfigError, PluginError

#: Options that name a folder; a relative one is inside the deployment folder.
PATH_OPTIONS = ("folder", "emulator_state")


@attrs.frozen(kw_only=True)
class PrinterSetting:
    """One printer of the profile."""

    name: str
    driver: str
    site: str
    options: dict[str, Any] = attrs.field(factory=dict)


#: A scanner of the profile has the same keys as a printer.
ScannerSetting = PrinterSetting


def printer_settings(profile: Any) -> list[PrinterSetting]:
    """The printers in the profile's ``[devices]`` section, checked."""
    return device_settings(profile, "printers")


def scanner_settings(profile: Any) -> list[ScannerSetting]:
    """The scanners in the profile's ``[devices]`` section, checked."""
    return device_settings(profile, "scanners")


def device_settings(profile: Any, kind: str) -> list[PrinterSetting]:
    """The ``[[devices.<kind>]]`` tables of a profile (``printers`` or ``scanners``), checked."""
    devices = profile.raw.get("devices", {})
    if not isinstance(devices, dict):
        raise ConfigError(profile.source, "devices", "a table")
    unknown = set(devices) - {"printers", "scanners"}
    if unknown:
        raise ConfigError(profile.source, f"devices.{sorted(unknown)[0]}", "no such key (printers, scanners)")
    raw = devices.get(kind, [])
    if not isinstance(raw, list):
        raise ConfigError(profile.source, f"devices.{kind}", f"a list of [[devices.{kind}]] tables", raw)
    out: list[PrinterSetting] = []
    site_codes = {s.code for s in profile.sites}
    for index, item in enumerate(raw):
        where = f"devices.{kind}[{index}]"
        if not isinstance(item, dict):
            raise ConfigError(profile.source, where, "a table", item)
        for key in item:
            if key not in ("name", "driver", "site", "options"):
                raise ConfigError(profile.source, f"{where}.{key}", "no such key (name, driver, site, options)")
        for key in ("name", "driver", "site"):
            if not isinstance(item.get(key), str) or not item[key]:
                raise ConfigError(profile.source, f"{where}.{key}", "a non-empty string", item.get(key))
        if item["site"] not in site_codes:
            raise ConfigError(profile.source, f"{where}.site", f"one of the sites {sorted(site_codes)}", item["site"])
        options = item.get("options", {})
        if not isinstance(options, dict):
            raise ConfigError(profile.source, f"{where}.options", "a table", options)
        if any(p.name == item["name"] for p in out):
            raise ConfigError(profile.source, f"{where}.name", f"a name no other of the {kind} uses", item["name"])
        out.append(PrinterSetting(name=item["name"], driver=item["driver"], site=item["site"], options=dict(options)))
    return out


def printer_sites(profile: Profile) -> frozenset[str]:
    """The codes of the sites where the profile declares at least one printer."""
    return frozenset(p.site for p in printer_settings(profile))


def printers_at(deployment: Any, site_code: str | None = None) -> list[PrinterSetting]:
    """The printers standing at a site (default: this node's site)."""
    site = site_code or deployment.site_code
    return [p for p in printer_settings(deployment.profile) if p.site == site]


def make_scanner(setting: ScannerSetting, host: Any, root: Path) -> Any:
    """Build (not open) the driver for a scanner setting."""
    return _make(setting, host, root, "scanners")


def make_printer(setting: PrinterSetting, host: Any, root: Path) -> CardPrinter:
    """Build (not open) the driver for a printer setting."""
    printer: CardPrinter = _make(setting, host, root, "printers")
    return printer


def _make(setting: PrinterSetting, host: Any, root: Path, kind: str) -> Any:
    factory = host.registry(kind).get(setting.driver)
    options = dict(setting.options)
    for key in PATH_OPTIONS:
        if isinstance(options.get(key), str) and not Path(options[key]).is_absolute():
            options[key] = str(root / options[key])
    try:
        return factory(name=setting.name, options=options)
    except (TypeError, ValueError, KeyError) as exc:
        raise PluginError(f"{kind[:-1]} {setting.name} (driver {setting.driver}): bad options: {exc}") from None


def choose_printer(
    deployment: Any, host: Any, *, name: str | None = None, site_code: str | None = None
) -> tuple[PrinterSetting, CardPrinter]:
    """The named printer, or the first printer at the site; a clear error when there is none."""
    settings = printer_settings(deployment.profile)
    site = site_code or deployment.site_code
    if name is not None:
        matches = [p for p in settings if p.name == name]
        if not matches:
            raise ConfigError(
                deployment.profile.source,
                "devices.printers",
                f"a printer named {name!r} (configured: {[p.name for p in settings]})",
            )
        setting = matches[0]
    else:
        here = [p for p in settings if p.site == site]
        if not here:
            raise ConfigError(
                deployment.profile.source, "devices.printers", f"a printer at site {site} (none is configured there)"
            )
        setting = here[0]
    return setting, make_printer(setting, host, deployment.root)
