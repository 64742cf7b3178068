"""``ektp papers``: each paper written as a PDF, refusals with exit 1 and nothing issued, ``check`` exit
codes (0 genuine, 1 not genuine) on a PDF, a QR text and a tampered PDF, and ``keys``."""

from __future__ import annotations

import json

import attrs
import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from ektp_plugins.papers.render import render_pdf
from papers_kit import hand_over, pdf_text, queue

from ektp_core.cli import cli
from ektp_core.domain.model import Operator, Role
from ektp_core.keys import crypto
from ektp_core.keys import paper_statements as ps
from ektp_core.services.papers import PaperService
from ektp_core.store.tables import papers
from ektp_core.testing import make_print_ready


@pytest.fixture
def lc(ektp_service):
    for name, role in (("op1", Role.OPERATOR), ("spv1", Role.SUPERVISOR)):
        ektp_service.add_operator(Operator(username=name, full_name=name, role=role, site_code="17.71"), actor="t")
    return ektp_service


@pytest.fixture
def run(ektp_deployment):
    runner = CliRunner()

    def invoke(*args):
        return runner.invoke(cli, [*args, "-d", str(ektp_deployment.root)])

    return invoke


def _count(lc):
    with lc.store.read() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(papers)).scalar_one()


def test_each_paper_from_the_cli_and_its_check(lc, run, tmp_path):
    enrolment = make_print_ready(lc)
    queue(lc, enrolment)
    out = tmp_path / "suket.pdf"
    result = run("papers", "suket", enrolment, "--out", str(out), "--width", "80mm", "--as", "spv1")
    assert result.exit_code == 0, result.output
    assert "SKT/17.71/" in result.output and "SURAT KETERANGAN" in " ".join(pdf_text(out.read_bytes())[0].split())
    again = run("papers", "suket", enrolment, "--out", str(tmp_path / "again.pdf"), "--as", "spv1")
    assert again.exit_code == 0 and "the same paper again" in again.output and _count(lc) == 1
    proof = run("papers", "proof", enrolment, "--out", str(tmp_path / "proof.pdf"), "--as", "op1")
    assert proof.exit_code == 0, proof.output

    checked = run("papers", "check", str(out), "--json")
    assert checked.exit_code == 0, checked.output
    found = json.loads(checked.output)
    assert found["genuine"] and found["statement"]["kind"] == "suket" and found["key_site"] == "17.71"
    text = PaperService(lc).view(found["statement"]["number"]).statement_text
    assert run("papers", "check", text).exit_code == 0
    assert "GENUINE" in run("papers", "check", text).output

    # A PDF made with a changed statement (another name), the signature kept: tampered.
    view = PaperService(lc).view(found["statement"]["number"])
    _prefix, body, signature = text.split(".")
    changed = json.loads(ps._unb64(body))
    changed["nama"] = "ORANG LAIN"
    forged_text = f"EKTP1.{ps._b64(crypto.canonical_json(changed))}.{signature}"
    bad = tmp_path / "forged.pdf"
    bad.write_bytes(render_pdf(attrs.evolve(view, statement_text=forged_text)))
    refused = run("papers", "check", str(bad), "--json")
    assert refused.exit_code == 1
    assert json.loads(refused.output)["reason"] == "tampered"
    assert run("papers", "check", "not a statement").exit_code == 1
    plain = tmp_path / "plain.pdf"
    plain.write_bytes(b"%PDF-1.4 nothing here")
    assert run("papers", "check", str(plain)).exit_code == 1


def test_refusals_exit_1_and_issue_nothing(lc, run, tmp_path):
    enrolment = make_print_ready(lc)
    out = tmp_path / "x.pdf"
    wrong_role = run("papers", "suket", enrolment, "--out", str(out), "--as", "op1")
    assert wrong_role.exit_code == 1 and "may not" in wrong_role.output
    early = run("papers", "receipt", enrolment, "--out", str(out), "--as", "op1")
    assert early.exit_code == 1 and "handed over" in early.output
    unknown = run("papers", "proof", "no-such", "--out", str(out), "--as", "op1")
    assert unknown.exit_code == 1
    hand_over(lc, enrolment)
    issued = run("papers", "suket", enrolment, "--out", str(out), "--as", "spv1")
    assert issued.exit_code == 1 and "not printed yet" in issued.output
    assert not out.exists() and _count(lc) == 0
    assert run("papers", "receipt", enrolment, "--out", str(out), "--as", "op1").exit_code == 0 and out.exists()


def test_keys_at_the_dukcapil_node(lc, run, tmp_path):
    out = tmp_path / "keys.json"
    result = run("papers", "keys", "--out", str(out))
    assert result.exit_code == 0, result.output
    document = json.loads(out.read_text())
    assert document["body"]["kind"] == "ektp.paper_keys" and len(document["body"]["keys"]) == 1
    refused = run("papers", "keys", "--import", str(out), "--as", "spv1")
    assert refused.exit_code == 1 and "publishes" in refused.output
    listed = run("papers", "keys")
    assert listed.exit_code == 0 and listed.output.startswith("17.71\t")
