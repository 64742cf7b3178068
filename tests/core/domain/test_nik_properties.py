"""Property tests for the NIK rules (``ektp_core.domain.nik.parse``) and the ``Nik`` value type.

``PP KK CC DDMMYY SSSS``: a known province, regency and district codes that are not 00, a real birth
date (day + 40 for women), a serial other than 0000. A region code missing from the Kemendagri list
is a warning, never an error.
"""

from __future__ import annotations

import datetime as dt
import functools

import pytest
from hypothesis import assume, example, given
from hypothesis import strategies as st
from lokal.provinces import PROVINCES

from ektp_core.domain import nik as nik_rules
from ektp_core.domain import regions
from ektp_core.domain.model import Nik
from ektp_core.errors import InvalidValue

#: Fixes the century inference: a two-digit year up to 25 is 20yy, above it 19yy.
TODAY = dt.date(2025, 6, 30)
BIRTH_MIN = dt.date(TODAY.year - 99, 1, 1)
BIRTH_MAX = dt.date(TODAY.year, 12, 31)

PROVINCE_CODES = sorted(PROVINCES)
UNKNOWN_PROVINCE_CODES = [f"{i:02d}" for i in range(100) if f"{i:02d}" not in PROVINCES]


@functools.cache
def _known_districts() -> list[str]:
    """Every kecamatan code in the current list, dotted (``PP.KK.CC``)."""
    return [d.code for p in PROVINCE_CODES for r in regions.children(p) for d in regions.children(r.code)]


def _inferred_year(yy: int, today: dt.date = TODAY) -> int:
    return 2000 + yy if yy <= today.year % 100 else 1900 + yy


def _compose(region: str, day: int, month: int, yy: int, serial: int) -> str:
    return f"{region}{day:02d}{month:02d}{yy:02d}{serial:04d}"


def _encode(region: str, birth: dt.date, sex: str, serial: int) -> str:
    return _compose(region, birth.day + (40 if sex == "P" else 0), birth.month, birth.year % 100, serial)


# --------------------------------------------------------------------------------------------------
# Strategies
# --------------------------------------------------------------------------------------------------

nonzero_code = st.integers(1, 99).map("{:02d}".format)
sexes = st.sampled_from("LP")
serials = st.integers(1, 9999)
birth_dates = st.dates(min_value=BIRTH_MIN, max_value=BIRTH_MAX)

#: Random region codes (mostly absent from the list) and real ones, six digits without dots.
any_region = st.builds(lambda p, k, c: p + k + c, st.sampled_from(PROVINCE_CODES), nonzero_code, nonzero_code)
real_region = st.deferred(lambda: st.sampled_from(_known_districts())).map(lambda code: code.replace(".", ""))
regions_ = st.one_of(any_region, real_region)


@st.composite
def valid_niks(draw: st.DrawFn) -> tuple[str, dict[str, object]]:
    """A valid NIK and what it encodes."""
    region = draw(regions_)
    birth = draw(birth_dates)
    sex = draw(sexes)
    serial = draw(serials)
    return _encode(region, birth, sex, serial), {"region": region, "birth": birth, "sex": sex, "serial": serial}


def _valid_text() -> st.SearchStrategy[str]:
    return valid_niks().map(lambda pair: pair[0])


#: Characters that are neither ASCII digits nor separators either side treats as such.
non_digits = st.characters(blacklist_categories=("Cs",)).filter(
    lambda c: not ("0" <= c <= "9") and c not in ".-\ufeff" and not c.isspace()
)


@st.composite
def wrong_format(draw: st.DrawFn) -> str:
    kind = draw(st.sampled_from(["short", "long", "replaced", "inserted"]))
    if kind == "short":
        return draw(st.text("0123456789", max_size=15))
    if kind == "long":
        return draw(st.text("0123456789", min_size=17, max_size=40))
    text = draw(_valid_text())
    i = draw(st.integers(0, 15))
    c = draw(non_digits)
    return text[:i] + c + (text[i + 1 :] if kind == "replaced" else text[i:])


@st.composite
def unknown_province(draw: st.DrawFn) -> str:
    text = draw(_valid_text())
    return draw(st.sampled_from(UNKNOWN_PROVINCE_CODES)) + text[2:]


@st.composite
def zero_wilayah(draw: st.DrawFn) -> str:
    text = draw(_valid_text())
    kk, cc = draw(st.sampled_from([("00", None), (None, "00"), ("00", "00")]))
    kk = kk or text[2:4]
    cc = cc or text[4:6]
    return text[:2] + kk + cc + text[6:]


