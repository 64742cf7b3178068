"""The print queue and blank pages keep their figures between requests only while the audit log shows
them exact: a job queued or printed, a blank spoiled or a delivery received shows on the very next
request; logins and new recordings in between do not make them count again. Also: the queue's page of
jobs, merged from the index's ordered walks, is the same as one sort of the whole queue."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import sqlalchemy as sa
from ektp_plugins.web.ui import printing_data
from ektp_plugins.web.ui.printing_cache import AuditCache
from ektp_plugins.web.ui.printing_data import ledger_counts, queue_figures

from ektp_core.devices.region_rules import WEEKDAYS
from ektp_core.domain.model import Enrolment, EnrolmentState
from ektp_core.lifecycle import audit
from ektp_core.lifecycle.service import LifecycleService
from ektp_core.store.tables import print_jobs
from ektp_core.testing.samples import make_enrolment, make_print_ready, queue_print_ready, valid_nik

SITE = "17.71"


def cache_of(web_app: Any) -> AuditCache:
    found: AuditCache = web_app.extensions["ektp_node"].tasks["printing-figures"]
    return found


def record_one(lc: LifecycleService, serial: int) -> Enrolment:
    """A new recording (BIO_CAPTURED): audited, but it touches no print job or blank."""
    enrolment = make_enrolment(nik=valid_nik(serial=serial))
    lc.record(enrolment)
    return enrolment


def test_queue_figures_are_kept_through_logins_and_recordings_and_follow_every_print(
    browser, web_app, ektp_service: LifecycleService
) -> None:  # type: ignore[no-untyped-def]
    lc = ektp_service
    lc.receive_blanks(SITE, [f"BLK-1{i:05d}" for i in range(5)], actor="spv1")
    first, second = queue_print_ready(lc, seed=0), queue_print_ready(lc, seed=1)
    b = browser("op1")
    page = b.get("/print").get_data(as_text=True)
    assert "Dalam antrean: 2</span>" in page and 'id="in-stock">5<' in page
    computed = cache_of(web_app).computed
    # Logins and recordings move the audit log on but leave the queue alone: nothing is counted again.
    browser("spv1")
    record_one(lc, serial=901)
    again = b.get("/print").get_data(as_text=True)
    assert cache_of(web_app).computed == computed
    assert "Dalam antrean: 2</span>" in again
    # A card printed a moment ago shows on the next request: the queue, the recent list, the stock.
    lc.reserve_blank(first, actor="op1")
    lc.mark_sent(first, actor="op1", printer="evolis-1")
    lc.mark_printed(first, actor="op1")
    after = b.get("/print").get_data(as_text=True)
    assert cache_of(web_app).computed > computed
    assert "Dalam antrean: 1</span>" in after and 'id="in-stock">4<' in after
    recent = after.split('id="recent"', 1)[1]
    assert f'data-job="{first}"' in recent and f'data-job="{second}"' not in recent
    assert "evolis-1" in after.split('id="counters"', 1)[1].split("</table>", 1)[0]
    # The rows are kept too, and follow their enrolments: a card handed over can no longer be spoiled.
    spv = browser("spv1")
    spoil_form = f'action="/print/jobs/{first}/spoil"'
    assert spoil_form in spv.get("/print").get_data(as_text=True)
    computed = cache_of(web_app).computed
    record_one(lc, serial=903)
    assert spoil_form in spv.get("/print").get_data(as_text=True) and cache_of(web_app).computed == computed
    lc.transition(lc.jobs_by_id(first).enrolment_id, EnrolmentState.CARD_ISSUED, actor="op1", reason="diserahkan")
    assert spoil_form not in spv.get("/print").get_data(as_text=True)
    # A job queued a moment ago, too.
    third = queue_print_ready(lc, seed=2)
    latest = b.get("/print").get_data(as_text=True)
    assert "Dalam antrean: 2</span>" in latest and f'data-job="{third}"' in latest


def test_the_blank_pages_follow_a_spoiled_blank_and_a_delivery(
    browser,
    web_app,  # type: ignore[no-untyped-def]
    ektp_service: LifecycleService,
) -> None:
    lc = ektp_service
    lc.receive_blanks(SITE, [f"BLK-2{i:05d}" for i in range(3)], actor="spv1")
    b = browser("op1")
    page = b.get("/blanks").get_data(as_text=True)
    assert 'data-count="in_stock">3<' in page and "BLK-200001" not in page
    computed = cache_of(web_app).computed
    record_one(lc, serial=902)
    assert 'data-count="in_stock">3<' in b.get("/blanks").get_data(as_text=True)
    assert cache_of(web_app).computed == computed
    lc.spoil_blank("BLK-200001", actor="op1", reason="tergores")
    spoiled = b.get("/blanks").get_data(as_text=True)
    assert 'data-count="in_stock">2<' in spoiled and 'data-count="spoiled">1<' in spoiled
    assert "BLK-200001" in spoiled.split('id="spoiled-list"', 1)[1] and "tergores" in spoiled
    today = dt.datetime.now().astimezone().date().isoformat()
    row = spoiled.split(f'data-day="{today}"', 1)[1].split("</tr>", 1)[0]
    assert [c.split("<", 1)[0] for c in row.split('class="num">')[1:]] == ["0", "3", "0", "1", "2"]
    lc.receive_blanks(SITE, ["BLK-300000"], actor="spv1")
    delivered = b.get("/blanks").get_data(as_text=True)
    assert 'data-count="received">4<' in delivered and 'data-count="in_stock">3<' in delivered
    # The print queue's stock figure is the same ledger, just as current, and counted as the service does.
    assert 'id="in-stock">3<' in b.get("/print").get_data(as_text=True)
    with lc.store.read() as conn:
        assert ledger_counts(conn, SITE) == lc.ledger(SITE)


def _append(lc: LifecycleService, action: str, kind: str = "login") -> None:
    with lc.store.write() as conn:
        audit.append(conn, actor="test", action=action, subject_kind=kind, subject_id="x", at=dt.datetime.now(dt.UTC))


def test_the_cache_computes_again_for_any_other_entry_a_long_gap_or_another_chain(
    ektp_service: LifecycleService,
) -> None:
    lc = ektp_service
    calls: list[int] = []

    def compute(_conn: Any) -> int:
        calls.append(1)
        return len(calls)

    def get(cache: AuditCache) -> int:
        with lc.store.read() as conn:
            return cache.get(conn, "k", compute)

    cache = AuditCache()
    assert get(cache) == 1 and get(cache) == 1  # nothing moved
    _append(lc, "auth.login")
    assert get(cache) == 1  # a harmless entry
    _append(lc, "print_job.cancelled", kind="print_job")
    assert get(cache) == 2  # a change to the jobs
    _append(lc, "profile.changed", kind="profile")
    assert get(cache) == 3  # an entry it does not know: computed again, never assumed harmless
    short = AuditCache(max_gap=1)
    assert get(short) == 4
    _append(lc, "auth.login")
    _append(lc, "auth.login")
    assert get(short) == 5  # the gap is longer than it reads
    # Another chain (a restored backup) no longer holds the entry the value was computed at.
    _append(lc, "auth.login")
    entry = next(iter(cache._entries.values()))
    entry.digest = "0" * 64
    assert get(cache) == 6
    # Values are kept per key, the least recently used dropped first.
    small = AuditCache(max_entries=2)
    with lc.store.read() as conn:
        for key in ("a", "b", "a", "c"):
            small.get(conn, key, lambda _c, k=key: k)
    assert list(small._entries) == ["a", "c"]


@pytest.mark.parametrize("depth", [1000, 3])
def test_a_page_of_the_queue_is_the_same_as_one_sort_of_the_whole_queue(
    ektp_service: LifecycleService, monkeypatch: pytest.MonkeyPatch, depth: int
) -> None:
    lc = ektp_service
    monkeypatch.setattr(printing_data, "QUEUE_PAGE", 4)
    monkeypatch.setattr(printing_data, "MERGE_DEPTH", depth)
    today = dt.date(2026, 11, 23)  # a Monday
    days = [
        None,
        "monday",
        "tuesday",
        "friday",
        "monday",
        None,
        "tuesday",
        "monday",
        "thursday",
        None,
        "friday",
        "monday",
        "tuesday",
        None,
    ]
    lc.receive_blanks(SITE, [f"BLK-4{i:05d}" for i in range(4)], actor="spv1")
    jobs = []
    for seed, day in enumerate(days):
        enrolment_id = make_print_ready(lc, seed=seed, nik=valid_nik(serial=100 + seed))
        jobs.append(lc.queue_print(enrolment_id, site_code=SITE, actor="op1", routing_reason="test", print_day=day).id)
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
    shown: list[str] = []
    with lc.store.read() as conn:
        first = queue_figures(conn, SITE, page=1, day=today, printers=["evolis-1"])
        for number in range(1, first.pages + 1):
            shown += queue_figures(conn, SITE, page=number, day=today).open_ids
    assert first.pages == 4 and shown == expected
    assert dict(first.by_state) == {"QUEUED": 12, "RESERVED": 1, "SENT": 1}
    assert dict(first.by_day) == {"": 2, "monday": 4, "tuesday": 3, "friday": 2, "thursday": 1}
    assert first.due_today == 6 and first.printer_cards == (("evolis-1", 0),)
