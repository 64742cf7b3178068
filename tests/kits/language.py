"""English words in an Indonesian text: the check the catalogue tests and the browser walk share.

The operator UI is Indonesian first. Loanwords it uses on purpose ("printer", "supervisor", "operator",
"data", "status", "template" as "templat") are not in the list; codes in capitals (QUEUED,
WAR_COVER_OPEN), placeholders, `commands` and a profile's ``(key = value)`` are skipped.
"""

from __future__ import annotations

import re

#: English words that are never Indonesian.
_WORDS = (
    "the is are was were not and of to for with from by has have this that on at in be it its or if "
    "when which you your please cannot could should would been done failed error missing queued printed "
    "received sent yet only any all than then there their must may will here because before after "
    "about into out up down new old card cards day days week today wrong found refused ready busy stock "
    "blank blanks job jobs site sites queue waiting unknown none nothing rules every each"
)
ENGLISH = frozenset(_WORDS.split())
_SKIP = re.compile(r"\{[^}]*\}|`[^`]*`|\b[A-Z][A-Z0-9_]{2,}\b|\([a-z_]+ = [a-z]+\)")


def english_words(text: str) -> list[str]:
    """The English words of ``text`` outside placeholders, codes and commands."""
    return [w for w in re.findall(r"[A-Za-z]+", _SKIP.sub(" ", text)) if w.lower() in ENGLISH]
