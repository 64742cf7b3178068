"""``nbis-bozorth3``: NIST Bozorth3 verification behind a per-finger candidate index (see docs/matching.md)."""

from __future__ import annotations

import heapq
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
from ektp_plugins.scanners import nbis
from ektp_plugins.verify.dedup.features import DIMENSIONS, features
from ektp_plugins.verify.dedup.index import Gallery

from ektp_core.devices.matchers import Candidate, FingerSet, check_fingers
from ektp_core.domain.model import FINGER_POSITIONS


@dataclass(frozen=True)
class _Option:
    default: Any
    check: Callable[[Any], bool]
    expected: str


def _int_at_least(low: int) -> Callable[[Any], bool]:
    return lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= low


def _number_at_least(low: float) -> Callable[[Any], bool]:
    return lambda v: isinstance(v, int | float) and not isinstance(v, bool) and v >= low


#: The matcher's options, their defaults and what they accept.
OPTIONS: dict[str, _Option] = {
    "candidates_per_finger": _Option(25, _int_at_least(1), "an integer >= 1"),
    "candidates_fused": _Option(50, _int_at_least(0), "an integer >= 0"),
    "fuse_fingers": _Option(4, _int_at_least(1), "an integer >= 1"),
    "promote_score": _Option(16.0, _number_at_least(0), "a number >= 0"),
    "promote_top": _Option(3, _int_at_least(0), "an integer >= 0"),
    "workers": _Option(1, _int_at_least(1), "an integer >= 1"),
    "dpi": _Option(500, _int_at_least(1), "an integer >= 1 (dots per inch)"),
}


#: Size of an nbis-py record without minutiae (24-byte header, finger view count and minutiae count).
_EMPTY_RECORD = 26


def _has_minutiae(record: bytes) -> bool:
    return len(record) > _EMPTY_RECORD


def _nbis_bytes(iso: bytes) -> bytes:
    """The record layout nbis-py reads back, from an ISO/IEC 19794-2 record (raises TemplateError)."""
    return nbis.Template.from_iso(iso)._nbis_bytes()


