"""Synthetic face photos and signatures for tests and demos: drawn, deterministic, no files needed.

This is the only core module that imports Pillow; nothing else in ``ektp_core`` imports this one.
"""

from __future__ import annotations

import io
import math
import random

from PIL import Image, ImageDraw, ImageFilter

#: KTP-el photo backgrounds: red for odd birth years, blue for even ones.
RED_BACKGROUND = (200, 32, 38)
BLUE_BACKGROUND = (30, 78, 190)

_SKIN = ((241, 200, 160), (224, 172, 125), (198, 140, 95), (165, 110, 72), (120, 80, 52))
_HAIR = ((20, 16, 14), (40, 28, 20), (70, 45, 30), (90, 90, 90))
_CLOTHES = ((30, 30, 34), (240, 240, 240), (25, 45, 95), (110, 20, 30), (60, 80, 60))


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def photo_background(birth_year: int) -> tuple[int, int, int]:
    """The photo background a KTP-el uses for someone born in ``birth_year``."""
    return RED_BACKGROUND if birth_year % 2 else BLUE_BACKGROUND


def sample_photo(seed: int, *, birth_year: int | None = None, size: tuple[int, int] = (360, 480)) -> bytes:
    """A PNG portrait: head and shoulders on red (odd birth year) or blue (even), the same for the same seed.

    Without ``birth_year`` the seed's parity picks the background. The default size is 3 x 4, as
    cameras deliver it; the card crops it to its 2 x 3 photo box.
    """
    rng = random.Random(seed)
    width, height = size
    background = photo_background(birth_year if birth_year is not None else seed)
    image = Image.new("RGB", size, background)
    draw = ImageDraw.Draw(image)
    skin = rng.choice(_SKIN)
    hair = rng.choice(_HAIR)
    clothes = rng.choice(_CLOTHES)
    cx = width / 2 + rng.uniform(-0.02, 0.02) * width
    head_w = width * rng.uniform(0.42, 0.48)
    head_h = head_w * rng.uniform(1.22, 1.34)
    head_top = height * rng.uniform(0.1, 0.15)
    head_bottom = head_top + head_h
    # Shoulders and body: a wide rounded shape from under the chin to the bottom edge.
    shoulder_y = head_bottom + height * 0.05
    draw.rounded_rectangle(
        (cx - width * 0.48, shoulder_y, cx + width * 0.48, height + width * 0.2), radius=int(width * 0.2), fill=clothes
    )
    # Neck.
    draw.rectangle(
        (cx - head_w * 0.2, head_bottom - head_h * 0.15, cx + head_w * 0.2, shoulder_y + height * 0.03), fill=skin
    )
    # A collar: a V of the skin colour, or a white shirt under a dark jacket.
    collar = (250, 250, 250) if clothes[0] < 100 and rng.random() < 0.6 else skin
    draw.polygon(
        [(cx - head_w * 0.3, shoulder_y), (cx + head_w * 0.3, shoulder_y), (cx, shoulder_y + height * 0.12)],
        fill=collar,
    )
    # Hair behind the head, then the face, then a fringe.
    draw.ellipse(
        (cx - head_w * 0.56, head_top - head_h * 0.08, cx + head_w * 0.56, head_top + head_h * 0.75), fill=hair
    )
    draw.ellipse((cx - head_w / 2, head_top, cx + head_w / 2, head_bottom), fill=skin)
    draw.chord(
        (cx - head_w * 0.52, head_top - head_h * 0.06, cx + head_w * 0.52, head_top + head_h * 0.5),
        start=180,
        end=360,
        fill=hair,
    )
    # Ears.
    for side in (-1, 1):
        ex = cx + side * head_w * 0.5
        draw.ellipse(
            (ex - head_w * 0.07, head_top + head_h * 0.42, ex + head_w * 0.07, head_top + head_h * 0.6), fill=skin
        )
    # Eyes, brows, nose and mouth.
    eye_y = head_top + head_h * rng.uniform(0.44, 0.48)
    eye_dx = head_w * rng.uniform(0.18, 0.22)
    eye_r = head_w * 0.045
    for side in (-1, 1):
        ex = cx + side * eye_dx
        draw.ellipse((ex - eye_r * 1.6, eye_y - eye_r, ex + eye_r * 1.6, eye_y + eye_r), fill=(250, 250, 250))
        draw.ellipse((ex - eye_r * 0.8, eye_y - eye_r * 0.8, ex + eye_r * 0.8, eye_y + eye_r * 0.8), fill=(35, 25, 20))
        draw.line(
            (ex - eye_r * 2, eye_y - eye_r * 2.6, ex + eye_r * 2, eye_y - eye_r * 2.9),
            fill=hair,
            width=max(2, int(eye_r * 0.7)),
        )
    nose_y = head_top + head_h * 0.64
    shade = tuple(max(0, c - 40) for c in skin)
    draw.line(
        (cx, eye_y + eye_r, cx - head_w * 0.04, nose_y, cx + head_w * 0.03, nose_y),
        fill=shade,
        width=max(2, int(width * 0.006)),
    )
    mouth_y = head_top + head_h * 0.78
    mouth_w = head_w * rng.uniform(0.16, 0.22)
    draw.arc(
        (cx - mouth_w, mouth_y - head_h * 0.05, cx + mouth_w, mouth_y + head_h * 0.04),
        start=20,
        end=160,
        fill=(150, 60, 60),
        width=max(2, int(width * 0.008)),
    )
    # A slight blur: a camera photo has no hard vector edges.
    return _png(image.filter(ImageFilter.GaussianBlur(radius=max(0.5, width / 500))))


def sample_signature(seed: int, *, size: tuple[int, int] = (480, 180)) -> bytes:
    """A PNG signature: black pen strokes on white, the same for the same seed."""
    rng = random.Random(seed)
    width, height = size
    image = Image.new("RGB", size, (255, 255, 255))
    draw = ImageDraw.Draw(image)
    pen = max(2, round(height / 45))
    # Cursive-like handwriting: a prolate cycloid (a loop per "letter") along a slanted baseline, with
    # a tall first loop for the initial and letter heights that vary smoothly.
    letters = rng.randint(5, 8)
    heights = [height * rng.uniform(0.5, 0.62)] + [height * rng.uniform(0.14, 0.34) for _ in range(letters)]
    x0, x1 = width * rng.uniform(0.05, 0.1), width * rng.uniform(0.8, 0.92)
    base = height * rng.uniform(0.62, 0.7)
    advance = (x1 - x0) / letters
    loop = advance * rng.uniform(0.22, 0.3)
    slant = rng.uniform(0.2, 0.4)
    points = []
    for i in range(letters * 60 + 1):
        t = i / 60
        k = min(int(t), letters - 1)
        frac = t - k
        amp = heights[k] + (heights[k + 1] - heights[k]) * (3 * frac * frac - 2 * frac**3)
        y = base - amp * (1 - math.cos(2 * math.pi * t)) / 2 - height * 0.06 * t / letters
        x = x0 + advance * t - loop * math.sin(2 * math.pi * t) + slant * (base - y)
        points.append((x, y))
    draw.line(points, fill=(0, 0, 0), width=pen, joint="curve")
    # A flourish underneath, from the end back to the start.
    fy = base + height * rng.uniform(0.08, 0.14)
    bend = rng.uniform(0.04, 0.08) * height
    flourish = [(x1 - (x1 - x0) * 1.05 * t, fy + bend * math.sin(t * math.pi)) for t in (i / 80 for i in range(81))]
    draw.line(flourish, fill=(0, 0, 0), width=max(2, pen - 1), joint="curve")
    return _png(image)
