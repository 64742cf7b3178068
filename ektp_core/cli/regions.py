"""``ektp sites``, ``ektp route`` and ``ektp profile use``: where cards are printed, and changing it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from ektp_core.cli.options import actor_option, deployment_option, echo_json, open_deployment, services
from ektp_core.lifecycle.routing import PrintRouter, load_rules, site_snapshot


@click.command("sites")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list.")
@deployment_option
def sites_command(as_json: bool, deployment_dir: Path | None) -> None:
    """The deployment's sites: what each does, and where the cards recorded there are printed now."""
    with services(deployment_dir) as (deployment, host, lc):
        rules = load_rules(deployment.profile, host)
        state = site_snapshot(deployment.profile, lc)
        rows: list[dict[str, Any]] = []
        for site in deployment.profile.sites:
            routing = rules.prints_at(site, state)
            rows.append(
                {
                    "code": site.code,
                    "name": site.name,
                    "kind": site.kind.value,
                    "records": site.records,
                    "prints": site.prints,
                    "prints_at": routing.site_code,
                    "prints_at_reason": str(routing.reason),
                    "print_day": routing.print_day,
                    "region_code": site.region_code,
                    "printer": state.has_printer(site.code),
                    "blanks_in_stock": state.blanks_in_stock(site.code),
                }
            )
    if as_json:
        echo_json(rows)
        return
    click.echo(
        f"{deployment.profile.name}: {deployment.profile.region_name} ({deployment.profile.region_code}), "
        f"{len(rows)} sites, rules {deployment.profile.rules.get('name')}"
    )
    for r in rows:
        does = "+".join(w for w, on in (("records", r["records"]), ("prints", r["prints"])) if on) or "-"
        click.echo(f"{r['code']:16} {r['kind']:9} {does:15} -> {r['prints_at']:16} {r['name']}")
        click.echo(f"{'':17}{r['prints_at_reason']}")


@click.command("route")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list of the jobs queued.")
@actor_option
@deployment_option
def route_command(as_json: bool, actor: str, deployment_dir: Path | None) -> None:
    """Queue a print job for every print-ready enrolment at the site the region rules name (safe to repeat)."""
    with services(deployment_dir) as (_d, host, lc):
        routed = PrintRouter.for_deployment(lc, host).route_ready(actor=actor)
    if as_json:
        echo_json([r.as_dict() for r in routed])
        return
    if not routed:
        click.echo("no print-ready enrolments waiting for a print job")
    for r in routed:
        day = f" (print day: {r.print_day.title()})" if r.print_day else ""
        click.echo(f"enrolment {r.enrolment_id} -> site {r.site_code}, job {r.job_id}{day}")
        click.echo(f"    {r.reason}")


@click.group("profile")
def profile_group() -> None:
    """The deployment's profile."""


@profile_group.command("use")
@click.argument("profile_name")
@actor_option
@deployment_option
def profile_use(profile_name: str, actor: str, deployment_dir: Path | None) -> None:
    """Switch the deployment to PROFILE_NAME (a ready profile or a TOML path): records are kept, QUEUED
    print jobs are re-routed by the new rules, and the change is audited."""
    from ektp_core.services.profile_change import PREVIOUS_PROFILE, change_profile

    deployment = open_deployment(deployment_dir)
    change = change_profile(deployment, profile_name, actor=actor)
    click.echo(
        f"profile {change.old_name} -> {change.new_name} ({change.sites_saved} sites saved; the old profile "
        f"is kept as {PREVIOUS_PROFILE})"
    )
    click.echo(f"re-routed {len(change.moved)} queued job(s), {change.unchanged} stay where they were")
    for m in change.moved:
        click.echo(
            f"  enrolment {m.enrolment_id}: {_where(m.old_site, m.old_print_day)} -> "
            f"{_where(m.new_site, m.new_print_day)} (job {m.new_job_id})"
        )
        click.echo(f"      {m.reason}")
    for r in change.routed:
        click.echo(f"  enrolment {r.enrolment_id} (print-ready, no job) -> {r.site_code} (job {r.job_id})")
    for job in change.left_alone:
        click.echo(
            f"  left alone: job {job.id} {job.state} at {job.site_code} (a blank is taken or a card may be "
            "in the printer)"
        )


def _where(site: str, print_day: str | None) -> str:
    return f"{site} ({print_day.title()})" if print_day else site


#: What this module adds to the ``ektp`` command.
COMMANDS = (sites_command, route_command, profile_group)
