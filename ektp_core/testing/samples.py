"""Sample residents whose NIK agrees with their biodata, for tests and demos."""

from __future__ import annotations

import datetime as dt
import itertools
import uuid
from typing import Any

from ..model import Biodata, Enrolment

_serials = itertools.count(1)


def valid_nik(*, district: str = "17.71.05", birth_date: dt.date = dt.date(1990, 1, 1), sex: str = "P",
              serial: int | None = None) -> str:
    """A structurally valid NIK for a district, birth date and sex (day + 40 for women)."""
    day = birth_date.day + (40 if sex == "P" else 0)
    number = serial if serial is not None else next(_serials) % 9999 + 1
    return f"{district.replace('.', '')}{day:02d}{birth_date:%m%y}{number:04d}"


def make_biodata(**overrides: Any) -> Biodata:
    """A valid resident of Kota Bengkulu; any field can be overridden (the NIK follows sex and birth date)."""
    sex = "L" if str(overrides.get("jenis_kelamin", "P")).upper() in ("L", "LAKI-LAKI") else "P"
    birth = overrides.get("tanggal_lahir", dt.date(1990, 1, 1))
    if not isinstance(birth, dt.date):  # a test feeding a bad birth date still needs a NIK
        birth = dt.date(1990, 1, 1)
    values: dict[str, Any] = {
        "nik": valid_nik(birth_date=birth, sex=sex),
        "nama": "SITI AMINAH" if sex == "P" else "BUDI SANTOSO",
        "tempat_lahir": "BENGKULU",
        "tanggal_lahir": birth,
        "jenis_kelamin": sex,
        "golongan_darah": "O",
        "alamat": "JL. PANTAI INDAH NO. 7",
        "rt": "003",
        "rw": "001",
        "kelurahan": "KANDANG",
        "kecamatan": "KAMPUNG MELAYU",
        "kabupaten_kota": "KOTA BENGKULU",
        "provinsi": "BENGKULU",
        "agama": "ISLAM",
        "status_perkawinan": "KAWIN",
        "pekerjaan": "WIRASWASTA",
    }
    values.update(overrides)
    return Biodata(**values)


def make_enrolment(*, site_code: str = "17.71", operator: str = "operator1", **biodata: Any) -> Enrolment:
    """A new BIO_CAPTURED enrolment of a sample resident."""
    return Enrolment(id=uuid.uuid4().hex, site_code=site_code, operator=operator, biodata=make_biodata(**biodata))
