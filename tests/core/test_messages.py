"""Messages as codes with parameters (ektp_core.messages): how one renders, how it travels, and the
catalogues every interface renders from (the core's, each bundled plugin's and the web UI's).

The catalogue tests render every code of every language with sample values, fail on a code the code
uses that a catalogue lacks, on placeholders that differ between languages, and on an English word in
an Indonesian text: the operator UI is Indonesian first, and the core's messages reach it.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import string
from pathlib import Path
from typing import Any

import pytest
from language import english_words

from ektp_core.domain.model import WEEKDAYS, BlankState, EnrolmentState, PrintJobState
from ektp_core.errors import Conflict, EktpError, IllegalTransition, InvalidValue, NotFound
from ektp_core.messages import (
    LOCALES,
    Catalogues,
    Message,
    as_message,
    format_date,
    format_number,
    storable,
    text_of,
)
from ektp_core.plugins import PluginHost

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def every_folder() -> list[Path]:
    """The core's catalogues, the bundled plugins' (through their hook) and the web UI's."""
    from ektp_plugins.web.ui.i18n import LOCALES as WEB

    from ektp_core.messages import catalogue_folders

    PluginHost()
    return [*catalogue_folders(), WEB]


@pytest.fixture(scope="module")
def catalogues(every_folder: list[Path]) -> Catalogues:
    return Catalogues(every_folder)


# --------------------------------------------------------------------------------------------------
# One message
# --------------------------------------------------------------------------------------------------


def test_a_message_renders_in_english_by_default_and_in_indonesian_when_asked() -> None:
    said = Message("blank.none_in_stock", site="17.71.05")
    assert str(said) == "no blank cards in stock at site 17.71.05; receive blanks first"
    assert said.render("id") == "Tidak ada stok blangko di lokasi 17.71.05; terima kiriman blangko dulu"


def test_named_kinds_of_value_are_shown_in_the_language() -> None:
    cats = Catalogues()
    cats.messages["id"]["t.day"] = "hari {d:day}, {on:date}, {n:number} kartu, status {s:state}"
    cats.messages["en"]["t.day"] = "{d:day}, {on:date}, {n:number} cards, state {s:state}"
    said = Message("t.day", d="wednesday", on="2026-12-07", n=1234, s="QUEUED")
    assert cats.render("id", said) == "hari Rabu, 07-12-2026, 1.234 kartu, status Dalam antrean (QUEUED)"
    assert cats.render("en", said) == "Wednesday, 07-12-2026, 1,234 cards, state queued (QUEUED)"


def test_nested_messages_render_in_the_same_language_and_lists_join() -> None:
    inner = [Message("regions.cannot.no_printer", site="A"), Message("regions.cannot.no_blanks", site="B")]
    said = Message("error.validation_failed", problems=inner)
    PluginHost()  # the regions plugin's catalogue
    assert said.render("id") == "Pemeriksaan data gagal: A tidak memiliki printer; B tidak memiliki stok blangko"
    assert str(said) == "validation failed: A has no printer; B has no blank cards in stock"


def test_a_message_travels_as_json_and_back() -> None:
    said = Message("reason.printer_failed", printer="evolis-1", error=Message("error.printer.cover_open"), detail="x")
    stored = storable(said)
    assert json.loads(stored)["code"] == "reason.printer_failed"
    assert Message.found_in(stored) == said and as_message(stored) == said
    assert Message.from_dict(said.to_dict()) == said and hash(Message.from_dict(said.to_dict())) == hash(said)


def test_plain_text_from_before_messages_is_shown_as_it_is() -> None:
    assert text_of("confirmed by evolis-1", "id") == "confirmed by evolis-1"
    assert as_message("{not json").params == {"text": "{not json"}
    assert text_of(None) == "" and text_of("") == ""


def test_an_unknown_code_shows_the_text_it_came_with_else_the_code() -> None:
    assert Message("verdict.brand_new_reason", text="the central system's own words").render("id") == (
        "the central system's own words"
    )
    assert Message("no.such.code").render("id") == "no.such.code"


def test_a_missing_value_leaves_the_text_unfilled_rather_than_failing() -> None:
    assert "{site}" in Message("blank.none_in_stock").render("id")


def test_dates_are_dd_mm_yyyy_and_numbers_group_by_language() -> None:
    assert format_date(dt.date(1995, 3, 12)) == "12-03-1995"
    assert format_date("2026-12-07T02:40:00+07:00", with_time=True) == "07-12-2026 02:40"
    assert format_date("not a date") == "not a date"
    assert (format_number(1234567, "id"), format_number(1234567, "en")) == ("1.234.567", "1,234,567")


def test_messages_are_immutable_and_need_a_code() -> None:
    said = Message("empty")
    with pytest.raises(AttributeError):
        said.code = "other"  # type: ignore[misc]
    with pytest.raises(ValueError):
        Message("")


# --------------------------------------------------------------------------------------------------
# Errors are messages
# --------------------------------------------------------------------------------------------------


def test_an_error_raised_with_a_message_says_it_in_each_language() -> None:
    error = Conflict(Message("blank.already_in_ledger", serial="BLK-1"))
    assert str(error) == "blank BLK-1 is already in the ledger; nothing was received"
    assert error.as_message().render("id") == "Blangko BLK-1 sudah tercatat; tidak ada yang diterima"


def test_an_error_raised_with_plain_text_says_its_class_text_in_the_ui() -> None:
    error = Conflict("some English detail for the log")
    assert str(error) == "some English detail for the log"
    assert error.as_message() == Message("error.conflict")
    assert "bertentangan" in error.as_message().render("id")
    assert EktpError("x").as_message().code == "error.general"


