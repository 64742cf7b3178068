"""The catalogue of audit actions: every action the code writes to the audit log, with what it means.

An audit entry's action is one :class:`AuditAction`; :func:`ektp_core.lifecycle.audit.append` takes
nothing else (mypy refuses a plain string, and at run time a string that is not in the catalogue is
refused before anything is written). Each member carries a one-line ``meaning`` (what happened) and
``written_by`` (the modules that write it); docs/storage.md lists them, generated from here by
:func:`catalogue_markdown`.

The state moves (``enrolment.<state>``, ``print_job.<state>``, ``blank.<state>``, the state in lower
case) are derived from the state enums, so a new state has its action without anyone adding it; the
service names them through :func:`state_move`.

The stored strings are part of the hash-chained log: a member's value never changes, and a member is
never removed while old entries may carry it (one no longer written says so in ``written_by``, which
then starts with ``older releases``). Plugins do not write audit entries: see docs/plugins.md.
"""

from __future__ import annotations

import enum
from typing import Any

from ektp_core.domain.model import BlankState, CardState, EnrolmentState, PrintJobState
from ektp_core.errors import InvalidValue

#: The records that move through state machines: the audit ``subject_kind`` of their moves, and
#: their states. A move of one to ``STATE`` is audited as ``<kind>.<state in lower case>``.
STATE_KINDS: dict[str, type[enum.StrEnum]] = {
    "enrolment": EnrolmentState,
    "print_job": PrintJobState,
    "blank": BlankState,
    "card": CardState,
}
_KIND_NAMES = {
    "enrolment": "An enrolment",
    "print_job": "A print job",
    "blank": "A blank card (blangko)",
    "card": "A printed card in the card register",
}

_LIFECYCLE = "ektp_core.lifecycle.service"
_ACCOUNTS = "ektp_core.services.accounts"
_CAPTURE = "ektp_core.services.capture"
_VERIFICATION = "ektp_core.services.verification"
_PROFILE_CHANGE = "ektp_core.services.profile_change"
_DATA_KEY_ROTATION = "ektp_core.services.data_key_rotation"
_INBOX = "ektp_core.sync.inbox"
_OUTBOX = "ektp_core.sync.outbox"
_FEED = "ektp_core.sync.feed"
_NODE_KEYS = "ektp_core.sync.node_keys"
_CORRECTIONS = "ektp_core.services.corrections"
_REPLACEMENT = "ektp_core.services.replacement"
_PAPERS = "ektp_core.services.papers"


def _member_name(value: str) -> str:
    return value.upper().replace(".", "_")


def _state_moves() -> dict[str, tuple[str, str, str]]:
    """The state-move members, one per state of each kind: name -> (value, meaning, written by)."""
    moves = {}
    for kind, states in STATE_KINDS.items():
        for state in states:
            value = f"{kind}.{state.value.lower()}"
            meaning = (
                f"{_KIND_NAMES[kind]} entered `{state.value}`; the detail holds `from` (none for a new record), "
                "`to` and the reason."
            )
            moves[_member_name(value)] = (value, meaning, _LIFECYCLE)
    return moves


