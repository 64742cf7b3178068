"""The UI's one date format, dd-mm-yyyy (issue 14, defect 8): parsing what an operator types and
writing what pages show."""

from __future__ import annotations

import datetime as dt

import pytest
from ektp_plugins.web.ui.dates import PATTERN, parse_date, show_date


@pytest.mark.parametrize(
    ("typed", "day"),
    [
        ("12-03-1995", dt.date(1995, 3, 12)),
        (" 1-3-1995 ", dt.date(1995, 3, 1)),
        ("12/03/1995", dt.date(1995, 3, 12)),
        ("12.03.1995", dt.date(1995, 3, 12)),
        ("1995-03-12", dt.date(1995, 3, 12)),  # ISO, as links and machine files carry it
        ("29-02-2000", dt.date(2000, 2, 29)),
    ],
)
def test_a_typed_date_is_read_day_first(typed: str, day: dt.date) -> None:
    assert parse_date(typed) == day


@pytest.mark.parametrize(
    "typed", ["", "31-02-2000", "29-02-1999", "03-13-1995", "12-03-95", "1995/03/12", "12 maret 1995", "12-03-1995x"]
)
def test_anything_else_is_no_date(typed: str) -> None:
    assert parse_date(typed) is None


def test_pages_write_day_month_year_and_the_pattern_matches_it() -> None:
    import re

    assert show_date(dt.date(1995, 3, 12)) == "12-03-1995"
    assert show_date("1995-03-12") == "12-03-1995"
    assert show_date(None) == "" and show_date("bukan tanggal") == "bukan tanggal"
    assert re.fullmatch(PATTERN, show_date(dt.date(2026, 1, 2)))
