"""The commands about the node itself: ``ektp nik``, ``plugins``, ``profiles``, ``init``, ``db`` and
``audit``."""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path

import click

from ektp_core import __version__
from ektp_core.cli.options import deployment_option, open_deployment
from ektp_core.lifecycle import audit
from ektp_core.plugins import PluginHost

# --------------------------------------------------------------------------------------------------
# ektp nik
# --------------------------------------------------------------------------------------------------


@click.command("nik")
@click.argument("number")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option(
    "--today",
    type=click.DateTime(["%Y-%m-%d"]),
    default=None,
    help="Reference date for the century of the birth year (default: today).",
)
def nik_command(number: str, as_json: bool, today: dt.datetime | None) -> None:
    """Check a NIK and show what it encodes. Exit 0 when valid (warnings allowed), 1 when not."""
    from ektp_core.domain import nik as nik_rules

    report = nik_rules.parse(number, today=today.date() if today else None)
    if as_json:
        click.echo(json.dumps(report.as_dict(), ensure_ascii=False))
    else:
        click.echo(f"NIK          {report.digits or number}")
        click.echo(f"valid        {'yes' if report.valid else 'NO'}")
        if report.digits:
            click.echo(f"province     {report.province_code}  {report.province or '?'}")
            click.echo(f"regency      {report.regency_code}  {report.regency or '?'}")
            click.echo(f"district     {report.district_code}  {report.district or '?'}")
        if report.sex:
            click.echo(f"sex          {report.sex} ({'LAKI-LAKI' if report.sex == 'L' else 'PEREMPUAN'})")
        if report.birth_date:
            click.echo(f"birth date   {report.birth_date.isoformat()}")
        if report.serial:
            click.echo(f"serial       {report.serial}")
        for e in report.errors:
            click.echo(f"error        {e.message}")
        for w in report.warnings:
            click.echo(f"warning      {w.message}")
        click.echo(f"region data  {report.as_dict()['region_data']}")
    sys.exit(0 if report.valid else 1)


# --------------------------------------------------------------------------------------------------
# ektp plugins / profiles
# --------------------------------------------------------------------------------------------------


@click.command("plugins")
@click.option("--all", "show_all", is_flag=True, help="Also show blocked and not-allowed plugins.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list.")
@deployment_option
def plugins_command(show_all: bool, as_json: bool, deployment_dir: Path | None) -> None:
    """List plugins, their versions and the hooks each implements.

    Inside a deployment, the profile's allow and block lists apply.
    """
    from ektp_core.errors import DeploymentNotFound

    try:
        host = open_deployment(deployment_dir).plugin_host()
    except DeploymentNotFound:
        if deployment_dir is not None:
            raise
        host = PluginHost()  # outside a deployment: every installed plugin, no lists applied
    infos = host.plugins(include_inactive=show_all)
    if as_json:
        click.echo(json.dumps([i.as_dict() for i in infos], ensure_ascii=False))
        return
    for info in infos:
        version = info.version or __version__
        click.echo(f"{info.name} {version}  [{info.source}, {info.status}]")
        if info.error:
            click.echo(f"    error: {info.error}")
        for hook in info.hooks:
            click.echo(f"    {hook}")
    failures = host.failures()
    if failures and not show_all:
        click.echo(f"{len(failures)} plugin(s) failed to load; see above", err=True)


@click.command("profiles")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list.")
def profiles_command(as_json: bool) -> None:
    """List the ready-made profiles that `ektp init --profile` accepts."""
    registry = PluginHost().registry("profiles")
    rows = [{"name": e.name, "plugin": e.plugin, "description": e.description} for e in registry]
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False))
    else:
        for row in rows:
            click.echo(f"{row['name']:28} {row['description']}  ({row['plugin']})")


# --------------------------------------------------------------------------------------------------
# ektp init / db
# --------------------------------------------------------------------------------------------------