class AuditAction(enum.StrEnum):
    """One action of the audit log. The value is the string stored in the entry, byte for byte."""

    #: What happened, in one line.
    meaning: str
    #: The modules that write it (or ``older releases: ...`` for one only old entries carry).
    written_by: tuple[str, ...]

    def __new__(cls, value: str, meaning: str, written_by: str | tuple[str, ...]) -> AuditAction:
        """A member from its definition: (value, meaning, written by)."""
        member = str.__new__(cls, value)
        member._value_ = value
        member.meaning = meaning
        member.written_by = (written_by,) if isinstance(written_by, str) else written_by
        return member

    # Logins and accounts
    AUTH_LOGIN = "auth.login", "An operator logged in; the detail keeps where from.", _ACCOUNTS
    AUTH_LOGIN_FAILED = (
        "auth.login_failed",
        "A login was refused (wrong password, unknown, disabled or locked account, another site's account); "
        "the detail keeps the reason.",
        _ACCOUNTS,
    )
    AUTH_LOCKED = (
        "auth.locked",
        "An account was locked after too many failed logins; the detail says until when.",
        _ACCOUNTS,
    )
    AUTH_UNLOCKED = "auth.unlocked", "A supervisor lifted an account's lockout before it ran out.", _ACCOUNTS
    AUTH_LOGOUT = "auth.logout", "An operator logged out.", _ACCOUNTS
    AUTH_SESSION_ENDED = (
        "auth.session_ended",
        "A session ended without a logout (idle, too old); the detail keeps the reason.",
        _ACCOUNTS,
    )
    AUTH_FORBIDDEN = (
        "auth.forbidden",
        "A page or action was refused to an account (its role, a failed CSRF check, no access rule, a "
        "rate limit...); the web plugin reports it through the accounts service.",
        _ACCOUNTS,
    )
    OPERATOR_CREATED = "operator.created", "An account was created, with its role and site.", _LIFECYCLE
    OPERATOR_UPDATED = (
        "operator.updated",
        "An account was changed (password, role, active, full name); the detail lists what changed.",
        _ACCOUNTS,
    )

    # Sites, blanks and the profile
    SITE_SAVED = "site.saved", "A site of the profile was added to the sites table or changed there.", _LIFECYCLE
    BLANKS_RECEIVED = (
        "blanks.received",
        "A delivery of blank cards (blangko) arrived at a site; the detail holds the count and the first "
        "and last serial.",
        _LIFECYCLE,
    )
    PROFILE_CHANGED = (
        "profile.changed",
        "The node switched to another profile and re-routed its queued print jobs; the detail holds both "
        "names and the counts.",
        _PROFILE_CHANGE,
    )

    # Recording and handover
    CAPTURE_SAVED = (
        "capture.saved",
        "A biometric capture of an enrolment was stored (modality, position, quality).",
        _CAPTURE,
    )
    CAPTURE_EXCEPTION = (
        "capture.exception",
        "A missing or damaged finger or eye of an enrolment was recorded, with the approving supervisor.",
        _CAPTURE,
    )
    ENROLMENT_CORRECTED = (
        "enrolment.corrected",
        "An enrolment's biodata was corrected; the detail holds every changed field with its old and new "
        "value, and the reason (a supervisor's, after the enrolment was sent).",
        (_CORRECTIONS, _FEED),
    )
    ENROLMENT_BIOMETRICS_DESTROYED = (
        "enrolment.biometrics_destroyed",
        "The biometrics of a cancelled enrolment were deleted after the profile's retention period; the "
        "detail holds how many images, templates and captures.",
        _CORRECTIONS,
    )
    ENROLMENT_IDENTITY_CHECKED = (
        "enrolment.identity_checked",
        "A replacement's applicant was checked 1:1 against the fingers of the resident's earlier "
        "enrolment at the desk; the detail holds the finger, the score and whether it matched.",
        _REPLACEMENT,
    )
    ENROLMENT_HANDOVER_REFUSED = (
        "enrolment.handover_refused",
        "A card was not handed over: the resident's finger did not match or could not be checked.",
        _VERIFICATION,
    )

    # Papers for the resident
    PAPER_ISSUED = (
        "paper.issued",
        "A paper was issued to a resident (bukti perekaman, tanda terima or Suket); the subject is the "
        "enrolment, the detail holds the paper's number, kind, validity and the id of the key that signed it.",
        _PAPERS,
    )
    PAPER_KEYS_IMPORTED = (
        "paper.keys_imported",
        "A node imported the regency's published signing keys (checked against the Dukcapil node's keys) "
        "to check papers with; the detail holds when they were published and how many.",
        _PAPERS,
    )

    # Data keys (biometrics at rest)
    DATA_KEY_ROTATION_STARTED = (
        "data_key.rotation_started",
        "A data key rotation began: a new data key is current and re-encryption follows.",
        _DATA_KEY_ROTATION,
    )
    DATA_KEY_ROTATION_STOPPED = (
        "data_key.rotation_stopped",
        "A data key rotation stopped at a blob it could not read; the detail names the blob and its enrolment.",
        _DATA_KEY_ROTATION,
    )
    DATA_KEY_ROTATED = (
        "data_key.rotated",
        "A data key rotation finished: every blob is encrypted under the new key.",
        _DATA_KEY_ROTATION,
    )
    DATA_KEY_FORGOTTEN = (
        "data_key.forgotten",
        "A retired data key that no longer encrypts anything was deleted.",
        _DATA_KEY_ROTATION,
    )

    # Sync between a site and the Dukcapil node
    SYNC_JOIN_CODE = "sync.join_code", "The Dukcapil node issued a one-time join code for a site.", _INBOX
    SYNC_JOIN_REFUSED = (
        "sync.join_refused",
        "The Dukcapil node refused a site's join request (unknown, used or expired code).",
        _INBOX,
    )
    SYNC_JOINED = "sync.joined", "A site joined the Dukcapil node, which registered its public key.", _INBOX
    SYNC_PACKET_ACCEPTED = (
        "sync.packet_accepted",
        "At a site: the Dukcapil node's signed receipt accepted one of its packets.",
        _OUTBOX,
    )
    SYNC_PACKET_REFUSED = (
        "sync.packet_refused",
        "A packet was refused: at the Dukcapil node, an incoming packet it could not open or trust (subject: "
        "the packet); at a site, the receipt refusing one of its packets (subject: the enrolment).",
        (_INBOX, _OUTBOX),
    )
    SYNC_PACKET_ARCHIVED_KEY = (
        "sync.packet_archived_key",
        "At the Dukcapil node: a packet opened only with an archived exchange key (sealed before its site "
        "learnt of a key rotation).",
        _INBOX,
    )
    SYNC_ENROLMENT_REFUSED = (
        "sync.enrolment_refused",
        "At the Dukcapil node: the enrolment a packet carried was refused; its receipt says why.",
        _INBOX,
    )
    SYNC_KEY_ROTATED = (
        "sync.key_rotated",
        "A site rotated its signing key and signed its waiting packets again.",
        _OUTBOX,
    )
    SYNC_JOB_RECEIVED = (
        "sync.job_received",
        "At a site: a print job the Dukcapil node routed here arrived through the feed.",
        _FEED,
    )
    SYNC_STATE_MIRRORED = (
        "sync.state_mirrored",
        "At a site: an enrolment's state was brought in line with the Dukcapil node's, through the feed.",
        _FEED,
    )
    SYNC_ACCOUNT_RECEIVED = (
        "sync.account_received",
        "At a site: an account created or changed at the Dukcapil node arrived through the feed.",
        _FEED,
    )
    SYNC_NODE_KEYS_ROTATED = (
        "sync.node_keys_rotated",
        "The Dukcapil node rotated its own signing and exchange keys.",
        _NODE_KEYS,
    )
    SYNC_NODE_KEYS_UPDATED = (
        "sync.node_keys_updated",
        "At a site: the Dukcapil node's new keys were verified through its key chain and pinned.",
        _NODE_KEYS,
    )
    SYNC_NODE_KEYS_REFUSED = (
        "sync.node_keys_refused",
        "At a site: the Dukcapil node's key chain did not verify; the pinned keys stay as they were.",
        _NODE_KEYS,
    )

    # The state moves, derived from the state enums (mypy does not see these members: reach them
    # through state_move()). Enum's class namespace takes members added through vars() like written ones.
    vars().update(_state_moves())


