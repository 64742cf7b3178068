"""A plugin that adds ``ektp site-info``: the site this node serves."""

from pathlib import Path

import click

from ektp_core import hookimpl
from ektp_core.config import find_deployment


@click.command("site-info", help="Show the site this node serves and what it does there.")
@click.option(
    "--deployment",
    "-d",
    "deployment_dir",
    default=None,
    type=click.Path(file_okay=False, path_type=Path),
    help="Deployment folder (default: $EKTP_DEPLOYMENT, else the current folder).",
)
def site_info(deployment_dir):
    site = find_deployment(deployment_dir).site
    click.echo(f"{site.code} {site.name} ({site.kind}): records={site.records} prints={site.prints}")


@hookimpl
def ektp_register_commands(cli):
    cli.add_command(site_info)
