"""The central system's verdict on one enrolment: population-register checks (SIAK) and the biometric
1:N search (ABIS), as pure functions over a register view and a matcher.

Order of the checks, as at the real centre: the register first (a record SIAK refuses never reaches
ABIS), then the fingerprint search against every accepted enrolment. Thresholds come from the
deployment's ``[verification.matcher]`` settings (:class:`Rules`), never from this module.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any, Protocol

import attrs

from ektp_core import nik as nik_rules
from ektp_core.matching import Decision, FingerSet, Matcher, MatchThresholds, decide
from ektp_core.model import Biodata, EnrolmentState

#: The statuses this module gives (SIAK names).
PRINT_READY = EnrolmentState.PRINT_READY_RECORD
DUPLICATE = EnrolmentState.DUPLICATE_RECORD
ADJUDICATE = EnrolmentState.ADJUDICATE_RECORD
ENROLL_FAILURE = EnrolmentState.ENROLL_FAILURE_AT_CENTRAL
SEARCH_FAILURE = EnrolmentState.SEARCH_FAILURE_AT_CENTRAL


@attrs.frozen
class Person:
    """Who a NIK was issued to, as the population register knows them."""

    nik: str
    name: str
    sex: str
    birth_date: dt.date
    birth_place: str

    @classmethod
    def of(cls, biodata: Biodata) -> Person:
        """The person a biodata record describes (already normalised by :class:`Biodata`)."""
        return cls(biodata.nik.value, biodata.nama, biodata.jenis_kelamin, biodata.tanggal_lahir,
                   biodata.tempat_lahir)

    def differences(self, other: Person) -> list[str]:
        """The fields on which two records of a person disagree (names compared after case and
        whitespace normalisation; the emulator accepts no spelling variants)."""
        out = []
        for field, label in (("name", "name"), ("sex", "sex"), ("birth_date", "birth date"),
                             ("birth_place", "birth place")):
            mine, theirs = getattr(self, field), getattr(other, field)
            if isinstance(mine, str):
                mine, theirs = " ".join(mine.upper().split()), " ".join(str(theirs).upper().split())
            if mine != theirs:
                out.append(label)
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready values."""
        return {"nik": self.nik, "name": self.name, "sex": self.sex, "birth_date": self.birth_date.isoformat(),
                "birth_place": self.birth_place}


@attrs.frozen
class Reason:
    """One reason for a verdict: a stable code and a message for people."""

    code: str
    message: str


@attrs.frozen
class Candidate:
    """An accepted enrolment that the probe's fingers match, with the matcher's scores."""

    enrolment_id: str
    nik: str
    score: float
    finger_scores: Mapping[str, float] = attrs.field(factory=dict, converter=dict)

    def to_dict(self) -> dict[str, Any]:
        """The API's candidate object."""
        return {"enrolment_id": self.enrolment_id, "nik": self.nik, "score": self.score,
                "finger_scores": dict(self.finger_scores)}


@attrs.frozen
class Judgement:
    """A verdict: the status, why, and the enrolments it points at."""

    status: EnrolmentState
    reasons: tuple[Reason, ...] = ()
    candidates: tuple[Candidate, ...] = ()

    @property
    def joins_gallery(self) -> bool:
        """Only print-ready records are searched against later (duplicates and pending ones never are)."""
        return self.status is PRINT_READY


class RegisterView(Protocol):
    """What the verdict needs to know of the register and the gallery (the store implements it)."""

    def person(self, nik: str) -> Person | None:
        """The person the NIK was issued to, or None when the register has not seen the NIK."""

    def has_card(self, nik: str) -> bool:
        """Whether the NIK already holds a printed card."""

    def enrolled_person(self, enrolment_id: str) -> Person | None:
        """The person of an accepted enrolment in the gallery (None for an unknown id)."""


@attrs.frozen
class Rules:
    """The deployment's settings the verdict applies."""

    thresholds: MatchThresholds = attrs.field(factory=MatchThresholds)
    #: ``[lifecycle] eligibility_age`` of the profile.
    eligibility_age: int = nik_rules.DEFAULT_ELIGIBILITY_AGE
    #: How many candidates the 1:N search returns at most.
    candidate_limit: int = 10


