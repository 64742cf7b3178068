"""The dashboard's counts brought forward from the audit log: always equal to a full count at the same snapshot."""

from __future__ import annotations

import datetime as dt
import json

import attrs
import pytest
from ektp_plugins.web.ui.dashboard_figures import DashboardFigures
from ektp_plugins.web.ui.stats import Figures, figures_in

from ektp_core.domain.model import EnrolmentState
from ektp_core.lifecycle import audit
from ektp_core.lifecycle.service import LifecycleService
from ektp_core.store.tables import central_submissions, enrolments, outbox
from ektp_core.testing import make_enrolment
from ektp_core.testing.samples import make_print_ready, queue_print_ready, valid_nik

TODAY = dt.date(2026, 11, 27)
SCOPES = (None, "17.71", "17.71.05")


def at(day: dt.date, hour: int) -> dt.datetime:
    """A local time of the office, in UTC as the store keeps it."""
    return dt.datetime.combine(day, dt.time(hour)).astimezone().astimezone(dt.UTC)


class Check:
    """Asks the keeper for every scope and compares with a full count in the same snapshot."""

    def __init__(self, lc: LifecycleService) -> None:
        self.lc = lc
        self.keeper = DashboardFigures()

    def __call__(self, today: dt.date = TODAY) -> dict[str | None, Figures]:
        found = {}
        with self.lc.store.read() as conn:
            for scope in SCOPES:
                kept = self.keeper.figures(conn, scope, today)
                assert kept == figures_in(conn, scope, today=today), scope
                found[scope] = kept
        return found


def record(lc: LifecycleService, site: str, serial: int, when: dt.datetime) -> str:
    lc.clock = lambda: when  # type: ignore[method-assign]
    return lc.record(make_enrolment(site_code=site, nik=valid_nik(serial=serial))).id


@pytest.mark.ektp_profile("kota-bengkulu")
def test_counts_brought_forward_equal_a_full_count_after_every_kind_of_change(ektp_service: LifecycleService) -> None:
    lc = ektp_service
    check = Check(lc)
    record(lc, "17.71.05", 1, at(TODAY - dt.timedelta(days=3), 9))
    check()
    assert check.keeper.full_counts == len(SCOPES)

    # Recordings today, yesterday, before the fortnight, and at midnight's edges: brought forward.
    record(lc, "17.71.05", 2, at(TODAY, 8))
    record(lc, "17.71", 3, at(TODAY, 0))
    record(lc, "17.71.01", 4, at(TODAY - dt.timedelta(days=1), 23))
    record(lc, "17.71", 5, at(TODAY - dt.timedelta(days=20), 10))
    figures = check()
    assert check.keeper.full_counts == len(SCOPES)
    assert figures[None].recorded_today == 2 and figures["17.71.05"].recorded_today == 1
    assert figures[None].per_site == {"17.71": (1, 0), "17.71.01": (1, 0), "17.71.05": (2, 0)}

    # State moves (the site's view moves only its own), a print (the jobs' part counted again), blanks.
    lc.clock = lambda: at(TODAY, 10)  # type: ignore[method-assign]
    moved = record(lc, "17.71.05", 6, at(TODAY, 9))
    lc.clock = lambda: at(TODAY, 10)  # type: ignore[method-assign]
    lc.transition(moved, EnrolmentState.SENT_FOR_ENROLLMENT, actor="central")
    lc.transition(moved, EnrolmentState.ENROLL_FAILURE_AT_REGIONAL, actor="central")
    figures = check()
    assert figures["17.71.05"].by_state["ENROLL_FAILURE_AT_REGIONAL"] == 1
    assert check.keeper.full_counts == len(SCOPES)
    lc.receive_blanks("17.71", ["BLK-1", "BLK-2"], actor="spv")
    job = queue_print_ready(lc, seed=1, nik=valid_nik(serial=7))
    lc.reserve_blank(job, actor="op")
    lc.mark_sent(job, actor="op", printer="evolis-dukcapil")
    lc.mark_printed(job, actor="op")
    figures = check()
    assert figures[None].printed_today == 1 and figures[None].by_state["CARD_PRINTED"] == 1
    assert check.keeper.full_counts == len(SCOPES) and check.keeper.printed_counts == len(SCOPES)

    # An action the keeper does not know: counted whole again, still equal.
    with lc.store.write() as conn:
        audit.append(
            conn,
            actor="x",
            action="enrolment.handover_refused",  # about an enrolment, but no move it counts
            subject_kind="enrolment",
            subject_id=moved,
            detail={"to": "BIO_CAPTURED"},
            at=at(TODAY, 11),
        )
    check()
    assert check.keeper.full_counts == 2 * len(SCOPES)
    with lc.store.write() as conn:
        audit.append(
            conn, actor="x", action="profile.changed", subject_kind="profile", subject_id="p", at=at(TODAY, 11)
        )
    check()
    assert check.keeper.full_counts == 3 * len(SCOPES)

    # The next day: the charts' days move, so everything is counted again for the new day.
    record(lc, "17.71", 8, at(TODAY + dt.timedelta(days=1), 7))
    figures = check(TODAY + dt.timedelta(days=1))
    assert figures[None].recorded_today == 1 and figures[None].days[-1] == TODAY + dt.timedelta(days=1)
    assert check.keeper.full_counts == 4 * len(SCOPES)