class NbisMatcher:
    """NIST Bozorth3 1:1 scores, and 1:N search through a candidate index verified with Bozorth3.

    **identify** works in three steps:

    1. *Index.* Each probe finger's fixed-length vector (:mod:`.features`) is compared with every gallery finger of
       the same position (one matrix product per finger); the ``candidates_per_finger`` most similar subjects of
       each finger, plus the ``candidates_fused`` subjects with the highest similarity summed over all the probe's
       fingers, become candidates. A candidate keeps the finger whose index rank was best as its *nominating*
       finger. Since each finger nominates on its own, a duplicate that one finger's index misses (a poor capture,
       an amputated or bandaged finger) is still nominated by the others.
    2. *Cascade.* Every candidate is compared with Bozorth3 on its nominating finger. Candidates scoring at least
       ``promote_score`` there, and the ``promote_top`` best in any case, are compared on every other finger both
       sides have.
    3. *Fusion.* A candidate's score is the mean of its ``fuse_fingers`` highest Bozorth3 finger scores (over
       ``min(fuse_fingers, fingers both sides have)`` fingers). It is therefore on the Bozorth3 scale of
       :meth:`verify`: an impostor finger scores about 0-20, a genuine one typically 40 and far above, and
       several fingers must agree for a high fused score. For candidates not promoted, fingers not compared count as 0
       (their score is a lower bound, below ``promote_score`` anyway).

    Options (profile ``[verification.matcher]``; unknown keys are refused): ``candidates_per_finger`` (25),
    ``candidates_fused`` (50), ``fuse_fingers`` (4), ``promote_score`` (16), ``promote_top`` (3), ``workers``
    (1: threads running Bozorth3 comparisons), ``dpi`` (500: for :meth:`extract`).

    **Thread safety:** none inside. ``verify`` and ``extract`` may run concurrently with anything, but ``add``,
    ``add_many``, ``remove`` and ``identify`` must not overlap each other (``identify`` updates lazily computed
    index terms); callers sharing one matcher between threads hold a lock around them.
    """

    name = "nbis-bozorth3"

    def __init__(self, options: Mapping[str, Any] | None = None) -> None:
        given = dict(options or {})
        unknown = sorted(set(given) - set(OPTIONS))
        if unknown:
            raise ValueError(f"unknown nbis-bozorth3 matcher options {unknown} (known: {sorted(OPTIONS)})")
        settings = {}
        for key, option in OPTIONS.items():
            value = given.get(key, option.default)
            if not option.check(value):
                raise ValueError(f"nbis-bozorth3 matcher option {key} must be {option.expected}, got {value!r}")
            settings[key] = value
        self.candidates_per_finger: int = settings["candidates_per_finger"]
        self.candidates_fused: int = settings["candidates_fused"]
        self.fuse_fingers: int = settings["fuse_fingers"]
        self.promote_score: float = float(settings["promote_score"])
        self.promote_top: int = settings["promote_top"]
        self.workers: int = settings["workers"]
        self.dpi: int = settings["dpi"]
        self._gallery = Gallery()
        self._pool = ThreadPoolExecutor(self.workers) if self.workers > 1 else None

    # -- 1:1 -------------------------------------------------------------------------------------------------

    def extract(self, image: bytes) -> bytes | None:
        """The ISO/IEC 19794-2 template of an encoded finger image (mindtct), or None without minutiae."""
        return nbis.iso_template_of(image, dpi=self.dpi)

    def verify(self, probe: bytes, reference: bytes) -> float:
        """The Bozorth3 score of two ISO/IEC 19794-2 templates (0 when either has no minutiae)."""
        return float(self._compare(_nbis_bytes(probe), _nbis_bytes(reference)))

    def _compare(self, a: bytes, b: bytes) -> int:
        extractor = nbis._extractor(self.dpi, False)
        if not (_has_minutiae(a) and _has_minutiae(b)):
            return 0  # Bozorth3 has nothing to compare
        return int(extractor.load_iso_19794_2_2005(a).compare(extractor.load_iso_19794_2_2005(b)))

    # -- gallery ---------------------------------------------------------------------------------------------

    @staticmethod
    def _prepare(fingers: FingerSet) -> dict[str, tuple[np.ndarray, bytes]]:
        """Feature vector and Bozorth3 record of each finger; fingers without minutiae are left out (they can
        match nothing, like a finger not captured)."""
        check_fingers(fingers)
        out = {}
        for position, iso in fingers.items():
            template = nbis.Template.from_iso(iso)
            if template.minutiae:
                out[position] = (features(template), template._nbis_bytes())
        return out

    def add(self, subject: str, fingers: FingerSet) -> None:
        """Put a subject's fingers (ISO/IEC 19794-2 templates by position) in the gallery, replacing any it had."""
        self._gallery.add(subject, self._prepare(fingers))

    def add_many(self, subjects: Iterable[tuple[str, FingerSet]]) -> None:
        """Put many subjects in at once: much faster than :meth:`add` one by one for a large gallery."""
        ids: list[str] = []
        grouped: dict[str, tuple[list[int], list[np.ndarray], list[bytes]]] = {
            p: ([], [], []) for p in FINGER_POSITIONS
        }
        for subject, fingers in subjects:
            for position, (vector, template) in self._prepare(fingers).items():
                which, vectors, templates = grouped[position]
                which.append(len(ids))
                vectors.append(vector)
                templates.append(template)
            ids.append(subject)
        self._gallery.add_many(
            ids, {p: (w, np.array(v, dtype=np.float32).reshape(-1, DIMENSIONS), t) for p, (w, v, t) in grouped.items()}
        )

    def remove(self, subject: str) -> None:
        """Take a subject out of the gallery; unknown ids are ignored."""
        self._gallery.remove(subject)

    def __len__(self) -> int:
        """How many subjects the gallery holds."""
        return len(self._gallery)

    def __contains__(self, subject: object) -> bool:
        return subject in self._gallery.subject_rows

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the gallery (feature vectors and templates) to an ``.npz`` file."""
        self._gallery.save(path)

    def load(self, *paths: str | os.PathLike[str]) -> None:
        """Replace the gallery with the subjects of one or more files :meth:`save` wrote."""
        self._gallery = Gallery.load(*paths)

    # -- 1:N -------------------------------------------------------------------------------------------------

    def _nominate(self, probe: Mapping[str, tuple[np.ndarray, bytes]]) -> dict[int, str]:
        """Candidate rows and their nominating finger, from the per-finger indexes."""
        rows = self._gallery.rows
        nominated: dict[int, tuple[int, str]] = {}  # row -> (best rank, finger)
        total = np.zeros(rows, dtype=np.float32)
        for position, (vector, _) in probe.items():
            sims = self._gallery.positions[position].similarities(vector, rows)
            total += np.maximum(sims, 0.0)
            k = min(self.candidates_per_finger, rows)
            top = np.argpartition(-sims, k - 1)[:k] if k < rows else np.arange(rows)
            top = top[np.argsort(-sims[top], kind="stable")]
            for rank, row in enumerate(top.tolist()):
                if sims[row] <= -1.0:
                    break  # empty rows: this position holds fewer fingers than k
                if row not in nominated or rank < nominated[row][0]:
                    nominated[row] = (rank, position)
        if self.candidates_fused and len(probe) > 1:
            k = min(self.candidates_fused, rows)
            top = np.argpartition(-total, k - 1)[:k] if k < rows else np.arange(rows)
            for row in top.tolist():
                if row in nominated or self._gallery.row_subjects[row] is None:
                    continue
                held = [p for p in probe if self._gallery.positions[p].present[row]]
                if held:
                    best = max(held, key=lambda p: float(self._gallery.positions[p].vectors[row] @ probe[p][0]))
                    nominated[row] = (rows, best)
        return {row: finger for row, (_, finger) in nominated.items()}

    def _run(self, jobs: Sequence[tuple[bytes, bytes]]) -> list[int]:
        extractor = nbis._extractor(self.dpi, False)
        loaded: dict[bytes, Any] = {}

        def one(job: tuple[bytes, bytes]) -> int:
            a, b = job
            first = loaded.get(a)
            if first is None:
                first = loaded[a] = extractor.load_iso_19794_2_2005(a)
            return int(first.compare(extractor.load_iso_19794_2_2005(b)))

        # Probe records are loaded once; a dict write of the same key from two threads is harmless.
        if self._pool is None or len(jobs) < 16:
            return [one(j) for j in jobs]
        return list(self._pool.map(one, jobs, chunksize=max(1, len(jobs) // (4 * self.workers))))

    def identify(self, probe: FingerSet, *, limit: int = 10) -> list[Candidate]:
        """The gallery subjects most similar to ``probe`` (ISO templates by position), best first, at most ``limit``.

        Scores are fused Bozorth3 scores (see the class docstring).
        """
        if limit < 1 or not len(self._gallery):
            return []
        prepared = self._prepare(probe)
        if not prepared:
            return []
        nominated = self._nominate(prepared)
        positions = self._gallery.positions
        # Stage 1: the nominating finger.
        stage1 = [(row, finger) for row, finger in nominated.items()]
        first = self._run([(prepared[f][1], positions[f].templates[row] or b"") for row, f in stage1])
        scores: dict[int, dict[str, float]] = {row: {f: float(s)} for (row, f), s in zip(stage1, first, strict=True)}
        # Stage 2: every other shared finger of the promising candidates.
        best = set(heapq.nlargest(self.promote_top, scores, key=lambda r: next(iter(scores[r].values()))))
        promoted = [row for row in scores if row in best or next(iter(scores[row].values())) >= self.promote_score]
        jobs: list[tuple[int, str]] = [
            (row, p) for row in promoted for p in prepared if p not in scores[row] and positions[p].present[row]
        ]
        more = self._run([(prepared[p][1], positions[p].templates[row] or b"") for row, p in jobs])
        for (row, p), s in zip(jobs, more, strict=True):
            scores[row][p] = float(s)
        candidates = []
        for row, finger_scores in scores.items():
            shared = sum(1 for p in prepared if positions[p].present[row])
            k = max(1, min(self.fuse_fingers, shared))
            top = sorted(finger_scores.values(), reverse=True)[:k]
            subject = self._gallery.row_subjects[row]
            if subject is not None:
                candidates.append(Candidate(subject, sum(top) / k, finger_scores))
        candidates.sort(key=lambda c: (-c.score, c.subject))
        return candidates[:limit]
