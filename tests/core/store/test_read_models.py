"""The read models against hand-built data: the dashboard (in whole-hour and part-hour time zones and
across a summer-time change), a page of the print queue and the printers' counter checks, the blank
stock report, the recordings in progress, the enrolment search's terms, the outbox's figures."""

from __future__ import annotations

import datetime as dt
import random
import zoneinfo
from collections import Counter
from typing import Any

import pytest
import sqlalchemy as sa

from ektp_core.domain.model import WEEKDAYS, Enrolment, Operator, Role
from ektp_core.domain.model import EnrolmentState as E
from ektp_core.keys import crypto
from ektp_core.lifecycle.service import LifecycleService
from ektp_core.services.capture import CaptureService
from ektp_core.store.read_models import blank_stock, dashboard, print_queue, recordings, sync_status
from ektp_core.store.read_models.enrolment_search import SearchTerm, TermKind, search
from ektp_core.store.tables import central_submissions, enrolments, outbox, print_jobs, printers
from ektp_core.testing import make_enrolment, valid_nik

SITE = "17.71"
START = dt.datetime(2026, 11, 23, 1, 30, tzinfo=dt.UTC)


class Clock:
    """The lifecycle's clock, set by the test."""

    def __init__(self, now: dt.datetime) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now


def clocked(lc: LifecycleService, now: dt.datetime) -> Clock:
    clock = Clock(now)
    lc.clock = clock  # type: ignore[method-assign]
    return clock


def print_ready(lc: LifecycleService, site: str, serial: int) -> Enrolment:
    e = lc.record(make_enrolment(site_code=site, nik=valid_nik(serial=serial)))
    for state in (E.SENT_FOR_ENROLLMENT, E.RECEIVED_AT_CENTRAL, E.PRINT_READY_RECORD):
        lc.transition(e.id, state, actor="central")
    return e


def add_supervisor(lc: LifecycleService) -> None:
    lc.add_operator(
        Operator(
            username="sup1",
            full_name="SUP",
            role=Role.SUPERVISOR,
            site_code=SITE,
            password_hash=crypto.hash_password("rahasia-sup1", n=2**4),
        ),
        actor="admin",
    )


# -- the dashboard -------------------------------------------------------------------------------------------


def reference(conn: sa.Connection, site: str | None, today: dt.date, zone: dt.tzinfo) -> dict[str, Any]:
    """The dashboard's figures counted the plain way: every row read, its time turned into a local day."""
    days = [today - dt.timedelta(days=n) for n in range(dashboard.DAYS - 1, -1, -1)]

    def local(at: dt.datetime) -> dt.date:
        return at.replace(tzinfo=dt.UTC).astimezone(zone).date() if at.tzinfo is None else at.astimezone(zone).date()

    mine: Any = (lambda table: table.c.site_code == site) if site else (lambda table: sa.true())
    by_state = Counter(r.state for r in conn.execute(sa.select(enrolments.c.state).where(mine(enrolments))))
    recorded = Counter()
    printed = Counter()
    per_site: dict[str, list[int]] = {}
    for r in conn.execute(sa.select(enrolments.c.site_code, enrolments.c.created_at).where(mine(enrolments))):
        if local(r.created_at) in days:
            recorded[local(r.created_at)] += 1
            per_site.setdefault(r.site_code, [0, 0])[0] += 1
    jobs = conn.execute(sa.select(print_jobs).where(mine(print_jobs))).all()
    for r in jobs:
        if r.state == "PRINTED" and local(r.updated_at) in days:
            printed[local(r.updated_at)] += 1
            per_site.setdefault(r.site_code, [0, 0])[1] += 1
    return {
        "by_state": dict(sorted(by_state.items())),
        "recorded_per_day": tuple(recorded[d] for d in days),
        "printed_per_day": tuple(printed[d] for d in days),
        "per_site": {k: tuple(v) for k, v in sorted(per_site.items())},
        "queued_jobs": sum(r.state == "QUEUED" for r in jobs),
        "unknown_jobs": sum(r.state == "UNKNOWN" for r in jobs),
        "days": tuple(days),
    }


def shown(figures: dashboard.DashboardFigures) -> dict[str, Any]:
    keys = ("by_state", "recorded_per_day", "printed_per_day", "per_site", "queued_jobs", "unknown_jobs", "days")
    return {k: getattr(figures, k) for k in keys}


