"""A node with biometrics for the data-key rotation tests: photos and signatures of print-ready
residents, fingerprints being recorded, and (as on a node made before keyrings) one enrolment's blobs
in the original EK1 format."""

from __future__ import annotations

import sqlalchemy as sa

from ektp_core.config import Deployment
from ektp_core.devices.scanners import Sample
from ektp_core.domain.model import Modality, Operator, Role
from ektp_core.keys import crypto
from ektp_core.lifecycle.service import LifecycleService
from ektp_core.services.capture import CaptureService
from ektp_core.store import blobs as blob_store
from ektp_core.store.tables import blobs
from ektp_core.testing import make_enrolment
from ektp_core.testing.samples import queue_print_ready, valid_nik

FINGERS = ("right_thumb", "right_index", "left_index")


def fill_node(lc: LifecycleService) -> dict[str, str]:
    """Biometrics of several residents, one enrolment's in the original format; the print jobs and
    the fingerprinted enrolment (``"fingers"``) by name."""
    named = _fill(lc)
    _to_original_format(lc, named["fingers"])
    return named


def _fill(lc: LifecycleService) -> dict[str, str]:
    """Biometrics of several residents; the print jobs and the fingerprinted enrolment by name."""
    jobs = {f"job{seed}": queue_print_ready(lc, seed=seed, nik=valid_nik(serial=seed + 1)) for seed in range(4)}
    lc.add_operator(
        Operator(
            username="op1",
            full_name="Op One",
            role=Role.OPERATOR,
            site_code="17.71",
            password_hash=crypto.hash_password("x" * 12, n=2**4),
        ),
        actor="admin",
    )
    eid = lc.record(make_enrolment()).id
    capture = CaptureService(lc)
    for position in FINGERS:
        capture.add(
            eid,
            Sample(
                modality=Modality.FINGER,
                position=position,
                image=f"finger {position}".encode() * 50,
                quality=80,
                device="test",
                template=f"FMR {position}".encode(),
            ),
            actor="op1",
        )
    return {**jobs, "fingers": eid}


def _to_original_format(lc: LifecycleService, enrolment_id: str) -> None:
    """Rewrite one enrolment's blobs as a node made before keyrings stored them (EK1, the current key)."""
    key = crypto.load_data_key(lc.deployment.keys_dir)
    with lc.store.write() as conn:
        for row in conn.execute(sa.select(blobs.c.ref).where(blobs.c.enrolment_id == enrolment_id)).all():
            plain = blob_store.get(conn, lc.data_key, ref=row.ref, enrolment_id=enrolment_id)
            conn.execute(
                blobs.update()
                .where(blobs.c.ref == row.ref)
                .values(ciphertext=crypto.encrypt(key, plain, record_id=enrolment_id))
            )


def blob_rows(lc: LifecycleService) -> dict[str, tuple[str, bytes]]:
    with lc.store.read() as conn:
        return {
            r.ref: (r.enrolment_id, bytes(r.ciphertext))
            for r in conn.execute(sa.select(blobs.c.ref, blobs.c.enrolment_id, blobs.c.ciphertext))
        }


def plaintexts(deployment: Deployment) -> dict[str, bytes]:
    """Every blob decrypted by a service opened now (reading keys/ afresh)."""
    store = deployment.open_store()
    try:
        lc = LifecycleService(store, deployment.plugin_host().hook, deployment)
        with store.read() as conn:
            return {
                ref: blob_store.get(conn, lc.data_key, ref=ref, enrolment_id=eid)
                for ref, (eid, _c) in blob_rows(lc).items()
            }
    finally:
        store.dispose()
