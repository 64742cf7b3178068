"""The central emulator's verdict rules (plugins/verify/central/verdicts.py), as pure functions.

The matcher here is a test double that returns scripted candidates: these tests are about what the
rules make of scores, not about fingerprints (tests/verify/test_central_emulator.py runs the real
NBIS matcher on synthetic fingers).
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

import pytest
from ektp_plugins.verify.central.verdicts import Person, Rules, judge, register_problems

from ektp_core.matching import Candidate, FingerSet, MatchThresholds
from ektp_core.model import Biodata, EnrolmentState
from ektp_core.testing.samples import make_biodata, valid_nik

TODAY = dt.date(2026, 11, 28)
PROBE = {"right_thumb": b"probe-template"}


class ScriptedMatcher:
    """TEST DOUBLE (pure verdict logic only): ``identify`` returns the candidates it was given."""

    name = "scripted"

    def __init__(self, candidates: list[Candidate] | None = None, error: Exception | None = None) -> None:
        self.candidates = candidates or []
        self.error = error
        self.asked: list[tuple[FingerSet, int]] = []

    def extract(self, image: bytes) -> bytes | None:
        return None

    def verify(self, probe: bytes, reference: bytes) -> float:
        return 0.0

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

    def __init__(self, people: Mapping[str, Person] | None = None, cards: set[str] | None = None,
                 enrolled: Mapping[str, Person] | None = None) -> None:
        self.people = dict(people or {})
        self.cards = cards or set()
        self.enrolled = dict(enrolled or {})

    def person(self, nik: str) -> Person | None:
        return self.people.get(nik)

    def has_card(self, nik: str) -> bool:
        return nik in self.cards

    def enrolled_person(self, enrolment_id: str) -> Person | None:
        return self.enrolled.get(enrolment_id)


def _judge(biodata: Biodata, matcher: ScriptedMatcher, register: Register | None = None,
           rules: Rules | None = None, probe: FingerSet = PROBE, fingers_sent: int | None = None):  # type: ignore[no-untyped-def]
    return judge(biodata, probe, fingers_sent=len(probe) if fingers_sent is None else fingers_sent,
                 register=register or Register(), matcher=matcher, rules=rules or Rules(), on=TODAY)


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
    matcher = ScriptedMatcher([Candidate("e-45", 87.5, {"right_thumb": 95.0, "right_index": 80.0}),
                               Candidate("e-46", 3.0, {"right_thumb": 3.0})])
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


@pytest.mark.parametrize(("duplicate", "adjudicate", "status"), [
    (40.0, 25.0, EnrolmentState.ADJUDICATE_RECORD),
    (30.0, 20.0, EnrolmentState.DUPLICATE_RECORD),
    (90.0, 60.0, EnrolmentState.PRINT_READY_RECORD),
])
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
    assert _judge(young, ScriptedMatcher(), rules=Rules(eligibility_age=15)).status \
        is EnrolmentState.PRINT_READY_RECORD
    married = make_biodata(tanggal_lahir=birth, status_perkawinan="KAWIN")
    assert _judge(married, ScriptedMatcher()).status is EnrolmentState.PRINT_READY_RECORD


def test_every_register_problem_is_reported() -> None:
    holder = make_biodata()
    male_nik = valid_nik(sex="L", birth_date=dt.date(2012, 1, 1))
    bad = make_biodata(nik=male_nik, jenis_kelamin="P", tanggal_lahir=dt.date(2012, 1, 1),
                       status_perkawinan="BELUM KAWIN")
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
