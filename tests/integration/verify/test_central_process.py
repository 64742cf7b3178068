"""The central-system emulator as a deployment runs it, ``ektp central-emulator`` in its own process:
verdicts over HTTP, a clean stop on SIGTERM, and a restart that loads its gallery snapshot. (The API's
mechanics run in-process: tests/plugins/verify/test_central_emulator.py.)"""

from __future__ import annotations

import datetime as dt
import json
import signal
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from centralkit import FINGERS, TOKEN, CentralProcess, submission, template

from ektp_core.testing.samples import make_biodata, valid_nik

AUTH = {"Authorization": f"Bearer {TOKEN}"}


def call(central: CentralProcess, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        central.url + path, data=data, method=method, headers={**AUTH, "Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def submit_and_wait(central: CentralProcess, body: dict[str, Any]) -> dict[str, Any]:
    status, receipt = call(central, "POST", "/enrolments", body)
    assert status == 202, receipt
    status, verdict = call(central, "GET", f"/enrolments/{body['enrolment_id']}?wait=20")
    assert status == 200 and verdict["status"] != "RECEIVED_AT_CENTRAL", verdict
    return dict(verdict)


def test_verdicts_and_restart_as_a_process(tmp_path: Path) -> None:
    central = CentralProcess(tmp_path / "central").start()
    try:
        siti, budi = make_biodata(), make_biodata(jenis_kelamin="L")
        first = submit_and_wait(central, submission("e-siti", siti, seed=11))
        assert first["status"] == "PRINT_READY_RECORD" and first["reasons"] == []
        assert submit_and_wait(central, submission("e-budi", budi, seed=12))["status"] == "PRINT_READY_RECORD"

        # Siti's fingers under another NIK: a duplicate pointing at her enrolment.
        planted = make_biodata(nama="RATNA SARI")
        dup = submit_and_wait(central, submission("e-planted", planted, seed=11, impression=1))
        assert dup["status"] == "DUPLICATE_RECORD"
        assert [(c["enrolment_id"], c["nik"]) for c in dup["candidates"]] == [("e-siti", siti.nik.value)]
        assert dup["candidates"][0]["score"] >= 40 and set(dup["candidates"][0]["finger_scores"]) <= set(FINGERS)
        assert [r["code"] for r in dup["reasons"]] == ["biometric_duplicate"]

        # Siti's NIK claimed by someone else, and biodata that contradicts its own NIK.
        other = submit_and_wait(central, submission("e-claim", make_biodata(nik=siti.nik.value, nama="DEWI"), seed=13))
        assert (other["status"], [r["code"] for r in other["reasons"]]) == (
            "ENROLL_FAILURE_AT_CENTRAL",
            ["nik_issued_to_other"],
        )
        wrong_sex = make_biodata(nik=valid_nik(sex="L", birth_date=dt.date(1990, 1, 1)), jenis_kelamin="P")
        contradicts = submit_and_wait(central, submission("e-contra", wrong_sex, seed=14))
        assert [r["code"] for r in contradicts["reasons"]] == ["biodata_contradicts_nik"]
        health = central.health()
        assert health["gallery"] == 2 and health["pending"] == 0

        # SIGTERM: a clean stop (exit status 0), the data kept.
        assert central.process is not None
        central.process.send_signal(signal.SIGTERM)
        assert central.process.wait(timeout=20) == 0
        central.process = None
        log = central.log.read_text("utf-8", errors="replace")
        assert "stopped" in log and TOKEN not in log and first["enrolment_id"] in log
        assert "gallery snapshot saved: 2 enrolments" in log
        assert template(11, "right_thumb")[:8].hex() not in log

        central.start()
        assert central.health()["gallery"] == 2
        assert "gallery loaded from the snapshot: 2 enrolments" in central.log.read_text("utf-8", errors="replace")
        status, kept = call(central, "GET", "/enrolments/e-planted")
        assert status == 200 and kept == dup
        status, receipt = call(central, "POST", "/enrolments", submission("e-siti", siti, seed=11))
        assert status == 200 and receipt["first"] is False and receipt["received_at"] == first["received_at"]
        # The gallery was rebuilt from the database: Budi's fingers are still found.
        again = submit_and_wait(central, submission("e-budi-2", make_biodata(jenis_kelamin="L"), seed=12, impression=2))
        assert again["status"] == "DUPLICATE_RECORD"
        assert again["candidates"][0]["enrolment_id"] == "e-budi"
    finally:
        central.stop()
