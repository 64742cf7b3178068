"""Biometric matchers: the interface a fingerprint (or other) matcher plugin implements, and the
thresholds that turn its scores into decisions.

A matcher is registered by name through ``ektp_register_matchers`` as a :class:`MatcherFactory`;
the profile's ``[verification.matcher]`` table picks it and sets its thresholds. The core never
compares templates itself.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

import attrs

from ektp_core.config.core_tables import DEFAULT_MATCHER as DEFAULT_MATCHER
from ektp_core.config.core_tables import MATCHER
from ektp_core.config.schema import Values
from ektp_core.domain.model import FINGER_POSITIONS
from ektp_core.errors import ConfigError

#: A person's fingers: finger position (``right_thumb`` ... ``left_little``) -> ISO/IEC 19794-2 template.
FingerSet = Mapping[str, bytes]


def score_map(scores: Mapping[str, float]) -> dict[str, float]:
    """A copy of per-finger scores that no caller can change afterwards (a frozen value's converter)."""
    return dict(scores)


@attrs.frozen
class Candidate:
    """One gallery entry that a probe may match, with its fused score and the per-finger scores."""

    subject: str
    score: float
    finger_scores: Mapping[str, float] = attrs.field(factory=dict, converter=score_map)


@runtime_checkable
class Matcher(Protocol):
    """A biometric matcher: template extraction, 1:1 verification and 1:N identification over an index.

    ``identify`` returns candidates best first; their ``score`` is on the same scale as ``verify``'s
    (for NBIS Bozorth3: about 40 and above is usually the same finger), fused over the fingers both
    sides have. Thresholds are not the matcher's business: :func:`decide` applies the profile's.
    """

    name: str

    def extract(self, image: bytes) -> bytes | None:
        """The template of an encoded finger image (PNG, ...), or None when it holds no usable features."""

    def verify(self, probe: bytes, reference: bytes) -> float:
        """The similarity score of two templates of one finger position (1:1)."""

    def identify(self, probe: FingerSet, *, limit: int = 10) -> list[Candidate]:
        """The gallery entries most similar to ``probe`` (1:N), best first, at most ``limit``."""

    def add(self, subject: str, fingers: FingerSet) -> None:
        """Put a subject's fingers into the gallery (replacing what it held under that id)."""

    def remove(self, subject: str) -> None:
        """Take a subject out of the gallery; unknown ids are ignored."""

    def __len__(self) -> int:
        """How many subjects the gallery holds."""


class MatcherFactory(Protocol):
    """What ``ektp_register_matchers`` registers: a class or function that builds a :class:`Matcher`.

    It is called with keyword arguments and receives only those it names among ``name`` (the name
    ``[verification.matcher] name`` picked), ``options`` (the keys of ``[verification.matcher]`` other
    than ``name`` and the ``*_score`` thresholds) and ``profile`` (None when the central-system
    emulator builds the matcher from its own settings) (:mod:`ektp_core.devices.factories`).
    """

    def __call__(self, *args: Any, **kwargs: Any) -> Matcher:
        """Build the matcher."""
        ...


class Decision(enum.StrEnum):
    """What a 1:N search says about a probe."""

    UNIQUE = "unique"
    GREY_ZONE = "grey_zone"
    DUPLICATE = "duplicate"


@attrs.frozen
class MatchThresholds:
    """Score thresholds from the profile's ``[verification.matcher]``.

    ``duplicate``: a fused 1:N score at or above it is the same person; ``adjudicate``: at or above it
    (and below ``duplicate``) a supervisor decides; ``handover``: the 1:1 score a live finger needs at
    card handover.
    """

    duplicate: float = 40.0
    adjudicate: float = 25.0
    handover: float = 40.0

    def __attrs_post_init__(self) -> None:
        if not 0 <= self.adjudicate <= self.duplicate:
            raise ValueError(
                f"thresholds must satisfy 0 <= adjudicate ({self.adjudicate}) <= duplicate ({self.duplicate})"
            )
        if self.handover < 0:
            raise ValueError(f"handover threshold must be >= 0, got {self.handover}")


@attrs.frozen
class MatcherSettings:
    """Which matcher the deployment uses, its thresholds and its own options."""

    name: str = DEFAULT_MATCHER
    thresholds: MatchThresholds = attrs.field(factory=MatchThresholds)
    options: Mapping[str, Any] = attrs.field(factory=dict, converter=dict)


_THRESHOLD_KEYS = {"duplicate_score": "duplicate", "adjudicate_score": "adjudicate", "handover_score": "handover"}


def matcher_settings(verification: Mapping[str, Any], *, path: str = "profile") -> MatcherSettings:
    """Read ``[verification.matcher]`` (declared in :data:`ektp_core.config.core_tables.MATCHER`):
    ``name``, the three ``*_score`` thresholds, and any other key as an option for the matcher itself."""
    table = verification.get("matcher")
    found = MATCHER.read_data(table, path, "verification.matcher")
    assert isinstance(found, Values)
    try:
        thresholds = MatchThresholds(**{field: float(found[key]) for key, field in _THRESHOLD_KEYS.items()})
    except ValueError as exc:
        raise ConfigError(path, "verification.matcher", str(exc), table) from None
    return MatcherSettings(found["name"], thresholds, found.extra)


def decide(candidates: list[Candidate], thresholds: MatchThresholds) -> tuple[Decision, list[Candidate]]:
    """The decision for a probe's candidates and the candidates that support it (best first).

    DUPLICATE lists every candidate at or above the duplicate threshold; GREY_ZONE every candidate in
    the grey zone; UNIQUE lists none.
    """
    ranked = sorted(candidates, key=lambda c: -c.score)
    duplicates = [c for c in ranked if c.score >= thresholds.duplicate]
    if duplicates:
        return Decision.DUPLICATE, duplicates
    grey = [c for c in ranked if c.score >= thresholds.adjudicate]
    if grey:
        return Decision.GREY_ZONE, grey
    return Decision.UNIQUE, []


def check_fingers(fingers: FingerSet) -> None:
    """Refuse a finger set keyed by anything but the core's finger positions."""
    unknown = sorted(set(fingers) - set(FINGER_POSITIONS))
    if unknown:
        raise ValueError(f"unknown finger positions {unknown} (expected some of {list(FINGER_POSITIONS)})")


__all__ = [
    "DEFAULT_MATCHER",
    "Candidate",
    "Decision",
    "FingerSet",
    "MatchThresholds",
    "Matcher",
    "MatcherFactory",
    "MatcherSettings",
    "check_fingers",
    "decide",
    "matcher_settings",
]
