"""Adjudication in the web UI against the central-system emulator running as its own process: the
queue, the side-by-side page, deciding (a note required, a double click harmless), the central system
being down (nothing changes), a candidate held only centrally. (Who may open the pages where:
tests/plugins/web/test_adjudication.py.)"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import centralkit as kit
import pytest
import sqlalchemy as sa
from ektp_plugins.web.ui import create_app
from flask import Flask
from webkit import Browser, add_account

from ektp_core.domain.model import EnrolmentState, Role
from ektp_core.services.node_init import create_deployment
from ektp_core.store.tables import audit_log

E = EnrolmentState


class Setting:
    """A Dukcapil node whose second enrolment waits in ADJUDICATE_RECORD, and the node's web app."""

    def __init__(self, central: Any, node: Any, first: str, twin: str, app: Flask) -> None:
        self.central, self.node, self.first, self.twin, self.app = central, node, first, twin, app

    def supervisor(self) -> Browser:
        b = Browser(self.app)
        b.login("spv1")
        return b


@pytest.fixture
def adjudicating(
    tmp_path: Path, ektp_database_url: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[[], Setting]]:
    monkeypatch.setenv("EKTP_CENTRAL_TOKEN", kit.TOKEN)
    started: list[Any] = []

    def make(*, first_elsewhere: bool = False) -> Setting:
        config = tmp_path / "central.toml"
        # Every genuine match falls in the grey zone: the second recording of a person is adjudicated.
        config.write_text("[verification.matcher]\nduplicate_score = 100000\nadjudicate_score = 20\n", "utf-8")
        central = kit.CentralProcess(tmp_path / "central", config=config).start()
        started.append(central)
        deployment = create_deployment(
            tmp_path / "node", profile=str(kit.node_profile(tmp_path, central.url)), database_url=ektp_database_url
        )
        node = kit.Node(deployment)
        started.append(node)
        recorder = node
        if first_elsewhere:
            # Another regency's node recorded the person first: only the central system holds it.
            other = create_deployment(
                tmp_path / "elsewhere",
                profile=str(kit.node_profile(tmp_path, central.url)),
                database_url=f"sqlite:///{tmp_path / 'elsewhere.sqlite3'}",
            )
            recorder = kit.Node(other)
            started.append(recorder)
        first = kit.record_resident(recorder.lc, seed=7)
        recorder.verification.submit(first, actor="op1")
        recorder.settle(first)
        twin = kit.record_resident(node.lc, seed=7, impression=1, nama="SITI AMINA")
        node.verification.submit(twin, actor="op1")
        node.settle(twin)
        assert node.state(twin) is E.ADJUDICATE_RECORD
        for username, role in (("spv1", Role.SUPERVISOR), ("opr1", Role.OPERATOR)):
            add_account(node.lc, username, role)
        app = create_app(node.lc, node.host)
        app.config["SESSION_COOKIE_SECURE"] = False
        app.testing = True
        return Setting(central, node, first, twin, app)

    yield make
    for thing in started:
        if hasattr(thing, "stop"):
            thing.stop()
        else:
            thing.store.dispose()


def audited(node: Any, action: str) -> list[Any]:
    with node.store.read() as conn:
        return conn.execute(sa.select(audit_log).where(audit_log.c.action == action).order_by(audit_log.c.seq)).all()


