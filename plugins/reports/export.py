"""A report as a file: CSV (machine names in the header, for other programs), XLSX and PDF (the
figures' names in the reader's language)."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable

from ektp_core.store.read_models.reports import SERVICE_TYPES, SITE_FIGURES, Report

#: The formats ``ektp report --format`` and the web page offer, with their media types.
FORMATS = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "pdf": "application/pdf",
}
#: Says a text of the reports' catalogue in the reader's language: (code, **values) -> text.
Say = Callable[..., str]


def render(report: Report, fmt: str, say: Say, *, site_names: dict[str, str] | None = None) -> bytes:
    """The report in ``fmt`` (one of :data:`FORMATS`); ``ValueError`` for another."""
    if fmt == "csv":
        return to_csv(report)
    if fmt == "xlsx":
        return to_xlsx(report, say, site_names or {})
    if fmt == "pdf":
        return to_pdf(report, say, site_names or {})
    raise ValueError(f"unknown report format {fmt!r} (expected one of {sorted(FORMATS)})")


def to_csv(report: Report) -> bytes:
    """One row per site and the regency's total, UTF-8 with a BOM (spreadsheets then read it right)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerows(report.csv_rows())
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def _site_rows(report: Report, site_names: dict[str, str]) -> list[tuple[str, list[int]]]:
    rows = [
        (f"{s.site} {site_names.get(s.site, '')}".strip(), [s.figures[n] for n in SITE_FIGURES]) for s in report.sites
    ]
    rows.append(("*", [report.totals[n] for n in SITE_FIGURES]))
    return rows


def to_xlsx(report: Report, say: Say, site_names: dict[str, str]) -> bytes:
    """Two sheets: the sites (with the regency's total) and the operators."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = say("report.sheet.sites")
    sheet.append([say("report.title", period=report.period.label)])
    sheet["A1"].font = Font(bold=True, size=13)
    sheet.append([say("report.site"), *(say(f"report.figure.{n}") for n in SITE_FIGURES)])
    for cell in sheet[2]:
        cell.font = Font(bold=True)
    for label, values in _site_rows(report, site_names):
        sheet.append([say("report.regency") if label == "*" else label, *values])
    operators = book.create_sheet(say("report.sheet.operators"))
    operators.append(
        [
            say("report.operator"),
            say("report.site"),
            *(say(f"report.figure.recorded_{t}") for t in SERVICE_TYPES),
            say("report.figure.handed_over"),
        ]
    )
    for o in report.operators:
        operators.append([o.operator, o.site, *(o.recorded[t] for t in SERVICE_TYPES), o.handed_over])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def to_pdf(report: Report, say: Say, site_names: dict[str, str]) -> bytes:
    """A landscape A4 page per block of sites: every figure as a row, the sites as columns."""
    from fpdf import FPDF

    pdf = FPDF(orientation="L", unit="mm", format="A4")
    pdf.set_auto_page_break(auto=True, margin=12)
    pdf.set_title(say("report.title", period=report.period.label))
    rows = _site_rows(report, site_names)
    per_page = 7
    for start in range(0, len(rows), per_page):
        block = rows[start : start + per_page]
        pdf.add_page()
        pdf.set_font("Helvetica", "B", 13)
        pdf.cell(0, 8, _latin(say("report.title", period=report.period.label)), new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("Helvetica", "", 8)
        label_width = 62
        width = (pdf.epw - label_width) / max(1, len(block))
        pdf.set_font("Helvetica", "B", 8)
        pdf.cell(label_width, 6, _latin(say("report.site")), border=1)
        for label, _values in block:
            name = say("report.regency") if label == "*" else label
            pdf.cell(width, 6, _latin(name)[:28], border=1, align="C")
        pdf.ln()
        pdf.set_font("Helvetica", "", 8)
        for i, name in enumerate(SITE_FIGURES):
            pdf.cell(label_width, 5.2, _latin(say(f"report.figure.{name}")), border=1)
            for _label, values in block:
                pdf.cell(width, 5.2, f"{values[i]:,}".replace(",", "."), border=1, align="R")
            pdf.ln()
    return bytes(pdf.output())


def _latin(text: str) -> str:
    # The PDF's core fonts cover Latin-1 only; Indonesian needs nothing more, a stray character is replaced.
    return text.encode("latin-1", "replace").decode("latin-1")
