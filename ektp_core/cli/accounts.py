"""``ektp account ...``: accounts on the command line (the first administrator, and a way back in when
nobody can log in). Everything else about accounts is done in the web UI's Administration page."""

from __future__ import annotations

import os
from pathlib import Path

import click

from ektp_core.cli.options import actor_option, deployment_option, echo_json, fail, services
from ektp_core.domain.model import Operator, Role
from ektp_core.errors import EktpError
from ektp_core.keys import crypto
from ektp_core.services.accounts import AccountService

password_option = click.option(
    "--password-env",
    default=None,
    metavar="VAR",
    help="Read the new password from this environment variable (default: ask on the terminal, twice).",
)


def _new_password(var: str | None) -> str:
    if var:
        value = os.environ.get(var, "")
        if not value:
            fail(f"the environment variable {var} is empty or not set")
    elif not os.isatty(0):
        fail("no terminal to ask the password on: give --password-env VAR")
    else:
        value = str(click.prompt("New password", hide_input=True, confirmation_prompt=True))
    if len(value) < 8:
        fail("a password needs at least 8 characters")
    return value


@click.group("account")
def account_group() -> None:
    """Accounts of the deployment (made at the Dukcapil node; sites receive theirs through sync)."""


@account_group.command("add")
@click.argument("username")
@click.option("--role", type=click.Choice([r.value for r in Role]), required=True, help="What the account may do.")
@click.option("--site", "site_code", default=None, help="The site the account is bound to (default: this node's).")
@click.option("--full-name", default=None, help="The person's name (default: made from the username).")
@password_option
@actor_option
@deployment_option
def add_command(
    username: str,
    role: str,
    site_code: str | None,
    full_name: str | None,
    password_env: str | None,
    actor: str,
    deployment_dir: Path | None,
) -> None:
    """Create an account bound to one site."""
    with services(deployment_dir) as (deployment, _host, lc):
        site = site_code or deployment.site_code
        try:
            deployment.profile.site(site)
            operator = Operator(
                username=username,
                full_name=full_name or username.replace(".", " ").title(),
                role=role,
                site_code=site,
                password_hash=crypto.hash_password(_new_password(password_env)),
            )
            lc.add_operator(operator, actor=actor)
        except (EktpError, ValueError) as exc:
            fail(str(exc))
    click.echo(f"account {username} ({role}) created at site {site}")


@account_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list.")
@deployment_option
def list_command(as_json: bool, deployment_dir: Path | None) -> None:
    """Every account with its site, role, and whether it is active or locked."""
    with services(deployment_dir) as (_deployment, _host, lc):
        rows = [
            {
                "username": op.username,
                "full_name": op.full_name,
                "role": op.role.value,
                "site": op.site_code,
                "active": op.active,
                "locked_until": locked.isoformat() if locked else None,
            }
            for op, locked in AccountService(lc).accounts()
        ]
    if as_json:
        echo_json(rows)
        return
    for row in rows:
        flags = ("" if row["active"] else " disabled") + (
            f" locked until {row['locked_until']}" if row["locked_until"] else ""
        )
        click.echo(f"{row['username']:<24} {row['role']:<10} {row['site']:<12} {row['full_name']}{flags}")


def _change(deployment_dir: Path | None, username: str, actor: str, **change: object) -> None:
    with services(deployment_dir) as (_deployment, _host, lc):
        try:
            AccountService(lc).change(username, actor=actor, **change)  # type: ignore[arg-type]
        except EktpError as exc:
            fail(str(exc))


@account_group.command("set-password")
@click.argument("username")
@password_option
@actor_option
@deployment_option
def set_password_command(username: str, password_env: str | None, actor: str, deployment_dir: Path | None) -> None:
    """Give an account a new password (its open web sessions end)."""
    _change(deployment_dir, username, actor, password=_new_password(password_env))
    click.echo(f"new password set for {username}")


@account_group.command("disable")
@click.argument("username")
@actor_option
@deployment_option
def disable_command(username: str, actor: str, deployment_dir: Path | None) -> None:
    """Disable an account (it can no longer log in; its open sessions end)."""
    _change(deployment_dir, username, actor, active=False)
    click.echo(f"{username} disabled")


@account_group.command("enable")
@click.argument("username")
@actor_option
@deployment_option
def enable_command(username: str, actor: str, deployment_dir: Path | None) -> None:
    """Enable a disabled account."""
    _change(deployment_dir, username, actor, active=True)
    click.echo(f"{username} enabled")


@account_group.command("unlock")
@click.argument("username")
@actor_option
@deployment_option
def unlock_command(username: str, actor: str, deployment_dir: Path | None) -> None:
    """Lift a lockout after failed logins, before it runs out."""
    with services(deployment_dir) as (_deployment, _host, lc):
        done = AccountService(lc).unlock(username, actor=actor)
    click.echo(f"{username} unlocked" if done else f"{username} was not locked")


#: What this module adds to the ``ektp`` command.
COMMANDS = (account_group,)
