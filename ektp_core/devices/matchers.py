"""Biometric matchers: the interface a fingerprint (or other) matcher plugin implements, and the
thresholds that turn its scores into decisions.

A matcher is registered by name through ``ektp_register_matchers`` as a factory
``factory(options) -> Matcher``; the profile's ``[verification.matcher]`` table picks it and sets its
thresholds. The core never compares templates itself.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

import attrs

from ektp_core.domain.model import FINGER_POSITIONS
from ektp_core.errors import ConfigError

#: A person's fingers: finger position (``right_thumb`` ... ``left_little``) -> ISO/IEC 19794-2 template.
FingerSet = Mapping[str, bytes]


@attrs.frozen
class Candidate:
    """One gallery entry that a probe may match, with its fused score and the per-finger scores."""

    subject: str
    score: float
    finger_scores: Mapping[str, float] = attrs.field(factory=dict, converter=dict)


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


#: The matcher a profile gets when it names none.
DEFAULT_MATCHER = "nbis-bozorth3"


@attrs.frozen
class MatcherSettings:
    """Which matcher the deployment uses, its thresholds and its own options."""

    name: str = DEFAULT_MATCHER
    thresholds: MatchThresholds = attrs.field(factory=MatchThresholds)
    options: Mapping[str, Any] = attrs.field(factory=dict, converter=dict)


_THRESHOLD_KEYS = {"duplicate_score": "duplicate", "adjudicate_score": "adjudicate", "handover_score": "handover"}


def matcher_settings(verification: Mapping[str, Any], *, path: str = "profile") -> MatcherSettings:
    """Read ``[verification.matcher]``: ``name``, the three ``*_score`` thresholds, and any other key
    as an option for the matcher itself."""
    table = verification.get("matcher", {})
    if not isinstance(table, Mapping):
        raise ConfigError(path, "verification.matcher", "a table", table)
    name = table.get("name", DEFAULT_MATCHER)
    if not isinstance(name, str) or not name:
        raise ConfigError(path, "verification.matcher.name", "a matcher name", name)
    given: dict[str, float] = {}
    for key, field in _THRESHOLD_KEYS.items():
        if key in table:
            value = table[key]
            if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                raise ConfigError(path, f"verification.matcher.{key}", "a number >= 0", value)
            given[field] = float(value)
    try:
        thresholds = MatchThresholds(**given)
    except ValueError as exc:
        raise ConfigError(path, "verification.matcher", str(exc), table) from None
    options = {k: v for k, v in table.items() if k != "name" and k not in _THRESHOLD_KEYS}
    return MatcherSettings(name, thresholds, options)


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
