"""Texts for people as a stable code and its parameters, rendered by each interface in its language.

The core never builds a sentence an operator reads: it says *what* happened as a :class:`Message`
(``Message("regions.semi_vertical_day", office=..., district=..., day="wednesday")``), and the interface renders it from
the catalogues in its own language: the web UI in Indonesian first, the CLI in English. A catalogue is
a JSON object per language (``en.json``, ``id.json``) mapping a code to its text, with ``{name}``
placeholders; the core's own live in ``ektp_core/locales``, and a plugin adds a folder of its own
through the ``ektp_declare_message_catalogues`` hook (its codes then render everywhere the core's do).

A placeholder may name how its value is shown, so a catalogue never receives an English word:

* ``{day:day}`` a weekday (``"wednesday"``) -> the catalogue's ``day.wednesday`` ("Rabu");
* ``{state:state}`` an enrolment or job state -> ``state.<value>``;
* ``{what:term}`` any other value with a name in the catalogue -> ``term.<value>``;
* ``{on:date}`` / ``{at:datetime}`` an ISO date or time -> ``dd-mm-yyyy`` (``dd-mm-yyyy HH:MM``),
  the one date format of the card and its papers;
* ``{count:number}`` a number with the language's digit grouping (``1.234`` / ``1,234``);
* a value that is itself a :class:`Message` is rendered in the same language, and a list or tuple of
  values is joined with ``", "`` (of messages, with ``"; "``).

A code missing from a language falls back to Indonesian, then English, then the code itself, so a
half-translated catalogue still works; the tests keep every shipped catalogue complete.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import string
import threading
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

#: The core's catalogues.
LOCALES = Path(__file__).with_name("locales")
#: The language of the operators' UI; the reference catalogue.
DEFAULT_LANGUAGE = "id"
#: The language of the CLI, the logs and ``str(message)``.
ENGLISH = "en"


class Message:
    """A text for people: a stable ``code`` (a catalogue key) and the ``params`` its text names.

    Equal messages have equal codes and params; ``str(message)`` is its English rendering (for the
    CLI, the logs and an exception's ``args``). :meth:`to_dict` / :meth:`from_dict` carry one through
    JSON (an audit entry's detail, a sync packet, a database column).
    """

    __slots__ = ("code", "params")

    code: str
    params: Mapping[str, Any]

    def __init__(self, code: str, /, **params: Any) -> None:
        if not code or not isinstance(code, str):
            raise ValueError(f"a message code is a non-empty string, not {code!r}")
        object.__setattr__(self, "code", code)
        object.__setattr__(self, "params", dict(params))

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("a Message is immutable")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Message) and (self.code, self.params) == (other.code, other.params)

    def __hash__(self) -> int:
        return hash((self.code, json.dumps(self.to_dict()["params"], sort_keys=True, default=str)))

    def __repr__(self) -> str:
        args = "".join(f", {k}={v!r}" for k, v in self.params.items())
        return f"Message({self.code!r}{args})"

    def __str__(self) -> str:
        return self.render(ENGLISH)

    def render(self, language: str = ENGLISH, catalogues: Catalogues | None = None) -> str:
        """The text in ``language`` from ``catalogues`` (default: the process's, see :func:`catalogues`)."""
        return (catalogues or default_catalogues()).render(language, self)

    def to_dict(self) -> dict[str, Any]:
        """``{"code": ..., "params": {...}}``, nested messages as dicts too (JSON-safe)."""
        return {"code": self.code, "params": {k: _to_json(v) for k, v in self.params.items()}}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Message:
        """The message :meth:`to_dict` wrote; ValueError for anything else."""
        code, params = data.get("code"), data.get("params", {})
        if not isinstance(code, str) or not isinstance(params, Mapping):
            raise ValueError(f"not a message: {data!r}")
        return cls(code, **{str(k): _from_json(v) for k, v in params.items()})

    @classmethod
    def found_in(cls, value: Any) -> Message | None:
        """The message ``value`` holds (a Message, its dict, or its dict as JSON text), else None: for
        columns and details that hold either a message or, in rows written before 0.3, plain text."""
        if isinstance(value, Message):
            return value
        if isinstance(value, str) and value.startswith('{"code"'):
            try:
                value = json.loads(value)
            except ValueError:
                return None
        if isinstance(value, Mapping) and isinstance(value.get("code"), str):
            try:
                return cls.from_dict(value)
            except ValueError:
                return None
        return None

    def to_json(self) -> str:
        """The message as one line of JSON (for a text column)."""
        return json.dumps(self.to_dict(), ensure_ascii=False, separators=(",", ":"))


def as_message(value: Any) -> Message:
    """``value`` as a message: itself, the message its dict or JSON text holds, or its plain text (a
    reason stored before messages existed, a third-party plugin's string) wrapped as ``text``."""
    found = Message.found_in(value)
    return found if found is not None else Message("text", text="" if value is None else str(value))


def text_of(value: Any, language: str = ENGLISH) -> str:
    """A stored reason (a message's JSON, or plain text) as text in ``language`` (English: the CLI)."""
    return as_message(value).render(language) if value not in (None, "") else ""


def storable(value: str | Message) -> str:
    """What a text column stores: a message's JSON, or the text itself."""
    return value.to_json() if isinstance(value, Message) else str(value)


def _to_json(value: Any) -> Any:
    if isinstance(value, Message):
        return value.to_dict()
    if isinstance(value, list | tuple):
        return [_to_json(v) for v in value]
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return str(value)


def _from_json(value: Any) -> Any:
    if isinstance(value, Mapping) and isinstance(value.get("code"), str) and "params" in value:
        return Message.from_dict(value)
    if isinstance(value, list):
        return [_from_json(v) for v in value]
    return value


class Catalogues:
    """Every catalogue found in the given folders; a later folder's text for a code overrides an
    earlier one's (so a deployment may reword a message without touching the code)."""

    def __init__(self, folders: Iterable[Path] = (LOCALES,)) -> None:
        self.folders: list[Path] = []
        self.messages: dict[str, dict[str, str]] = {}
        for folder in folders:
            self.add_folder(folder)

    def add_folder(self, folder: Path) -> None:
        """Read every ``<language>.json`` of ``folder`` (a JSON object with a ``"_language"`` name)."""
        folder = Path(folder)
        if folder in self.folders:
            return
        for path in sorted(folder.glob("*.json")):
            data = json.loads(path.read_text("utf-8"))
            if not isinstance(data, dict) or not isinstance(data.get("_language"), str):
                raise ValueError(f'{path}: a catalogue is a JSON object with a "_language" name')
            self.messages.setdefault(path.stem, {}).update({str(k): str(v) for k, v in data.items()})
        self.folders.append(folder)

    @property
    def languages(self) -> list[tuple[str, str]]:
        """(code, the language's own name), Indonesian first."""
        codes = sorted(self.messages, key=lambda c: (c != DEFAULT_LANGUAGE, c))
        return [(code, self.messages[code]["_language"]) for code in codes]

    def has(self, language: str, code: str) -> bool:
        """True when ``language``'s own catalogue has ``code`` (no fallback)."""
        return code in self.messages.get(language, {})

    def lookup(self, language: str, code: str) -> str | None:
        """The raw text of ``code`` in ``language``, falling back to Indonesian then English."""
        for lang in (language, DEFAULT_LANGUAGE, ENGLISH):
            found = self.messages.get(lang, {}).get(code)
            if found is not None:
                return found
        return None

    def text(self, language: str, code: str, /, **values: Any) -> str:
        """The text of ``code`` in ``language`` with its placeholders filled (the code itself when no
        catalogue knows it; the unfilled text when a value is missing)."""
        template = self.lookup(language, code)
        if template is None:
            # A code no catalogue knows (a central system's new reason code, say) shows the text it
            # came with, else the code itself.
            return str(values["text"]) if "text" in values else code
        if not values and "{" not in template:
            return template
        try:
            if _PLAIN_VALUES.issuperset(type(v) for v in values.values()) and not _KINDED.search(template):
                # The common case on a page (a count, a name): str.format, several times faster.
                return template.format(**values)
            return _Formatter(self, language).vformat(template, (), values)
        except (KeyError, IndexError, ValueError, AttributeError):
            return template

    def name_of(self, language: str, prefix: str, value: Any) -> str:
        """The catalogue's name for ``value`` (``prefix.value``: ``term.READY`` -> "siap"), else the
        value itself: a state, a day, a term without a text shows as it is."""
        found = self.lookup(language, f"{prefix}.{value}")
        return found if found is not None else str(value)

    def render(self, language: str, message: Message) -> str:
        """``message`` in ``language``."""
        return self.text(language, message.code, **message.params)


#: Values str.format shows as the formatter would; a template naming a kind ({day:day}) needs it.
_PLAIN_VALUES = frozenset({str, int, float, bool})
_KINDED = re.compile(r"\{[^{}]*:[^{}]*\}")


class _Formatter(string.Formatter):
    """Fills placeholders, rendering nested messages and the named kinds of value in one language."""

    def __init__(self, catalogues: Catalogues, language: str) -> None:
        self.catalogues = catalogues
        self.language = language

    def format_field(self, value: Any, format_spec: str) -> str:
        return self.show(value, format_spec)

    def show(self, value: Any, kind: str = "") -> str:
        if isinstance(value, Message):
            return self.catalogues.render(self.language, value)
        if isinstance(value, list | tuple):
            # Sentences (messages) are separated by semicolons, plain values by commas.
            separator = "; " if any(isinstance(v, Message) for v in value) else ", "
            return separator.join(self.show(v, kind) for v in value)
        if value is None:
            return self.catalogues.text(self.language, "term.none")
        if kind in ("day", "state", "term"):
            name = str(getattr(value, "value", value))
            return self.catalogues.name_of(self.language, kind, name.lower() if kind == "day" else name)
        if kind in ("date", "datetime"):
            return format_date(value, with_time=kind == "datetime")
        if kind == "number":
            return format_number(value, self.language)
        return format(value, kind) if kind else str(value)


def format_date(value: Any, *, with_time: bool = False) -> str:
    """``dd-mm-yyyy`` (``dd-mm-yyyy HH:MM`` with the time) for a date, a datetime or their ISO text;
    any other text unchanged."""
    when: dt.date | dt.datetime
    if isinstance(value, dt.datetime | dt.date):
        when = value
    else:
        text = str(value)
        try:
            when = (
                dt.datetime.fromisoformat(text)
                if with_time or "T" in text or " " in text
                else dt.date.fromisoformat(text)
            )
        except ValueError:
            return text
    shown = when.strftime("%d-%m-%Y")
    if with_time and isinstance(when, dt.datetime):
        shown += when.strftime(" %H:%M")
    return shown


def format_number(value: Any, language: str) -> str:
    """A number with the language's grouping: ``1.234,5`` in Indonesian, ``1,234.5`` in English."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    text = f"{number:,.0f}" if number == int(number) else f"{number:,.2f}".rstrip("0")
    if language == ENGLISH:
        return text
    return text.replace(",", "\0").replace(".", ",").replace("\0", ".")


_lock = threading.Lock()
_default: Catalogues | None = None
_extra: list[Path] = []


def default_catalogues() -> Catalogues:
    """The process's catalogues: the core's and every folder a plugin host added (:func:`add_folder`)."""
    global _default
    with _lock:
        if _default is None:
            _default = Catalogues([LOCALES, *_extra])
        return _default


def add_folder(folder: Path) -> None:
    """Add a plugin's catalogue folder to the process's catalogues (the plugin host calls this with
    what ``ektp_declare_message_catalogues`` returns)."""
    folder = Path(folder)
    with _lock:
        if folder not in _extra:
            _extra.append(folder)
        if _default is not None:
            _default.add_folder(folder)


def catalogue_folders() -> list[Path]:
    """The core's folder and those plugin hosts added, in order (an interface appends its own)."""
    with _lock:
        return [LOCALES, *_extra]


__all__ = [
    "DEFAULT_LANGUAGE",
    "ENGLISH",
    "LOCALES",
    "Catalogues",
    "Message",
    "add_folder",
    "as_message",
    "catalogue_folders",
    "default_catalogues",
    "format_date",
    "format_number",
    "storable",
    "text_of",
]
