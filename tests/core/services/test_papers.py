"""Papers for the resident in the core: issuing (numbers, states, roles, audit), signed statements and
their checks (genuine, tampered, unknown key, retired key, expired), and the regency's published keys
(export at the Dukcapil node, import at a site checked against the Dukcapil node's pinned keys)."""

from __future__ import annotations

import datetime as dt
import json

import pytest
import sqlalchemy as sa

from ektp_core.domain.model import EnrolmentState, Operator, Role
from ektp_core.errors import EktpError, NotFound
from ektp_core.keys import crypto
from ektp_core.keys import paper_statements as ps
from ektp_core.lifecycle import audit
from ektp_core.lifecycle.service import LifecycleService
from ektp_core.messages import Message
from ektp_core.services.papers import PaperKind, PaperRefused, PaperService, add_months
from ektp_core.store.tables import papers
from ektp_core.testing import make_print_ready

E = EnrolmentState


@pytest.fixture
def lc(ektp_service):
    for name, role in (("op1", Role.OPERATOR), ("sup1", Role.SUPERVISOR), ("adm1", Role.ADMIN)):
        ektp_service.add_operator(
            Operator(username=name, full_name=f"Petugas {name.upper()}", role=role, site_code="17.71"), actor="test"
        )
    return ektp_service


def _queue(lc, enrolment_id):
    return lc.queue_print(enrolment_id, site_code="17.71", actor="op1", routing_reason="test").id


def _to_issued(lc, enrolment_id, job=None):
    job = job or _queue(lc, enrolment_id)
    lc.receive_blanks("17.71", ["BLK-000001"], actor="sup1")
    lc.reserve_blank(job, actor="op1")
    lc.mark_sent(job, actor="op1", printer="evolis-1")
    lc.mark_printed(job, actor="op1")
    reason = Message("reason.handed_over", position="right_index", score="80", threshold="40")
    lc.transition(enrolment_id, E.CARD_ISSUED, actor="op1", reason=reason)


def test_add_months_clamps_to_the_month_end():
    assert add_months(dt.date(2026, 1, 31), 1) == dt.date(2026, 2, 28)
    assert add_months(dt.date(2026, 8, 15), 6) == dt.date(2027, 2, 15)


def test_each_paper_is_numbered_per_site_and_kind_recorded_audited_and_given_again(lc):
    service = PaperService(lc)
    first = make_print_ready(lc, seed=1, nik="1771054101900021")
    second = make_print_ready(lc, seed=2, nik="1771054101900022")
    proof = service.issue(PaperKind.PROOF, first, actor="op1")
    assert proof.new and proof.number == f"BPR/17.71/{dt.date.today().year}/000001"
    assert service.issue("bukti", first, actor="op1") == attrs_evolve(proof, new=False)  # same paper again
    assert service.issue(PaperKind.PROOF, second, actor="op1").number.endswith("/000002")
    suket = service.issue(PaperKind.SUKET, first, actor="sup1")
    assert suket.number.startswith("SKT/17.71/") and suket.number.endswith("/000001")
    with lc.store.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(papers)).scalar_one() == 3
        issued = [e for e in audit.entries(conn) if e.action == "paper.issued"]
    second_proof = f"BPR/17.71/{dt.date.today().year}/000002"
    assert [e.detail["paper"] for e in issued] == [proof.number, second_proof, suket.number]
    assert issued[-1].subject_id == first and issued[-1].actor == "sup1"
    view = service.view(suket.number)
    assert view.valid_until == add_months(view.issued_at.astimezone().date(), 6)
    assert view.statement.valid_until == view.valid_until and view.statement.nik == view.enrolment.biodata.nik.value
    assert view.photo and view.signature and view.regency_name == "Kota Bengkulu"


def attrs_evolve(value, **changes):
    import attrs

    return attrs.evolve(value, **changes)


def test_refusals_leave_nothing_issued(lc):
    service = PaperService(lc)
    enrolment = make_print_ready(lc)
    with pytest.raises(EktpError, match="may not"):
        service.issue(PaperKind.SUKET, enrolment, actor="op1")  # a Suket needs a supervisor
    with pytest.raises(EktpError, match="not an account"):
        service.issue(PaperKind.PROOF, enrolment, actor="nobody")
    with pytest.raises(PaperRefused, match="handed over"):
        service.issue(PaperKind.RECEIPT, enrolment, actor="op1")
    with pytest.raises(NotFound):
        service.issue(PaperKind.PROOF, "no-such-enrolment", actor="op1")
    job = _queue(lc, enrolment)
    queued = service.issue(PaperKind.SUKET, enrolment, actor="sup1")  # queued, not printed: a Suket fits
    assert service.issue(PaperKind.SUKET, enrolment, actor="sup1").number == queued.number  # still valid: same one
    _to_issued(lc, enrolment, job)
    with pytest.raises(PaperRefused, match="not printed yet"):
        service.issue(PaperKind.SUKET, enrolment, actor="sup1")  # a Suket for an issued card
    with lc.store.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(papers)).scalar_one() == 1
    receipt = service.view(service.issue(PaperKind.RECEIPT, enrolment, actor="op1").number)
    assert receipt.statement.handed_over_on is not None
    assert receipt.handover is not None and receipt.handover.finger == "right_index"


