"""The nbis-bozorth3 matcher: 1:N deduplication over the candidate index, options, gallery upkeep, persistence."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from ektp_plugins.simulators import synthetic
from ektp_plugins.verify.dedup import NbisMatcher

from ektp_core.devices.matchers import Decision, Matcher, MatchThresholds, decide
from ektp_core.domain.model import FINGER_POSITIONS

RESIDENTS = 200
BASE = 500_000


def fingers(seed: int, impression: int = 0, positions: tuple[str, ...] = FINGER_POSITIONS) -> dict[str, bytes]:
    return {p: synthetic.finger_minutiae(seed, p, impression).iso_bytes() for p in positions}


@pytest.fixture(scope="module")
def matcher() -> NbisMatcher:
    """A gallery of 200 synthetic residents, ``r500000`` ... ``r500199``."""
    m = NbisMatcher()
    m.add_many((f"r{BASE + i}", fingers(BASE + i)) for i in range(RESIDENTS))
    return m


def test_is_a_matcher(matcher: NbisMatcher) -> None:
    assert isinstance(matcher, Matcher)
    assert matcher.name == "nbis-bozorth3"
    assert len(matcher) == RESIDENTS


@pytest.mark.parametrize("resident", [3, 77, 150])
def test_planted_repeat_enrolment_is_found_first(matcher: NbisMatcher, resident: int) -> None:
    candidates = matcher.identify(fingers(BASE + resident, impression=2))
    assert candidates[0].subject == f"r{BASE + resident}"
    decision, support = decide(candidates, MatchThresholds())
    assert decision is Decision.DUPLICATE
    assert [c.subject for c in support] == [f"r{BASE + resident}"]
    assert len(candidates[0].finger_scores) == 10


def test_unique_resident_is_not_a_duplicate(matcher: NbisMatcher) -> None:
    for seed in (900_001, 900_002, 900_003):
        decision, _ = decide(matcher.identify(fingers(seed, impression=1)), MatchThresholds())
        assert decision is not Decision.DUPLICATE


def test_duplicate_with_missing_fingers_is_found(matcher: NbisMatcher) -> None:
    """Exceptions (amputated or bandaged fingers): the probe has three fingers only."""
    probe = fingers(BASE + 42, impression=1, positions=("left_ring", "right_little", "left_thumb"))
    candidates = matcher.identify(probe)
    assert candidates[0].subject == f"r{BASE + 42}"
    assert set(candidates[0].finger_scores) <= set(probe)
    assert decide(candidates, MatchThresholds())[0] is Decision.DUPLICATE


def test_a_finger_whose_index_misses_is_covered_by_another() -> None:
    """Each finger nominates on its own: with a short list per finger and no fused list, a probe whose right thumb
    is a stranger's (so that finger's index can only nominate wrong residents) is still found through its left
    index."""
    m = NbisMatcher({"candidates_per_finger": 3, "candidates_fused": 0})
    m.add_many((f"r{BASE + i}", fingers(BASE + i)) for i in range(40))
    probe = {
        "right_thumb": synthetic.finger_minutiae(900_100, "right_thumb", 1).iso_bytes(),
        "left_index": synthetic.finger_minutiae(BASE + 5, "left_index", 1).iso_bytes(),
    }
    candidates = m.identify(probe)
    assert candidates[0].subject == f"r{BASE + 5}"
    assert candidates[0].finger_scores["left_index"] >= 40
    assert candidates[0].finger_scores["right_thumb"] < 25


def test_remove_takes_a_subject_out_and_add_replaces() -> None:
    m = NbisMatcher()
    m.add_many((f"r{BASE + i}", fingers(BASE + i)) for i in range(20))
    probe = fingers(BASE + 7, impression=1)
    assert m.identify(probe)[0].subject == f"r{BASE + 7}"
    m.remove(f"r{BASE + 7}")
    m.remove("nobody")  # unknown ids are ignored
    assert len(m) == 19
    assert f"r{BASE + 7}" not in [c.subject for c in m.identify(probe)]
    # The freed row is reused, and adding under an existing id replaces its fingers.
    m.add("again", fingers(BASE + 7))
    m.add("again", fingers(BASE + 7))
    assert len(m) == 20
    assert m.identify(probe)[0].subject == "again"


def test_save_and_load_roundtrip(matcher: NbisMatcher, tmp_path: Path) -> None:
    path = tmp_path / "gallery.npz"
    matcher.save(path)
    copy = NbisMatcher()
    copy.load(path)
    assert len(copy) == len(matcher)
    probe = fingers(BASE + 99, impression=3)
    assert copy.identify(probe) == matcher.identify(probe)


def test_several_files_load_into_one_gallery(tmp_path: Path) -> None:
    parts = []
    for n in range(2):
        m = NbisMatcher()
        m.add_many((f"r{BASE + i}", fingers(BASE + i)) for i in range(10 * n, 10 * n + 10))
        m.save(tmp_path / f"part{n}.npz")
        parts.append(tmp_path / f"part{n}.npz")
    merged = NbisMatcher()
    merged.load(*parts)
    assert len(merged) == 20
    assert merged.identify(fingers(BASE + 15, impression=1))[0].subject == f"r{BASE + 15}"


def test_verify_scores_genuine_above_impostor() -> None:
    m = NbisMatcher()
    a = synthetic.finger_minutiae(5, "right_index", 0).iso_bytes()
    genuine = m.verify(a, synthetic.finger_minutiae(5, "right_index", 1).iso_bytes())
    impostor = m.verify(a, synthetic.finger_minutiae(6, "right_index", 1).iso_bytes())
    assert genuine >= 40 > impostor


def test_extract_gives_an_iso_template() -> None:
    image = synthetic.finger(3, "left_thumb")
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    template = NbisMatcher().extract(buffer.getvalue())
    assert template is not None and template.startswith(b"FMR\0")


def test_empty_gallery_and_bad_probes(matcher: NbisMatcher) -> None:
    assert NbisMatcher().identify(fingers(1)) == []
    with pytest.raises(ValueError, match="unknown finger positions"):
        matcher.identify({"right_toe": fingers(1)["right_thumb"]})


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"candidates": 5}, "unknown nbis-bozorth3 matcher options"),
        ({"candidates_per_finger": 0}, "candidates_per_finger must be an integer >= 1"),
        ({"candidates_per_finger": True}, "candidates_per_finger"),
        ({"fuse_fingers": "2"}, "fuse_fingers"),
        ({"promote_score": -1}, "promote_score must be a number >= 0"),
        ({"workers": 0}, "workers"),
    ],
)
def test_options_are_checked(options: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        NbisMatcher(options)


def test_options_are_taken() -> None:
    m = NbisMatcher({"candidates_per_finger": 7, "fuse_fingers": 3, "promote_score": 12.5, "workers": 2})
    assert (m.candidates_per_finger, m.fuse_fingers, m.promote_score, m.workers) == (7, 3, 12.5, 2)
