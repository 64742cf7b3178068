"""The web plugin: the operators' web UI and the node's HTTP API v1 (joining, packets, receipts, the feed;
OpenAPI), served by ``ektp serve``.

It owns the hooks through which other plugins add pages and menu entries to the UI
(:mod:`ektp_plugins.web.hookspecs`) and adds them to each plugin host itself, and it declares its
keys of the profile's ``[web]`` table (:mod:`ektp_plugins.web.settings`).
"""

from __future__ import annotations

import click
import pluggy

from ektp_core import hookimpl
from ektp_core.config.schema import ProfileTables


@hookimpl
def ektp_add_hookspecs(plugin_manager: pluggy.PluginManager) -> None:
    """``ektp_register_blueprints`` and ``ektp_register_menu_entries``."""
    from ektp_plugins.web import hookspecs

    plugin_manager.add_hookspecs(hookspecs)


@hookimpl
def ektp_declare_profile_tables(tables: ProfileTables) -> None:
    """The web UI's keys of ``[web]`` (the table is shared with the core's account limits)."""
    from ektp_plugins.web.settings import WEB_UI

    tables.add(WEB_UI)


@hookimpl
def ektp_register_commands(cli: click.Group) -> None:
    """``ektp serve``."""
    from ektp_plugins.web.commands import serve_command

    cli.add_command(serve_command)