#: Every member by its stored string (``AuditAction(value)`` does the same, but mypy reads the call as a
#: member's definition).
_BY_VALUE: dict[str, AuditAction] = {str(action): action for action in AuditAction}
_STATE_MOVES: dict[tuple[str, str], AuditAction] = {
    (kind, state.value): _BY_VALUE[f"{kind}.{state.value.lower()}"]
    for kind, states in STATE_KINDS.items()
    for state in states
}


def state_move(kind: str, state: str) -> AuditAction:
    """The action that audits a record of ``kind`` (``enrolment``, ``print_job``, ``blank``) entering
    ``state`` (the state's value, such as ``PRINT_READY_RECORD``)."""
    try:
        return _STATE_MOVES[(kind, state)]
    except KeyError:
        raise InvalidValue(
            "state move", f"{kind}.{state}", f"a record kind in {sorted(STATE_KINDS)} and one of its states"
        ) from None


def catalogued(action: Any) -> AuditAction:
    """``action`` as a catalogue member; :class:`~ektp_core.errors.InvalidValue` when the catalogue does
    not have it (a plugin or a test passing a string of its own)."""
    found = _BY_VALUE.get(action) if isinstance(action, str) else None
    if found is None:
        raise InvalidValue(
            "audit action",
            action,
            "it is not in the audit catalogue (ektp_core.lifecycle.actions.AuditAction); plugins do not "
            "write audit entries, core services do (docs/plugins.md)",
        )
    return found


def catalogue_markdown() -> str:
    """The catalogue as the Markdown table docs/storage.md shows, one row per action, sorted."""
    lines = ["| Action | What happened | Written by |", "|---|---|---|"]
    for action in sorted(AuditAction, key=str):
        writers = ", ".join(f"`{w}`" if w.startswith("ektp_") else w for w in action.written_by)
        lines.append(f"| `{action}` | {action.meaning} | {writers} |")
    return "\n".join(lines) + "\n"
