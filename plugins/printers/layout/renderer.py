"""The KTP-el front (and a plain back) laid out with Pillow, as the panels of a YMCKO ribbon.

What goes where
---------------
* ``rgb`` (the Y, M and C panels): the light-blue background with its guilloche, the photo and the
  signature. **No text**: text prints with the black resin panel, which is sharper than a
  three-colour black and lands on top of the colour, so the background is left under the text
  (no knock-out, no white halo when the panels are slightly out of register).
* ``k`` (the black resin panel): every text line of the card, thresholded from the antialiased
  rendering at 50 %: resin is either on or off.
* ``overlay``: 255 on the whole canvas. The KTP-el chip is contactless (ISO 14443) and has no
  contact pad, so there is no window to leave open.
* ``preview_png``: the composite a person sees: ``rgb`` with the ``k`` pixels in black.
* ``back_k`` (only when ``card.back``): a few lines of text on the back, in K only.

How text is kept inside its box
-------------------------------
Every piece of text (header line, label, colon, value, the place and date of issue) has a box,
and the code measures the ink (``font.getbbox``) before it draws. A value that is too wide is
first shrunk a little on one line (down to 85 % of its size); if that is not enough and the field
may wrap (Nama, Tempat/Tgl Lahir, Kel/Desa, Kecamatan, Pekerjaan: two lines; Alamat: four lines;
the place of issue: two lines), it wraps at spaces (or, for a word longer than the line, after
``/ , . -``) at the largest size that fits, down to a minimum size. Extra lines push the rows
under them down; when the rows no longer fit the card the whole body shrinks by a pixel and is
laid out again. Text is never truncated: when a value cannot fit even at its minimum size,
:class:`CardLayoutError` names the field. Every laid-out box is checked against the canvas and
every line's ink against its box before anything is drawn.

Sizes are in pixels at 300 dpi on the Evolis canvas (1016 x 648) and scale with the canvas:
header 30 bold (minimum 16), NIK 38 bold (minimum 26), labels and values 26 (minimum 16, about
3.8 pt), place and date of issue 22 (minimum 14).
"""

from __future__ import annotations

import functools
import io
import math
import re
from collections.abc import Iterable
from pathlib import Path

import attrs
from PIL import Image, ImageDraw, ImageFont, ImageOps, UnidentifiedImageError

from ektp_core.devices.printers import CardData, RenderedCard
from ektp_core.domain.model import Biodata
from ektp_core.errors import EktpError

FONT_DIR = Path(__file__).resolve().parent / "fonts"
FONT_FILES = {False: "LiberationSans-Regular.ttf", True: "LiberationSans-Bold.ttf"}

#: The reference canvas the layout is drawn for; other canvases scale from it.
REF_W, REF_H = 1016, 648

#: The fields of the front in card order (DOMAIN.md), with their printed labels.
FRONT_FIELDS: tuple[tuple[str, str], ...] = (
    ("nik", "NIK"),
    ("nama", "Nama"),
    ("tempat_tgl_lahir", "Tempat/Tgl Lahir"),
    ("jenis_kelamin", "Jenis Kelamin"),
    ("golongan_darah", "Gol. Darah"),
    ("alamat", "Alamat"),
    ("rt_rw", "RT/RW"),
    ("kel_desa", "Kel/Desa"),
    ("kecamatan", "Kecamatan"),
    ("agama", "Agama"),
    ("status_perkawinan", "Status Perkawinan"),
    ("pekerjaan", "Pekerjaan"),
    ("kewarganegaraan", "Kewarganegaraan"),
    ("berlaku_hingga", "Berlaku Hingga"),
)

#: How many lines a value may take; fields not named here stay on one line (and shrink).
MAX_LINES = {"nama": 2, "tempat_tgl_lahir": 2, "alamat": 4, "kel_desa": 2, "kecamatan": 2, "pekerjaan": 2}
#: Rows printed indented under Alamat, as on the real card.
INDENTED = ("rt_rw", "kel_desa", "kecamatan")

#: The back's text, black resin only. Placeholder wording (the real back is usually pre-printed);
#: ``{issue_place}`` is filled in.
BACK_LINES: tuple[tuple[str, bool], ...] = (
    ("REPUBLIK INDONESIA", True),
    ("KARTU TANDA PENDUDUK ELEKTRONIK", True),
    ("Kartu ini milik Pemerintah Republik Indonesia dan berlaku sebagai identitas resmi penduduk.", False),
    (
        "Apabila menemukan kartu ini, harap dikembalikan ke Dinas Kependudukan dan Pencatatan Sipil {issue_place}.",
        False,
    ),
    (
        "Undang-Undang Nomor 24 Tahun 2013 tentang Perubahan atas Undang-Undang Nomor 23 Tahun 2006 "
        "tentang Administrasi Kependudukan.",
        False,
    ),
)

