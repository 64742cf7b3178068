"""Synthetic finger minutiae, straight from the master model of :mod:`._finger`, without drawing any image.

Making a fingerprint image and running mindtct on it costs about half a second per finger, far too slow for a
gallery of a million fingers. This module makes the *template* directly, from the same master model:

1. the pattern class and the singular points of ``(seed, position)`` are drawn exactly as :func:`._finger.master`
   draws them (same random stream, same order), and the zero-pole orientation field is evaluated only at the points
   that need it;
2. the master minutiae are scattered over the fingertip ellipse with a minimum spacing (about 45-80 of them on a
   416x416 area, as on real fingertips); each points along the local ridge orientation, one way or the other, and
   is a ridge ending or a bifurcation;
3. an *impression* moves them the way :func:`._finger.finger` moves the ridges (rotation within 15 degrees, shift,
   smooth elastic distortion, partial contact area) and then does what extraction does to a template: it loses
   some minutiae, finds some spurious ones, jitters positions and angles and now and then mistakes a type.

Impression 0 is the reference capture (no rotation, shift or distortion) but still goes through the extraction
noise, as a real enrolment does. The fingertip ellipse is drawn from the same distribution as the master's but
from a stream of its own: reproducing the master's exactly would mean replaying its ridge-growth noise, which
costs more than the whole template.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from ektp_plugins.scanners import nbis
from ektp_plugins.simulators.synthetic._finger import RIDGE_PERIOD, _pattern_class, _rng
from numpy.typing import NDArray

Array = NDArray[np.float64]

SIZE = (416, 416)
#: Minimum distance between two master minutiae, pixels at 500 dpi (about 0.8 mm: two ridge periods).
MIN_SPACING = 17.0
#: What an impression and its extraction do to the minutiae (calibrated against mindtct on :func:`finger` images,
#: see docs/matching.md): distortion amplitude (px), share of true minutiae lost, spurious minutiae per master
#: minutia inside the contact area and along its border, position (px) and angle (degrees) jitter, chance of a
#: mistaken type.
MASTER_COUNT = (70, 110)
CONTACT = 1.0
DISTORTION = 3.0
DROPOUT = (0.15, 0.25)
SPURIOUS = 0.1
BORDER = 0.15
JITTER_PX = 1.0
JITTER_DEG = 2.0
TYPE_FLIP = 0.08
#: ISO/IEC 19794-2 finger position codes of the core's finger names.
_POSITION_CODES = {
    "right_thumb": 1,
    "right_index": 2,
    "right_middle": 3,
    "right_ring": 4,
    "right_little": 5,
    "left_thumb": 6,
    "left_index": 7,
    "left_middle": 8,
    "left_ring": 9,
    "left_little": 10,
}


@dataclass(frozen=True)
class _Field:
    """The master orientation field of :func:`._finger._orientation`, kept as its parameters."""

    kind: str
    cx: float
    cy: float
    arch_s: float = 0.0
    arch_h: float = 0.0
    cores: tuple[complex, ...] = ()
    deltas: tuple[complex, ...] = ()

    def at(self, xs: Array, ys: Array) -> Array:
        """Ridge orientation (radians, image coordinates with y down, modulo pi) at the given points."""
        height = SIZE[1]
        if self.kind == "arch":
            h = self.arch_h * np.clip(1.2 - ys / height, 0.15, 1.0)
            u = (xs - self.cx) / self.arch_s
            return np.asarray(np.arctan(2 * h * u / self.arch_s * np.exp(-(u**2))), dtype=np.float64)
        z = xs - 1j * ys
        theta = np.zeros_like(xs)
        for c in self.cores:
            theta += np.angle(z - complex(c.real, -c.imag))
        for d in self.deltas:
            theta -= np.angle(z - complex(d.real, -d.imag))
        return np.asarray(-theta / 2, dtype=np.float64)


def _field(rng: np.random.Generator, kind: str) -> _Field:
    """Draw the orientation field parameters exactly as :func:`._finger._orientation` draws them."""
    width, height = SIZE
    cx = width / 2 + rng.uniform(-0.05, 0.05) * width
    cy = height * rng.uniform(0.42, 0.52)
    if kind == "arch":
        s = width * rng.uniform(0.22, 0.32)
        h = height * rng.uniform(0.1, 0.2)
        return _Field(kind, cx, cy, arch_s=s, arch_h=h)
    if kind in ("left_loop", "right_loop"):
        side = -1.0 if kind == "left_loop" else 1.0
        core = complex(cx - side * rng.uniform(0.0, 0.06) * width, cy - rng.uniform(0.05, 0.12) * height)
        delta = core + complex(side * rng.uniform(0.22, 0.32) * width, rng.uniform(0.28, 0.36) * height)
        return _Field(kind, cx, cy, cores=(core,), deltas=(delta,))
    tilt = rng.uniform(-0.6, 0.6)
    gap = rng.uniform(0.03, 0.08) * height
    cores = (
        complex(cx + gap * math.sin(tilt), cy - gap * math.cos(tilt)),
        complex(cx - gap * math.sin(tilt), cy + gap * math.cos(tilt)),
    )
    dy = rng.uniform(0.25, 0.32) * height
    deltas = (
        complex(cx - rng.uniform(0.28, 0.36) * width, cy + dy + rng.uniform(-0.04, 0.04) * height),
        complex(cx + rng.uniform(0.28, 0.36) * width, cy + dy + rng.uniform(-0.04, 0.04) * height),
    )
    return _Field(kind, cx, cy, cores=cores, deltas=deltas)


@dataclass(frozen=True)
class _Master:
    """A finger's master minutiae (master pixel coordinates) with its orientation field and fingertip ellipse."""

    field: _Field
    ellipse: tuple[float, float, float, float]
    x: Array
    y: Array
    angle: Array  # degrees counter-clockwise (y up), as ISO/IEC 19794-2 writes them
    bifurcation: NDArray[np.bool_]


