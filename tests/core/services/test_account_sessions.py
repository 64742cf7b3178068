"""A browser's session read back (every page of the web UI does it first): the session and its account
come from one statement, and every way a session can be dead is still told apart."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from ektp_core.domain.model import Operator, Role
from ektp_core.keys import crypto
from ektp_core.lifecycle.service import LifecycleService
from ektp_core.services.accounts import AccountService, SessionEnded
from ektp_core.store.tables import operators, web_sessions

PASSWORD = "kata-sandi-uji-123"
CREATED = dt.datetime(2026, 11, 2, 1, 0, tzinfo=dt.UTC)
LOGIN = dt.datetime(2026, 12, 7, 2, 30, tzinfo=dt.UTC)


class Clock:
    def __init__(self, now: dt.datetime) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now


@pytest.fixture
def logged_in(ektp_service: LifecycleService) -> tuple[AccountService, Clock, str]:
    clock = Clock(CREATED)
    ektp_service.clock = clock  # type: ignore[method-assign]
    ektp_service.add_operator(
        Operator(
            username="op.sesi",
            full_name="OPERATOR SESI",
            role=Role.SUPERVISOR,
            site_code=ektp_service.deployment.site.code,
            password_hash=crypto.hash_password(PASSWORD, n=2**4),
        ),
        actor="adm",
    )
    accounts = AccountService(ektp_service)
    accounts.clock = clock  # type: ignore[method-assign]
    clock.now = LOGIN
    _session, token = accounts.login("op.sesi", PASSWORD, source="127.0.0.1")
    return accounts, clock, token


def test_a_live_session_brings_its_account(logged_in: tuple[AccountService, Clock, str]) -> None:
    accounts, clock, token = logged_in
    clock.now = LOGIN + dt.timedelta(seconds=10)
    found = accounts.session(token)
    assert (found.operator.username, found.operator.full_name, found.operator.role) == (
        "op.sesi",
        "OPERATOR SESI",
        Role.SUPERVISOR,
    )
    assert found.operator.active and found.operator.site_code == accounts.lifecycle.deployment.site.code
    # The session's own times, not the account's (both tables have a created_at).
    assert found.created_at == LOGIN and found.last_seen_at == LOGIN
    clock.now = LOGIN + dt.timedelta(minutes=5)  # seen again after a while: the session is touched
    assert accounts.session(token).last_seen_at == clock.now
    assert accounts.session(token).created_at == LOGIN


def test_an_unknown_token_and_a_removed_account_are_unknown(logged_in: tuple[AccountService, Clock, str]) -> None:
    accounts, _clock, token = logged_in
    with pytest.raises(SessionEnded) as unknown:
        accounts.session("not-a-token")
    assert unknown.value.code == "unknown"
    with accounts.store.write() as conn:
        conn.execute(sa.delete(operators).where(operators.c.username == "op.sesi"))
    with pytest.raises(SessionEnded) as gone:
        accounts.session(token)
    assert gone.value.code == "unknown"


def test_an_account_made_inactive_ends_its_session_on_the_next_page(
    logged_in: tuple[AccountService, Clock, str],
) -> None:
    accounts, _clock, token = logged_in
    # As the feed would: the account row changes, its sessions are not touched.
    with accounts.store.write() as conn:
        conn.execute(sa.update(operators).where(operators.c.username == "op.sesi").values(active=False))
    with pytest.raises(SessionEnded) as ended:
        accounts.session(token)
    assert ended.value.code == "inactive"
    with accounts.store.read() as conn:
        reason = conn.execute(sa.select(web_sessions.c.end_reason)).scalar_one()
    assert reason == "inactive"
    with pytest.raises(SessionEnded) as again:
        accounts.session(token)
    assert again.value.code == "inactive"
