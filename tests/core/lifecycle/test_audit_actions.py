"""The audit actions are one catalogue (ektp_core.lifecycle.actions): the code writes nothing else, and
the catalogue holds nothing that is never written.

The static half reads the source of the core, the bundled plugins and the profiles: every call of
``audit.append`` must pass a catalogue member (``AuditAction.NAME``, a choice between members, or
``state_move(...)``). The run-time half checks that ``audit.append`` refuses anything else and writes
nothing, and that the stored strings stay byte for byte what older releases wrote.
"""

from __future__ import annotations

import ast
import datetime as dt
import importlib
import typing
from collections import defaultdict
from pathlib import Path

import attrs
import pytest
import sqlalchemy as sa

from ektp_core.domain.model import BlankState, CardState, EnrolmentState, PrintJobState
from ektp_core.errors import InvalidValue
from ektp_core.lifecycle import audit
from ektp_core.lifecycle.actions import STATE_KINDS, AuditAction, catalogue_markdown, state_move
from ektp_core.lifecycle.service import LifecycleService
from ektp_core.lifecycle.states import BLANK_TRANSITIONS, CARD_TRANSITIONS, ENROLMENT_TRANSITIONS, PRINT_JOB_TRANSITIONS
from ektp_core.store.tables import audit_head, audit_log

ROOT = Path(__file__).resolve().parents[3]
#: Where the code that may write audit entries lives: the core, the bundled plugins, the profiles.
SOURCES = {"ektp_core": ROOT / "ektp_core", "ektp_plugins": ROOT / "plugins", "ektp_profiles": ROOT / "profiles"}

_AUDIT_MODULE = "ektp_core.lifecycle.audit"
_ACTIONS_MODULE = "ektp_core.lifecycle.actions"
_STATE_MOVES = "state moves"  # what a state_move(...) call writes: one action per state entered


# --------------------------------------------------------------------------------------------------
# The scan
# --------------------------------------------------------------------------------------------------


@attrs.define
class Scan:
    """What the source says: which actions each module writes, and the calls that pass anything else."""

    appends: int = 0
    #: action (a member, or _STATE_MOVES) -> modules that write it
    written: dict[object, set[str]] = attrs.field(factory=lambda: defaultdict(set))
    problems: list[str] = attrs.field(factory=list)


class _Names:
    """The names one module binds to the audit module, its ``append``, the catalogue and ``state_move``."""

    def __init__(self, tree: ast.Module) -> None:
        self.audit_modules: set[str] = set()
        self.appends: set[str] = set()
        self.catalogue_modules: set[str] = set()
        self.catalogues: set[str] = set()
        self.state_moves: set[str] = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module:
                for alias in node.names:
                    bound = alias.asname or alias.name
                    full = f"{node.module}.{alias.name}"
                    if full == _AUDIT_MODULE:
                        self.audit_modules.add(bound)
                    elif full == _ACTIONS_MODULE:
                        self.catalogue_modules.add(bound)
                    elif full == f"{_AUDIT_MODULE}.append":
                        self.appends.add(bound)
                    elif full == f"{_ACTIONS_MODULE}.AuditAction":
                        self.catalogues.add(bound)
                    elif full == f"{_ACTIONS_MODULE}.state_move":
                        self.state_moves.add(bound)
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name == _AUDIT_MODULE:
                        self.audit_modules.add(alias.asname or alias.name)
                    elif alias.name == _ACTIONS_MODULE:
                        self.catalogue_modules.add(alias.asname or alias.name)

    def is_append(self, func: ast.expr) -> bool:
        if isinstance(func, ast.Name):
            return func.id in self.appends
        return (
            isinstance(func, ast.Attribute) and func.attr == "append" and ast.unparse(func.value) in self.audit_modules
        )

    def is_catalogue(self, node: ast.expr) -> bool:
        if isinstance(node, ast.Name):
            return node.id in self.catalogues
        return (
            isinstance(node, ast.Attribute)
            and node.attr == "AuditAction"
            and ast.unparse(node.value) in self.catalogue_modules
        )

    def is_state_move(self, func: ast.expr) -> bool:
        if isinstance(func, ast.Name):
            return func.id in self.state_moves
        return (
            isinstance(func, ast.Attribute)
            and func.attr == "state_move"
            and ast.unparse(func.value) in self.catalogue_modules
        )