def test_a_proof_needs_a_confirmed_recording(lc):
    from ektp_core.testing import make_enrolment

    enrolment = make_enrolment(site_code="17.71")
    lc.record(enrolment, [], {})
    with pytest.raises(PaperRefused, match="confirmed"):
        PaperService(lc).issue(PaperKind.PROOF, enrolment.id, actor="op1")
    lc.transition(enrolment.id, E.SENT_FOR_ENROLLMENT, actor="t")
    assert PaperService(lc).issue(PaperKind.PROOF, enrolment.id, actor="op1").new


def test_statements_check_genuine_and_every_refusal(lc):
    service = PaperService(lc)
    enrolment = make_print_ready(lc)
    number = service.issue(PaperKind.SUKET, enrolment, actor="sup1").number
    text = service.view(number).statement_text
    result = service.check(f"https://cek.example/cek?q={text}")
    assert result.genuine and result.statement.number == number and result.key_site == "17.71"
    # Tampered: the same statement with another name, keeping the signature.
    _prefix, body, signature = text.split(".")
    changed = json.loads(ps._unb64(body))
    changed["nama"] = "ORANG LAIN"
    forged = f"EKTP1.{ps._b64(crypto.canonical_json(changed))}.{signature}"
    assert service.check(forged).reason == "tampered"
    # Unknown key: a statement signed by a key the regency never published.
    stranger = crypto.new_signing_key()
    statement = ps.PaperStatement.from_body(changed)
    foreign = ps.sign(attrs_evolve(statement, kid=ps.key_id(crypto.public_key_text(stranger))), stranger)
    assert service.check(foreign).reason == "unknown_key"
    assert service.check("hello").reason == "malformed"
    assert service.check(text[:-3] + "!!!").reason in ("malformed", "tampered")
    # Expired: the day after its last valid day.
    until = service.view(number).valid_until
    lc.clock = lambda: dt.datetime.combine(until + dt.timedelta(days=2), dt.time(12), tzinfo=dt.UTC)
    expired = service.check(text)
    assert not expired.genuine and expired.reason == "expired" and expired.statement.number == number
    assert "valid until" in str(expired.message)


def test_a_retired_key_does_not_sign_papers_dated_after_it():
    key = crypto.new_signing_key()
    public = crypto.public_key_text(key)
    statement = ps.PaperStatement(
        kind=ps.PaperKind.PROOF,
        number="BPR/17.71/2026/000001",
        nik="1771054101900001",
        nama="SITI AMINAH",
        issued_on=dt.date(2026, 5, 2),
        site="17.71",
        kid=ps.key_id(public),
        recorded_on=dt.date(2026, 5, 1),
    )
    text = ps.sign(statement, key)
    retired = ps.TrustedKey("17.71", public, None, dt.datetime(2026, 5, 1, tzinfo=dt.UTC))
    with pytest.raises(ps.NotGenuine) as refused:
        ps.verify(text, [retired], today=dt.date(2026, 6, 1))
    assert refused.value.reason is ps.Reason.RETIRED_KEY
    other_site = ps.TrustedKey("17.71.05", public)
    with pytest.raises(ps.NotGenuine) as refused:
        ps.verify(text, [other_site], today=dt.date(2026, 6, 1))
    assert refused.value.reason is ps.Reason.UNKNOWN_KEY
    assert ps.verify(text, [ps.TrustedKey("17.71", public)], today=dt.date(2030, 1, 1))[0] == statement
    with pytest.raises(ValueError):
        ps.sign(statement, crypto.new_signing_key())  # a key other than the one the statement names


def test_published_keys_at_the_dukcapil_node(lc):
    service = PaperService(lc)
    document = service.export_keys()
    own = crypto.public_key_text(crypto.load_signing_key(lc.deployment.keys_dir))
    assert document["signed_by"] == own
    assert [k["key"] for k in document["body"]["keys"]] == [own]
    _at, keys = PaperService.read_keys_document(document, [own])
    assert keys == [ps.TrustedKey("17.71", own)]
    document["body"]["keys"].append(ps.TrustedKey("17.71.05", own).to_json())
    with pytest.raises(EktpError, match="refused"):
        PaperService.read_keys_document(document, [own])
    with pytest.raises(EktpError, match="publishes"):
        service.import_keys(document, actor="sup1")


def test_an_expired_suket_is_renewed_with_a_new_number_while_the_card_still_cannot_be_printed(lc):
    service = PaperService(lc)
    enrolment = make_print_ready(lc)
    first = service.issue(PaperKind.SUKET, enrolment, actor="sup1")
    until = service.view(first.number).valid_until
    lc.clock = lambda: dt.datetime.combine(until + dt.timedelta(days=1), dt.time(12), tzinfo=dt.UTC)
    assert service.check(service.view(first.number).statement_text).reason == "expired"
    renewed = service.issue(PaperKind.SUKET, enrolment, actor="sup1")
    assert renewed.new and renewed.number != first.number
    assert service.check(service.view(renewed.number).statement_text).genuine
    assert [p.number for p in service.papers_of(enrolment)] == [first.number, renewed.number]


def test_the_validity_comes_from_the_profile(lc):
    profile = lc.deployment.root / "profile.toml"
    profile.write_text(profile.read_text("utf-8") + "\n[papers]\nsuket_validity_months = 3\n", "utf-8")
    from ektp_core.config import find_deployment

    deployment = find_deployment(lc.deployment.root)
    assert PaperService(LifecycleService(lc.store, lc.hook, deployment)).suket_months == 3
    profile.write_text(profile.read_text("utf-8").replace("suket_validity_months = 3", "suket_validity_months = 0"))
    with pytest.raises(EktpError, match="suket_validity_months"):
        find_deployment(lc.deployment.root)
