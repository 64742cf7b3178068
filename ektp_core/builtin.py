"""The core's own hook implementations: the profile tables the core reads, and the NIK and
eligibility checks every enrolment passes.

Registered before every other plugin as an essential plugin; it cannot be blocked.
"""

from __future__ import annotations

from typing import Any

from ektp_core import hookimpl
from ektp_core.config import core_tables
from ektp_core.config.schema import ProfileTables
from ektp_core.domain import nik as nik_rules
from ektp_core.domain.model import Enrolment
from ektp_core.events import ValidationProblem


@hookimpl
def ektp_declare_profile_tables(tables: ProfileTables) -> None:
    """The core's tables: the profile, its sites and plugins, rules, devices, printing, capture,
    verification, the accounts' limits in ``[web]``, and the reserved ``[sync]``."""
    for table in core_tables.TABLES:
        tables.add(table)


@hookimpl
def ektp_validate_enrolment(enrolment: Enrolment, deployment: Any) -> list[ValidationProblem]:
    """The NIK must agree with the biodata, and the resident must be eligible for a KTP-el."""
    bio = enrolment.biodata
    problems = [
        ValidationProblem(p, "nik")
        for p in nik_rules.check_against_biodata(bio.nik.report, sex=bio.jenis_kelamin, birth_date=bio.tanggal_lahir)
    ]
    minimum = nik_rules.DEFAULT_ELIGIBILITY_AGE
    if deployment is not None:
        minimum = deployment.profile.lifecycle.eligibility_age
    why = nik_rules.eligibility_problem(
        birth_date=bio.tanggal_lahir,
        status_perkawinan=bio.status_perkawinan,
        on=enrolment.created_at.date(),
        minimum_age=minimum,
    )
    if why:
        problems.append(ValidationProblem(why, "tanggal_lahir"))
    return problems
