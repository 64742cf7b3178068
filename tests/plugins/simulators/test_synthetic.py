"""Synthetic biometric samples: deterministic, fingerprint-like, right sizes and modes."""

from __future__ import annotations

import time

import numpy as np
import pytest
from ektp_plugins.simulators import synthetic


def test_finger_is_deterministic_grayscale_500dpi_sized() -> None:
    a = synthetic.finger(7, "right_thumb")
    b = synthetic.finger(7, "right_thumb")
    assert a.mode == "L" and a.size == (416, 416)
    assert a.tobytes() == b.tobytes()
    assert synthetic.finger(7, "right_thumb", 2).tobytes() == synthetic.finger(7, "right_thumb", 2).tobytes()


def test_finger_has_dark_ridges_on_light_background() -> None:
    pixels = np.asarray(synthetic.finger(8, "left_index"), dtype=np.float64)
    corners = np.concatenate([pixels[:20, :20].ravel(), pixels[-20:, -20:].ravel()])
    centre = pixels[158:258, 158:258]
    assert corners.mean() > 200
    assert centre.std() > 40  # ridges and valleys alternate
    assert (centre < 90).mean() > 0.2


def test_impressions_differ_from_the_reference_and_each_other() -> None:
    ref = np.asarray(synthetic.finger(9, "right_middle"), dtype=np.int16)
    one = np.asarray(synthetic.finger(9, "right_middle", 1), dtype=np.int16)
    two = np.asarray(synthetic.finger(9, "right_middle", 2), dtype=np.int16)
    assert np.abs(ref - one).mean() > 20
    assert np.abs(one - two).mean() > 20


def test_different_fingers_and_positions_differ() -> None:
    a = synthetic.finger(10, "right_ring").tobytes()
    assert a != synthetic.finger(11, "right_ring").tobytes()
    assert a != synthetic.finger(10, "left_ring").tobytes()


def test_custom_size() -> None:
    assert synthetic.finger(12, "left_little", size=(320, 400)).size == (320, 400)


def test_an_impression_is_fast_once_the_master_is_cached() -> None:
    synthetic.finger(13, "left_thumb")
    # CPU time, not wall time: what a finger costs, whatever else the machine (or xdist) is running.
    start = time.process_time()
    for n in range(1, 6):
        synthetic.finger(13, "left_thumb", n)
    assert (time.process_time() - start) / 5 < 0.5
    start = time.process_time()
    synthetic.finger(14, "left_thumb", 1)  # master and impression
    assert time.process_time() - start < 3


def test_face() -> None:
    image = synthetic.face(3)
    assert image.mode == "RGB" and image.size == (480, 640)
    assert image.tobytes() == synthetic.face(3).tobytes()
    assert image.tobytes() != synthetic.face(4).tobytes()


def test_iris() -> None:
    left = synthetic.iris(3, "left")
    assert left.mode == "L" and left.size == (640, 480)
    assert left.tobytes() == synthetic.iris(3, "left").tobytes()
    assert left.tobytes() != synthetic.iris(3, "right").tobytes()
    pixels = np.asarray(left)
    assert pixels.min() < 40 and pixels.max() > 200  # dark pupil, bright glint
    with pytest.raises(ValueError):
        synthetic.iris(3, "middle")


def test_signature() -> None:
    image = synthetic.signature(5)
    assert image.mode == "RGB"
    assert image.tobytes() == synthetic.signature(5).tobytes()
    assert (np.asarray(image.convert("L")) < 100).any()
