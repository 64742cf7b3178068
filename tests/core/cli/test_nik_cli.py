"""`ektp nik` and the NIK rules on known cases."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from click.testing import CliRunner

from ektp_core.cli import cli
from ektp_core.domain import nik

KAMPUNG_MELAYU_WOMAN = "1771054101900001"


def run(*args: str):
    return CliRunner().invoke(cli, ["nik", *args])


def test_valid_nik_exit_0_and_json_keys() -> None:
    result = run(KAMPUNG_MELAYU_WOMAN, "--json")
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert data["valid"] is True and data["errors"] == [] and data["warnings"] == []
    assert data["province_code"] == "17" and data["regency_code"] == "17.71" and data["district_code"] == "17.71.05"
    assert (data["province"], data["regency"], data["district"]) == ("Bengkulu", "Kota Bengkulu", "Kampung Melayu")
    assert data["sex"] == "P" and data["birth_date"] == "1990-01-01" and data["serial"] == "0001"
    assert "2138" in data["region_data"]


def test_text_output_names_the_regions() -> None:
    result = run(KAMPUNG_MELAYU_WOMAN)
    assert result.exit_code == 0
    assert "Kampung Melayu" in result.output and "PEREMPUAN" in result.output


def test_invalid_nik_exit_1_with_errors() -> None:
    result = run("1771053201900000", "--json")
    assert result.exit_code == 1
    codes = {e["code"] for e in json.loads(result.stdout)["errors"]}
    assert codes == {"birth_date", "serial"}


@pytest.mark.parametrize(
    "text, code",
    [
        ("12345", "format"),
        ("17710541019000011", "format"),
        ("177105410190000A", "format"),
        ("9971054101900001", "province"),
        ("1700054101900001", "wilayah"),
        ("1771004101900001", "wilayah"),
        ("1771057201900001", "birth_date"),
        ("1771053501900001", "birth_date"),
        ("1771053002900001", "birth_date"),
        ("1771050113900001", "birth_date"),
        ("1771054101900000", "serial"),
    ],
)
def test_each_rule_has_its_error(text: str, code: str) -> None:
    report = nik.parse(text)
    assert not report.valid
    assert code in {e.code for e in report.errors}


def test_unknown_regency_is_a_warning_not_an_error() -> None:
    result = run("1799054101900001", "--json")
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert data["valid"] and [w["code"] for w in data["warnings"]] == ["regency_unknown"]


def test_unknown_district_is_a_warning() -> None:
    report = nik.parse("1771994101900001")
    assert report.valid and [w.code for w in report.warnings] == ["district_unknown"]


def test_usage_error_exit_2() -> None:
    assert run().exit_code == 2
    assert CliRunner().invoke(cli, ["nik", KAMPUNG_MELAYU_WOMAN, "--bogus"]).exit_code == 2


def test_century_follows_the_reference_date() -> None:
    assert nik.parse("1771050101300001", today=dt.date(2026, 1, 1)).birth_date == dt.date(1930, 1, 1)
    assert nik.parse("1771050101100001", today=dt.date(2026, 1, 1)).birth_date == dt.date(2010, 1, 1)
    result = run("1771050101300001", "--json", "--today", "2035-06-01")
    assert json.loads(result.stdout)["birth_date"] == "2030-01-01"


def test_biodata_cross_check() -> None:
    report = nik.parse(KAMPUNG_MELAYU_WOMAN)
    assert nik.check_against_biodata(report, sex="P", birth_date=dt.date(1990, 1, 1)) == []
    assert nik.check_against_biodata(report, sex="P", birth_date=dt.date(1890, 1, 1)) == []  # 2-digit year
    problems = nik.check_against_biodata(report, sex="L", birth_date=dt.date(1990, 1, 2))
    assert len(problems) == 2


def test_eligibility() -> None:
    on = dt.date(2026, 11, 27)
    assert nik.eligibility_problem(birth_date=dt.date(2009, 11, 27), status_perkawinan="BELUM KAWIN", on=on) is None
    assert "16" in nik.eligibility_problem(birth_date=dt.date(2009, 11, 28), status_perkawinan="BELUM KAWIN", on=on)
    assert nik.eligibility_problem(birth_date=dt.date(2010, 1, 1), status_perkawinan="CERAI HIDUP", on=on) is None
    assert (
        nik.eligibility_problem(birth_date=dt.date(2010, 1, 1), status_perkawinan="BELUM KAWIN", on=on, minimum_age=16)
        is None
    )
