"""NBIS templates on synthetic fingers: minutiae counts, ISO/IEC 19794-2 records, Bozorth3 genuine vs impostor."""

from __future__ import annotations

import functools
import statistics

import numpy as np
import pytest
from ektp_plugins.scanners import nbis
from ektp_plugins.simulators import synthetic
from PIL import Image

from ektp_core.domain.model import FINGER_POSITIONS

FINGERS = 20


@functools.cache
def extracted(i: int, k: int) -> nbis.Template:
    """Impression ``k`` of finger ``i`` (of two hands of two people), its minutiae extracted by mindtct."""
    return nbis.extract(synthetic.finger(1000 + i // 10, FINGER_POSITIONS[i % 10], k))


@pytest.fixture(scope="module")
def templates() -> dict[tuple[int, int], nbis.Template]:
    """20 fingers, three impressions each: 60 prints drawn and extracted, about 30 s of CPU (the tests
    of their statistics are marked slow)."""
    return {(i, k): extracted(i, k) for i in range(FINGERS) for k in range(3)}


@pytest.mark.slow
def test_typical_prints_have_dozens_of_minutiae(templates: dict[tuple[int, int], nbis.Template]) -> None:
    counts = [len(t.minutiae) for t in templates.values()]
    print("minutiae per print: min", min(counts), "median", statistics.median(counts), "max", max(counts))
    in_range = sum(25 <= c <= 90 for c in counts)
    assert in_range >= 0.9 * len(counts)
    assert 30 <= statistics.median(counts) <= 80


def test_minutiae_are_sane() -> None:
    template = extracted(0, 0)
    assert (template.width, template.height, template.dpi) == (416, 416, 500)
    types = {m.type for m in template.minutiae}
    assert types <= {nbis.ENDING, nbis.BIFURCATION} and len(types) == 2
    for m in template.minutiae:
        assert 0 <= m.x < 416 and 0 <= m.y < 416 and 0 <= m.angle < 360 and 0 <= m.quality <= 100


def test_iso_record_round_trip() -> None:
    template = extracted(1, 0)
    data = template.iso_bytes()
    assert data[:8] == b"FMR\0 20\0"
    assert int.from_bytes(data[8:12], "big") == len(data) == 24 + 4 + 6 * len(template.minutiae) + 2
    assert int.from_bytes(data[18:20], "big") == 197  # px/cm for 500 dpi
    again = nbis.Template.from_iso(data)
    assert again == template
    assert again.iso_bytes() == data
    assert nbis.match(again, template) == nbis.match(template, template)


def test_iso_record_rejects_garbage() -> None:
    with pytest.raises(nbis.TemplateError):
        nbis.Template.from_iso(b"FIR\0 10\0" + bytes(40))
    record = nbis.Template(100, 100, 500, (nbis.Minutia(10, 20, 45.0, nbis.ENDING, 80),)).iso_bytes()
    with pytest.raises(nbis.TemplateError):
        nbis.Template.from_iso(record[:-3])


@pytest.mark.slow
def test_genuine_scores_far_above_impostor_scores(templates: dict[tuple[int, int], nbis.Template]) -> None:
    genuine = [nbis.match(templates[i, 0], templates[i, k]) for i in range(FINGERS) for k in (1, 2)]
    impostor = [nbis.match(templates[i, 0], templates[j, 0]) for i in range(FINGERS) for j in range(i + 1, FINGERS)]
    for name, scores in (("genuine", genuine), ("impostor", impostor)):
        print(
            f"{name}: n={len(scores)} min={min(scores)} median={statistics.median(scores)} "
            f"p95={np.percentile(scores, 95):.0f} max={max(scores)}"
        )
    assert statistics.median(genuine) > 3 * np.percentile(impostor, 95)
    assert np.percentile(genuine, 10) > np.percentile(impostor, 95)


def test_nfiq2_quality() -> None:
    score = nbis.quality(synthetic.finger(1000, "right_index"))
    assert 0 <= score <= 100
    assert score > 15


def test_blank_image_gives_an_empty_template_that_matches_nothing() -> None:
    blank = Image.new("L", (416, 416), 230)
    template = nbis.extract(blank)
    assert template.minutiae == ()
    assert nbis.Template.from_iso(template.iso_bytes()) == template
    assert nbis.match(template, nbis.extract(synthetic.finger(1000, "left_thumb"))) == 0
    assert nbis.quality(blank) == 0
