"""The biodata form of a new recording: reading it, checking it field by field, and the live NIK check.

The browser's script only helps the operator; everything here runs again on the server when the form
is sent. Messages are catalogue keys (with values), so the views show them in the page's language.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

import attrs
from ektp_plugins.web.ui.dates import parse_date, show_date

from ektp_core.domain import codes, regions
from ektp_core.domain import nik as nik_rules
from ektp_core.domain.model import Biodata
from ektp_core.errors import InvalidValue
from ektp_core.lifecycle.service import LifecycleService
from ektp_core.lifecycle.states import OPEN_ENROLMENT_STATES
from ektp_core.store.read_models import enrolment_search
from ektp_core.store.read_models.enrolment_search import OpenEnrolment

#: The form's fields in the order of the card (and of the tab key).
FIELDS = (
    "nik",
    "nama",
    "tempat_lahir",
    "tanggal_lahir",
    "jenis_kelamin",
    "golongan_darah",
    "alamat",
    "rt",
    "rw",
    "kelurahan",
    "kecamatan",
    "kabupaten_kota",
    "provinsi",
    "agama",
    "status_perkawinan",
    "pekerjaan",
    "no_kk",
)
#: Fields chosen from SIAK's code lists.
CHOICES = ("golongan_darah", "agama", "status_perkawinan", "pekerjaan")
_MAX = {
    "nama": 120,
    "tempat_lahir": 60,
    "alamat": 200,
    "kelurahan": 80,
    "kecamatan": 80,
    "kabupaten_kota": 80,
    "provinsi": 80,
}

#: A message: a catalogue key and the values it is formatted with.
Message = tuple[str, dict[str, Any]]


def choices() -> dict[str, tuple[str, ...]]:
    """The allowed values of each code-list field, in SIAK order."""
    return {name: codes.labels(name) for name in CHOICES}


def open_enrolment(lc: LifecycleService, nik: str) -> OpenEnrolment | None:
    """The enrolment of ``nik`` still in progress, if any (the core refuses a second one; this names it)."""
    with lc.store.read() as conn:
        return enrolment_search.open_enrolment(conn, nik, OPEN_ENROLMENT_STATES)


def _date(text: str) -> dt.date | None:
    # dd-mm-yyyy as the form asks (ISO read too): see plugins/web/ui/dates.py.
    return parse_date(text)


def nik_findings(
    text: str, *, sex: str = "", birth: str = "", status: str = "", today: dt.date, minimum_age: int
) -> dict[str, Any]:
    """What the NIK says and how it fits the other fields: the live check's answer, before translation.

    ``errors`` and ``warnings`` hold :data:`Message` items per field (``nik``, ``jenis_kelamin``,
    ``tanggal_lahir``); ``fill`` the values the NIK determines (region names, sex, birth date).
    """
    report = nik_rules.parse(text, today=today)
    out: dict[str, Any] = {
        "nik": report.digits,
        "valid": report.valid,
        "errors": {},
        "warnings": {},
        "fill": {},
        "kelurahan": [],
    }
    if not report.valid:
        out["errors"]["nik"] = [("rec.nik_" + e.code, {}) for e in report.errors]
        return out
    for w in report.warnings:
        out["warnings"].setdefault("nik", []).append(("rec.nik_" + w.code, {}))
    out["fill"] = {
        "provinsi": (report.province or "").upper(),
        "kabupaten_kota": (report.regency or "").upper(),
        "kecamatan": (report.district or "").upper(),
        "jenis_kelamin": report.sex or "",
        "tanggal_lahir": show_date(report.birth_date),
    }
    out["region"] = {
        "province": report.province_code,
        "regency": report.regency_code,
        "district": report.district_code,
        "source": regions.data_source(),
    }
    if report.district_code and report.district:
        out["kelurahan"] = [r.name.upper() for r in regions.children(report.district_code)]
    if sex and report.sex and sex != report.sex:
        out["errors"]["jenis_kelamin"] = [("rec.sex_mismatch", {"nik_sex": report.sex})]
    born = _date(birth) if birth else None
    if (
        born is not None
        and report.birth_date is not None
        and nik_rules.check_against_biodata(report, sex=report.sex or "L", birth_date=born)
    ):
        out["errors"]["tanggal_lahir"] = [("rec.birth_mismatch", {"nik_birth": show_date(report.birth_date)})]
    # Eligibility is judged on the form's birth date when given, else on the NIK's.
    judged = born or report.birth_date
    if judged is not None:
        age = nik_rules.age_on(judged, today)
        out["age"] = age
        if nik_rules.eligibility_problem(
            birth_date=judged, status_perkawinan=status or "BELUM KAWIN", on=today, minimum_age=minimum_age
        ):
            key = "rec.too_young" if status else "rec.too_young_unless_married"
            out["errors" if status else "warnings"].setdefault("tanggal_lahir", []).append(
                (key, {"age": age, "minimum": minimum_age})
            )
    return out


@attrs.define
class BiodataForm:
    """The biodata form as sent: its values (for showing it again) and its problems per field."""

    values: dict[str, str]
    errors: dict[str, list[Message]] = attrs.field(factory=dict)
    biodata: Biodata | None = None

    def add(self, field: str, key: str, **values: Any) -> None:
        """Note a problem with ``field``."""
        self.errors.setdefault(field, []).append((key, values))

    @property
    def ok(self) -> bool:
        """True when the form can be recorded."""
        return not self.errors and self.biodata is not None


def read_form(form: Mapping[str, str], *, today: dt.date, minimum_age: int) -> BiodataForm:
    """Check every field of the posted form and build the :class:`Biodata` when all is well."""
    values = {f: " ".join(str(form.get(f, "")).split()) for f in FIELDS}
    result = BiodataForm(values)
    for field in FIELDS:
        if field != "no_kk" and not values[field]:
            result.add(field, "rec.required")
        elif field in _MAX and len(values[field]) > _MAX[field]:
            result.add(field, "rec.too_long", max=_MAX[field])
    allowed = choices()
    for field in CHOICES:
        if values[field] and values[field].upper() not in allowed[field]:
            result.add(field, "rec.not_in_list")
    if values["jenis_kelamin"] and values["jenis_kelamin"] not in ("L", "P"):
        result.add("jenis_kelamin", "rec.not_in_list")
    born = _date(values["tanggal_lahir"]) if values["tanggal_lahir"] else None
    if values["tanggal_lahir"] and born is None:
        result.add("tanggal_lahir", "rec.bad_date")
    elif born is not None and born > today:
        result.add("tanggal_lahir", "rec.future_date")
    for field in ("rt", "rw"):
        v = values[field]
        if v and (not v.isdigit() or len(v) > 3 or int(v) == 0):
            result.add(field, "rec.bad_rt_rw")
    kk = values["no_kk"].replace(" ", "")
    if kk and (len(kk) != 16 or not kk.isdigit()):
        result.add("no_kk", "rec.bad_kk")
    if values["nik"]:
        found = nik_findings(
            values["nik"],
            sex=values["jenis_kelamin"],
            birth=values["tanggal_lahir"],
            status=values["status_perkawinan"].upper(),
            today=today,
            minimum_age=minimum_age,
        )
        for field, problems in found["errors"].items():
            for key, args in problems:
                result.add(field, key, **args)
        if found["valid"]:
            values["nik"] = found["nik"]
    if result.errors:
        return result
    assert born is not None
    try:
        result.biodata = Biodata(
            nik=values["nik"],
            nama=values["nama"],
            tempat_lahir=values["tempat_lahir"],
            tanggal_lahir=born,
            jenis_kelamin=values["jenis_kelamin"],
            golongan_darah=values["golongan_darah"],
            alamat=values["alamat"],
            rt=values["rt"],
            rw=values["rw"],
            kelurahan=values["kelurahan"],
            kecamatan=values["kecamatan"],
            kabupaten_kota=values["kabupaten_kota"],
            provinsi=values["provinsi"],
            agama=values["agama"],
            status_perkawinan=values["status_perkawinan"],
            pekerjaan=values["pekerjaan"],
            no_kk=kk or None,
        )
    except InvalidValue as exc:
        # The domain type has the last word; its reason is shown as it is, next to its field.
        field = exc.field if exc.field in FIELDS else "nama"
        result.add(field, "rec.invalid", reason=exc.reason)
    return result
