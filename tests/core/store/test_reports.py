"""The office reports (ektp_core.store.read_models.reports): each figure of a seeded node checked
against a count made from the raw tables, and the period's edges respected."""

from __future__ import annotations

import datetime as dt
import json
import random
from typing import Any

import attrs
import pytest
import sqlalchemy as sa

from ektp_core.domain.model import EnrolmentState, Operator, Role, ServiceRequest
from ektp_core.keys import crypto
from ektp_core.services.corrections import Corrections
from ektp_core.store.read_models import reports
from ektp_core.store.tables import audit_log, blank_batches, blanks, cards, enrolments
from ektp_core.testing import issue_card, make_enrolment, valid_nik

E = EnrolmentState
SITES = ("17.71", "17.71.01")
UTC = dt.UTC


@pytest.fixture
def seeded(ektp_service):  # type: ignore[no-untyped-def]
    """A node with a month of mixed work: first cards and replacements, verdicts, cancellations,
    printed, handed over and spoiled cards, blanks at two sites; and work just outside the month."""
    lc = ektp_service
    clock = [dt.datetime(2026, 10, 31, 16, 30, tzinfo=UTC)]  # 23:30 WIB on 31 October: outside November
    lc.clock = lambda: clock[0]
    for username, role, site in (("op1", Role.OPERATOR, "17.71"), ("op2", Role.OPERATOR, "17.71.01")):
        lc.add_operator(
            Operator(
                username=username,
                full_name=username,
                role=role,
                site_code=site,
                password_hash=crypto.hash_password("x", n=2**4),
            ),
            actor="test",
        )
    lc.add_operator(
        Operator(
            username="spv1",
            full_name="spv",
            role=Role.SUPERVISOR,
            site_code="17.71",
            password_hash=crypto.hash_password("x", n=2**4),
        ),
        actor="test",
    )
    rng = random.Random(15)
    serial = iter(range(1, 1000))
    issued: list[str] = []
    for i in range(24):
        site, operator = (SITES[0], "op1") if i % 3 else (SITES[1], "op2")
        e = lc.record(attrs.evolve(make_enrolment(site_code=site, nik=valid_nik(serial=100 + i)), operator=operator))
        roll = rng.random()
        if roll < 0.15:
            Corrections(lc).cancel(e.id, supervisor="spv1", reason="abandoned")
        elif roll < 0.3:
            for state in (E.SENT_FOR_ENROLLMENT, E.RECEIVED_AT_CENTRAL, E.DUPLICATE_RECORD):
                lc.transition(e.id, state, actor="central")
        elif roll < 0.4:
            for state in (E.SENT_FOR_ENROLLMENT, E.RECEIVED_AT_CENTRAL, E.ADJUDICATE_RECORD, E.PRINT_READY_RECORD):
                lc.transition(e.id, state, actor="central")
        elif roll < 0.55:
            lc.transition(e.id, E.SENT_FOR_ENROLLMENT, actor="central")
        else:
            issue_card(lc, e.id, f"BLK-{next(serial):06d}", site_code="17.71", actor="op1")
            issued.append(e.id)
        clock[0] += dt.timedelta(hours=20)  # into November from the second one on
    # Replacements of some issued cards (a lost one, a damaged one), left printed and waiting.
    for kind, earlier in zip(("hilang", "rusak"), issued[:2], strict=False):
        old = lc.get(earlier)
        extra: dict[str, Any] = (
            {"police_report_number": "LP/1", "police_report_date": dt.date(2026, 11, 2)}
            if kind == "hilang"
            else {"surrendered_serial": lc.cards_of(old.biodata.nik.value)[-1].serial}
        )
        service = ServiceRequest(type=kind, replaces=earlier, **extra)
        new = lc.record(attrs.evolve(make_enrolment(nik=old.biodata.nik.value), service=service, operator="op1"))
        for state in (E.SENT_FOR_ENROLLMENT, E.RECEIVED_AT_CENTRAL, E.PRINT_READY_RECORD):
            lc.transition(new.id, state, actor="central")
        lc.receive_blanks("17.71", [f"BLK-{next(serial):06d}"], actor="op1")
        job = lc.queue_print(new.id, site_code="17.71", actor="op1", routing_reason="test").id
        lc.reserve_blank(job, actor="op1")
        lc.mark_sent(job, actor="op1", printer="printer-1")
        lc.mark_printed(job, actor="op1")
        clock[0] += dt.timedelta(hours=5)
    lc.receive_blanks("17.71", [f"BLK-{next(serial):06d}" for _ in range(3)], actor="op1")
    lc.spoil_blank(f"BLK-{next(serial) - 1:06d}", actor="op1", reason="bent")
    clock[0] = dt.datetime(2026, 11, 30, 17, 30, tzinfo=UTC)  # 00:30 WIB on 1 December: outside
    late = lc.record(attrs.evolve(make_enrolment(nik=valid_nik(serial=900)), operator="op1"))
    lc.transition(late.id, E.SENT_FOR_ENROLLMENT, actor="central")
    return lc


