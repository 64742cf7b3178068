"""The ready profiles (TOML files), installed as the package ``ektp_profiles`` and registered as the plugin
``profiles``: ``ektp profiles`` lists them and ``ektp init --profile NAME`` copies one into a new
deployment. Each names the bundled plugins it needs (region rules, printers, scanners, the verifier), so
they live here, beside the plugins, and never in the core. See docs/regional-profiles.md.
"""

from __future__ import annotations

from importlib import resources

from ektp_core import hookimpl
from ektp_core.config import ProfileSource
from ektp_core.registry import Registry

#: Each ready profile and what it is for.
PROFILES = {
    "minimal": "one Dukcapil office that records and prints (Kota Bengkulu)",
    "kota-bengkulu": "Kota Bengkulu today: record at the Dukcapil office and the nine kecamatan, print at the office "
    "(semi-vertical, print days)",
    "kota-bengkulu-kecamatan": "Kota Bengkulu's kecamatan rollout: record and print at every kecamatan "
    "(kecamatan-rollout)",
    "dki-jakarta-pusat": "Jakarta Pusat (31.71): record at every kelurahan, print at the kelurahan, kecamatan or "
    "Suku Dinas (kelurahan-rollout)",
}


@hookimpl
def ektp_register_profiles(registry: Registry[ProfileSource]) -> None:
    """Register the ready profiles: the single office, Kota Bengkulu (today and its kecamatan rollout) and
    Jakarta Pusat."""
    folder = resources.files(__name__)
    for name, description in PROFILES.items():
        registry.add(name, folder.joinpath(f"{name}.toml"), description=description)
