"""Reading a paper's signed statement back from its PDF (pypdf): only the embedded statement file
counts; the visible text, the metadata and the QR image are never trusted."""

from __future__ import annotations

import io

from ektp_plugins.papers.render import STATEMENT_FILE
from pypdf import PdfReader
from pypdf.errors import PdfReadError, PyPdfError

from ektp_core.keys.paper_statements import MAX_TEXT, NotGenuine, Reason

#: Largest PDF read (a paper is a few tens of kilobytes; a much larger file is not one of ours).
MAX_PDF = 5 * 1024 * 1024


def is_pdf(data: bytes) -> bool:
    """True when ``data`` starts like a PDF file."""
    return data[:5] == b"%PDF-"


def statement_of_pdf(data: bytes) -> str:
    """The statement text embedded in a paper's PDF; :class:`NotGenuine` (``malformed``) when the file
    is not a readable PDF or holds no single statement."""
    if len(data) > MAX_PDF:
        raise NotGenuine(Reason.MALFORMED, detail=f"the file is larger than {MAX_PDF // 1024 // 1024} MB")
    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        found = reader.attachments.get(STATEMENT_FILE, [])
    except (PdfReadError, PyPdfError, ValueError, KeyError, TypeError, OSError) as exc:
        raise NotGenuine(Reason.MALFORMED, detail=f"not a readable PDF ({str(exc)[:150]})") from None
    if len(found) != 1:
        raise NotGenuine(Reason.MALFORMED, detail=f"the PDF does not embed one {STATEMENT_FILE}")
    raw = found[0]
    if len(raw) > MAX_TEXT:
        raise NotGenuine(Reason.MALFORMED, detail="the embedded statement is too long")
    try:
        return raw.decode("ascii").strip()
    except UnicodeDecodeError:
        raise NotGenuine(Reason.MALFORMED, detail="the embedded statement is not text") from None
