"""Images an operator sends from the browser: the signature pad's PNG, and a photo or iris picture uploaded
where the site has no device for it. Each is decoded, its size checked and re-encoded as PNG (nothing
but pixels is kept: no metadata); a blank signature is refused.

An uploaded picture has no device to score it, so its quality is a coarse estimate made here from its
resolution and contrast (documented in docs/web-record.md); a signature's is how much of the pad's
width the strokes span.
"""

from __future__ import annotations

import base64
import io

from PIL import Image, ImageOps, ImageStat, UnidentifiedImageError

from ektp_core.domain.model import Modality
from ektp_core.errors import EktpError

#: Largest upload accepted (a camera's JPEG is a few megabytes).
MAX_UPLOAD = 8 * 1024 * 1024
#: Smallest and largest (width, height) per modality.
BOUNDS = {
    Modality.FACE: ((240, 320), (4000, 6000)),
    Modality.IRIS: ((320, 240), (2000, 2000)),
    Modality.FINGER: ((256, 256), (2000, 2000)),
    Modality.SIGNATURE: ((200, 60), (2000, 1000)),
}
#: The resolution and grey-level spread at which an upload's estimate reaches 100.
_FULL = {Modality.FACE: (480, 50.0), Modality.IRIS: (480, 40.0), Modality.FINGER: (300, 60.0)}
#: A signature needs at least this share of its pixels inked, and strokes across this share of its width.
MIN_INK = 0.002
_DATA_URL = "data:image/png;base64,"


class BadImage(EktpError):
    """The image cannot be used; ``key`` is the catalogue message, ``values`` its values."""

    def __init__(self, key: str, **values: object) -> None:
        super().__init__(key)
        self.key = key
        self.values = values


def from_data_url(text: str) -> bytes:
    """The bytes of a ``data:image/png;base64,...`` URL (what the signature pad sends)."""
    if not text.startswith(_DATA_URL):
        raise BadImage("rec.img_not_png")
    try:
        return base64.b64decode(text[len(_DATA_URL) :], validate=True)
    except ValueError:
        raise BadImage("rec.img_unreadable") from None


def _open(data: bytes, modality: Modality) -> Image.Image:
    if not data:
        raise BadImage("rec.img_missing")
    if len(data) > MAX_UPLOAD:
        raise BadImage("rec.img_too_large", mb=MAX_UPLOAD // (1024 * 1024))
    (min_w, min_h), (max_w, max_h) = BOUNDS[modality]
    try:
        image = Image.open(io.BytesIO(data))
        width, height = image.size
        # Checked before decoding the pixels: a small file may announce a huge picture.
        if not (min_w <= width <= max_w and min_h <= height <= max_h):
            raise BadImage(
                "rec.img_size", width=width, height=height, min_w=min_w, min_h=min_h, max_w=max_w, max_h=max_h
            )
        if modality is Modality.SIGNATURE and image.format != "PNG":
            raise BadImage("rec.img_not_png")
        if modality is not Modality.SIGNATURE and image.format not in ("PNG", "JPEG"):
            raise BadImage("rec.img_format")
        image.load()
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
        raise BadImage("rec.img_unreadable") from None
    return ImageOps.exif_transpose(image)


def _png(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def signature(data: bytes) -> tuple[bytes, int]:
    """A signature pad's PNG, checked: returns (PNG on white, quality). Refuses a blank pad."""
    image = _open(data, Modality.SIGNATURE)
    rgba = image.convert("RGBA")
    white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    flat = Image.alpha_composite(white, rgba).convert("L")
    width, height = flat.size
    ink = flat.point(lambda v: 255 if v < 160 else 0)
    inked = ink.histogram()[255]
    box = ink.getbbox()
    if box is None:
        raise BadImage("rec.sig_pad_empty")  # not a stroke on it
    if inked < MIN_INK * width * height:
        raise BadImage("rec.sig_blank")
    span = (box[2] - box[0]) / width
    return _png(flat), max(1, min(100, round(100 * span)))


def picture(data: bytes, modality: Modality) -> tuple[bytes, int]:
    """An uploaded face, iris or finger picture, checked: returns (PNG, estimated quality)."""
    if modality is Modality.SIGNATURE:
        return signature(data)
    image = _open(data, modality)
    image = image.convert("RGB" if modality is Modality.FACE else "L")
    grey = image.convert("L")
    spread = ImageStat.Stat(grey.resize((64, 64))).stddev[0]
    side, contrast = _FULL[modality]
    estimate = 100 * min(1.0, min(image.size) / side) * min(1.0, spread / contrast)
    return _png(image), max(0, min(100, round(estimate)))
