"""What a person types on the blank (blangko) pages: the serials of a delivery and the stock report's
dates. Messages are catalogue keys (with values), so the views show them in the page's language."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from ektp_plugins.web.ui.dates import parse_date

from ektp_core.store.read_models.blank_stock import MAX_REPORT_DAYS

#: The most serials one delivery may hold (as ``ektp blanks receive --count``).
MAX_DELIVERY = 100_000


def today() -> dt.date:
    """The office's calendar day now."""
    return dt.datetime.now().astimezone().date()


class SerialsInvalid(ValueError):
    """The serials typed cannot be read; ``key`` and ``values`` make the message."""

    def __init__(self, key: str, **values: Any) -> None:
        super().__init__(key)
        self.key = key
        self.values = values


_RANGE = re.compile(r"^(?P<first>[^.]+)\.\.(?P<last>[^.]+)$")
_TAIL = re.compile(r"^(?P<prefix>.*?)(?P<number>\d+)$")


def parse_serials(text: str) -> list[str]:
    """The serials of a delivery: ranges ``BLK-000101..BLK-000150`` and single serials, separated by
    spaces, commas, semicolons or new lines. Order kept; a serial typed twice is kept twice (the
    ledger refuses the delivery and names it)."""
    cleaned = re.sub(r"\s*\.\.\s*", "..", text.strip().upper())
    tokens = [t for t in re.split(r"[\s,;]+", cleaned) if t]
    if not tokens:
        raise SerialsInvalid("blanks.err.none")
    serials: list[str] = []
    for token in tokens:
        if ".." in token:
            serials.extend(_expand(token))
        else:
            serials.append(token)
        if len(serials) > MAX_DELIVERY:
            raise SerialsInvalid("blanks.err.too_many", limit=MAX_DELIVERY)
    return serials


def _expand(token: str) -> list[str]:
    match = _RANGE.match(token)
    if match is None:
        raise SerialsInvalid("blanks.err.range", range=token)
    first, last = _TAIL.match(match["first"]), _TAIL.match(match["last"])
    if first is None or last is None:
        raise SerialsInvalid("blanks.err.range_digits", range=token)
    if first["prefix"] != last["prefix"] or len(first["number"]) != len(last["number"]):
        raise SerialsInvalid("blanks.err.range_shape", range=token)
    start, end = int(first["number"]), int(last["number"])
    if end < start:
        raise SerialsInvalid("blanks.err.range_order", range=token)
    if end - start + 1 > MAX_DELIVERY:
        raise SerialsInvalid("blanks.err.too_many", limit=MAX_DELIVERY)
    width = len(first["number"])
    return [f"{first['prefix']}{n:0{width}d}" for n in range(start, end + 1)]


def report_range(raw_from: str | None, raw_to: str | None, *, default_days: int = 14) -> tuple[dt.date, dt.date, bool]:
    """The report's dates from the form; bad or missing ones fall back to the last ``default_days``
    (the third value is False when something typed could not be used)."""
    last, first = today(), today() - dt.timedelta(days=default_days - 1)
    ok = True
    # dd-mm-yyyy as the page writes them (ISO read too: older links, scripts).
    typed_to, typed_from = parse_date(raw_to), parse_date(raw_from)
    if (raw_to and typed_to is None) or (raw_from and typed_from is None):
        return today() - dt.timedelta(days=default_days - 1), today(), False
    if typed_to is not None:
        last = typed_to
    if typed_from is not None:
        first = typed_from
    elif typed_to is not None:
        first = last - dt.timedelta(days=default_days - 1)
    if first > last or (last - first).days + 1 > MAX_REPORT_DAYS:
        return today() - dt.timedelta(days=default_days - 1), today(), False
    return first, last, ok
