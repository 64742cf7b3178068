"""What every bundled region rule shares: the profile's sites by area, the printer check, and the
mobile units, whose residents' cards print where the resident's kecamatan prints."""

from __future__ import annotations

import re
from typing import Any

import attrs
from ektp_plugins.regions.residents import ResidentAreas

from ektp_core.config import Profile
from ektp_core.devices.declared import printer_sites
from ektp_core.devices.region_rules import Routing, SiteState
from ektp_core.domain.model import Enrolment, Site, SiteKind
from ektp_core.messages import Message

_REGION_CODE = re.compile(r"^\d{2}\.\d{2}(\.\d{2}(\.\d{4})?)?$")


def area_of(site: Site) -> str | None:
    """The Kemendagri code of the area a site serves: its ``region_code``, else its own code when
    that is a region code; None for a site tied to no area."""
    if site.region_code:
        return site.region_code
    return site.code if _REGION_CODE.match(site.code) else None


def district_of(site: Site) -> str | None:
    """The kecamatan code (``PP.KK.CC``) of the area a site serves, when it lies in one."""
    area = area_of(site)
    return area[:8] if area and area.count(".") >= 2 else None


class SiteRules:
    """The base of the bundled rules. Subclasses set :attr:`name` and implement :meth:`_prints_at`
    for every kind of site but mobile units (handled here), and may add :meth:`_check_rules`."""

    name = "?"
    #: The most local site a mobile unit's resident is sent home to: ``kecamatan`` or ``kelurahan``.
    home_level = "kecamatan"

    def __init__(self, profile: Profile, options: dict[str, Any]) -> None:
        # options: the keys of [rules] next to name, the rules' settings (built by the core's factory
        # convention: profile and options by keyword)
        self.profile = profile
        self.sites = {s.code: s for s in profile.sites}
        offices = [s for s in profile.sites if s.kind is SiteKind.DUKCAPIL]
        self._offices = offices
        self.district_sites = {
            district_of(s): s for s in profile.sites if s.kind is SiteKind.KECAMATAN and district_of(s)
        }
        self.village_sites = {area_of(s): s for s in profile.sites if s.kind is SiteKind.KELURAHAN and area_of(s)}
        self.residents = ResidentAreas(profile.region_code, profile.region_name)
        self._settings(dict(options))

    def _settings(self, settings: dict[str, Any]) -> None:
        if settings:
            raise ValueError(f"{self.name} takes no settings (got {sorted(settings)})")

    @property
    def office(self) -> Site:
        """The Dukcapil office's site (``check`` makes sure there is exactly one)."""
        return self._offices[0]

    # ---------------------------------------------------------------------------------------------
    # Load-time checks
    # ---------------------------------------------------------------------------------------------

    def check(self) -> list[str]:
        """Problems with the profile, each naming the site."""
        if len(self._offices) != 1:
            return [f"{self.name} needs exactly one site of kind dukcapil, the profile has {len(self._offices)}"]
        problems = []
        if not self.office.prints:
            problems.append(
                f"site {self.office.code} ({self.office.name}) is the Dukcapil office and must print: set prints = true"
            )
        printers = printer_sites(self.profile)
        for site in self.profile.sites:
            if site.kind is SiteKind.MOBILE and site.prints:
                problems.append(
                    f"site {site.code} ({site.name}) is a mobile unit: mobile units record only, set prints = false"
                )
            elif site.prints and site.code not in printers:
                problems.append(f"site {site.code} ({site.name}) prints but has no printer in [[devices.printers]]")
        return problems + self._check_rules()

    def _check_rules(self) -> list[str]:
        return []

    # ---------------------------------------------------------------------------------------------
    # Routing
    # ---------------------------------------------------------------------------------------------

    def route(self, enrolment: Enrolment, sites: SiteState) -> Routing:
        """The site that prints this print-ready enrolment, and why."""
        site = self.sites.get(enrolment.site_code)
        if site is None:
            routing = self._prints_at(self.office, sites)
            return attrs.evolve(
                routing, reason=Message("regions.unlisted_site", site=enrolment.site_code, then=routing.reason)
            )
        if site.kind is not SiteKind.MOBILE:
            return self._prints_at(site, sites)
        home = self.residents.locate(enrolment.biodata)
        target = self._home_site(home.district, home.village)
        if target is None:
            why = home.problem or Message(
                "regions.no_home_site", district=self.residents.district_name(home.district or "")
            )
            target, fallback = self._mobile_fallback(site)
            routing = self._prints_at(target, sites)
            reason = Message("regions.mobile_fallback", unit=site.name, why=why, fallback=fallback, then=routing.reason)
        else:
            routing = self._prints_at(target, sites)
            reason = Message("regions.mobile_home", unit=site.name, home=target.name, then=routing.reason)
        return attrs.evolve(routing, reason=reason)

    def prints_at(self, site: Site, sites: SiteState) -> Routing:
        """Where the cards of residents recorded at ``site`` are printed."""
        if site.kind is not SiteKind.MOBILE:
            return self._prints_at(site, sites)
        target, fallback = self._mobile_fallback(site)
        routing = self._prints_at(target, sites)
        return attrs.evolve(
            routing,
            reason=Message("regions.mobile_records_only", unit=site.name, fallback=fallback, then=routing.reason),
        )

    def _home_site(self, district: str | None, village: str | None) -> Site | None:
        if self.home_level == "kelurahan" and village and village in self.village_sites:
            return self.village_sites[village]
        return self.district_sites.get(district) if district else None

    def _mobile_fallback(self, mobile: Site) -> tuple[Site, Message]:
        # A unit based in a kecamatan or kelurahan (its region_code) sends such cards home with it;
        # a unit of the whole regency sends them to the Dukcapil office.
        area = mobile.region_code
        if area:
            based = self._home_site(area[:8], area if area.count(".") == 3 else None)
            if based is not None:
                return based, Message("regions.unit_area", site=based.name)
        return self.office, Message("regions.dukcapil_office", site=self.office.name)

    def _prints_at(self, site: Site, sites: SiteState) -> Routing:
        raise NotImplementedError