def test_structured_errors_give_their_fields() -> None:
    moved = IllegalTransition("print job", "j1", "PRINTED", "QUEUED").as_message()
    assert moved.render("id").startswith("Pekerjaan cetak j1 berstatus Tercetak (PRINTED)")
    assert NotFound("site", "17.71.99").as_message().render("id") == "Lokasi 17.71.99 tidak ditemukan"
    invalid = InvalidValue("rt", "000", Message("invalid.rt_rw")).as_message().render("id")
    assert invalid == "RT: 000 tidak sah: harus 1 sampai 3 angka, bukan 000"


# --------------------------------------------------------------------------------------------------
# The catalogues
# --------------------------------------------------------------------------------------------------

_PLACEHOLDER = re.compile(r"\{([a-z_]+)(?::([a-z]+))?\}")
_SAMPLE = {"day": "monday", "date": "2026-12-07", "datetime": "2026-12-07T08:00:00", "number": 12, "state": "QUEUED"}


def _fields(text: str) -> set[tuple[str, str]]:
    return {(name or "", spec or "") for _lit, name, spec, _conv in string.Formatter().parse(text) if name}


def _folders_with_catalogues(every_folder: list[Path]) -> list[Path]:
    return [f for f in every_folder if (f / "id.json").is_file()]


def test_every_folder_ships_the_same_codes_in_every_language(every_folder: list[Path]) -> None:
    for folder in _folders_with_catalogues(every_folder):
        reference = set(json.loads((folder / "id.json").read_text("utf-8")))
        for path in folder.glob("*.json"):
            keys = set(json.loads(path.read_text("utf-8")))
            assert keys == reference, f"{path}: missing {sorted(reference - keys)}, extra {sorted(keys - reference)}"


def test_every_code_renders_in_every_language_with_the_same_placeholders(catalogues: Catalogues) -> None:
    problems = []
    for code, indonesian in catalogues.messages["id"].items():
        if code == "_language":
            continue
        for language in catalogues.messages:
            text = catalogues.messages[language].get(code)
            if text is None:
                problems.append(f"{language}: no {code}")
                continue
            values = {name: _SAMPLE.get(spec, "X") for name, spec in _fields(text)}
            rendered = catalogues.text(language, code, **values)
            if _PLACEHOLDER.search(rendered) and "{" not in "".join(str(v) for v in values.values()):
                problems.append(f"{language}: {code} does not render: {rendered!r}")
        # A language may leave out a value (the Indonesian text drops a driver's English detail), but
        # never names one the other languages do not give.
        english = {name for name, _spec in _fields(catalogues.messages["en"].get(code, ""))}
        english |= SHOWN_ONLY_IN_THE_UI.get(code, set())
        extra = {name for name, _spec in _fields(indonesian)} - english
        if extra and code in catalogues.messages["en"]:
            problems.append(f"id: {code} names {sorted(extra)}, which the English text does not")
    assert problems == []


#: Values that only the UI's languages show: a stored error's message, whose English text is its detail.
SHOWN_ONLY_IN_THE_UI = {"error.detailed": {"error"}}


def _codes_in_source() -> set[str]:
    literal = re.compile(r"""Message\(\s*["']([a-z_]+(?:\.[A-Za-z0-9_-]+)+)["']""")
    declared = re.compile(r"""message_code\s*=\s*["']([a-z_.]+)["']""")
    found: set[str] = set()
    for folder in (ROOT / "ektp_core", ROOT / "plugins"):
        for path in folder.rglob("*.py"):
            text = path.read_text("utf-8")
            found |= set(literal.findall(text)) | set(declared.findall(text))
    return found


def test_every_code_the_code_uses_is_in_every_catalogue(catalogues: Catalogues) -> None:
    used = _codes_in_source()
    assert len(used) > 100  # the scan still finds the messages
    # The codes made at run time from a value: every value they can take.
    used |= {f"day.{d}" for d in WEEKDAYS}
    used |= {f"state.{s.value}" for enum in (EnrolmentState, PrintJobState, BlankState) for s in enum}
    used |= {f"kind.{k}" for k in ("enrolment", "print job", "blank", "operator", "site", "joined site", "blob")}
    central = re.compile(r"""Reason\(\s*["']([a-z_]+)["']""")
    for path in (ROOT / "plugins" / "verify").rglob("*.py"):
        used |= {f"verdict.{c}" for c in central.findall(path.read_text("utf-8"))}
    missing = sorted(f"{lang}: {c}" for c in used for lang in ("id", "en") if not catalogues.has(lang, c))
    assert missing == []


def test_the_indonesian_texts_have_no_english_words(catalogues: Catalogues) -> None:
    offenders = {
        code: english_words(text)
        for code, text in catalogues.messages["id"].items()
        if code != "_language"
        and english_words(text)
        and catalogues.messages["en"].get(code) != text
        and not (code.startswith(("evolis.", "verdict.")) and text == "{text}")
    }
    assert offenders == {}


def test_the_english_word_check_catches_english(catalogues: Catalogues) -> None:
    assert english_words("Printer belum siap: the ribbon is finished") == ["the", "is"]
    assert english_words("Status {state:state} (QUEUED), jalankan `ektp sync join`") == []


@pytest.mark.parametrize("language", ["id", "en"])
def test_the_core_catalogue_is_complete_on_its_own(language: str) -> None:
    """The CLI and a core-only node render the core's codes without any plugin."""
    data: dict[str, Any] = json.loads((LOCALES / f"{language}.json").read_text("utf-8"))
    core_used = {c for c in _codes_in_source() if not c.startswith(("regions.", "evolis."))}
    assert sorted(core_used - set(data)) == []
