"""The interface of region rules: which site prints a print-ready enrolment, and why.

Rules are plugins (``ektp_register_region_rules``); a profile picks one by name in ``[rules]``.
Rules stay pure: what they need to know about the sites at routing time (which has a printer, how
many blank cards each holds) comes in a read-only :class:`SiteState`, so a test can hand them any
situation without a database.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Protocol

import attrs

from ektp_core.config import Profile
from ektp_core.domain.model import WEEKDAYS as WEEKDAYS  # the print days' names live with the print job
from ektp_core.domain.model import Enrolment, Site

#: The Indonesian names a profile may use instead (Senin = Monday ... Minggu = Sunday).
HARI = ("senin", "selasa", "rabu", "kamis", "jumat", "sabtu", "minggu")


def weekday_name(value: str) -> str:
    """``"Monday"``, ``"senin"`` or ``"Jum'at"`` as the English lower-case name; ValueError otherwise."""
    key = value.strip().lower().replace("'", "")
    if key in WEEKDAYS:
        return key
    if key in HARI:
        return WEEKDAYS[HARI.index(key)]
    raise ValueError(f"{value!r} is not a day of the week (monday..sunday, or senin..minggu)")


@attrs.frozen
class Routing:
    """The site that prints an enrolment's card and the reason, shown to operators with the job.

    ``print_day`` (a lower-case English weekday) is set when the site prints these cards only on
    one day of the week (semi-vertical rules with ``print_days``).
    """

    site_code: str
    reason: str
    print_day: str | None = None


class SiteState(Protocol):
    """What rules may ask about the sites when they route: read-only, asked once per decision."""

    def has_printer(self, site_code: str) -> bool:
        """True when the profile declares a card printer at the site (``[[devices.printers]]``)."""
        ...

    def blanks_in_stock(self, site_code: str) -> int:
        """Blank cards (blangko) in stock at the site, from the blank ledger."""
        ...


def _codes(value: Iterable[str]) -> frozenset[str]:
    return frozenset(value)


@attrs.frozen
class SiteSnapshot:
    """A :class:`SiteState` fixed at one moment: the sites with printers and the blanks in stock.

    Built from a deployment with :func:`site_snapshot`; tests build one directly.
    """

    printers: frozenset[str] = attrs.field(converter=_codes, factory=frozenset)
    blanks: Mapping[str, int] = attrs.field(factory=dict)

    def has_printer(self, site_code: str) -> bool:
        """True when a printer stands at the site."""
        return site_code in self.printers

    def blanks_in_stock(self, site_code: str) -> int:
        """Blanks in stock at the site (0 when the ledger has none)."""
        return int(self.blanks.get(site_code, 0))


class RegionRules(Protocol):
    """What a region-rules plugin provides. Construct with the profile; ``check`` runs at load time.

    The constructor raises ValueError or TypeError for settings it does not accept.
    """

    name: str

    def __init__(self, profile: Profile, settings: dict[str, Any]) -> None: ...

    def check(self) -> list[str]:
        """Problems with the profile under these rules, each naming the site
        (``site 17.71.03 (Kecamatan Teluk Segara) prints but has no printer in [[devices.printers]]``)."""
        ...

    def route(self, enrolment: Enrolment, sites: SiteState) -> Routing:
        """The site that prints this print-ready enrolment, and why."""
        ...

    def prints_at(self, site: Site, sites: SiteState) -> Routing:
        """Where the cards of residents recorded at ``site`` are printed (for a mobile unit: where
        they go when the resident's address names no kecamatan of the regency)."""
        ...
