"""The devices a profile declares, and building each one through its registry.

A profile names each printer and scanner (``[[devices.printers]]``, ``[[devices.scanners]]``): the
driver (a name in the registry), the site it stands at and the driver's options. Option values that
are paths (``folder``, ``emulator_state``) are read relative to the deployment folder. The verifier
and the matcher come from ``[verification]``. Every one is built by :func:`ektp_core.devices.factories.build`,
so every kind follows one factory convention and a refused option gives one shape of error.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import attrs

from ektp_core.config import Profile
from ektp_core.config.core_tables import DEVICES, VERIFICATION
from ektp_core.devices import factories
from ektp_core.devices.matchers import Matcher, MatcherSettings
from ektp_core.devices.printers import CardPrinter
from ektp_core.devices.scanners import BiometricScanner
from ektp_core.devices.verifiers import Verifier
from ektp_core.errors import ConfigError
from ektp_core.registry import Registry

T = TypeVar("T")

#: Options that name a folder; a relative one is inside the deployment folder.
PATH_OPTIONS = ("folder", "emulator_state")


@attrs.frozen(kw_only=True)
class PrinterSetting:
    """One printer (or scanner) of the profile."""

    name: str
    driver: str
    site: str
    options: dict[str, Any] = attrs.field(factory=dict)
    #: Where the profile declares it (``devices.printers[0]``), for error messages.
    key: str = "devices.printers"
    #: The profile it comes from: handed to a driver factory that asks for ``profile``.
    profile: Profile | None = attrs.field(default=None, repr=False, eq=False)


#: A scanner of the profile has the same keys as a printer.
ScannerSetting = PrinterSetting


def printer_settings(profile: Any) -> list[PrinterSetting]:
    """The printers in the profile's ``[devices]`` section, checked."""
    return device_settings(profile, "printers")


def scanner_settings(profile: Any) -> list[ScannerSetting]:
    """The scanners in the profile's ``[devices]`` section, checked."""
    return device_settings(profile, "scanners")


def device_settings(profile: Any, kind: str) -> list[PrinterSetting]:
    """The ``[[devices.<kind>]]`` tables of a profile (``printers`` or ``scanners``), checked: the keys
    as declared (:data:`ektp_core.config.core_tables.DEVICES`), each site one of the profile's, each
    name used once."""
    entries = DEVICES.read(profile)[kind]
    out: list[PrinterSetting] = []
    site_codes = {s.code for s in profile.sites}
    for index, item in enumerate(entries):
        where = f"devices.{kind}[{index}]"
        if item["site"] not in site_codes:
            raise ConfigError(profile.source, f"{where}.site", f"one of the sites {sorted(site_codes)}", item["site"])
        if any(p.name == item["name"] for p in out):
            raise ConfigError(profile.source, f"{where}.name", f"a name no other of the {kind} uses", item["name"])
        out.append(
            PrinterSetting(
                name=item["name"],
                driver=item["driver"],
                site=item["site"],
                options=item["options"],
                key=where,
                profile=profile,
            )
        )
    return out


def printer_sites(profile: Profile) -> frozenset[str]:
    """The codes of the sites where the profile declares at least one printer."""
    return frozenset(p.site for p in printer_settings(profile))


def printers_at(deployment: Any, site_code: str | None = None) -> list[PrinterSetting]:
    """The printers standing at a site (default: this node's site)."""
    site = site_code or deployment.site_code
    return [p for p in printer_settings(deployment.profile) if p.site == site]


def _build(
    registry: Registry[Any],
    kind: factories.FactoryKind,
    *,
    driver: str,
    name: str,
    options: Any,
    profile: Profile | None,
    key: str,
) -> Any:
    entry = registry.entry(driver)
    source = profile.source if profile is not None else "-"
    return factories.build(
        entry.obj,
        kind,
        driver=driver,
        plugin=entry.plugin,
        name=name,
        options=options,
        profile=profile,
        source=source,
        key=key,
    )


def _device_options(setting: PrinterSetting, root: Path) -> dict[str, Any]:
    options = dict(setting.options)
    for key in PATH_OPTIONS:
        if isinstance(options.get(key), str) and not Path(options[key]).is_absolute():
            options[key] = str(root / options[key])
    return options


def make_printer(setting: PrinterSetting, host: Any, root: Path) -> CardPrinter:
    """Build (not open) the driver for a printer setting (``root``: the deployment folder)."""
    printer: CardPrinter = _build(
        host.printers,
        factories.PRINTER,
        driver=setting.driver,
        name=setting.name,
        options=_device_options(setting, root),
        profile=setting.profile,
        key=f"{setting.key}.options",
    )
    return printer


def make_scanner(setting: ScannerSetting, host: Any, root: Path) -> BiometricScanner:
    """Build (not open) the driver for a scanner setting."""
    scanner: BiometricScanner = _build(
        host.scanners,
        factories.SCANNER,
        driver=setting.driver,
        name=setting.name,
        options=_device_options(setting, root),
        profile=setting.profile,
        key=f"{setting.key}.options",
    )
    return scanner


def make_verifier(profile: Profile, host: Any) -> Verifier:
    """Build the verifier ``[verification] verifier`` names, with the table's other keys as options."""
    found = VERIFICATION.read(profile)
    verifier: Verifier = _build(
        host.verifiers,
        factories.VERIFIER,
        driver=found["verifier"],
        name=found["verifier"],
        options=found.extra,
        profile=profile,
        key="verification",
    )
    return verifier


def make_matcher(settings: MatcherSettings, host: Any, *, profile: Profile | None, source: str = "-") -> Matcher:
    """Build the matcher ``settings`` name (``[verification.matcher]``) with its options; ``source``
    names the file the settings came from when there is no profile (the central-system emulator's)."""
    entry = host.matchers.entry(settings.name)
    matcher: Matcher = factories.build(
        entry.obj,
        factories.MATCHER,
        driver=settings.name,
        plugin=entry.plugin,
        name=settings.name,
        options=settings.options,
        profile=profile,
        source=profile.source if profile is not None else source,
        key="verification.matcher",
    )
    return matcher


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
