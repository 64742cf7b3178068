"""Small PNG pictures for the test kit: a passport-style portrait and a signature, made with the standard
library alone (the core and its kit never import Pillow), the same bytes for the same seed.

They only need to be real images a card renderer can decode and place; the richer synthetic faces, fingers
and irises of the simulators plugin (``ektp_plugins.simulators``) are for demos and biometric tests.
"""

from __future__ import annotations

import math
import random
import struct
import zlib
from collections.abc import Callable

#: KTP-el photo backgrounds: red for odd birth years, blue for even ones.
RED_BACKGROUND = (200, 32, 38)
BLUE_BACKGROUND = (30, 78, 190)

Pixel = tuple[int, int, int]


def png(width: int, height: int, colour_at: Callable[[int, int], Pixel]) -> bytes:
    """An 8-bit RGB PNG of ``width`` x ``height`` whose pixel (x, y) is ``colour_at(x, y)``."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\x00" + bytes(v for x in range(width) for v in colour_at(x, y)) for y in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows, 6)) + chunk(b"IEND", b"")


def portrait(seed: int, *, birth_year: int | None = None, size: tuple[int, int] = (120, 160)) -> bytes:
    """A head and shoulders on the KTP-el background of ``birth_year`` (the seed's parity without one)."""
    rng = random.Random(seed)
    width, height = size
    background = RED_BACKGROUND if (birth_year if birth_year is not None else seed) % 2 else BLUE_BACKGROUND
    skin = rng.choice(((241, 200, 160), (198, 140, 95), (120, 80, 52)))
    clothes = rng.choice(((30, 30, 34), (240, 240, 240), (25, 45, 95)))
    cx, cy, rx, ry = width / 2, height * 0.38, width * 0.22, height * 0.22

    def colour(x: int, y: int) -> Pixel:
        if ((x - cx) / rx) ** 2 + ((y - cy) / ry) ** 2 <= 1:
            return skin
        if y > height * 0.66 and abs(x - cx) < width * 0.45:
            return clothes
        return background

    return png(width, height, colour)


def signature(seed: int, *, size: tuple[int, int] = (160, 60)) -> bytes:
    """A dark wavy stroke on white, different for each seed."""
    rng = random.Random(seed)
    width, height = size
    waves, phase = rng.uniform(1.5, 3.0), rng.uniform(0, 6.28)

    def colour(x: int, y: int) -> Pixel:
        middle = height / 2 + height * 0.3 * math.sin(phase + waves * 6.28 * x / width)
        return (20, 20, 60) if abs(y - middle) < 2 and 0.1 * width < x < 0.9 * width else (255, 255, 255)

    return png(width, height, colour)
