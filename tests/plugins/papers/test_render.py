"""Each paper renders as a one-page PDF in Indonesian (A4 and 80 mm), parsed back with pypdf: its text,
its size, and the signed statement it embeds, which verifies; the QR code holds the same statement."""

from __future__ import annotations

import pytest
from ektp_plugins.papers.reading import statement_of_pdf
from ektp_plugins.papers.render import STATEMENT_FILE, qr_png, render_pdf
from papers_kit import hand_over, pdf_text, queue

from ektp_core.domain.model import Operator, Role
from ektp_core.keys import paper_statements as ps
from ektp_core.services.papers import PaperKind, PaperService
from ektp_core.testing import make_print_ready

MM = 72 / 25.4


@pytest.fixture
def lc(ektp_service):
    for name, role in (("op1", Role.OPERATOR), ("spv1", Role.SUPERVISOR)):
        ektp_service.add_operator(
            Operator(username=name, full_name=f"Petugas {name.upper()}", role=role, site_code="17.71"), actor="t"
        )
    return ektp_service


EXPECTED = {
    PaperKind.PROOF: ("BUKTI PEREKAMAN KTP-EL", "Tanggal perekaman", "Petugas perekaman"),
    PaperKind.RECEIPT: ("TANDA TERIMA KTP-EL", "Tanggal penyerahan", "Telunjuk kanan", "Yang menerima"),
    PaperKind.SUKET: ("SURAT KETERANGAN PENGGANTI KTP-EL", "Berlaku sampai", "a.n. Kepala Dinas"),
}


@pytest.mark.parametrize("width", ["a4", "80mm"])
@pytest.mark.parametrize("kind", list(PaperKind))
def test_each_paper_renders_on_one_page_in_indonesian_with_its_signed_statement(lc, kind, width):
    service = PaperService(lc)
    enrolment = make_print_ready(lc)
    if kind is PaperKind.RECEIPT:
        hand_over(lc, enrolment)
    elif kind is PaperKind.SUKET:
        queue(lc, enrolment)  # queued, not printed (no blanks): a Suket stands in
    issued = service.issue(kind, enrolment, actor="spv1")
    view = service.view(issued.number)
    data = render_pdf(view, width=width)
    text, pages, files, box = pdf_text(data)
    assert pages == 1
    if width == "a4":
        assert (round(float(box.width) / MM), round(float(box.height) / MM)) == (210, 297)
    else:
        assert round(float(box.width) / MM) == 80
    flat = " ".join(text.split())
    for wanted in (*EXPECTED[kind], "PEMERINTAH KOTA BENGKULU", "DINAS KEPENDUDUKAN DAN PENCATATAN SIPIL"):
        assert wanted in flat, (wanted, flat)
    bio = view.enrolment.biodata
    assert bio.nik.value in flat and bio.nama in flat and issued.number in flat
    assert "the " not in flat.lower().replace("the signed", "")  # Indonesian, not English
    assert list(files) == [STATEMENT_FILE]
    embedded = statement_of_pdf(data)
    assert embedded == view.statement_text
    statement, key = ps.verify(embedded, service.trusted_keys(), today=view.issued_at.date())
    assert statement.kind is kind and statement.number == issued.number and statement.nik == bio.nik.value
    assert key.site == "17.71"
    assert service.check(embedded).genuine


def test_the_qr_code_is_a_png_of_the_statement():
    png = qr_png("EKTP1.abc.def")
    assert png.startswith(b"\x89PNG")


def test_a_pdf_without_a_statement_or_not_a_pdf_is_malformed(lc):
    from fpdf import FPDF

    plain = FPDF()
    plain.add_page()
    with pytest.raises(ps.NotGenuine) as refused:
        statement_of_pdf(bytes(plain.output()))
    assert refused.value.reason is ps.Reason.MALFORMED
    with pytest.raises(ps.NotGenuine):
        statement_of_pdf(b"%PDF-1.7 garbage")
