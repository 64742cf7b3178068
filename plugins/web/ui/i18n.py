"""The operator UI's languages: one JSON catalogue per language in ``locales/`` (``id.json`` is the
reference and the default). Adding a language is adding a file: no code changes.

The UI's own texts sit beside the core's and the plugins' message catalogues
(:mod:`ektp_core.messages`): one :class:`Catalogues` holds them all, so a page renders a routing
reason, a verdict or an error the core raised in the page's language, exactly as it renders its own
labels. A key missing from a catalogue falls back to Indonesian, then English, then the key itself,
so a half-translated language still works; a test keeps every shipped catalogue complete.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ektp_core import messages

LOCALES = Path(__file__).with_name("locales")
DEFAULT = messages.DEFAULT_LANGUAGE
#: Stored reasons rendered and kept per language (a node shows a few hundred distinct ones).
_SAID_KEPT = 4096


class Catalogues(messages.Catalogues):
    """The core's and the plugins' message catalogues, then the UI's, then any given folders (a later
    folder's text overrides an earlier one's, so a deployment may reword the UI)."""

    def __init__(self, folders: Iterable[Path] = ()) -> None:
        self._said: dict[tuple[str, str], str] = {}
        super().__init__([*messages.catalogue_folders(), LOCALES, *folders])

    def add_folder(self, folder: Path) -> None:
        """Read a folder's catalogues (the texts said so far are forgotten: a text may have changed)."""
        super().add_folder(folder)
        self._said.clear()

    def pick(self, wanted: str | None, accept: Any = None) -> str:
        """The language to use: the one asked for, else the browser's best known one, else Indonesian."""
        if wanted in self.messages:
            return str(wanted)
        if accept is not None:
            best = accept.best_match(list(self.messages))
            if best:
                return str(best)
        return DEFAULT

    def say(self, language: str, value: Any) -> str:
        """A message, an error, or a stored reason (a message's JSON or plain text) in ``language``."""
        if isinstance(value, messages.Message):
            return self.render(language, value)
        as_message = getattr(value, "as_message", None)
        if callable(as_message):
            return self.render(language, as_message())
        if value in (None, ""):
            return ""
        if not isinstance(value, str):
            return self.render(language, messages.as_message(value))
        # A page lists many jobs with the same stored reason (the print queue: one routing reason per
        # kecamatan and day): each is parsed and rendered once, not once per row and request.
        key = (language, value)
        said = self._said.get(key)
        if said is None:
            if len(self._said) >= _SAID_KEPT:
                self._said.clear()
            said = self._said[key] = self.render(language, messages.as_message(value))
        return said