def _actions_of(expr: ast.expr, names: _Names) -> list[object] | None:
    """The actions an ``action=`` argument can be, or None when it is not made from the catalogue."""
    if isinstance(expr, ast.Attribute) and names.is_catalogue(expr.value):
        member = AuditAction.__members__.get(expr.attr)
        return [member] if member is not None else None
    if isinstance(expr, ast.IfExp):
        body, orelse = _actions_of(expr.body, names), _actions_of(expr.orelse, names)
        return None if body is None or orelse is None else body + orelse
    if isinstance(expr, ast.Call) and names.is_state_move(expr.func):
        return [_STATE_MOVES]
    return None


def scan_source(source: str, module: str, scan: Scan) -> None:
    """Add one module's audit appends to ``scan``."""
    tree = ast.parse(source)
    names = _Names(tree)
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        keywords = {k.arg: k.value for k in node.keywords if k.arg}
        where = f"{module}:{node.lineno}"
        if names.is_append(node.func):
            scan.appends += 1
            if "action" not in keywords:
                scan.problems.append(f"{where}: audit.append without action=")
                continue
            actions = _actions_of(keywords["action"], names)
            if actions is None:
                scan.problems.append(
                    f"{where}: action={ast.unparse(keywords['action'])} is not a member of AuditAction "
                    "(ektp_core.lifecycle.actions): add the action to the catalogue and pass the member"
                )
                continue
            for action in actions:
                scan.written[action].add(module)
        elif "action" in keywords and isinstance(node.func, ast.Attribute) and node.func.attr == "append":
            # An append with an action that the scan cannot tie to the audit module (an alias it does not
            # follow): the check would miss it, so it fails instead.
            scan.problems.append(f"{where}: {ast.unparse(node.func)}(action=...) is not recognised as audit.append")