# Sizes in reference pixels (300 dpi on 1016 x 648): nominal, minimum.
HEADER_SIZE, HEADER_MIN = 30, 16
NIK_SIZE, NIK_MIN = 38, 26
BODY_SIZE, BODY_MIN = 26, 16
ISSUE_SIZE, ISSUE_MIN = 22, 14
BACK_SIZE, BACK_MIN = 22, 12
#: A value first shrinks on one line down to this fraction of its size before it wraps.
SOFT_SHRINK = 0.85

# Geometry in reference pixels.
MARGIN_X = 34
HEADER_ROWS = ((14, 56), (56, 98))
NIK_ROW = (102, 152)
BODY_TOP, BODY_BOTTOM = 156, 624
LABEL_X, COLON_X, VALUE_X = 34, 262, 284
INDENT = 28
GOL_DARAH_X = 470
PHOTO = (778, 112, 980, 415)  # 202 x 303: 2 x 3
VALUE_RIGHT = 764
ISSUE_COLUMN = (766, 992)
SIGNATURE_X = (772, 986)
SIGNATURE_MIN_H = 60
GAP = 8


class CardLayoutError(EktpError):
    """The card cannot be laid out: a value does not fit at the minimum size, or an image is unreadable."""


# --------------------------------------------------------------------------------------------------
# The laid-out card
# --------------------------------------------------------------------------------------------------


@attrs.frozen
class Box:
    """A rectangle in canvas pixels; ``x1`` and ``y1`` are exclusive."""

    x0: int
    y0: int
    x1: int
    y1: int

    @property
    def width(self) -> int:
        """Width in pixels."""
        return self.x1 - self.x0

    @property
    def height(self) -> int:
        """Height in pixels."""
        return self.y1 - self.y0

    def contains(self, other: Box) -> bool:
        """True when ``other`` lies wholly inside this box."""
        return self.x0 <= other.x0 and self.y0 <= other.y0 and other.x1 <= self.x1 and other.y1 <= self.y1

    def union(self, other: Box) -> Box:
        """The smallest box holding both."""
        return Box(min(self.x0, other.x0), min(self.y0, other.y0), max(self.x1, other.x1), max(self.y1, other.y1))


@attrs.frozen
class Line:
    """One drawn line of text: its origin (left end of the baseline) and its ink."""

    text: str
    x: int
    y: int
    ink: Box


@attrs.frozen
class TextBox:
    """One piece of text on the card: which field, which role, its box and where its ink falls."""

    field: str
    #: ``header``, ``label``, ``colon``, ``value``, ``issue`` or ``back``.
    role: str
    #: The whole text (the lines joined again are this text, up to the spaces where it wrapped).
    text: str
    font_size: int
    bold: bool
    box: Box
    lines: tuple[Line, ...]
    side: str = "front"

    @property
    def ink(self) -> Box:
        """The union of the lines' ink."""
        out = self.lines[0].ink
        for line in self.lines[1:]:
            out = out.union(line.ink)
        return out


@attrs.frozen
class CardLayout:
    """Every box of a card: what the renderer drew, for tests and for other tools."""

    width: int
    height: int
    texts: tuple[TextBox, ...]
    photo_box: Box
    signature_box: Box

    @property
    def canvas_box(self) -> Box:
        """The whole canvas."""
        return Box(0, 0, self.width, self.height)

    def front(self) -> list[TextBox]:
        """The front's text boxes."""
        return [t for t in self.texts if t.side == "front"]

    def back(self) -> list[TextBox]:
        """The back's text boxes (empty when the back is not printed)."""
        return [t for t in self.texts if t.side == "back"]

    def get(self, field: str, role: str = "value") -> TextBox:
        """The text box of one field and role (``KeyError`` when there is none)."""
        for t in self.texts:
            if t.field == field and t.role == role:
                return t
        raise KeyError(f"{field}/{role}")


# --------------------------------------------------------------------------------------------------
# Fonts and measuring
# --------------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=128)
def font(size: int, bold: bool = False) -> ImageFont.FreeTypeFont:
    """Liberation Sans (metric-compatible with Arial, the card's face) at ``size`` pixels, cached."""
    # BASIC layout: the same glyph positions whether or not Pillow was built with libraqm.
    return ImageFont.truetype(str(FONT_DIR / FONT_FILES[bold]), size, layout_engine=ImageFont.Layout.BASIC)


