"""Profiles and deployments: a mistake is reported with the file, the key and what was expected."""

from __future__ import annotations

from pathlib import Path

import pytest

from ektp_core.config import find_deployment, load_deployment, load_profile
from ektp_core.errors import ConfigError, DeploymentNotFound
from ektp_core.lifecycle.routing import load_rules
from ektp_core.plugins import PluginHost

GOOD = """
[profile]
name = "t"
region = "17.71"

[[sites]]
code = "17.71"
name = "Disdukcapil"
kind = "dukcapil"
prints = true

[rules]
name = "dukcapil-only"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "p.toml"
    path.write_text(text)
    return path


def test_good_profile(tmp_path: Path) -> None:
    profile = load_profile(write(tmp_path, GOOD))
    assert profile.region_name == "Kota Bengkulu" and profile.dukcapil_code == "17.71"
    assert profile.site("17.71").prints and profile.lifecycle.eligibility_age == 17


@pytest.mark.parametrize(
    "change, key, expected",
    [
        (('region = "17.71"', 'region = "17.98"'), "profile.region", "a code in Kepmendagri"),
        (('region = "17.71"', 'region = "17"'), "profile.region", "regency or city code"),
        (('region = "17.71"', "region = 1771"), "profile.region", "Kemendagri regency code"),
        (('kind = "dukcapil"', 'kind = "castle"'), "sites[0].kind", "expected one of"),
        (("prints = true", 'prints = "yes"'), "sites[0].prints", "true or false"),
        (("prints = true", 'prints = true\ncolour = "red"'), "sites[0].colour", "no such key"),
        (('name = "t"', 'name = "t"\nbogus = 1'), "profile.bogus", "no such key"),
        (("[rules]", "[lifecycle]\neligibility_age = 99\n[rules]"), "lifecycle.eligibility_age", "from 10 to 25"),
        (
            ("[rules]", '[lifecycle]\nchip_fingers = ["nose"]\n[rules]'),
            "lifecycle.chip_fingers",
            "two different fingers of",
        ),
        (("[rules]", '[plugins]\nallow = "all"\n[rules]'), "plugins.allow", "a list of strings"),
        (("[profile]", "[profil]\n[profile]"), "profil", "no such key"),
    ],
)
def test_bad_profile_names_file_key_and_expectation(tmp_path: Path, change, key: str, expected: str) -> None:
    path = write(tmp_path, GOOD.replace(*change))
    with pytest.raises(ConfigError) as info:
        load_profile(path)
    message = str(info.value)
    assert str(path) in message and f"key '{key}'" in message and expected in message


def test_missing_section_and_bad_toml(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="key 'profile': expected a table \\(the key is missing\\)"):
        load_profile(write(tmp_path, "[[sites]]\ncode='x'\n"))
    with pytest.raises(ConfigError, match="valid TOML"):
        load_profile(write(tmp_path, "[profile\n"))
    with pytest.raises(ConfigError, match="an existing profile file"):
        load_profile(tmp_path / "missing.toml")


def test_duplicate_site_codes(tmp_path: Path) -> None:
    site = GOOD[GOOD.index("[[sites]]") : GOOD.index("[rules]")]
    with pytest.raises(ConfigError, match=r"sites\[1\].code"):
        load_profile(write(tmp_path, GOOD.replace("[rules]", site + "[rules]")))


def test_rules_checked_at_load(tmp_path: Path) -> None:
    profile = load_profile(write(tmp_path, GOOD.replace("prints = true", "prints = false")))
    with pytest.raises(ConfigError, match="must print"):
        load_rules(profile, PluginHost())
    unknown = load_profile(write(tmp_path, GOOD.replace('name = "dukcapil-only"', 'name = "everywhere"')))
    with pytest.raises(Exception, match="no region rule named 'everywhere'"):
        load_rules(unknown, PluginHost())


def test_deployment_discovery(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ektp_deployment) -> None:
    root = ektp_deployment.root
    monkeypatch.delenv("EKTP_DEPLOYMENT", raising=False)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(DeploymentNotFound, match="--deployment DIR, set EKTP_DEPLOYMENT"):
        find_deployment()
    assert find_deployment(root).root == root
    monkeypatch.setenv("EKTP_DEPLOYMENT", str(root))
    assert find_deployment().root == root
    monkeypatch.delenv("EKTP_DEPLOYMENT")
    monkeypatch.chdir(root)
    assert find_deployment().root == root
    with pytest.raises(DeploymentNotFound, match="is not an ektp deployment"):
        load_deployment(tmp_path)


def test_deployment_site_must_exist(ektp_deployment) -> None:
    path = ektp_deployment.root / "ektp.toml"
    path.write_text(path.read_text().replace('site = "17.71"', 'site = "17.71.05"'))
    with pytest.raises(ConfigError, match=r"key 'deployment\.site'"):
        load_deployment(ektp_deployment.root)


def test_database_url_from_the_environment_replaces_the_file(
    ektp_deployment, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    other = f"sqlite:///{tmp_path / 'other.sqlite3'}"
    monkeypatch.setenv("EKTP_DATABASE_URL", other)
    assert load_deployment(ektp_deployment.root).database_url == other


def test_database_password_hidden_in_repr(ektp_deployment) -> None:
    import attrs

    shown = repr(attrs.evolve(ektp_deployment, database_url="postgresql+psycopg://ektp:s3cret@db/ektp"))
    assert "s3cret" not in shown and "***" in shown


def test_profile_cross_checks(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"profile\.dukcapil_code"):
        load_profile(write(tmp_path, GOOD.replace('region = "17.71"', 'region = "17.71"\ndukcapil_code = "DKC"')))
    with pytest.raises(ConfigError, match="two different fingers"):
        load_profile(
            write(
                tmp_path, GOOD.replace("[rules]", '[lifecycle]\nchip_fingers = ["right_index", "right_index"]\n[rules]')
            )
        )
    with pytest.raises(ConfigError, match=r"sites\[0\]\.kind': expected one of"):
        load_profile(write(tmp_path, GOOD.replace('kind = "dukcapil"', 'kind = "castle"')))
    settings = load_profile(write(tmp_path, GOOD.replace('name = "dukcapil-only"', 'name = "dukcapil-only"\nday = 1')))
    with pytest.raises(ConfigError, match="settings that dukcapil-only accepts"):
        load_rules(settings, PluginHost())


GENERATED = """
[profile]
name = "g"
region = "17.71"

[sites_from_regions]
dukcapil = {}
kecamatan = {}

[[sites]]
code = "17.71.05"
prints = true

[rules]
name = "dukcapil-only"
"""


def test_sites_generated_from_the_region_list_and_overridden_by_code(tmp_path: Path) -> None:
    profile = load_profile(write(tmp_path, GENERATED))
    assert [s.code for s in profile.sites] == ["17.71"] + [f"17.71.0{i}" for i in range(1, 10)]
    assert profile.site("17.71").name == "Disdukcapil Kota Bengkulu" and profile.site("17.71").prints
    melayu = profile.site("17.71.05")
    assert (melayu.name, melayu.kind, melayu.prints, melayu.region_code) == (
        "Kecamatan Kampung Melayu",
        "kecamatan",
        True,
        "17.71.05",
    )
    assert not profile.site("17.71.04").prints


def test_generated_sites_still_need_the_dukcapil_office(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"key 'profile\.dukcapil_code'"):
        load_profile(write(tmp_path, GENERATED.replace("dukcapil = {}\n", "")))
