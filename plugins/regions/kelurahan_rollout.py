"""``kelurahan-rollout`` (DKI Jakarta style): record at every kelurahan service point; print at the
kelurahan when it has a printer and blanks, else at its kecamatan, else at the city's Dukcapil office."""

from __future__ import annotations

from ektp_plugins.regions.base import FallbackChainRules, district_of

from ektp_core.domain.model import Site, SiteKind


class KelurahanRolloutRules(FallbackChainRules):
    """Print as close to the resident as a printer and blanks allow: kelurahan, kecamatan, office.

    Mobile units send a resident home to their kelurahan when the address names one of the
    kecamatan's kelurahan (else to the kecamatan).
    """

    name = "kelurahan-rollout"
    home_level = "kelurahan"

    def _chain(self, site: Site) -> list[Site]:
        chain = [site] if site.kind is SiteKind.KELURAHAN else []
        if site.kind is SiteKind.KECAMATAN:
            return [site]
        district = district_of(site)
        parent = self.district_sites.get(district) if district else None
        return chain + ([parent] if parent is not None else [])
