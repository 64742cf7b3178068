"""Profiles: how a regency runs (its region, its sites, its rules, its plugins), validated on load."""

from __future__ import annotations

import functools
import tomllib
from pathlib import Path
from typing import Any, Protocol

import attrs

from ektp_core.config import core_tables
from ektp_core.config.schema import REQUIRED, ProfileTables, Table, UndeclaredKey, Values
from ektp_core.domain import regions
from ektp_core.domain.model import Site, SiteKind
from ektp_core.errors import ConfigError, InvalidValue


@attrs.frozen(kw_only=True)
class PluginSettings:
    """Which plugins a deployment may load."""

    #: Only these entry-point plugins load (empty: all installed ones).
    allow: tuple[str, ...] = ()
    block: tuple[str, ...] = ()
    #: Plugins that must load; a missing or broken one stops the deployment.
    required: tuple[str, ...] = ()
    #: Treat any plugin that fails to load as fatal.
    fatal_errors: bool = False


@attrs.frozen(kw_only=True)
class LifecycleSettings:
    """Rules of recording that a regency may need to tune."""

    eligibility_age: int = 17
    #: The two fingers written to the chip (disputed in practice, hence configurable).
    chip_fingers: tuple[str, str] = ("right_thumb", "right_index")
    #: Days a cancelled recording's biometrics are kept before ``ektp enrolment purge`` destroys them.
    cancelled_biometrics_days: int = 30
    #: Record the biometrics again for every replacement (instead of reusing the matched earlier ones).
    replacement_records_biometrics: bool = False


@attrs.frozen(kw_only=True)
class Profile:
    """A validated profile."""

    name: str
    title: str
    #: Kemendagri code of the regency or city (``PP.KK``).
    region_code: str
    region_name: str
    #: Code of the Dukcapil office's site (the profile chooses it; it has no Kemendagri code).
    dukcapil_code: str
    sites: tuple[Site, ...]
    plugins: PluginSettings
    lifecycle: LifecycleSettings
    #: The region rules' name and their own settings (checked by the rules plugin).
    rules: dict[str, Any]
    source: str
    raw: dict[str, Any] = attrs.field(repr=False, eq=False)

    def site(self, code: str) -> Site:
        """The site with this code; the error lists the known ones."""
        for site in self.sites:
            if site.code == code:
                return site
        raise ConfigError(self.source, "sites", f"a site with code {code!r} (known: {[s.code for s in self.sites]})")


#: The profile's top-level tables the core declares (plugins declare theirs through a hook).
PROFILE_KEYS = tuple(table.key for table in core_tables.TABLES)


class ProfileSource(Protocol):
    """A ready profile as ``ektp_register_profiles`` registers it: a TOML file (a :class:`pathlib.Path`
    or an ``importlib.resources`` traversable)."""

    def read_text(self, encoding: str) -> str:
        """The TOML text."""
        ...


def _generated_sites(found: Values, region_code: str, region_name: str, dukcapil_code: str) -> dict[str, Site]:
    """The sites ``[sites_from_regions]`` asks for, by code, in code order (the Dukcapil office first).

    Kecamatan and kelurahan/desa come from the Kemendagri list (codes and official names), so a
    profile never types them by hand; ``[[sites]]`` entries then add or override single sites.
    """
    out: dict[str, Site] = {}
    # Only the kinds whose sub-table the profile wrote are generated.
    settings = {kind: found[kind] for kind in ("dukcapil", "kecamatan", "kelurahan") if kind in found.given}
    if "dukcapil" in settings:
        office = settings["dukcapil"]
        out[dukcapil_code] = Site(
            code=dukcapil_code,
            name=office["name"] or f"Disdukcapil {region_name}",
            kind=SiteKind.DUKCAPIL,
            records=office["records"],
            prints=office["prints"],
            region_code=region_code,
        )
    if "kecamatan" not in settings and "kelurahan" not in settings:
        return out
    for district in regions.children(region_code):
        if "kecamatan" in settings:
            out[district.code] = Site(
                code=district.code,
                name=f"Kecamatan {district.name}",
                kind=SiteKind.KECAMATAN,
                records=settings["kecamatan"]["records"],
                prints=settings["kecamatan"]["prints"],
                region_code=district.code,
            )
        if "kelurahan" in settings:
            for village in regions.children(district.code):
                label = "Kelurahan" if village.type == "kelurahan" else "Desa"
                out[village.code] = Site(
                    code=village.code,
                    name=f"{label} {village.name}",
                    kind=SiteKind.KELURAHAN,
                    records=settings["kelurahan"]["records"],
                    prints=settings["kelurahan"]["prints"],
                    region_code=village.code,
                )
    return out


def _one(table: Table, data: dict[str, Any], source: str) -> Values:
    found = table.read_data(data.get(table.key), source)
    assert isinstance(found, Values)
    return found


def _site_value(entry: Values, key: str, fallback: Any, source: str, where: str) -> Any:
    """A key of a ``[[sites]]`` entry, else ``fallback`` (the generated site's value, or the default)."""
    if key in entry.given:
        return entry[key]
    if fallback is REQUIRED:
        raise ConfigError(source, f"{where}.{key}", core_tables.SITES.setting(key).expected + " (the key is missing)")
    return fallback


