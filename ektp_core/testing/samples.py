"""Sample residents whose NIK agrees with their biodata, for tests and demos."""

from __future__ import annotations

import datetime as dt
import itertools
import uuid
from typing import Any

from ektp_core.domain.model import Biodata, Enrolment
from ektp_core.testing import pictures

_serials = itertools.count(1)


def valid_nik(
    *, district: str = "17.71.05", birth_date: dt.date = dt.date(1990, 1, 1), sex: str = "P", serial: int | None = None
) -> str:
    """A structurally valid NIK for a district, birth date and sex (day + 40 for women)."""
    day = birth_date.day + (40 if sex == "P" else 0)
    number = serial if serial is not None else next(_serials) % 9999 + 1
    return f"{district.replace('.', '')}{day:02d}{birth_date:%m%y}{number:04d}"


def make_biodata(**overrides: Any) -> Biodata:
    """A valid resident of Kota Bengkulu; any field can be overridden (the NIK follows sex and birth date)."""
    sex = "L" if str(overrides.get("jenis_kelamin", "P")).upper() in ("L", "LAKI-LAKI") else "P"
    birth = overrides.get("tanggal_lahir", dt.date(1990, 1, 1))
    if not isinstance(birth, dt.date):  # a test feeding a bad birth date still needs a NIK
        birth = dt.date(1990, 1, 1)
    values: dict[str, Any] = {
        "nik": valid_nik(birth_date=birth, sex=sex),
        "nama": "SITI AMINAH" if sex == "P" else "BUDI SANTOSO",
        "tempat_lahir": "BENGKULU",
        "tanggal_lahir": birth,
        "jenis_kelamin": sex,
        "golongan_darah": "O",
        "alamat": "JL. PANTAI INDAH NO. 7",
        "rt": "003",
        "rw": "001",
        "kelurahan": "KANDANG",
        "kecamatan": "KAMPUNG MELAYU",
        "kabupaten_kota": "KOTA BENGKULU",
        "provinsi": "BENGKULU",
        "agama": "ISLAM",
        "status_perkawinan": "KAWIN",
        "pekerjaan": "WIRASWASTA",
    }
    values.update(overrides)
    return Biodata(**values)


def make_enrolment(*, site_code: str = "17.71", operator: str = "operator1", **biodata: Any) -> Enrolment:
    """A new BIO_CAPTURED enrolment of a sample resident."""
    return Enrolment(id=uuid.uuid4().hex, site_code=site_code, operator=operator, biodata=make_biodata(**biodata))


def queue_print_ready(
    lc: Any,
    *,
    site_code: str = "17.71",
    seed: int = 0,
    nik: str | None = None,
    photo: bool = True,
    signature: bool = True,
    routing_reason: str = "test",
) -> str:
    """Record a sample resident with a photo and a signature, take them to PRINT_READY_RECORD and
    queue their card at ``site_code``; returns the print job's id. ``lc`` is a LifecycleService."""
    enrolment_id = make_print_ready(lc, seed=seed, photo=photo, signature=signature, **({"nik": nik} if nik else {}))
    job: str = lc.queue_print(enrolment_id, site_code=site_code, actor="operator1", routing_reason=routing_reason).id
    return job


def make_print_ready(
    lc: Any, *, recorded_at: str = "17.71", seed: int = 0, photo: bool = True, signature: bool = True, **biodata: Any
) -> str:
    """Record a sample resident at the site ``recorded_at`` (with a photo and a signature) and take
    them to PRINT_READY_RECORD, without a print job; returns the enrolment's id. ``biodata``
    overrides fields of the resident (``kecamatan="SELEBAR"``...)."""
    from ektp_core.domain.model import Capture, EnrolmentState

    enrolment = make_enrolment(site_code=recorded_at, **biodata)
    captures, images = [], {}
    if photo:
        ref = f"{enrolment.id}-face"
        captures.append(Capture(modality="face", position="face", device="sample", quality=90, blob_ref=ref))
        images[ref] = pictures.portrait(seed, birth_year=enrolment.biodata.tanggal_lahir.year)
    if signature:
        ref = f"{enrolment.id}-signature"
        captures.append(Capture(modality="signature", position="signature", device="sample", quality=90, blob_ref=ref))
        images[ref] = pictures.signature(seed)
    lc.record(enrolment, captures, images)
    for state in (
        EnrolmentState.SENT_FOR_ENROLLMENT,
        EnrolmentState.RECEIVED_AT_CENTRAL,
        EnrolmentState.PRINT_READY_RECORD,
    ):
        lc.transition(enrolment.id, state, actor="central")
    return enrolment.id


def issue_card(lc: Any, enrolment_id: str, serial: str, *, site_code: str = "17.71", actor: str = "operator1") -> str:
    """Take a recorded enrolment (BIO_CAPTURED or PRINT_READY_RECORD) through verification, the print
    queue (with a new blank ``serial`` delivered to ``site_code``) and the handover: its card becomes
    the resident's ACTIVE card. Returns the print job's id. The accounts named must exist when the
    service checks roles (the handover does not)."""
    from ektp_core.domain.model import EnrolmentState

    if lc.get(enrolment_id).state is EnrolmentState.BIO_CAPTURED:
        for state in (
            EnrolmentState.SENT_FOR_ENROLLMENT,
            EnrolmentState.RECEIVED_AT_CENTRAL,
            EnrolmentState.PRINT_READY_RECORD,
        ):
            lc.transition(enrolment_id, state, actor="central")
    lc.receive_blanks(site_code, [serial], actor=actor)
    job: str = lc.queue_print(enrolment_id, site_code=site_code, actor=actor, routing_reason="test").id
    lc.reserve_blank(job, actor=actor, serial=serial)
    lc.mark_sent(job, actor=actor, printer="printer-1")
    lc.mark_printed(job, actor=actor)
    lc.transition(enrolment_id, EnrolmentState.CARD_ISSUED, actor=actor)
    return job
