"""``semi-vertical``: record at the kecamatan and at the Dukcapil office, print only at the office.

This is how Kota Bengkulu works today. With ``print_days`` the office prints a kecamatan's cards on
that kecamatan's day of the week only (the day travels with the job; ``ektp print --queued`` leaves
the job until then unless told ``--any-day``).
"""

from __future__ import annotations

from typing import Any

from ektp_plugins.regions.base import SiteRules, district_of

from ektp_core.devices.region_rules import Routing, SiteState, weekday_name
from ektp_core.domain import regions
from ektp_core.domain.model import Site, SiteKind
from ektp_core.messages import Message


class SemiVerticalRules(SiteRules):
    """Recording spread out, printing central: every card is printed at the Dukcapil office.

    Settings: ``print_days``, a table from kecamatan code to weekday (``"17.71.01" = "monday"``;
    Indonesian names such as ``"senin"`` are accepted), optional.
    """

    name = "semi-vertical"

    def _settings(self, settings: dict[str, Any]) -> None:
        raw = settings.pop("print_days", {})
        if settings:
            raise ValueError(f"semi-vertical takes only print_days (got {sorted(settings)})")
        if not isinstance(raw, dict):
            raise ValueError(f"print_days must be a table of kecamatan code = weekday (got {raw!r})")
        known = {r.code for r in regions.children(self.profile.region_code)}
        self.print_days: dict[str, str] = {}
        for code, day in raw.items():
            try:
                dotted = regions.normalise_code(code)
            except ValueError:
                dotted = code
            if dotted not in known:
                raise ValueError(
                    f"print_days: {code!r} is not a kecamatan of {self.profile.region_name} ({regions.DATA_EDITION})"
                )
            if not isinstance(day, str):
                raise ValueError(f"print_days: {code} = {day!r} is not a day name")
            self.print_days[dotted] = weekday_name(day)

    def _check_rules(self) -> list[str]:
        return [
            f"site {s.code} ({s.name}) prints, but semi-vertical prints only at the Dukcapil office "
            "(set prints = false, or use kecamatan-rollout)"
            for s in self.profile.sites
            if s.prints and s.kind is not SiteKind.DUKCAPIL
        ]

    def _prints_at(self, site: Site, sites: SiteState) -> Routing:
        office = self.office
        district = district_of(site) if site.kind is not SiteKind.DUKCAPIL else None
        day = self.print_days.get(district) if district else None
        if day:
            reason = Message(
                "regions.semi_vertical_day",
                office=office.name,
                district=self.residents.district_name(district or ""),
                day=day,
            )
        else:
            reason = Message("regions.semi_vertical", office=office.name)
        return Routing(office.code, reason, print_day=day)
