"""Fingerprint minutiae templates through NIST NBIS (mindtct + Bozorth3), from the PyPI package ``nbis-py``.

* :func:`extract` runs mindtct on an image and returns a :class:`Template`;
* :meth:`Template.iso_bytes` / :meth:`Template.from_iso` write and read ISO/IEC 19794-2:2005 finger minutiae records
  (encoded here: the ``to_iso_19794_2_2005()`` of nbis-py 0.1.3 writes a shortened, non-conforming record, with zero
  resolutions, a 2-byte finger view header and no extended data block, so it is only used internally to hand
  templates back to Bozorth3);
* :func:`match` gives the Bozorth3 score of two templates (about 40 and above is usually the same finger);
* :func:`quality` gives the NIST NFIQ 2 score (0-100) that nbis-py computes.

``nbis-py`` is imported lazily, so this module imports without it (the ``biometrics`` extra).
"""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from PIL import Image

#: ISO/IEC 19794-2 angles are in units of 360/256 degrees.
ANGLE_UNIT = 360 / 256
ENDING, BIFURCATION, OTHER = "ending", "bifurcation", "other"
_TYPE_CODES = {OTHER: 0, ENDING: 1, BIFURCATION: 2}
_TYPE_NAMES = {code: name for name, code in _TYPE_CODES.items()}
# Format id, version, record length, capture equipment, width, height, x and y resolution, finger views, reserved.
_HEADER = struct.Struct(">4s4sIHHHHHBB")
_VIEW = struct.Struct(">BBBB")  # finger position, view number / impression type, finger quality, minutiae count
_MINUTIA = struct.Struct(">HHBB")


class TemplateError(ValueError):
    """A finger minutiae record that is not valid ISO/IEC 19794-2:2005."""


@dataclass(frozen=True)
class Minutia:
    """One minutia: pixel position (origin top-left), angle in degrees counter-clockwise, type, quality 0-100."""

    x: int
    y: int
    angle: float
    type: str
    quality: int


@dataclass(frozen=True)
class Template:
    """A finger's minutiae with the image geometry they were found in.

    ``position`` is the ISO/IEC 19794-2 finger position code (0 unknown, 1 right thumb ... 10 left little) and
    ``quality`` the finger quality 0-100 written in the record.
    """

    width: int
    height: int
    dpi: int = 500
    minutiae: tuple[Minutia, ...] = field(default_factory=tuple)
    position: int = 0
    quality: int = 0

    def iso_bytes(self) -> bytes:
        """This template as an ISO/IEC 19794-2:2005 finger minutiae record (one finger view)."""
        if len(self.minutiae) > 255:
            raise TemplateError("an ISO/IEC 19794-2 finger view holds at most 255 minutiae")
        ppcm = round(self.dpi / 2.54)
        body = bytearray(_VIEW.pack(self.position, 0, self.quality, len(self.minutiae)))
        for m in self.minutiae:
            if not (0 <= m.x < 1 << 14 and 0 <= m.y < 1 << 14):
                raise TemplateError(f"minutia position out of range: {m.x}, {m.y}")
            body += _MINUTIA.pack(
                (_TYPE_CODES[m.type] << 14) | m.x, m.y, round(m.angle / ANGLE_UNIT) % 256, max(0, min(100, m.quality))
            )
        body += b"\x00\x00"  # extended data block length
        length = _HEADER.size + len(body)
        header = _HEADER.pack(b"FMR\0", b" 20\0", length, 0, self.width, self.height, ppcm, ppcm, 1, 0)
        return header + bytes(body)

    @classmethod
    def from_iso(cls, data: bytes) -> Template:
        """Read the first finger view of an ISO/IEC 19794-2:2005 finger minutiae record."""
        if len(data) < _HEADER.size + _VIEW.size + 2:
            raise TemplateError("record too short")
        fmt, version, length, _equipment, width, height, xres, _yres, views, _ = _HEADER.unpack_from(data)
        if fmt != b"FMR\0" or version != b" 20\0":
            raise TemplateError("not an ISO/IEC 19794-2:2005 record (format identifier or version)")
        if length != len(data):
            raise TemplateError(f"record length field says {length} bytes, got {len(data)}")
        if views < 1:
            raise TemplateError("record has no finger view")
        position, _view, quality, count = _VIEW.unpack_from(data, _HEADER.size)
        offset = _HEADER.size + _VIEW.size
        if len(data) < offset + count * _MINUTIA.size + 2:
            raise TemplateError("record truncated in its minutiae")
        minutiae = []
        for _ in range(count):
            tx, y, angle, q = _MINUTIA.unpack_from(data, offset)
            offset += _MINUTIA.size
            minutiae.append(Minutia(tx & 0x3FFF, y & 0x3FFF, angle * ANGLE_UNIT, _TYPE_NAMES.get(tx >> 14, OTHER), q))
        return cls(width, height, round(xres * 2.54) or 500, tuple(minutiae), position, quality)

    def _nbis_bytes(self) -> bytes:
        """The shortened record layout that nbis-py 0.1.3 reads back (see the module docstring)."""
        header = _HEADER.pack(b"FMR\0", b" 20\0", 0, 0, self.width, self.height, 0, 0, 0, 0)
        body = bytearray([0, min(len(self.minutiae), 255)])
        for m in self.minutiae[:255]:
            code = _TYPE_CODES[m.type]
            body += _MINUTIA.pack((code << 14) | m.x, m.y, round(m.angle / ANGLE_UNIT) % 256, round(m.quality * 0.63))
        record = bytearray(header + bytes(body))
        record[8:12] = struct.pack(">I", len(record))
        return bytes(record)


