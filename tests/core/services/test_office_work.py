"""The office's work beyond a first card: corrections, cancellations (with the destruction of the
biometrics after the retention period), the card register and replacement cards."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import attrs
import pytest
import sqlalchemy as sa

from ektp_core.devices.verifiers import Receipt, Submission
from ektp_core.domain.model import (
    BlankState,
    Capture,
    CardState,
    EnrolmentState,
    Operator,
    Role,
    ServiceRequest,
    ServiceType,
)
from ektp_core.errors import Conflict, EktpError, IllegalTransition, InvalidValue
from ektp_core.keys import crypto
from ektp_core.lifecycle import audit, card_register
from ektp_core.lifecycle.actions import AuditAction
from ektp_core.services.corrections import Corrections
from ektp_core.services.replacement import ReplacementService
from ektp_core.services.verification import VerificationService
from ektp_core.store import repository as repo
from ektp_core.store.tables import blobs, captures, central_submissions, enrolments
from ektp_core.testing import issue_card, make_enrolment, make_print_ready

E = EnrolmentState
SITE = "17.71"
FINGER = b"FMR\x00 20\x00 the applicant's right index"


class ExactMatcher:
    """1:1 by equality: 100 for the same template, 0 otherwise (the matcher itself is tested elsewhere)."""

    name = "exact"

    def extract(self, image: bytes) -> bytes | None:
        return image

    def verify(self, probe: bytes, reference: bytes) -> float:
        return 100.0 if probe == reference else 0.0


class CentralFake:
    """A verifier that takes corrections, and remembers them (or refuses, when told)."""

    name = "fake"

    def __init__(self) -> None:
        self.corrections: list[tuple[Submission, str, str]] = []
        self.refuse = False

    def submit(self, submission: Submission) -> Receipt:
        return Receipt(submission.enrolment_id, dt.datetime.now(dt.UTC))

    def verdict(self, enrolment_id: str, *, wait: float = 0) -> None:
        return None

    def adjudicate(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError

    def card_printed(self, enrolment_id: str, printed_at: dt.datetime) -> None:
        pass

    def finger_image(self, enrolment_id: str, position: str) -> bytes | None:
        return None

    def correct(self, submission: Submission, *, reason: str, supervisor: str) -> None:
        from ektp_core.devices.verifiers import CentralRefused

        if self.refuse:
            raise CentralRefused("conflict", "the card was printed")
        self.corrections.append((submission, reason, supervisor))


@pytest.fixture
def lc(ektp_service):  # type: ignore[no-untyped-def]
    for username, role in (("op1", Role.OPERATOR), ("spv1", Role.SUPERVISOR)):
        ektp_service.add_operator(
            Operator(
                username=username,
                full_name=username,
                role=role,
                site_code=SITE,
                password_hash=crypto.hash_password("x", n=2**4),
            ),
            actor="test",
        )
    ektp_service.add_operator(
        Operator(
            username="op-other",
            full_name="op other",
            role=Role.OPERATOR,
            site_code="17.71.01",
            password_hash=crypto.hash_password("x", n=2**4),
        ),
        actor="test",
    )
    return ektp_service


def _count(lc: Any, table: sa.Table, **where: str) -> int:
    query = sa.select(sa.func.count()).select_from(table)
    for key, value in where.items():
        query = query.where(table.c[key] == value)
    with lc.store.read() as conn:
        return int(conn.execute(query).scalar_one())


def _actions(lc: Any, subject: str) -> list[AuditAction]:
    with lc.store.read() as conn:
        return [e.action for e in audit.entries(conn, subject_id=subject)]


def _with_finger(lc: Any, **biodata: Any) -> str:
    enrolment = make_enrolment(**biodata)
    capture = Capture(
        modality="finger",
        position="right_index",
        device="sample",
        quality=80,
        blob_ref=f"{enrolment.id}-img",
        template_ref=f"{enrolment.id}-tpl",
    )
    lc.record(enrolment, [capture], {f"{enrolment.id}-img": b"\x89PNG finger", f"{enrolment.id}-tpl": FINGER})
    return enrolment.id


def _issue(lc: Any, enrolment_id: str, serial: str) -> None:
    """Take a recorded enrolment to CARD_ISSUED through the print queue and a handover."""
    issue_card(lc, enrolment_id, serial, actor="op1")


# -- corrections --------------------------------------------------------------------------------------------


def test_a_recording_not_yet_sent_is_corrected_and_every_change_audited(lc) -> None:  # type: ignore[no-untyped-def]
    enrolment = lc.record(make_enrolment(nama="BUDI SANTOSO"))
    changed = Corrections(lc).correct(enrolment.id, {"nama": "budi santosa", "rt": "7"}, actor="op1")
    assert changed == {"nama": ("BUDI SANTOSO", "BUDI SANTOSA"), "rt": (enrolment.biodata.rt, "007")}
    assert lc.get(enrolment.id).biodata.nama == "BUDI SANTOSA"
    with lc.store.read() as conn:
        entry = [e for e in audit.entries(conn, subject_id=enrolment.id) if e.action == AuditAction.ENROLMENT_CORRECTED]
        assert conn.execute(sa.select(enrolments.c.nama).where(enrolments.c.id == enrolment.id)).scalar() == (
            "BUDI SANTOSA"
        )
    assert entry[0].detail["changes"]["nama"] == ["BUDI SANTOSO", "BUDI SANTOSA"]


def test_refused_corrections_change_nothing(lc) -> None:  # type: ignore[no-untyped-def]
    enrolment = lc.record(make_enrolment())
    corrections = Corrections(lc)
    with pytest.raises(InvalidValue, match="rt"):
        corrections.correct(enrolment.id, {"rt": "000"}, actor="op1")
    with pytest.raises(InvalidValue, match="shoe_size"):
        corrections.correct(enrolment.id, {"shoe_size": "42"}, actor="op1")
    with pytest.raises(EktpError, match="nothing to correct"):
        corrections.correct(enrolment.id, {"nama": enrolment.biodata.nama.lower()}, actor="op1")
    with pytest.raises(EktpError, match="may not"):  # another site's operator
        corrections.correct(enrolment.id, {"alamat": "JL. LAIN"}, actor="op-other")
    assert lc.get(enrolment.id).biodata == enrolment.biodata
    assert AuditAction.ENROLMENT_CORRECTED not in _actions(lc, enrolment.id)


def test_after_sending_only_a_supervisor_corrects_with_a_reason_through_the_central_system(lc) -> None:  # type: ignore[no-untyped-def]
    central = CentralFake()
    verification = VerificationService(lc, central, matcher=ExactMatcher())  # type: ignore[arg-type]
    enrolment_id = make_print_ready(lc)
    with lc.store.write() as conn:  # the central system acknowledged it
        conn.execute(
            central_submissions.insert().values(
                enrolment_id=enrolment_id, verifier="fake", attempts=1, received_at=dt.datetime.now(dt.UTC)
            )
        )
    corrections = Corrections(lc, verification=verification)
    with pytest.raises(EktpError, match="supervisor"):
        corrections.correct(enrolment_id, {"pekerjaan": "PETANI/PEKEBUN"}, actor="op1", reason="typo")
    with pytest.raises(EktpError, match="reason"):
        corrections.correct(enrolment_id, {"pekerjaan": "PETANI/PEKEBUN"}, actor="spv1")
    with pytest.raises(EktpError, match="NIK"):
        corrections.correct(enrolment_id, {"nik": "1771054101900009"}, actor="spv1", reason="typo")
    central.refuse = True
    with pytest.raises(EktpError, match="printed"):
        corrections.correct(enrolment_id, {"pekerjaan": "PETANI/PEKEBUN"}, actor="spv1", reason="form says so")
    assert lc.get(enrolment_id).biodata.pekerjaan != "PETANI/PEKEBUN"
    central.refuse = False
    corrections.correct(enrolment_id, {"pekerjaan": "PETANI/PEKEBUN"}, actor="spv1", reason="form says so")
    sent, reason, supervisor = central.corrections[-1]
    assert sent.biodata["pekerjaan"] == "PETANI/PEKEBUN" and sent.enrolment_id == enrolment_id
    assert (reason, supervisor) == ("form says so", "spv1")
    assert lc.get(enrolment_id).biodata.pekerjaan == "PETANI/PEKEBUN"
    # Once queued for printing, a data change is a replacement, not a correction.
    lc.queue_print(enrolment_id, site_code=SITE, actor="op1", routing_reason="test")
    with pytest.raises(IllegalTransition):
        corrections.correct(enrolment_id, {"pekerjaan": "PELAJAR/MAHASISWA"}, actor="spv1", reason="again")


# -- cancellation and the purge -----------------------------------------------------------------------------


def test_a_supervisor_cancels_a_recording_which_frees_its_nik(lc) -> None:  # type: ignore[no-untyped-def]
    enrolment_id = _with_finger(lc)
    nik = lc.get(enrolment_id).biodata.nik.value
    with pytest.raises(Conflict):  # the NIK is held
        lc.record(make_enrolment(nik=nik))
    corrections = Corrections(lc)
    with pytest.raises(EktpError, match="supervisor"):
        corrections.cancel(enrolment_id, supervisor="op1", reason="wrong resident")
    with pytest.raises(EktpError, match="reason"):
        corrections.cancel(enrolment_id, supervisor="spv1", reason=" ")
    assert lc.get(enrolment_id).state is E.BIO_CAPTURED
    corrections.cancel(enrolment_id, supervisor="spv1", reason="wrong resident")
    assert lc.get(enrolment_id).state is E.ENROLLMENT_CANCELLED
    again = lc.record(make_enrolment(nik=nik))  # the NIK is free
    assert again.state is E.BIO_CAPTURED
    with pytest.raises(IllegalTransition):  # terminal
        corrections.cancel(enrolment_id, supervisor="spv1", reason="twice")


def test_only_never_sent_or_refused_recordings_are_cancelled(lc) -> None:  # type: ignore[no-untyped-def]
    ready = make_print_ready(lc)
    with pytest.raises(IllegalTransition):
        Corrections(lc).cancel(ready, supervisor="spv1", reason="no")
    refused = lc.record(make_enrolment(nik="1771054101900002")).id
    for state in (E.SENT_FOR_ENROLLMENT, E.RECEIVED_AT_CENTRAL, E.DUPLICATE_RECORD):
        lc.transition(refused, state, actor="central")
    Corrections(lc).cancel(refused, supervisor="spv1", reason="duplicate confirmed")
    assert lc.get(refused).state is E.ENROLLMENT_CANCELLED


def test_cancelled_biometrics_are_destroyed_after_the_retention_period(lc) -> None:  # type: ignore[no-untyped-def]
    enrolment_id = _with_finger(lc)
    kept = _with_finger(lc, nik="1771054101900002")
    corrections = Corrections(lc)
    corrections.cancel(enrolment_id, supervisor="spv1", reason="abandoned")
    assert corrections.purge() == []  # within the default 30 days: kept
    assert _count(lc, blobs, enrolment_id=enrolment_id) == 2
    with lc.store.read() as conn:
        ciphertexts = [r.ciphertext for r in conn.execute(sa.select(blobs).where(blobs.c.enrolment_id == enrolment_id))]
    purged = corrections.purge(older_than=dt.timedelta(0))
    assert [(p.enrolment_id, p.blobs, p.captures) for p in purged] == [(enrolment_id, 2, 1)]
    assert _count(lc, blobs, enrolment_id=enrolment_id) == 0
    assert _count(lc, captures, enrolment_id=enrolment_id) == 0
    assert _count(lc, blobs, enrolment_id=kept) == 2  # another resident's are untouched
    assert AuditAction.ENROLMENT_BIOMETRICS_DESTROYED in _actions(lc, enrolment_id)
    assert corrections.purge(older_than=dt.timedelta(0)) == []  # nothing left to destroy
    url = lc.store.engine.url
    if url.get_backend_name() == "sqlite":
        # Not left behind in free pages either (secure_delete): a copy of the file holds none of it.
        lc.store.dispose()
        raw = b"".join(path.read_bytes() for path in (Path(url.database), Path(f"{url.database}-wal")) if path.exists())
        for ciphertext in ciphertexts:
            assert ciphertext[-32:] not in raw


# -- the card register and replacements ---------------------------------------------------------------------


def test_the_card_register_follows_printing_handover_and_spoiling(lc) -> None:  # type: ignore[no-untyped-def]
    enrolment_id = _with_finger(lc)
    _issue(lc, enrolment_id, "BLK-000001")
    with lc.store.read() as conn:
        (card,) = card_register.of_enrolment(conn, enrolment_id)
    assert card.state is CardState.ACTIVE and card.serial == "BLK-000001" and card.handed_over_site == SITE
    nik = lc.get(enrolment_id).biodata.nik.value
    with pytest.raises(Conflict, match="active card"):  # a first card again: refused, names the replacement
        lc.record(make_enrolment(nik=nik))
    assert _count(lc, enrolments, nik=nik) == 1


def test_a_lost_card_is_replaced_after_a_desk_match_and_the_old_card_ends(lc) -> None:  # type: ignore[no-untyped-def]
    central = CentralFake()
    verification = VerificationService(lc, central, matcher=ExactMatcher())  # type: ignore[arg-type]
    first = _with_finger(lc)
    _issue(lc, first, "BLK-000001")
    nik = lc.get(first).biodata.nik.value
    replacements = ReplacementService(verification)
    with pytest.raises(InvalidValue, match="police"):
        ServiceRequest(type=ServiceType.HILANG, replaces=first)
    stranger = replacements.identify(nik, "right_index", b"someone else", operator="op1")
    assert not stranger.matched
    identity = replacements.identify(nik, "right_index", FINGER, operator="op1")
    assert identity.matched and identity.earlier.id == first
    service = ServiceRequest(
        type="hilang", replaces=first, police_report_number="LP/123/XII/2026", police_report_date=dt.date(2026, 12, 1)
    )
    new = replacements.start(identity, service, operator="op1", site_code=SITE)
    assert new.service.type is ServiceType.HILANG and new.service.replaces == first
    assert lc.get(new.id).service == new.service  # stored
    assert _count(lc, blobs, enrolment_id=new.id) == 2  # the matched earlier biometrics, re-encrypted
    assert verification.capture.image(new.id, "finger", "right_index", template=True) == FINGER
    with lc.store.read() as conn:
        assert card_register.get(conn, "BLK-000001").state is CardState.LOST  # at once
    assert verification.submission(new.id).service["replaces"] == first
    _issue(lc, new.id, "BLK-000002")
    with lc.store.read() as conn:
        states = {c.serial: c.state for c in card_register.of_nik(conn, nik)}
    assert states == {"BLK-000001": CardState.LOST, "BLK-000002": CardState.ACTIVE}
    assert AuditAction.ENROLMENT_IDENTITY_CHECKED in _actions(lc, first)


def test_a_damaged_card_is_replaced_when_its_serial_is_surrendered(lc) -> None:  # type: ignore[no-untyped-def]
    verification = VerificationService(lc, CentralFake(), matcher=ExactMatcher())  # type: ignore[arg-type]
    first = _with_finger(lc)
    _issue(lc, first, "BLK-000001")
    nik = lc.get(first).biodata.nik.value
    replacements = ReplacementService(verification)
    identity = replacements.identify(nik, "right_index", FINGER, operator="op1")
    wrong = ServiceRequest(type="rusak", replaces=first, surrendered_serial="BLK-999999")
    with pytest.raises(Conflict, match="not the resident's active card"):
        replacements.start(identity, wrong, operator="op1", site_code=SITE)
    assert _count(lc, enrolments, nik=nik) == 1
    new = replacements.start(
        identity,
        ServiceRequest(type="rusak", replaces=first, surrendered_serial="BLK-000001"),
        operator="op1",
        site_code=SITE,
    )
    _issue(lc, new.id, "BLK-000002")
    with lc.store.read() as conn:
        assert card_register.get(conn, "BLK-000001").state is CardState.REPLACED
        assert card_register.active(conn, nik).serial == "BLK-000002"  # type: ignore[union-attr]


def test_a_data_change_needs_its_fields_and_proof_and_an_unmatched_finger_records_again(lc) -> None:  # type: ignore[no-untyped-def]
    verification = VerificationService(lc, CentralFake(), matcher=ExactMatcher())  # type: ignore[arg-type]
    first = _with_finger(lc, status_perkawinan="BELUM KAWIN")
    _issue(lc, first, "BLK-000001")
    nik = lc.get(first).biodata.nik.value
    with pytest.raises(InvalidValue, match="changed_fields"):
        ServiceRequest(type="perubahan", replaces=first, proof_document="KK 1771050101900001")
    with pytest.raises(InvalidValue, match="proof_document"):
        ServiceRequest(type="perubahan", replaces=first, changed_fields=("status_perkawinan",))
    replacements = ReplacementService(verification)
    identity = replacements.identify(nik, "right_index", b"a worn finger", operator="op1")
    service = ServiceRequest(
        type="perubahan", replaces=first, changed_fields=("status_perkawinan",), proof_document="KK 1771050101900001"
    )
    with pytest.raises(EktpError, match="changed fields"):
        replacements.start(identity, service, operator="op1", site_code=SITE, changes={"pekerjaan": "PETANI/PEKEBUN"})
    new = replacements.start(identity, service, operator="op1", site_code=SITE, changes={"status_perkawinan": "KAWIN"})
    assert new.biodata.status_perkawinan == "KAWIN"
    assert _count(lc, blobs, enrolment_id=new.id) == 0  # not matched: the desk records them again


def test_a_replacement_without_an_issued_card_is_refused(lc) -> None:  # type: ignore[no-untyped-def]
    verification = VerificationService(lc, CentralFake(), matcher=ExactMatcher())  # type: ignore[arg-type]
    enrolment_id = _with_finger(lc)
    nik = lc.get(enrolment_id).biodata.nik.value
    with pytest.raises(EktpError, match="no card handed over"):
        ReplacementService(verification).earlier_record(nik)
    Corrections(lc).cancel(enrolment_id, supervisor="spv1", reason="abandoned")
    service = ServiceRequest(type="rusak", replaces=enrolment_id, surrendered_serial="BLK-000001")
    with pytest.raises(Conflict, match="no card handed over"):
        lc.record(attrs.evolve(make_enrolment(nik=nik), service=service))
    assert _count(lc, enrolments, nik=nik) == 1


def test_spoiling_a_printed_card_destroys_it_in_the_register(lc) -> None:  # type: ignore[no-untyped-def]
    enrolment_id = make_print_ready(lc)
    lc.receive_blanks(SITE, ["BLK-000001"], actor="spv1")
    job = lc.queue_print(enrolment_id, site_code=SITE, actor="op1", routing_reason="test").id
    lc.reserve_blank(job, actor="op1")
    lc.mark_sent(job, actor="op1", printer="evolis-1")
    lc.mark_printed(job, actor="op1")
    lc.spoil_printed(job, supervisor="spv1", reason="smudged photo")
    with lc.store.read() as conn:
        assert card_register.get(conn, "BLK-000001").state is CardState.DESTROYED
        assert repo.get_blank(conn, "BLK-000001").state is BlankState.SPOILED