def _ink(f: ImageFont.FreeTypeFont, text: str) -> tuple[int, int, int, int]:
    """The ink of ``text`` relative to its origin (left end of the baseline)."""
    left, top, right, bottom = f.getbbox(text, anchor="ls")
    return int(left), int(top), int(right), int(bottom)


def _ink_width(f: ImageFont.FreeTypeFont, text: str) -> int:
    # A glyph with a negative left bearing is moved right so its ink starts at the box edge.
    left, _, right, _ = _ink(f, text)
    return right - min(left, 0)


_BREAKS_SPACE = re.compile(r"(?<= )")
_BREAKS_PUNCT = re.compile(r"(?<=[ /,.\-])")


def _wrap(f: ImageFont.FreeTypeFont, text: str, width: int, max_lines: int) -> list[str] | None:
    """Greedy wrap at spaces, else also after ``/ , . -``; None when it needs more than ``max_lines``."""
    for pattern in (_BREAKS_SPACE, _BREAKS_PUNCT):
        lines: list[str] = []
        current = ""
        ok = True
        for segment in pattern.split(text):
            if not segment:
                continue
            trial = current + segment
            if _ink_width(f, trial.strip()) <= width:
                current = trial
                continue
            if not current.strip() or _ink_width(f, segment.strip()) > width:
                ok = False  # one piece alone is wider than the line: try finer breaks, or a smaller size
                break
            lines.append(current.strip())
            current = segment.lstrip()
        if not ok:
            continue
        if current.strip():
            lines.append(current.strip())
        return lines if len(lines) <= max_lines else None
    return None


def _choose(
    text: str, width: int, *, size: int, min_size: int, bold: bool, max_lines: int, soft_shrink: float = SOFT_SHRINK
) -> tuple[int, list[str]]:
    """The size and lines for ``text`` in ``width`` pixels (see the module docstring for the order tried)."""
    soft = max(min_size, math.ceil(size * soft_shrink))
    for s in range(size, soft - 1, -1):
        if _ink_width(font(s, bold), text) <= width:
            return s, [text]
    if max_lines > 1:
        for s in range(size, min_size - 1, -1):
            lines = _wrap(font(s, bold), text, width, max_lines)
            if lines is not None:
                return s, lines
    else:
        for s in range(soft - 1, min_size - 1, -1):
            if _ink_width(font(s, bold), text) <= width:
                return s, [text]
    raise _NoFit(min_size, max_lines)


class _NoFit(Exception):
    def __init__(self, min_size: int, max_lines: int) -> None:
        super().__init__(f"does not fit in {max_lines} line(s) even at the minimum size of {min_size} px")


# --------------------------------------------------------------------------------------------------
# Layout
# --------------------------------------------------------------------------------------------------


class _Scale:
    """Reference pixels to canvas pixels: positions per axis, font sizes by the smaller factor."""

    def __init__(self, width: int, height: int) -> None:
        self.sx = width / REF_W
        self.sy = height / REF_H
        self.sf = min(self.sx, self.sy)

    def x(self, v: float) -> int:
        return round(v * self.sx)

    def y(self, v: float) -> int:
        return round(v * self.sy)

    def f(self, v: float) -> int:
        return max(4, round(v * self.sf))


def _place(
    field: str,
    role: str,
    text: str,
    lines: list[str],
    size: int,
    bold: bool,
    box: Box,
    baseline: int,
    *,
    step: int = 0,
    align: str = "left",
    side: str = "front",
) -> TextBox:
    """Put measured lines into ``box`` starting at ``baseline`` (``step`` pixels between baselines)."""
    f = font(size, bold)
    placed = []
    for i, line in enumerate(lines):
        left, top, right, bottom = _ink(f, line)
        width = right - min(left, 0)
        x = box.x0 - min(left, 0)
        if align == "center":
            x += (box.width - width) // 2
        y = baseline + i * step
        placed.append(Line(line, x, y, Box(x + left, y + top, x + right, y + bottom)))
    return TextBox(field, role, text, size, bold, box, tuple(placed), side)


def _centred_baseline(box: Box, size: int, bold: bool) -> int:
    ascent, descent = font(size, bold).getmetrics()
    return box.y0 + (box.height - ascent - descent) // 2 + ascent