def _calendar_impossible(day: int, month: int, yy: int) -> bool:
    try:
        dt.date(_inferred_year(yy), month, day)
    except ValueError:
        return True
    return False


@st.composite
def impossible_birth_date(draw: st.DrawFn) -> str:
    """Day 00, 32-40 or 72-99; month 00 or 13-99; or a day the month does not have (Feb 30...)."""
    text = draw(_valid_text())
    women = draw(st.booleans())
    yy = draw(st.integers(0, 99))
    kind = draw(st.sampled_from(["day", "month", "calendar"]))
    if kind == "day":
        day = draw(st.sampled_from([0, *range(32, 41), *range(72, 100)]))
        month = draw(st.integers(1, 12))
    elif kind == "month":
        day = draw(st.integers(1, 28)) + (40 if women else 0)
        month = draw(st.sampled_from([0, *range(13, 100)]))
    else:
        month = draw(st.sampled_from([2, 4, 6, 9, 11]))
        day = draw(st.integers(29, 31))
        assume(_calendar_impossible(day, month, yy))
        day += 40 if women else 0
    return text[:6] + f"{day:02d}{month:02d}{yy:02d}" + text[12:]


@st.composite
def zero_serial(draw: st.DrawFn) -> str:
    return draw(_valid_text())[:12] + "0000"


INVALID = {
    "format": wrong_format(),
    "province": unknown_province(),
    "wilayah": zero_wilayah(),
    "birth_date": impossible_birth_date(),
    "serial": zero_serial(),
}

# --------------------------------------------------------------------------------------------------
# Valid NIKs
# --------------------------------------------------------------------------------------------------


@given(valid_niks())
def test_valid_nik_parses_and_round_trips(pair: tuple[str, dict[str, object]]) -> None:
    text, facts = pair
    birth = facts["birth"]
    assert isinstance(birth, dt.date)
    report = nik_rules.parse(text, today=TODAY)
    assert report.valid, report.errors
    assert report.errors == ()
    assert report.digits == text
    assert report.sex == facts["sex"]
    assert report.serial == f"{facts['serial']:04d}"
    # within the hundred years before ``today`` the century is inferred exactly
    assert report.birth_date == birth
    region = str(facts["region"])
    assert report.province_code == region[:2]
    assert report.regency_code == f"{region[:2]}.{region[2:4]}"
    assert report.district_code == f"{region[:2]}.{region[2:4]}.{region[4:6]}"
    assert report.province == PROVINCES[region[:2]]


@given(valid_niks())
def test_valid_nik_round_trips_without_a_reference_date(pair: tuple[str, dict[str, object]]) -> None:
    text, facts = pair
    birth = facts["birth"]
    assert isinstance(birth, dt.date)
    report = nik_rules.parse(text)
    assert report.valid
    assert report.birth_date is not None
    assert (report.birth_date.day, report.birth_date.month, report.birth_date.year % 100) == (
        birth.day,
        birth.month,
        birth.year % 100,
    )
    assert report.sex == facts["sex"]
    assert report.birth_date <= dt.date(dt.date.today().year, 12, 31)


@given(valid_niks())
def test_unknown_region_codes_only_warn(pair: tuple[str, dict[str, object]]) -> None:
    text, facts = pair
    region = str(facts["region"])
    regency_code, district_code = f"{region[:2]}.{region[2:4]}", f"{region[:2]}.{region[2:4]}.{region[4:6]}"
    report = nik_rules.parse(text, today=TODAY)
    assert report.valid and report.errors == ()
    codes = [w.code for w in report.warnings]
    regency_known = regions.lookup(regency_code) is not None
    district_known = regions.lookup(district_code) is not None
    if not regency_known:
        assert codes == ["regency_unknown"]
        assert report.regency is None
    elif not district_known:
        assert codes == ["district_unknown"]
        assert report.regency == regions.name_of(regency_code)
        assert report.district is None
    else:
        assert codes == []
        assert report.regency == regions.name_of(regency_code)
        assert report.district == regions.name_of(district_code)
    assert all(w.message for w in report.warnings)
    # a warning never stops the value type either
    assert Nik(text).report.warnings == report.warnings


