"""Each rule's routing decision and its reason, from profiles parsed without a database."""

from __future__ import annotations

import pytest
from regionkit import profile, rules

from ektp_core.devices.region_rules import SiteSnapshot
from ektp_core.domain.model import Enrolment
from ektp_core.errors import ConfigError
from ektp_core.testing.samples import make_enrolment

JAKARTA = {"kabupaten_kota": "KOTA ADM. JAKARTA PUSAT", "provinsi": "DKI JAKARTA"}


def at(site: str, **biodata: str) -> Enrolment:
    return make_enrolment(site_code=site, **biodata)


# --------------------------------------------------------------------------------------------------
# semi-vertical (kota-bengkulu)
# --------------------------------------------------------------------------------------------------


def test_semi_vertical_prints_everything_at_the_office_on_the_kecamatan_day() -> None:
    semi = rules("kota-bengkulu")
    nothing = SiteSnapshot()
    r = semi.route(at("17.71.01"), nothing)
    assert (r.site_code, r.print_day) == ("17.71", "monday")
    assert str(r.reason) == (
        "semi-vertical: every card is printed at Disdukcapil Kota Bengkulu, the cards of Kecamatan Selebar on Monday"
    )
    office = semi.route(at("17.71"), nothing)
    assert (office.site_code, office.print_day) == ("17.71", None)


def test_semi_vertical_mobile_unit_uses_the_residents_kecamatan_day() -> None:
    semi = rules("kota-bengkulu")
    r = semi.route(at("17.71-JB1", kecamatan="Kec. Ratu  Samban"), SiteSnapshot())
    assert (r.site_code, r.print_day) == ("17.71", "thursday")
    assert str(r.reason).startswith(
        "recorded by mobile unit Jemput Bola Disdukcapil Kota Bengkulu; the resident lives "
        "in Kecamatan Ratu Samban: semi-vertical"
    )
    unknown = semi.route(at("17.71-JB1", kecamatan="ATLANTIS"), SiteSnapshot())
    assert (unknown.site_code, unknown.print_day) == ("17.71", None)
    assert "'ATLANTIS', which is not one of Kota Bengkulu's" in str(unknown.reason)
    away = semi.route(at("17.71-JB1", kabupaten_kota="KABUPATEN SELUMA"), SiteSnapshot())
    assert "the address is in KABUPATEN SELUMA, outside Kota Bengkulu" in str(away.reason)


def test_semi_vertical_settings_are_checked() -> None:
    days = rules("kota-bengkulu", ('"17.71.01" = "monday"', '"1771 01" = "Senin"'))
    assert days.route(at("17.71.01"), SiteSnapshot()).print_day == "monday"
    with pytest.raises(ConfigError, match=r"'17.72.01' is not a kecamatan of Kota Bengkulu"):
        rules("kota-bengkulu", ('"17.71.01" = "monday"', '"17.72.01" = "monday"'))
    with pytest.raises(ConfigError, match="'someday' is not a day of the week"):
        rules("kota-bengkulu", ('"17.71.01" = "monday"', '"17.71.01" = "someday"'))
    with pytest.raises(ConfigError, match="semi-vertical takes only print_days"):
        rules("kota-bengkulu", ("[rules.print_days]", "[rules.print_dayz]"))


def test_semi_vertical_refuses_printing_kecamatan_naming_the_site() -> None:
    with pytest.raises(ConfigError) as info:
        rules(
            "kota-bengkulu",
            ("kecamatan = { records = true, prints = false }", "kecamatan = { records = true, prints = true }"),
        )
    message = str(info.value)
    assert "site 17.71.03 (Kecamatan Teluk Segara) prints but has no printer in [[devices.printers]]" in message
    assert (
        "site 17.71.03 (Kecamatan Teluk Segara) prints, but semi-vertical prints only at the Dukcapil office" in message
    )


# --------------------------------------------------------------------------------------------------
# kecamatan-rollout (kota-bengkulu-kecamatan)
# --------------------------------------------------------------------------------------------------


def test_kecamatan_prints_its_own_cards_when_it_has_printer_and_blanks() -> None:
    rollout = rules("kota-bengkulu-kecamatan")
    r = rollout.route(at("17.71.05"), SiteSnapshot(printers={"17.71", "17.71.05"}, blanks={"17.71.05": 7}))
    assert (r.site_code, r.print_day) == ("17.71.05", None)
    assert str(r.reason) == (
        "kecamatan-rollout: Kecamatan Kampung Melayu prints the cards it records (printer, 7 blank cards in stock)"
    )


@pytest.mark.parametrize(
    ("state", "why"),
    [
        (SiteSnapshot(printers={"17.71", "17.71.05"}, blanks={"17.71": 3}), "has no blank cards in stock"),
        (SiteSnapshot(printers={"17.71"}, blanks={"17.71": 3, "17.71.05": 9}), "has no printer"),
        (SiteSnapshot(printers={"17.71"}, blanks={"17.71": 3}), "has neither a printer nor blank cards in stock"),
    ],
)
def test_kecamatan_without_printer_or_blanks_falls_back_to_the_office(state: SiteSnapshot, why: str) -> None:
    r = rules("kota-bengkulu-kecamatan").route(at("17.71.05"), state)
    assert r.site_code == "17.71"
    assert str(r.reason) == (
        f"kecamatan-rollout: Kecamatan Kampung Melayu {why}, so the card is printed at Disdukcapil Kota Bengkulu"
    )


