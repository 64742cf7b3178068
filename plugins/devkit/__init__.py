"""The developer kit: ``ektp new-plugin`` generates a plugin distribution (printer, scanner, region rules or
verifier) that installs, registers and passes its own tests. Nothing here runs on a production node."""

from __future__ import annotations

import click

from ektp_core import hookimpl


@hookimpl
def ektp_register_commands(cli: click.Group) -> None:
    """``ektp new-plugin``."""
    from ektp_plugins.devkit.commands import new_plugin_command

    cli.add_command(new_plugin_command)
