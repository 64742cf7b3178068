"""benchmarks/bench_web.py keeps working: a tiny run end to end (seeding, ektp serve, logins, every page and
the recording form), and its seeding's timelines. No timing is asserted: absolute figures prove nothing on a
test runner."""

from __future__ import annotations

import datetime as dt
import importlib.util
import json
import random
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from ektp_core.domain.model import EnrolmentState
from ektp_core.lifecycle.states import ENROLMENT_TRANSITIONS

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "bench_web.py"


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_web", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_web"] = module
    spec.loader.exec_module(module)
    return module


def test_a_tiny_run_visits_every_page_and_records_without_errors(tmp_path: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            str(SCRIPT),
            "--enrolments",
            "60",
            "--users",
            "3",
            "--seconds",
            "4",
            "--think",
            "0.02-0.08",
            "--dir",
            str(tmp_path),
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout)
    figures = report["figures"]
    assert figures["errors"] == {}, figures["errors"]
    assert figures["skipped"] == [], "a main page is gone from the app; update bench_web.PAGES"
    assert report["recording"] is True
    pages = figures["pages"]
    assert "health (trivial route)" in pages and "dashboard" in pages
    for label, page in pages.items():
        assert page["count"] > 0, label
        assert 0 < page["p50_ms"] <= page["p95_ms"] <= page["max_ms"], label
    recorded = pages.get("record (biodata POST)", {}).get("count", 0)
    assert figures["recorded"] == recorded
    assert sum(report["seeded"]["by_state"].values()) == 60
    assert report["machine"]["cpus"] >= 1 and report["machine"]["sqlite"]
    assert not any(tmp_path.iterdir()), "the temp dir was left behind"


def test_percentile_is_nearest_rank(bench: ModuleType) -> None:
    values = [float(v) for v in range(1, 101)]
    assert bench.percentile(values, 50) == 50.0
    assert bench.percentile(values, 95) == 95.0
    assert bench.percentile([7.0], 95) == 7.0


def test_every_seeded_timeline_is_legal_and_in_time_order(bench: ModuleType) -> None:
    rng = random.Random(3)
    now = dt.datetime.now(dt.UTC)
    districts = [f"17.71.0{i}" for i in range(1, 10)]
    used: set[str] = set()
    for n in range(300):
        plan = bench.plan(rng, n, ["17.71", *districts], districts, ["op01"], {}, now, used)
        times = [when for when, _what, _arg in plan.steps]
        assert times == sorted(times)
        assert plan.steps[0][0] <= now and plan.steps[0][1] == "record"
        state = EnrolmentState.BIO_CAPTURED
        for _when, what, arg in plan.steps[1:]:
            target = {
                "move": arg,
                "queue": EnrolmentState.SENT_FOR_CARD_PRINTING,
                "print": EnrolmentState.CARD_PRINTED,
                "issue": EnrolmentState.CARD_ISSUED,
            }[what]
            assert target in ENROLMENT_TRANSITIONS[state], (state, target)
            state = target
    assert len(used) == 300  # every resident a different NIK