def test_kecamatan_that_does_not_print_and_an_office_without_blanks_say_so() -> None:
    rollout = rules(
        "kota-bengkulu-kecamatan", ("[lifecycle]", '[[sites]]\ncode = "17.71.05"\nprints = false\n\n[lifecycle]')
    )
    r = rollout.route(at("17.71.05"), SiteSnapshot(printers={"17.71", "17.71.05"}, blanks={"17.71.05": 9}))
    assert r.site_code == "17.71"
    assert "Kecamatan Kampung Melayu does not print (prints = false)" in str(r.reason)
    assert str(r.reason).endswith("(no blank cards in stock there yet: the job waits for a delivery)")


def test_kecamatan_rollout_mobile_unit_prints_at_the_residents_kecamatan() -> None:
    rollout = rules("kota-bengkulu-kecamatan")
    state = SiteSnapshot(printers={"17.71", "17.71.02"}, blanks={"17.71.02": 2})
    r = rollout.route(at("17.71-JB1", kecamatan="GADING CEMPAKA"), state)
    assert r.site_code == "17.71.02"
    assert "the resident lives in Kecamatan Gading Cempaka" in str(r.reason)
    assert rollout.route(at("17.71-JB1", kecamatan="SELEBAR"), state).site_code == "17.71"


def test_kecamatan_rollout_check_names_the_site_without_a_printer() -> None:
    with pytest.raises(ConfigError) as info:
        rules("kota-bengkulu-kecamatan", ('site = "17.71.03"', 'site = "17.71.04"'))
    assert "site 17.71.03 (Kecamatan Teluk Segara) prints but has no printer in [[devices.printers]]" in str(info.value)


# --------------------------------------------------------------------------------------------------
# kelurahan-rollout (dki-jakarta-pusat)
# --------------------------------------------------------------------------------------------------


def test_kelurahan_with_printer_and_blanks_prints_its_own() -> None:
    dki = rules("dki-jakarta-pusat")
    r = dki.route(at("31.71.01.1001"), SiteSnapshot(printers={"31.71.01.1001"}, blanks={"31.71.01.1001": 4}))
    assert r.site_code == "31.71.01.1001"
    assert str(r.reason) == (
        "kelurahan-rollout: Kelurahan Gambir prints the cards it records (printer, 4 blank cards in stock)"
    )


def test_kelurahan_falls_back_to_its_kecamatan_then_the_city_office() -> None:
    dki = rules("dki-jakarta-pusat")
    state = SiteSnapshot(printers={"31.71", "31.71.01", "31.71.01.1001"}, blanks={"31.71": 5, "31.71.01": 5})
    kecamatan = dki.route(at("31.71.01.1001"), state)
    assert kecamatan.site_code == "31.71.01"
    assert str(kecamatan.reason) == (
        "kelurahan-rollout: Kelurahan Gambir has no blank cards in stock; Kecamatan Gambir "
        "prints it (printer, 5 blank cards in stock)"
    )
    city = dki.route(at("31.71.02.1001"), state)
    assert city.site_code == "31.71"
    assert str(city.reason) == (
        "kelurahan-rollout: Kelurahan Pasar Baru does not print (prints = false); Kecamatan Sawah "
        "Besar has neither a printer nor blank cards in stock, so the card is printed at Suku Dinas "
        "Dukcapil Kota Administrasi "
        "Jakarta Pusat"
    )
    assert dki.route(at("31.71.01"), state).site_code == "31.71.01"


def test_kelurahan_rollout_mobile_unit_goes_to_the_residents_kelurahan_then_kecamatan() -> None:
    dki = rules("dki-jakarta-pusat")
    state = SiteSnapshot(
        printers={"31.71", "31.71.01", "31.71.01.1001"}, blanks={"31.71": 5, "31.71.01": 5, "31.71.01.1001": 5}
    )
    home = dki.route(at("31.71-JB1", kecamatan="GAMBIR", kelurahan="GAMBIR", **JAKARTA), state)
    assert home.site_code == "31.71.01.1001" and "the resident lives in Kelurahan Gambir" in str(home.reason)
    # Kebon Kelapa (Gambir) has no printer: the card goes up to Kecamatan Gambir.
    up = dki.route(at("31.71-JB1", kecamatan="GAMBIR", kelurahan="KEBON KELAPA", **JAKARTA), state)
    assert up.site_code == "31.71.01" and "Kelurahan Kebon Kelapa does not print" in str(up.reason)


def test_mobile_units_never_print() -> None:
    with pytest.raises(
        ConfigError,
        match=r"site 31.71-JB1 \(Jemput Bola .*\) is a mobile unit: mobile units record "
        "only",
    ):
        rules(
            "dki-jakarta-pusat",
            ('kind = "mobile"\nrecords = true\nprints = false', 'kind = "mobile"\nrecords = true\nprints = true'),
        )


def test_prints_at_for_every_site_of_a_profile() -> None:
    dki = rules("dki-jakarta-pusat")
    sites = profile("dki-jakarta-pusat").sites
    state = SiteSnapshot(printers={"31.71.06", "31.71"}, blanks={"31.71.06": 1, "31.71": 1})
    answers = {s.code: dki.prints_at(s, state).site_code for s in sites}
    assert answers["31.71.06.1002"] == "31.71.06"  # Pegangsaan -> Kecamatan Menteng
    assert answers["31.71.05.1001"] == "31.71"
    assert answers["31.71-JB1"] == "31.71"  # no address: the unit belongs to the whole city


def test_dukcapil_only_still_routes_everything_to_the_office() -> None:
    minimal = rules("minimal")
    r = minimal.route(at("17.71"), SiteSnapshot())
    assert r == minimal.prints_at(profile("minimal").sites[0], SiteSnapshot())
    assert r.site_code == "17.71" and "dukcapil-only" in str(r.reason) and r.print_day is None
