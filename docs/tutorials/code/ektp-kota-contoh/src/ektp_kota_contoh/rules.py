"""The ``kota-contoh`` region rules: a kecamatan prints while it keeps a reserve of blanks.

A site that records and prints (``prints = true``, a printer in ``[[devices.printers]]``) prints the
cards of the residents it records, as long as it holds at least ``min_blanks`` blank cards. Below
that, its cards go to the Dukcapil office, so the last blanks at a kecamatan stay for the cards it
must reprint there (a misprint, a damaged card). The Dukcapil office prints its own cards and every
card a site cannot print; mobile units record only, and their cards go to the office too.

Settings (the keys of ``[rules]`` next to ``name``):

* ``min_blanks`` (default 1): blank cards a site must hold to print a new card, a whole number from
  1 to 10000.

Rules are pure: what they know about the sites at routing time comes in the
:class:`~ektp_core.devices.region_rules.SiteState` the core hands them (printers and blank stock), so a test
can give them any situation without a database.
"""

from __future__ import annotations

from typing import Any

from ektp_core.config import Profile
from ektp_core.devices.declared import printer_sites
from ektp_core.devices.region_rules import Routing, SiteState
from ektp_core.domain.model import Enrolment, Site, SiteKind

SETTINGS = ("min_blanks",)
MAX_BLANKS = 10_000


class KotaContohRules:
    """Print where the resident recorded while that site keeps ``min_blanks`` blanks, else at the office."""

    name = "kota-contoh"

    def __init__(self, profile: Profile, options: dict[str, Any]) -> None:
        # options: the keys of [rules] next to name, the settings of these rules
        unknown = sorted(set(options) - set(SETTINGS))
        if unknown:
            raise ValueError(f"{self.name} has no setting {unknown[0]!r} (settings: {', '.join(SETTINGS)})")
        min_blanks = options.get("min_blanks", 1)
        if not isinstance(min_blanks, int) or isinstance(min_blanks, bool) or not 1 <= min_blanks <= MAX_BLANKS:
            raise ValueError(
                f"{self.name}: min_blanks must be a whole number from 1 to {MAX_BLANKS}, not {min_blanks!r}"
            )
        self.profile = profile
        self.min_blanks = min_blanks
        self.sites = {site.code: site for site in profile.sites}

    def _offices(self) -> list[Site]:
        return [site for site in self.profile.sites if site.kind is SiteKind.DUKCAPIL]

    @property
    def office(self) -> Site:
        """The Dukcapil office (``check`` makes sure there is exactly one)."""
        return self._offices()[0]

    def check(self) -> list[str]:
        """One Dukcapil office that prints; every printing site has a printer; mobile units do not print."""
        offices = self._offices()
        if len(offices) != 1:
            return [f"{self.name} needs exactly one site of kind dukcapil, the profile has {len(offices)}"]
        problems = []
        printers = printer_sites(self.profile)
        for site in self.profile.sites:
            if site.kind is SiteKind.MOBILE and site.prints:
                problems.append(f"site {site.code} ({site.name}) is a mobile unit: it records only, set prints = false")
            elif site.prints and site.code not in printers:
                problems.append(f"site {site.code} ({site.name}) prints but has no printer in [[devices.printers]]")
        if not offices[0].prints:
            problems.append(
                f"site {offices[0].code} ({offices[0].name}) is the Dukcapil office and must print: set prints = true"
            )
        return problems

    def route(self, enrolment: Enrolment, sites: SiteState) -> Routing:
        """Where this print-ready enrolment's card is printed, and why."""
        site = self.sites.get(enrolment.site_code)
        if site is None:
            return Routing(
                self.office.code,
                f"{self.name}: recorded at {enrolment.site_code}, which the profile "
                f"does not list, so the card is printed at {self.office.name}",
            )
        return self.prints_at(site, sites)

    def prints_at(self, site: Site, sites: SiteState) -> Routing:
        """Where the cards of residents recorded at ``site`` are printed now."""
        office = self.office
        if site.code == office.code:
            return Routing(office.code, f"{self.name}: recorded at {office.name}, printed there")
        why_not = self._cannot_print(site, sites)
        if why_not is None:
            return Routing(
                site.code,
                f"{self.name}: {site.name} prints the cards it records "
                f"({sites.blanks_in_stock(site.code)} blank cards in stock)",
            )
        return Routing(office.code, f"{self.name}: {site.name} {why_not}, so the card is printed at {office.name}")

    def _cannot_print(self, site: Site, sites: SiteState) -> str | None:
        if site.kind is SiteKind.MOBILE:
            return "is a mobile unit and records only"
        if not site.prints:
            return "does not print (prints = false)"
        if not sites.has_printer(site.code):
            return "has no printer"
        stock = sites.blanks_in_stock(site.code)
        if stock < self.min_blanks:
            return f"holds {stock} blank cards, fewer than the {self.min_blanks} it keeps (min_blanks)"
        return None
