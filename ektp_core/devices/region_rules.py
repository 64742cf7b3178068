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

from ektp_core.domain.model import WEEKDAYS as WEEKDAYS  # the print days' names live with the print job
from ektp_core.domain.model import Enrolment, Site
from ektp_core.messages import Message

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

    ``reason`` is a :class:`~ektp_core.messages.Message`, so the web UI says it in Indonesian and the
    CLI in English (plain text still works: it is shown as it is, in every language).
    ``print_day`` (a lower-case English weekday) is set when the site prints these cards only on
    one day of the week (semi-vertical rules with ``print_days``).
    """

    site_code: str
    reason: Message | str
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
    """What region rules provide, once built by their :class:`RegionRulesFactory`; ``check`` runs when
    a deployment loads its rules."""

    name: str

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


class RegionRulesFactory(Protocol):
    """What ``ektp_register_region_rules`` registers: usually the rules class itself.

    It is called with keyword arguments and receives only those it names among ``name`` (the
    ``[rules] name`` the profile picked), ``options`` (the other keys of ``[rules]``, the rules'
    settings) and ``profile``; it raises ``ValueError`` or ``TypeError`` for settings it does not
    accept (:mod:`ektp_core.devices.factories`). A class whose second parameter is still called
    ``settings`` is built the old way, ``cls(profile, settings)``, with a ``DeprecationWarning``.
    """

    def __call__(self, *args: Any, **kwargs: Any) -> RegionRules:
        """Build the rules for a profile."""
        ...


__all__ = [
    "HARI",
    "WEEKDAYS",
    "RegionRules",
    "RegionRulesFactory",
    "Routing",
    "SiteSnapshot",
    "SiteState",
    "weekday_name",
]
