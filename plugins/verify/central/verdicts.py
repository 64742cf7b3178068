"""The central system's verdict on one enrolment: population-register checks (SIAK) and the biometric
1:N search (ABIS), as pure functions over a register view and a matcher.

Order of the checks, as at the real centre: the register first (a record SIAK refuses never reaches
ABIS), then the fingerprint search against every accepted enrolment, and for a NIK enrolled before, a
1:1 comparison with its earlier enrolments (identity takeover). Thresholds come from the
deployment's ``[verification.matcher]`` settings (:class:`Rules`), never from this module.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any, Protocol

import attrs

from ektp_core.devices.matchers import Decision, FingerSet, Matcher, MatchThresholds, decide, score_map
from ektp_core.domain import nik as nik_rules
from ektp_core.domain.model import FINGER_POSITIONS, Biodata, EnrolmentState

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
        return cls(biodata.nik.value, biodata.nama, biodata.jenis_kelamin, biodata.tanggal_lahir, biodata.tempat_lahir)

    def differences(self, other: Person) -> list[str]:
        """The fields on which two records of a person disagree (names compared after case and
        whitespace normalisation; the emulator accepts no spelling variants)."""
        out = []
        for field, label in (
            ("name", "name"),
            ("sex", "sex"),
            ("birth_date", "birth date"),
            ("birth_place", "birth place"),
        ):
            mine, theirs = getattr(self, field), getattr(other, field)
            if isinstance(mine, str):
                mine, theirs = " ".join(mine.upper().split()), " ".join(str(theirs).upper().split())
            if mine != theirs:
                out.append(label)
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready values."""
        return {
            "nik": self.nik,
            "name": self.name,
            "sex": self.sex,
            "birth_date": self.birth_date.isoformat(),
            "birth_place": self.birth_place,
        }


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
    finger_scores: Mapping[str, float] = attrs.field(factory=dict, converter=score_map)

    def to_dict(self) -> dict[str, Any]:
        """The API's candidate object."""
        return {
            "enrolment_id": self.enrolment_id,
            "nik": self.nik,
            "score": self.score,
            "finger_scores": dict(self.finger_scores),
        }


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

    def accepted_enrolments(self, nik: str) -> list[tuple[str, FingerSet]]:
        """The NIK's accepted (gallery) enrolments in the order received, each with its templates usable
        for search (an enrolment without any is left out: there is nothing to compare)."""


@attrs.frozen
class Rules:
    """The deployment's settings the verdict applies."""

    thresholds: MatchThresholds = attrs.field(factory=MatchThresholds)
    #: ``[lifecycle] eligibility_age`` of the profile.
    eligibility_age: int = nik_rules.DEFAULT_ELIGIBILITY_AGE
    #: How many candidates the 1:N search returns at most.
    candidate_limit: int = 10


def fusion_width(matcher: Matcher) -> int:
    """How many of the best finger scores :func:`fused_score` averages for ``matcher``.

    The matcher's own ``fuse_fingers`` option when it has one (``nbis-bozorth3``: 2 by default), so that a
    1:1 comparison of two finger sets is fused exactly as the matcher fuses its 1:N candidates and the
    same thresholds apply to both; 1 (the best finger's score) for a matcher without that option.
    """
    width = getattr(matcher, "fuse_fingers", None)
    return width if isinstance(width, int) and not isinstance(width, bool) and width >= 1 else 1


def fused_score(finger_scores: Mapping[str, float], width: int) -> float:
    """The mean of the ``width`` highest finger scores (of all of them when fewer were compared; 0 for none)."""
    if not finger_scores:
        return 0.0
    top = sorted(finger_scores.values(), reverse=True)[: max(1, min(width, len(finger_scores)))]
    return sum(top) / len(top)


def compare_with_enrolments(
    probe: FingerSet, earlier: list[tuple[str, FingerSet]], *, nik: str, matcher: Matcher
) -> list[Candidate]:
    """1:1 comparisons of ``probe`` with each of a NIK's earlier enrolments, best first (full precision).

    Each finger both sides have is compared with ``matcher.verify``; the enrolment's score is
    :func:`fused_score` of those finger scores with the matcher's :func:`fusion_width`. An enrolment
    sharing no finger with the probe cannot be compared and is left out.
    """
    width = fusion_width(matcher)
    out = []
    for enrolment_id, fingers in earlier:
        shared = [p for p in FINGER_POSITIONS if p in probe and p in fingers]
        if not shared:
            continue
        scores = {p: float(matcher.verify(probe[p], fingers[p])) for p in shared}
        out.append(Candidate(enrolment_id, nik, fused_score(scores, width), scores))
    out.sort(key=lambda c: -c.score)  # stable: equal scores keep the order received
    return out


