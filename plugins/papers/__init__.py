"""Papers for the resident as PDF: bukti perekaman, tanda terima and Surat Keterangan pengganti KTP-el
(Suket), A4 or 80 mm wide, each with a QR code holding its signed statement; ``ektp papers`` and the
web UI's paper buttons and public check page ``/cek``.

The core issues, records and signs the papers (:mod:`ektp_core.services.papers`); this plugin renders
them (fpdf2, segno) and reads a PDF back (pypdf). Install its libraries with ``pip install
'ektp[papers]'``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from ektp_core import hookimpl


@hookimpl
def ektp_declare_message_catalogues(folders: list[Path]) -> None:
    """The papers' texts (the PDF's Indonesian wording, the web pages)."""
    folders.append(Path(__file__).with_name("locales"))


@hookimpl
def ektp_register_commands(cli: click.Group) -> None:
    """``ektp papers``."""
    from ektp_plugins.papers.commands import papers_group

    cli.add_command(papers_group)


@hookimpl
def ektp_register_blueprints(registry: Any) -> None:
    """The paper buttons' downloads and the public check page ``/cek``."""
    from ektp_plugins.papers.web import bp

    registry.add("papers", bp, description="papers for the resident (PDF) and the public check page /cek")
