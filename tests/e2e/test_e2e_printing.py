"""What only a browser shows of the print queue: the "print all" button following the "any day" box."""

from __future__ import annotations

import datetime as dt
from typing import Any

from ektp_core.devices.region_rules import WEEKDAYS
from ektp_core.testing.samples import make_print_ready

from .e2ekit import ServedNode, login, text

SITE = "17.71"


def _queue_for_another_day(lc: Any) -> str:
    other_day = WEEKDAYS[(dt.date.today() + dt.timedelta(days=1)).weekday()]
    enrolment_id = make_print_ready(lc)
    job = lc.queue_print(enrolment_id, site_code=SITE, actor="op1", routing_reason="semi-vertical", print_day=other_day)
    lc.receive_blanks(SITE, ["E2E-ANY-0001"], actor="spv1")
    return str(job.id)


def test_print_all_counts_the_jobs_of_other_days_when_the_box_is_ticked(page: Any, node: ServedNode) -> None:
    """Guards issue 14 defect 2: "Cetak semua antrean" stayed "(0)" and disabled with "any day"
    ticked, so jobs due on other days could not be printed in one go."""
    job_id = node.read(_queue_for_another_day)
    login(page, node.url, "op1")
    page.goto(f"{node.url}/print")
    button = page.locator("#print-all")
    assert button.inner_text().strip() == text("print.print_all", count=0)
    assert button.is_disabled()
    page.check("#any-day")
    assert button.inner_text().strip() == text("print.print_all", count=1)
    assert button.is_enabled()
    page.uncheck("#any-day")
    assert button.is_disabled()
    page.check("#any-day")
    with page.expect_navigation():
        button.click()
    assert "/print/runs/" in page.url
    page.wait_for_selector("#run[data-done=true]", timeout=60_000)
    assert node.read(lambda lc: lc.jobs_by_id(job_id).state.value) == "PRINTED"
