"""The gallery: per finger position, a dense matrix of feature vectors and the templates Bozorth3 verifies.

Rows are subjects (one row number per subject, shared by the ten positions; a removed subject's row is reused).
Searching a position is one matrix-vector product over its rows. Similarities are cosines *after subtracting the
position's mean vector*: every finger shares a great deal of pair geometry (ridges run roughly parallel), and taking
the common part out makes what is particular to a finger count. The mean is kept as a running sum, so adding or
removing a subject costs nothing extra; the row terms that depend on it are recomputed lazily before a search.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence

import numpy as np
from ektp_plugins.verify.dedup.features import DIMENSIONS
from numpy.typing import NDArray

from ektp_core.domain.model import FINGER_POSITIONS

_FORMAT = 1


class PositionIndex:
    """Feature vectors and verification templates of one finger position, by row."""

    def __init__(self, capacity: int = 1024) -> None:
        self.vectors = np.zeros((capacity, DIMENSIONS), dtype=np.float32)
        self.present = np.zeros(capacity, dtype=bool)
        self.templates: list[bytes | None] = [None] * capacity
        self._sum = np.zeros(DIMENSIONS, dtype=np.float64)
        self._count = 0
        # Lazily computed: rows' dot product with the mean and their centred norms.
        self._row_mean: NDArray[np.float32] | None = None
        self._row_norm: NDArray[np.float32] | None = None

    def grow(self, capacity: int) -> None:
        """Make room for ``capacity`` rows."""
        old = len(self.present)
        if capacity <= old:
            return
        vectors = np.zeros((capacity, DIMENSIONS), dtype=np.float32)
        vectors[:old] = self.vectors
        present = np.zeros(capacity, dtype=bool)
        present[:old] = self.present
        self.vectors, self.present = vectors, present
        self.templates.extend([None] * (capacity - old))
        self._row_mean = self._row_norm = None

    def put(self, row: int, vector: NDArray[np.float32], template: bytes) -> None:
        """Store a finger at ``row`` (which must be empty)."""
        self.vectors[row] = vector
        self.present[row] = True
        self.templates[row] = template
        self._sum += vector
        self._count += 1
        self._row_mean = self._row_norm = None

    def put_many(self, rows: NDArray[np.intp], vectors: NDArray[np.float32], templates: Sequence[bytes]) -> None:
        """Store many fingers at once (rows must be empty)."""
        self.vectors[rows] = vectors
        self.present[rows] = True
        for row, template in zip(rows.tolist(), templates, strict=True):
            self.templates[row] = template
        self._sum += vectors.sum(axis=0, dtype=np.float64)
        self._count += len(rows)
        self._row_mean = self._row_norm = None

    def clear(self, row: int) -> None:
        """Empty ``row`` (no-op when it holds nothing)."""
        if not self.present[row]:
            return
        self._sum -= self.vectors[row]
        self._count -= 1
        self.vectors[row] = 0.0
        self.present[row] = False
        self.templates[row] = None
        self._row_mean = self._row_norm = None

    @property
    def mean(self) -> NDArray[np.float32]:
        """The mean feature vector of the fingers held (zero when empty)."""
        return (self._sum / max(self._count, 1)).astype(np.float32)

    def similarities(self, vector: NDArray[np.float32], rows: int) -> NDArray[np.float32]:
        """Centred cosine similarity of ``vector`` with each of the first ``rows`` rows; -1 where a row is empty."""
        mean = self.mean
        if self._row_mean is None or self._row_norm is None or len(self._row_mean) < rows:
            self._row_mean = self.vectors[:rows] @ mean
            # |v - m|^2 = |v|^2 - 2 v.m + |m|^2, with |v| = 1 for every stored (non-zero) vector.
            squared = np.einsum("ij,ij->i", self.vectors[:rows], self.vectors[:rows]) - 2 * self._row_mean
            self._row_norm = np.sqrt(np.maximum(squared + float(mean @ mean), 1e-12)).astype(np.float32)
        probe = vector - mean
        probe_norm = float(np.linalg.norm(probe)) or 1.0
        dots = self.vectors[:rows] @ probe
        out = dots / (self._row_norm[:rows] * probe_norm)
        out[~self.present[:rows]] = -1.0
        return np.asarray(out, dtype=np.float32)


class Gallery:
    """Subjects, their rows, and one :class:`PositionIndex` per finger position."""

    def __init__(self) -> None:
        self.positions = {name: PositionIndex() for name in FINGER_POSITIONS}
        self.subject_rows: dict[str, int] = {}
        self.row_subjects: list[str | None] = []
        self._free: list[int] = []

    def __len__(self) -> int:
        return len(self.subject_rows)

    @property
    def rows(self) -> int:
        """Rows in use or freed (the span a search covers)."""
        return len(self.row_subjects)

    def _reserve(self, count: int) -> list[int]:
        rows: list[int] = []
        while self._free and len(rows) < count:
            rows.append(self._free.pop())
        start = len(self.row_subjects)
        rows.extend(range(start, start + count - len(rows)))
        self.row_subjects.extend([None] * (max(rows, default=-1) + 1 - len(self.row_subjects)))
        capacity = len(next(iter(self.positions.values())).present)
        if self.rows > capacity:
            new = max(self.rows, capacity * 2)
            for index in self.positions.values():
                index.grow(new)
        return rows

    def remove(self, subject: str) -> None:
        """Take a subject out (unknown ids are ignored)."""
        row = self.subject_rows.pop(subject, None)
        if row is None:
            return
        for index in self.positions.values():
            index.clear(row)
        self.row_subjects[row] = None
        self._free.append(row)

    def add(self, subject: str, fingers: dict[str, tuple[NDArray[np.float32], bytes]]) -> None:
        """Put a subject in (replacing what it held): position -> (feature vector, Bozorth3 template)."""
        self.remove(subject)
        (row,) = self._reserve(1)
        self.subject_rows[subject] = row
        self.row_subjects[row] = subject
        for position, (vector, template) in fingers.items():
            self.positions[position].put(row, vector, template)

    def add_many(
        self, subjects: Sequence[str], fingers: dict[str, tuple[Iterable[int], NDArray[np.float32], list[bytes]]]
    ) -> None:
        """Bulk insert: ``fingers[position] = (indices into subjects, vectors, templates)``."""
        for subject in subjects:
            self.remove(subject)
        if len(set(subjects)) != len(subjects):
            raise ValueError("add_many: the same subject id appears twice")
        rows = self._reserve(len(subjects))
        for subject, row in zip(subjects, rows, strict=True):
            self.subject_rows[subject] = row
            self.row_subjects[row] = subject
        row_array = np.asarray(rows, dtype=np.intp)
        for position, (which, vectors, templates) in fingers.items():
            self.positions[position].put_many(row_array[np.fromiter(which, dtype=np.intp)], vectors, templates)

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the gallery to an ``.npz`` file (no pickled objects in it)."""
        live = np.array(sorted(self.subject_rows.values()), dtype=np.intp)
        arrays: dict[str, NDArray[np.generic]] = {
            "format": np.array([_FORMAT]),
            "subjects": np.array([self.row_subjects[r] for r in live.tolist()], dtype=np.str_),
        }
        for position, index in self.positions.items():
            held = live[index.present[live]]
            blobs = [index.templates[r] or b"" for r in held.tolist()]
            arrays[f"{position}.which"] = np.searchsorted(live, held)
            arrays[f"{position}.vectors"] = index.vectors[held]
            arrays[f"{position}.lengths"] = np.array([len(b) for b in blobs], dtype=np.int64)
            arrays[f"{position}.blob"] = np.frombuffer(b"".join(blobs), dtype=np.uint8)
        with open(path, "wb") as file:
            np.savez(file, **arrays)  # type: ignore[arg-type]

    @classmethod
    def load(cls, *paths: str | os.PathLike[str]) -> Gallery:
        """Read one or more galleries that :meth:`save` wrote into one (a subject in several keeps the last)."""
        gallery = cls()
        for path in paths:
            with np.load(path, allow_pickle=False) as data:
                if int(data["format"][0]) != _FORMAT:
                    raise ValueError(f"{path}: unknown gallery format {int(data['format'][0])}")
                subjects = [str(s) for s in data["subjects"]]
                fingers = {}
                for position in FINGER_POSITIONS:
                    blob = data[f"{position}.blob"].tobytes()
                    lengths = data[f"{position}.lengths"]
                    ends = np.cumsum(lengths)
                    templates = [blob[e - n : e] for e, n in zip(ends.tolist(), lengths.tolist(), strict=True)]
                    fingers[position] = (data[f"{position}.which"].tolist(), data[f"{position}.vectors"], templates)
            gallery.add_many(subjects, fingers)
        return gallery
