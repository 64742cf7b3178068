"""Synthetic faces, irises and signatures: simple but plausible images, the same for the same seed."""

from __future__ import annotations

import io
import math
import zlib

import numpy as np
from ektp_plugins.simulators.images import sample_signature
from PIL import Image, ImageDraw, ImageFilter
from scipy import ndimage

_SKIN = [(241, 194, 160), (224, 172, 135), (198, 142, 104), (170, 116, 80), (141, 92, 60), (110, 72, 48)]
_HAIR = [(24, 20, 18), (40, 30, 24), (60, 44, 30), (20, 20, 22)]
_BACKDROP = [(178, 34, 34), (30, 70, 160)]  # KTP photos: red or blue background


def _rng(*parts: object) -> np.random.Generator:
    return np.random.default_rng(zlib.crc32(repr(parts).encode()))


def _shade(colour: tuple[int, int, int], factor: float) -> tuple[int, int, int]:
    r, g, b = (max(0, min(255, round(c * factor))) for c in colour)
    return (r, g, b)


def face(seed: int) -> Image.Image:
    """An RGB 480x640 passport-style portrait: head, hair, eyes, brows, nose, mouth, shoulders on a plain backdrop."""
    rng = _rng("face", seed)
    width, height = 480, 640
    image = Image.new("RGB", (width, height), _BACKDROP[int(rng.integers(len(_BACKDROP)))])
    draw = ImageDraw.Draw(image)
    skin = _SKIN[int(rng.integers(len(_SKIN)))]
    hair = _HAIR[int(rng.integers(len(_HAIR)))]
    shirt = tuple(int(c) for c in rng.integers(20, 235, 3))
    cx = width / 2 + rng.uniform(-12, 12)
    cy = height * rng.uniform(0.40, 0.44)
    hw, hh = width * rng.uniform(0.19, 0.23), height * rng.uniform(0.2, 0.23)
    # Shoulders and neck.
    draw.ellipse((cx - 210, height * 0.8, cx + 210, height * 1.25), fill=shirt)
    draw.rectangle((cx - hw * 0.45, cy + hh * 0.6, cx + hw * 0.45, height * 0.86), fill=_shade(skin, 0.9))
    # Hair behind the head, then the head, then the ears.
    draw.ellipse((cx - hw * 1.12, cy - hh * 1.18, cx + hw * 1.12, cy + hh * rng.uniform(0.1, 0.6)), fill=hair)
    for side in (-1, 1):
        ex = cx + side * hw * 0.98
        draw.ellipse((ex - hw * 0.12, cy - hh * 0.12, ex + hw * 0.12, cy + hh * 0.22), fill=_shade(skin, 0.95))
    draw.ellipse((cx - hw, cy - hh, cx + hw, cy + hh), fill=skin)
    # Fringe.
    fringe = cy - hh * rng.uniform(0.45, 0.7)
    draw.chord((cx - hw * 1.02, cy - hh * 1.12, cx + hw * 1.02, fringe + hh * 0.35), 180, 360, fill=hair)
    # Eyes and brows.
    eye_y = cy - hh * rng.uniform(0.05, 0.15)
    gap = hw * rng.uniform(0.38, 0.46)
    iris_colour = _shade((70, 45, 30), rng.uniform(0.6, 1.1))
    for side in (-1, 1):
        ex = cx + side * gap
        ew, eh = hw * 0.2, hh * 0.06
        draw.ellipse((ex - ew, eye_y - eh, ex + ew, eye_y + eh), fill=(245, 245, 240))
        r = eh * 0.95
        draw.ellipse((ex - r, eye_y - r, ex + r, eye_y + r), fill=iris_colour)
        draw.ellipse((ex - r * 0.45, eye_y - r * 0.45, ex + r * 0.45, eye_y + r * 0.45), fill=(10, 10, 10))
        by = eye_y - hh * rng.uniform(0.14, 0.2)
        draw.line([(ex - ew * 1.2, by + 4), (ex, by - 3), (ex + ew * 1.2, by + 2)], fill=_shade(hair, 1.2), width=7)
    # Nose and mouth.
    nose_y = cy + hh * rng.uniform(0.22, 0.3)
    draw.line(
        [(cx, eye_y + hh * 0.05), (cx - hw * 0.06, nose_y), (cx + hw * 0.08, nose_y)], fill=_shade(skin, 0.75), width=4
    )
    mouth_y = cy + hh * rng.uniform(0.5, 0.58)
    mw = hw * rng.uniform(0.28, 0.38)
    draw.chord((cx - mw, mouth_y - hh * 0.06, cx + mw, mouth_y + hh * 0.06), 0, 180, fill=_shade(skin, 0.62))
    image = image.filter(ImageFilter.GaussianBlur(1.2))
    noise = rng.normal(0, 4, (height, width, 3))
    pixels = np.clip(np.asarray(image, dtype=np.float64) + noise, 0, 255).astype(np.uint8)
    return Image.fromarray(pixels, "RGB")


