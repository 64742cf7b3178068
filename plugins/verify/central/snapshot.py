"""Snapshots of the matcher's gallery in the data folder, so that a restart over a big gallery loads
the index instead of rebuilding it from every stored template.

A snapshot is two files: the gallery as the matcher saved it (``gallery-<random>.npz``, written by a
matcher's ``save``, e.g. :meth:`NbisMatcher.save`) and a marker (``gallery-snapshot.json``) saying which
enrolments it holds. The marker is written last and atomically, so a snapshot cut short by a crash is
never announced. On start the marker is compared with the database: the count of gallery enrolments,
the highest sequence number, and a SHA-256 over every gallery enrolment's sequence number, id and body
hash (the canonical hash of the submission, templates included). Enrolments are never changed once
stored, so those ids and hashes identify the gallery's content; a snapshot that disagrees in anything
is not used.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol, TypeGuard

import attrs

from ektp_core import __version__
from ektp_core.devices.matchers import Matcher

#: The marker file inside the data folder.
MARKER_FILE = "gallery-snapshot.json"
#: The marker's own format; another value is not trusted.
MARKER_FORMAT = 1
_PREFIX = "gallery-"
_SUFFIX = ".npz"


class SnapshotMatcher(Matcher, Protocol):
    """A matcher that can write its gallery to a file and replace it with the subjects of files."""

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the gallery to ``path``."""

    def load(self, *paths: str | os.PathLike[str]) -> None:
        """Replace the gallery with the subjects of the files (none: an empty gallery)."""


def supports_snapshots(matcher: Matcher) -> TypeGuard[SnapshotMatcher]:
    """Whether the matcher can save and load its gallery (``save(path)`` and ``load(*paths)``, as
    ``nbis-bozorth3`` has)."""
    return callable(getattr(matcher, "save", None)) and callable(getattr(matcher, "load", None))


@attrs.frozen
class Coverage:
    """Which gallery a snapshot holds: the software and matcher that wrote it and its enrolments."""

    #: ``module.Class`` of the matcher and its name: another matcher's file is never loaded.
    matcher: str
    #: The ektp version: a feature extractor changed by an upgrade makes old vectors useless.
    software: str
    count: int
    last_seq: int
    ids_sha256: str

    @classmethod
    def of(cls, matcher: Matcher, gallery: Sequence[tuple[int, str, str]]) -> Coverage:
        """The coverage of a gallery: ``(sequence number, enrolment id, body hash)`` in the order received."""
        digest = hashlib.sha256()
        for seq, enrolment_id, body_hash in gallery:
            digest.update(f"{seq}\t{enrolment_id}\t{body_hash}\n".encode())
        kind = f"{type(matcher).__module__}.{type(matcher).__qualname__}:{getattr(matcher, 'name', '?')}"
        return cls(
            matcher=kind,
            software=__version__,
            count=len(gallery),
            last_seq=max((seq for seq, _, _ in gallery), default=0),
            ids_sha256=digest.hexdigest(),
        )

    def difference(self, other: Coverage) -> str:
        """Why a snapshot of ``self`` does not fit a database of ``other`` (empty when it does)."""
        if self.matcher != other.matcher:
            return f"it was written for matcher {self.matcher}, this one is {other.matcher}"
        if self.software != other.software:
            return f"it was written by ektp {self.software}, this is {other.software}"
        if (self.count, self.last_seq) != (other.count, other.last_seq):
            return (
                f"it holds {self.count} enrolments up to #{self.last_seq}, the database "
                f"{other.count} up to #{other.last_seq}"
            )
        if self.ids_sha256 != other.ids_sha256:
            return f"it holds other enrolments than the database's {other.count}"
        return ""


class GallerySnapshots:
    """The gallery snapshot of one data folder."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.marker = data_dir / MARKER_FILE

    def _read_marker(self) -> tuple[Coverage, Path]:
        """The marker's coverage and gallery file; raises ValueError (or OSError) when unusable."""
        data = json.loads(self.marker.read_text("utf-8"))
        if not isinstance(data, dict) or data.get("format") != MARKER_FORMAT:
            raise ValueError(f"unknown marker format {data.get('format') if isinstance(data, dict) else data!r}")
        name = data.get("file")
        # Only a file of ours in this very folder: a marker never points elsewhere.
        if (
            not isinstance(name, str)
            or Path(name).name != name
            or not (name.startswith(_PREFIX) and name.endswith(_SUFFIX))
        ):
            raise ValueError(f"the marker names no gallery file of this folder ({name!r})")
        try:
            coverage = Coverage(
                matcher=str(data["matcher"]),
                software=str(data["software"]),
                count=int(data["count"]),
                last_seq=int(data["last_seq"]),
                ids_sha256=str(data["ids_sha256"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"the marker is incomplete ({type(exc).__name__}: {exc})") from None
        return coverage, self.data_dir / name

    def load(self, matcher: SnapshotMatcher, expected: Coverage, ids: Sequence[str]) -> str:
        """Load the snapshot into ``matcher`` if it holds exactly the gallery ``expected`` describes (whose
        enrolment ids are ``ids``); returns "" when loaded, else why not (``matcher`` then holds nothing).

        ``matcher`` must be empty: a snapshot replaces the whole gallery.
        """
        if not self.marker.exists():
            return "there is none"
        try:
            coverage, path = self._read_marker()
        except (OSError, ValueError) as exc:
            return f"its marker is unreadable ({exc})"
        why = coverage.difference(expected)
        if why:
            return why
        try:
            matcher.load(path)
        except Exception as exc:  # a truncated or foreign file: rebuilt, never trusted
            self._empty(matcher)
            return f"its file {path.name} cannot be loaded ({type(exc).__name__}: {exc})"
        # The marker agreed; the file must too, or a marker left next to another file would be believed.
        contains = getattr(matcher, "__contains__", None)
        if len(matcher) != len(ids) or (callable(contains) and not all(contains(i) for i in ids)):
            self._empty(matcher)
            return f"its file {path.name} holds other enrolments than its marker says"
        return ""

    @staticmethod
    def _empty(matcher: SnapshotMatcher) -> None:
        # Loading no file at all replaces the gallery with an empty one (NbisMatcher.load's semantics).
        matcher.load()
        if len(matcher):
            raise RuntimeError("the matcher's gallery could not be emptied after a snapshot that does not fit")

    def save(self, matcher: SnapshotMatcher, coverage: Coverage) -> Path:
        """Write the matcher's gallery and then its marker (atomically); older gallery files are removed."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        path = self.data_dir / f"{_PREFIX}{secrets.token_hex(8)}{_SUFFIX}"
        try:
            matcher.save(path)
            _fsync(path)
            marker: dict[str, Any] = {"format": MARKER_FORMAT, "file": path.name, **attrs.asdict(coverage)}
            temporary = self.marker.with_name(self.marker.name + ".tmp")
            with open(temporary, "w", encoding="utf-8") as out:
                json.dump(marker, out, indent=1)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temporary, self.marker)
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        self._remove_files(keep=path.name)
        return path

    def discard(self) -> None:
        """Remove the snapshot (marker first: a gallery file without a marker is never used)."""
        self.marker.unlink(missing_ok=True)
        self._remove_files(keep=None)

    def _remove_files(self, keep: str | None) -> None:
        for old in self.data_dir.glob(f"{_PREFIX}*{_SUFFIX}"):
            if old.name != keep:
                old.unlink(missing_ok=True)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


__all__ = ["MARKER_FILE", "Coverage", "GallerySnapshots", "SnapshotMatcher", "supports_snapshots"]
