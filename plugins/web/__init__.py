"""The web plugin: the node's HTTP API v1 (joining, packets, receipts; OpenAPI) and its commands.

Commands: ``ektp serve`` (run this node's API; the Dukcapil node serves its sites) and
``ektp sync join-code|join|send|pull|run|status``, and ``ektp demo`` (a whole regency on one machine).
"""
from __future__ import annotations

import click

from ektp_core import hookimpl


@hookimpl
def ektp_register_commands(cli: click.Group) -> None:
    """``ektp serve``, ``ektp sync`` and ``ektp demo``."""
    from ektp_plugins.web.commands import serve_command, sync_group
    from ektp_plugins.demo.command import demo_command

    cli.add_command(serve_command)
    cli.add_command(sync_group)
    cli.add_command(demo_command)