def iris(seed: int, side: str) -> Image.Image:
    """A grayscale 640x480 near-infrared eye: bright sclera and skin, a textured iris, a dark pupil and a glint."""
    if side not in ("left", "right"):
        raise ValueError(f"side must be 'left' or 'right', not {side!r}")
    width, height = 640, 480
    texture_rng = _rng("iris", seed, side)  # the iris texture belongs to this eye
    capture_rng = _rng("iris-capture", seed, side)
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float64)
    cx = width / 2 + capture_rng.uniform(-20, 20)
    cy = height / 2 + capture_rng.uniform(-15, 15)
    r_iris = texture_rng.uniform(105, 125)
    r_pupil = r_iris * texture_rng.uniform(0.3, 0.45)
    r = np.hypot(xs - cx, ys - cy)
    phi = np.arctan2(ys - cy, xs - cx)
    # Skin and sclera: bright in NIR, a soft gradient.
    gray = 170 + 25 * np.cos((ys - cy) / height * math.pi) + texture_rng.normal(0, 2, (height, width))
    eye_open = (((xs - cx) / 270) ** 2 + ((ys - cy) / 150) ** 2) < 1
    gray = np.where(eye_open, 200.0, gray)
    # Iris texture: radial furrows and crypts as sums of angular/radial waves, plus a collarette ring.
    t = np.zeros_like(gray)
    for _ in range(24):
        k = int(texture_rng.integers(6, 60))
        t += texture_rng.uniform(0.3, 1.0) * np.cos(
            k * phi + texture_rng.uniform(0, 2 * math.pi) + texture_rng.uniform(-3, 3) * r / r_iris
        )
    t /= 8
    crypts = ndimage.gaussian_filter(texture_rng.normal(0, 1, (height, width)), 3) * 6
    norm = (r - r_pupil) / (r_iris - r_pupil)
    collarette = np.exp(-(((norm - texture_rng.uniform(0.3, 0.4)) / 0.05) ** 2)) * 25
    iris_gray = 105 + 18 * t + 10 * crypts - collarette - 20 * np.clip(norm - 0.85, 0, 1) / 0.15
    gray = np.where(r < r_iris, iris_gray, gray)
    gray = np.where(r < r_pupil, 18.0, gray)
    # Eyelids cover the top and bottom of the iris.
    upper = cy - 150 * np.sqrt(np.clip(1 - ((xs - cx) / 270) ** 2, 0, 1)) * capture_rng.uniform(0.65, 0.85)
    lower = cy + 150 * np.sqrt(np.clip(1 - ((xs - cx) / 270) ** 2, 0, 1)) * capture_rng.uniform(0.75, 0.95)
    lids = (ys < upper) | (ys > lower)
    gray = np.where(lids, 165 + 15 * np.cos((ys - cy) / height * math.pi), gray)
    gray = np.where((np.abs(ys - upper) < 3) & (np.abs(xs - cx) < 265), 60.0, gray)  # lash line
    # Specular glint of the illuminator in the pupil.
    gx, gy = cx + r_pupil * 0.3, cy - r_pupil * 0.3
    gray = np.where(np.hypot(xs - gx, ys - gy) < 7, 255.0, gray)
    gray = ndimage.gaussian_filter(gray, 1.0) + capture_rng.normal(0, 3, (height, width))
    return Image.fromarray(np.clip(gray, 0, 255).astype(np.uint8), "L")


def signature(seed: int) -> Image.Image:
    """A signature: black pen strokes on white (RGB), the same for the same seed."""
    with Image.open(io.BytesIO(sample_signature(seed))) as image:
        return image.convert("RGB")
