"""Accounts at a node: logging in (with lockout), server-side sessions, and changing accounts.

Accounts are made at the Dukcapil node and bound to one site; a site node receives its own
accounts through the feed (the scrypt verifier, never the password), so its operators log in there
with the same credentials, offline too. This module is what the web UI (and any other front end)
calls; it audits every login, every refusal and every change.

Limits come from the profile's ``[web]`` table (see docs/profiles.md): ``lockout_failures`` (5),
``lockout_minutes`` (15), ``session_idle_minutes`` (30) and ``session_max_hours`` (10).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from collections.abc import Sequence
from typing import Any

import attrs
import sqlalchemy as sa

from ektp_core.config.core_tables import WEB_ACCOUNTS
from ektp_core.domain.model import Operator, Role
from ektp_core.errors import EktpError, NotFound
from ektp_core.keys import crypto
from ektp_core.lifecycle import audit
from ektp_core.lifecycle.actions import AuditAction
from ektp_core.messages import Message
from ektp_core.store import repository as repo
from ektp_core.store.tables import login_failures, operators, web_sessions

#: Compared against when the username is unknown, so a wrong username costs as long as a wrong password
#: (an attacker cannot list accounts by timing).
_DUMMY_VERIFIER = crypto.hash_password("not-an-account")
#: A session's last-seen time is written at most this often (a page load is not a database write).
_TOUCH_EVERY = dt.timedelta(seconds=30)
#: A session and its account in one statement, built once: every page of the web UI runs it first.
_SESSION = (
    sa.select(
        web_sessions.c.username,
        web_sessions.c.created_at.label("session_created_at"),
        web_sessions.c.last_seen_at,
        web_sessions.c.ended_at,
        web_sessions.c.end_reason,
        operators.c.full_name,
        operators.c.role,
        operators.c.site_code,
        operators.c.password_hash,
        operators.c.active,
    )
    .select_from(web_sessions.outerjoin(operators, operators.c.username == web_sessions.c.username))
    .where(web_sessions.c.id == sa.bindparam("sid"))
)


@attrs.frozen(kw_only=True)
class LoginPolicy:
    """How many failures lock an account and for how long; how long a session lives."""

    max_failures: int = 5
    lockout: dt.timedelta = dt.timedelta(minutes=15)
    #: A session unused this long has ended (the operator left the desk).
    idle: dt.timedelta = dt.timedelta(minutes=30)
    #: A session ends this long after login whatever happens (one working day).
    absolute: dt.timedelta = dt.timedelta(hours=10)

    @classmethod
    def from_profile(cls, profile: Any) -> LoginPolicy:
        """The policy in the profile's ``[web]`` table (the core's part of it,
        :data:`ektp_core.config.core_tables.WEB_ACCOUNTS`); missing keys keep the defaults."""
        web = WEB_ACCOUNTS.read(profile)
        return cls(
            max_failures=int(web["lockout_failures"]),
            lockout=dt.timedelta(minutes=web["lockout_minutes"]),
            idle=dt.timedelta(minutes=web["session_idle_minutes"]),
            absolute=dt.timedelta(hours=web["session_max_hours"]),
        )


class LoginRefused(EktpError):
    """A login that did not succeed. ``code``: ``bad_credentials``, ``locked``, ``inactive`` or
    ``wrong_site``. The message never says whether the username exists."""

    message_code = "error.login_refused"

    def __init__(self, code: str, message: str, *, locked_until: dt.datetime | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.locked_until = locked_until


class SessionEnded(EktpError):
    """The session token is unknown, logged out, idle too long or past its absolute limit (``code``)."""

    message_code = "error.session_ended"

    def __init__(self, code: str) -> None:
        super().__init__(f"the session has ended ({code}); please log in again")
        self.code = code


@attrs.frozen(kw_only=True)
class Session:
    """A live session: who is logged in, since when."""

    id: str
    operator: Operator
    created_at: dt.datetime
    last_seen_at: dt.datetime

    @property
    def username(self) -> str:
        """The account's username."""
        return self.operator.username

    @property
    def role(self) -> Role:
        """The account's role."""
        return self.operator.role


def _session_id(token: str) -> str:
    return hashlib.sha256(token.encode("ascii", "replace")).hexdigest()