def _spread(rng: np.random.Generator, ellipse: tuple[float, float, float, float], count: int) -> tuple[Array, Array]:
    """Up to ``count`` points inside the ellipse, no two closer than MIN_SPACING (dart throwing on a grid)."""
    ecx, ecy, eax, eay = ellipse
    cell = MIN_SPACING / math.sqrt(2)  # at most one point per cell, so only the 5x5 neighbourhood needs checking
    grid: dict[tuple[int, int], tuple[float, float]] = {}
    points: list[tuple[float, float]] = []
    tries = 0
    limit = MIN_SPACING**2
    while len(points) < count and tries < 30:
        tries += 1
        r = np.sqrt(rng.random(count * 2)) * 0.97
        t = rng.random(count * 2) * 2 * math.pi
        for px, py in zip(ecx + eax * r * np.cos(t), ecy + eay * r * np.sin(t), strict=True):
            gx, gy = int(px / cell), int(py / cell)
            if any(
                (q := grid.get((gx + i, gy + j))) is not None and (q[0] - px) ** 2 + (q[1] - py) ** 2 < limit
                for i in range(-2, 3)
                for j in range(-2, 3)
            ):
                continue
            grid[(gx, gy)] = (float(px), float(py))
            points.append((float(px), float(py)))
            if len(points) == count:
                break
    xy = np.array(points, dtype=np.float64).reshape(-1, 2)
    return xy[:, 0], xy[:, 1]


def _ridge_angles(rng: np.random.Generator, field: _Field, xs: Array, ys: Array) -> Array:
    """ISO angles (degrees counter-clockwise) along the ridge orientation at the points, either way along it."""
    theta = field.at(xs, ys)  # image coordinates, y down
    flip = rng.random(xs.shape) < 0.5
    angles: Array = np.mod(np.degrees(-theta) + 180.0 * flip, 360.0)
    return angles


@lru_cache(maxsize=4096)
def _master(seed: int, position: str) -> _Master:
    rng = _rng("finger", seed, position, SIZE)  # the master model's own stream: same class and singular points
    kind = _pattern_class(rng, position)
    field = _field(rng, kind)
    own = _rng("minutiae", seed, position)
    width, height = SIZE
    ellipse = (
        width / 2,
        height * own.uniform(0.47, 0.53),
        width * own.uniform(0.33, 0.4),
        height * own.uniform(0.42, 0.47),
    )
    count = int(own.integers(MASTER_COUNT[0], MASTER_COUNT[1] + 1))
    xs, ys = _spread(own, ellipse, count)
    angle = _ridge_angles(own, field, xs, ys)
    bifurcation = own.random(xs.shape) < 0.45
    return _Master(field, ellipse, xs, ys, angle, bifurcation)


def _smooth(rng: np.random.Generator, xs: Array, ys: Array, amplitude: float) -> Array:
    """A smooth random displacement field (a few low-frequency waves) evaluated at the points, pixels."""
    out = np.zeros_like(xs)
    waves = 4
    for _ in range(waves):
        fx, fy = rng.uniform(-2.0, 2.0, 2) * 2 * math.pi / SIZE[0]
        out += math.sqrt(2) * rng.normal() * np.sin(fx * xs + fy * ys + rng.uniform(0, 2 * math.pi))
    return out * amplitude / math.sqrt(waves)


