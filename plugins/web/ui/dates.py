"""Dates as the UI writes and reads them: ``dd-mm-yyyy``, the way cards and papers write them.

A browser's ``<input type=date>`` shows the browser's own format, so date fields are text inputs
with this pattern, parsed here. ``yyyy-mm-dd`` (ISO 8601, what links and machine files carry) is
read too: a four-digit first part cannot be mistaken for a day. CSV files keep ISO dates.
"""

from __future__ import annotations

import datetime as dt
import re

#: The HTML ``pattern`` of a date field (the server checks again; this only marks it in the browser).
PATTERN = r"\d{1,2}[\-/.]\d{1,2}[\-/.]\d{4}"
_DMY = re.compile(r"(\d{1,2})[-/.](\d{1,2})[-/.](\d{4})")
_ISO = re.compile(r"(\d{4})-(\d{2})-(\d{2})")


def parse_date(text: str | None) -> dt.date | None:
    """``dd-mm-yyyy`` (``-``, ``/`` or ``.`` between; one-digit day and month accepted) or ISO
    ``yyyy-mm-dd``; None for anything else or a day that does not exist (31-02-2000)."""
    text = (text or "").strip()
    try:
        if found := _DMY.fullmatch(text):
            day, month, year = (int(part) for part in found.groups())
            return dt.date(year, month, day)
        if found := _ISO.fullmatch(text):
            year, month, day = (int(part) for part in found.groups())
            return dt.date(year, month, day)
    except ValueError:
        return None
    return None


def show_date(value: dt.date | dt.datetime | str | None) -> str:
    """``dd-mm-yyyy``; an ISO string is read first; "" for nothing, other text as it is."""
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        parsed = parse_date(value[:10])
        return parsed.strftime("%d-%m-%Y") if parsed else value
    return value.strftime("%d-%m-%Y")
