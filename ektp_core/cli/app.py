"""The ``ektp`` command: the core's commands, and those plugins add through ``ektp_register_commands``.

Every command that works on a deployment takes it from ``--deployment DIR``, else from
``$EKTP_DEPLOYMENT``, else from the current folder.
"""

from __future__ import annotations

import os
from typing import Any

import click

from ektp_core import __version__
from ektp_core.cli import accounts, enrolments, keys, node, printing, regions, sync, verification
from ektp_core.cli.options import fail
from ektp_core.errors import EktpError
from ektp_core.plugins import PluginHost


class PluginGroup(click.Group):
    """The top-level group: asks plugins for their commands once, when first needed."""

    _loaded = False

    def _load(self, ctx: click.Context) -> None:
        if self._loaded:
            return
        self._loaded = True
        try:
            host = PluginHost()
        except EktpError as exc:  # still let `ektp plugins` and friends run
            click.echo(f"warning: {exc}", err=True)
            return
        # One plugin at a time, through pluggy: one plugin's bad command must not take the CLI down.
        for call in host.hook.each_plugin("ektp_register_commands"):
            try:
                call(cli=self)
            except Exception as exc:
                click.echo(f"warning: plugin {call.plugin} could not add its commands: {exc}", err=True)

    def list_commands(self, ctx: click.Context) -> list[str]:
        self._load(ctx)
        return super().list_commands(ctx)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        command = super().get_command(ctx, cmd_name)
        # A built-in group is loaded with the plugins too: they may add sub-commands to it.
        if command is None or isinstance(command, click.Group):
            self._load(ctx)
            command = super().get_command(ctx, cmd_name)
        return command

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except EktpError as exc:
            fail(str(exc))


@click.group(cls=PluginGroup)
@click.version_option(__version__, prog_name="ektp")
def cli() -> None:
    """ektp: KTP-el recording, verification and printing for a regency's offices."""


#: The core's own commands (plugins add theirs through ``ektp_register_commands``).
CORE_COMMANDS: tuple[click.Command, ...] = (
    *node.COMMANDS,
    *accounts.COMMANDS,
    *keys.COMMANDS,
    *printing.COMMANDS,
    *regions.COMMANDS,
    *verification.COMMANDS,
    *enrolments.COMMANDS,
    *sync.COMMANDS,
)
for _command in CORE_COMMANDS:
    cli.add_command(_command)


def main() -> None:
    """Console-script entry point."""
    os.environ.setdefault("PYTHONIOENCODING", "utf-8")
    cli(prog_name="ektp")
