"""A node with some history for the backup tests, its tables as rows, and the checks a restored node
passes."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from ektp_core.config import load_deployment
from ektp_core.lifecycle import audit
from ektp_core.lifecycle.service import LifecycleService
from ektp_core.services.capture import CaptureService
from ektp_core.store.tables import metadata
from ektp_core.testing.samples import queue_print_ready, valid_nik

PASSPHRASE = "kunci cadangan yang panjang"


def fill(lc: LifecycleService) -> None:
    """A node with some history: printed, spoiled and queued cards, blanks, biometrics, accounts."""
    lc.receive_blanks("17.71", [f"BLK-{n:06d}" for n in range(1, 21)], actor="spv1", note="delivery 1")
    for seed in range(6):
        job = queue_print_ready(lc, seed=seed, nik=valid_nik(serial=seed + 1))
        if seed < 4:
            lc.reserve_blank(job, actor="op1")
            lc.mark_sent(job, actor="op1", printer="evolis-1")
            if seed == 3:
                lc.mark_spoiled(job, actor="op1", reason="ribbon creased")
            else:
                lc.mark_printed(job, actor="op1")
    lc.spoil_blank("BLK-000020", actor="spv1", reason="bent in the box")


def snapshot(url: str) -> dict[str, list[tuple[object, ...]]]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            tables = {}
            for table in metadata.sorted_tables:
                order = list(table.primary_key.columns) or list(table.columns)
                tables[table.name] = [tuple(row) for row in conn.execute(sa.select(table).order_by(*order))]
            return tables
    finally:
        engine.dispose()


def check_restored(target: Path, before: dict[str, list[tuple[object, ...]]]) -> None:
    deployment = load_deployment(target)
    assert snapshot(deployment.database_url) == before
    store = deployment.open_store()
    try:
        lc = LifecycleService(store, deployment.plugin_host().hook, deployment)
        ledger = lc.ledger("17.71")
        assert ledger.balanced and (ledger.received, ledger.printed, ledger.spoiled) == (20, 3, 2)
        with store.read() as conn:
            assert audit.verify(conn).ok
        # The keys came back too: the biometrics decrypt at the restored node.
        enrolment_id = before["enrolments"][0][0]
        photo = CaptureService(lc).image(enrolment_id, "face", "face")
        assert photo.startswith(b"\x89PNG") or photo[:2] == b"\xff\xd8"
        # And the node keeps working: the next audit entry chains on.
        lc.receive_blanks("17.71", ["BLK-999999"], actor="spv1")
        with store.read() as conn:
            assert audit.verify(conn).ok
    finally:
        store.dispose()