def register_problems(biodata: Biodata, register: RegisterView, *, on: dt.date, rules: Rules) -> list[Reason]:
    """Why SIAK refuses the record (empty when it does not): NIK against biodata, eligibility, and the
    register's holder of the NIK."""
    reasons = []
    contradictions = nik_rules.check_against_biodata(biodata.nik.report, sex=biodata.jenis_kelamin,
                                                     birth_date=biodata.tanggal_lahir)
    if contradictions:
        reasons.append(Reason("biodata_contradicts_nik", "; ".join(contradictions)))
    why = nik_rules.eligibility_problem(birth_date=biodata.tanggal_lahir, status_perkawinan=biodata.status_perkawinan,
                                        on=on, minimum_age=rules.eligibility_age)
    if why:
        reasons.append(Reason("not_eligible", why))
    holder = register.person(biodata.nik.value)
    if holder is not None:
        differ = holder.differences(Person.of(biodata))
        if differ:
            reasons.append(Reason(
                "nik_issued_to_other",
                f"NIK {biodata.nik.value} was issued to another person ({', '.join(differ)} differ from the register)"))
    return reasons


def judge(biodata: Biodata, probe: FingerSet, *, fingers_sent: int, register: RegisterView, matcher: Matcher,
          rules: Rules, on: dt.date) -> Judgement:
    """The verdict on one enrolment.

    ``probe`` holds the templates usable for search (those with minutiae); ``fingers_sent`` how many
    templates were sent at all, so that "every finger unusable" (a capture problem: record again) is
    told apart from "every finger an approved exception" (nothing to search: a supervisor decides).
    """
    problems = register_problems(biodata, register, on=on, rules=rules)
    if problems:
        return Judgement(ENROLL_FAILURE, tuple(problems))
    if not probe:
        if fingers_sent:
            return Judgement(ENROLL_FAILURE, (Reason(
                "no_usable_fingers", f"none of the {fingers_sent} captured fingers has a template with minutiae: "
                                     "record the fingers again"),))
        return Judgement(ADJUDICATE, (Reason(
            "no_fingers_to_search", "every finger is an approved exception: the fingerprint search cannot tell "
                                    "whether the person is already enrolled; a supervisor decides"),))
    try:
        found = matcher.identify(probe, limit=rules.candidate_limit)
    except Exception as exc:  # any failure of the search engine is the SIAK status, not a crash of the centre
        return Judgement(SEARCH_FAILURE, (Reason("search_failed", f"the biometric search failed: "
                                                                  f"{type(exc).__name__}: {exc}"),))

    me = Person.of(biodata)
    others, rerecorded = [], []
    for candidate in found:
        them = register.enrolled_person(candidate.subject)
        # An earlier accepted recording of this very NIK and person is the same resident recorded again.
        if them is not None and them.nik == me.nik and not them.differences(me):
            rerecorded.append(candidate)
        else:
            others.append(candidate)

    def listed(found_ones: list[Any]) -> tuple[Candidate, ...]:
        out = []
        for c in found_ones:
            them = register.enrolled_person(c.subject)
            out.append(Candidate(c.subject, them.nik if them else "", round(float(c.score), 2),
                                 {k: round(float(v), 2) for k, v in c.finger_scores.items()}))
        return tuple(out)

    decision, supporting = decide(others, rules.thresholds)
    if decision is Decision.DUPLICATE:
        candidates = listed(supporting)
        return Judgement(DUPLICATE, tuple(
            Reason("biometric_duplicate", f"fingerprints match enrolment {c.enrolment_id} (NIK {c.nik}) "
                                          f"with score {c.score:g} (duplicate threshold "
                                          f"{rules.thresholds.duplicate:g})") for c in candidates), candidates)
    if decision is Decision.GREY_ZONE:
        candidates = listed(supporting)
        return Judgement(ADJUDICATE, tuple(
            Reason("biometric_grey_zone", f"fingerprints resemble enrolment {c.enrolment_id} (NIK {c.nik}) "
                                          f"with score {c.score:g}, between the adjudication "
                                          f"({rules.thresholds.adjudicate:g}) and duplicate "
                                          f"({rules.thresholds.duplicate:g}) thresholds: a supervisor decides")
            for c in candidates), candidates)

    reasons = [Reason("same_person_rerecorded", f"the fingers match earlier enrolment {c.subject} of the same NIK "
                                                f"and person (score {float(c.score):g}): not a duplicate")
               for c in rerecorded if c.score >= rules.thresholds.adjudicate]
    if register.has_card(biodata.nik.value):
        reasons.append(Reason("reprint", f"NIK {biodata.nik.value} already holds a printed card: this is a reprint"))
    return Judgement(PRINT_READY, tuple(reasons))
