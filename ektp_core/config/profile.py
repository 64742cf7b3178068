"""Profiles: how a regency runs (its region, its sites, its rules, its plugins), validated on load."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import attrs

from ektp_core.config.reader import TableReader
from ektp_core.domain import regions
from ektp_core.domain.model import FINGER_POSITIONS, Site, SiteKind
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


PROFILE_KEYS = (
    "profile",
    "sites_from_regions",
    "sites",
    "plugins",
    "lifecycle",
    "rules",
    "devices",
    "printing",
    "capture",
    "verification",
    "web",
    "sync",
)


#: The kinds of site ``[sites_from_regions]`` can generate, and the defaults of each.
GENERATED_KINDS = {"dukcapil": (True, True), "kecamatan": (True, False), "kelurahan": (True, False)}


def _generated_sites(
    table: TableReader, source: str, region_code: str, region_name: str, dukcapil_code: str
) -> dict[str, Site]:
    """The sites ``[sites_from_regions]`` asks for, by code, in code order (the Dukcapil office first).

    Kecamatan and kelurahan/desa come from the Kemendagri list (codes and official names), so a
    profile never types them by hand; ``[[sites]]`` entries then add or override single sites.
    """
    out: dict[str, Site] = {}
    kinds: dict[str, TableReader] = {kind: table.table(kind) for kind in GENERATED_KINDS if kind in table.data}
    table.no_unknown(GENERATED_KINDS)
    settings: dict[str, tuple[bool, bool]] = {}
    for kind, reader in kinds.items():
        records_default, prints_default = GENERATED_KINDS[kind]
        settings[kind] = (
            reader.get("records", bool, "true or false", default=records_default),
            reader.get("prints", bool, "true or false", default=prints_default),
        )
        if kind == "dukcapil":
            name = reader.get("name", str, "the Dukcapil office's name", default=f"Disdukcapil {region_name}")
            out[dukcapil_code] = Site(
                code=dukcapil_code,
                name=name,
                kind=SiteKind.DUKCAPIL,
                records=settings[kind][0],
                prints=settings[kind][1],
                region_code=region_code,
            )
        reader.no_unknown()
    if "kecamatan" not in settings and "kelurahan" not in settings:
        return out
    for district in regions.children(region_code):
        if "kecamatan" in settings:
            records, prints = settings["kecamatan"]
            out[district.code] = Site(
                code=district.code,
                name=f"Kecamatan {district.name}",
                kind=SiteKind.KECAMATAN,
                records=records,
                prints=prints,
                region_code=district.code,
            )
        if "kelurahan" in settings:
            records, prints = settings["kelurahan"]
            for village in regions.children(district.code):
                label = "Kelurahan" if village.type == "kelurahan" else "Desa"
                out[village.code] = Site(
                    code=village.code,
                    name=f"{label} {village.name}",
                    kind=SiteKind.KELURAHAN,
                    records=records,
                    prints=prints,
                    region_code=village.code,
                )
    return out


def parse_profile(data: dict[str, Any], source: str) -> Profile:
    """Validate a profile's parsed TOML. Sections owned by plugins (rules, devices...) are kept raw."""
    top = TableReader(source, data)
    top.no_unknown(PROFILE_KEYS)
    head = top.table("profile", required=True)
    name = head.get("name", str, "a profile name")
    title = head.get("title", str, "a title", default=name)
    raw_region = head.get("region", str, 'a Kemendagri regency code such as "17.71"')
    try:
        region_code = regions.normalise_code(raw_region)
    except ValueError:
        raise ConfigError(source, "profile.region", 'a Kemendagri regency code such as "17.71"', raw_region) from None
    if region_code.count(".") != 1:
        raise ConfigError(source, "profile.region", "a regency or city code (PP.KK)", raw_region)
    region_name = regions.name_of(region_code)
    if region_name is None:
        raise ConfigError(source, "profile.region", f"a code in {regions.DATA_EDITION}", raw_region)
    dukcapil_code = head.get("dukcapil_code", str, "the Dukcapil office's site code", default=region_code)
    head.no_unknown()

    generated = _generated_sites(top.table("sites_from_regions"), source, region_code, region_name, dukcapil_code)
    sites: list[Site] = []
    raw_sites = top.get("sites", list, "a list of [[sites]] tables", default=[])
    for index, raw in enumerate(raw_sites):
        if not isinstance(raw, dict):
            raise ConfigError(source, f"sites[{index}]", "a table", raw)
        r = TableReader(source, raw, f"sites[{index}].")
        code = r.get("code", str, "a site code")
        # A [[sites]] entry with a generated site's code overrides it: keys it leaves out keep the generated values.
        base = generated.get(code)
        try:
            site = Site(
                code=code,
                name=r.get("name", str, "a site name", default=base.name if base else ...),
                kind=r.get("kind", str, f"one of {[k.value for k in SiteKind]}", default=base.kind if base else ...),
                records=r.get("records", bool, "true or false", default=base.records if base else True),
                prints=r.get("prints", bool, "true or false", default=base.prints if base else False),
                region_code=r.get("region_code", str, "a Kemendagri code", default=base.region_code if base else None),
            )
        except InvalidValue as exc:
            raise ConfigError(
                source, f"sites[{index}].{exc.field}", exc.reason.removeprefix("expected "), exc.value
            ) from None
        r.no_unknown()
        if any(s.code == site.code for s in sites):
            raise ConfigError(source, f"sites[{index}].code", "a code not used by another site", site.code)
        sites.append(site)
    explicit = {s.code: s for s in sites}
    sites = [explicit.pop(code, site) for code, site in generated.items()] + list(explicit.values())

    if sites and not any(s.code == dukcapil_code for s in sites):
        raise ConfigError(
            source, "profile.dukcapil_code", f"the code of one of the sites {[s.code for s in sites]}", dukcapil_code
        )

    p = top.table("plugins")
    plugins = PluginSettings(
        allow=p.strings("allow"),
        block=p.strings("block"),
        required=p.strings("required"),
        fatal_errors=p.get("fatal_errors", bool, "true or false", default=False),
    )
    p.no_unknown()

    lc = top.table("lifecycle")
    age = lc.get("eligibility_age", int, "a whole number of years", default=17)
    if not 10 <= age <= 25:
        raise ConfigError(source, "lifecycle.eligibility_age", "a number of years from 10 to 25", age)
    chip = lc.strings("chip_fingers", ("right_thumb", "right_index"))
    if len(chip) != 2 or chip[0] == chip[1] or any(f not in FINGER_POSITIONS for f in chip):
        raise ConfigError(
            source, "lifecycle.chip_fingers", f"two different fingers of {list(FINGER_POSITIONS)}", list(chip)
        )
    lc.no_unknown()

    rules = top.get("rules", dict, "a table", default={})
    return Profile(
        name=name,
        title=title,
        region_code=region_code,
        region_name=region_name,
        dukcapil_code=dukcapil_code,
        sites=tuple(sites),
        plugins=plugins,
        lifecycle=LifecycleSettings(eligibility_age=age, chip_fingers=(chip[0], chip[1])),
        rules=rules,
        source=source,
        raw=data,
    )


def load_profile(path: Path) -> Profile:
    """Read and validate a profile file."""
    try:
        data = tomllib.loads(path.read_text("utf-8"))
    except FileNotFoundError:
        raise ConfigError(str(path), "-", "an existing profile file") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(str(path), "-", f"valid TOML ({exc})") from None
    return parse_profile(data, str(path))