def minutiae_arrays(seed: int, position: str, impression: int = 0) -> tuple[Array, Array, Array, NDArray[np.bool_]]:
    """x, y (pixels), ISO angle (degrees) and is-bifurcation of the minutiae of one impression, unquantised."""
    m = _master(seed, position)
    rng = _rng("minutiae-impression", seed, position, impression)
    width, height = SIZE
    ecx, ecy, eax, eay = m.ellipse
    if impression == 0:
        angle, tx, ty, amp = 0.0, 0.0, 0.0, 0.0
        shrink = (1.0, 1.0, 0.0, 0.0)
    else:
        angle = math.radians(rng.uniform(-15, 15))
        tx, ty = rng.uniform(-0.07, 0.07) * width, rng.uniform(-0.07, 0.07) * height
        amp = DISTORTION
        shrink = (rng.uniform(0.8, 1.0), rng.uniform(0.8, 1.0), rng.uniform(-0.12, 0.12), rng.uniform(-0.12, 0.12))
    # Partial contact: only minutiae well inside the touching part of the fingertip are found (mindtct loses the
    # ones near the contact border).
    sx, sy, ux, uy = shrink
    inside = ((m.x - ecx - ux * eax) / (eax * sx)) ** 2 + ((m.y - ecy - uy * eay) / (eay * sy)) ** 2 < CONTACT**2
    # Extraction loses some true minutiae (a per-impression rate: some captures are worse than others).
    kept = inside & (rng.random(m.x.shape) >= rng.uniform(*DROPOUT))
    xs, ys, angles, bif = m.x[kept], m.y[kept], m.angle[kept], m.bifurcation[kept]
    # ... and finds spurious ones inside the contact area, which also follow the ridges.
    spurious = int(rng.poisson(SPURIOUS * len(m.x)))
    if spurious:
        r = np.sqrt(rng.random(spurious)) * CONTACT
        t = rng.random(spurious) * 2 * math.pi
        fx = ecx + ux * eax + eax * sx * r * np.cos(t)
        fy = ecy + uy * eay + eay * sy * r * np.sin(t)
        xs, ys = np.concatenate([xs, fx]), np.concatenate([ys, fy])
        angles = np.concatenate([angles, _ridge_angles(rng, m.field, fx, fy)])
        bif = np.concatenate([bif, rng.random(spurious) < 0.5])
    # ... and ridge endings where the ridges leave the contact area: mindtct finds many along its border.
    border = int(rng.poisson(BORDER * len(m.x)))
    if border:
        r = rng.uniform(0.95, 1.05, border)
        t = rng.random(border) * 2 * math.pi
        fx = ecx + ux * eax + eax * sx * r * np.cos(t)
        fy = ecy + uy * eay + eay * sy * r * np.sin(t)
        xs, ys = np.concatenate([xs, fx]), np.concatenate([ys, fy])
        angles = np.concatenate([angles, _ridge_angles(rng, m.field, fx, fy)])
        bif = np.concatenate([bif, rng.random(border) < 0.15])
    # Elastic distortion, then the rigid placement on the sensor: the inverse of finger()'s output-to-master map
    # (it rotates by ``angle`` in image coordinates, so ISO counter-clockwise angles lose ``angle``).
    if amp:
        xs = xs - _smooth(rng, xs, ys, amp)
        ys = ys - _smooth(rng, xs, ys, amp)
    c, s = math.cos(angle), math.sin(angle)
    ox, oy = xs - width / 2, ys - height / 2
    out_x = c * ox - s * oy + width / 2 + tx
    out_y = s * ox + c * oy + height / 2 + ty
    out_angle = angles - math.degrees(angle)
    # Localisation error of the extractor.
    n = len(out_x)
    out_x = out_x + rng.normal(0.0, JITTER_PX, n)
    out_y = out_y + rng.normal(0.0, JITTER_PX, n)
    out_angle = np.mod(out_angle + rng.normal(0.0, JITTER_DEG, n), 360.0)
    bif = bif ^ (rng.random(n) < TYPE_FLIP)
    on_sensor = (out_x >= 8) & (out_x < width - 8) & (out_y >= 8) & (out_y < height - 8)
    return out_x[on_sensor], out_y[on_sensor], out_angle[on_sensor], bif[on_sensor]


def finger_minutiae(seed: int, position: str, impression: int = 0) -> nbis.Template:
    """The minutiae template of one impression of a synthetic finger, as mindtct would give it (deterministic).

    ``(seed, position)`` is the same finger as :func:`finger` draws (same pattern class and singular points);
    impression 0 is the reference capture, every ``impression > 0`` a re-capture. Takes well under a millisecond
    once the finger's master minutiae are cached.
    """
    if position not in _POSITION_CODES:
        raise ValueError(f"unknown finger position {position!r}")
    xs, ys, angles, bif = minutiae_arrays(seed, position, impression)
    rng = _rng("minutiae-quality", seed, position, impression)
    qualities = rng.integers(25, 100, len(xs))
    order = np.argsort(-qualities, kind="stable")
    minutiae = tuple(
        nbis.Minutia(
            round(xs[i]),
            round(ys[i]),
            (round(angles[i] / nbis.ANGLE_UNIT) % 256) * nbis.ANGLE_UNIT,
            nbis.BIFURCATION if bif[i] else nbis.ENDING,
            int(qualities[i]),
        )
        for i in order[:255]
    )
    quality = int(rng.integers(40, 90))
    return nbis.Template(SIZE[0], SIZE[1], 500, minutiae, _POSITION_CODES[position], quality)


__all__ = ["RIDGE_PERIOD", "finger_minutiae", "minutiae_arrays"]
