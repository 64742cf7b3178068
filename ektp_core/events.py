"""What the lifecycle tells plugins after each state change."""

from __future__ import annotations

import datetime as dt
from typing import Any

import attrs


@attrs.frozen(kw_only=True)
class Transition:
    """One committed state change of an enrolment, a print job or a blank.

    Passed to :func:`ektp_core.hookspecs.ektp_after_transition` after the transaction committed, so
    a plugin always sees changes that really happened.
    """

    #: ``enrolment``, ``print_job`` or ``blank``.
    kind: str
    subject_id: str
    #: None when the subject was created by this transition.
    from_state: str | None
    to_state: str
    actor: str
    at: dt.datetime
    reason: str | None = None
    #: Sequence number of the audit entry written in the same transaction.
    audit_seq: int = 0
    detail: dict[str, Any] = attrs.field(factory=dict)


@attrs.frozen
class ValidationProblem:
    """One problem a validation hook found; ``field`` is None when it concerns the whole record."""

    message: str
    field: str | None = None
