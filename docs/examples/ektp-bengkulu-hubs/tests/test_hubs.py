"""The printing-hubs rules on their own: pure functions of the profile, the enrolment and the sites' state."""

from __future__ import annotations

from pathlib import Path

import pytest
from ektp_core.config import load_profile
from ektp_core.devices.region_rules import SiteSnapshot
from ektp_core.testing import make_enrolment

from ektp_bengkulu_hubs import PROFILE_FILE, HubRules

PROFILE = load_profile(PROFILE_FILE)
OFFICE, SELEBAR, RATU_AGUNG = "17.71", "17.71.01", "17.71.06"
KAMPUNG_MELAYU, TELUK_SEGARA = "17.71.05", "17.71.03"
HUBS = {
    SELEBAR: ["17.71.02", KAMPUNG_MELAYU, "17.71.09"],
    RATU_AGUNG: [TELUK_SEGARA, "17.71.04", "17.71.07", "17.71.08"],
}


def rules(**settings: object) -> HubRules:
    return HubRules(PROFILE, {"hubs": HUBS, **settings})


def stocked(**blanks: int) -> SiteSnapshot:
    return SiteSnapshot(
        printers={OFFICE, SELEBAR, RATU_AGUNG},
        blanks={OFFICE: 100, SELEBAR: blanks.get("selebar", 20), RATU_AGUNG: blanks.get("ratu", 20)},
    )


def test_the_shipped_profile_suits_the_rules() -> None:
    loaded = HubRules(PROFILE, {k: v for k, v in PROFILE.rules.items() if k != "name"})
    assert loaded.check() == []
    assert loaded.hub_day == "thursday"
    assert loaded.hub_of[KAMPUNG_MELAYU] == SELEBAR and loaded.hub_of[SELEBAR] == SELEBAR


def test_a_served_kecamatan_prints_at_its_hub_on_the_hub_day() -> None:
    routing = rules(hub_day="kamis").route(make_enrolment(site_code=KAMPUNG_MELAYU), stocked())
    assert (routing.site_code, routing.print_day) == (SELEBAR, "thursday")
    assert "served by the hub Kecamatan Selebar" in routing.reason


def test_a_hub_prints_its_own_residents_any_day() -> None:
    routing = rules(hub_day="kamis").route(make_enrolment(site_code=RATU_AGUNG), stocked())
    assert (routing.site_code, routing.print_day) == (RATU_AGUNG, None)


def test_a_hub_without_blanks_sends_the_cards_to_the_office() -> None:
    routing = rules().route(make_enrolment(site_code=TELUK_SEGARA), stocked(ratu=0))
    assert routing.site_code == OFFICE
    assert "the hub Kecamatan Ratu Agung has no blank cards in stock" in routing.reason


def test_a_hub_without_a_printer_sends_the_cards_to_the_office() -> None:
    state = SiteSnapshot(printers={OFFICE}, blanks={OFFICE: 5, SELEBAR: 5})
    routing = rules().route(make_enrolment(site_code=SELEBAR), state)
    assert routing.site_code == OFFICE and "has no printer" in routing.reason


@pytest.mark.parametrize(
    ("recorded_at", "why"),
    [
        (OFFICE, "printed there"),
        ("17.71-JB1", "is a mobile unit"),
        ("17.02", "does not list"),
    ],
)
def test_the_office_prints_the_rest(recorded_at: str, why: str) -> None:
    routing = rules().route(make_enrolment(site_code=recorded_at), stocked())
    assert routing.site_code == OFFICE and why in routing.reason


def test_a_kecamatan_no_hub_serves_goes_to_the_office() -> None:
    routing = rules(hubs={SELEBAR: []}).route(make_enrolment(site_code=KAMPUNG_MELAYU), stocked())
    assert routing.site_code == OFFICE and "served by no hub" in routing.reason


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"hubs": {}}, "needs hubs"),
        ({"hubs": {SELEBAR: "17.71.02"}}, "must be a list of site codes"),
        ({"hubs": HUBS, "hub_day": "someday"}, "not a day of the week"),
        ({"hubs": HUBS, "hub_day": 4}, "hub_day must be a weekday"),
        ({"hubs": HUBS, "courier": True}, "no setting 'courier'"),
    ],
)
def test_bad_settings_are_refused(settings: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        HubRules(PROFILE, settings)


@pytest.mark.parametrize(
    ("hubs", "problem"),
    [
        ({"17.71.02": []}, "site 17.71.02 (Kecamatan Gading Cempaka) is a hub and must print"),
        ({SELEBAR: ["17.71.99"]}, "site 17.71.99 is served by hub 17.71.01 but is not a kecamatan site"),
        ({SELEBAR: [TELUK_SEGARA], RATU_AGUNG: [TELUK_SEGARA]}, "site 17.71.03 is served by two hubs"),
        ({"17.71-JB1": []}, "site 17.71-JB1 is a hub but is not a kecamatan site"),
    ],
)
def test_check_names_the_site_at_fault(hubs: dict[str, list[str]], problem: str) -> None:
    assert any(problem in p for p in HubRules(PROFILE, {"hubs": hubs}).check())


def test_a_hub_without_a_printer_is_a_problem(tmp_path: Path) -> None:
    text = PROFILE_FILE.read_text("utf-8").replace('site = "17.71.06"', 'site = "17.71"')
    (tmp_path / "profile.toml").write_text(text, "utf-8")
    problems = HubRules(load_profile(tmp_path / "profile.toml"), {"hubs": HUBS}).check()
    assert problems == ["site 17.71.06 (Kecamatan Ratu Agung) is a hub but has no printer in [[devices.printers]]"]
