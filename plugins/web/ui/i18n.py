"""The operator UI's languages: one JSON catalogue per language in ``locales/`` (``id.json`` is the
reference and the default). Adding a language is adding a file: no code changes.

A catalogue maps a message key to its text, with ``{name}`` placeholders filled by :func:`format`.
A key missing from a catalogue falls back to Indonesian, then to the key itself, so a half-translated
language still works; a test keeps every shipped catalogue complete.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

LOCALES = Path(__file__).with_name("locales")
DEFAULT = "id"


class Catalogues:
    """Every catalogue found in the given folders (a later folder's file overrides an earlier one)."""

    def __init__(self, folders: Iterable[Path] = (LOCALES,)) -> None:
        self.messages: dict[str, dict[str, str]] = {}
        for folder in folders:
            for path in sorted(Path(folder).glob("*.json")):
                data = json.loads(path.read_text("utf-8"))
                if not isinstance(data, dict) or not isinstance(data.get("_language"), str):
                    raise ValueError(f'{path}: a catalogue is a JSON object with a "_language" name')
                self.messages[path.stem] = {str(k): str(v) for k, v in data.items()}
        if DEFAULT not in self.messages:
            raise ValueError(f"no {DEFAULT}.json catalogue in {list(folders)}")

    @property
    def languages(self) -> list[tuple[str, str]]:
        """(code, the language's own name), Indonesian first."""
        codes = sorted(self.messages, key=lambda c: (c != DEFAULT, c))
        return [(code, self.messages[code]["_language"]) for code in codes]

    def pick(self, wanted: str | None, accept: Any = None) -> str:
        """The language to use: the one asked for, else the browser's best known one, else Indonesian."""
        if wanted in self.messages:
            return str(wanted)
        if accept is not None:
            best = accept.best_match(list(self.messages))
            if best:
                return str(best)
        return DEFAULT

    def text(self, language: str, key: str, **values: Any) -> str:
        """The message ``key`` in ``language``, its placeholders filled."""
        message = self.messages.get(language, {}).get(key) or self.messages[DEFAULT].get(key) or key
        if values:
            try:
                return message.format(**values)
            except (KeyError, IndexError, ValueError):
                return message
        return message