@pytest.mark.ektp_profile("kota-bengkulu")
@pytest.mark.parametrize(
    ("zone_name", "today"),
    [
        ("Asia/Jakarta", dt.date(2026, 11, 27)),  # WIB, +7
        ("Asia/Jayapura", dt.date(2026, 11, 27)),  # WIT, +9
        ("Asia/Kolkata", dt.date(2026, 11, 27)),  # +5:30: midnight cuts an hour
        ("Asia/Kathmandu", dt.date(2026, 11, 27)),  # +5:45
        ("Europe/Berlin", dt.date(2026, 11, 2)),  # summer time ends on 25 October: a 25-hour day
    ],
)
def test_the_dashboard_equals_a_count_of_every_row_by_local_day(
    ektp_service: LifecycleService, zone_name: str, today: dt.date
) -> None:
    lc = ektp_service
    zone = zoneinfo.ZoneInfo(zone_name)
    rng = random.Random(zone_name)
    start = dt.datetime.combine(today - dt.timedelta(days=16), dt.time(), tzinfo=zone).astimezone(dt.UTC)
    span = int(dt.timedelta(days=18).total_seconds())
    midnights = [
        dt.datetime.combine(today - dt.timedelta(days=n), dt.time(), tzinfo=zone).astimezone(dt.UTC) for n in range(15)
    ]
    # Random times, and some right at a local midnight or a second before one.
    times = [start + dt.timedelta(seconds=rng.randrange(span)) for _ in range(40)]
    times += [m + dt.timedelta(seconds=s) for m in rng.sample(midnights, 5) for s in (-1, 0, 1)]
    clock = clocked(lc, START)
    lc.receive_blanks(SITE, [f"BLK-{n:06d}" for n in range(1, 80)], actor="sup")
    sites = ("17.71", "17.71.01", "17.71.05")
    for n, at in enumerate(times):
        clock.now = at
        e = print_ready(lc, sites[n % 3], n + 1)
        if n % 4 == 0:
            continue
        job = lc.queue_print(e.id, site_code=SITE, actor="r", routing_reason="t").id
        if n % 4 == 1:
            continue
        clock.now = times[(n * 7) % len(times)]  # printed at another random time (maybe "before" recording)
        lc.reserve_blank(job, actor="op")
        lc.mark_sent(job, actor="op", printer="evolis-1")
        if n % 8 == 3:
            lc.mark_unknown(job, actor="op", reason="vanished")
        else:
            lc.mark_printed(job, actor="op")
    with lc.store.read() as conn:
        for site in (None, *sites):
            figures = dashboard.dashboard_figures(conn, site, today=today, zone=zone)
            assert shown(figures) == reference(conn, site, today, zone), (zone_name, site)
            assert figures.recorded_today == figures.recorded_per_day[-1]
    assert sum(shown(figures)["recorded_per_day"]) > 0


def test_what_waits_for_the_central_system_and_the_dukcapil_node(ektp_service: LifecycleService) -> None:
    lc = ektp_service
    sent = lc.record(make_enrolment(nik=valid_nik(serial=1))).id
    lc.transition(sent, E.SENT_FOR_ENROLLMENT, actor="central")
    with lc.store.write() as conn:
        conn.execute(central_submissions.insert().values(enrolment_id=sent, verifier="test", attempts=1))
        for seq, (sent_at, error) in enumerate([(None, "timeout"), (None, None), (START, None)], start=1):
            conn.execute(
                outbox.insert().values(
                    packet_id=f"p-{seq}",
                    seq=seq,
                    kind="enrolment",
                    subject_id=f"s-{seq}",
                    enrolment_id=sent,
                    created_at=START,
                    packet=b"{}",
                    attempts=1,
                    last_error=error,
                    sent_at=sent_at,
                )
            )
    with lc.store.read() as conn:
        figures = dashboard.dashboard_figures(conn, None, today=dt.date(2026, 11, 27))
        packets = sync_status.outbox_figures(conn)
    assert (figures.waiting_central, figures.waiting_packets, figures.last_packet_error) == (1, 2, "timeout")
    assert (packets.waiting, packets.sent, packets.last_error) == (2, 1, "timeout")


