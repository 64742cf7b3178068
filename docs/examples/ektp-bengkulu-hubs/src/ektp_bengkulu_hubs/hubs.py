"""The ``printing-hubs`` region rules.

A regency that cannot put a card printer in every kecamatan office puts one in a few of them, the
*hubs*, and sends each other kecamatan's cards to its hub: residents collect their card nearer
home than the Dukcapil office, and the office keeps its printer for its own residents.

* A card recorded at a hub, or at a kecamatan the hub serves, is printed at the hub while the hub
  has a printer and blank cards; otherwise at the Dukcapil office, and the reason says why.
* A hub may print the cards of the kecamatan it serves on one weekday only (``hub_day``), the day
  its courier brings the residents' papers; its own residents' cards print any day.
* A kecamatan no hub serves, a mobile unit, and the office itself: the Dukcapil office.

Settings (``[rules]``, next to ``name = "printing-hubs"``):

* ``hubs`` (required): a table of hub site code to the list of kecamatan site codes it serves;
* ``hub_day`` (optional): the weekday hubs print the cards of the kecamatan they serve, in English
  or Indonesian (``"thursday"``, ``"kamis"``).

``check`` refuses a profile whose hubs or served kecamatan are not kecamatan sites of the profile, a
kecamatan served by two hubs, and a hub that does not print or has no printer.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ektp_core.config import Profile
from ektp_core.devices.declared import printer_sites
from ektp_core.devices.region_rules import Routing, SiteState, weekday_name
from ektp_core.domain.model import Enrolment, Site, SiteKind

SETTINGS = ("hubs", "hub_day")


def _hubs(raw: Any) -> dict[str, tuple[str, ...]]:
    if not isinstance(raw, Mapping) or not raw:
        raise ValueError(
            "printing-hubs needs hubs: a table of hub site code to the kecamatan it serves "
            '(hubs = { "17.71.01" = ["17.71.02"] })'
        )
    hubs: dict[str, tuple[str, ...]] = {}
    for hub, served in raw.items():
        if not isinstance(served, list) or not all(isinstance(code, str) for code in served):
            raise ValueError(f"printing-hubs: hubs.{hub} must be a list of site codes, not {served!r}")
        hubs[str(hub)] = tuple(served)
    return hubs


class HubRules:
    """Cards print at the hub kecamatan that serves the recording kecamatan (see the module docstring)."""

    name = "printing-hubs"

    def __init__(self, profile: Profile, options: dict[str, Any]) -> None:
        # options: the keys of [rules] next to name, the settings of these rules (ektp builds the rules
        # with the keyword arguments the constructor names)
        unknown = sorted(set(options) - set(SETTINGS))
        if unknown:
            raise ValueError(f"printing-hubs has no setting {unknown[0]!r} (settings: {', '.join(SETTINGS)})")
        self.hubs = _hubs(options.get("hubs"))
        day = options.get("hub_day")
        if day is not None and not isinstance(day, str):
            raise ValueError(f"printing-hubs: hub_day must be a weekday, not {day!r}")
        self.hub_day = weekday_name(day) if day is not None else None
        self.profile = profile
        self.sites = {site.code: site for site in profile.sites}
        #: Kecamatan site code -> the hub that prints its cards (a hub serves itself).
        self.hub_of: dict[str, str] = {}
        self._twice: list[str] = []
        for hub, served in self.hubs.items():
            for code in (hub, *served):
                if code in self.hub_of and self.hub_of[code] != hub:
                    self._twice.append(f"site {code} is served by two hubs, {self.hub_of[code]} and {hub}")
                self.hub_of.setdefault(code, hub)

    def _offices(self) -> list[Site]:
        return [site for site in self.profile.sites if site.kind is SiteKind.DUKCAPIL]

    @property
    def office(self) -> Site:
        """The Dukcapil office."""
        return self._offices()[0]

    def check(self) -> list[str]:
        """Problems with the profile under these rules, each naming the site."""
        offices = self._offices()
        if len(offices) != 1:
            return [f"printing-hubs needs exactly one site of kind dukcapil, the profile has {len(offices)}"]
        problems = list(self._twice)
        printers = printer_sites(self.profile)
        if not offices[0].prints:
            problems.append(f"site {offices[0].code} ({offices[0].name}) is the Dukcapil office and must print")
        for code, hub in sorted(self.hub_of.items()):
            site = self.sites.get(code)
            if site is None or site.kind is not SiteKind.KECAMATAN:
                what = "a hub" if code == hub else f"served by hub {hub}"
                problems.append(f"site {code} is {what} but is not a kecamatan site of the profile")
            elif code == hub and not site.prints:
                problems.append(f"site {code} ({site.name}) is a hub and must print: set prints = true")
            elif code == hub and code not in printers:
                problems.append(f"site {code} ({site.name}) is a hub but has no printer in [[devices.printers]]")
        return problems

    def route(self, enrolment: Enrolment, sites: SiteState) -> Routing:
        """Where this print-ready enrolment's card is printed, and why."""
        site = self.sites.get(enrolment.site_code)
        if site is None:
            return Routing(
                self.office.code,
                f"printing-hubs: recorded at {enrolment.site_code}, which the "
                f"profile does not list; printed at {self.office.name}",
            )
        return self.prints_at(site, sites)

    def prints_at(self, site: Site, sites: SiteState) -> Routing:
        """Where the cards of residents recorded at ``site`` are printed now."""
        office = self.office
        if site.code == office.code:
            return Routing(office.code, f"printing-hubs: recorded at {office.name}, printed there")
        hub_code = self.hub_of.get(site.code)
        if hub_code is None:
            kind = "a mobile unit" if site.kind is SiteKind.MOBILE else "served by no hub"
            return Routing(office.code, f"printing-hubs: {site.name} is {kind}; printed at {office.name}")
        hub = self.sites[hub_code]
        if not sites.has_printer(hub_code):
            why = "has no printer"
        elif sites.blanks_in_stock(hub_code) <= 0:
            why = "has no blank cards in stock"
        else:
            if hub_code == site.code:
                return Routing(hub_code, f"printing-hubs: {hub.name} is a hub and prints the cards it records")
            return Routing(
                hub_code, f"printing-hubs: {site.name} is served by the hub {hub.name}", print_day=self.hub_day
            )
        return Routing(office.code, f"printing-hubs: the hub {hub.name} {why}, so the card is printed at {office.name}")
