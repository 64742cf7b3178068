"""SIAK code lists printed on the KTP-el (agama, status perkawinan, golongan darah, pekerjaan).

The lists live in ``data/siak_codes.tsv`` (our own copy of the facts). Legacy spellings found in old
data are accepted and normalised to the current label.
"""

from __future__ import annotations

from functools import cache
from importlib import resources

#: Old spellings still found in SIAK data, mapped to today's label.
LEGACY_SPELLINGS: dict[str, dict[str, str]] = {
    "agama": {"KATHOLIK": "KATOLIK", "BUDHA": "BUDDHA", "KHONGHUCU": "KONGHUCU"},
}


@cache
def code_lists() -> dict[str, dict[int, str]]:
    """Every SIAK code list: ``{list name: {code: label}}``."""
    text = resources.files("ektp_core.domain").joinpath("data", "siak_codes.tsv").read_text("utf-8")
    lists: dict[str, dict[int, str]] = {}
    for line in text.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        name, code, label = line.split("\t")
        lists.setdefault(name, {})[int(code)] = label.strip()
    return lists


def labels(list_name: str) -> tuple[str, ...]:
    """The allowed labels of one list, in SIAK code order."""
    return tuple(code_lists()[list_name].values())


def normalise(list_name: str, value: str | int) -> str:
    """Turn a label, a legacy spelling or a SIAK code into the current label.

    Raises ``KeyError`` when the value is not in the list.
    """
    entries = code_lists()[list_name]
    if isinstance(value, int) or (isinstance(value, str) and value.strip().isdigit()):
        return entries[int(value)]
    label = " ".join(str(value).upper().split())
    label = LEGACY_SPELLINGS.get(list_name, {}).get(label, label)
    if label not in entries.values():
        raise KeyError(label)
    return label


def code_of(list_name: str, label: str) -> int:
    """The SIAK code of a (current or legacy) label."""
    current = normalise(list_name, label)
    for code, text in code_lists()[list_name].items():
        if text == current:
            return code
    raise KeyError(label)  # pragma: no cover - normalise already checked
