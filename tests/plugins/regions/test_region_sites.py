"""Sites generated from the Kemendagri region list, with single sites added or overridden."""

from __future__ import annotations

from pathlib import Path

import pytest
from regionkit import from_text, profile

from ektp_core.config import load_profile
from ektp_core.domain.model import SiteKind
from ektp_core.errors import ConfigError

BASE = """
[profile]
name = "t"
region = "17.71"

[sites_from_regions]
dukcapil = {}
kecamatan = { prints = true }
"""


def test_kota_bengkulu_has_nine_kecamatan_from_the_region_data() -> None:
    sites = profile("kota-bengkulu").sites
    kecamatan = [s for s in sites if s.kind is SiteKind.KECAMATAN]
    assert [(s.code, s.name) for s in kecamatan] == [
        ("17.71.01", "Kecamatan Selebar"),
        ("17.71.02", "Kecamatan Gading Cempaka"),
        ("17.71.03", "Kecamatan Teluk Segara"),
        ("17.71.04", "Kecamatan Muara Bangka Hulu"),
        ("17.71.05", "Kecamatan Kampung Melayu"),
        ("17.71.06", "Kecamatan Ratu Agung"),
        ("17.71.07", "Kecamatan Ratu Samban"),
        ("17.71.08", "Kecamatan Sungai Serut"),
        ("17.71.09", "Kecamatan Singaran Pati"),
    ]
    assert all(s.records and not s.prints and s.region_code == s.code for s in kecamatan)
    office = sites[0]
    assert (office.code, office.name, office.kind, office.records, office.prints) == (
        "17.71",
        "Disdukcapil Kota Bengkulu",
        SiteKind.DUKCAPIL,
        True,
        True,
    )
    assert [s.code for s in sites if s.kind is SiteKind.MOBILE] == ["17.71-JB1"]


def test_jakarta_pusat_has_8_kecamatan_and_44_kelurahan_with_overrides() -> None:
    jakarta = profile("dki-jakarta-pusat")
    kinds = [s.kind for s in jakarta.sites]
    assert (kinds.count(SiteKind.KECAMATAN), kinds.count(SiteKind.KELURAHAN), len(jakarta.sites)) == (8, 44, 54)
    assert jakarta.region_name == "Kota Administrasi Jakarta Pusat"
    gambir = jakarta.site("31.71.01.1001")
    # The [[sites]] entry overrides only prints; the name and kind still come from the region data.
    assert (gambir.name, gambir.kind, gambir.prints, gambir.records) == (
        "Kelurahan Gambir",
        SiteKind.KELURAHAN,
        True,
        True,
    )
    assert not jakarta.site("31.71.01.1002").prints
    assert [s.code for s in jakarta.sites if s.prints] == [
        "31.71",
        "31.71.01",
        "31.71.01.1001",
        "31.71.02",
        "31.71.03",
        "31.71.03.1001",
        "31.71.04",
        "31.71.05",
        "31.71.06",
        "31.71.06.1001",
        "31.71.07",
        "31.71.08",
    ]


def test_kelurahan_of_kota_bengkulu_and_a_renamed_site() -> None:
    p = from_text(
        BASE.replace("kecamatan = { prints = true }", "kelurahan = { records = false }")
        + """
[[sites]]
code = "17.71.05.1001"
name = "Kantor Lurah Kandang"

[[sites]]
code = "17.71-JB2"
name = "Jemput Bola 2"
kind = "mobile"
"""
    )
    kelurahan = [s for s in p.sites if s.kind is SiteKind.KELURAHAN]
    assert len(kelurahan) == 67 and not any(s.records for s in kelurahan)
    assert p.site("17.71.05.1001").name == "Kantor Lurah Kandang"
    assert p.site("17.71.05.1001").region_code == "17.71.05.1001"
    assert p.sites[-1].code == "17.71-JB2"  # sites that are not generated come after the generated ones


@pytest.mark.parametrize(
    ("change", "key", "expected"),
    [
        (
            ("kecamatan = { prints = true }", 'kecamatan = { prints = "yes" }'),
            "sites_from_regions.kecamatan.prints",
            "true or false",
        ),
        (
            ("kecamatan = { prints = true }", "kecamatan = { colour = 1 }"),
            "sites_from_regions.kecamatan.colour",
            "no such key",
        ),
        (("kecamatan = { prints = true }", "desa = {}"), "sites_from_regions.desa", "no such key"),
        (
            ("dukcapil = {}", "dukcapil = { name = 7 }"),
            "sites_from_regions.dukcapil.name",
            "the Dukcapil office's name",
        ),
        (("dukcapil = {}", "dukcapil = true"), "sites_from_regions.dukcapil", "a table"),
    ],
)
def test_bad_generation_settings_name_the_key(tmp_path: Path, change: tuple[str, str], key: str, expected: str) -> None:
    path = tmp_path / "p.toml"
    path.write_text(BASE.replace(*change))
    with pytest.raises(ConfigError) as info:
        load_profile(path)
    assert f"key '{key}'" in str(info.value) and expected in str(info.value)


def test_a_new_site_still_needs_its_name_and_kind() -> None:
    with pytest.raises(ConfigError, match=r"key 'sites\[0\]\.name': expected a site name \(the key is missing\)"):
        from_text(BASE + '[[sites]]\ncode = "17.71-X"\nkind = "mobile"\n')
