"""Synthetic biometric samples for tests, demos and the simulated scanner kit: deterministic for a seed.

* :func:`finger` — a 500 dpi grayscale fingerprint, SFinGe-style (zero-pole orientation field, ridge period map,
  iterative Gabor growth); ``impression`` > 0 re-captures the same finger the way a scanner would vary;
* :func:`finger_minutiae` — the minutiae template (:class:`..nbis.Template`) of the same finger without drawing an
  image, for galleries too large to make from images;
* :func:`face` — an RGB 480x640 portrait;
* :func:`iris` — a grayscale 640x480 near-infrared eye image;
* :func:`signature` — pen strokes on white.

Needs numpy and scipy.
"""

from __future__ import annotations

from ektp_plugins.simulators.synthetic._finger import finger
from ektp_plugins.simulators.synthetic._minutiae import finger_minutiae
from ektp_plugins.simulators.synthetic._portrait import face, iris, signature

__all__ = ["face", "finger", "finger_minutiae", "iris", "signature"]