def _fit_one(
    field: str,
    role: str,
    text: str,
    box: Box,
    *,
    size: int,
    min_size: int,
    bold: bool,
    align: str = "left",
    side: str = "front",
) -> TextBox:
    """A one-line text centred vertically in its box."""
    try:
        s, lines = _choose(text, box.width, size=size, min_size=min_size, bold=bold, max_lines=1)
    except _NoFit as exc:
        raise CardLayoutError(f"card layout: {field} {text!r} {exc}") from None
    return _place(field, role, text, lines, s, bold, box, _centred_baseline(box, s, bold), align=align, side=side)


def header_lines(biodata: Biodata) -> tuple[str, str]:
    """``PROVINSI <NAME>`` and ``KABUPATEN <NAME>`` / ``KOTA <NAME>`` as printed."""
    provinsi = biodata.provinsi
    if not provinsi.startswith("PROVINSI "):
        provinsi = f"PROVINSI {provinsi}"
    kab = biodata.kabupaten_kota
    if kab.startswith(("KAB. ", "KAB ")):
        kab = "KABUPATEN " + kab.split(" ", 1)[1].strip()
    elif not kab.startswith(("KABUPATEN ", "KOTA ")):
        kab = f"KABUPATEN {kab}"
    return provinsi, kab


def field_values(biodata: Biodata) -> dict[str, str]:
    """The printed value of every front field, by field name."""
    return {
        "nik": biodata.nik.value,
        "nama": biodata.nama,
        "tempat_tgl_lahir": f"{biodata.tempat_lahir}, {biodata.tanggal_lahir:%d-%m-%Y}",
        "jenis_kelamin": biodata.jenis_kelamin_label,
        "golongan_darah": biodata.golongan_darah,
        "alamat": biodata.alamat,
        "rt_rw": f"{biodata.rt}/{biodata.rw}",
        "kel_desa": biodata.kelurahan,
        "kecamatan": biodata.kecamatan,
        "agama": biodata.agama,
        "status_perkawinan": biodata.status_perkawinan,
        "pekerjaan": biodata.pekerjaan,
        "kewarganegaraan": biodata.kewarganegaraan.value,
        "berlaku_hingga": biodata.berlaku_hingga_label,
    }


@attrs.frozen
class _Row:
    """One body row before it has a vertical position."""

    fields: tuple[str, ...]  # the row's fields: one, or jenis_kelamin + golongan_darah
    sizes: tuple[int, ...]
    lines: tuple[tuple[str, ...], ...]
    ascent: int  # the most any line reaches above its baseline
    descent: int  # ... and below
    step: int  # baseline to baseline inside a wrapped value


def _body_rows(values: dict[str, str], boxes: dict[str, tuple[int, int]], cap: int, min_size: int) -> list[_Row]:
    """Choose the size and lines of every body value with ``cap`` as the largest size."""
    rows: list[_Row] = []
    body = [name for name, _ in FRONT_FIELDS[1:] if name != "golongan_darah"]
    for name in body:
        fields = (name, "golongan_darah") if name == "jenis_kelamin" else (name,)
        sizes, all_lines = [], []
        ascent = descent = step = 0
        for field in fields:
            x0, x1 = boxes[field]
            try:
                s, lines = _choose(
                    values[field], x1 - x0, size=cap, min_size=min_size, bold=False, max_lines=MAX_LINES.get(field, 1)
                )
            except _NoFit as exc:
                raise CardLayoutError(f"card layout: {field} {values[field]!r} {exc}") from None
            f = font(s)
            a, d = f.getmetrics()
            for line in lines:
                _, top, _, bottom = _ink(f, line)
                a, d = max(a, -top), max(d, bottom)
            ascent, descent = max(ascent, a), max(descent, d)
            step = max(step, a + d + max(1, round(s * 0.06)))
            sizes.append(s)
            all_lines.append(tuple(lines))
        rows.append(_Row(fields, tuple(sizes), tuple(all_lines), ascent, descent, step))
    return rows


