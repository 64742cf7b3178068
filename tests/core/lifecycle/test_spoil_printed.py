"""A printed card found unusable before handover: a supervisor spoils it and it is printed again."""

from __future__ import annotations

import pytest

from ektp_core.domain.model import BlankState, EnrolmentState, Operator, PrintJobState, Role
from ektp_core.errors import EktpError, IllegalTransition
from ektp_core.keys import crypto
from ektp_core.store import repository as repo
from ektp_core.testing import queue_print_ready


@pytest.fixture
def printed(ektp_service):  # type: ignore[no-untyped-def]
    lc = ektp_service
    for username, role in (("op1", Role.OPERATOR), ("spv1", Role.SUPERVISOR)):
        lc.add_operator(
            Operator(
                username=username,
                full_name=username,
                role=role,
                site_code="17.71",
                password_hash=crypto.hash_password("x", n=2**4),
            ),
            actor="test",
        )
    lc.receive_blanks("17.71", ["BLK-000001", "BLK-000002"], actor="spv1")
    job = queue_print_ready(lc)
    lc.reserve_blank(job, actor="op1")
    lc.mark_sent(job, actor="op1", printer="evolis-1")
    lc.mark_printed(job, actor="op1")
    return job


def _blank(lc, serial):  # type: ignore[no-untyped-def]
    with lc.store.read() as conn:
        return repo.get_blank(conn, serial)


def test_a_supervisor_spoils_a_printed_card_and_it_prints_again(ektp_service, printed) -> None:  # type: ignore[no-untyped-def]
    lc = ektp_service
    job = lc.spoil_printed(printed, supervisor="spv1", reason="photo printed too dark")
    assert job.state is PrintJobState.SPOILED and job.reason == "photo printed too dark"
    assert _blank(lc, "BLK-000001").state is BlankState.SPOILED
    assert lc.get(job.enrolment_id).state is EnrolmentState.SENT_FOR_CARD_PRINTING
    ledger = lc.ledger("17.71")
    assert ledger.balanced and (ledger.printed, ledger.spoiled, ledger.in_stock) == (0, 1, 1)
    again = lc.requeue(printed, actor="op1")
    lc.reserve_blank(again.id, actor="op1")
    lc.mark_sent(again.id, actor="op1", printer="evolis-1")
    lc.mark_printed(again.id, actor="op1")
    assert lc.get(job.enrolment_id).state is EnrolmentState.CARD_PRINTED
    assert lc.was_printed(printed)
    ledger = lc.ledger("17.71")
    assert ledger.balanced and (ledger.printed, ledger.spoiled) == (1, 1)


def test_what_is_refused_changes_nothing(ektp_service, printed) -> None:  # type: ignore[no-untyped-def]
    lc = ektp_service
    with pytest.raises(EktpError, match="supervisor"):
        lc.spoil_printed(printed, supervisor="op1", reason="smudge")
    with pytest.raises(EktpError, match="reason"):
        lc.spoil_printed(printed, supervisor="spv1", reason="  ")
    assert lc.jobs_by_id(printed).state is PrintJobState.PRINTED
    assert _blank(lc, "BLK-000001").state is BlankState.PRINTED
    # A card already handed over is the resident's: it is not spoiled here.
    enrolment = lc.jobs_by_id(printed).enrolment_id
    lc.transition(enrolment, EnrolmentState.CARD_ISSUED, actor="op1")
    with pytest.raises(IllegalTransition):
        lc.spoil_printed(printed, supervisor="spv1", reason="smudge")
    assert lc.jobs_by_id(printed).state is PrintJobState.PRINTED
    assert lc.ledger("17.71").balanced


def test_only_a_printed_job_is_spoiled_after_printing(ektp_service) -> None:  # type: ignore[no-untyped-def]
    lc = ektp_service
    lc.add_operator(
        Operator(
            username="spv1",
            full_name="s",
            role=Role.SUPERVISOR,
            site_code="17.71",
            password_hash=crypto.hash_password("x", n=2**4),
        ),
        actor="test",
    )
    job = queue_print_ready(lc)
    with pytest.raises(IllegalTransition):
        lc.spoil_printed(job, supervisor="spv1", reason="never printed")
    assert lc.jobs_by_id(job).state is PrintJobState.QUEUED
