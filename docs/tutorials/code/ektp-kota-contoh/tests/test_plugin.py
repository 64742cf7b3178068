"""The plugin as ektp sees it: what it registers, and its entry point once the distribution is installed."""

from __future__ import annotations

from importlib import metadata

import pytest
from ektp_core.config import load_profile
from ektp_core.plugins import PluginHost

import ektp_kota_contoh

DISTRIBUTION = "ektp-kota-contoh"


def test_registers_its_region(plugin_host: PluginHost) -> None:
    entry = plugin_host.region_rules.entry(ektp_kota_contoh.NAME)
    assert entry.plugin == ektp_kota_contoh.NAME
    assert entry.description


def test_registers_its_example_profile(plugin_host: PluginHost) -> None:
    entry = plugin_host.profiles.entry(ektp_kota_contoh.NAME)
    assert entry.plugin == ektp_kota_contoh.NAME
    profile = load_profile(ektp_kota_contoh.PROFILE_FILE)
    assert profile.name == ektp_kota_contoh.NAME


def test_installed_distribution_is_found_through_its_entry_point() -> None:
    try:
        distribution = metadata.distribution(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        pytest.skip(f"{DISTRIBUTION} is not installed (pip install -e . to run this test)")
    names = [ep.name for ep in distribution.entry_points if ep.group == "ektp"]
    assert names == [ektp_kota_contoh.NAME]
    infos = {info.name: info for info in PluginHost().plugins()}
    info = infos[ektp_kota_contoh.NAME]
    assert (info.status, info.source, info.distribution) == ("loaded", "entry point", DISTRIBUTION)
    assert "ektp_register_region_rules" in info.hooks
