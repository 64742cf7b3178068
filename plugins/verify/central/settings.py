"""The emulator's settings: a profile-like TOML file (``--config``) and the ``--register`` seed file.

From the TOML file only two tables are read, so a deployment's own profile can be given as it is:
``[verification.matcher]`` (matcher name, thresholds and options, by
:func:`ektp_core.devices.matchers.matcher_settings`) and ``[lifecycle] eligibility_age``.
"""

from __future__ import annotations

import datetime as dt
import json
import tomllib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import attrs
from ektp_plugins.verify.central.verdicts import Person, Rules

from ektp_core.config.core_tables import LIFECYCLE
from ektp_core.devices.declared import make_matcher
from ektp_core.devices.matchers import Matcher, MatcherSettings, matcher_settings
from ektp_core.domain import nik as nik_rules
from ektp_core.domain.model import Biodata
from ektp_core.errors import ConfigError, EktpError

#: The Biodata fields a register line must carry (the person the NIK was issued to).
_PERSON_FIELDS = ("nik", "nama", "jenis_kelamin", "tanggal_lahir", "tempat_lahir")
_CARD_FIELDS = ("card_printed", "card_printed_at")


@attrs.frozen
class CentralSettings:
    """What the emulator reads from ``--config``."""

    matcher: MatcherSettings = attrs.field(factory=MatcherSettings)
    eligibility_age: int = nik_rules.DEFAULT_ELIGIBILITY_AGE

    @property
    def rules(self) -> Rules:
        """The verdict rules these settings make."""
        return Rules(thresholds=self.matcher.thresholds, eligibility_age=self.eligibility_age)


def load_settings(path: Path | None) -> CentralSettings:
    """Read ``[verification.matcher]`` and ``[lifecycle] eligibility_age`` from a TOML file (defaults
    without one); raises :class:`ConfigError` naming the file and key."""
    if path is None:
        return CentralSettings()
    try:
        data = tomllib.loads(path.read_text("utf-8"))
    except OSError as exc:
        raise ConfigError(str(path), "-", f"a readable TOML file ({exc.strerror})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(str(path), "-", f"valid TOML ({exc})") from None
    verification = data.get("verification", {})
    if not isinstance(verification, Mapping):
        raise ConfigError(str(path), "verification", "a table", verification)
    matcher = matcher_settings(verification, path=str(path))
    lifecycle = data.get("lifecycle", {})
    if not isinstance(lifecycle, Mapping):
        raise ConfigError(str(path), "lifecycle", "a table", lifecycle)
    # The profile's own declaration, so a profile the node accepts is accepted here.
    age = LIFECYCLE.setting("eligibility_age").read(lifecycle, str(path), "lifecycle.eligibility_age")
    return CentralSettings(matcher=matcher, eligibility_age=age)


def resolve_matcher(settings: MatcherSettings, source: str = "-") -> Matcher:
    """The matcher the settings name, built by the factory a plugin registered
    (``ektp_register_matchers``) with the settings' options (``source``: the file they came from)."""
    from ektp_core.plugins import PluginHost

    matcher = make_matcher(settings, PluginHost(), profile=None, source=source)
    if not isinstance(matcher, Matcher):
        raise EktpError(
            f"matcher {settings.name!r}: its factory returned {type(matcher).__name__}, "
            "which does not implement ektp_core.devices.matchers.Matcher"
        )
    return matcher


def read_register(path: Path) -> Iterator[tuple[Person, bool, str | None]]:
    """The entries of a ``--register`` JSON Lines file: (person, card printed?, when).

    Each line is an object with the Biodata fields ``nik``, ``nama``, ``jenis_kelamin``,
    ``tanggal_lahir`` and ``tempat_lahir`` (a whole ``Biodata.to_dict()`` may be given: the other
    fields are ignored), and optionally ``card_printed`` (true when the NIK already holds a card) and
    ``card_printed_at`` (ISO 8601). Blank lines and lines starting with ``#`` are skipped.
    Raises :class:`ConfigError` naming the line.
    """
    biodata_fields = {a.name for a in attrs.fields(Biodata)}
    try:
        lines = path.read_text("utf-8").splitlines()
    except OSError as exc:
        raise ConfigError(str(path), "-", f"a readable JSON Lines file ({exc.strerror})") from None
    for number, line in enumerate(lines, start=1):
        where = f"line {number}"
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        try:
            entry = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ConfigError(str(path), where, f"a JSON object ({exc.msg})") from None
        if not isinstance(entry, dict):
            raise ConfigError(str(path), where, "a JSON object", entry)
        unknown = sorted(set(entry) - biodata_fields - set(_CARD_FIELDS))
        if unknown:
            raise ConfigError(str(path), where, f"Biodata fields and {list(_CARD_FIELDS)} only", unknown)
        missing = [f for f in _PERSON_FIELDS if f not in entry]
        if missing:
            raise ConfigError(str(path), where, f"the fields {list(_PERSON_FIELDS)}", f"missing {missing}")
        person = _person_of(str(path), where, entry)
        printed = entry.get("card_printed", "card_printed_at" in entry)
        if not isinstance(printed, bool):
            raise ConfigError(str(path), f"{where}: card_printed", "true or false", printed)
        printed_at = entry.get("card_printed_at")
        if printed_at is not None:
            printed_at = _timestamp(str(path), f"{where}: card_printed_at", printed_at)
        yield person, printed, printed_at


def _person_of(path: str, where: str, entry: dict[str, Any]) -> Person:
    report = nik_rules.parse(str(entry["nik"]))
    if not report.valid:
        raise ConfigError(
            path, f"{where}: nik", "a valid NIK", f"{entry['nik']} ({'; '.join(e.message for e in report.errors)})"
        )
    try:
        birth = dt.date.fromisoformat(str(entry["tanggal_lahir"]))
    except ValueError:
        raise ConfigError(path, f"{where}: tanggal_lahir", "a date YYYY-MM-DD", entry["tanggal_lahir"]) from None
    sex = {"LAKI-LAKI": "L", "PEREMPUAN": "P"}.get(
        str(entry["jenis_kelamin"]).upper(), str(entry["jenis_kelamin"]).upper()
    )
    if sex not in ("L", "P"):
        raise ConfigError(path, f"{where}: jenis_kelamin", "L or P", entry["jenis_kelamin"])
    name, place = (" ".join(str(entry[k]).upper().split()) for k in ("nama", "tempat_lahir"))
    if not name or not place:
        raise ConfigError(path, where, "a non-empty nama and tempat_lahir", entry)
    return Person(str(report.digits), name, sex, birth, place)


def _timestamp(path: str, key: str, value: Any) -> str:
    try:
        moment = dt.datetime.fromisoformat(str(value))
    except ValueError:
        raise ConfigError(path, key, "an ISO 8601 timestamp", value) from None
    if moment.tzinfo is None:
        raise ConfigError(path, key, "a timestamp with its time zone (e.g. 2026-11-28T03:00:00Z)", value)
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


__all__ = ["CentralSettings", "load_settings", "read_register", "resolve_matcher"]
