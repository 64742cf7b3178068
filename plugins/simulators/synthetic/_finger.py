"""Synthetic fingerprints, in the manner of SFinGe (Cappelli, Maio, Maltoni).

A *master* ridge pattern is made once per (seed, position):

1. a pattern class (arch, left/right loop, whorl) and its singular points (cores, deltas) are drawn from the seed;
2. an orientation field follows the zero-pole model of Sherlock and Monro: the ridge angle at ``z`` is
   ``theta0 + (sum(arg(z - core)) - sum(arg(z - delta))) / 2`` (arches use a smooth analytic field);
3. a ridge period map (around 9 px at 500 dpi, a little wider towards the bottom of the finger);
4. starting from sparse random noise, the image is filtered again and again with Gabor filters tuned to the local
   orientation and period, with a soft clip after each pass, until ridges have grown over the whole area.

An *impression* of the master then adds what real captures vary: a pressure change (ridge width), a smooth non-linear
(elastic) distortion, a rotation and shift, a partial contact area, skin noise and blur.
"""

from __future__ import annotations

import math
import zlib
from functools import lru_cache

import numpy as np
from numpy.typing import NDArray
from PIL import Image
from scipy import fft as sfft
from scipy import ndimage

Array = NDArray[np.float64]

#: Mean ridge period in pixels at 500 dpi.
RIDGE_PERIOD = 9.0
_ORIENTATION_BINS = 12
_ITERATIONS = 9


def _rng(*parts: object) -> np.random.Generator:
    """A numpy generator seeded from any tuple of values, stable across runs and platforms."""
    return np.random.default_rng(zlib.crc32(repr(parts).encode()))


def _grid(size: tuple[int, int]) -> tuple[Array, Array]:
    width, height = size
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float64)
    return xs, ys


def _pattern_class(rng: np.random.Generator, position: str) -> str:
    thumb = position.endswith("thumb")
    weights = {"arch": 0.06, "left_loop": 0.3, "right_loop": 0.3, "whorl": 0.34}
    if thumb:
        weights = {"arch": 0.04, "left_loop": 0.18, "right_loop": 0.18, "whorl": 0.6}
    # Loops lean towards the little finger: ulnar loops are the common kind.
    if position.startswith("right"):
        weights["right_loop"] += 0.1
    else:
        weights["left_loop"] += 0.1
    names = list(weights)
    p = np.array([weights[n] for n in names])
    return names[int(rng.choice(len(names), p=p / p.sum()))]


def _orientation(rng: np.random.Generator, kind: str, size: tuple[int, int]) -> Array:
    """The ridge orientation field (radians, modulo pi) of the master print."""
    width, height = size
    xs, ys = _grid(size)
    cx = width / 2 + rng.uniform(-0.05, 0.05) * width
    cy = height * rng.uniform(0.42, 0.52)
    if kind == "arch":
        # Ridges y = -h(y) * exp(-(x - cx)^2 / s^2): humps that flatten out towards the bottom of the finger.
        s = width * rng.uniform(0.22, 0.32)
        h = height * rng.uniform(0.1, 0.2) * np.clip(1.2 - ys / height, 0.15, 1.0)
        u = (xs - cx) / s
        slope = 2 * h * u / s * np.exp(-(u**2))
        return np.asarray(np.arctan(slope), dtype=np.float64)
    cores: list[complex] = []
    deltas: list[complex] = []
    if kind in ("left_loop", "right_loop"):
        side = -1.0 if kind == "left_loop" else 1.0
        core = complex(cx - side * rng.uniform(0.0, 0.06) * width, cy - rng.uniform(0.05, 0.12) * height)
        delta = core + complex(side * rng.uniform(0.22, 0.32) * width, rng.uniform(0.28, 0.36) * height)
        cores.append(core)
        deltas.append(delta)
    else:  # whorl
        tilt = rng.uniform(-0.6, 0.6)
        gap = rng.uniform(0.03, 0.08) * height
        cores += [
            complex(cx + gap * math.sin(tilt), cy - gap * math.cos(tilt)),
            complex(cx - gap * math.sin(tilt), cy + gap * math.cos(tilt)),
        ]
        dy = rng.uniform(0.25, 0.32) * height
        deltas += [
            complex(cx - rng.uniform(0.28, 0.36) * width, cy + dy + rng.uniform(-0.04, 0.04) * height),
            complex(cx + rng.uniform(0.28, 0.36) * width, cy + dy + rng.uniform(-0.04, 0.04) * height),
        ]
    # Image y grows downwards; work in a y-up plane so that the arguments have their usual sense.
    z = xs - 1j * ys
    theta = np.zeros_like(xs)
    for c in cores:
        theta += np.angle(z - complex(c.real, -c.imag))
    for d in deltas:
        theta -= np.angle(z - complex(d.real, -d.imag))
    theta = theta / 2
    # Back to image coordinates (y down): an angle a in the y-up plane is -a in the image.
    return np.asarray(-theta, dtype=np.float64)


