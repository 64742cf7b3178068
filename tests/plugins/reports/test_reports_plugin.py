"""``ektp report`` and the report page: the core's figures as CSV, XLSX and PDF, and on the page with
charts; bad input refused with a clear message and no file written; the page for supervisors only."""

from __future__ import annotations

import csv
import datetime as dt
import io
from pathlib import Path

import pytest
from click.testing import CliRunner

from ektp_core.cli import cli
from ektp_core.config import Deployment
from ektp_core.lifecycle.service import LifecycleService
from ektp_core.store.read_models.reports import SITE_FIGURES, Period, build
from ektp_core.testing import issue_card, make_enrolment

MONTH = dt.date.today().strftime("%Y-%m")


@pytest.fixture
def worked(ektp_service: LifecycleService) -> LifecycleService:
    """Today: two cards issued, one recording sent, at the Dukcapil office."""
    lc = ektp_service
    for i, serial in enumerate(("BLK-000001", "BLK-000002")):
        e = lc.record(make_enrolment(nik=f"177105410190{i + 1:04d}"))
        issue_card(lc, e.id, serial)
    sent = lc.record(make_enrolment(nik="1771054101900003"))
    lc.transition(sent.id, "SENT_FOR_ENROLLMENT", actor="central")
    return lc


def _cli(deployment: Deployment, *args: str) -> object:
    return CliRunner().invoke(cli, ["report", *args, "-d", str(deployment.root)])


def test_a_month_as_csv_xlsx_and_pdf(worked: LifecycleService, ektp_deployment: Deployment, tmp_path: Path) -> None:
    with worked.store.read() as conn:
        expected = build(conn, Period.parse_month(MONTH), printing_sites=["17.71"])
    out = tmp_path / "r.csv"
    result = _cli(ektp_deployment, "--month", MONTH, "--format", "csv", "--out", str(out))
    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    rows = list(csv.reader(io.StringIO(out.read_text("utf-8-sig"))))
    assert rows[0] == ["period", "site", *SITE_FIGURES]
    dukcapil = {name: int(v) for name, v in zip(SITE_FIGURES, rows[1][2:], strict=True)}
    assert rows[1][1] == "17.71" and dukcapil == expected.sites[0].figures
    assert (dukcapil["recorded_baru"], dukcapil["printed"], dukcapil["handed_over"], dukcapil["sent"]) == (3, 2, 2, 3)

    xlsx = tmp_path / "r.xlsx"
    assert _cli(ektp_deployment, "--month", MONTH, "--format", "xlsx", "--out", str(xlsx)).exit_code == 0  # type: ignore[attr-defined]
    from openpyxl import load_workbook

    sheet = load_workbook(xlsx).worksheets[0]
    assert sheet["A1"].value == f"Laporan pelayanan {MONTH}"
    labels = [c.value for c in sheet[2]]
    assert labels[0] == "Lokasi" and "Kartu diserahkan" in labels
    assert sheet.cell(row=3, column=labels.index("Kartu diserahkan") + 1).value == 2

    pdf = tmp_path / "r.pdf"
    result = _cli(ektp_deployment, "--month", MONTH, "--format", "pdf", "--out", str(pdf), "--lang", "en")
    assert result.exit_code == 0  # type: ignore[attr-defined]
    assert pdf.read_bytes().startswith(b"%PDF-") and b"/Type /Page" in pdf.read_bytes()


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("--month", "2026-13"), "YYYY-MM"),
        (("--month", "2026-11", "--day", "2026-11-02"), "either --month"),
        (("--day", "2 November"), "YYYY-MM-DD"),
        (("--month", "2026-11", "--site", "99.99"), "not in the profile"),
    ],
)
def test_bad_input_is_refused_and_writes_nothing(
    ektp_deployment: Deployment, ektp_service: LifecycleService, tmp_path: Path, args: tuple[str, ...], says: str
) -> None:
    out = tmp_path / "r.csv"
    result = _cli(ektp_deployment, *args, "--out", str(out))
    assert result.exit_code == 1 and says in result.output  # type: ignore[attr-defined]
    assert not out.exists() and not list(tmp_path.glob("*.part"))


def test_the_page_shows_the_figures_and_charts_to_supervisors_only(browser, worked: LifecycleService) -> None:  # type: ignore[no-untyped-def]
    spv, op = browser("spv1"), browser("op1")  # one login each (logins are rate-limited)
    page = spv.get(f"/laporan?month={MONTH}").get_data(as_text=True)
    assert 'id="report-sites"' in page and "<svg" in page
    assert 'data-figure="handed_over"' in page and "Kartu diserahkan" in page
    assert browser("adm1").get("/laporan").status_code == 200
    assert op.get("/laporan").status_code == 403
    assert browser(None).get("/laporan").status_code in (302, 303)
    # Reached from the dashboard (the top menu has no room left), by those who may read it.
    assert 'id="reports-link"' in spv.get("/dashboard").get_data(as_text=True)
    assert 'id="reports-link"' not in op.get("/dashboard").get_data(as_text=True)
    # A bad month falls back to this month, with a message; a download in each format.
    assert "TTTT-BB" in spv.get("/laporan?month=kemarin", follow_redirects=True).get_data(as_text=True)
    for fmt, start in (("csv", b"\xef\xbb\xbfperiod"), ("xlsx", b"PK"), ("pdf", b"%PDF-")):
        answer = spv.get(f"/laporan/unduh?month={MONTH}&format={fmt}")
        assert answer.status_code == 200 and answer.data.startswith(start), fmt
    assert spv.get(f"/laporan/unduh?month={MONTH}&format=doc").status_code == 404
    assert op.get(f"/laporan/unduh?month={MONTH}&format=csv").status_code == 403