def test_queue_and_side_by_side_page(adjudicating) -> None:  # type: ignore[no-untyped-def]
    s = adjudicating()
    b = s.supervisor()
    queue = b.get("/adjudication").get_data(as_text=True)
    assert f'data-enrolment="{s.twin}"' in queue and f'data-enrolment="{s.first}"' not in queue
    page = b.get(f"/adjudication/{s.twin}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    # The best candidate is the first recording of the same person; ten fingers side by side, each scored.
    assert s.first in html
    rows = re.findall(r'<tr class="finger" data-position="([a-z_]+)">', html)
    assert len(rows) == 10
    scores = re.findall(r'<span class="score">skor ([0-9.]+|–)</span>', html)
    assert len(scores) == 10 and any(score != "–" for score in scores)
    assert "SITI AMINA" in html and 'id="biodata-compare"' in html and 'class="differs"' in html
    for owner in (s.twin, s.first):
        image = b.get(f"/adjudication/{s.twin}/finger/{owner}/right_index")
        assert image.status_code == 200 and image.mimetype == "image/png"
        assert image.headers["Cache-Control"] == "no-store"
    # The route shows only the enrolment and its candidates, and only real finger positions.
    assert b.get(f"/adjudication/{s.twin}/finger/someone-else/right_index").status_code == 404
    assert b.get(f"/adjudication/{s.twin}/finger/{s.first}/nose").status_code == 404
    assert b.get(f"/adjudication/{s.twin}?candidate=not-a-candidate").status_code == 404
    assert b.get("/adjudication/no-such-enrolment").status_code == 404
    assert "data-confirm=" in html and 'name="note"' in html


def test_decide_needs_a_note_and_a_double_click_changes_nothing_more(adjudicating) -> None:  # type: ignore[no-untyped-def]
    s = adjudicating()
    b = s.supervisor()
    b.get(f"/adjudication/{s.twin}")
    no_note = b.post(f"/adjudication/{s.twin}/decide", {"decision": "unique", "note": "   "})
    assert no_note.status_code == 400 and "Catatan wajib diisi" in no_note.get_data(as_text=True)
    no_choice = b.post(f"/adjudication/{s.twin}/decide", {"note": "kembar identik"})
    assert no_choice.status_code == 400 and "kembar identik" in no_choice.get_data(as_text=True)
    assert s.node.state(s.twin) is E.ADJUDICATE_RECORD
    assert not audited(s.node, "enrolment.print_ready_record")[1:]  # only the first recording's verdict

    decided = b.post(f"/adjudication/{s.twin}/decide", {"decision": "unique", "note": "saudara kembar, KK berbeda"})
    assert decided.status_code == 302 and decided.headers["Location"] == "/adjudication"
    assert s.node.state(s.twin) is E.PRINT_READY_RECORD
    [entry] = [e for e in audited(s.node, "enrolment.print_ready_record") if e.subject_id == s.twin]
    assert entry.actor == "spv1" and "saudara kembar, KK berbeda" in entry.detail
    again = b.post(f"/adjudication/{s.twin}/decide", {"decision": "duplicate", "note": "klik ganda"})
    assert again.status_code == 302
    assert "sudah diputuskan" in b.get(again.headers["Location"]).get_data(as_text=True)
    assert s.node.state(s.twin) is E.PRINT_READY_RECORD
    assert not audited(s.node, "enrolment.duplicate_record")


def test_central_system_down_is_shown_and_changes_nothing(adjudicating) -> None:  # type: ignore[no-untyped-def]
    s = adjudicating()
    b = s.supervisor()
    b.get(f"/adjudication/{s.twin}")
    s.central.stop()
    response = b.post(f"/adjudication/{s.twin}/decide", {"decision": "duplicate", "note": "sidik jari identik"})
    assert response.status_code == 503
    html = response.get_data(as_text=True)
    assert "tidak dapat dihubungi" in html and "sidik jari identik" in html  # the note is kept for the retry
    assert s.node.state(s.twin) is E.ADJUDICATE_RECORD
    assert not audited(s.node, "enrolment.duplicate_record")
    # The node's own images still show; the candidate's come from this node's records too.
    assert b.get(f"/adjudication/{s.twin}/finger/{s.twin}/left_thumb").status_code == 200


def test_a_candidate_held_only_centrally_is_compared_with_the_central_images(adjudicating) -> None:  # type: ignore[no-untyped-def]
    s = adjudicating(first_elsewhere=True)
    with pytest.raises(Exception, match="no enrolment"):
        s.node.lc.get(s.first)
    b = s.supervisor()
    html = b.get(f"/adjudication/{s.twin}").get_data(as_text=True)
    assert s.first in html and "tidak tersimpan di node ini" in html and 'id="biodata-compare"' not in html
    image = b.get(f"/adjudication/{s.twin}/finger/{s.first}/right_index")
    assert image.status_code == 200 and image.mimetype == "image/png"
    assert b.get(f"/adjudication/{s.twin}/photo/{s.first}").status_code == 404
    decided = b.post(f"/adjudication/{s.twin}/decide", {"decision": "duplicate", "note": "orang yang sama"})
    assert decided.status_code == 302 and s.node.state(s.twin) is E.DUPLICATE_RECORD