# -- the print queue -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("depth", [1000, 3])
def test_a_page_of_the_queue_is_the_same_as_one_sort_of_the_whole_queue(
    ektp_service: LifecycleService, monkeypatch: pytest.MonkeyPatch, depth: int
) -> None:
    lc = ektp_service
    monkeypatch.setattr(print_queue, "QUEUE_PAGE", 4)
    monkeypatch.setattr(print_queue, "MERGE_DEPTH", depth)
    today = dt.date(2026, 11, 23)  # a Monday
    days = [None, "monday", "tuesday", "friday", "monday", None, "tuesday"]
    days += ["monday", "thursday", None, "friday", "monday", "tuesday", None]
    lc.receive_blanks(SITE, [f"BLK-4{i:05d}" for i in range(4)], actor="spv1")
    jobs = []
    for seed, day in enumerate(days):
        e = print_ready(lc, SITE, 100 + seed)
        jobs.append(lc.queue_print(e.id, site_code=SITE, actor="op1", routing_reason="test", print_day=day).id)
    lc.reserve_blank(jobs[5], actor="op1")  # in flight: first, whatever its day
    lc.reserve_blank(jobs[9], actor="op1")
    lc.mark_sent(jobs[9], actor="op1", printer="evolis-1")
    with lc.store.read() as conn:
        rows = conn.execute(
            sa.select(print_jobs.c.id, print_jobs.c.state, print_jobs.c.print_day, print_jobs.c.created_at)
        ).all()

    def urgency(r: Any) -> int:
        if r.state != "QUEUED":
            return 0
        return 1 if r.print_day in (None, WEEKDAYS[today.weekday()]) else 2

    expected = [r.id for r in sorted(rows, key=lambda r: (urgency(r), r.created_at, r.id))]
    seen: list[print_queue.QueueRow] = []
    with lc.store.read() as conn:
        first = print_queue.queue_page(conn, SITE, day=today, page=1, printer_names=["evolis-1"])
        for number in range(1, first.pages + 1):
            seen += print_queue.queue_page(conn, SITE, day=today, page=number).rows
        beyond = print_queue.queue_page(conn, SITE, day=today, page=99)
    assert first.pages == 4 and [r.job.id for r in seen] == expected
    assert [r.due_today for r in seen] == [r.job.print_day in (None, "monday") for r in seen]
    assert beyond.page == 4  # a page past the end shows the last one
    assert first.by_state == {"QUEUED": 12, "RESERVED": 1, "SENT": 1}
    assert first.by_day == {"": 2, "friday": 2, "monday": 4, "thursday": 1, "tuesday": 3}
    assert first.due_today == 6
    assert first.checks == (print_queue.CounterCheck(printer="evolis-1", ledger_cards=0, printer_cards=None),)


def test_the_recent_jobs_and_the_counter_checks(ektp_service: LifecycleService) -> None:
    lc = ektp_service
    add_supervisor(lc)
    clock = clocked(lc, START)
    lc.receive_blanks(SITE, [f"BLK-{n:06d}" for n in range(1, 10)], actor="sup")
    jobs = []
    for n in range(5):
        clock.now += dt.timedelta(minutes=10)
        e = print_ready(lc, SITE, n + 1)
        job = lc.queue_print(e.id, site_code=SITE, actor="r", routing_reason="t").id
        lc.reserve_blank(job, actor="op")
        lc.mark_sent(job, actor="op", printer="evolis-1" if n < 4 else "evolis-2")
        jobs.append(job)
    for job in jobs[:4]:
        clock.now += dt.timedelta(minutes=1)
        lc.mark_printed(job, actor="op")
    clock.now += dt.timedelta(minutes=1)
    lc.spoil_printed(jobs[0], supervisor="sup1", reason="scratch")  # still a card the printer made
    clock.now += dt.timedelta(minutes=1)
    lc.mark_spoiled(jobs[4], actor="op", reason="jam")
    with lc.store.write() as conn:
        conn.execute(
            printers.insert().values(
                name="evolis-1",
                site_code=SITE,
                driver="e",
                serial="S",
                baseline_count=10,
                last_count=13,
                updated_at=START,
            )
        )
    with lc.store.read() as conn:
        page = print_queue.queue_page(conn, SITE, day=START.date(), printer_names=["evolis-1", "evolis-2", "none"])
    assert [r.job.id for r in page.recent] == [jobs[4], jobs[0], jobs[3], jobs[2], jobs[1]]
    assert [r.spoilable for r in page.recent] == [False, False, True, True, True]
    assert page.rows == () and page.by_state == {} and page.pages == 1
    assert [(c.printer, c.ledger_cards, c.printer_cards, c.matches) for c in page.checks] == [
        ("evolis-1", 4, 3, False),
        ("evolis-2", 1, None, True),
        ("none", 0, None, True),
    ]