@given(real_region, birth_dates, sexes, serials)
def test_a_region_in_the_current_list_gives_no_warning(region: str, birth: dt.date, sex: str, serial: int) -> None:
    report = nik_rules.parse(_encode(region, birth, sex, serial), today=TODAY)
    assert report.valid and report.warnings == ()
    assert report.district is not None and report.regency is not None


@given(valid_niks())
def test_nik_value_keeps_the_sixteen_digits(pair: tuple[str, dict[str, object]]) -> None:
    text, _ = pair
    nik = Nik(text)
    assert nik.value == text and str(nik) == text
    assert nik.district_code == f"{text[0:2]}.{text[2:4]}.{text[4:6]}"
    assert nik.report.valid


@st.composite
def separated(draw: st.DrawFn) -> tuple[str, str]:
    """A valid NIK with spaces, dots and dashes put between (and around) its digits."""
    text = draw(_valid_text())
    separators = st.text(st.sampled_from([" ", ".", "-", "\t"]), min_size=1, max_size=3)
    cuts = draw(st.lists(st.integers(0, 16), min_size=1, max_size=8))
    out = text
    for cut in sorted(set(cuts), reverse=True):
        out = out[:cut] + draw(separators) + out[cut:]
    return out, text


@given(separated())
@example(("17.71.05 410190 0001", "1771054101900001"))
@example(("17-71-05-41-01-90-0001", "1771054101900001"))
def test_separators_inside_a_valid_nik_are_accepted(pair: tuple[str, str]) -> None:
    text, digits = pair
    report = nik_rules.parse(text, today=TODAY)
    assert report.valid, report.errors
    assert report.digits == digits
    assert report.text == text
    assert Nik(text).value == digits
    assert Nik(text) == Nik(digits)


# --------------------------------------------------------------------------------------------------
# Invalid NIKs
# --------------------------------------------------------------------------------------------------


def _assert_refused(text: str, code: str) -> None:
    report = nik_rules.parse(text, today=TODAY)
    assert not report.valid
    assert {e.code for e in report.errors} == {code}, (text, report.errors)
    assert all(e.message for e in report.errors)
    with pytest.raises(InvalidValue) as info:
        Nik(text)
    assert info.value.field == "nik"


@pytest.mark.parametrize("code", sorted(INVALID))
@given(data=st.data())
def test_invalid_nik_is_refused_with_its_error_code(code: str, data: st.DataObject) -> None:
    _assert_refused(data.draw(INVALID[code], label=code), code)


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("", "format"),
        ("177105410190000", "format"),
        ("17710541019000011", "format"),
        ("17710541019O0001", "format"),
        ("1771054101900001a", "format"),
        ("1771054101\u0669\u06600001", "format"),  # Arabic-Indic digits are not digits here
        ("２771054101900001", "format"),  # a fullwidth digit
        ("9971054101900001", "province"),
        ("1700054101900001", "wilayah"),
        ("1771004101900001", "wilayah"),
        ("1771053201900001", "birth_date"),
        ("1771054001900001", "birth_date"),
        ("1771057201900001", "birth_date"),
        ("1771050001900001", "birth_date"),
        ("1771050100900001", "birth_date"),
        ("1771050113900001", "birth_date"),
        ("1771053002900001", "birth_date"),  # 30 February
        ("1771057002900001", "birth_date"),  # 30 February, a woman
        ("1771052902010001", "birth_date"),  # 29 February 2001
        ("1771053104900001", "birth_date"),  # 31 April
        ("1771050101900000", "serial"),
    ],
)
def test_known_invalid_niks(text: str, code: str) -> None:
    _assert_refused(text, code)


def test_leap_day_is_a_real_date() -> None:
    report = nik_rules.parse("1771056902000001", today=TODAY)
    assert report.valid and report.birth_date == dt.date(2000, 2, 29) and report.sex == "P"


# Python's ``\s`` and lokal-id's JavaScript whitespace disagree on these: U+FEFF is only JavaScript's,
# U+001C-U+001F and U+0085 only Python's. Nik once kept a byte-order mark in its value (17 characters)
# and accepted text that parse() refused.
UNICODE_WHITESPACE = ["\ufeff", "\x1c", "\x1d", "\x1e", "\x1f", "\x85", "\xa0", "\u2003", "\u3000"]