@lru_cache(maxsize=4)
def _extractor(dpi: int, nfiq: bool) -> Any:
    import nbis

    settings = nbis.NbisExtractorSettings(
        min_quality=0.0, get_center=False, check_fingerprint=False, compute_nfiq2=nfiq, ppi=float(dpi)
    )
    return nbis.new_nbis_extractor(settings)


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.convert("L").save(buffer, "PNG")
    return buffer.getvalue()


def extract(image: Image.Image, dpi: int = 500) -> Template:
    """Minutiae of a fingerprint image (mindtct), angles quantised to the ISO unit so templates round-trip."""
    found = _extractor(dpi, False).extract_minutiae(_png(image))
    minutiae = []
    for m in found.get():
        kind = ENDING if m.kind().name == "RIDGE_ENDING" else BIFURCATION
        angle = (round(m.angle() / ANGLE_UNIT) % 256) * ANGLE_UNIT
        minutiae.append(Minutia(int(m.x()), int(m.y()), angle, kind, max(0, min(100, round(m.reliability() * 100)))))
    minutiae.sort(key=lambda m: -m.quality)
    return Template(image.width, image.height, dpi, tuple(minutiae[:255]))


def match(a: Template, b: Template) -> int:
    """The Bozorth3 similarity score of two templates (0 for nothing in common; genuine pairs score far higher)."""
    if not a.minutiae or not b.minutiae:
        return 0
    extractor = _extractor(a.dpi, False)
    first = extractor.load_iso_19794_2_2005(a._nbis_bytes())
    return int(first.compare(extractor.load_iso_19794_2_2005(b._nbis_bytes())))


def quality(image: Image.Image, dpi: int = 500) -> int:
    """The NIST NFIQ 2 quality score of a fingerprint image, 0 (unusable) to 100.

    An image NFIQ 2 cannot score at all (blank, no ridges) gets 0.
    """
    import nbis

    try:
        return int(_extractor(dpi, True).extract_minutiae(_png(image)).quality().score)
    except nbis.NbisError:
        return 0


def iso_template_of(encoded_image: bytes, *, dpi: int = 500) -> bytes | None:
    """The ISO/IEC 19794-2 template of an encoded (PNG, JPEG...) fingerprint image, or None when NBIS
    finds no minutiae in it. Scanner drivers attach it to each finger they capture."""
    import io

    template = extract(Image.open(io.BytesIO(encoded_image)), dpi=dpi)
    return template.iso_bytes() if template.minutiae else None