def _public(candidates: list[Candidate]) -> tuple[Candidate, ...]:
    """Candidates as the API lists them (scores rounded to two decimals)."""
    return tuple(
        Candidate(c.enrolment_id, c.nik, round(c.score, 2), {k: round(v, 2) for k, v in c.finger_scores.items()})
        for c in candidates
    )


def _takeover_message(nik: str, own: list[Candidate], adjudicate: float) -> str:
    scores = ", ".join(f"{c.enrolment_id} (score {round(c.score, 2):g})" for c in own)
    return (
        f"the fingers do not match the earlier enrolment{'s' if len(own) > 1 else ''} of NIK {nik}: {scores}, "
        f"below the adjudication threshold ({adjudicate:g}); someone else may be claiming this NIK: "
        "a supervisor decides"
    )


def register_problems(
    biodata: Biodata, register: RegisterView, *, on: dt.date, rules: Rules, replaces: str | None = None
) -> list[Reason]:
    """Why SIAK refuses the record (empty when it does not): NIK against biodata, eligibility, and the
    register's holder of the NIK."""
    reasons = []
    contradictions = nik_rules.check_against_biodata(
        biodata.nik.report, sex=biodata.jenis_kelamin, birth_date=biodata.tanggal_lahir
    )
    if contradictions:
        reasons.append(Reason("biodata_contradicts_nik", "; ".join(contradictions)))
    why = nik_rules.eligibility_problem(
        birth_date=biodata.tanggal_lahir,
        status_perkawinan=biodata.status_perkawinan,
        on=on,
        minimum_age=rules.eligibility_age,
    )
    if why:
        reasons.append(Reason("not_eligible", why))
    holder = register.person(biodata.nik.value)
    earlier = register.enrolled_person(replaces) if replaces else None
    if holder is not None and (earlier is None or earlier.nik != holder.nik):
        # A data change (perubahan) of the register's own person is no claim on another's NIK.
        differ = holder.differences(Person.of(biodata))
        if differ:
            reasons.append(
                Reason(
                    "nik_issued_to_other",
                    f"NIK {biodata.nik.value} was issued to another person "
                    f"({', '.join(differ)} differ from the register)",
                )
            )
    return reasons