@st.composite
def nik_like_text(draw: st.DrawFn) -> str:
    """Text near a NIK: a valid one with characters inserted, digit runs, or anything."""
    chars = st.one_of(st.characters(blacklist_categories=("Cs",)), st.sampled_from(UNICODE_WHITESPACE))
    kind = draw(st.sampled_from(["near", "digits", "any"]))
    if kind == "any":
        return draw(st.text(chars, max_size=24))
    if kind == "digits":
        return draw(st.text(st.sampled_from("0123456789 .-"), max_size=24))
    text = draw(_valid_text())
    for _ in range(draw(st.integers(0, 3))):
        i = draw(st.integers(0, len(text)))
        text = text[:i] + draw(st.one_of(chars, st.sampled_from(" .-\t\n"))) + text[i:]
    return text


@given(nik_like_text())
def test_nik_and_parse_agree_on_any_text(text: str) -> None:
    report = nik_rules.parse(text)
    if report.valid:
        assert Nik(text).value == report.digits
    else:
        with pytest.raises(InvalidValue):
            Nik(text)


@pytest.mark.parametrize("char", UNICODE_WHITESPACE, ids=lambda c: f"U+{ord(c):04X}")
def test_nik_and_parse_agree_on_unicode_whitespace(char: str) -> None:
    for text in (char + "1771054101900001", "177105" + char + "4101900001", "1771054101900001" + char):
        report = nik_rules.parse(text)
        if report.valid:
            nik = Nik(text)
            assert nik.value == report.digits == "1771054101900001"
            assert nik.district_code == "17.71.05"
        else:
            with pytest.raises(InvalidValue):
                Nik(text)


# --------------------------------------------------------------------------------------------------
# The NIK against the biodata
# --------------------------------------------------------------------------------------------------


@st.composite
def nik_and_biodata(draw: st.DrawFn) -> tuple[str, str, dt.date, str, dt.date]:
    """A NIK (sex, birth date) and biodata (sex, birth date) that agree, nearly agree or differ."""
    nik_sex = draw(sexes)
    nik_birth = draw(birth_dates)
    text = _encode(draw(regions_), nik_birth, nik_sex, draw(serials))
    bio_sex = draw(st.one_of(st.just(nik_sex), sexes))
    shift = draw(st.sampled_from(["same", "century", "day", "month", "year", "any"]))
    if shift == "same":
        bio_birth = nik_birth
    elif shift == "century":  # the NIK cannot tell 1925 from 2025
        try:
            bio_birth = nik_birth.replace(year=nik_birth.year + (-100 if nik_birth.year >= 2000 else 100))
        except ValueError:  # 29 February 2000 has no twin in 1900
            bio_birth = nik_birth
    elif shift == "day":
        bio_birth = nik_birth + dt.timedelta(days=draw(st.sampled_from([-1, 1, 40, -40])))
    elif shift == "month":
        bio_birth = nik_birth.replace(day=1) + dt.timedelta(days=draw(st.integers(28, 31)))
        bio_birth = bio_birth.replace(day=min(nik_birth.day, 28))
    elif shift == "year":
        bio_birth = nik_birth.replace(day=min(nik_birth.day, 28), year=nik_birth.year + draw(st.sampled_from([-1, 1])))
    else:
        bio_birth = draw(st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date(2099, 12, 31)))
    return text, nik_sex, nik_birth, bio_sex, bio_birth


@given(nik_and_biodata())
def test_check_against_biodata_agrees_exactly_when_sex_and_date_match(
    case: tuple[str, str, dt.date, str, dt.date],
) -> None:
    text, nik_sex, nik_birth, bio_sex, bio_birth = case
    report = nik_rules.parse(text)
    problems = nik_rules.check_against_biodata(report, sex=bio_sex, birth_date=bio_birth)
    same_sex = nik_sex == bio_sex
    same_date = (nik_birth.day, nik_birth.month, nik_birth.year % 100) == (
        bio_birth.day,
        bio_birth.month,
        bio_birth.year % 100,
    )
    assert (problems == []) == (same_sex and same_date)
    assert len(problems) == (not same_sex) + (not same_date)
    if not same_sex:
        assert any("sex" in p for p in problems)
    if not same_date:
        assert any("birth date" in p for p in problems)


@given(st.one_of(*INVALID.values()), sexes, birth_dates)
def test_check_against_biodata_refuses_an_invalid_nik(text: str, sex: str, birth: dt.date) -> None:
    report = nik_rules.parse(text, today=TODAY)
    assert nik_rules.check_against_biodata(report, sex=sex, birth_date=birth) == ["the NIK is not valid"]