@click.command("init")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--profile",
    "profile_name",
    default="minimal",
    show_default=True,
    help="A ready profile's name (see `ektp profiles`) or a path to a profile TOML file.",
)
@click.option("--site", "site_code", default=None, help="The site this node serves (default: the Dukcapil office).")
@click.option(
    "--database-url",
    default="sqlite:///ektp.sqlite3",
    show_default=True,
    help="SQLAlchemy URL; a relative SQLite path is inside the folder.",
)
def init_command(directory: Path, profile_name: str, site_code: str | None, database_url: str) -> None:
    """Create a deployment folder: configuration, profile, database (migrated) and node keys."""
    from ektp_core.services.node_init import create_deployment, profile_text

    _text, source = profile_text(profile_name)
    deployment = create_deployment(directory, profile=profile_name, site_code=site_code, database_url=database_url)
    profile = deployment.profile
    store = deployment.open_store()
    revision = store.current_revision()
    store.dispose()
    keys = deployment.keys_dir
    click.echo(f"created deployment {deployment.root}")
    click.echo(f"  profile   {profile.name} ({source})")
    click.echo(f"  site      {deployment.site.code} {deployment.site.name}")
    click.echo(f"  database  {_safe_url(deployment.database_url)} (schema {revision})")
    click.echo(f"  keys      {keys}")


def _safe_url(url: str) -> str:
    """A database URL with its password hidden: secrets never reach a log or a screen."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


@click.group("db")
def db_group() -> None:
    """Database schema commands."""


@db_group.command("upgrade")
@click.option("--revision", default="head", show_default=True, help="Target revision.")
@deployment_option
def db_upgrade(revision: str, deployment_dir: Path | None) -> None:
    """Apply the migrations the database is missing (safe to run again)."""
    deployment = open_deployment(deployment_dir)
    store = deployment.open_store()
    before = store.current_revision()
    after = store.upgrade(revision)
    store.dispose()
    if before == after:
        click.echo(f"database {_safe_url(deployment.database_url)} already at {after}")
    else:
        click.echo(f"database {_safe_url(deployment.database_url)} upgraded {before or '(empty)'} -> {after}")


@db_group.command("current")
@deployment_option
def db_current(deployment_dir: Path | None) -> None:
    """Show the database's schema revision and the newest one this ektp knows."""
    store = open_deployment(deployment_dir).open_store()
    click.echo(f"current {store.current_revision() or '(empty)'}  head {store.head_revision()}")
    store.dispose()


# --------------------------------------------------------------------------------------------------
# ektp audit
# --------------------------------------------------------------------------------------------------


@click.group("audit")
def audit_group() -> None:
    """The hash-chained audit log."""


@audit_group.command("verify")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@deployment_option
def audit_verify(as_json: bool, deployment_dir: Path | None) -> None:
    """Check every link of the audit chain; exit 1 and name the first broken entry if one fails."""
    store = open_deployment(deployment_dir).open_store()
    with store.read() as conn:
        result = audit.verify(conn)
    store.dispose()
    if as_json:
        click.echo(
            json.dumps(
                {
                    "ok": result.ok,
                    "checked": result.checked,
                    "first_bad_seq": result.first_bad_seq,
                    "problem": result.problem,
                }
            )
        )
    elif result.ok:
        entries = "1 entry" if result.checked == 1 else f"{result.checked} entries"
        click.echo(f"audit log intact: {entries}, every link verified")
    else:
        click.echo(
            f"audit log BROKEN at entry {result.first_bad_seq}: {result.problem} "
            f"({result.checked} entries before it verified)"
        )
    sys.exit(0 if result.ok else 1)


@audit_group.command("log")
@click.option("--subject", default=None, help="Only entries about this enrolment, job or blank.")
@click.option("--limit", default=50, show_default=True, help="Show at most this many (newest last).")
@deployment_option
def audit_log(subject: str | None, limit: int, deployment_dir: Path | None) -> None:
    """Show audit entries."""
    store = open_deployment(deployment_dir).open_store()
    with store.read() as conn:
        items = audit.last_entries(conn, limit=limit, subject_id=subject)
    store.dispose()
    for e in items:
        click.echo(f"{e.seq:>6} {e.at} {e.actor:12} {e.action:32} {e.subject_id} {json.dumps(e.detail)}")


#: What this module adds to the ``ektp`` command.
COMMANDS = (nik_command, plugins_command, profiles_command, init_command, db_group, audit_group)
