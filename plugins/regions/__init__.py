"""Region rules: which site records and which site prints.

The first rule here, ``dukcapil-only``, prints every card at the Dukcapil office, whatever site
recorded it: the base of the semi-vertical set-up. The kecamatan and kelurahan rollouts follow.
"""

from __future__ import annotations

from typing import Any

from ektp_core import hookimpl
from ektp_core.config import Profile
from ektp_core.model import Enrolment, SiteKind
from ektp_core.routing import Routing


class DukcapilOnlyRules:
    """Every card is printed at the Dukcapil office (dinas); any site may record."""

    name = "dukcapil-only"

    def __init__(self, profile: Profile, settings: dict[str, Any]) -> None:
        if settings:
            raise ValueError(f"dukcapil-only takes no settings (got {sorted(settings)})")
        self.profile = profile

    def _office(self) -> Any:
        offices = [s for s in self.profile.sites if s.kind is SiteKind.DUKCAPIL]
        return offices[0] if len(offices) == 1 else None

    def check(self) -> list[str]:
        offices = [s for s in self.profile.sites if s.kind is SiteKind.DUKCAPIL]
        if len(offices) != 1:
            return [f"dukcapil-only needs exactly one site of kind dukcapil, the profile has {len(offices)}"]
        if not offices[0].prints:
            return [f"site {offices[0].code} ({offices[0].name}) must print: set prints = true"]
        return []

    def route(self, enrolment: Enrolment) -> Routing:
        office = self._office()
        return Routing(office.code, f"all cards are printed at {office.name} (dukcapil-only rules)")


@hookimpl
def ektp_register_region_rules(registry: Any) -> None:
    """Register the bundled region rules."""
    registry.add("dukcapil-only", DukcapilOnlyRules, description="every card printed at the Dukcapil office")