def _raw(lc: Any, site: str, lo: dt.datetime, hi: dt.datetime) -> dict[str, int]:
    """The figures counted the long way: every row read, filtered here."""
    with lc.store.read() as conn:
        rows = list(conn.execute(sa.select(enrolments)))
        site_of = {r.id: r.site_code for r in rows}
        moves = [
            (r.action, json.loads(r.detail))
            for r in conn.execute(sa.select(audit_log))
            if lo <= dt.datetime.fromisoformat(r.at) < hi and site_of.get(r.subject_id) == site
        ]
        card_rows = list(conn.execute(sa.select(cards)))
        blank_rows = list(conn.execute(sa.select(blanks)))
        batches = list(conn.execute(sa.select(blank_batches)))

    def within(value: Any) -> bool:
        return value is not None and lo <= value.replace(tzinfo=UTC) < hi

    out = {
        f"recorded_{t}": sum(r.site_code == site and within(r.created_at) and r.service_type == t for r in rows)
        for t in reports.SERVICE_TYPES
    }
    out["recorded"] = sum(out[f"recorded_{t}"] for t in reports.SERVICE_TYPES)
    out["sent"] = sum(a == "enrolment.sent_for_enrollment" for a, _ in moves)
    out["cancelled"] = sum(a == "enrolment.enrollment_cancelled" for a, _ in moves)
    out["adjudicated"] = sum(
        a in ("enrolment.print_ready_record", "enrolment.duplicate_record") and d["from"] == "ADJUDICATE_RECORD"
        for a, d in moves
    )
    out["unique"] = sum(a == "enrolment.print_ready_record" and d["from"] != "ADJUDICATE_RECORD" for a, d in moves)
    out["duplicate"] = sum(a == "enrolment.duplicate_record" and d["from"] != "ADJUDICATE_RECORD" for a, d in moves)
    out["printed"] = sum(c.printed_site == site and within(c.printed_at) for c in card_rows)
    out["handed_over"] = sum(c.handed_over_site == site and within(c.handed_over_at) for c in card_rows)
    out["blanks_received"] = sum(b.count for b in batches if b.site_code == site and within(b.received_at))
    out["blanks_used"] = sum(b.site_code == site and b.state == "PRINTED" and within(b.updated_at) for b in blank_rows)
    out["blanks_spoiled"] = sum(
        b.site_code == site and b.state == "SPOILED" and within(b.updated_at) for b in blank_rows
    )
    out["spoiled"] = out["blanks_spoiled"]
    on_hand = [b for b in blank_rows if b.site_code == site]
    used_before = sum(b.state in ("PRINTED", "SPOILED") and b.updated_at.replace(tzinfo=UTC) < hi for b in on_hand)
    received_before = sum(b.count for b in batches if b.site_code == site and b.received_at.replace(tzinfo=UTC) < hi)
    out["blanks_in_stock"] = (
        received_before - used_before if batches and any(b.site_code == site for b in batches) else 0
    )
    waiting = [
        c
        for c in card_rows
        if site_of[c.enrolment_id] == site
        and c.printed_at.replace(tzinfo=UTC) < hi
        and (c.state in ("PRINTED", "SHIPPED", "RECEIVED") or within_after(c.handed_over_at, hi))
    ]
    out["waiting"] = len(waiting)
    out["waiting_oldest_days"] = max(((hi - c.printed_at.replace(tzinfo=UTC)).days for c in waiting), default=0)
    return out


def within_after(value: Any, hi: dt.datetime) -> bool:
    return value is not None and value.replace(tzinfo=UTC) >= hi


WIB = dt.timezone(dt.timedelta(hours=7))


def test_every_figure_of_a_month_matches_a_count_from_the_raw_tables(seeded) -> None:  # type: ignore[no-untyped-def]
    period = reports.Period.month(2026, 11, WIB)
    assert period.start == dt.datetime(2026, 10, 31, 17, tzinfo=UTC)
    with seeded.store.read() as conn:
        report = reports.build(conn, period, now=dt.datetime(2026, 12, 7, tzinfo=UTC))
    assert [s.site for s in report.sites] == sorted(SITES)
    for site in report.sites:
        expected = _raw(seeded, site.site, period.start, period.end)
        assert site.figures == expected, site.site
    total = report.totals
    # The seeded month exercises every figure (a report of zeros would prove nothing).
    assert all(total[name] > 0 for name in reports.SITE_FIGURES if name != "recorded_perubahan"), total
    assert total["recorded"] == sum(s["recorded"] for s in report.sites) > 0
    assert total["recorded_hilang"] == 1 and total["recorded_rusak"] == 1
    # The month's edges: the first recording (31 October, 23:30 WIB) and the last (1 December) are out.
    assert total["recorded"] == 24 - 1 + 2
    assert report.csv_rows()[0][:3] == ("period", "site", "recorded_baru")
    assert report.csv_rows()[-1][1] == "*"
    per_op = {(o.operator, o.site): o for o in report.operators}
    assert sum(o.recorded["baru"] for o in per_op.values()) == total["recorded_baru"]
    assert sum(o.handed_over for o in per_op.values()) == total["handed_over"]


def test_one_site_and_one_day(seeded) -> None:  # type: ignore[no-untyped-def]
    day = reports.Period.day(dt.date(2026, 11, 3), WIB)
    with seeded.store.read() as conn:
        only = reports.build(conn, day, site_code="17.71.01")
        quiet = reports.build(conn, reports.Period.day(dt.date(2026, 1, 1), WIB), site_code="17.71.01")
    assert [s.site for s in only.sites] == ["17.71.01"]
    assert only.sites[0].figures == _raw(seeded, "17.71.01", day.start, day.end)
    assert set(quiet.sites[0].figures.values()) == {0}


def test_bad_periods_are_refused() -> None:
    with pytest.raises(ValueError, match="YYYY-MM"):
        reports.Period.parse_month("2026-13")
    with pytest.raises(ValueError, match="YYYY-MM"):
        reports.Period.parse_month("november")
    with pytest.raises(ValueError, match="1 to 366 days"):
        reports.Period.days(dt.date(2026, 2, 1), dt.date(2026, 1, 1))