def layout_card(card: CardData) -> CardLayout:
    """Lay out the card's text and image boxes; raises :class:`CardLayoutError` when something cannot fit."""
    width, height = card.canvas
    if width < 200 or height < 120 or not 1.45 < width / height < 1.75:
        raise CardLayoutError(f"card layout: canvas {width}x{height} is not an ID-1 card at a usable resolution")
    sc = _Scale(width, height)
    bio = card.biodata
    texts: list[TextBox] = []

    # Header: two centred bold lines over the whole card.
    for (y0, y1), field, line in zip(HEADER_ROWS, ("provinsi", "kabupaten_kota"), header_lines(bio), strict=True):
        box = Box(sc.x(MARGIN_X), sc.y(y0), sc.x(REF_W - MARGIN_X), sc.y(y1))
        texts.append(
            _fit_one(
                field, "header", line, box, size=sc.f(HEADER_SIZE), min_size=sc.f(HEADER_MIN), bold=True, align="center"
            )
        )

    values = field_values(bio)
    label_x1, colon_x0, colon_x1 = sc.x(COLON_X - GAP / 2), sc.x(COLON_X), sc.x(VALUE_X - 2)
    value_x0, value_x1 = sc.x(VALUE_X), sc.x(VALUE_RIGHT)

    # NIK: label, colon and value large and bold.
    nik_y0, nik_y1 = sc.y(NIK_ROW[0]), sc.y(NIK_ROW[1])
    for role, text, x0, x1 in (
        ("label", "NIK", sc.x(LABEL_X), label_x1),
        ("colon", ":", colon_x0, colon_x1),
        ("value", values["nik"], value_x0, value_x1),
    ):
        texts.append(
            _fit_one(
                "nik", role, text, Box(x0, nik_y0, x1, nik_y1), size=sc.f(NIK_SIZE), min_size=sc.f(NIK_MIN), bold=True
            )
        )
    texts.extend(_layout_body(values, sc))

    photo_box = Box(sc.x(PHOTO[0]), sc.y(PHOTO[1]), sc.x(PHOTO[2]), sc.y(PHOTO[3]))
    issue_texts, signature_box = _layout_issue(card, sc, photo_box)
    texts.extend(issue_texts)
    if card.back:
        texts.extend(_layout_back(card, sc))

    layout = CardLayout(width, height, tuple(texts), photo_box, signature_box)
    _check(layout)
    return layout


