"""Printing hubs for ektp: an example of a third-party plugin distribution.

Registers the region rules ``printing-hubs`` (:class:`~ektp_bengkulu_hubs.hubs.HubRules`) and the
profile ``kota-bengkulu-hubs``: Kota Bengkulu's nine kecamatan record, and two of them, Selebar and
Ratu Agung, are hubs with a printer that print the cards of the kecamatan around them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ektp_core import hookimpl

from .hubs import HubRules

__all__ = ["NAME", "PROFILE_FILE", "HubRules"]

#: The plugin's name (its entry point).
NAME = "bengkulu-hubs"
#: The profile this plugin ships.
PROFILE_FILE = Path(__file__).with_name("profiles") / "kota-bengkulu-hubs.toml"


@hookimpl
def ektp_register_region_rules(registry: Any) -> None:
    """``printing-hubs``, chosen with ``[rules] name = "printing-hubs"``."""
    registry.add(
        HubRules.name,
        HubRules,
        description="each kecamatan's cards are printed at its hub kecamatan, else at the office",
    )


@hookimpl
def ektp_register_profiles(registry: Any) -> None:
    """``kota-bengkulu-hubs``."""
    registry.add(
        "kota-bengkulu-hubs",
        PROFILE_FILE,
        description="Kota Bengkulu: every kecamatan records; Selebar and Ratu Agung print as hubs",
    )
