"""Region rules: which site records and which site prints each card.

One module per rule set: ``dukcapil-only`` (every card at the Dukcapil office), ``semi-vertical``
(Kota Bengkulu today, with optional print days per kecamatan), ``kecamatan-rollout`` and
``kelurahan-rollout`` (DKI Jakarta style). Mobile units record only; every rule sends their cards
where the resident's kecamatan prints (see :mod:`ektp_plugins.regions.base`).
"""

from __future__ import annotations

from pathlib import Path

from ektp_plugins.regions.dukcapil_only import DukcapilOnlyRules
from ektp_plugins.regions.kecamatan_rollout import KecamatanRolloutRules
from ektp_plugins.regions.kelurahan_rollout import KelurahanRolloutRules
from ektp_plugins.regions.semi_vertical import SemiVerticalRules

from ektp_core import hookimpl
from ektp_core.devices.region_rules import RegionRulesFactory
from ektp_core.registry import Registry

__all__ = ["DukcapilOnlyRules", "KecamatanRolloutRules", "KelurahanRolloutRules", "SemiVerticalRules"]


@hookimpl
def ektp_declare_message_catalogues(folders: list[Path]) -> None:
    """The rules' routing reasons, in English and Indonesian."""
    folders.append(Path(__file__).with_name("locales"))


@hookimpl
def ektp_register_region_rules(registry: Registry[RegionRulesFactory]) -> None:
    """Register the bundled region rules."""
    registry.add("dukcapil-only", DukcapilOnlyRules, description="every card printed at the Dukcapil office")
    registry.add(
        "semi-vertical",
        SemiVerticalRules,
        description="record at kecamatan and the office, print at the office (optional print days)",
    )
    registry.add(
        "kecamatan-rollout",
        KecamatanRolloutRules,
        description="print at every kecamatan with a printer and blanks, else at the office",
    )
    registry.add(
        "kelurahan-rollout",
        KelurahanRolloutRules,
        description="print at the kelurahan, else its kecamatan, else the city office",
    )
