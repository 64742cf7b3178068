"""``ektp backup`` and ``ektp restore``: a node's database, configuration and keys in one encrypted file."""

from __future__ import annotations

import os
from pathlib import Path

import click
from ektp_plugins.backup.archive import BackupError, create_backup, read_header, restore_backup

from ektp_core.cli.options import deployment_option, fail, open_deployment
from ektp_core.errors import EktpError
from ektp_core.lifecycle.service import LifecycleService

DEFAULT_PASSPHRASE_ENV = "EKTP_BACKUP_PASSPHRASE"

passphrase_option = click.option(
    "--passphrase-env",
    default=DEFAULT_PASSPHRASE_ENV,
    show_default=True,
    metavar="VAR",
    help="The environment variable holding the backup's passphrase (asked for when it is not set and a "
    "terminal is attached).",
)


def _passphrase(var: str, *, confirm: bool) -> str:
    value = os.environ.get(var)
    if value:
        return value
    if not os.isatty(0):
        fail(f"no passphrase: set {var} (the backup holds the node's keys, so it is always encrypted)")
    return str(click.prompt("Backup passphrase", hide_input=True, confirmation_prompt=confirm))


@click.command("backup")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@passphrase_option
@deployment_option
def backup_command(file: Path, passphrase_env: str, deployment_dir: Path | None) -> None:
    """Write a backup of this node (every row, its configuration and keys) to FILE, encrypted with a
    passphrase. The node may keep working meanwhile: the rows are read in one consistent snapshot."""
    deployment = open_deployment(deployment_dir)
    if file.exists():
        fail(f"{file} exists; give a new file name (a backup never overwrites one)")
    passphrase = _passphrase(passphrase_env, confirm=True)
    try:
        report = create_backup(deployment, file, passphrase, progress=lambda m: click.echo(f"  {m}", err=True))
    except EktpError as exc:
        fail(str(exc))
    total = sum(report.rows.values())
    click.echo(
        f"backup of site {report.site} (schema {report.revision}): {total} rows in {len(report.rows)} "
        f"tables, {len(report.files)} files -> {file} ({file.stat().st_size} bytes)"
    )


@click.command("restore")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--database-url",
    default=None,
    help="Restore the rows into this database instead of the one named in the backup's ektp.toml "
    "(it must be empty), e.g. a PostgreSQL server.",
)
@passphrase_option
def restore_command(file: Path, directory: Path, database_url: str | None, passphrase_env: str) -> None:
    """Restore the backup FILE into a new deployment folder DIRECTORY, then check it: the audit chain,
    the blank ledger of every site, and the row counts against the backup's own."""
    try:
        header = read_header(file)
    except BackupError as exc:
        fail(str(exc))
    passphrase = _passphrase(passphrase_env, confirm=False)
    click.echo(
        f"backup of site {header.get('site')} taken {header.get('created_at')} (schema {header.get('revision')})",
        err=True,
    )
    try:
        report = restore_backup(
            file, directory, passphrase, database_url=database_url, progress=lambda m: click.echo(f"  {m}", err=True)
        )
    except EktpError as exc:
        fail(f"{exc}; nothing was restored")
    deployment = open_deployment(directory)
    store = deployment.open_store()
    try:
        lc = LifecycleService(store, deployment.plugin_host().hook, deployment)
        codes: list[str | None] = [None, *(s.code for s in deployment.profile.sites)]
        unbalanced = [code or "all" for code in codes if not lc.ledger(code).balanced]
    finally:
        store.dispose()
    click.echo(
        f"restored site {report.site}: {sum(report.rows.values())} rows, {len(report.files)} files into "
        f"{directory}; audit chain intact; blank ledger "
        + ("balanced at every site" if not unbalanced else f"NOT balanced at {unbalanced}")
    )
    if unbalanced:
        fail("the restored blank ledger does not balance", 1)
