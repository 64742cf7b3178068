"""A paper as a one-page PDF (fpdf2) with its QR code (segno), in Indonesian, A4 or 80 mm receipt width.

The PDF embeds the signed statement as a file (:data:`STATEMENT_FILE`), which ``ektp papers check``
reads back and verifies; the QR code carries the same text. Nothing else in the PDF is trusted.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Callable
from importlib import resources
from typing import Any

import segno
from fpdf import FPDF

from ektp_core.keys.paper_statements import PaperKind
from ektp_core.messages import Message, default_catalogues
from ektp_core.services.papers import PaperView

#: The embedded file that holds the signed statement.
STATEMENT_FILE = "ektp-statement.txt"
#: The widths a paper is printed at.
WIDTHS = ("a4", "80mm")
_FONT = "LiberationSans"


def _fonts() -> Any:
    return resources.files("ektp_plugins.printers.layout") / "fonts"


def _day(value: dt.date | dt.datetime | None) -> str:
    if value is None:
        return "-"
    if isinstance(value, dt.datetime):
        value = value.astimezone().date()
    return value.strftime("%d-%m-%Y")


def _place(regency_name: str) -> str:
    """The place a paper is signed at: the regency's name without ``Kota``/``Kabupaten``."""
    for prefix in ("Kota Administrasi ", "Kabupaten Administrasi ", "Kota ", "Kabupaten "):
        if regency_name.startswith(prefix):
            return regency_name[len(prefix) :].upper()
    return regency_name.upper()


def qr_png(text: str, *, scale: int = 4) -> bytes:
    """The QR code of a statement as a PNG (error correction M: a creased paper still scans)."""
    out = io.BytesIO()
    segno.make(text, error="m", micro=False).save(out, kind="png", scale=scale, border=2)
    return out.getvalue()


class _Page:
    """Writes one paper's lines at the given width."""

    def __init__(self, width: str, say: Callable[..., str], *, height: float = 400) -> None:
        if width not in WIDTHS:
            raise ValueError(f"width {width!r}: one of {list(WIDTHS)}")
        self.narrow = width == "80mm"
        self.say = say
        fmt: Any = (80, height) if self.narrow else "A4"
        pdf = FPDF(orientation="portrait", unit="mm", format=fmt)
        margin = 4 if self.narrow else 20
        pdf.set_margins(margin, margin, margin)
        pdf.set_auto_page_break(False)
        folder = _fonts()
        with resources.as_file(folder / "LiberationSans-Regular.ttf") as regular:
            pdf.add_font(_FONT, "", str(regular))
        with resources.as_file(folder / "LiberationSans-Bold.ttf") as bold:
            pdf.add_font(_FONT, "B", str(bold))
        pdf.add_page()
        self.pdf = pdf
        self.size = 8 if self.narrow else 10.5
        self.line = 3.8 if self.narrow else 5.6
        self.label_w = 29 if self.narrow else 48

    def text(self, value: str, *, bold: bool = False, size: float | None = None, align: str = "L") -> None:
        pdf = self.pdf
        pdf.set_font(_FONT, "B" if bold else "", size or self.size)
        pdf.multi_cell(0, self.line, value, align=align, new_x="LMARGIN", new_y="NEXT")

    def field(self, label: str, value: str, *, width: float | None = None) -> None:
        pdf = self.pdf
        pdf.set_font(_FONT, "", self.size)
        pdf.cell(self.label_w, self.line, label)
        pdf.cell(3, self.line, ":")
        pdf.multi_cell(width or 0, self.line, value, new_x="LMARGIN", new_y="NEXT")

    def gap(self, mm: float = 2) -> None:
        self.pdf.ln(mm)

    def rule(self) -> None:
        pdf = self.pdf
        pdf.set_line_width(0.4 if not self.narrow else 0.2)
        pdf.line(pdf.l_margin, pdf.get_y(), pdf.w - pdf.r_margin, pdf.get_y())
        self.gap(1.5)


def render_pdf(view: PaperView, *, width: str = "a4", language: str = "id") -> bytes:
    """One paper as PDF bytes. ``language`` picks the catalogue of its texts (Indonesian is the paper's
    language; English is for a reviewer). A receipt-printer paper is as long as its content: laid out
    once on a long page to measure it, then again on a page of that length."""
    catalogues = default_catalogues()

    def say(code: str, **params: Any) -> str:
        return catalogues.render(language, Message(code, **params))

    if width == "80mm":
        length = _layout(_Page(width, say), view, say).get_y() + 6
        return bytes(_layout(_Page(width, say, height=length), view, say).output())
    return bytes(_layout(_Page(width, say), view, say).output())


