"""The record start page's list of recordings in progress is kept from the audit log: after every
change (a new recording, a capture, a recording sent on, an entry it does not know) it is exactly what
a full read gives, and it is read whole only when it cannot be brought forward."""

from __future__ import annotations

from typing import Any

from ektp_plugins.web.ui.record_progress import InProgressList, read_in_progress

from ektp_core.domain.model import EnrolmentState
from ektp_core.lifecycle import audit
from ektp_core.lifecycle.service import LifecycleService
from ektp_core.services.capture import CaptureService
from ektp_core.testing.samples import make_enrolment, valid_nik

SITE = "17.71"


def record(lc: LifecycleService, serial: int, site: str = SITE) -> str:
    enrolment = make_enrolment(site_code=site, nik=valid_nik(serial=serial))
    lc.record(enrolment)
    return enrolment.id


def check(lc: LifecycleService, kept: InProgressList) -> list[str]:
    """The kept list equals a full read at the same snapshot; returns its ids."""
    with lc.store.read() as conn:
        rows = kept.rows(conn, SITE)
        assert list(rows) == read_in_progress(conn, SITE, limit=kept.limit)
    return [r.id for r in rows]


def test_the_list_is_brought_forward_from_the_audit_log(web_app: Any, ektp_service: LifecycleService) -> None:
    lc = ektp_service
    kept = InProgressList()
    first, second = record(lc, 11), record(lc, 12)
    assert check(lc, kept) == [second, first] and kept.full_reads == 1
    third = record(lc, 13)
    record(lc, 14, site="17.71.01")  # another site's recording: not listed here
    assert check(lc, kept) == [third, second, first]
    CaptureService(lc).add_exception(first, "finger", "left_little", reason="amputasi", supervisor="spv1", actor="op1")
    assert check(lc, kept)[-1] == first
    with lc.store.read() as conn:
        assert kept.rows(conn, SITE)[-1].filled == 1  # the capture counts at once
    lc.transition(second, EnrolmentState.SENT_FOR_ENROLLMENT, actor="op1")
    assert check(lc, kept) == [third, first]
    assert kept.full_reads == 1  # all of that without reading the list whole
    with lc.store.write() as conn:  # an entry of a kind it does not know: read whole again
        audit.append(
            conn, actor="test", action="profile.changed", subject_kind="profile", subject_id="x", at=lc.clock()
        )
    assert check(lc, kept) == [third, first] and kept.full_reads == 2


def test_a_full_list_reads_whole_only_when_it_loses_a_row(web_app: Any, ektp_service: LifecycleService) -> None:
    lc = ektp_service
    kept = InProgressList(limit=2)
    ids = [record(lc, 20 + i) for i in range(3)]
    assert check(lc, kept) == [ids[2], ids[1]] and kept.full_reads == 1
    newer = record(lc, 30)
    assert check(lc, kept) == [newer, ids[2]] and kept.full_reads == 1  # pushed down, still exact
    lc.transition(ids[0], EnrolmentState.SENT_FOR_ENROLLMENT, actor="op1")  # beyond the list: no effect
    assert check(lc, kept) == [newer, ids[2]] and kept.full_reads == 1
    lc.transition(newer, EnrolmentState.SENT_FOR_ENROLLMENT, actor="op1")  # the next one moves up
    assert check(lc, kept) == [ids[2], ids[1]] and kept.full_reads == 2
    short = InProgressList(max_gap=1)
    check(lc, short)
    record(lc, 31)
    record(lc, 32)
    check(lc, short)
    assert short.full_reads == 2  # a gap longer than it reads


def test_the_start_page_shows_a_recording_made_a_moment_ago(browser: Any, ektp_service: LifecycleService) -> None:
    b = browser("op1")
    assert 'id="none-in-progress"' in b.get("/record").get_data(as_text=True)
    enrolment_id = record(ektp_service, 40)
    page = b.get("/record").get_data(as_text=True)
    assert f'href="/record/{enrolment_id}"' in page and valid_nik(serial=40) in page and "0 / 14" in page
    ektp_service.transition(enrolment_id, EnrolmentState.SENT_FOR_ENROLLMENT, actor="op1")
    assert 'id="none-in-progress"' in b.get("/record").get_data(as_text=True)
