"""NIK (Nomor Induk Kependudukan): the 16-digit population number ``PP KK CC DDMMYY SSSS``.

Structure checks come from ``lokal-id``; this module adds the distinction between *errors* (the
text is not a NIK) and *warnings* (a region code missing from the current Kemendagri list, which
happens after regencies split), the cross-check against biodata and the eligibility rule.
"""

from __future__ import annotations

import datetime as dt
import functools

import attrs
from lokal import nik as lokal_nik

from ektp_core.domain import regions

#: Age from which every resident must hold a KTP-el (unless married earlier).
DEFAULT_ELIGIBILITY_AGE = 17

# lokal-id reports in Indonesian; the core speaks English in logs and the API.
_MESSAGES = {
    "format": "a NIK has exactly 16 digits",
    "province": "unknown province code",
    "wilayah": "regency and district codes must not be 00",
    "birth_date": "the birth date in the NIK is not a real date (day 01-31, or 41-71 for women; month 01-12)",
    "serial": "the serial must not be 0000",
}


@attrs.frozen
class NikIssue:
    """One finding about a NIK: a machine code and an English message."""

    code: str
    message: str


@attrs.frozen
class NikReport:
    """Everything a NIK says about its holder, plus what is wrong with it."""

    text: str
    errors: tuple[NikIssue, ...] = ()
    warnings: tuple[NikIssue, ...] = ()
    digits: str | None = None
    province_code: str | None = None
    regency_code: str | None = None
    district_code: str | None = None
    province: str | None = None
    regency: str | None = None
    district: str | None = None
    #: ``L`` (laki-laki) or ``P`` (perempuan: day of birth + 40).
    sex: str | None = None
    birth_date: dt.date | None = None
    serial: str | None = None

    @property
    def valid(self) -> bool:
        """True when the text is a NIK; warnings do not make it invalid."""
        return not self.errors

    def as_dict(self) -> dict[str, object]:
        """A JSON-ready view (used by ``ektp nik --json`` and the API)."""
        return {
            "nik": self.digits,
            "valid": self.valid,
            "errors": [attrs.asdict(e) for e in self.errors],
            "warnings": [attrs.asdict(w) for w in self.warnings],
            "province_code": self.province_code,
            "province": self.province,
            "regency_code": self.regency_code,
            "regency": self.regency,
            "district_code": self.district_code,
            "district": self.district,
            "sex": self.sex,
            "birth_date": self.birth_date.isoformat() if self.birth_date else None,
            "serial": self.serial,
            "region_data": regions.data_source(),
        }


def digits_of(text: str) -> str | None:
    """The 16 digits of a NIK written with separators (spaces, dots, dashes), or None if there are not 16.

    The same normalisation as :func:`parse`, so a :class:`~ektp_core.domain.model.Nik` and a report always agree.
    """
    return lokal_nik.parse_nik(str(text)).nik


def parse(text: str, *, today: dt.date | None = None) -> NikReport:
    """Parse and validate a NIK. ``today`` fixes the century inference (two-digit birth year)."""
    return _parse(str(text), today or dt.date.today())


@functools.lru_cache(maxsize=8192)
def _parse(text: str, today: dt.date) -> NikReport:
    # Pure for a given day, and called for every enrolment read and validated: worth remembering.
    info = lokal_nik.parse_nik(text, reference_date=today)
    errors = tuple(NikIssue(i.code, _MESSAGES.get(i.code, i.message)) for i in info.errors)
    warnings: list[NikIssue] = []
    regency = district = None
    if info.nik and info.province:
        regency = regions.name_of(info.regency_code or "")
        district = regions.name_of(info.district_code or "")
        if info.regency_code and not info.regency_code.endswith("00") and regency is None:
            warnings.append(
                NikIssue(
                    "regency_unknown",
                    f"regency code {info.regency_code} is not in {regions.DATA_EDITION} "
                    "(it may be an old code from before a split; old NIKs keep their code)",
                )
            )
        elif info.district_code and not info.district_code.endswith("00") and district is None:
            warnings.append(
                NikIssue(
                    "district_unknown",
                    f"district code {info.district_code} is not in {regions.DATA_EDITION} "
                    "(it may be an old code; old NIKs keep their code)",
                )
            )
    return NikReport(
        text=str(text),
        errors=errors,
        warnings=tuple(warnings),
        digits=info.nik,
        province_code=info.province_code,
        regency_code=info.regency_code,
        district_code=info.district_code,
        province=info.province,
        regency=regency,
        district=district,
        sex=info.gender,
        birth_date=dt.date.fromisoformat(info.birth_date) if info.birth_date else None,
        serial=info.serial,
    )


def check_against_biodata(report: NikReport, *, sex: str, birth_date: dt.date) -> list[str]:
    """Problems where the NIK contradicts the biodata (sex, birth date); empty when they agree.

    The NIK holds a two-digit year, so only day, month and the year's last two digits are compared.
    """
    problems: list[str] = []
    if not report.valid:
        return ["the NIK is not valid"]
    if report.sex != sex:
        problems.append(f"the NIK encodes sex {report.sex} but the biodata says {sex}")
    nb = report.birth_date
    theirs = (birth_date.day, birth_date.month, birth_date.year % 100)
    if nb is not None and (nb.day, nb.month, nb.year % 100) != theirs:
        problems.append(f"the NIK encodes birth date {nb:%d-%m-%y} but the biodata says {birth_date:%d-%m-%Y}")
    return problems


def age_on(birth_date: dt.date, on: dt.date) -> int:
    """Completed years of age on a day."""
    return on.year - birth_date.year - ((on.month, on.day) < (birth_date.month, birth_date.day))


def eligibility_problem(
    *,
    birth_date: dt.date,
    status_perkawinan: str,
    on: dt.date,
    minimum_age: int = DEFAULT_ELIGIBILITY_AGE,
) -> str | None:
    """Why a resident may not yet hold a KTP-el, or None when they may.

    Eligible: ``minimum_age`` or older, or married or ever married (any status but BELUM KAWIN).
    """
    age = age_on(birth_date, on)
    if age >= minimum_age or status_perkawinan != "BELUM KAWIN":
        return None
    return f"the resident is {age} and has never married; a KTP-el is issued from {minimum_age} or on marriage"
