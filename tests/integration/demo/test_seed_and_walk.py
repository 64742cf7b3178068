"""``ektp walk --site`` and ``ektp seed`` on a profile other than Kota Bengkulu (DKI Jakarta Pusat), with
the central-system emulator the walk and the seed start on the profile's port: each resident's state
checked in the database."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import sqlalchemy as sa
from ektp_plugins.demo.seeding import seed
from portlock import port_lock

from ektp_core.config import load_deployment
from ektp_core.domain.model import EnrolmentState
from ektp_core.services.node_init import create_deployment
from ektp_core.store.tables import enrolments, print_jobs


def test_walk_and_seed_on_jakarta_pusat(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("EKTP_DEPLOYMENT", "EKTP_DATABASE_URL")}
    folder = tmp_path / "jp"
    create_deployment(folder, profile="dki-jakarta-pusat")
    with port_lock(4800):
        done = subprocess.run(
            [sys.executable, "-m", "ektp_core", "walk", "--dir", str(folder), "--site", "31.71.06.1001"],
            capture_output=True,
            text=True,
            env=env,
            timeout=300,
        )
        assert done.returncode == 0, done.stderr
        assert "Kelurahan Menteng (31.71.06.1001)" in done.stdout and "CARD_ISSUED" in done.stdout
        assert "(Menteng, Kota Administrasi Jakarta Pusat;" in done.stdout
        deployment = load_deployment(folder)
        quiet = {"echo": lambda _text: None, "pictures": "quick"}
        seed(deployment, residents=2, until=EnrolmentState.CARD_ISSUED, seed_value=5, **quiet)  # type: ignore[arg-type]
        seed(deployment, residents=2, site_code="31.71.02", until=EnrolmentState.PRINT_READY_RECORD, **quiet)  # type: ignore[arg-type]
        seed(deployment, residents=1, until=EnrolmentState.SENT_FOR_CARD_PRINTING, seed_value=5, **quiet)  # type: ignore[arg-type]
    store = deployment.open_store()
    try:
        with store.read() as conn:
            rows = list(conn.execute(sa.select(enrolments.c.nik, enrolments.c.state, enrolments.c.site_code)))
            queued = conn.execute(
                sa.select(sa.func.count()).select_from(print_jobs).where(print_jobs.c.state == "QUEUED")
            ).scalar_one()
    finally:
        store.dispose()
    states = Counter(r.state for r in rows)
    # The walk's resident and two seeded ones handed over; two print-ready; one queued for printing.
    assert states == {"CARD_ISSUED": 3, "PRINT_READY_RECORD": 2, "SENT_FOR_CARD_PRINTING": 1}
    assert queued == 1
    assert len({r.nik for r in rows}) == 6 and all(r.nik.startswith("3171") for r in rows)
    assert sorted(r.nik[:6] for r in rows if r.site_code == "31.71.02") == ["317102", "317102"]
    assert {r.site_code for r in rows} == {"31.71.06.1001", "31.71", "31.71.02"}
