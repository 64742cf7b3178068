"""What a verifier (the adapter to a central system) is, and what it hands back.

A verifier is registered by name through ``ektp_register_verifiers`` as a :class:`VerifierFactory`;
the profile's ``[verification] verifier`` picks it and every key of ``[verification]`` except
``verifier``, ``required`` and ``matcher`` is passed to it as an option.
The :class:`~ektp_core.services.verification.VerificationService` drives it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

import attrs

from ektp_core.domain.model import EnrolmentState
from ektp_core.errors import EktpError
from ektp_core.messages import Message

#: The verdicts a central system gives, by SIAK's state names.
VERDICTS = frozenset(
    {
        EnrolmentState.PRINT_READY_RECORD,
        EnrolmentState.DUPLICATE_RECORD,
        EnrolmentState.ADJUDICATE_RECORD,
        EnrolmentState.ENROLL_FAILURE_AT_CENTRAL,
        EnrolmentState.SEARCH_FAILURE_AT_CENTRAL,
        EnrolmentState.REQUEST_VALIDATION,
    }
)


#: What a verdict without reasons means, for the enrolment's reason column.
_PLAIN = {
    EnrolmentState.PRINT_READY_RECORD: "unique: no biometric match, biodata consistent with the register",
    EnrolmentState.DUPLICATE_RECORD: "duplicate of another enrolment",
    EnrolmentState.ADJUDICATE_RECORD: "possible duplicate: a supervisor decides",
}


class CentralUnavailable(EktpError):
    """The central system cannot be reached or is down (refused, timed out, 5xx, 503).

    Nothing is lost: the enrolment stays SENT_FOR_ENROLLMENT and is sent again later.
    """

    message_code = "error.central_unavailable"


_ADVICE = {
    "unauthorised": "Check the token in the environment variable named by [verification] token_env",
    "conflict": "The central system already holds this id with different content, or another decision: "
    "nothing was overwritten; ask the Dukcapil administrator",
    "malformed": "The record was refused as it is; correct it and record it again",
    "redirected": "Point [verification] url at the API's own address",
}


class CentralRefused(EktpError):
    """The central system refused a request for a reason that resending the same request cannot fix.

    ``code`` is the API's error code: ``malformed``, ``unauthorised``, ``conflict``, ``not_found``.
    """

    message_code = "error.central_refused"

    def __init__(self, code: str, message: str) -> None:
        advice = _ADVICE.get(code, "")
        super().__init__(f"central system refused ({code}): {message}" + (f". {advice}" if advice else ""))
        self.code = code
        self.detail = message


@attrs.frozen
class Submission:
    """One enrolment as it is sent to the central system."""

    enrolment_id: str
    site: str
    biodata: Mapping[str, Any]
    #: Finger position -> ISO/IEC 19794-2 template.
    fingers: Mapping[str, bytes] = attrs.field(factory=dict, repr=False)
    #: Finger position -> encoded image, for adjudication.
    finger_images: Mapping[str, bytes] = attrs.field(factory=dict, repr=False)
    face: bytes | None = attrs.field(default=None, repr=False)
    #: Finger position -> the reason no finger was captured there.
    exceptions: Mapping[str, str] = attrs.field(factory=dict)
    #: The service (jenis layanan) as :meth:`~ektp_core.domain.model.ServiceRequest.to_dict` gives it:
    #: a replacement names the earlier enrolment it ``replaces``, which is then not a duplicate of it.
    service: Mapping[str, Any] = attrs.field(factory=lambda: {"type": "baru"})


@attrs.frozen
class Receipt:
    """The central system's acknowledgement that it holds an enrolment."""

    enrolment_id: str
    received_at: dt.datetime
    #: False when this was a resend and the central side already had it.
    first: bool = True


@attrs.frozen
class Reason:
    """One reason for a verdict: a stable code and a message for people."""

    code: str
    message: str


def reason_message(reason: Reason) -> Message:
    """A verdict reason as a message (``verdict.<code>``; its English text when no catalogue has it)."""
    return Message(f"verdict.{reason.code}", text=reason.message)


def _scores(raw: Any) -> dict[str, float]:
    return {str(k): float(v) for k, v in (raw or {}).items()}


@attrs.frozen
class VerdictCandidate:
    """Another enrolment a verdict points at (a suspected or proven duplicate)."""

    enrolment_id: str
    nik: str
    score: float
    finger_scores: Mapping[str, float] = attrs.field(factory=dict, converter=_scores)


