"""The ``ektp`` command line: one module per family of commands, gathered in :mod:`ektp_core.cli.app`.

Plugins add their commands through ``ektp_register_commands`` and build them with the helpers of
:mod:`ektp_core.cli.options` (the deployment option, failing for a person, SIGTERM handling).
"""

from ektp_core.cli.app import cli, main

__all__ = ["cli", "main"]
