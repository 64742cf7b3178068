"""Kota Contoh: an ektp plugin with region rules and a profile that uses them.

Registers:

* the region rules ``kota-contoh``
  (:class:`~ektp_kota_contoh.rules.KotaContohRules`);
* the example profile ``kota-contoh``: the Dukcapil office and two kecamatan of Kota
  Bengkulu that record and print, under these rules.
"""

from __future__ import annotations

from pathlib import Path

from ektp_core import hookimpl
from ektp_core.config import ProfileSource
from ektp_core.devices.region_rules import RegionRulesFactory
from ektp_core.registry import Registry

from .rules import KotaContohRules

__all__ = ["NAME", "PROFILE_FILE", "KotaContohRules"]

#: The plugin's name: its entry point, its rules and its example profile.
NAME = "kota-contoh"
#: The example profile.
PROFILE_FILE = Path(__file__).with_name("profiles") / f"{NAME}.toml"


@hookimpl
def ektp_register_region_rules(registry: Registry[RegionRulesFactory]) -> None:
    """The rules, chosen in a profile with ``[rules] name = NAME``.

    The core builds them with the keyword arguments the constructor names:
    ``KotaContohRules(profile=..., options=...)``.
    """
    registry.add(
        NAME,
        KotaContohRules,
        description="print at the recording site while it keeps min_blanks blank cards, else at the office",
    )


@hookimpl
def ektp_register_profiles(registry: Registry[ProfileSource]) -> None:
    """The example profile."""
    registry.add(NAME, PROFILE_FILE, description=f"Kota Bengkulu's office and two kecamatan under the {NAME} rules")