def test_the_queues_jobs_are_the_stored_jobs_field_for_field(ektp_service: LifecycleService) -> None:
    # The queue unpacks its rows by position: every field must still land where the repository puts it.
    lc = ektp_service
    add_supervisor(lc)
    clock = clocked(lc, START)
    lc.receive_blanks(SITE, [f"BLK-7{n:05d}" for n in range(4)], actor="sup")
    jobs = []
    for n, day in enumerate([None, "tuesday", "monday", None]):
        clock.now += dt.timedelta(minutes=7)
        e = print_ready(lc, SITE, 300 + n)
        jobs.append(lc.queue_print(e.id, site_code=SITE, actor="r", routing_reason=f"rule {n}", print_day=day).id)
    clock.now += dt.timedelta(minutes=1)
    lc.reserve_blank(jobs[0], actor="op")
    lc.mark_sent(jobs[0], actor="op", printer="evolis-1")
    lc.mark_printed(jobs[0], actor="op")  # recent, spoilable
    lc.reserve_blank(jobs[1], actor="op")
    lc.mark_spoiled(jobs[1], actor="op", reason="jam")  # recent, with a reason
    lc.reserve_blank(jobs[2], actor="op")  # open, in flight
    with lc.store.read() as conn:
        page = print_queue.queue_page(conn, SITE, day=START.date())
    listed = {r.job.id: r for r in (*page.rows, *page.recent)}
    assert sorted(listed) == sorted(jobs)
    for job_id, row in listed.items():
        stored = lc.jobs_by_id(job_id)
        assert row.job == stored
        enrolment = lc.get(stored.enrolment_id)
        assert (row.nama, row.nik) == (enrolment.biodata.nama, enrolment.biodata.nik.value)
    assert listed[jobs[0]].spoilable and listed[jobs[1]].job.reason == "jam"
    assert listed[jobs[2]].job.blank_serial and listed[jobs[3]].job.routing_reason == "rule 3"
    assert [r.due_today for r in page.rows] == [True, True]  # START is a Monday; job 3 prints any day


# -- the blank stock -------------------------------------------------------------------------------------------


def test_the_stock_report_per_local_day(ektp_service: LifecycleService) -> None:
    lc = ektp_service
    add_supervisor(lc)
    zone = zoneinfo.ZoneInfo("Asia/Makassar")  # WITA, +8

    def local(day: int, hour: int, minute: int = 0) -> dt.datetime:
        return dt.datetime(2026, 11, day, hour, minute, tzinfo=zone).astimezone(dt.UTC)  # the clock's UTC

    clock = clocked(lc, local(1, 9))
    lc.receive_blanks(SITE, [f"BLK-{n:06d}" for n in range(1, 11)], actor="sup")  # before the report
    clock.now = local(3, 23, 59)
    lc.receive_blanks(SITE, [f"BLK-{n:06d}" for n in range(11, 16)], actor="sup")  # day 3, just
    lc.spoil_blank("BLK-000001", actor="sup", reason="bent")  # day 3
    jobs = []
    for n, (day, hour) in enumerate([(2, 10), (4, 0), (4, 23), (5, 8)]):
        clock.now = local(day, hour)
        e = print_ready(lc, SITE, n + 1)
        job = lc.queue_print(e.id, site_code=SITE, actor="r", routing_reason="t").id
        lc.reserve_blank(job, actor="op")
        lc.mark_sent(job, actor="op", printer="evolis-1")
        lc.mark_printed(job, actor="op")
        jobs.append(job)
    clock.now = local(5, 9)
    lc.spoil_printed(jobs[2], supervisor="sup1", reason="misprint")  # printed on the 4th, spoiled on the 5th
    clock.now = local(5, 10)
    e = print_ready(lc, SITE, 9)
    held = lc.queue_print(e.id, site_code=SITE, actor="r", routing_reason="t").id
    lc.reserve_blank(held, actor="op")  # reserved: still on hand
    with lc.store.read() as conn:
        days = blank_stock.stock_days(conn, SITE, dt.date(2026, 11, 3), dt.date(2026, 11, 6), zone=zone)
        ledger = blank_stock.ledger(conn, SITE)
        everywhere = blank_stock.ledger(conn, None)
        spoiled = blank_stock.spoiled_blanks(conn, SITE)
    table = [(d.day.day, d.opening, d.received, d.printed, d.spoiled, d.closing) for d in days]
    # The 2nd's print and the first delivery make the opening stock; the card printed on the 4th at 23:00
    # and spoiled on the 5th counts as spoiled on the 5th; the reserved blank is still on hand.
    assert table == [(3, 9, 5, 0, 1, 13), (4, 13, 0, 1, 0, 12), (5, 12, 0, 1, 1, 10), (6, 10, 0, 0, 0, 10)]
    assert (ledger.received, ledger.in_stock, ledger.reserved, ledger.printed, ledger.spoiled) == (15, 9, 1, 3, 2)
    assert ledger.balanced and everywhere == ledger
    assert [b.reason for b in spoiled] == ["misprint", "bent"] and spoiled[0].job_id == jobs[2]
    rows = blank_stock.csv_rows(SITE, days)
    assert rows[0] == (SITE, "2026-11-03", 9, 5, 0, 1, 13) and len(rows) == 4


