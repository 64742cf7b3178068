"""The papers in the web UI: the buttons on the enrolment page for the roles and states that fit,
issuing by POST (CSRF checked) then the PDF, refusals shown, and the public page /cek (GET with the QR
text, POST with the PDF and its CSRF token)."""

from __future__ import annotations

import io
import re

import pytest
from papers_kit import hand_over, pdf_text, queue

from ektp_core.services.papers import PaperService
from ektp_core.testing import make_print_ready


@pytest.fixture
def lc(web_app):
    return web_app.extensions["ektp_node"].lifecycle


def _forms(html: str) -> list[str]:
    return re.findall(r'id="paper-(\w+)"', html)


def test_buttons_follow_the_state_and_the_role(lc, browser):
    enrolment = make_print_ready(lc)
    op, spv = browser("op1"), browser("spv1")
    assert _forms(op.get(f"/enrolments/{enrolment}").get_data(as_text=True)) == ["bukti"]
    assert _forms(spv.get(f"/enrolments/{enrolment}").get_data(as_text=True)) == ["bukti", "suket"]
    hand_over(lc, enrolment)
    assert _forms(spv.get(f"/enrolments/{enrolment}").get_data(as_text=True)) == ["bukti", "terima"]
    handover = op.get(f"/handover?nik={lc.get(enrolment).biodata.nik.value}").get_data(as_text=True)
    assert _forms(handover) == ["bukti", "terima"]


def test_issue_then_download_the_pdf(lc, browser):
    enrolment = make_print_ready(lc)
    queue(lc, enrolment)
    spv = browser("spv1")
    spv.get(f"/enrolments/{enrolment}")
    issued = spv.post(f"/enrolments/{enrolment}/papers/suket", {"width": "80mm"})
    assert issued.status_code == 303
    assert issued.headers["Location"].endswith(f"/enrolments/{enrolment}/papers/suket.pdf?width=80mm")
    pdf = spv.get(issued.headers["Location"])
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf"
    assert "SURAT KETERANGAN PENGGANTI KTP-EL" in " ".join(pdf_text(pdf.data)[0].split())
    assert "diterbitkan dengan nomor SKT/17.71/" in spv.get(f"/enrolments/{enrolment}").get_data(as_text=True)
    # Nothing is issued by a GET: a paper never issued is not found.
    assert spv.get(f"/enrolments/{enrolment}/papers/bukti.pdf").status_code == 404
    assert spv.get(f"/enrolments/{enrolment}/papers/nothing.pdf").status_code == 404


def test_refusals_roles_and_csrf(lc, browser):
    enrolment = make_print_ready(lc)
    op = browser("op1")
    op.get(f"/enrolments/{enrolment}")
    refused = op.post(f"/enrolments/{enrolment}/papers/suket", {"width": "a4"})  # a Suket needs a supervisor
    assert refused.status_code == 303 and refused.headers["Location"].endswith(f"/enrolments/{enrolment}")
    assert "Surat tidak diterbitkan" in op.get(f"/enrolments/{enrolment}").get_data(as_text=True)
    assert op.post(f"/enrolments/{enrolment}/papers/bukti", {"csrf_token": "wrong"}).status_code == 400
    assert browser("adm1").post(f"/enrolments/{enrolment}/papers/bukti").status_code == 403
    anonymous = browser(None)
    assert anonymous.get(f"/enrolments/{enrolment}/papers/bukti.pdf").status_code == 302  # to the login page
    assert PaperService(lc).papers_of(enrolment) == []


def test_the_public_check_page(lc, browser):
    enrolment = make_print_ready(lc)
    spv = browser("spv1")
    spv.get(f"/enrolments/{enrolment}")
    location = spv.post(f"/enrolments/{enrolment}/papers/bukti", {"width": "a4"}).headers["Location"]
    data = spv.get(location).data
    text = PaperService(lc).latest(enrolment, "bukti").statement
    visitor = browser(None)
    page = visitor.get("/cek")
    assert page.status_code == 200 and 'id="cek-text"' in page.get_data(as_text=True)
    genuine = visitor.get("/cek", query_string={"q": text}).get_data(as_text=True)
    assert 'data-genuine="yes"' in genuine and lc.get(enrolment).biodata.nama in genuine
    assert "Asli: Bukti perekaman nomor BPR/17.71/" in genuine
    tampered = text[:-4] + ("AAAA" if not text.endswith("AAAA") else "BBBB")
    found = visitor.get("/cek", query_string={"q": tampered}).get_data(as_text=True)
    assert 'data-genuine="no"' in found
    uploaded = visitor.post("/cek", {"file": (io.BytesIO(data), "bukti.pdf")}, content_type="multipart/form-data")
    assert uploaded.status_code == 200 and 'data-genuine="yes"' in uploaded.get_data(as_text=True)
    not_pdf = visitor.post("/cek", {"file": (io.BytesIO(b"hello"), "x.pdf")}, content_type="multipart/form-data")
    assert 'data-reason="malformed"' in not_pdf.get_data(as_text=True)
    no_token = visitor.post(
        "/cek", {"file": (io.BytesIO(data), "b.pdf")}, csrf=False, content_type="multipart/form-data"
    )
    assert no_token.status_code == 400