def cannot_print(site: Site, sites: SiteState) -> Message | None:
    """Why a site cannot print a card now (no printer, no blanks...), or None when it can."""
    if not site.prints:
        return Message("regions.cannot.not_printing", site=site.name)
    printer, blanks = sites.has_printer(site.code), sites.blanks_in_stock(site.code)
    if not printer and blanks <= 0:
        return Message("regions.cannot.nothing", site=site.name)
    if not printer:
        return Message("regions.cannot.no_printer", site=site.name)
    if blanks <= 0:
        return Message("regions.cannot.no_blanks", site=site.name)
    return None


class FallbackChainRules(SiteRules):
    """Rules that try the recording site, then the sites above it, and end at the Dukcapil office:
    the first that prints, has a printer and has blanks in stock prints the card."""

    def _chain(self, site: Site) -> list[Site]:
        """The sites to try, most local first, without the Dukcapil office (always last)."""
        raise NotImplementedError

    def _prints_at(self, site: Site, sites: SiteState) -> Routing:
        if site.kind is SiteKind.DUKCAPIL:
            return Routing(
                site.code, Message("regions.office_prints", rules=self.name, site=site.name, waits=_waits(site, sites))
            )
        skipped: list[Message] = []
        for candidate in self._chain(site):
            why_not = cannot_print(candidate, sites)
            if why_not is None:
                done = Message("regions.prints_own" if candidate is site else "regions.prints_it", site=candidate.name)
                return Routing(
                    candidate.code,
                    Message(
                        "regions.chain_prints",
                        rules=self.name,
                        steps=[*skipped, done],
                        stock=sites.blanks_in_stock(candidate.code),
                    ),
                )
            skipped.append(why_not)
        office = self.office
        return Routing(
            office.code,
            Message(
                "regions.chain_to_office",
                rules=self.name,
                steps=skipped or [Message("regions.cannot.not_printing", site=site.name)],
                office=office.name,
                waits=_waits(office, sites),
            ),
        )


def _waits(office: Site, sites: SiteState) -> Message:
    if sites.blanks_in_stock(office.code) <= 0:
        return Message("regions.waits_for_blanks")
    return Message("empty")
