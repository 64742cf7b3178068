"""``dukcapil-only``: every card is printed at the Dukcapil office, whatever site recorded it."""

from __future__ import annotations

from typing import Any

from ektp_core.config import Profile
from ektp_core.devices.region_rules import Routing, SiteState
from ektp_core.domain.model import Enrolment, Site, SiteKind
from ektp_core.messages import Message


class DukcapilOnlyRules:
    """Every card is printed at the Dukcapil office (dinas); any site may record.

    It asks nothing of the sites' state and, unlike the other bundled rules, does not require a
    printer to be declared (the smallest profiles and many tests have none).
    """

    name = "dukcapil-only"

    def __init__(self, profile: Profile, options: dict[str, Any]) -> None:
        if options:
            raise ValueError(f"dukcapil-only takes no settings (got {sorted(options)})")
        self.profile = profile

    def _offices(self) -> list[Site]:
        return [s for s in self.profile.sites if s.kind is SiteKind.DUKCAPIL]

    def check(self) -> list[str]:
        """Exactly one Dukcapil office, and it prints."""
        offices = self._offices()
        if len(offices) != 1:
            return [f"dukcapil-only needs exactly one site of kind dukcapil, the profile has {len(offices)}"]
        if not offices[0].prints:
            return [f"site {offices[0].code} ({offices[0].name}) must print: set prints = true"]
        return []

    def route(self, enrolment: Enrolment, sites: SiteState) -> Routing:
        """The Dukcapil office, for every enrolment."""
        office = self._offices()[0]
        return Routing(office.code, Message("regions.dukcapil_only", office=office.name))

    def prints_at(self, site: Site, sites: SiteState) -> Routing:
        """The Dukcapil office, for every site."""
        office = self._offices()[0]
        return Routing(office.code, Message("regions.dukcapil_only", office=office.name))