def _layout_body(values: dict[str, str], sc: _Scale) -> list[TextBox]:
    """The rows from Nama to Berlaku Hingga: labels, colons and values, flowing down the card."""
    label_x0, label_x1 = sc.x(LABEL_X), sc.x(COLON_X - GAP / 2)
    colon_x0, colon_x1 = sc.x(COLON_X), sc.x(VALUE_X - 2)
    value_x0, value_x1 = sc.x(VALUE_X), sc.x(VALUE_RIGHT)
    top, bottom = sc.y(BODY_TOP), sc.y(BODY_BOTTOM)
    labels = dict(FRONT_FIELDS)

    # Gol. Darah sits on the Jenis Kelamin row: its label at a fixed x, its value after its own colon.
    gd_label_x0 = sc.x(GOL_DARAH_X)
    jk_x1 = gd_label_x0 - sc.x(GAP * 2)

    for cap in range(sc.f(BODY_SIZE), sc.f(BODY_MIN) - 1, -1):
        # The labels' size: the largest up to the cap at which every label fits its column.
        label_size = cap
        while label_size > sc.f(BODY_MIN) and any(
            _ink_width(font(label_size), labels[n]) > label_x1 - label_x0 - (sc.x(INDENT) if n in INDENTED else 0)
            for n, _ in FRONT_FIELDS[1:]
        ):
            label_size -= 1
        gd_label_w = _ink_width(font(label_size), labels["golongan_darah"])
        gd_colon_x0 = gd_label_x0 + gd_label_w + sc.x(GAP)
        gd_value_x0 = gd_colon_x0 + _ink_width(font(label_size), ":") + sc.x(GAP)
        boxes = {name: (value_x0, value_x1) for name, _ in FRONT_FIELDS}
        boxes["jenis_kelamin"] = (value_x0, jk_x1)
        boxes["golongan_darah"] = (gd_value_x0, value_x1)
        # A value that does not fit at the minimum size raises here: a smaller cap would not help it.
        rows = _body_rows(values, boxes, cap, sc.f(BODY_MIN))
        la, ld = font(label_size).getmetrics()
        ascent = max([la, *(r.ascent for r in rows)])
        descent = max([ld, *(r.descent for r in rows)])
        extra = sum((max(len(lines) for lines in r.lines) - 1) * r.step for r in rows)
        pitch = min((bottom - top) // len(rows), (bottom - top - extra) // len(rows))
        if pitch < ascent + descent:
            continue  # the rows do not fit the card at this size: shrink them all
        pad = (pitch - ascent - descent) // 2
        out: list[TextBox] = []
        y = top
        for row in rows:
            n_lines = max(len(lines) for lines in row.lines)
            row_h = pitch + (n_lines - 1) * row.step
            baseline = y + pad + ascent
            for field, size, lines in zip(row.fields, row.sizes, row.lines, strict=True):
                x0, x1 = boxes[field]
                lx0 = (
                    gd_label_x0 if field == "golongan_darah" else label_x0 + (sc.x(INDENT) if field in INDENTED else 0)
                )
                lx1 = gd_label_x0 + gd_label_w + 1 if field == "golongan_darah" else label_x1
                cx0 = gd_colon_x0 if field == "golongan_darah" else colon_x0
                cx1 = gd_value_x0 - 1 if field == "golongan_darah" else colon_x1
                out.append(
                    _place(
                        field,
                        "label",
                        labels[field],
                        [labels[field]],
                        label_size,
                        False,
                        Box(lx0, y, lx1, y + pitch),
                        baseline,
                    )
                )
                out.append(_place(field, "colon", ":", [":"], label_size, False, Box(cx0, y, cx1, y + pitch), baseline))
                out.append(
                    _place(
                        field,
                        "value",
                        values[field],
                        list(lines),
                        size,
                        False,
                        Box(x0, y, x1, y + row_h),
                        baseline,
                        step=row.step,
                    )
                )
            y += row_h
        return out
    raise CardLayoutError(
        "card layout: the rows from Nama to Berlaku Hingga do not fit the card "
        f"even at the minimum size of {sc.f(BODY_MIN)} px"
    )


def _layout_issue(card: CardData, sc: _Scale, photo: Box) -> tuple[list[TextBox], Box]:
    """Place and date of issue under the photo, then the signature box down to the bottom of the body."""
    x0, x1 = sc.x(ISSUE_COLUMN[0]), sc.x(ISSUE_COLUMN[1])
    size, min_size = sc.f(ISSUE_SIZE), sc.f(ISSUE_MIN)
    place = " ".join(card.issue_place.upper().split())
    try:
        s, lines = _choose(place, x1 - x0, size=size, min_size=min_size, bold=False, max_lines=2)
    except _NoFit as exc:
        raise CardLayoutError(f"card layout: issue place {place!r} {exc}") from None
    ascent, descent = font(s).getmetrics()
    step = ascent + descent + max(1, round(s * 0.06))
    y = photo.y1 + sc.y(GAP)
    place_box = Box(x0, y, x1, y + step * len(lines))
    texts = [_place("issue_place", "issue", place, lines, s, False, place_box, y + ascent, step=step, align="center")]
    date = f"{card.issue_date:%d-%m-%Y}"
    date_box = Box(x0, place_box.y1, x1, place_box.y1 + step)
    texts.append(_fit_one("issue_date", "issue", date, date_box, size=s, min_size=min_size, bold=False, align="center"))
    signature = Box(sc.x(SIGNATURE_X[0]), date_box.y1 + sc.y(GAP // 2), sc.x(SIGNATURE_X[1]), sc.y(BODY_BOTTOM))
    if signature.height < sc.y(SIGNATURE_MIN_H):
        raise CardLayoutError(f"card layout: no room left for the signature under the place of issue {place!r}")
    return texts, signature


def _layout_back(card: CardData, sc: _Scale) -> list[TextBox]:
    """The back: a few centred lines in the middle of the card, in K only."""
    x0, x1 = sc.x(MARGIN_X * 2), sc.x(REF_W - MARGIN_X * 2)
    blocks: list[tuple[str, bool, int, list[str], int, int]] = []
    for template, bold in BACK_LINES:
        text = template.format(issue_place=" ".join(card.issue_place.split()))
        try:
            s, lines = _choose(
                text,
                x1 - x0,
                size=sc.f(BACK_SIZE + (6 if bold else 0)),
                min_size=sc.f(BACK_MIN),
                bold=bold,
                max_lines=3,
                soft_shrink=1.0,
            )  # one size for all the small print
        except _NoFit as exc:
            raise CardLayoutError(f"card layout: back line {text!r} {exc}") from None
        ascent, descent = font(s, bold).getmetrics()
        blocks.append((text, bold, s, lines, ascent, ascent + descent + max(1, round(s * 0.12))))
    total = sum(step * len(lines) for _, _, _, lines, _, step in blocks) + sc.y(GAP * 2)
    y = (sc.y(REF_H) - total) // 2
    if y < sc.y(GAP * 2):
        raise CardLayoutError("card layout: the back's text does not fit the card")
    out: list[TextBox] = []
    for i, (text, bold, s, lines, ascent, step) in enumerate(blocks):
        box = Box(x0, y, x1, y + step * len(lines))
        out.append(
            _place(
                f"back_{i + 1}", "back", text, lines, s, bold, box, y + ascent, step=step, align="center", side="back"
            )
        )
        # A gap between the two title lines and the small print.
        y = box.y1 + (sc.y(GAP * 2) if i == 1 else 0)
    return out


def _check(layout: CardLayout) -> None:
    """The guarantee, checked on every card: boxes inside the canvas, every line's ink inside its box."""
    canvas = layout.canvas_box
    for box in (layout.photo_box, layout.signature_box):
        if not canvas.contains(box):
            raise CardLayoutError(f"card layout: an image box {box} leaves the canvas")
    for t in layout.texts:
        if not canvas.contains(t.box):
            raise CardLayoutError(f"card layout: the box of {t.field} ({t.role}) leaves the canvas")
        for line in t.lines:
            if not t.box.contains(line.ink):
                raise CardLayoutError(f"card layout: {t.field} ({t.role}) {line.text!r} leaves its box")


# --------------------------------------------------------------------------------------------------
# Painting
# --------------------------------------------------------------------------------------------------

_BG_TOP, _BG_MID, _BG_BOTTOM = (186, 220, 242), (222, 240, 251), (194, 225, 244)
_GUILLOCHE = (168, 205, 233)
_ROSETTE = (176, 212, 238)


@functools.lru_cache(maxsize=4)
def _background(width: int, height: int) -> Image.Image:
    """The light-blue card ground with a fine guilloche; the same for every card, so it is cached."""

    def mix(a: tuple[int, int, int], b: tuple[int, int, int], t: float) -> tuple[int, int, int]:
        return (round(a[0] + (b[0] - a[0]) * t), round(a[1] + (b[1] - a[1]) * t), round(a[2] + (b[2] - a[2]) * t))

    column = [
        mix(_BG_TOP, _BG_MID, y / (height / 2))
        if y < height / 2
        else mix(_BG_MID, _BG_BOTTOM, (y - height / 2) / (height / 2))
        for y in range(height)
    ]
    strip = Image.new("RGB", (1, height))
    strip.putdata(column)
    bg = strip.resize((width, height), Image.Resampling.NEAREST)
    draw = ImageDraw.Draw(bg)
    sf = min(width / REF_W, height / REF_H)
    line_w = max(1, round(1.4 * sf))
    step = max(2, round(4 * sf))
    # Interlaced sine waves across the card, in pairs with opposite phase: the usual security-print look.
    for k in range(22):
        base = height * (0.08 + 0.042 * k)
        amp = height * (0.025 + 0.008 * (k % 3))
        period = width * (0.33 + 0.05 * (k % 4))
        for phase in (0.0, math.pi):
            wave = [
                (float(x), base + amp * math.sin(2 * math.pi * x / period + phase + k * 0.7))
                for x in range(0, width + step, step)
            ]
            draw.line(wave, fill=_GUILLOCHE, width=line_w)
    # A rosette (hypotrochoid: a circle of radius r rolling inside one of radius R) behind the text block.
    cx, cy = width * 0.43, height * 0.58
    big, small, pen = 7.0, 3.0, 2.4
    unit = min(width, height) * 0.34 / (big - small + pen)
    points = []
    for i in range(1501):
        t = 2 * math.pi * 3 * i / 1500
        turn = (big - small) / small * t
        points.append(
            (
                cx + unit * ((big - small) * math.cos(t) + pen * math.cos(turn)),
                cy + unit * ((big - small) * math.sin(t) - pen * math.sin(turn)),
            )
        )
    draw.line(points, fill=_ROSETTE, width=line_w)
    return bg


def _open_image(data: bytes, what: str, size_hint: tuple[int, int]) -> Image.Image:
    try:
        opened = Image.open(io.BytesIO(data))
        opened.draft("RGB", size_hint)  # JPEG: decode at a reduced scale when the file is much larger
        image = ImageOps.exif_transpose(opened)
        image.load()
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise CardLayoutError(f"card layout: the {what} is not a readable PNG or JPEG image ({exc})") from None
    return image


def _photo(data: bytes, box: Box) -> Image.Image:
    """The photo cropped to the box's aspect (a little above centre, to keep the head) and scaled."""
    image = _open_image(data, "photo", (box.width, box.height))
    if image.mode != "RGB":
        image = _flatten(image)
    return ImageOps.fit(image, (box.width, box.height), Image.Resampling.LANCZOS, centering=(0.5, 0.4))


def _flatten(image: Image.Image) -> Image.Image:
    """RGB on white (a transparent PNG keeps its transparent parts white)."""
    rgba = image.convert("RGBA")
    white = Image.new("RGB", rgba.size, (255, 255, 255))
    white.paste(rgba, mask=rgba.getchannel("A"))
    return white


# Signature pixels lighter than _PAPER are paper (transparent); darker than _PEN are fully pen.
_PAPER, _PEN = 225, 110
_SIGNATURE_ALPHA = [
    0 if v >= _PAPER else 255 if v <= _PEN else round((_PAPER - v) * 255 / (_PAPER - _PEN)) for v in range(256)
]


def _signature(data: bytes, box: Box) -> tuple[Image.Image, Image.Image, tuple[int, int]] | None:
    """The signature's strokes (colour and alpha) scaled into the box, or None when it has no ink."""
    image = _flatten(_open_image(data, "signature", (box.width, box.height)))
    alpha = image.convert("L").point(_SIGNATURE_ALPHA)
    ink = alpha.getbbox()
    if ink is None:
        return None
    image, alpha = image.crop(ink), alpha.crop(ink)
    ratio = min(box.width / image.width, box.height / image.height)
    size = (max(1, int(image.width * ratio)), max(1, int(image.height * ratio)))
    image = image.resize(size, Image.Resampling.LANCZOS)
    alpha = alpha.resize(size, Image.Resampling.LANCZOS)
    at = (box.x0 + (box.width - size[0]) // 2, box.y0 + (box.height - size[1]) // 2)
    return image, alpha, at


_THRESHOLD = [255 if v >= 128 else 0 for v in range(256)]


def _text_plane(size: tuple[int, int], texts: Iterable[TextBox]) -> Image.Image:
    """The K plane: text drawn antialiased, then thresholded (resin prints or it does not)."""
    plane = Image.new("L", size, 0)
    draw = ImageDraw.Draw(plane)
    for t in texts:
        f = font(t.font_size, t.bold)
        for line in t.lines:
            draw.text((line.x, line.y), line.text, fill=255, font=f, anchor="ls")
    return plane.point(_THRESHOLD)


@functools.lru_cache(maxsize=4)
def _full_plane(width: int, height: int) -> bytes:
    return b"\xff" * (width * height)


def _compose(rgb: Image.Image, k: Image.Image) -> Image.Image:
    """What a person sees: the colour panels with the black resin on top."""
    out = rgb.copy()
    out.paste((0, 0, 0), mask=k)
    return out


def _png(image: Image.Image, dpi: int) -> bytes:
    buffer = io.BytesIO()
    # Fast compression: the preview is written for every card and read by people, not archived.
    image.save(buffer, format="PNG", compress_level=1, dpi=(dpi, dpi))
    return buffer.getvalue()


def render_card_with_layout(card: CardData) -> tuple[RenderedCard, CardLayout]:
    """Render the card and return the layout it was drawn from (for tests and previews)."""
    layout = layout_card(card)
    size = (layout.width, layout.height)
    rgb = _background(*size).copy()
    rgb.paste(_photo(card.photo, layout.photo_box), (layout.photo_box.x0, layout.photo_box.y0))
    signature = _signature(card.signature, layout.signature_box)
    if signature is not None:
        strokes, alpha, at = signature
        rgb.paste(strokes, at, alpha)
    k = _text_plane(size, layout.front())
    back_k = _text_plane(size, layout.back()).tobytes() if card.back else None
    rendered = RenderedCard(
        width=layout.width,
        height=layout.height,
        dpi=card.dpi,
        rgb=rgb.tobytes(),
        k=k.tobytes(),
        overlay=_full_plane(*size),
        preview_png=_png(_compose(rgb, k), card.dpi),
        back_k=back_k,
    )
    return rendered, layout


def render_card(card: CardData) -> RenderedCard:
    """Lay out and render the KTP-el front (and the back when ``card.back``) as a :class:`RenderedCard`."""
    return render_card_with_layout(card)[0]


def preview_image(rendered: RenderedCard) -> Image.Image:
    """The rendered card's preview (front) as a Pillow image."""
    image = Image.open(io.BytesIO(rendered.preview_png))
    image.load()
    return image


def plane_image(rendered: RenderedCard, plane: str) -> Image.Image:
    """One plane of a rendered card as a Pillow image: ``rgb``, ``k``, ``overlay`` or ``back_k``."""
    size = (rendered.width, rendered.height)
    if plane == "rgb":
        return Image.frombytes("RGB", size, rendered.rgb)
    data = getattr(rendered, plane) if plane in ("k", "overlay", "back_k") else None
    if data is None:
        raise ValueError(f"no {plane} plane in this rendered card")
    return Image.frombytes("L", size, data)
