"""Office reports: ``ektp report`` (CSV, XLSX, PDF) and the web UI's report page with charts.

The figures come from the core's read model (:mod:`ektp_core.store.read_models.reports`); this plugin
only lays them out: CSV with the standard library, XLSX with openpyxl, PDF with fpdf2, the charts as
SVG drawn by the page's template. Install the libraries with ``pip install 'ektp[reports]'``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from ektp_core import hookimpl


@hookimpl
def ektp_declare_message_catalogues(folders: list[Path]) -> None:
    """The reports' labels, in Indonesian and English."""
    folders.append(Path(__file__).with_name("locales"))


@hookimpl
def ektp_register_commands(cli: click.Group) -> None:
    """``ektp report``."""
    from ektp_plugins.reports.commands import report_command

    cli.add_command(report_command)


@hookimpl
def ektp_register_blueprints(registry: Any) -> None:
    """The report page ``/laporan`` and its downloads."""
    from ektp_plugins.reports.web import bp

    registry.add("reports", bp, description="monthly and daily reports per site and operator, with downloads")
