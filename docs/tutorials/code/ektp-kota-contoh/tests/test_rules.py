"""The rules on their own: pure functions of the profile, the enrolment and the sites' state."""

from __future__ import annotations

from pathlib import Path

import pytest
from ektp_core.config import load_profile
from ektp_core.devices.region_rules import SiteSnapshot
from ektp_core.testing import make_enrolment

from ektp_kota_contoh import PROFILE_FILE
from ektp_kota_contoh import KotaContohRules as Rules

PROFILE = load_profile(PROFILE_FILE)
OFFICE, GADING_CEMPAKA, KAMPUNG_MELAYU, MOBILE = "17.71", "17.71.02", "17.71.05", "17.71-JB1"
EVERY_PRINTER = frozenset({OFFICE, GADING_CEMPAKA, KAMPUNG_MELAYU})


def rules(**settings: object) -> Rules:
    # As the core builds them: with the keyword arguments the constructor names.
    return Rules(profile=PROFILE, options={"min_blanks": 5, **settings})


def sites(**blanks: int) -> SiteSnapshot:
    stock = {OFFICE: 100, GADING_CEMPAKA: blanks.get("gading", 50), KAMPUNG_MELAYU: blanks.get("melayu", 50)}
    return SiteSnapshot(printers=EVERY_PRINTER, blanks=stock)


def test_the_example_profile_suits_the_rules() -> None:
    assert rules().check() == []
    assert rules().min_blanks == 5
    assert Rules(profile=PROFILE, options={}).min_blanks == 1


def test_a_kecamatan_with_its_reserve_prints_its_own_residents() -> None:
    routing = rules().route(make_enrolment(site_code=GADING_CEMPAKA), sites(gading=5))
    assert routing.site_code == GADING_CEMPAKA
    assert "5 blank cards in stock" in routing.reason


def test_below_the_reserve_the_office_prints() -> None:
    routing = rules().route(make_enrolment(site_code=KAMPUNG_MELAYU), sites(melayu=4))
    assert routing.site_code == OFFICE
    assert "holds 4 blank cards, fewer than the 5" in routing.reason


def test_a_kecamatan_without_a_printer_sends_its_cards_to_the_office() -> None:
    state = SiteSnapshot(printers={OFFICE}, blanks={OFFICE: 10, GADING_CEMPAKA: 50})
    routing = rules().route(make_enrolment(site_code=GADING_CEMPAKA), state)
    assert routing.site_code == OFFICE and "has no printer" in routing.reason


@pytest.mark.parametrize(
    ("recorded_at", "why"),
    [
        (OFFICE, "printed there"),
        (MOBILE, "mobile unit"),
        ("17.71.09", "does not list"),
    ],
)
def test_the_office_prints_its_own_mobile_units_and_unknown_sites(recorded_at: str, why: str) -> None:
    routing = rules().route(make_enrolment(site_code=recorded_at), sites())
    assert routing.site_code == OFFICE and why in routing.reason


def test_prints_at_answers_per_site() -> None:
    rule = rules()
    assert rule.prints_at(rule.sites[KAMPUNG_MELAYU], sites(melayu=5)).site_code == KAMPUNG_MELAYU
    assert rule.prints_at(rule.sites[KAMPUNG_MELAYU], sites(melayu=0)).site_code == OFFICE


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"min_blanks": 0}, "min_blanks must be a whole number from 1"),
        ({"min_blanks": "5"}, "min_blanks must be a whole number from 1"),
        ({"min_blanks": True}, "min_blanks must be a whole number from 1"),
        ({"print_days": ["senin"]}, "has no setting 'print_days'"),
    ],
)
def test_bad_settings_are_refused_with_their_name(settings: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Rules(profile=PROFILE, options=settings)


def test_a_printing_site_without_a_printer_is_a_problem(tmp_path: Path) -> None:
    text = PROFILE_FILE.read_text("utf-8")
    without = text.replace('site = "17.71.05"', 'site = "17.71"')
    assert without != text
    (tmp_path / "profile.toml").write_text(without, "utf-8")
    problems = Rules(profile=load_profile(tmp_path / "profile.toml"), options={}).check()
    assert problems == ["site 17.71.05 (Kecamatan Kampung Melayu) prints but has no printer in [[devices.printers]]"]
