"""The central-system emulator (plugins/verify/central): the API of docs/central-api.md with the real
NBIS matcher on synthetic fingers.

Mechanics (validation, tokens, idempotency, long polls, adjudication, cards, the register file) run
in-process through Flask's test client; the verdict flow and a restart with ``ektp central-emulator``
as its own process, as a deployment runs it: tests/integration/verify/test_central_process.py.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest
from centralkit import FINGERS, TOKEN, b64, minutiae_png, submission, template
from click.testing import CliRunner
from ektp_plugins.verify.central import central_emulator_command, ektp_register_commands, emulator_token
from ektp_plugins.verify.central.app import ServiceSlot, create_app, make_app
from ektp_plugins.verify.central.service import CentralService
from ektp_plugins.verify.central.settings import CentralSettings, load_settings, resolve_matcher
from flask import Flask
from flask.testing import FlaskClient

from ektp_core.devices.matchers import MatcherSettings, MatchThresholds
from ektp_core.errors import ConfigError
from ektp_core.testing.samples import make_biodata

AUTH = {"Authorization": f"Bearer {TOKEN}"}


def settings(**thresholds: float) -> CentralSettings:
    return CentralSettings(matcher=MatcherSettings(thresholds=MatchThresholds(**thresholds)))


# --------------------------------------------------------------------------------------------------
# In-process: the Flask application over a service in a temporary folder
# --------------------------------------------------------------------------------------------------


class Central:
    """An emulator in-process: its service and a test client."""

    def __init__(
        self,
        data: Path,
        central_settings: CentralSettings,
        *,
        worker: bool = True,
        register_file: Path | None = None,
        progress: Callable[[str], None] | None = None,
    ) -> None:
        self.service = CentralService(
            data,
            matcher=resolve_matcher(central_settings.matcher),
            settings=central_settings,
            register_file=register_file,
            progress=progress or (lambda line: None),
        )
        self.app: Flask = make_app(self.service, TOKEN)
        self.client: FlaskClient = self.app.test_client()
        if worker:
            self.service.start()

    def post(self, path: str, body: Any, headers: dict[str, str] | None = None) -> tuple[int, Any]:
        response = self.client.post(
            f"/api/v1{path}",
            data=json.dumps(body),
            headers=AUTH if headers is None else headers,
            content_type="application/json",
        )
        return response.status_code, response.get_json()

    def get(self, path: str, headers: dict[str, str] | None = None) -> tuple[int, Any]:
        response = self.client.get(f"/api/v1{path}", headers=AUTH if headers is None else headers)
        return response.status_code, response.get_json() if response.is_json else response.data

    def verdict(self, enrolment_id: str) -> dict[str, Any]:
        status, answer = self.get(f"/enrolments/{enrolment_id}?wait=20")
        assert status == 200 and answer["status"] != "RECEIVED_AT_CENTRAL", answer
        # The verdict is stored first and the gallery updated second, under the service's decision
        # lock: taking it once waits for that update, so /health's count is the one after the verdict.
        with self.service._lock:
            pass
        return dict(answer)


@pytest.fixture
def central(tmp_path: Path) -> Iterator[Central]:
    running = Central(tmp_path / "central", settings())
    yield running
    running.service.stop()


_NOT_ISO = base64.b64encode(b"FMR\x00 21\x00" + bytes(40)).decode()
#: Each case: what it changes in a good body, and what the error message must say.
MALFORMED: dict[str, tuple[Callable[[dict[str, Any], dict[str, Any]], Any], str]] = {
    "not an object": (lambda good, bio: [1, 2], "JSON object"),
    "no id": (lambda good, bio: {k: v for k, v in good.items() if k != "enrolment_id"}, "enrolment_id"),
    "id with a slash": (lambda good, bio: {**good, "enrolment_id": "e/1"}, "enrolment_id"),
    "unknown key": (lambda good, bio: {**good, "finger": {}}, "unknown keys ['finger']"),
    "no site": (lambda good, bio: {**good, "site": ""}, "site"),
    "bad base64": (
        lambda good, bio: {**good, "fingers": {"right_thumb": "%%%not base64%%%"}},
        "fingers.right_thumb: not valid base64",
    ),
    "not ISO": (
        lambda good, bio: {**good, "fingers": {"right_thumb": _NOT_ISO}},
        "fingers.right_thumb: not an ISO/IEC 19794-2:2005 record",
    ),
    "truncated ISO": (
        lambda good, bio: {**good, "fingers": {"right_thumb": b64(template(1, "right_thumb")[:-20])}},
        "fingers.right_thumb: not an ISO/IEC 19794-2:2005 record",
    ),
    "unknown position": (
        lambda good, bio: {**good, "fingers": {"right_toe": good["fingers"]["right_thumb"]}},
        "fingers: unknown finger positions ['right_toe']",
    ),
    "no fingers": (lambda good, bio: {**good, "fingers": {}}, "at least one finger template is required"),
    "finger and exception": (
        lambda good, bio: {**good, "exceptions": {"right_thumb": "amputated"}},
        "both sent and listed",
    ),
    "empty exception reason": (lambda good, bio: {**good, "exceptions": {"left_little": ""}}, "exceptions.left_little"),
    "image not PNG": (
        lambda good, bio: {**good, "finger_images": {"right_thumb": b64(b"GIF89a....")}},
        "not a PNG image",
    ),
    "face not an image": (lambda good, bio: {**good, "face": b64(b"hello")}, "face: not a JPEG or PNG image"),
    "biodata not an object": (lambda good, bio: {**good, "biodata": "SITI"}, "biodata: expected an object"),
    "biodata unknown field": (lambda good, bio: {**good, "biodata": {**bio, "hobby": "x"}}, "biodata.hobby"),
    "biodata missing field": (
        lambda good, bio: {**good, "biodata": {k: v for k, v in bio.items() if k != "nama"}},
        "biodata.biodata: missing fields",
    ),
    "biodata bad NIK": (lambda good, bio: {**good, "biodata": {**bio, "nik": "1771000000000000"}}, "biodata.nik"),
    "biodata bad date": (
        lambda good, bio: {**good, "biodata": {**bio, "tanggal_lahir": "1990-13-01"}},
        "biodata.tanggal_lahir",
    ),
    "biodata bad religion": (lambda good, bio: {**good, "biodata": {**bio, "agama": "JEDI"}}, "biodata.agama"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_bodies_are_refused_and_nothing_is_stored(central: Central, case: str) -> None:
    good = submission("e-bad", make_biodata(), seed=1)
    change, message = MALFORMED[case]
    status, answer = central.post("/enrolments", change(good, dict(good["biodata"])))
    assert status == 400, answer
    assert answer["error"]["code"] == "malformed"
    assert message in answer["error"]["message"]
    assert central.get("/enrolments/e-bad")[0] == 404
    assert central.get("/health")[1]["pending"] == 0


def test_a_template_filed_under_another_finger(central: Central) -> None:
    from ektp_plugins.scanners.nbis import Template

    assert Template.from_iso(template(1, "right_thumb")).position == 1  # the synthetic record names its finger
    body = {**submission("e-bad", make_biodata(), seed=1), "fingers": {"left_thumb": b64(template(1, "right_thumb"))}}
    status, answer = central.post("/enrolments", body)
    assert status == 400 and "fingers.left_thumb: the record says finger position 1" in answer["error"]["message"]


def test_a_body_that_is_not_json(central: Central) -> None:
    response = central.client.post("/api/v1/enrolments", data=b"{not json", headers=AUTH)
    assert response.status_code == 400 and response.get_json()["error"]["code"] == "malformed"


def test_token_is_required_except_for_health(central: Central) -> None:
    body = submission("e-token", make_biodata(), seed=1)
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}):
        status, answer = central.post("/enrolments", body, headers=headers)
        assert status == 401 and answer["error"]["code"] == "unauthorised"
        assert central.get("/enrolments/e-token", headers=headers)[0] == 401
    status, health = central.get("/health", headers={})
    assert status == 200 and health["status"] == "ok" and health["pending"] == 0
    assert central.get("/enrolments/e-token")[0] == 404


def test_errors_are_json(central: Central) -> None:
    status, answer = central.get("/no-such-thing")
    assert status == 404 and answer["error"]["code"] == "not_found"
    response = central.client.delete("/api/v1/enrolments/e-1", headers=AUTH)
    assert response.status_code == 405 and response.get_json()["error"]["code"] == "method_not_allowed"
    status, answer = central.get("/enrolments/e-1?wait=31")
    assert status == 400 and "wait" in answer["error"]["message"]


def test_resend_gets_the_first_answer_and_different_content_a_conflict(central: Central) -> None:
    body = submission("e-idem", make_biodata(), seed=1)
    status, first = central.post("/enrolments", body)
    assert status == 202
    assert first["first"] is True and first["status"] == "RECEIVED_AT_CENTRAL"
    verdict = central.verdict("e-idem")
    reordered = dict(reversed(list(body.items())))  # the same content, keys in another order
    status, again = central.post("/enrolments", reordered)
    assert status == 200
    assert again == {**first, "first": False}
    assert central.verdict("e-idem") == verdict  # changed nothing
    changed = {**body, "site": "17.71.06"}
    status, answer = central.post("/enrolments", changed)
    assert status == 409 and answer["error"]["code"] == "conflict"
    assert central.get("/health")[1]["gallery"] == 1


def test_concurrent_copies_of_one_submission_are_stored_once(central: Central) -> None:
    body = submission("e-race", make_biodata(), seed=2)
    answers: list[tuple[int, Any]] = []

    def send() -> None:
        client = central.app.test_client()
        response = client.post(
            "/api/v1/enrolments", data=json.dumps(body), headers=AUTH, content_type="application/json"
        )
        answers.append((response.status_code, response.get_json()))

    threads = [threading.Thread(target=send) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(status for status, _ in answers) == [200] * 7 + [202]
    assert len({answer["received_at"] for _, answer in answers}) == 1
    assert central.verdict("e-race")["status"] == "PRINT_READY_RECORD"
    assert central.get("/health")[1]["gallery"] == 1


def test_a_failed_search_is_searched_again_on_resend(central: Central, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("index unavailable")

    matcher = central.service.matcher
    monkeypatch.setattr(matcher, "identify", broken)  # fault injection into the real matcher
    body = submission("e-search", make_biodata(), seed=3)
    assert central.post("/enrolments", body)[0] == 202
    failed = central.verdict("e-search")
    assert failed["status"] == "SEARCH_FAILURE_AT_CENTRAL"
    assert [r["code"] for r in failed["reasons"]] == ["search_failed"]
    assert "index unavailable" in failed["reasons"][0]["message"]
    monkeypatch.undo()
    status, receipt = central.post("/enrolments", body)
    assert status == 200 and receipt["first"] is False
    assert central.verdict("e-search")["status"] == "PRINT_READY_RECORD"
    assert central.get("/health")[1]["gallery"] == 1


def test_unusable_fingers_and_all_ten_exceptions(central: Central) -> None:
    from ektp_plugins.scanners.nbis import Template

    from ektp_core.domain.model import FINGER_POSITIONS

    empty = b64(Template(416, 416).iso_bytes())  # a valid record without minutiae
    body = {**submission("e-empty", make_biodata(), seed=4), "fingers": {"right_thumb": empty}}
    assert central.post("/enrolments", body)[0] == 202
    failed = central.verdict("e-empty")
    assert (failed["status"], [r["code"] for r in failed["reasons"]]) == (
        "ENROLL_FAILURE_AT_CENTRAL",
        ["no_usable_fingers"],
    )
    png = b64(minutiae_png(Template(416, 416)))
    body = {**submission("e-image-only", make_biodata(), seed=4), "fingers": {}, "finger_images": {"left_thumb": png}}
    assert central.post("/enrolments", body)[0] == 202
    assert [r["code"] for r in central.verdict("e-image-only")["reasons"]] == ["no_usable_fingers"]
    body = {
        **submission("e-none", make_biodata(), seed=4),
        "fingers": {},
        "exceptions": {p: "amputated" for p in FINGER_POSITIONS},
    }
    assert central.post("/enrolments", body)[0] == 202
    none = central.verdict("e-none")
    assert (none["status"], [r["code"] for r in none["reasons"]], none["candidates"]) == (
        "ADJUDICATE_RECORD",
        ["no_fingers_to_search"],
        [],
    )
    status, decided = central.post(
        "/enrolments/e-none/adjudication", {"decision": "PRINT_READY_RECORD", "supervisor": "budi"}
    )
    assert status == 200 and decided["status"] == "PRINT_READY_RECORD"
    assert central.get("/health")[1]["gallery"] == 0  # nothing to search against later


def test_long_poll_waits_for_the_verdict(tmp_path: Path) -> None:
    central = Central(tmp_path / "central", settings(), worker=False)  # verdicts given by hand below
    try:
        central.post("/enrolments", submission("e-wait", make_biodata(), seed=1))
        started = time.monotonic()
        status, answer = central.get("/enrolments/e-wait")
        assert status == 200 and answer["status"] == "RECEIVED_AT_CENTRAL" and answer["decided_at"] is None
        assert central.get("/enrolments/e-wait/reasons")[0] == 404
        assert central.get("/enrolments/e-wait?wait=0.3")[1]["status"] == "RECEIVED_AT_CENTRAL"
        assert time.monotonic() - started >= 0.3
        threading.Timer(0.5, central.service.decide, args=("e-wait",)).start()
        started = time.monotonic()
        status, answer = central.get("/enrolments/e-wait?wait=10")
        took = time.monotonic() - started
        assert answer["status"] == "PRINT_READY_RECORD" and answer["decided_at"]
        assert 0.4 <= took < 5
    finally:
        central.service.stop()


def test_adjudication_flow_and_finger_images(tmp_path: Path) -> None:
    # The duplicate threshold out of reach: a genuine match lands in the grey zone.
    central = Central(tmp_path / "central", settings(duplicate=10_000, adjudicate=25))
    try:
        first, twin, third = make_biodata(), make_biodata(nama="SITI AMINAH KEMBAR"), make_biodata()
        central.post("/enrolments", submission("e-1", first, seed=5, images=True))
        assert central.verdict("e-1")["status"] == "PRINT_READY_RECORD"
        central.post("/enrolments", submission("e-2", twin, seed=5, impression=1, images=True))
        grey = central.verdict("e-2")
        assert grey["status"] == "ADJUDICATE_RECORD"
        assert [c["enrolment_id"] for c in grey["candidates"]] == ["e-1"]
        assert grey["candidates"][0]["nik"] == first.nik.value
        assert [r["code"] for r in grey["reasons"]] == ["biometric_grey_zone"]
        status, reasons = central.get("/enrolments/e-2/reasons")
        assert status == 200 and reasons["candidates"] == grey["candidates"]

        status, png = central.get("/enrolments/e-1/fingers/right_thumb")
        assert status == 200 and png.startswith(b"\x89PNG")
        assert central.get("/enrolments/e-1/fingers/left_little")[0] == 404
        assert central.get("/enrolments/e-1/fingers/face")[0] == 404

        assert central.post("/cards", {"enrolment_id": "e-2", "printed_at": "2026-11-28T03:00:00Z"})[0] == 409
        decision = {"decision": "PRINT_READY_RECORD", "supervisor": "budi", "note": "different person: twins"}
        assert central.post("/enrolments/e-1/adjudication", decision)[0] == 409  # not in ADJUDICATE_RECORD
        assert central.post("/enrolments/e-2/adjudication", {**decision, "decision": "CARD_PRINTED"})[0] == 400
        status, decided = central.post("/enrolments/e-2/adjudication", decision)
        assert status == 200 and decided["status"] == "PRINT_READY_RECORD"
        assert decided["adjudication"]["supervisor"] == "budi"
        assert [r["code"] for r in decided["reasons"]] == ["biometric_grey_zone", "adjudicated"]
        assert central.post("/enrolments/e-2/adjudication", decision) == (200, decided)  # a resend
        status, answer = central.post("/enrolments/e-2/adjudication", {**decision, "decision": "DUPLICATE_RECORD"})
        assert status == 409 and answer["error"]["code"] == "conflict"
        assert central.get("/health")[1]["gallery"] == 2  # the adjudicated one joined

        # The third recording of the same fingers now resembles both, and a supervisor calls it a duplicate.
        central.post("/enrolments", submission("e-3", third, seed=5, impression=2))
        assert {c["enrolment_id"] for c in central.verdict("e-3")["candidates"]} == {"e-1", "e-2"}
        status, dup = central.post(
            "/enrolments/e-3/adjudication", {"decision": "DUPLICATE_RECORD", "supervisor": "budi"}
        )
        assert status == 200 and dup["status"] == "DUPLICATE_RECORD"
        assert central.get("/health")[1]["gallery"] == 2  # a duplicate never joins
        assert central.post("/enrolments/e-9/adjudication", decision)[0] == 404
    finally:
        central.service.stop()


def test_cards_make_later_enrolments_reprints(central: Central) -> None:
    me = make_biodata()
    central.post("/enrolments", submission("e-1", me, seed=6))
    assert central.verdict("e-1")["status"] == "PRINT_READY_RECORD"
    card = {"enrolment_id": "e-1", "printed_at": "2026-11-28T03:00:00Z"}
    status, first = central.post("/cards", card)
    assert status == 201 and first["first"] is True and first["nik"] == me.nik.value
    assert central.post("/cards", card) == (200, {**first, "first": False})
    assert central.post("/cards", {**card, "enrolment_id": "e-404"})[0] == 404
    assert central.post("/cards", {**card, "printed_at": "yesterday"})[0] == 400
    central.post("/enrolments", submission("e-2", me, seed=6, impression=1))
    again = central.verdict("e-2")
    assert again["status"] == "PRINT_READY_RECORD"
    assert [r["code"] for r in again["reasons"]] == ["same_person_rerecorded", "reprint"]


def test_a_nik_recorded_again_with_other_fingers_goes_to_a_supervisor(central: Central) -> None:
    me = make_biodata()
    central.post("/enrolments", submission("e-1", me, seed=31))
    assert central.verdict("e-1")["status"] == "PRINT_READY_RECORD"
    assert central.post("/cards", {"enrolment_id": "e-1", "printed_at": "2026-11-28T03:00:00Z"})[0] == 201
    # Same NIK and biodata, someone else's fingers: no duplicate of anyone, but not the NIK's holder either.
    central.post("/enrolments", submission("e-2", me, seed=32))
    suspect = central.verdict("e-2")
    assert suspect["status"] == "ADJUDICATE_RECORD"
    assert [r["code"] for r in suspect["reasons"]] == ["nik_fingers_differ"]
    assert "e-1" in suspect["reasons"][0]["message"] and "do not match" in suspect["reasons"][0]["message"]
    [candidate] = suspect["candidates"]
    assert (candidate["enrolment_id"], candidate["nik"]) == ("e-1", me.nik.value)
    assert candidate["score"] < 25 and set(candidate["finger_scores"]) == set(FINGERS)
    assert central.get("/health")[1]["gallery"] == 1

    # The supervisor accepts it (say the first capture was the mistake): it joins the gallery, a reprint.
    decision = {"decision": "PRINT_READY_RECORD", "supervisor": "budi", "note": "holder checked in person"}
    status, decided = central.post("/enrolments/e-2/adjudication", decision)
    assert status == 200 and decided["status"] == "PRINT_READY_RECORD"
    assert [r["code"] for r in decided["reasons"]] == ["nik_fingers_differ", "adjudicated", "reprint"]
    assert central.get("/health")[1]["gallery"] == 2
    assert central.post("/cards", {"enrolment_id": "e-2", "printed_at": "2026-11-28T04:00:00Z"})[0] == 201
    # Now the fingers of either accepted enrolment pass for the NIK.
    central.post("/enrolments", submission("e-3", me, seed=32, impression=1))
    again = central.verdict("e-3")
    assert again["status"] == "PRINT_READY_RECORD"
    assert [r["code"] for r in again["reasons"]] == ["same_person_rerecorded", "reprint"]
    assert "e-2" in again["reasons"][0]["message"]
    # A third person's fingers under the NIK, called a duplicate by the supervisor, never join.
    central.post("/enrolments", submission("e-4", me, seed=33))
    fourth = central.verdict("e-4")
    assert [r["code"] for r in fourth["reasons"]] == ["nik_fingers_differ"]
    assert {c["enrolment_id"] for c in fourth["candidates"]} == {"e-1", "e-2", "e-3"}
    status, dup = central.post("/enrolments/e-4/adjudication", {"decision": "DUPLICATE_RECORD", "supervisor": "budi"})
    assert status == 200 and dup["status"] == "DUPLICATE_RECORD"
    assert central.get("/health")[1]["gallery"] == 3


def test_face_image_for_adjudication(central: Central) -> None:
    import io

    from PIL import Image

    pictures = {}
    for kind in ("PNG", "JPEG"):
        buffer = io.BytesIO()
        Image.new("RGB", (48, 64), (200, 170, 150)).save(buffer, kind)
        pictures[kind] = buffer.getvalue()
    for enrolment_id, face in (("e-png", pictures["PNG"]), ("e-jpeg", pictures["JPEG"]), ("e-none", None)):
        body = {**submission(enrolment_id, make_biodata(), seed=34), "face": b64(face) if face else None}
        assert central.post("/enrolments", body)[0] == 202
    response = central.client.get("/api/v1/enrolments/e-png/face", headers=AUTH)
    assert (response.status_code, response.mimetype, response.data) == (200, "image/png", pictures["PNG"])
    response = central.client.get("/api/v1/enrolments/e-jpeg/face", headers=AUTH)
    assert (response.status_code, response.mimetype, response.data) == (200, "image/jpeg", pictures["JPEG"])
    status, answer = central.get("/enrolments/e-none/face")
    assert status == 404 and answer["error"]["code"] == "not_found" and "no face image" in answer["error"]["message"]
    assert central.get("/enrolments/e-404/face")[0] == 404
    assert central.get("/enrolments/e-png/face", headers={})[0] == 401


def test_a_restart_loads_the_gallery_snapshot_only_while_it_fits_the_database(tmp_path: Path) -> None:
    import sqlite3

    from ektp_plugins.verify.central.snapshot import MARKER_FILE

    data, lines = tmp_path / "central", []
    probe = {p: template(42, p, 1) for p in FINGERS}

    def restart() -> tuple[Central, list[tuple[str, float, dict[str, float]]]]:
        lines.clear()
        running = Central(data, settings(), worker=False, progress=lines.append)
        found = running.service.matcher.identify(probe)
        return running, [(c.subject, c.score, dict(c.finger_scores)) for c in found]

    def said(text: str) -> bool:
        return any(text in line for line in lines)

    first = Central(data, settings(), progress=lines.append)
    for n in range(1, 5):
        first.post("/enrolments", submission(f"e-s{n}", make_biodata(), seed=40 + n))
        assert first.verdict(f"e-s{n}")["status"] == "PRINT_READY_RECORD"
    first.service.stop()
    assert said("gallery snapshot saved: 4 enrolments") and (data / MARKER_FILE).exists()

    second, loaded = restart()
    assert said("gallery loaded from the snapshot: 4 enrolments") and not said("loading the gallery")
    assert second.get("/health")[1]["gallery"] == 4
    assert loaded[0][0] == "e-s2" and loaded[0][1] >= 40
    second.service.stop()
    assert not said("snapshot saved")  # nothing changed: the snapshot on disk still holds it

    # The database changed behind its back: the snapshot no longer fits and is not trusted.
    with sqlite3.connect(data / "central.sqlite3") as db:
        db.execute("UPDATE enrolments SET in_gallery = 0 WHERE enrolment_id = 'e-s2'")
    third, without = restart()
    assert said("gallery snapshot not used (it holds 4 enrolments up to #4, the database 3 up to #4)")
    assert said("loading the gallery: 3 enrolments")
    assert third.get("/health")[1]["gallery"] == 3 and "e-s2" not in [c[0] for c in without]
    third.service.stop()  # saves a snapshot of the 3
    with sqlite3.connect(data / "central.sqlite3") as db:
        db.execute("UPDATE enrolments SET in_gallery = 1 WHERE enrolment_id = 'e-s2'")
    fourth, rebuilt = restart()
    assert said("gallery snapshot not used (it holds 3 enrolments") and rebuilt == loaded  # identical gallery
    fourth.service.stop()

    # A snapshot file that cannot be read is rebuilt too, with the same gallery.
    marker = json.loads((data / MARKER_FILE).read_text("utf-8"))
    (data / marker["file"]).write_bytes((data / marker["file"]).read_bytes()[:100])
    fifth, recovered = restart()
    assert said(f"its file {marker['file']} cannot be loaded") and recovered == loaded
    assert fifth.get("/health")[1]["gallery"] == 4
    fifth.service.stop()
    assert said("gallery snapshot saved: 4 enrolments")
    assert [f.name for f in data.glob("gallery-*.npz")] == [json.loads((data / MARKER_FILE).read_text())["file"]]


def test_snapshot_markers_are_checked_before_any_file_is_read(tmp_path: Path) -> None:
    from ektp_plugins.verify.central.snapshot import MARKER_FILE, Coverage, GallerySnapshots
    from ektp_plugins.verify.dedup import NbisMatcher

    matcher = NbisMatcher()
    gallery = [(1, "e-1", "a" * 64), (3, "e-3", "b" * 64)]
    coverage = Coverage.of(matcher, gallery)
    assert coverage.difference(Coverage.of(matcher, gallery)) == ""
    other = Coverage.of(matcher, [(1, "e-1", "a" * 64), (3, "e-3", "c" * 64)])  # same ids, another body
    assert "other enrolments" in coverage.difference(other)
    assert "ektp 0.0.1" in attrs.evolve(coverage, software="0.0.1").difference(coverage)
    snapshots = GallerySnapshots(tmp_path)
    assert snapshots.load(matcher, coverage, ["e-1", "e-3"]) == "there is none"
    for text, why in (
        ("{not json", "unreadable"),
        (json.dumps({"format": 99}), "unknown marker format"),
        (json.dumps({"format": 1, "file": "../central.sqlite3"}), "no gallery file of this folder"),
        (json.dumps({"format": 1, "file": "gallery-x.npz"}), "incomplete"),
    ):
        (tmp_path / MARKER_FILE).write_text(text, "utf-8")
        assert why in snapshots.load(matcher, coverage, ["e-1", "e-3"])
        assert len(matcher) == 0
    # A marker that fits, next to a file holding another gallery: loaded, found out, emptied again.
    other_matcher = NbisMatcher()
    other_matcher.add("e-9", {"right_thumb": template(1, "right_thumb")})
    snapshots.save(other_matcher, coverage)
    assert snapshots.load(matcher, coverage, ["e-1", "e-3"]).endswith("holds other enrolments than its marker says")
    assert len(matcher) == 0
    snapshots.discard()
    assert list(tmp_path.iterdir()) == []


def test_register_file_seeds_holders_and_cards(tmp_path: Path) -> None:
    holder, carded = make_biodata(), make_biodata(jenis_kelamin="L")
    lines = [
        json.dumps(
            {
                "nik": holder.nik.value,
                "nama": "DEWI LESTARI",
                "jenis_kelamin": "P",
                "tanggal_lahir": "1990-01-01",
                "tempat_lahir": "BENGKULU",
            }
        ),
        "# a comment",
        "",
        json.dumps({**carded.to_dict(), "card_printed": True, "card_printed_at": "2015-03-01T08:00:00+07:00"}),
    ]
    seed = tmp_path / "register.jsonl"
    seed.write_text("\n".join(lines) + "\n", "utf-8")
    for _ in range(2):  # seeding again on a restart adds nothing and refuses nothing
        central = Central(tmp_path / "central", settings(), register_file=seed)
        try:
            central.post("/enrolments", submission(f"e-h{_}", holder, seed=7 + 2 * _))
            refused = central.verdict(f"e-h{_}")
            assert refused["status"] == "ENROLL_FAILURE_AT_CENTRAL"
            assert [r["code"] for r in refused["reasons"]] == ["nik_issued_to_other"]
            # The same resident's fingers both times (other fingers under the NIK would be nik_fingers_differ).
            central.post("/enrolments", submission(f"e-c{_}", carded, seed=8, impression=_))
            reprint = central.verdict(f"e-c{_}")
            assert reprint["status"] == "PRINT_READY_RECORD"
            assert [r["code"] for r in reprint["reasons"]] == ["same_person_rerecorded"] * _ + ["reprint"]
        finally:
            central.service.stop()
    contradiction = tmp_path / "other.jsonl"
    contradiction.write_text(
        json.dumps(
            {
                "nik": holder.nik.value,
                "nama": "SOMEONE ELSE",
                "jenis_kelamin": "P",
                "tanggal_lahir": "1990-01-01",
                "tempat_lahir": "BENGKULU",
            }
        )
        + "\n"
    )
    with pytest.raises(ValueError, match="another person"):
        Central(tmp_path / "central", settings(), register_file=contradiction)
    broken = tmp_path / "broken.jsonl"
    broken.write_text(
        '{"nik": "1771000000000000", "nama": "X", "jenis_kelamin": "P", '
        '"tanggal_lahir": "1990-01-01", "tempat_lahir": "Y"}\n'
    )
    with pytest.raises(ConfigError, match="line 1: nik"):
        Central(tmp_path / "broken-central", settings(), register_file=broken)


def test_config_file_sets_matcher_and_eligibility(tmp_path: Path) -> None:
    config = tmp_path / "profile.toml"
    config.write_text(
        '[verification]\nverifier = "http"\n[verification.matcher]\nduplicate_score = 55\n'
        "adjudicate_score = 30\n[lifecycle]\neligibility_age = 16\n",
        "utf-8",
    )
    loaded = load_settings(config)
    assert loaded.matcher.thresholds.duplicate == 55 and loaded.matcher.thresholds.adjudicate == 30
    assert loaded.rules.eligibility_age == 16
    assert load_settings(None) == CentralSettings()
    config.write_text("[verification.matcher]\nduplicate_score = 10\nadjudicate_score = 30\n", "utf-8")
    with pytest.raises(ConfigError, match=r"verification\.matcher"):
        load_settings(config)


def test_generated_token_is_kept_and_a_given_one_wins(tmp_path: Path) -> None:
    token, generated = emulator_token(tmp_path / "data", None)
    assert generated and len(token) >= 32
    assert (tmp_path / "data" / "token").stat().st_mode & 0o077 == 0
    assert emulator_token(tmp_path / "data", None) == (token, True)
    assert emulator_token(tmp_path / "data", "given") == ("given", False)


def test_create_app_and_the_command_hook(tmp_path: Path) -> None:
    app = create_app(tmp_path / "central", token=TOKEN)
    try:
        assert app.test_client().get("/api/v1/health").get_json()["gallery"] == 0
    finally:
        app.extensions["ektp_central"].stop()
    with pytest.raises(ValueError, match="token"):
        make_app(app.extensions["ektp_central"], "")
    loading = ServiceSlot()
    loading.status = "loading its gallery"
    answer = make_app(loading, TOKEN).test_client().get("/api/v1/health")
    assert answer.status_code == 503 and "loading its gallery" in answer.get_json()["error"]["message"]

    import click

    group = click.Group()
    ektp_register_commands(group)
    assert group.commands["central-emulator"] is central_emulator_command
    result = CliRunner().invoke(central_emulator_command, ["--config", str(tmp_path / "missing.toml")])
    assert result.exit_code != 0


def test_a_data_change_replacement_is_not_a_duplicate_of_the_record_it_replaces(central: Central) -> None:
    me = make_biodata(nama="SITI AMINAH")
    central.post("/enrolments", submission("e-1", me, seed=41))
    assert central.verdict("e-1")["status"] == "PRINT_READY_RECORD"
    assert central.post("/cards", {"enrolment_id": "e-1", "printed_at": "2026-11-28T03:00:00Z"})[0] == 201
    renamed = attrs.evolve(me, nama="SITI AMINAH PUTRI")
    # Without saying what it replaces, the same fingers under a changed name are another person's claim.
    central.post("/enrolments", submission("e-2", renamed, seed=41, impression=1))
    assert central.verdict("e-2")["status"] != "PRINT_READY_RECORD"
    service = {"type": "perubahan", "replaces": "e-1", "changed_fields": ["nama"], "proof_document": "KK 1771"}
    status, _ = central.post("/enrolments", {**submission("e-3", renamed, seed=41, impression=1), "service": service})
    assert status == 202
    replacement = central.verdict("e-3")
    assert replacement["status"] == "PRINT_READY_RECORD"
    assert [r["code"] for r in replacement["reasons"]] == ["same_person_rerecorded", "reprint"]
    bad = {**submission("e-4", renamed, seed=41), "service": {"type": "hilang", "replaces": "e-1"}}
    status, answer = central.post("/enrolments", bad)
    assert status == 400 and "police_report_number" in answer["error"]["message"]


def test_a_correction_of_a_held_record_is_taken_and_a_resend_of_it_is_the_same_enrolment(central: Central) -> None:
    me = make_biodata(pekerjaan="PELAJAR/MAHASISWA")
    body = submission("e-1", me, seed=51)
    central.post("/enrolments", body)
    central.verdict("e-1")
    corrected = {**body, "biodata": {**body["biodata"], "pekerjaan": "PETANI/PEKEBUN"}}
    request = {"submission": corrected, "reason": "typo on the form", "supervisor": "spv1"}
    assert (
        central.post("/enrolments/e-2/correction", {**request, "submission": {**corrected, "enrolment_id": "e-2"}})[0]
        == 404
    )
    assert central.post("/enrolments/e-1/correction", {**request, "reason": ""})[0] == 400
    other_nik = {**corrected, "biodata": {**corrected["biodata"], "nik": "1771054101900009"}}
    assert central.post("/enrolments/e-1/correction", {**request, "submission": other_nik})[0] in (400, 409)
    status, answer = central.post("/enrolments/e-1/correction", request)
    assert status == 200 and answer["enrolment_id"] == "e-1"
    assert central.service.find("e-1").biodata["pekerjaan"] == "PETANI/PEKEBUN"
    assert central.post("/enrolments", corrected)[0] == 200  # the corrected resend: the same enrolment
    assert central.post("/enrolments", body)[0] == 200  # and the first one still
    assert central.post("/cards", {"enrolment_id": "e-1", "printed_at": "2026-11-28T03:00:00Z"})[0] == 201
    status, answer = central.post("/enrolments/e-1/correction", request)
    assert status == 409 and "replacement" in answer["error"]["message"]
