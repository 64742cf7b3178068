"""``ektp keys ...``: the node's data keys (biometrics at rest): status, rotation, forgetting a retired key."""

from __future__ import annotations

import json
from pathlib import Path

import click

from ektp_core.cli.options import actor_option, deployment_option, fail, open_deployment
from ektp_core.errors import EktpError
from ektp_core.services import data_key_rotation


@click.group("keys")
def keys_group() -> None:
    """The node's data keys, which encrypt biometrics at rest."""


@keys_group.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@deployment_option
def status_command(as_json: bool, deployment_dir: Path | None) -> None:
    """Each data key (current and retired) with its id and how many blobs it still encrypts."""
    deployment = open_deployment(deployment_dir)
    store = deployment.open_store()
    try:
        report = data_key_rotation.status(store, deployment.keys_dir)
    finally:
        store.dispose()
    if as_json:
        click.echo(json.dumps(report.as_dict()))
        return
    click.echo(f"data keys of site {deployment.site_code} ({deployment.keys_dir}):")
    for key in report.keys:
        role = "current" if key.current else "retired"
        hint = "  (no blob uses it: it may be forgotten)" if not key.current and not key.blobs else ""
        click.echo(f"  {key.key_id}  {role}  {key.blobs:>8} blobs{hint}")
    if report.original_format:
        click.echo(f"  original format (EK1, names no key): {report.original_format} blobs")
    for kid, count in report.missing.items():
        click.echo(
            f"  {kid}  MISSING  {count:>8} blobs name this key, but keys/data.{kid}.key is not there: "
            "restore it from a backup"
        )
    if report.unreadable:
        click.echo(f"  {report.unreadable} blobs are in no format ektp writes (damaged)")
    if report.rotating_to:
        click.echo(
            f"a rotation to key {report.rotating_to} has not finished: run `ektp keys rotate-data-key` to finish it"
        )


@keys_group.command("rotate-data-key")
@click.option(
    "--batch-size",
    type=click.IntRange(1, 10_000),
    default=data_key_rotation.BATCH,
    show_default=True,
    help="Blobs re-encrypted per transaction.",
)
@actor_option
@deployment_option
def rotate_command(batch_size: int, actor: str, deployment_dir: Path | None) -> None:
    """Make a new data key and re-encrypt every blob under it; the old key is retired (kept to read
    anything not yet re-encrypted). Stopped midway, running it again finishes the same rotation."""
    deployment = open_deployment(deployment_dir)
    store = deployment.open_store()
    last = [-1]

    def progress(done: int, total: int) -> None:
        if done != last[0]:
            last[0] = done
            click.echo(f"  re-encrypted {done} of {total}", err=True)

    try:
        report = data_key_rotation.rotate(
            store, deployment.keys_dir, actor=actor, site=deployment.site_code, batch=batch_size, progress=progress
        )
    except EktpError as exc:
        fail(str(exc))
    finally:
        store.dispose()
    if report.resumed:
        click.echo(f"resumed the unfinished rotation to data key {report.key_id}")
    else:
        click.echo(f"new data key {report.key_id}")
    click.echo(
        f"re-encrypted {report.reencrypted} blobs under data key {report.key_id}"
        + (f" ({report.skipped} were already under it)" if report.skipped else "")
    )
    if report.retired:
        click.echo(
            f"the old data key is retired ({', '.join(report.retired)}): no blob uses it now. It stays in "
            "keys/ for database copies taken before this rotation without their keys (pg_dump, disk "
            "snapshots); delete it with `ektp keys forget-data-key ID` when none is kept"
        )


@keys_group.command("forget-data-key")
@click.argument("key_id", metavar="ID")
@actor_option
@deployment_option
def forget_command(key_id: str, actor: str, deployment_dir: Path | None) -> None:
    """Delete the retired data key ID; refused while any blob may still be encrypted with it."""
    deployment = open_deployment(deployment_dir)
    store = deployment.open_store()
    try:
        path = data_key_rotation.forget(
            store, deployment.keys_dir, key_id.strip().lower(), actor=actor, site=deployment.site_code
        )
    except EktpError as exc:
        fail(str(exc))
    finally:
        store.dispose()
    click.echo(f"data key {key_id} forgotten ({path.name} deleted); backups made before still hold it")


#: What this module adds to the ``ektp`` command.
COMMANDS = (keys_group,)