@pytest.mark.parametrize(
    ("first", "last"), [(dt.date(2026, 11, 5), dt.date(2026, 11, 4)), (dt.date(2025, 1, 1), dt.date(2026, 1, 2))]
)
def test_a_stock_report_of_no_days_or_too_many_is_refused(
    ektp_service: LifecycleService, first: dt.date, last: dt.date
) -> None:
    with ektp_service.store.read() as conn, pytest.raises(ValueError, match="1 to 366 days"):
        blank_stock.stock_days(conn, SITE, first, last)


# -- recordings in progress, the search -------------------------------------------------------------------------


def test_the_recordings_in_progress_newest_first_with_their_slots(ektp_service: LifecycleService) -> None:
    lc = ektp_service
    add_supervisor(lc)
    clock = clocked(lc, START)
    ids = []
    for n in range(5):
        clock.now += dt.timedelta(minutes=3)
        ids.append(lc.record(make_enrolment(site_code=SITE if n != 2 else "17.71.05", nik=valid_nik(serial=n + 1))).id)
    lc.transition(ids[1], E.SENT_FOR_ENROLLMENT, actor="op")
    CaptureService(lc).add_exception(ids[4], "finger", "left_thumb", reason="amputated", supervisor="sup1", actor="op")
    with lc.store.read() as conn:
        found = recordings.in_progress(conn, SITE)
        two = recordings.in_progress(conn, SITE, limit=2)
    assert [r.id for r in found] == [ids[4], ids[3], ids[0]]
    assert [r.filled for r in found] == [1, 0, 0] and found[0].created_at == START + dt.timedelta(minutes=15)
    assert [r.id for r in two] == [ids[4], ids[3]]


@pytest.mark.parametrize(
    ("kind", "text"),
    [("nik", "12345"), ("nik", "17710541019000012"), ("nik_prefix", ""), ("nik_prefix", "1771a"), ("name", " ")],
)
def test_a_search_term_that_cannot_match_is_refused(kind: str, text: str) -> None:
    with pytest.raises(ValueError):
        SearchTerm(TermKind(kind), text)


def test_a_name_search_ignores_case_and_treats_wildcards_as_text(ektp_service: LifecycleService) -> None:
    lc = ektp_service
    lc.record(make_enrolment(nik=valid_nik(serial=1), nama="Siti_Aminah"))
    lc.record(make_enrolment(nik=valid_nik(serial=2), nama="SITIXAMINAH"))
    with lc.store.read() as conn:
        page = search(conn, term=SearchTerm(TermKind.NAME, "siti_am"))
        everyone = search(conn, term=SearchTerm(TermKind.NAME, "%"))
    assert [r.nama for r in page.rows] == ["SITI_AMINAH"] and page.total == 1 and not page.capped
    assert everyone.rows == ()