def _layout(page: _Page, view: PaperView, say: Callable[..., str]) -> FPDF:
    pdf = page.pdf
    bio = view.enrolment.biodata
    kind = view.kind
    pdf.set_title(f"{say(f'papers.pdf.title.{kind.value}')} {view.number}")
    pdf.set_author(view.site_name)
    pdf.set_subject(say(f"papers.pdf.title.{kind.value}"))
    pdf.set_creator("ektp")
    pdf.set_creation_date(view.issued_at)
    pdf.embed_file(
        bytes=view.statement_text.encode("ascii"),
        basename=STATEMENT_FILE,
        modification_date=view.issued_at,
        desc=say("papers.pdf.embedded"),
        mime_type="text/plain",
    )

    # The letterhead.
    head = 9 if page.narrow else 13
    page.text(say("papers.pdf.government", regency=view.regency_name.upper()), bold=True, size=head, align="C")
    page.text(say("papers.pdf.office"), bold=True, size=head - 1, align="C")
    page.text(view.site_name, size=page.size, align="C")
    page.gap(1)
    page.rule()
    page.gap(2)
    page.text(say(f"papers.pdf.title.{kind.value}"), bold=True, size=head, align="C")
    page.text(say("papers.pdf.number", number=view.number), align="C")
    page.gap(3)
    page.text(say(f"papers.pdf.intro.{kind.value}", site=view.site_name))
    page.gap(2)

    # The resident, as on the card; a Suket shows the pas foto beside the fields.
    top = pdf.get_y()
    photo_w = 0.0
    if kind is PaperKind.SUKET and view.photo and not page.narrow:
        photo_w = 30
        pdf.image(io.BytesIO(view.photo), x=pdf.w - pdf.r_margin - photo_w, y=top, w=photo_w, h=40)
    field_w = (pdf.w - pdf.l_margin - pdf.r_margin - page.label_w - 3 - photo_w - 4) if photo_w else None
    rows = [
        ("NIK", bio.nik.value),
        (say("papers.pdf.f.nama"), bio.nama),
        (say("papers.pdf.f.lahir"), f"{bio.tempat_lahir}, {_day(bio.tanggal_lahir)}"),
        (say("papers.pdf.f.kelamin"), bio.jenis_kelamin_label),
        (say("papers.pdf.f.alamat"), bio.alamat),
        (say("papers.pdf.f.rtrw"), f"{bio.rt}/{bio.rw}"),
        (say("papers.pdf.f.kelurahan"), bio.kelurahan),
        (say("papers.pdf.f.kecamatan"), bio.kecamatan),
        (say("papers.pdf.f.agama"), bio.agama),
        (say("papers.pdf.f.perkawinan"), bio.status_perkawinan),
        (say("papers.pdf.f.pekerjaan"), bio.pekerjaan),
        (say("papers.pdf.f.kewarganegaraan"), bio.kewarganegaraan.value),
    ]
    for label, value in rows:
        page.field(label, value, width=field_w)
    if photo_w:
        pdf.set_y(max(pdf.get_y(), top + 42))
    page.gap(2)

    # What the paper attests.
    statement = view.statement
    if kind in (PaperKind.PROOF, PaperKind.SUKET):
        page.field(say("papers.pdf.f.recorded_on"), _day(statement.recorded_on))
    if kind is PaperKind.RECEIPT:
        page.field(say("papers.pdf.f.handed_over_on"), _day(statement.handed_over_on))
        if view.handover is not None and view.handover.finger:
            page.field(say("papers.pdf.f.finger"), say(f"papers.pdf.finger.{view.handover.finger}"))
    if kind is PaperKind.SUKET:
        page.field(say("papers.pdf.f.valid_until"), _day(statement.valid_until))
    page.gap(2)
    page.text(say(f"papers.pdf.note.{kind.value}"))
    page.gap(4)

    # Signatures: the resident's (a receipt: the signature recorded on the pad) and the issuer's.
    place_date = f"{_place(view.regency_name)}, {_day(statement.issued_on)}"
    if kind is PaperKind.RECEIPT:
        page.text(say("papers.pdf.received_by"))
        if view.signature:
            pdf.image(io.BytesIO(view.signature), x=pdf.l_margin, y=pdf.get_y(), h=12 if page.narrow else 16)
            pdf.ln(13 if page.narrow else 17)
        else:
            page.gap(12)
        page.text(bio.nama, bold=True)
        page.text(say("papers.pdf.signature_note"), size=page.size - 2)
        page.gap(3)
    page.text(place_date)
    page.text(say(f"papers.pdf.issuer.{kind.value}"))
    page.gap(10 if page.narrow else 14)
    page.text(view.issued_by_name, bold=True)
    page.gap(3)

    # The QR code with the signed statement.
    qr = 34 if page.narrow else 40
    y = pdf.get_y() if page.narrow else max(pdf.get_y(), pdf.h - pdf.b_margin - qr - 14)
    x = (pdf.w - qr) / 2 if page.narrow else pdf.l_margin
    pdf.image(io.BytesIO(qr_png(view.statement_text)), x=x, y=y, w=qr, h=qr)
    pdf.set_y(y + qr + 1)
    page.text(say("papers.pdf.qr_note"), size=page.size - 1.5, align="C" if page.narrow else "L")
    page.text(say("papers.pdf.key", kid=statement.kid), size=page.size - 2, align="C" if page.narrow else "L")
    if pdf.page_no() != 1:
        raise RuntimeError("a paper must fit on one page")
    return pdf