def judge(
    biodata: Biodata,
    probe: FingerSet,
    *,
    fingers_sent: int,
    register: RegisterView,
    matcher: Matcher,
    rules: Rules,
    on: dt.date,
    replaces: str | None = None,
) -> Judgement:
    """The verdict on one enrolment.

    ``probe`` holds the templates usable for search (those with minutiae); ``fingers_sent`` how many
    templates were sent at all, so that "every finger unusable" (a capture problem: record again) is
    told apart from "every finger an approved exception" (nothing to search: a supervisor decides).

    Besides the 1:N search, a recording of a NIK that already has accepted enrolments is compared 1:1
    with each of them (:func:`compare_with_enrolments`): when none reaches the adjudication threshold,
    someone else may be claiming the NIK (``nik_fingers_differ``, ``ADJUDICATE_RECORD``). A duplicate
    of another person's enrolment takes precedence.

    A replacement card names the earlier enrolment it ``replaces``: matching it is the resident's own
    record (even when a data change altered the name), never a duplicate.
    """
    problems = register_problems(biodata, register, on=on, rules=rules, replaces=replaces)
    if problems:
        return Judgement(ENROLL_FAILURE, tuple(problems))
    if not probe:
        if fingers_sent:
            return Judgement(
                ENROLL_FAILURE,
                (
                    Reason(
                        "no_usable_fingers",
                        f"none of the {fingers_sent} captured fingers has a template with minutiae: "
                        "record the fingers again",
                    ),
                ),
            )
        return Judgement(
            ADJUDICATE,
            (
                Reason(
                    "no_fingers_to_search",
                    "every finger is an approved exception: the fingerprint search cannot tell "
                    "whether the person is already enrolled; a supervisor decides",
                ),
            ),
        )
    # Read before the search: a failing database is the centre's own problem (the enrolment stays
    # pending and is decided on the next start), not a search failure to report to the node.
    earlier = [(e, f) for e, f in register.accepted_enrolments(biodata.nik.value) if f]
    try:
        found = matcher.identify(probe, limit=rules.candidate_limit)
        own = compare_with_enrolments(probe, earlier, nik=biodata.nik.value, matcher=matcher)
    except Exception as exc:  # any failure of the search engine is the SIAK status, not a crash of the centre
        return Judgement(
            SEARCH_FAILURE, (Reason("search_failed", f"the biometric search failed: {type(exc).__name__}: {exc}"),)
        )

    me = Person.of(biodata)
    others, rerecorded = [], []
    for candidate in found:
        them = register.enrolled_person(candidate.subject)
        # An earlier accepted recording of this very NIK and person is the same resident recorded again.
        if them is not None and them.nik == me.nik and (not them.differences(me) or candidate.subject == replaces):
            rerecorded.append(candidate)
        else:
            others.append(candidate)

    def listed(found_ones: list[Any]) -> tuple[Candidate, ...]:
        out = []
        for c in found_ones:
            them = register.enrolled_person(c.subject)
            out.append(
                Candidate(
                    c.subject,
                    them.nik if them else "",
                    round(float(c.score), 2),
                    {k: round(float(v), 2) for k, v in c.finger_scores.items()},
                )
            )
        return tuple(out)

    # The best evidence that an earlier enrolment of this NIK holds these fingers: the 1:1 comparison on
    # every shared finger, or the 1:N search's score when higher (both on the matcher's fused scale).
    own_scores: dict[str, float] = {c.enrolment_id: c.score for c in own}
    for c in rerecorded:
        own_scores[c.subject] = max(own_scores.get(c.subject, 0.0), float(c.score))
    adjudicate = rules.thresholds.adjudicate
    takeover = bool(own) and max(own_scores.values()) < adjudicate
    takeover_reason = Reason("nik_fingers_differ", _takeover_message(biodata.nik.value, own, adjudicate))

    decision, supporting = decide(others, rules.thresholds)
    if decision is Decision.DUPLICATE:
        # Another person's fingers: a duplicate whatever this NIK's earlier enrolments say.
        candidates = listed(supporting)
        return Judgement(
            DUPLICATE,
            tuple(
                Reason(
                    "biometric_duplicate",
                    f"fingerprints match enrolment {c.enrolment_id} (NIK {c.nik}) "
                    f"with score {c.score:g} (duplicate threshold "
                    f"{rules.thresholds.duplicate:g})",
                )
                for c in candidates
            ),
            candidates,
        )
    if decision is Decision.GREY_ZONE:
        candidates = listed(supporting)
        reasons = [
            Reason(
                "biometric_grey_zone",
                f"fingerprints resemble enrolment {c.enrolment_id} (NIK {c.nik}) "
                f"with score {c.score:g}, between the adjudication "
                f"({adjudicate:g}) and duplicate "
                f"({rules.thresholds.duplicate:g}) thresholds: a supervisor decides",
            )
            for c in candidates
        ]
        if takeover:  # the supervisor must see both: who the fingers resemble, and whose NIK they claim
            return Judgement(ADJUDICATE, (*reasons, takeover_reason), candidates + _public(own))
        return Judgement(ADJUDICATE, tuple(reasons), candidates)
    if takeover:
        return Judgement(ADJUDICATE, (takeover_reason,), _public(own))

    reasons = [
        Reason(
            "same_person_rerecorded",
            f"the fingers match earlier enrolment {enrolment_id} of the same NIK "
            f"and person (score {round(score, 2):g}): not a duplicate",
        )
        for enrolment_id, score in sorted(own_scores.items(), key=lambda item: -item[1])
        if score >= adjudicate
    ]
    if register.has_card(biodata.nik.value):
        reasons.append(Reason("reprint", f"NIK {biodata.nik.value} already holds a printed card: this is a reprint"))
    return Judgement(PRINT_READY, tuple(reasons))