def _module_name(package: str, root: Path, path: Path) -> str:
    parts = [package, *path.relative_to(root).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@pytest.fixture(scope="module")
def scan() -> Scan:
    found = Scan()
    for package, root in SOURCES.items():
        for path in sorted(root.rglob("*.py")):
            scan_source(path.read_text("utf-8"), _module_name(package, root, path), found)
    return found


# --------------------------------------------------------------------------------------------------
# The code writes only catalogue members
# --------------------------------------------------------------------------------------------------


def test_every_audit_append_in_the_code_passes_a_catalogue_member(scan: Scan) -> None:
    assert scan.appends >= 30  # the scan still finds the calls (about 35 today)
    assert not scan.problems, "\n".join(scan.problems)


@pytest.mark.parametrize(
    ("source", "problem"),
    [
        ('from ektp_core.lifecycle import audit\naudit.append(c, action="auth.login")', "is not a member"),
        ('from ektp_core.lifecycle import audit\naudit.append(c, action=f"sync.packet_{s}")', "is not a member"),
        (
            "from ektp_core.lifecycle import audit\nfrom ektp_core.lifecycle.actions import AuditAction\n"
            "audit.append(c, action=AuditAction.NO_SUCH_ACTION)",
            "is not a member",
        ),
        (
            "from ektp_core.lifecycle import audit\nfrom ektp_core.lifecycle.actions import AuditAction\n"
            'audit.append(c, action=AuditAction.AUTH_LOGIN if ok else "auth.other")',
            "is not a member",
        ),
        ('from ektp_core.lifecycle.audit import append as write\nwrite(c, action="x.y")', "is not a member"),
        ('import ektp_core.lifecycle.audit as log\nlog.append(c, action="x.y")', "is not a member"),
        ("from ektp_core.lifecycle import audit\naudit.append(c)", "without action="),
        ('self.audit.append(c, action="x.y")', "not recognised"),
    ],
)
def test_the_scan_finds_an_action_that_is_not_a_member(source: str, problem: str) -> None:
    found = Scan()
    scan_source(source, "example", found)
    assert len(found.problems) == 1 and problem in found.problems[0], found.problems


def test_the_scan_accepts_members_choices_and_state_moves_under_any_alias() -> None:
    found = Scan()
    scan_source(
        "from ektp_core.lifecycle import audit as log\n"
        "from ektp_core.lifecycle import actions\n"
        "from ektp_core.lifecycle.actions import AuditAction as A, state_move\n"
        "log.append(c, action=A.AUTH_LOGIN)\n"
        "log.append(c, action=actions.AuditAction.AUTH_LOGOUT if x else A.AUTH_SESSION_ENDED)\n"
        "log.append(c, action=state_move(kind, new))\n"
        "log.append(c, action=actions.state_move(kind, new))\n",
        "example",
        found,
    )
    assert not found.problems and found.appends == 4
    assert set(found.written) == {
        AuditAction.AUTH_LOGIN,
        AuditAction.AUTH_LOGOUT,
        AuditAction.AUTH_SESSION_ENDED,
        _STATE_MOVES,
    }


# --------------------------------------------------------------------------------------------------
# The catalogue holds only what is written
# --------------------------------------------------------------------------------------------------

#: The state each kind of record is created in (its first entry has no ``from``).
CREATED_IN = {
    "enrolment": EnrolmentState.BIO_CAPTURED,
    "print_job": PrintJobState.QUEUED,
    "blank": BlankState.IN_STOCK,
    "card": CardState.PRINTED,
}
TRANSITIONS = {
    "enrolment": ENROLMENT_TRANSITIONS,
    "print_job": PRINT_JOB_TRANSITIONS,
    "blank": BLANK_TRANSITIONS,
    "card": CARD_TRANSITIONS,
}


def _entered_states() -> dict[AuditAction, str]:
    """The state-move actions a record can be written with: created in a state, or moved to it."""
    entered = {}
    for kind, table in TRANSITIONS.items():
        states = {CREATED_IN[kind], *(target for targets in table.values() for target in targets)}
        entered.update({state_move(kind, state): kind for state in states})
    return entered


def test_every_catalogue_member_is_written_and_by_the_modules_it_names(scan: Scan) -> None:
    assert set(TRANSITIONS) == set(STATE_KINDS)
    state_writers = scan.written.get(_STATE_MOVES, set())
    entered = _entered_states() if state_writers else {}
    problems = []
    for action in AuditAction:
        if action.written_by[0].startswith("older releases"):
            # Kept only because old entries carry it: nothing may write it any more.
            if action in scan.written or action in entered:
                problems.append(f"{action} says it is written only by older releases, but the code writes it")
            continue
        writers = state_writers if action in entered else scan.written.get(action, set())
        if not writers:
            problems.append(f"{action} is in the catalogue but nothing writes it (a dead entry)")
        elif writers != set(action.written_by):
            problems.append(f"{action} says it is written by {sorted(action.written_by)}, but {sorted(writers)} do")
    assert not problems, "\n".join(problems)


def test_every_state_has_its_move_action_as_older_releases_wrote_it() -> None:
    for kind, states in STATE_KINDS.items():
        for state in states:
            # The service wrote f"{kind}.{new.lower()}" before the catalogue existed.
            assert str(state_move(kind, state.value)) == f"{kind}.{state.value.lower()}"
            assert state_move(kind, state.value) in AuditAction


def test_every_member_has_a_meaning_a_writer_and_a_name_from_its_value() -> None:
    for action in AuditAction:
        assert action.name == str(action).upper().replace(".", "_"), action
        assert action.meaning.endswith(".") and "\n" not in action.meaning, action
        for writer in action.written_by:
            if not writer.startswith("older releases"):
                importlib.import_module(writer)


# --------------------------------------------------------------------------------------------------
# The stored strings
# --------------------------------------------------------------------------------------------------

#: Every action string entries hold today. The audit log is append-only and hash-chained: a string
#: here may never change or disappear from the catalogue (new actions may be added beside them).
STORED = [
    "auth.forbidden",
    "auth.locked",
    "auth.login",
    "auth.login_failed",
    "auth.logout",
    "auth.session_ended",
    "auth.unlocked",
    "blank.in_stock",
    "blank.printed",
    "blank.reserved",
    "blank.spoiled",
    "blanks.received",
    "capture.exception",
    "capture.saved",
    "data_key.forgotten",
    "data_key.rotated",
    "data_key.rotation_started",
    "data_key.rotation_stopped",
    "enrolment.adjudicate_record",
    "enrolment.bio_captured",
    "enrolment.card_issued",
    "enrolment.card_printed",
    "enrolment.card_shipped",
    "enrolment.duplicate_record",
    "enrolment.enroll_failure_at_central",
    "enrolment.enroll_failure_at_regional",
    "enrolment.handover_refused",
    "enrolment.print_ready_record",
    "enrolment.received_at_central",
    "enrolment.request_validation",
    "enrolment.search_failure_at_central",
    "enrolment.sent_for_card_printing",
    "enrolment.sent_for_enrollment",
    "operator.created",
    "operator.updated",
    "print_job.cancelled",
    "print_job.printed",
    "print_job.queued",
    "print_job.reserved",
    "print_job.sent",
    "print_job.spoiled",
    "print_job.unknown",
    "profile.changed",
    "site.saved",
    "sync.account_received",
    "sync.enrolment_refused",
    "sync.job_received",
    "sync.join_code",
    "sync.join_refused",
    "sync.joined",
    "sync.key_rotated",
    "sync.node_keys_refused",
    "sync.node_keys_rotated",
    "sync.node_keys_updated",
    "sync.packet_accepted",
    "sync.packet_archived_key",
    "sync.packet_refused",
    "sync.state_mirrored",
]


def test_the_stored_strings_are_still_in_the_catalogue_unchanged() -> None:
    missing = sorted(set(STORED) - {str(a) for a in AuditAction})
    assert not missing, f"stored action strings no longer in the catalogue: {missing}"


def test_append_is_typed_to_take_a_member_so_mypy_refuses_a_plain_string() -> None:
    assert typing.get_type_hints(audit.append)["action"] is AuditAction


def _log(lc: LifecycleService) -> tuple[int, int, str]:
    with lc.store.read() as conn:
        count = conn.execute(sa.select(sa.func.count()).select_from(audit_log)).scalar_one()
        head = conn.execute(sa.select(audit_head.c.seq, audit_head.c.hash)).one()
    return int(count), int(head.seq), str(head.hash)


@pytest.mark.parametrize("action", ["plugin.something", "enrolment.renamed", "AUTH.LOGIN", "", None, 42])
def test_append_refuses_an_action_not_in_the_catalogue_and_writes_nothing(
    ektp_service: LifecycleService, action: object
) -> None:
    lc = ektp_service
    lc.receive_blanks("17.71", ["BLK-1"], actor="spv")  # a log that is not empty
    before = _log(lc)
    with lc.store.write() as conn, pytest.raises(InvalidValue, match="not in the audit catalogue") as refused:
        audit.append(
            conn,
            actor="plugin",
            action=action,  # type: ignore[arg-type]
            subject_kind="plugin",
            subject_id="p",
            at=lc.clock(),
        )
        # The transaction goes on and commits: the refusal itself left nothing behind.
    assert refused.value.field == "audit action" and "docs/plugins.md" in str(refused.value)
    assert _log(lc) == before
    with lc.store.read() as conn:
        assert audit.verify(conn).ok


def test_a_member_and_its_plain_string_store_the_same_bytes_and_hash(ektp_service: LifecycleService) -> None:
    lc = ektp_service
    at = dt.datetime(2026, 3, 2, 8, 0, tzinfo=dt.UTC)
    with lc.store.write() as conn:
        typed = audit.append(
            conn, actor="spv", action=AuditAction.AUTH_UNLOCKED, subject_kind="login", subject_id="op1", at=at
        )
        untyped = audit.append(
            conn,
            actor="spv",
            action="auth.unlocked",  # type: ignore[arg-type]  # an untyped caller, as older code wrote it
            subject_kind="login",
            subject_id="op1",
            at=at,
        )
        stored = conn.execute(sa.select(audit_log.c.action).where(audit_log.c.seq == typed.seq)).scalar_one()
    assert stored == "auth.unlocked" and type(typed.action) is str and typed.action == untyped.action
    # The hash an older release computed over the plain string: old and new entries verify alike.
    assert typed.hash == audit.entry_hash(
        seq=typed.seq,
        at=typed.at,
        actor="spv",
        action="auth.unlocked",
        subject_kind="login",
        subject_id="op1",
        detail_json="{}",
        prev_hash=typed.prev_hash,
    )
    with lc.store.read() as conn:
        assert audit.verify(conn).ok


def test_a_state_move_is_stored_as_kind_dot_state(ektp_service: LifecycleService) -> None:
    lc = ektp_service
    lc.receive_blanks("17.71", ["BLK-7"], actor="spv")
    lc.spoil_blank("BLK-7", actor="spv", reason="tergores")
    assert [e.action for e in lc.history("BLK-7")] == ["blank.spoiled"]


@pytest.mark.parametrize(("kind", "state"), [("enrolment", "LOST"), ("parcel", "PRINTED"), ("blank", "printed")])
def test_state_move_refuses_an_unknown_kind_or_state(kind: str, state: str) -> None:
    with pytest.raises(InvalidValue, match="state move"):
        state_move(kind, state)


def test_the_catalogue_table_has_one_row_per_action() -> None:
    rows = catalogue_markdown().splitlines()[2:]
    assert [row.split("`")[1] for row in rows] == sorted(str(a) for a in AuditAction)
