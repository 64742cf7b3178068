"""``ektp new-plugin``: generate a plugin distribution (see :mod:`ektp_plugins.devkit.scaffold`)."""

from __future__ import annotations

from pathlib import Path

import click
from ektp_plugins.devkit.scaffold import KINDS, ScaffoldError, new_plugin

from ektp_core.cli.options import fail


@click.command("new-plugin")
@click.argument("kind", metavar="KIND")
@click.argument("name", metavar="NAME")
@click.option(
    "--dir",
    "directory",
    type=click.Path(path_type=Path),
    default=None,
    metavar="DIR",
    help="The folder to create the distribution in; it must not exist or be empty (default: ./ektp-NAME).",
)
def new_plugin_command(kind: str, name: str, directory: Path | None) -> None:
    """Generate a plugin distribution: KIND is printer, scanner, region or verifier; NAME is the plugin's
    name (acme-printer gives the distribution ektp-acme-printer and the package ektp_acme_printer).
    The generated tests pass as generated."""
    try:
        generated = new_plugin(kind, name, directory)
    except ScaffoldError as exc:
        fail(str(exc))
    names = generated.names
    where = generated.directory
    click.echo(f"created {where}: the {names.kind} plugin {names.name} ({KINDS[names.kind]})")
    click.echo(
        f'  distribution {names.distribution}, package {names.package}, entry point {names.name} = "{names.package}"'
    )
    for path in generated.files:
        click.echo(f"  {path.as_posix()}")
    click.echo("next:")
    click.echo(f"  cd {where}")
    click.echo("  python -m pytest                 # the generated tests, with ektp's pytest fixtures")
    click.echo("  python -m pip install -e .       # install it next to ektp")
    click.echo(f"  ektp plugins                     # lists {names.name}")
    click.echo(f"  ektp init office --profile {names.name}   # a deployment on its example profile")
