"""The web plugin: the operators' web UI and the node's HTTP API v1 (joining, packets, receipts, the feed;
OpenAPI), served by ``ektp serve``."""

from __future__ import annotations

import click

from ektp_core import hookimpl


@hookimpl
def ektp_register_commands(cli: click.Group) -> None:
    """``ektp serve``."""
    from ektp_plugins.web.commands import serve_command

    cli.add_command(serve_command)
