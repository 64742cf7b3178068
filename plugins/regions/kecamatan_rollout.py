"""``kecamatan-rollout``: record and print at every kecamatan that has a printer and blanks.

A kecamatan without a printer, or without blank cards in stock, sends its cards to the Dukcapil
office, and the job's reason says which was missing.
"""

from __future__ import annotations

from ektp_plugins.regions.base import FallbackChainRules, district_of

from ektp_core.domain.model import Site, SiteKind


class KecamatanRolloutRules(FallbackChainRules):
    """Each kecamatan prints the cards it records; the Dukcapil office prints the rest.

    A kelurahan site records for its kecamatan (its cards go where the kecamatan's would).
    """

    name = "kecamatan-rollout"

    def _check_rules(self) -> list[str]:
        return [
            f"site {s.code} ({s.name}) is a kelurahan that prints, but kecamatan-rollout prints only at "
            "kecamatan and the Dukcapil office (use kelurahan-rollout)"
            for s in self.profile.sites
            if s.prints and s.kind is SiteKind.KELURAHAN
        ]

    def _chain(self, site: Site) -> list[Site]:
        if site.kind is SiteKind.KECAMATAN:
            return [site]
        district = district_of(site)
        parent = self.district_sites.get(district) if district else None
        return [parent] if parent is not None else []