def _gabor_bank(period: float, shape: tuple[int, int]) -> NDArray[np.complex128]:
    """FFTs of even Gabor kernels, one per orientation bin, zero-padded to ``shape``."""
    sigma = period * 0.45
    half = math.ceil(3 * sigma)
    ky, kx = np.mgrid[-half : half + 1, -half : half + 1].astype(np.float64)
    envelope = np.exp(-(kx**2 + ky**2) / (2 * sigma**2))
    bank = []
    for b in range(_ORIENTATION_BINS):
        t = math.pi * b / _ORIENTATION_BINS
        normal = -kx * math.sin(t) + ky * math.cos(t)  # distance across the ridges
        kernel = envelope * np.cos(2 * math.pi * normal / period)
        kernel -= kernel.mean() * envelope / envelope.mean()  # no DC response
        kernel /= np.abs(kernel).sum()
        padded = np.zeros(shape)
        padded[: kernel.shape[0], : kernel.shape[1]] = kernel
        padded = np.roll(padded, (-half, -half), axis=(0, 1))
        bank.append(sfft.rfft2(padded.astype(np.float32)))
    return np.array(bank)


@lru_cache(maxsize=8)
def _bank_cached(period_tenths: int, shape: tuple[int, int]) -> NDArray[np.complex128]:
    return _gabor_bank(period_tenths / 10, shape)


def _grow_ridges(rng: np.random.Generator, theta: Array, period_map: Array) -> NDArray[np.float32]:
    """Iterative oriented Gabor filtering of sparse noise until ridges fill the field.

    Every pass filters the whole image once per orientation bin (through one FFT and one inverse FFT per bin) and
    keeps, per pixel, the response of its own orientation (linearly blended between the two nearest bins) and of its
    own ridge period (blended between the shortest and the longest period of the map).
    """
    shape = theta.shape
    pad = 16
    padded_shape = (shape[0] + 2 * pad, shape[1] + 2 * pad)
    lo, hi = float(period_map.min()), float(period_map.max())
    banks = [_bank_cached(round(lo * 10), padded_shape), _bank_cached(round(hi * 10), padded_shape)]
    pw = ((period_map - lo) / max(hi - lo, 1e-9)).astype(np.float32)
    pos = (np.mod(theta, math.pi) / math.pi) * _ORIENTATION_BINS
    b0 = (np.floor(pos).astype(np.intp) % _ORIENTATION_BINS)[None]
    b1 = (b0 + 1) % _ORIENTATION_BINS
    w1 = (pos - np.floor(pos)).astype(np.float32)
    image = np.zeros(shape, dtype=np.float32)
    spikes = rng.random(shape) < 0.003
    image[spikes] = rng.choice([-1.0, 1.0], size=int(spikes.sum()))
    for _ in range(_ITERATIONS):
        spectrum = sfft.rfft2(np.pad(image, pad, mode="reflect"))
        out = np.zeros(shape, dtype=np.float32)
        for bank, weight in zip(banks, (1 - pw, pw), strict=True):
            responses = sfft.irfft2(spectrum[None] * bank, s=padded_shape, axes=(1, 2), workers=-1)
            responses = responses[:, pad:-pad, pad:-pad]
            picked = (1 - w1) * np.take_along_axis(responses, b0, 0)[0] + w1 * np.take_along_axis(responses, b1, 0)[0]
            out += weight * picked
        scale = np.percentile(np.abs(out), 90) + 1e-9
        image = np.clip(out / scale * 1.6, -1.0, 1.0).astype(np.float32)
    return image


Ellipse = tuple[float, float, float, float]


def _fingertip_mask(size: tuple[int, int], rng: np.random.Generator) -> Ellipse:
    """Centre and half-axes of the fingertip contact ellipse (in master coordinates)."""
    width, height = size
    cy, ax, ay = height * rng.uniform(0.47, 0.53), width * rng.uniform(0.33, 0.4), height * rng.uniform(0.42, 0.47)
    return (width / 2, cy, ax, ay)


