"""The lifecycle service: legal and illegal moves, print jobs, the blank ledger, the audit trail."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from ektp_core import hookimpl
from ektp_core.domain.model import EnrolmentState as E
from ektp_core.domain.model import Operator, Role
from ektp_core.domain.model import PrintJobState as J
from ektp_core.errors import Conflict, EktpError, IllegalTransition, NotFound, ValidationFailed
from ektp_core.events import ValidationProblem
from ektp_core.keys import crypto
from ektp_core.lifecycle import audit
from ektp_core.lifecycle.service import LifecycleService
from ektp_core.lifecycle.states import ENROLMENT_TRANSITIONS
from ektp_core.store.tables import enrolments
from ektp_core.testing import make_enrolment

SITE = "17.71"


def _print_ready(service: LifecycleService) -> str:
    e = service.record(make_enrolment())
    for state in (E.SENT_FOR_ENROLLMENT, E.RECEIVED_AT_CENTRAL, E.PRINT_READY_RECORD):
        service.transition(e.id, state, actor="central")
    return e.id


def _audit_ok(service: LifecycleService) -> int:
    with service.store.read() as conn:
        result = audit.verify(conn)
    assert result.ok, result
    return result.checked


def test_enrolment_walks_the_siak_path(ektp_service: LifecycleService) -> None:
    e = ektp_service.record(make_enrolment())
    assert e.state is E.BIO_CAPTURED
    eid = _print_ready(ektp_service)
    assert ektp_service.get(eid).state is E.PRINT_READY_RECORD
    states = [entry.detail["to"] for entry in ektp_service.history(eid)]
    assert states == ["BIO_CAPTURED", "SENT_FOR_ENROLLMENT", "RECEIVED_AT_CENTRAL", "PRINT_READY_RECORD"]
    _audit_ok(ektp_service)


def test_illegal_transition_changes_nothing(ektp_service: LifecycleService) -> None:
    e = ektp_service.record(make_enrolment())
    before = _audit_ok(ektp_service)
    with pytest.raises(IllegalTransition, match="cannot go from BIO_CAPTURED to PRINT_READY_RECORD"):
        ektp_service.transition(e.id, E.PRINT_READY_RECORD, actor="x")
    assert ektp_service.get(e.id).state is E.BIO_CAPTURED
    assert _audit_ok(ektp_service) == before


def test_terminal_states_have_no_way_out(ektp_service: LifecycleService) -> None:
    for state in (E.CARD_ISSUED, E.ENROLLMENT_CANCELLED):
        assert ENROLMENT_TRANSITIONS[state] == frozenset()
    # The centre's refusals end there, but for a supervisor's cancellation (which frees the NIK).
    for state in (E.DUPLICATE_RECORD, E.ENROLL_FAILURE_AT_CENTRAL):
        assert ENROLMENT_TRANSITIONS[state] == frozenset({E.ENROLLMENT_CANCELLED})


def test_unknown_enrolment_is_a_clear_error(ektp_service: LifecycleService) -> None:
    with pytest.raises(NotFound, match="no enrolment 'nope'"):
        ektp_service.transition("nope", E.SENT_FOR_ENROLLMENT, actor="x")


def test_duplicate_submission_is_refused_and_stores_nothing(ektp_service: LifecycleService) -> None:
    e = make_enrolment()
    ektp_service.record(e)
    with pytest.raises(Conflict, match="already exists"):
        ektp_service.record(e)
    with ektp_service.store.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(enrolments)).scalar_one() == 1


def test_second_open_enrolment_for_a_nik_is_refused(ektp_service: LifecycleService) -> None:
    first = ektp_service.record(make_enrolment())
    again = make_enrolment(nik=first.biodata.nik.value)
    with pytest.raises(Conflict, match="in progress"):
        ektp_service.record(again)


def test_nik_contradicting_biodata_is_refused(ektp_service: LifecycleService) -> None:
    bad = make_enrolment(nik="1771050101900001")  # a man's NIK for a woman
    with pytest.raises(ValidationFailed, match="sex L"):
        ektp_service.record(bad)
    with ektp_service.store.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(enrolments)).scalar_one() == 0


def test_minor_who_never_married_is_not_eligible(ektp_service: LifecycleService) -> None:
    import datetime as dt

    young = dt.date.today().replace(year=dt.date.today().year - 15, day=1)
    with pytest.raises(ValidationFailed, match="never married"):
        ektp_service.record(make_enrolment(tanggal_lahir=young, status_perkawinan="BELUM KAWIN"))
    # married at 16: eligible
    ektp_service.record(make_enrolment(tanggal_lahir=young, status_perkawinan="KAWIN"))


def test_validation_hooks_from_plugins_are_all_collected(ektp_service: LifecycleService, ektp_register_plugin) -> None:
    class NoTestNames:
        @hookimpl
        def ektp_validate_enrolment(self, enrolment):
            return [ValidationProblem("no test names", field="nama")] if "TEST" in enrolment.biodata.nama else []

    ektp_register_plugin(NoTestNames(), "no-test-names")
    with pytest.raises(ValidationFailed) as info:
        ektp_service.record(make_enrolment(nama="TEST PERSON", nik="1771050101900001"))
    assert any("no test names" in p for p in info.value.problems)
    assert any("sex" in p for p in info.value.problems)


def test_after_transition_hook_sees_committed_changes(ektp_service: LifecycleService, ektp_register_plugin) -> None:
    seen = []

    class Listener:
        @hookimpl
        def ektp_after_transition(self, transition):
            seen.append((transition.kind, transition.from_state, transition.to_state, transition.audit_seq))

    ektp_register_plugin(Listener(), "listener")
    e = ektp_service.record(make_enrolment())
    ektp_service.transition(e.id, E.SENT_FOR_ENROLLMENT, actor="op")
    assert [s[:3] for s in seen] == [
        ("enrolment", None, "BIO_CAPTURED"),
        ("enrolment", "BIO_CAPTURED", "SENT_FOR_ENROLLMENT"),
    ]
    assert seen[0][3] < seen[1][3]


def test_a_failing_listener_does_not_undo_the_change(ektp_service: LifecycleService, ektp_register_plugin) -> None:
    class Broken:
        @hookimpl
        def ektp_after_transition(self, transition):
            raise RuntimeError("listener down")

    ektp_register_plugin(Broken(), "broken-listener")
    e = ektp_service.record(make_enrolment())
    assert ektp_service.get(e.id).state is E.BIO_CAPTURED


# ------------------------------------------------------------------------------------------------
# Printing and the ledger
# ------------------------------------------------------------------------------------------------


def test_print_job_happy_path_balances_the_ledger(ektp_service: LifecycleService) -> None:
    eid = _print_ready(ektp_service)
    ektp_service.receive_blanks(SITE, ["BLK-0001", "BLK-0002"], actor="sup")
    job = ektp_service.queue_print(eid, site_code=SITE, actor="op", routing_reason="test")
    assert ektp_service.get(eid).state is E.SENT_FOR_CARD_PRINTING
    job = ektp_service.reserve_blank(job.id, actor="op")
    assert job.blank_serial == "BLK-0001"
    ektp_service.mark_sent(job.id, actor="op", printer="evolis-1")
    job = ektp_service.mark_printed(job.id, actor="op")
    assert job.state is J.PRINTED
    assert ektp_service.get(eid).state is E.CARD_PRINTED
    ledger = ektp_service.ledger(SITE)
    assert (ledger.received, ledger.in_stock, ledger.printed) == (2, 1, 1) and ledger.balanced


def test_queue_refuses_an_enrolment_that_is_not_print_ready(ektp_service: LifecycleService) -> None:
    e = ektp_service.record(make_enrolment())
    with pytest.raises(IllegalTransition):
        ektp_service.queue_print(e.id, site_code=SITE, actor="op", routing_reason="x")
    assert ektp_service.jobs() == []


def test_reserve_without_blanks_consumes_nothing(ektp_service: LifecycleService) -> None:
    job = ektp_service.queue_print(_print_ready(ektp_service), site_code=SITE, actor="op", routing_reason="x")
    with pytest.raises(Conflict, match="no blank cards in stock"):
        ektp_service.reserve_blank(job.id, actor="op")
    assert ektp_service.jobs()[0].state is J.QUEUED


def test_spoiled_card_needs_requeue_by_an_operator(ektp_service: LifecycleService) -> None:
    eid = _print_ready(ektp_service)
    ektp_service.receive_blanks(SITE, ["BLK-0001", "BLK-0002"], actor="sup")
    job = ektp_service.reserve_blank(
        ektp_service.queue_print(eid, site_code=SITE, actor="op", routing_reason="x").id, actor="op"
    )
    ektp_service.mark_sent(job.id, actor="op", printer="p")
    ektp_service.mark_spoiled(job.id, actor="op", reason="ribbon ended mid-card")
    ledger = ektp_service.ledger(SITE)
    assert (ledger.spoiled, ledger.in_stock) == (1, 1) and ledger.balanced
    # nothing re-queued automatically
    assert [j.state for j in ektp_service.jobs()] == [J.SPOILED]
    new = ektp_service.requeue(job.id, actor="op")
    assert new.state is J.QUEUED and new.enrolment_id == eid
    with pytest.raises(EktpError):
        ektp_service.requeue(job.id, actor="op")  # the open job already exists


def test_unknown_job_is_resolved_only_by_a_supervisor(ektp_service: LifecycleService) -> None:
    eid = _print_ready(ektp_service)
    ektp_service.receive_blanks(SITE, ["BLK-0001"], actor="sup")
    job = ektp_service.reserve_blank(
        ektp_service.queue_print(eid, site_code=SITE, actor="op", routing_reason="x").id, actor="op"
    )
    ektp_service.mark_sent(job.id, actor="op", printer="p")
    ektp_service.mark_unknown(job.id, actor="op", reason="printer vanished")
    with pytest.raises(IllegalTransition):
        ektp_service.mark_printed(job.id, actor="op")
    for username, role in (("op1", Role.OPERATOR), ("sup1", Role.SUPERVISOR)):
        ektp_service.add_operator(
            Operator(
                username=username,
                full_name=username,
                role=role,
                site_code=SITE,
                password_hash=crypto.hash_password("x" * 12, n=2**4),
            ),
            actor="admin",
        )
    with pytest.raises(EktpError, match="supervisor"):
        ektp_service.resolve_unknown(job.id, supervisor="op1", printed=True, reason="card seen")
    job = ektp_service.resolve_unknown(job.id, supervisor="sup1", printed=True, reason="card seen in tray")
    assert job.state is J.PRINTED and ektp_service.get(eid).state is E.CARD_PRINTED
    assert ektp_service.ledger(SITE).printed == 1


def test_recovery_after_crash(ektp_service: LifecycleService) -> None:
    ektp_service.receive_blanks(SITE, ["BLK-0001", "BLK-0002"], actor="sup")
    a = ektp_service.reserve_blank(
        ektp_service.queue_print(_print_ready(ektp_service), site_code=SITE, actor="op", routing_reason="x").id,
        actor="op",
    )
    b = ektp_service.reserve_blank(
        ektp_service.queue_print(_print_ready(ektp_service), site_code=SITE, actor="op", routing_reason="x").id,
        actor="op",
    )
    ektp_service.mark_sent(a.id, actor="op", printer="p")
    done = ektp_service.recover_interrupted()
    assert done == {"unknown": [a.id], "released": [b.id]}
    ledger = ektp_service.ledger(SITE)
    assert (ledger.reserved, ledger.in_stock) == (1, 1) and ledger.balanced


def test_duplicate_blank_delivery_is_refused_whole(ektp_service: LifecycleService) -> None:
    ektp_service.receive_blanks(SITE, ["BLK-0001"], actor="sup")
    with pytest.raises(Conflict, match="BLK-0001 is already in the ledger"):
        ektp_service.receive_blanks(SITE, ["BLK-0002", "BLK-0001"], actor="sup")
    with pytest.raises(Conflict, match="appears twice"):
        ektp_service.receive_blanks(SITE, ["BLK-0003", "BLK-0003"], actor="sup")
    ledger = ektp_service.ledger(SITE)
    assert ledger.received == 1 and ledger.in_stock == 1


def test_cancelled_job_makes_the_enrolment_print_ready_again(ektp_service: LifecycleService) -> None:
    eid = _print_ready(ektp_service)
    job = ektp_service.queue_print(eid, site_code=SITE, actor="op", routing_reason="x")
    ektp_service.cancel_job(job.id, actor="admin", reason="re-routed")
    assert ektp_service.get(eid).state is E.PRINT_READY_RECORD
    ektp_service.queue_print(eid, site_code=SITE, actor="op", routing_reason="y")


def test_one_broken_listener_does_not_silence_the_others(ektp_service: LifecycleService, ektp_register_plugin) -> None:
    heard = []

    class Broken:
        @hookimpl
        def ektp_after_transition(self, transition):
            raise RuntimeError("down")

    class Good:
        @hookimpl
        def ektp_after_transition(self, transition):
            heard.append(transition.to_state)

    ektp_register_plugin(Good(), "good")
    ektp_register_plugin(Broken(), "broken")  # registered last: pluggy calls it first
    e = ektp_service.record(make_enrolment())
    ektp_service.transition(e.id, E.SENT_FOR_ENROLLMENT, actor="op")
    assert heard == ["BIO_CAPTURED", "SENT_FOR_ENROLLMENT"]


def test_print_queue_owns_enrolments_being_printed(ektp_service: LifecycleService) -> None:
    eid = _print_ready(ektp_service)
    ektp_service.queue_print(eid, site_code=SITE, actor="op", routing_reason="x")
    with pytest.raises(IllegalTransition):
        ektp_service.transition(eid, E.PRINT_READY_RECORD, actor="op")
    with pytest.raises(EktpError, match="set by the print queue"):
        ektp_service.transition(eid, E.CARD_PRINTED, actor="op")
    with pytest.raises(IllegalTransition):
        ektp_service.queue_print(eid, site_code=SITE, actor="op", routing_reason="again")
    assert len(ektp_service.jobs()) == 1


def test_reserved_blank_cannot_be_spoiled_directly(ektp_service: LifecycleService) -> None:
    ektp_service.receive_blanks(SITE, ["BLK-0001"], actor="sup")
    job = ektp_service.reserve_blank(
        ektp_service.queue_print(_print_ready(ektp_service), site_code=SITE, actor="op", routing_reason="x").id,
        actor="op",
    )
    with pytest.raises(IllegalTransition, match="through its print job"):
        ektp_service.spoil_blank(job.blank_serial, actor="sup", reason="scratched")
    ektp_service.receive_blanks(SITE, ["BLK-0002"], actor="sup")
    ektp_service.spoil_blank("BLK-0002", actor="sup", reason="scratched")
    ledger = ektp_service.ledger(SITE)
    assert (ledger.reserved, ledger.spoiled) == (1, 1) and ledger.balanced


def test_the_entries_about_an_enrolment_and_its_jobs_come_in_order(ektp_service: LifecycleService) -> None:
    eid = _print_ready(ektp_service)
    job = ektp_service.queue_print(eid, site_code=SITE, actor="r", routing_reason="t").id
    other = _print_ready(ektp_service)  # another enrolment's entries stay out
    with ektp_service.store.read() as conn:
        both = audit.entries_about(conn, [eid, job])
        one_by_one = sorted(
            [*audit.entries(conn, subject_id=eid), *audit.entries(conn, subject_id=job)], key=lambda e: e.seq
        )
        assert audit.entries_about(conn, []) == [] and audit.entries_about(conn, ["no-such-id"]) == []
        assert [e.subject_id for e in audit.entries_about(conn, [other])] == [other] * 4
    assert both == one_by_one and {e.subject_id for e in both} == {eid, job}
    assert [e.seq for e in both] == sorted(e.seq for e in both)