def test_a_state_mirrored_by_the_feed_is_brought_forward(ektp_service: LifecycleService) -> None:
    lc = ektp_service
    check = Check(lc)
    enrolment_id = record(lc, "17.71", 1, at(TODAY, 9))
    check()
    with lc.store.write() as conn:  # as the sync feed mirrors the Dukcapil node's state at a site
        conn.execute(
            enrolments.update()
            .where(enrolments.c.id == enrolment_id)
            .values(state="SENT_FOR_ENROLLMENT", updated_at=at(TODAY, 10))
        )
        audit.append(
            conn,
            actor="sync",
            action="sync.state_mirrored",
            subject_kind="enrolment",
            subject_id=enrolment_id,
            detail={"from": "BIO_CAPTURED", "to": "SENT_FOR_ENROLLMENT", "dukcapil_seq": 1},
            at=at(TODAY, 10),
        )
    assert check()["17.71"].by_state == {"SENT_FOR_ENROLLMENT": 1}
    assert check.keeper.full_counts == len(SCOPES)


def test_a_recording_stamped_after_today_is_left_to_a_full_count(ektp_service: LifecycleService) -> None:
    check = Check(ektp_service)
    check()
    record(ektp_service, "17.71", 1, at(TODAY + dt.timedelta(days=1), 1))  # a clock ahead
    assert check()[None].recorded_today == 0
    assert check.keeper.full_counts == len(SCOPES) + 2  # the regency's and 17.71's views; 17.71.05's skips it


def test_a_long_gap_or_another_chain_means_a_full_count(ektp_service: LifecycleService) -> None:
    lc = ektp_service
    check = Check(lc)
    check.keeper.max_gap = 2
    check()
    for n in range(3):
        record(lc, "17.71", n + 1, at(TODAY, 9))
    check()
    assert check.keeper.full_counts == 2 * len(SCOPES)
    # The chain no longer holds the kept position's hash (a restored backup made another chain; the log
    # itself is append-only, so the kept side is made to differ): not brought forward.
    for scope in SCOPES:
        kept = check.keeper._kept[scope]
        check.keeper._kept[scope] = attrs.evolve(kept, digest="0" * 64)
    record(lc, "17.71", 9, at(TODAY, 10))
    check()
    assert check.keeper.full_counts == 3 * len(SCOPES)


def test_a_move_the_kept_counts_cannot_hold_means_a_full_count(ektp_service: LifecycleService) -> None:
    lc = ektp_service
    check = Check(lc)
    enrolment_id = record(lc, "17.71", 1, at(TODAY, 9))
    check()
    with lc.store.write() as conn:  # an entry claiming a move from a state nobody is in
        audit.append(
            conn,
            actor="x",
            action="enrolment.print_ready_record",
            subject_kind="enrolment",
            subject_id=enrolment_id,
            detail={"from": "ADJUDICATE_RECORD", "to": "PRINT_READY_RECORD"},
            at=at(TODAY, 10),
        )
    check()
    assert check.keeper.full_counts == len(SCOPES) + 2  # 17.71.05's view leaves 17.71's enrolment alone


def test_the_page_shows_every_kind_of_change_on_the_next_request(browser, ektp_service: LifecycleService) -> None:  # type: ignore[no-untyped-def]
    lc = ektp_service
    b = browser("op1")

    def page() -> str:
        return str(b.get("/dashboard").get_data(as_text=True))

    assert 'id="recorded-today">0<' in page()
    lc.record(make_enrolment(site_code="17.71", nik=valid_nik(serial=1)))
    assert 'id="recorded-today">1<' in page() and 'data-state="BIO_CAPTURED">1<' in page()
    ready = make_print_ready(lc, nik=valid_nik(serial=2))
    assert 'data-state="PRINT_READY_RECORD">1<' in page()
    job = lc.queue_print(ready, site_code="17.71", actor="op1", routing_reason="test").id
    assert 'id="queued-jobs">1<' in page()
    lc.receive_blanks("17.71", ["BLK-1", "BLK-2", "BLK-3"], actor="spv1")
    assert 'data-stock="17.71">3<' in page()
    lc.reserve_blank(job, actor="op1")
    lc.mark_sent(job, actor="op1", printer="evolis-dukcapil")
    lc.mark_printed(job, actor="op1")
    shown = page()
    assert 'id="printed-today">1<' in shown and 'data-state="CARD_PRINTED">1<' in shown
    assert 'data-stock="17.71">2<' in shown and 'id="queued-jobs">0<' in shown
    # Not audited, read on every request: a submission row for an enrolment already sent, an outbox row.
    sent = lc.record(make_enrolment(site_code="17.71", nik=valid_nik(serial=3))).id
    lc.transition(sent, EnrolmentState.SENT_FOR_ENROLLMENT, actor="central")
    assert 'id="waiting-central">0<' in page()
    with lc.store.write() as conn:
        conn.execute(central_submissions.insert().values(enrolment_id=sent, verifier="test", attempts=0))
    assert 'id="waiting-central">1<' in page()
    if 'id="waiting-packets"' in page():
        with lc.store.write() as conn:
            conn.execute(
                outbox.insert().values(
                    packet_id="p-1",
                    seq=1,
                    kind="enrolment",
                    subject_id=sent,
                    enrolment_id=sent,
                    created_at=dt.datetime.now(dt.UTC),
                    packet=json.dumps({}).encode(),
                    attempts=0,
                )
            )
        assert 'id="waiting-packets">1<' in page()