class AccountService:
    """Login, sessions and account changes at one node, over the lifecycle's store and clock."""

    def __init__(self, lifecycle: Any, policy: LoginPolicy | None = None) -> None:
        self.lifecycle = lifecycle
        self.store = lifecycle.store
        self.clock = lifecycle.clock
        deployment = lifecycle.deployment
        self.site_code: str | None = deployment.site_code if deployment is not None else None
        self.policy = policy or (
            LoginPolicy.from_profile(deployment.profile) if deployment is not None else LoginPolicy()
        )

    # ---------------------------------------------------------------------------------------------
    # Logging in and out
    # ---------------------------------------------------------------------------------------------

    def login(self, username: str, password: str, *, source: str = "") -> tuple[Session, str]:
        """Check the credentials and open a session; returns it and the token for the browser.

        Every failure is audited (``auth.login_failed``; ``auth.locked`` when it locks the account).
        A locked account is refused even with the right password until the lock runs out.
        """
        username = username.strip().lower()
        at = self.clock()
        with self.store.read() as conn:
            row = conn.execute(sa.select(operators).where(operators.c.username == username)).first()
            failure = conn.execute(sa.select(login_failures).where(login_failures.c.username == username)).first()
        verifier = row.password_hash if row is not None else _DUMMY_VERIFIER
        # The password is checked even for a locked account, so timing says nothing about the lock.
        matches = crypto.verify_password(password, verifier) and row is not None
        locked_until = repo.utc(failure.locked_until) if failure is not None and failure.locked_until else None
        if locked_until is not None and locked_until > at:
            self._audit_failure(username, "locked", source, at)
            raise LoginRefused(
                "locked",
                "this account is locked after too many failed logins; try again later or ask a supervisor",
                locked_until=locked_until,
            )
        if not matches:
            self._failed(username, known=row is not None, source=source, at=at)
        operator = repo.operator_from_row(row)
        if not operator.active:
            self._audit_failure(username, "inactive", source, at)
            raise LoginRefused("inactive", "this account is disabled; ask an administrator")
        if self.site_code is not None and operator.site_code != self.site_code:
            self._audit_failure(username, "wrong_site", source, at)
            raise LoginRefused(
                "wrong_site",
                f"this account belongs to site {operator.site_code}, not to this office ({self.site_code})",
            )
        token = secrets.token_urlsafe(32)
        sid = _session_id(token)
        with self.store.write() as conn:
            conn.execute(login_failures.delete().where(login_failures.c.username == username))
            conn.execute(
                web_sessions.insert().values(
                    id=sid, username=username, created_at=at, last_seen_at=at, source=source[:64] or None
                )
            )
            audit.append(
                conn,
                actor=username,
                action=AuditAction.AUTH_LOGIN,
                subject_kind="login",
                subject_id=username,
                detail={"source": source},
                at=at,
            )
        return Session(id=sid, operator=operator, created_at=at, last_seen_at=at), token

    def _failed(self, username: str, *, known: bool, source: str, at: dt.datetime) -> None:
        locked_until = None
        with self.store.write() as conn:
            if known:
                row = conn.execute(sa.select(login_failures).where(login_failures.c.username == username)).first()
                failures = (row.failures if row is not None else 0) + 1
                if failures >= self.policy.max_failures:
                    locked_until = at + self.policy.lockout
                values = {"failures": failures, "last_failure_at": at, "locked_until": locked_until}
                if row is None:
                    conn.execute(login_failures.insert().values(username=username, **values))
                else:
                    conn.execute(login_failures.update().where(login_failures.c.username == username).values(**values))
            audit.append(
                conn,
                actor=username or "-",
                action=AuditAction.AUTH_LOGIN_FAILED,
                subject_kind="login",
                subject_id=username or "-",
                detail={"reason": "bad_credentials", "source": source},
                at=at,
            )
            if locked_until is not None:
                audit.append(
                    conn,
                    actor="system",
                    action=AuditAction.AUTH_LOCKED,
                    subject_kind="login",
                    subject_id=username,
                    detail={"until": locked_until.isoformat(), "failures": self.policy.max_failures},
                    at=at,
                )
        raise LoginRefused("bad_credentials", "wrong username or password", locked_until=locked_until)

    def _audit_failure(self, username: str, reason: str, source: str, at: dt.datetime) -> None:
        with self.store.write() as conn:
            audit.append(
                conn,
                actor=username,
                action=AuditAction.AUTH_LOGIN_FAILED,
                subject_kind="login",
                subject_id=username,
                detail={"reason": reason, "source": source},
                at=at,
            )

    def session(self, token: str) -> Session:
        """The live session for a browser's token; raises :class:`SessionEnded` (and ends it on the
        server when a limit ran out)."""
        sid = _session_id(token)
        at = self.clock()
        with self.store.read() as conn:
            row = conn.execute(_SESSION, {"sid": sid}).first()
        if row is None or row.full_name is None:  # no such session, or its account is gone
            raise SessionEnded("unknown")
        if row.ended_at is not None:
            raise SessionEnded(row.end_reason or "ended")
        created, seen = repo.utc(row.session_created_at), repo.utc(row.last_seen_at)
        operator = repo.operator_from_row(row)
        for reason, over in (
            ("expired", at - created > self.policy.absolute),
            ("idle", at - seen > self.policy.idle),
            ("inactive", not operator.active),
        ):
            if over:
                self._end(sid, row.username, reason, at)
                raise SessionEnded(reason)
        if at - seen > _TOUCH_EVERY:
            with self.store.write() as conn:
                conn.execute(web_sessions.update().where(web_sessions.c.id == sid).values(last_seen_at=at))
            seen = at
        return Session(id=sid, operator=operator, created_at=created, last_seen_at=seen)

    def logout(self, token: str) -> None:
        """End the session on the server: its cookie is worthless from now on."""
        sid = _session_id(token)
        with self.store.read() as conn:
            username = conn.execute(
                sa.select(web_sessions.c.username)
                .where(web_sessions.c.id == sid)
                .where(web_sessions.c.ended_at.is_(None))
            ).scalar()
        if username is not None:
            self._end(sid, username, "logout", self.clock())

    def _end(self, sid: str, username: str, reason: str, at: dt.datetime) -> None:
        with self.store.write() as conn:
            done = conn.execute(
                web_sessions.update()
                .where(web_sessions.c.id == sid)
                .where(web_sessions.c.ended_at.is_(None))
                .values(ended_at=at, end_reason=reason)
            )
            if done.rowcount:
                audit.append(
                    conn,
                    actor=username,
                    action=AuditAction.AUTH_LOGOUT if reason == "logout" else AuditAction.AUTH_SESSION_ENDED,
                    subject_kind="login",
                    subject_id=username,
                    detail={"reason": reason},
                    at=at,
                )

    def _end_all(self, conn: Any, username: str, reason: str, at: dt.datetime) -> int:
        done = conn.execute(
            web_sessions.update()
            .where(web_sessions.c.username == username)
            .where(web_sessions.c.ended_at.is_(None))
            .values(ended_at=at, end_reason=reason)
        )
        return int(done.rowcount or 0)

    def forbidden(self, username: str, what: str, *, source: str = "", reason: str = "role") -> None:
        """Audit an authorisation failure (``auth.forbidden``): a page or action the account may not use."""
        with self.store.write() as conn:
            audit.append(
                conn,
                actor=username or "-",
                action=AuditAction.AUTH_FORBIDDEN,
                subject_kind="login",
                subject_id=username or "-",
                detail={"what": what, "reason": reason, "source": source},
                at=self.clock(),
            )

    # ---------------------------------------------------------------------------------------------
    # Accounts
    # ---------------------------------------------------------------------------------------------

    def accounts(self, site_code: str | None = None) -> list[tuple[Operator, dt.datetime | None]]:
        """Accounts (of one site, or all) with the time each is locked until (None: not locked)."""
        with self.store.read() as conn:
            query = sa.select(operators).order_by(operators.c.site_code, operators.c.username)
            if site_code is not None:
                query = query.where(operators.c.site_code == site_code)
            rows = conn.execute(query).all()
            locks = {
                r.username: repo.utc(r.locked_until)
                for r in conn.execute(sa.select(login_failures))
                if r.locked_until is not None
            }
        now = self.clock()
        return [
            (repo.operator_from_row(r), locks[r.username] if locks.get(r.username, now) > now else None) for r in rows
        ]

    def change(
        self,
        username: str,
        *,
        actor: str,
        password: str | None = None,
        role: Role | str | None = None,
        active: bool | None = None,
        full_name: str | None = None,
    ) -> Operator:
        """Change an account (``operator.updated``, sent to its site by the feed). A new password, a
        new role or disabling ends the account's open sessions."""
        at = self.clock()
        values: dict[str, Any] = {}
        changed: list[str] = []
        if password is not None:
            if len(password) < 8:
                raise EktpError(Message("account.password_short"))
            values["password_hash"] = crypto.hash_password(password)
            changed.append("password")
        if role is not None:
            values["role"] = Role(role).value
            changed.append("role")
        if active is not None:
            values["active"] = bool(active)
            changed.append("active")
        if full_name is not None:
            if not full_name.strip():
                raise EktpError(Message("account.name_empty"))
            values["full_name"] = full_name.strip()
            changed.append("full_name")
        with self.store.write() as conn:
            row = conn.execute(sa.select(operators).where(operators.c.username == username)).first()
            if row is None:
                raise NotFound("operator", username)
            if not values:
                return repo.operator_from_row(row)
            conn.execute(operators.update().where(operators.c.username == username).values(**values))
            detail: dict[str, Any] = {"changed": changed}
            detail.update({k: values[k] for k in ("role", "active", "full_name") if k in values})
            audit.append(
                conn,
                actor=actor,
                action=AuditAction.OPERATOR_UPDATED,
                subject_kind="operator",
                subject_id=username,
                detail=detail,
                at=at,
            )
            if {"password", "role"} & set(changed) or values.get("active") is False:
                self._end_all(conn, username, "changed", at)
            row = conn.execute(sa.select(operators).where(operators.c.username == username)).one()
        return repo.operator_from_row(row)

    def unlock(self, username: str, *, actor: str) -> bool:
        """Lift a lockout before it runs out (a supervisor who has checked who is at the desk)."""
        with self.store.write() as conn:
            done = conn.execute(login_failures.delete().where(login_failures.c.username == username))
            if not done.rowcount:
                return False
            audit.append(
                conn,
                actor=actor,
                action=AuditAction.AUTH_UNLOCKED,
                subject_kind="login",
                subject_id=username,
                at=self.clock(),
            )
        return True

    def open_sessions(self, usernames: Sequence[str] | None = None) -> int:
        """How many sessions are open (not ended; limits are checked when one is used)."""
        with self.store.read() as conn:
            query = sa.select(sa.func.count()).select_from(web_sessions).where(web_sessions.c.ended_at.is_(None))
            if usernames is not None:
                query = query.where(web_sessions.c.username.in_(list(usernames)))
            return int(conn.execute(query).scalar_one())
