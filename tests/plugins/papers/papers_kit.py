"""Shared steps of the papers plugin's tests: a resident taken to a state, a PDF read back."""

from __future__ import annotations

import io
from typing import Any

from pypdf import PdfReader

from ektp_core.domain.model import EnrolmentState
from ektp_core.messages import Message

E = EnrolmentState


def queue(lc: Any, enrolment_id: str) -> str:
    """Queue the enrolment's card at the node's site (SENT_FOR_CARD_PRINTING); returns the job."""
    return str(lc.queue_print(enrolment_id, site_code=lc.deployment.site_code, actor="op1", routing_reason="test").id)


def hand_over(lc: Any, enrolment_id: str, serial: str = "BLK-000001") -> None:
    """Print the enrolment's card and hand it over (CARD_ISSUED, as the handover check audits it)."""
    job = queue(lc, enrolment_id)
    lc.receive_blanks(lc.deployment.site_code, [serial], actor="spv1")
    lc.reserve_blank(job, actor="op1")
    lc.mark_sent(job, actor="op1", printer="evolis-1")
    lc.mark_printed(job, actor="op1")
    reason = Message("reason.handed_over", position="right_index", score="80", threshold="40")
    lc.transition(enrolment_id, E.CARD_ISSUED, actor="op1", reason=reason)


def pdf_text(data: bytes) -> tuple[str, int, dict[str, list[bytes]], Any]:
    """A PDF's text, page count, embedded files and first page's box, read back with pypdf."""
    reader = PdfReader(io.BytesIO(data))
    text = "\n".join(page.extract_text() for page in reader.pages)
    return text, len(reader.pages), dict(reader.attachments), reader.pages[0].mediabox