@lru_cache(maxsize=32)
def master(seed: int, position: str, size: tuple[int, int] = (416, 416)) -> tuple[NDArray[np.float32], Ellipse]:
    """The master ridge pattern of a finger (float32 in [-1, 1], ridges negative) and its fingertip ellipse.

    Cached (32 fingers, about 0.7 MB each at 416x416): impressions of a finger only resample it.
    """
    rng = _rng("finger", seed, position, size)
    kind = _pattern_class(rng, position)
    theta = _orientation(rng, kind, size)
    _, ys = _grid(size)
    base = RIDGE_PERIOD * rng.uniform(0.9, 1.08)
    period_map = base * (0.94 + 0.14 * ys / size[1])
    ridges = _grow_ridges(rng, theta, period_map)
    ridges.setflags(write=False)
    return ridges, _fingertip_mask(size, rng)


def _smooth_field(rng: np.random.Generator, shape: tuple[int, int], cells: int, amplitude: float) -> Array:
    coarse = rng.normal(0.0, 1.0, (cells, cells))
    zoom = (shape[0] / cells, shape[1] / cells)
    field = ndimage.zoom(coarse, zoom, order=3, mode="nearest")[: shape[0], : shape[1]]
    return np.asarray(field * amplitude, dtype=np.float64)


def finger(seed: int, position: str, impression: int = 0, *, size: tuple[int, int] = (416, 416)) -> Image.Image:
    """A grayscale 500 dpi fingerprint: dark ridges on a light background.

    The same ``(seed, position)`` is always the same finger; ``impression`` 0 is its reference capture and every
    ``impression > 0`` a different, deterministic, re-capture of it (rotated, shifted, elastically distorted, pressed
    harder or softer, noisier, partly off the sensor).
    """
    width, height = size
    ridges, (ecx, ecy, eax, eay) = master(seed, position, size)
    rng = _rng("impression", seed, position, impression, size)
    xs, ys = _grid(size)
    if impression == 0:
        angle, tx, ty, pressure, noise, blur = 0.0, 0.0, 0.0, 0.0, 0.06, 0.6
        dx = dy = np.zeros((height, width))
        shrink = (1.0, 1.0, 0.0, 0.0)
    else:
        angle = math.radians(rng.uniform(-15, 15))
        tx, ty = rng.uniform(-0.07, 0.07) * width, rng.uniform(-0.07, 0.07) * height
        pressure = rng.uniform(-0.3, 0.3)
        noise, blur = rng.uniform(0.05, 0.14), rng.uniform(0.5, 0.9)
        dx = _smooth_field(rng, (height, width), 4, 4.0)
        dy = _smooth_field(rng, (height, width), 4, 4.0)
        # Partial contact: a smaller, off-centre ellipse of the fingertip touches the sensor.
        shrink = (rng.uniform(0.8, 1.0), rng.uniform(0.8, 1.0), rng.uniform(-0.12, 0.12), rng.uniform(-0.12, 0.12))
    # Output pixel -> master pixel: inverse rotation about the centre after removing the shift, plus the distortion.
    cos_a, sin_a = math.cos(angle), math.sin(angle)
    ox, oy = xs - width / 2 - tx, ys - height / 2 - ty
    mx = cos_a * ox + sin_a * oy + width / 2 + dx
    my = -sin_a * ox + cos_a * oy + height / 2 + dy
    sampled = ndimage.map_coordinates(ridges, [my, mx], order=1, mode="constant", cval=1.0)
    # Pressure: a harder press widens the (dark) ridges.
    value = np.clip((sampled + pressure) * 1.4, -1.0, 1.0)
    # Fingertip contact mask (soft edge) in master coordinates.
    sx, sy, ux, uy = shrink
    u = (mx - ecx - ux * eax) / (eax * sx)
    v = (my - ecy - uy * eay) / (eay * sy)
    r = np.sqrt(u**2 + v**2)
    contact = np.clip((1.0 - r) * 12, 0.0, 1.0)
    # Ridges dark (~40), valleys and background light (~225), with skin noise.
    gray = 132.0 + 92.0 * value
    gray += rng.normal(0.0, 255 * noise, size=gray.shape)
    gray = ndimage.gaussian_filter(gray, blur)
    gray = contact * gray + (1 - contact) * 232.0
    gray += rng.normal(0.0, 3.0, size=gray.shape)
    return Image.fromarray(np.clip(gray, 0, 255).astype(np.uint8), mode="L")
