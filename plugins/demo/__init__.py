"""The demo plugin: ``ektp walk`` (one resident from recording to handover in one deployment), ``ektp seed``
(synthetic residents of the deployment's region taken to a chosen state) and
``ektp demo`` (a whole regency on this machine), with the process helpers they share. Nothing here runs
on a production node."""

from __future__ import annotations

import click

from ektp_core import hookimpl


@hookimpl
def ektp_register_commands(cli: click.Group) -> None:
    """``ektp walk``, ``ektp seed`` and ``ektp demo``."""
    from ektp_plugins.demo.command import demo_command
    from ektp_plugins.demo.seeding import seed_command
    from ektp_plugins.demo.walk import walk_command

    cli.add_command(walk_command)
    cli.add_command(seed_command)
    cli.add_command(demo_command)
