"""What a person types in the enrolment search box, read as a NIK, the start of one, or part of a name."""

from __future__ import annotations

import re

from ektp_core.store.read_models.enrolment_search import SearchTerm, TermKind

_SPACES = re.compile(r"[\s.\-]+")


class SearchInvalid(ValueError):
    """The search text cannot be a NIK or a name; ``key`` is the message's catalogue key."""

    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def parse_query(text: str) -> SearchTerm | None:
    """A NIK (16 digits, spaces, dots and dashes ignored), a NIK prefix (fewer digits), a name (upper-
    cased, as names are stored), or None for an empty search.

    Raises :class:`SearchInvalid` for digits that cannot be a NIK (more than 16), for digits mixed with
    letters, and for a name of one character (it would match nearly everyone)."""
    text = " ".join(text.split())
    if not text:
        return None
    compact = _SPACES.sub("", text)
    if compact.isdigit():
        if len(compact) > 16:
            raise SearchInvalid("enr.search_nik_long")
        return SearchTerm(TermKind.NIK if len(compact) == 16 else TermKind.NIK_PREFIX, compact)
    if any(ch.isdigit() for ch in text):
        raise SearchInvalid("enr.search_mixed")
    if len(text) < 2:
        raise SearchInvalid("enr.search_short")
    return SearchTerm(TermKind.NAME, text.upper())
