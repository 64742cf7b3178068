"""A plugin with region rules: print at the resident's kecamatan when it can."""

from ektp_core import hookimpl
from ektp_core.devices.region_rules import Routing
from ektp_core.domain.model import SiteKind


class PrintAtKecamatan:
    # Print at the resident's kecamatan when it can, else at the Dukcapil office.

    name = "print-at-kecamatan"

    def __init__(self, profile, options):
        # options: the keys of [rules] next to name; these rules have none
        if options:
            raise ValueError(f"{self.name} takes no settings, got {sorted(options)}")
        self.profile = profile
        self.office = next(s for s in profile.sites if s.kind is SiteKind.DUKCAPIL)

    def check(self):
        if self.office.prints:
            return []
        return [f"site {self.office.code} ({self.office.name}) must print"]

    def prints_at(self, site, sites):
        office = self.office
        if site.prints and sites.has_printer(site.code) and sites.blanks_in_stock(site.code):
            return Routing(site.code, f"printed where it was recorded, {site.name}")
        return Routing(office.code, f"{site.name} cannot print now: printed at {office.name}")

    def route(self, enrolment, sites):
        district = enrolment.biodata.nik.district_code
        for site in self.profile.sites:
            if site.region_code == district:
                return self.prints_at(site, sites)
        return Routing(self.office.code, f"no site for kecamatan {district}: printed at {self.office.name}")


@hookimpl
def ektp_register_region_rules(registry):
    registry.add(PrintAtKecamatan.name, PrintAtKecamatan)
