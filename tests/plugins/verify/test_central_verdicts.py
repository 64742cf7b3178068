"""The central emulator's verdict rules (plugins/verify/central/verdicts.py), as pure functions.

The matcher here is a test double that returns scripted candidates: these tests are about what the
rules make of scores, not about fingerprints (tests/plugins/verify/test_central_emulator.py runs the real
NBIS matcher on synthetic fingers).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

import pytest
from ektp_plugins.verify.central.verdicts import (
    Person,
    Rules,
    fused_score,
    fusion_width,
    judge,
    register_problems,
)

from ektp_core.devices.matchers import Candidate, FingerSet, MatchThresholds
from ektp_core.domain.model import Biodata, EnrolmentState
from ektp_core.testing.samples import make_biodata, valid_nik

TODAY = dt.date(2026, 11, 28)
PROBE = {"right_thumb": b"probe-template"}


class ScriptedMatcher:
    """TEST DOUBLE (pure verdict logic only): ``identify`` returns the candidates it was given."""

    name = "scripted"

    def __init__(
        self,
        candidates: list[Candidate] | None = None,
        error: Exception | None = None,
        scores: Mapping[bytes, float] | None = None,
        fuse_fingers: int | None = None,
    ) -> None:
        self.candidates = candidates or []
        self.error = error
        #: ``verify`` answers by the reference template (0 for any other).
        self.scores = dict(scores or {})
        if fuse_fingers is not None:
            self.fuse_fingers = fuse_fingers
        self.asked: list[tuple[FingerSet, int]] = []
        self.verified: list[tuple[bytes, bytes]] = []

    def extract(self, image: bytes) -> bytes | None:
        return None

    def verify(self, probe: bytes, reference: bytes) -> float:
        self.verified.append((probe, reference))
        return self.scores.get(reference, 0.0)

    def identify(self, probe: FingerSet, *, limit: int = 10) -> list[Candidate]:
        self.asked.append((probe, limit))
        if self.error is not None:
            raise self.error
        return self.candidates[:limit]

    def add(self, subject: str, fingers: FingerSet) -> None:
        raise AssertionError("the verdict rules never change the gallery")

    def remove(self, subject: str) -> None:
        raise AssertionError("the verdict rules never change the gallery")

    def __len__(self) -> int:
        return len(self.candidates)


class Register:
    """An in-memory register view: NIK holders, cards, and the people of gallery enrolments."""

    def __init__(
        self,
        people: Mapping[str, Person] | None = None,
        cards: set[str] | None = None,
        enrolled: Mapping[str, Person] | None = None,
        fingers: Mapping[str, FingerSet] | None = None,
    ) -> None:
        self.people = dict(people or {})
        self.cards = cards or set()
        self.enrolled = dict(enrolled or {})
        #: The templates of gallery enrolments (by enrolment id; none for an enrolment not listed).
        self.fingers = dict(fingers or {})

    def person(self, nik: str) -> Person | None:
        return self.people.get(nik)

    def has_card(self, nik: str) -> bool:
        return nik in self.cards

    def enrolled_person(self, enrolment_id: str) -> Person | None:
        return self.enrolled.get(enrolment_id)

    def accepted_enrolments(self, nik: str) -> list[tuple[str, FingerSet]]:
        return [
            (e, self.fingers[e]) for e, person in self.enrolled.items() if person.nik == nik and self.fingers.get(e)
        ]


def _judge(
    biodata: Biodata,
    matcher: ScriptedMatcher,
    register: Register | None = None,
    rules: Rules | None = None,
    probe: FingerSet = PROBE,
    fingers_sent: int | None = None,
):  # type: ignore[no-untyped-def]
    return judge(
        biodata,
        probe,
        fingers_sent=len(probe) if fingers_sent is None else fingers_sent,
        register=register or Register(),
        matcher=matcher,
        rules=rules or Rules(),
        on=TODAY,
    )


def test_unique_person_is_print_ready() -> None:
    matcher = ScriptedMatcher([Candidate("e-other", 7.0, {"right_thumb": 7.0})])
    other = Person.of(make_biodata(jenis_kelamin="L"))
    verdict = _judge(make_biodata(), matcher, Register(enrolled={"e-other": other}))
    assert verdict.status is EnrolmentState.PRINT_READY_RECORD
    assert verdict.reasons == () and verdict.candidates == ()
    assert verdict.joins_gallery
    assert matcher.asked == [(PROBE, Rules().candidate_limit)]


def test_another_persons_fingers_make_a_duplicate_with_its_candidate() -> None:
    other = make_biodata(jenis_kelamin="L")
    matcher = ScriptedMatcher(
        [
            Candidate("e-45", 87.5, {"right_thumb": 95.0, "right_index": 80.0}),
            Candidate("e-46", 3.0, {"right_thumb": 3.0}),
        ]
    )
    register = Register(enrolled={"e-45": Person.of(other), "e-46": Person.of(make_biodata())})
    verdict = _judge(make_biodata(), matcher, register)
    assert verdict.status is EnrolmentState.DUPLICATE_RECORD
    assert not verdict.joins_gallery
    [candidate] = verdict.candidates
    assert (candidate.enrolment_id, candidate.nik, candidate.score) == ("e-45", other.nik.value, 87.5)
    assert candidate.finger_scores == {"right_thumb": 95.0, "right_index": 80.0}
    assert [r.code for r in verdict.reasons] == ["biometric_duplicate"]
    assert "e-45" in verdict.reasons[0].message and other.nik.value in verdict.reasons[0].message


def test_the_grey_zone_asks_a_supervisor() -> None:
    other = Person.of(make_biodata(jenis_kelamin="L"))
    matcher = ScriptedMatcher([Candidate("e-45", 30.0, {"right_thumb": 30.0})])
    verdict = _judge(make_biodata(), matcher, Register(enrolled={"e-45": other}))
    assert verdict.status is EnrolmentState.ADJUDICATE_RECORD
    assert [c.enrolment_id for c in verdict.candidates] == ["e-45"]
    assert [r.code for r in verdict.reasons] == ["biometric_grey_zone"]


@pytest.mark.parametrize(
    ("duplicate", "adjudicate", "status"),
    [
        (40.0, 25.0, EnrolmentState.ADJUDICATE_RECORD),
        (30.0, 20.0, EnrolmentState.DUPLICATE_RECORD),
        (90.0, 60.0, EnrolmentState.PRINT_READY_RECORD),
    ],
)
def test_thresholds_come_from_the_rules(duplicate: float, adjudicate: float, status: EnrolmentState) -> None:
    other = Person.of(make_biodata(jenis_kelamin="L"))
    matcher = ScriptedMatcher([Candidate("e-45", 30.0, {"right_thumb": 30.0})])
    rules = Rules(thresholds=MatchThresholds(duplicate=duplicate, adjudicate=adjudicate))
    assert _judge(make_biodata(), matcher, Register(enrolled={"e-45": other}), rules).status is status


def test_an_earlier_enrolment_of_the_same_nik_and_person_is_not_a_duplicate() -> None:
    me = make_biodata()
    matcher = ScriptedMatcher([Candidate("e-first", 120.0, {"right_thumb": 120.0})])
    register = Register(people={me.nik.value: Person.of(me)}, enrolled={"e-first": Person.of(me)})
    verdict = _judge(me, matcher, register)
    assert verdict.status is EnrolmentState.PRINT_READY_RECORD
    assert [r.code for r in verdict.reasons] == ["same_person_rerecorded"]
    assert "e-first" in verdict.reasons[0].message


def test_a_match_with_the_same_nik_but_another_person_is_a_duplicate() -> None:
    me = make_biodata()
    impostor = make_biodata(nik=me.nik.value, nama="RINA WATI")  # same NIK, another name: never accepted here
    matcher = ScriptedMatcher([Candidate("e-x", 120.0, {"right_thumb": 120.0})])
    verdict = _judge(me, matcher, Register(enrolled={"e-x": Person.of(impostor)}))
    assert verdict.status is EnrolmentState.DUPLICATE_RECORD


def _enrolled_before(me: Biodata, **fingers: dict[str, bytes]) -> Register:
    """A register where ``me`` holds the NIK and has accepted enrolments with the given templates."""
    return Register(people={me.nik.value: Person.of(me)}, enrolled={e: Person.of(me) for e in fingers}, fingers=fingers)


def test_a_nik_rerecorded_with_fingers_unlike_its_earlier_enrolment_asks_a_supervisor() -> None:
    me = make_biodata()
    matcher = ScriptedMatcher(scores={b"first-thumb": 6.0})
    register = _enrolled_before(me, **{"e-first": {"right_thumb": b"first-thumb"}})
    verdict = _judge(me, matcher, register)
    assert verdict.status is EnrolmentState.ADJUDICATE_RECORD
    assert not verdict.joins_gallery
    assert [r.code for r in verdict.reasons] == ["nik_fingers_differ"]
    message = verdict.reasons[0].message
    assert "do not match" in message and "e-first (score 6)" in message and "(25)" in message
    [candidate] = verdict.candidates
    assert (candidate.enrolment_id, candidate.nik, candidate.score) == ("e-first", me.nik.value, 6.0)
    assert candidate.finger_scores == {"right_thumb": 6.0}
    assert matcher.verified == [(b"probe-template", b"first-thumb")]


@pytest.mark.parametrize(
    ("adjudicate", "status", "codes"),
    [
        (25.0, EnrolmentState.PRINT_READY_RECORD, ["same_person_rerecorded"]),
        (35.0, EnrolmentState.ADJUDICATE_RECORD, ["nik_fingers_differ"]),
    ],
)
def test_the_takeover_threshold_is_the_adjudication_threshold(
    adjudicate: float, status: EnrolmentState, codes: list[str]
) -> None:
    me = make_biodata()
    # identify did not even return the earlier enrolment: the 1:1 comparison alone decides.
    matcher = ScriptedMatcher(scores={b"first-thumb": 30.0})
    rules = Rules(thresholds=MatchThresholds(duplicate=40.0, adjudicate=adjudicate))
    verdict = _judge(me, matcher, _enrolled_before(me, **{"e-first": {"right_thumb": b"first-thumb"}}), rules)
    assert verdict.status is status
    assert [r.code for r in verdict.reasons] == codes
    assert "e-first" in verdict.reasons[0].message and "30" in verdict.reasons[0].message


def test_one_matching_earlier_enrolment_of_the_nik_is_enough() -> None:
    me = make_biodata()
    matcher = ScriptedMatcher(scores={b"old": 4.0, b"new": 90.0})
    register = _enrolled_before(me, **{"e-1": {"right_thumb": b"old"}, "e-2": {"right_thumb": b"new"}})
    verdict = _judge(me, matcher, register)
    assert verdict.status is EnrolmentState.PRINT_READY_RECORD
    assert [(r.code, "e-2" in r.message) for r in verdict.reasons] == [("same_person_rerecorded", True)]
    none = _judge(me, ScriptedMatcher(scores={b"old": 4.0, b"new": 9.5}), register)
    assert none.status is EnrolmentState.ADJUDICATE_RECORD
    assert [(c.enrolment_id, c.score) for c in none.candidates] == [("e-2", 9.5), ("e-1", 4.0)]  # best first
    assert "enrolments of NIK" in none.reasons[0].message


def test_a_search_match_with_the_earlier_enrolment_counts_even_if_the_1to1_scores_are_low() -> None:
    me = make_biodata()
    matcher = ScriptedMatcher([Candidate("e-first", 120.0, {"right_thumb": 120.0})])  # verify answers 0
    verdict = _judge(me, matcher, _enrolled_before(me, **{"e-first": {"right_thumb": b"first-thumb"}}))
    assert verdict.status is EnrolmentState.PRINT_READY_RECORD
    assert [r.code for r in verdict.reasons] == ["same_person_rerecorded"]
    assert "score 120" in verdict.reasons[0].message


def test_the_1to1_fusion_follows_the_matchers_fuse_fingers() -> None:
    me = make_biodata()
    probe = {"right_thumb": b"p1", "right_index": b"p2", "left_thumb": b"p3"}
    earlier = {"right_thumb": b"r1", "right_index": b"r2", "left_little": b"r10"}  # two fingers in common
    register = _enrolled_before(me, **{"e-first": earlier})
    rules = Rules(thresholds=MatchThresholds(duplicate=60.0, adjudicate=35.0))
    two = ScriptedMatcher(scores={b"r1": 50.0, b"r2": 10.0}, fuse_fingers=2)
    verdict = _judge(me, two, register, rules, probe=probe)
    assert sorted(ref for _, ref in two.verified) == [b"r1", b"r2"]  # only the fingers both sides have
    assert verdict.status is EnrolmentState.ADJUDICATE_RECORD  # mean of the two best: 30 < 35
    assert verdict.candidates[0].score == 30.0
    assert verdict.candidates[0].finger_scores == {"right_thumb": 50.0, "right_index": 10.0}
    # A matcher without fuse_fingers: the best finger's score (50 >= 35).
    best = ScriptedMatcher(scores={b"r1": 50.0, b"r2": 10.0})
    assert _judge(me, best, register, rules, probe=probe).status is EnrolmentState.PRINT_READY_RECORD
    assert (fusion_width(two), fusion_width(best)) == (2, 1)
    assert fused_score({"a": 50.0, "b": 10.0, "c": 30.0}, 2) == 40.0
    assert fused_score({"a": 50.0}, 2) == 50.0 and fused_score({}, 2) == 0.0


def test_an_earlier_enrolment_without_common_fingers_cannot_be_compared() -> None:
    me = make_biodata()
    matcher = ScriptedMatcher()
    verdict = _judge(me, matcher, _enrolled_before(me, **{"e-first": {"left_little": b"r10"}}))
    assert verdict.status is EnrolmentState.PRINT_READY_RECORD and verdict.reasons == ()
    assert matcher.verified == []


def test_takeover_with_a_grey_zone_lists_both_and_a_duplicate_wins() -> None:
    me = make_biodata()
    other = Person.of(make_biodata(jenis_kelamin="L"))
    register = _enrolled_before(me, **{"e-first": {"right_thumb": b"first-thumb"}})
    register.enrolled["e-45"] = other
    grey = _judge(me, ScriptedMatcher([Candidate("e-45", 30.0, {"right_thumb": 30.0})]), register)
    assert grey.status is EnrolmentState.ADJUDICATE_RECORD
    assert [r.code for r in grey.reasons] == ["biometric_grey_zone", "nik_fingers_differ"]
    assert [c.enrolment_id for c in grey.candidates] == ["e-45", "e-first"]
    duplicate = _judge(me, ScriptedMatcher([Candidate("e-45", 90.0, {"right_thumb": 90.0})]), register)
    assert duplicate.status is EnrolmentState.DUPLICATE_RECORD
    assert [r.code for r in duplicate.reasons] == ["biometric_duplicate"]


def test_a_reprint_needs_the_holders_fingers() -> None:
    me = make_biodata()
    register = _enrolled_before(me, **{"e-first": {"right_thumb": b"first-thumb"}})
    register.cards.add(me.nik.value)
    same = _judge(me, ScriptedMatcher(scores={b"first-thumb": 80.0}), register)
    assert same.status is EnrolmentState.PRINT_READY_RECORD
    assert [r.code for r in same.reasons] == ["same_person_rerecorded", "reprint"]
    other = _judge(me, ScriptedMatcher(scores={b"first-thumb": 3.0}), register)
    assert other.status is EnrolmentState.ADJUDICATE_RECORD
    assert [r.code for r in other.reasons] == ["nik_fingers_differ"]  # reprint is added only if a supervisor accepts


def test_a_failing_1to1_comparison_is_a_search_failure() -> None:
    class Broken(ScriptedMatcher):
        def verify(self, probe: bytes, reference: bytes) -> float:
            raise ValueError("not a template")

    me = make_biodata()
    verdict = _judge(me, Broken(), _enrolled_before(me, **{"e-first": {"right_thumb": b"first-thumb"}}))
    assert verdict.status is EnrolmentState.SEARCH_FAILURE_AT_CENTRAL
    assert "not a template" in verdict.reasons[0].message


def test_nik_issued_to_another_person() -> None:
    holder = make_biodata()
    claimant = make_biodata(nik=holder.nik.value, nama="DEWI LESTARI")
    matcher = ScriptedMatcher()
    verdict = _judge(claimant, matcher, Register(people={holder.nik.value: Person.of(holder)}))
    assert verdict.status is EnrolmentState.ENROLL_FAILURE_AT_CENTRAL
    assert [r.code for r in verdict.reasons] == ["nik_issued_to_other"]
    assert "name" in verdict.reasons[0].message
    assert matcher.asked == []  # a record the register refuses never reaches the biometric search


def test_biodata_contradicting_the_nik() -> None:
    male_nik = valid_nik(sex="L", birth_date=dt.date(1990, 1, 1))
    verdict = _judge(make_biodata(nik=male_nik, jenis_kelamin="P"), ScriptedMatcher())
    assert verdict.status is EnrolmentState.ENROLL_FAILURE_AT_CENTRAL
    assert [r.code for r in verdict.reasons] == ["biodata_contradicts_nik"]
    assert "sex" in verdict.reasons[0].message


def test_not_eligible_follows_the_configured_age() -> None:
    birth = dt.date(2011, 6, 1)  # 15 on TODAY
    young = make_biodata(tanggal_lahir=birth, status_perkawinan="BELUM KAWIN")
    verdict = _judge(young, ScriptedMatcher())
    assert verdict.status is EnrolmentState.ENROLL_FAILURE_AT_CENTRAL
    assert [r.code for r in verdict.reasons] == ["not_eligible"]
    assert _judge(young, ScriptedMatcher(), rules=Rules(eligibility_age=15)).status is EnrolmentState.PRINT_READY_RECORD
    married = make_biodata(tanggal_lahir=birth, status_perkawinan="KAWIN")
    assert _judge(married, ScriptedMatcher()).status is EnrolmentState.PRINT_READY_RECORD


def test_every_register_problem_is_reported() -> None:
    holder = make_biodata()
    male_nik = valid_nik(sex="L", birth_date=dt.date(2012, 1, 1))
    bad = make_biodata(
        nik=male_nik, jenis_kelamin="P", tanggal_lahir=dt.date(2012, 1, 1), status_perkawinan="BELUM KAWIN"
    )
    register = Register(people={male_nik: Person.of(holder)})
    codes = [r.code for r in register_problems(bad, register, on=TODAY, rules=Rules())]
    assert codes == ["biodata_contradicts_nik", "not_eligible", "nik_issued_to_other"]


def test_reprint_when_the_nik_holds_a_card() -> None:
    me = make_biodata()
    verdict = _judge(me, ScriptedMatcher(), Register(people={me.nik.value: Person.of(me)}, cards={me.nik.value}))
    assert verdict.status is EnrolmentState.PRINT_READY_RECORD
    assert [r.code for r in verdict.reasons] == ["reprint"]


def test_a_duplicate_is_no_reprint() -> None:
    me = make_biodata()
    other = Person.of(make_biodata(jenis_kelamin="L"))
    matcher = ScriptedMatcher([Candidate("e-45", 90.0, {"right_thumb": 90.0})])
    verdict = _judge(me, matcher, Register(cards={me.nik.value}, enrolled={"e-45": other}))
    assert verdict.status is EnrolmentState.DUPLICATE_RECORD
    assert "reprint" not in [r.code for r in verdict.reasons]


def test_fingers_without_minutiae_fail_and_all_exceptions_go_to_a_supervisor() -> None:
    matcher = ScriptedMatcher()
    unusable = _judge(make_biodata(), matcher, probe={}, fingers_sent=3)
    assert unusable.status is EnrolmentState.ENROLL_FAILURE_AT_CENTRAL
    assert [r.code for r in unusable.reasons] == ["no_usable_fingers"]
    none = _judge(make_biodata(), matcher, probe={}, fingers_sent=0)
    assert none.status is EnrolmentState.ADJUDICATE_RECORD
    assert [r.code for r in none.reasons] == ["no_fingers_to_search"]
    assert matcher.asked == []


def test_a_failing_search_is_a_search_failure() -> None:
    verdict = _judge(make_biodata(), ScriptedMatcher(error=RuntimeError("index corrupt")))
    assert verdict.status is EnrolmentState.SEARCH_FAILURE_AT_CENTRAL
    assert [r.code for r in verdict.reasons] == ["search_failed"]
    assert "index corrupt" in verdict.reasons[0].message


def test_person_differences_ignore_case_and_spacing() -> None:
    me = Person.of(make_biodata())
    same = Person(me.nik, f"  {me.name.lower()} ", me.sex, me.birth_date, me.birth_place.lower())
    assert me.differences(same) == []
    other = Person(me.nik, me.name, "L", me.birth_date + dt.timedelta(days=1), "JAKARTA")
    assert me.differences(other) == ["sex", "birth date", "birth place"]