@attrs.frozen
class Verdict:
    """The central system's decision on one enrolment, with its reasons and candidates."""

    enrolment_id: str
    status: EnrolmentState
    reasons: tuple[Reason, ...] = ()
    candidates: tuple[VerdictCandidate, ...] = ()
    decided_at: dt.datetime | None = None

    def __attrs_post_init__(self) -> None:
        if self.status not in VERDICTS:
            raise ValueError(f"{self.status} is not a verdict (expected one of {sorted(VERDICTS)})")

    def summary(self) -> str:
        """One line for the enrolment's reason column and the audit log."""
        return "; ".join(r.message for r in self.reasons) or _PLAIN.get(self.status, self.status.value)

    def summary_message(self) -> Message:
        """The summary as a message: each reason by its code (``verdict.<code>`` in the catalogues,
        the central system's own English text where a catalogue lacks the code)."""
        if not self.reasons:
            return Message(f"verdict.{self.status.value}", text=self.summary())
        return Message("verdict.reasons", reasons=[reason_message(r) for r in self.reasons])

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form, the same shape as the API's verdict."""
        return {
            "enrolment_id": self.enrolment_id,
            "status": self.status.value,
            "reasons": [attrs.asdict(r) for r in self.reasons],
            "candidates": [attrs.asdict(c) for c in self.candidates],
            "decided_at": self.decided_at.isoformat() if self.decided_at else None,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Verdict:
        """Read :meth:`to_dict`'s form (and the API's); raises ValueError on anything else."""
        try:
            decided = data.get("decided_at")
            return cls(
                enrolment_id=str(data["enrolment_id"]),
                status=EnrolmentState(data["status"]),
                reasons=tuple(Reason(str(r["code"]), str(r["message"])) for r in data.get("reasons") or ()),
                candidates=tuple(
                    VerdictCandidate(
                        enrolment_id=str(c["enrolment_id"]),
                        nik=str(c.get("nik", "")),
                        score=float(c["score"]),
                        finger_scores=_scores(c.get("finger_scores")),
                    )
                    for c in data.get("candidates") or ()
                ),
                decided_at=dt.datetime.fromisoformat(decided.replace("Z", "+00:00")) if decided else None,
            )
        except (KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"not a verdict: {exc!r}") from None


@runtime_checkable
class Verifier(Protocol):
    """An adapter to a central system. Every method raises :class:`CentralUnavailable` when the central
    side cannot be reached and :class:`CentralRefused` when it refuses for good."""

    name: str

    def submit(self, submission: Submission) -> Receipt:
        """Hand one enrolment over. Must be idempotent: a resend of the same id gets the first answer."""

    def verdict(self, enrolment_id: str, *, wait: float = 0) -> Verdict | None:
        """The verdict, or None while the central side is still deciding (waiting up to ``wait`` seconds)."""

    def adjudicate(self, enrolment_id: str, decision: EnrolmentState, *, supervisor: str, note: str) -> Verdict:
        """Tell the central side a supervisor's decision on an enrolment in ADJUDICATE_RECORD."""

    def card_printed(self, enrolment_id: str, printed_at: dt.datetime) -> None:
        """Tell the central side that the enrolment's card was printed (later ones are reprints)."""

    def finger_image(self, enrolment_id: str, position: str) -> bytes | None:
        """A finger image the central side holds for an enrolment (for adjudication), or None."""


@runtime_checkable
class CorrectingVerifier(Verifier, Protocol):
    """A verifier whose central system takes corrections of the records it holds (an optional
    capability: a Dukcapil node whose verifier lacks it corrects only what the centre has not received).
    """

    def correct(self, submission: Submission, *, reason: str, supervisor: str) -> None:
        """Replace what the central side holds for an enrolment with a supervisor's correction: the
        whole submission again, its biodata corrected (the NIK never changes), so that a later resend
        of the corrected enrolment is the same enrolment. Raises :class:`CentralRefused`
        (``not_found``; ``conflict``: a card already printed) or :class:`CentralUnavailable`; the node
        changes nothing unless this returned."""


class VerifierFactory(Protocol):
    """What ``ektp_register_verifiers`` registers: a class or function that builds a :class:`Verifier`.

    It is called with keyword arguments and receives only those it names among ``name`` (the name
    ``[verification] verifier`` picked), ``options`` (the keys of ``[verification]`` other than
    ``verifier``, ``required`` and ``matcher``) and ``profile``; it raises ``ValueError`` for a bad
    option (:mod:`ektp_core.devices.factories`).
    """

    def __call__(self, *args: Any, **kwargs: Any) -> Verifier:
        """Build the verifier."""
        ...


__all__ = [
    "VERDICTS",
    "CentralRefused",
    "CentralUnavailable",
    "Reason",
    "Receipt",
    "Submission",
    "Verdict",
    "VerdictCandidate",
    "Verifier",
    "VerifierFactory",
]
