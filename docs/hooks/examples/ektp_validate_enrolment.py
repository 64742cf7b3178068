"""A plugin with two rules of its own for new enrolments."""

from ektp_core import hookimpl
from ektp_core.events import ValidationProblem


@hookimpl
def ektp_validate_enrolment(enrolment, deployment):
    problems = []
    if enrolment.biodata.nama.upper().startswith("LATIHAN"):
        problems.append(ValidationProblem("training records (LATIHAN ...) are never stored", field="nama"))
    if deployment is not None:
        code = enrolment.site_code
        site = next((s for s in deployment.profile.sites if s.code == code), None)
        if site is None or not site.records:
            problems.append(ValidationProblem(f"site {code} does not record residents"))
    return problems