def _sites(data: dict[str, Any], source: str, generated: dict[str, Site]) -> list[Site]:
    sites: list[Site] = []
    entries = core_tables.SITES.read_data(data.get("sites"), source)
    assert isinstance(entries, list)
    for index, entry in enumerate(entries):
        code, where = entry["code"], f"sites[{index}]"
        # A [[sites]] entry with a generated site's code overrides it: keys it leaves out keep the generated values.
        base = generated.get(code)
        try:
            site = Site(
                code=code,
                name=_site_value(entry, "name", base.name if base else REQUIRED, source, where),
                kind=_site_value(entry, "kind", base.kind if base else REQUIRED, source, where),
                records=_site_value(entry, "records", base.records if base else True, source, where),
                prints=_site_value(entry, "prints", base.prints if base else False, source, where),
                region_code=_site_value(entry, "region_code", base.region_code if base else None, source, where),
            )
        except InvalidValue as exc:
            raise ConfigError(source, f"{where}.{exc.field}", exc.reason.removeprefix("expected "), exc.value) from None
        if any(s.code == site.code for s in sites):
            raise ConfigError(source, f"{where}.code", "a code not used by another site", site.code)
        sites.append(site)
    explicit = {s.code: s for s in sites}
    return [explicit.pop(code, site) for code, site in generated.items()] + list(explicit.values())


def parse_profile(data: dict[str, Any], source: str) -> Profile:
    """Validate a profile's parsed TOML.

    The core reads its own tables here; every table is then checked against the declarations of
    the plugins the profile loads (:func:`check_tables`), so a misspelled table or key is refused
    whoever reads it. Tables owned by other readers (rules, devices...) are kept raw for them.
    """
    head = _one(core_tables.PROFILE, data, source)
    name = head["name"]
    raw_region = head["region"]
    try:
        region_code = regions.normalise_code(raw_region)
    except ValueError:
        raise ConfigError(source, "profile.region", 'a Kemendagri regency code such as "17.71"', raw_region) from None
    if region_code.count(".") != 1:
        raise ConfigError(source, "profile.region", "a regency or city code (PP.KK)", raw_region)
    region_name = regions.name_of(region_code)
    if region_name is None:
        raise ConfigError(source, "profile.region", f"a code in {regions.DATA_EDITION}", raw_region)
    dukcapil_code = head["dukcapil_code"] or region_code

    generated = _generated_sites(
        _one(core_tables.SITES_FROM_REGIONS, data, source), region_code, region_name, dukcapil_code
    )
    sites = _sites(data, source, generated)
    if sites and not any(s.code == dukcapil_code for s in sites):
        raise ConfigError(
            source, "profile.dukcapil_code", f"the code of one of the sites {[s.code for s in sites]}", dukcapil_code
        )

    p = _one(core_tables.PLUGINS, data, source)
    lc = _one(core_tables.LIFECYCLE, data, source)
    chip = lc["chip_fingers"]
    rules = data.get("rules", {})
    profile = Profile(
        name=name,
        title=head["title"] or name,
        region_code=region_code,
        region_name=region_name,
        dukcapil_code=dukcapil_code,
        sites=tuple(sites),
        plugins=PluginSettings(
            allow=tuple(p["allow"]),
            block=tuple(p["block"]),
            required=tuple(p["required"]),
            fatal_errors=p["fatal_errors"],
        ),
        lifecycle=LifecycleSettings(
            eligibility_age=lc["eligibility_age"],
            chip_fingers=(chip[0], chip[1]),
            cancelled_biometrics_days=lc["cancelled_biometrics_days"],
            replacement_records_biometrics=lc["replacement_records_biometrics"],
        ),
        rules=dict(rules) if isinstance(rules, dict) else {},
        source=source,
        raw=data,
    )
    check_tables(profile)
    return profile


def check_tables(profile: Profile) -> None:
    """Check every table of the profile against the declarations of the plugins it loads.

    The core's own declarations come first, without loading any plugin; only a profile with a
    table or key they do not know (a plugin's) starts a plugin host with the profile's ``[plugins]``
    lists, to ask the plugins (``ektp_declare_profile_tables``). A table or key no loaded plugin
    declares is refused, naming the file and the key.
    """
    try:
        core_declarations().check(profile.raw, profile.source)
    except UndeclaredKey:
        from ektp_core.plugins import PluginHost

        s = profile.plugins
        host = PluginHost(allow=s.allow or None, block=s.block, required=s.required, fatal_errors=s.fatal_errors)
        loaded = [info.name for info in host.plugins()]
        host.profile_tables().check(profile.raw, profile.source, loaded=loaded)


@functools.cache
def core_declarations() -> ProfileTables:
    """The tables the core's essential plugin declares (asked once per process: they never change)."""
    from ektp_core.plugins import PluginHost

    return PluginHost(load_entry_points=False).profile_tables()


def load_profile(path: Path) -> Profile:
    """Read and validate a profile file."""
    try:
        data = tomllib.loads(path.read_text("utf-8"))
    except FileNotFoundError:
        raise ConfigError(str(path), "-", "an existing profile file") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(str(path), "-", f"valid TOML ({exc})") from None
    return parse_profile(data, str(path))
