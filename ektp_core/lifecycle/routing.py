"""Routing print-ready enrolments: the region rules name the site, the lifecycle queues the job.

Every PRINT_READY_RECORD enrolment has no open print job (queueing one moves it to
SENT_FOR_CARD_PRINTING in the same transaction), so "waiting to be routed" is simply that state.
Running the router twice, or on two workers at once, queues each card once: ``queue_print`` locks
the enrolment and refuses one that has moved on, and the router skips it.
"""

from __future__ import annotations

from typing import Any

import attrs
import sqlalchemy as sa

from ektp_core.config import Profile
from ektp_core.config.core_tables import RULES
from ektp_core.config.schema import Values
from ektp_core.devices import factories
from ektp_core.devices.declared import printer_sites
from ektp_core.devices.region_rules import RegionRules, SiteSnapshot, SiteState
from ektp_core.domain.model import EnrolmentState
from ektp_core.domain.model import due_on as due_on  # its old home: kept importable
from ektp_core.errors import ConfigError, Conflict, IllegalTransition
from ektp_core.lifecycle.service import LifecycleService
from ektp_core.store.tables import enrolments


@attrs.frozen
class RoutedJob:
    """One print job the router queued: where, why, and on which weekday when the rules fix one."""

    enrolment_id: str
    job_id: str
    site_code: str
    reason: str
    print_day: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready values."""
        return attrs.asdict(self)


class PrintRouter:
    """Queues the print job of every print-ready enrolment at the site the rules choose."""

    def __init__(self, lifecycle: LifecycleService, rules: RegionRules, profile: Profile) -> None:
        self.lifecycle = lifecycle
        self.rules = rules
        self.profile = profile

    @classmethod
    def for_deployment(cls, lifecycle: LifecycleService, host: Any) -> PrintRouter:
        """A router with the rules of the lifecycle's deployment (checked against its profile)."""
        profile: Profile = lifecycle.deployment.profile
        return cls(lifecycle, load_rules(profile, host), profile)

    def waiting(self) -> list[str]:
        """The ids of the print-ready enrolments without a print job, oldest verdict first."""
        with self.lifecycle.store.read() as conn:
            rows = conn.execute(
                sa.select(enrolments.c.id)
                .where(enrolments.c.state == EnrolmentState.PRINT_READY_RECORD.value)
                .order_by(enrolments.c.updated_at, enrolments.c.id)
            )
            return [row.id for row in rows]

    def route_ready(self, *, actor: str, sites: SiteState | None = None) -> list[RoutedJob]:
        """Queue a print job for every waiting enrolment; returns the jobs queued (none twice).

        ``sites`` defaults to the profile's printers and the ledger's stock, read once for the run.
        """
        state = sites if sites is not None else site_snapshot(self.profile, self.lifecycle)
        queued: list[RoutedJob] = []
        for enrolment_id in self.waiting():
            enrolment = self.lifecycle.get(enrolment_id)
            if enrolment.state is not EnrolmentState.PRINT_READY_RECORD:
                continue  # another worker routed it since the list was read
            routing = self.rules.route(enrolment, state)
            try:
                job = self.lifecycle.queue_print(
                    enrolment_id,
                    site_code=routing.site_code,
                    actor=actor,
                    routing_reason=routing.reason,
                    print_day=routing.print_day,
                )
            except (IllegalTransition, Conflict):
                continue  # queued by another worker between our read and our write: theirs stands
            queued.append(RoutedJob(enrolment_id, job.id, job.site_code, str(routing.reason), routing.print_day))
        return queued


def site_snapshot(profile: Profile, lifecycle: LifecycleService | None = None) -> SiteSnapshot:
    """The printers of ``profile`` and, when a lifecycle service is given, the blanks in stock at
    every site that prints or has a printer (read from the ledger; without a service every stock is 0)."""
    printers = printer_sites(profile)
    asked = sorted(printers | {s.code for s in profile.sites if s.prints})
    blanks = {code: lifecycle.ledger(code).in_stock for code in asked} if lifecycle else {}
    return SiteSnapshot(printers=printers, blanks=blanks)


def load_rules(profile: Profile, host: Any) -> RegionRules:
    """The rules the profile names (``[rules] name``), built by the convention of
    :mod:`ektp_core.devices.factories` with the other keys as options, and checked against the profile."""
    # Profile.rules, not the raw table: a caller may hand in a profile with other rules (attrs.evolve).
    found = RULES.read_data(profile.rules, profile.source)
    assert isinstance(found, Values)
    name = found["name"]
    if name is None:
        raise ConfigError(profile.source, "rules.name", "the name of the region rules (see `ektp plugins`)", name)
    entry = host.region_rules.entry(name)
    rules: RegionRules = factories.build(
        entry.obj,
        factories.REGION_RULES,
        driver=name,
        plugin=entry.plugin,
        name=name,
        options=found.extra,
        profile=profile,
        source=profile.source,
        key="rules",
    )
    problems = rules.check()
    if problems:
        raise ConfigError(profile.source, "rules", "a profile the rules accept: " + "; ".join(problems))
    return rules
