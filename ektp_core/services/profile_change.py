"""Changing a deployment's profile (``ektp profile use``): every record stays, waiting jobs follow
the new rules, and the change is audited.

The order makes a failure at any step lose nothing:

1. the new profile is written beside the old one (``profile.toml.new``) and validated there, with
   its rules checked and this node's site looked up; a bad profile changes nothing;
2. the sites table takes the new profile's sites (added or updated; sites the new profile drops
   stay, because records refer to them);
3. each QUEUED job whose site or print day changes is cancelled and queued again at its new site,
   each through the lifecycle (its own transaction and audit entries). A crash between the two
   leaves the enrolment PRINT_READY_RECORD, which step 4 (or ``ektp route``) queues again;
4. print-ready enrolments without a job are routed by the new rules;
5. one ``profile.changed`` audit entry records the old and new names and the counts;
6. the old file is kept as ``profile.previous.toml`` and the new one takes its place (an atomic rename).

Until step 6 the old profile stays in force, so a failure midway is finished by running the same
command again: jobs already moved are not moved twice. RESERVED, SENT and UNKNOWN jobs are never
touched (a blank is taken, or a card may be in the printer); they are listed instead.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import attrs

from ektp_core.config import Deployment, load_profile
from ektp_core.devices.region_rules import RegionRules
from ektp_core.domain.model import PrintJob, PrintJobState
from ektp_core.errors import ConfigError, EktpError
from ektp_core.lifecycle import audit
from ektp_core.lifecycle.actions import AuditAction
from ektp_core.lifecycle.routing import PrintRouter, RoutedJob, load_rules, site_snapshot
from ektp_core.lifecycle.service import LifecycleService
from ektp_core.messages import Message
from ektp_core.services.node_init import profile_text

#: The file the replaced profile is kept in, inside the deployment folder.
PREVIOUS_PROFILE = "profile.previous.toml"


@attrs.frozen
class MovedJob:
    """A QUEUED job cancelled at its old site and queued again where the new rules say."""

    enrolment_id: str
    old_job_id: str
    old_site: str
    new_job_id: str
    new_site: str
    reason: str
    old_print_day: str | None = None
    new_print_day: str | None = None


@attrs.frozen
class ProfileChange:
    """What ``change_profile`` did."""

    old_name: str
    new_name: str
    sites_saved: int
    moved: tuple[MovedJob, ...]
    unchanged: int
    #: RESERVED, SENT and UNKNOWN jobs: left where they are.
    left_alone: tuple[PrintJob, ...]
    #: Print-ready enrolments that had no job and were routed by the new rules.
    routed: tuple[RoutedJob, ...]


def change_profile(deployment: Deployment, name_or_path: str, *, actor: str) -> ProfileChange:
    """Switch ``deployment`` to another profile (a registered name or a TOML path); see the module."""
    text, source = profile_text(name_or_path, deployment.plugin_host())
    current = Path(deployment.profile.source)
    staged = current.with_name(current.name + ".new")
    staged.write_text(text, "utf-8")
    try:
        try:
            new_profile = load_profile(staged)
            new_deployment = attrs.evolve(deployment, profile=new_profile)
            host = new_deployment.plugin_host()
            rules = load_rules(new_profile, host)
        except ConfigError as exc:
            raise EktpError(f"the new profile ({source}) is not valid: {exc}; nothing was changed") from None
        if not any(s.code == deployment.site_code for s in new_profile.sites):
            raise EktpError(
                f"{source} has no site {deployment.site_code}, the site this node serves; nothing was changed"
            )
        store = new_deployment.open_store()
        try:
            lc = LifecycleService(store, host.hook, new_deployment)
            change = _apply(lc, deployment.profile.name, new_profile.name, rules, actor=actor, source=source)
        finally:
            store.dispose()
        if current.read_text("utf-8") != text:  # a re-run that finishes a change keeps the true previous one
            shutil.copyfile(current, current.with_name(PREVIOUS_PROFILE))
            os.replace(staged, current)
    finally:
        staged.unlink(missing_ok=True)
    return change


def _apply(
    lc: LifecycleService, old_name: str, new_name: str, rules: RegionRules, *, actor: str, source: str
) -> ProfileChange:
    profile = lc.deployment.profile
    sites_saved = lc.sync_sites(profile.sites, actor=actor)
    state = site_snapshot(profile, lc)
    moved: list[MovedJob] = []
    unchanged = 0
    queued = lc.jobs(states=(PrintJobState.QUEUED.value,))
    try:
        for job in queued:
            routing = rules.route(lc.get(job.enrolment_id), state)
            if (routing.site_code, routing.print_day) == (job.site_code, job.print_day):
                unchanged += 1
                continue
            lc.cancel_job(job.id, actor=actor, reason=Message("reason.rerouted", old=old_name, new=new_name))
            new_job = lc.queue_print(
                job.enrolment_id,
                site_code=routing.site_code,
                actor=actor,
                routing_reason=routing.reason,
                print_day=routing.print_day,
            )
            moved.append(
                MovedJob(
                    job.enrolment_id,
                    job.id,
                    job.site_code,
                    new_job.id,
                    new_job.site_code,
                    str(routing.reason),
                    job.print_day,
                    routing.print_day,
                )
            )
        routed = PrintRouter(lc, rules, profile).route_ready(actor=actor, sites=state)
    except Exception as exc:
        raise EktpError(
            f"the profile change stopped after re-routing {len(moved)} of {len(queued)} queued jobs "
            f"({exc}); nothing is lost (an interrupted job's enrolment is print-ready again) and "
            f"{old_name} stays in force: run the same command again to finish"
        ) from exc
    left = tuple(lc.jobs(states=(PrintJobState.RESERVED.value, PrintJobState.SENT.value, PrintJobState.UNKNOWN.value)))
    with lc.store.write() as conn:
        audit.append(
            conn,
            actor=actor,
            action=AuditAction.PROFILE_CHANGED,
            subject_kind="profile",
            subject_id=new_name,
            detail={
                "from": old_name,
                "to": new_name,
                "source": source,
                "sites_saved": sites_saved,
                "rerouted": len(moved),
                "unchanged": unchanged,
                "left_alone": len(left),
                "routed": len(routed),
            },
            at=lc.clock(),
        )
    return ProfileChange(
        old_name=old_name,
        new_name=new_name,
        sites_saved=sites_saved,
        moved=tuple(moved),
        unchanged=unchanged,
        left_alone=left,
        routed=tuple(routed),
    )
