"""Backups: ``ektp backup`` writes a node's database, configuration and keys into one encrypted file
(format ``EKB1``), ``ektp restore`` makes a node again from it, on SQLite or PostgreSQL."""

from __future__ import annotations

import click

from ektp_core import hookimpl


@hookimpl
def ektp_register_commands(cli: click.Group) -> None:
    """``ektp backup`` and ``ektp restore``."""
    from ektp_plugins.backup.commands import backup_command, restore_command

    cli.add_command(backup_command)
    cli.add_command(restore_command)
