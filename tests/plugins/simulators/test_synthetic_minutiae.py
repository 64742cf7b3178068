"""Minutiae-level synthetic fingers: the master model of the image generator, determinism, plausible templates."""

from __future__ import annotations

import numpy as np
import pytest
from ektp_plugins.scanners import nbis
from ektp_plugins.simulators import synthetic
from ektp_plugins.simulators.synthetic import _finger, _minutiae

from ektp_core.domain.model import FINGER_POSITIONS


def test_same_arguments_same_template_and_impressions_differ() -> None:
    first = synthetic.finger_minutiae(42, "left_index", 3)
    assert synthetic.finger_minutiae(42, "left_index", 3) == first
    assert synthetic.finger_minutiae(42, "left_index", 3).iso_bytes() == first.iso_bytes()
    assert synthetic.finger_minutiae(42, "left_index", 4) != first
    assert synthetic.finger_minutiae(43, "left_index", 3) != first


@pytest.mark.parametrize("seed", range(6))
def test_orientation_field_is_the_image_generators(seed: int) -> None:
    """Minutiae follow the very orientation field :func:`synthetic.finger` grows its ridges along."""
    for position in FINGER_POSITIONS[:4]:
        rng = _finger._rng("finger", seed, position, _minutiae.SIZE)
        kind = _finger._pattern_class(rng, position)
        full = _finger._orientation(rng, kind, _minutiae.SIZE)
        master = _minutiae._master(seed, position)
        assert master.field.kind == kind
        xs, ys = np.array([5.0, 150.0, 208.0, 390.0]), np.array([20.0, 300.0, 208.0, 410.0])
        diff = master.field.at(xs, ys) - full[ys.astype(int), xs.astype(int)]
        assert np.allclose(np.mod(diff + np.pi / 2, np.pi) - np.pi / 2, 0.0, atol=1e-9)


def test_templates_look_like_mindtct_output() -> None:
    counts = []
    for seed in range(20):
        for position in FINGER_POSITIONS:
            template = synthetic.finger_minutiae(seed, position, seed % 3)
            counts.append(len(template.minutiae))
            assert template.position == FINGER_POSITIONS.index(position) + 1
            for m in template.minutiae:
                assert 0 <= m.x < template.width and 0 <= m.y < template.height
                assert m.type in (nbis.ENDING, nbis.BIFURCATION)
                assert round(m.angle / nbis.ANGLE_UNIT) * nbis.ANGLE_UNIT == pytest.approx(m.angle)
            assert nbis.Template.from_iso(template.iso_bytes()) == template
    assert 40 <= float(np.median(counts)) <= 100
    assert min(counts) >= 20


def test_minutiae_point_along_the_ridges() -> None:
    master = _minutiae._master(7, "right_thumb")
    ridge = np.degrees(-master.field.at(master.x, master.y))
    off = np.mod(master.angle - ridge + 90.0, 180.0) - 90.0  # along the ridge, either way
    assert np.allclose(off, 0.0, atol=1e-6)


def test_unknown_position_is_refused() -> None:
    with pytest.raises(ValueError, match="position"):
        synthetic.finger_minutiae(1, "right_toe")


def test_bozorth3_separates_genuine_from_impostor_pairs() -> None:
    genuine = [
        nbis.match(synthetic.finger_minutiae(s, p, 0), synthetic.finger_minutiae(s, p, 1))
        for s in range(4)
        for p in FINGER_POSITIONS[:5]
    ]
    impostor = [
        nbis.match(synthetic.finger_minutiae(s, p, 0), synthetic.finger_minutiae(s + 100, p, 1))
        for s in range(4)
        for p in FINGER_POSITIONS[:5]
    ]
    assert np.median(genuine) >= 30
    assert np.median(impostor) <= 12
    assert np.median(genuine) > 3 * np.median(impostor)
