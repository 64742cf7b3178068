"""``ektp account``: the first administrator, and getting back in when nobody can log in."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from ektp_core.cli import cli
from ektp_core.keys import crypto
from ektp_core.services.accounts import AccountService, LoginRefused


def run(deployment, *args: str, password: str | None = None):  # type: ignore[no-untyped-def]
    env = {"NEW_PW": password} if password is not None else {}
    return CliRunner().invoke(cli, [*args, "-d", str(deployment.root)], env=env, catch_exceptions=False)


def test_add_list_disable_enable_and_set_password(ektp_deployment, ektp_service) -> None:  # type: ignore[no-untyped-def]
    made = run(
        ektp_deployment,
        "account",
        "add",
        "admin.dukcapil",
        "--role",
        "admin",
        "--password-env",
        "NEW_PW",
        "--as",
        "installer",
        password="rahasia-awal-1",
    )
    assert made.exit_code == 0, made.output
    listed = json.loads(run(ektp_deployment, "account", "list", "--json").output)
    assert listed == [
        {
            "username": "admin.dukcapil",
            "full_name": "Admin Dukcapil",
            "role": "admin",
            "site": "17.71",
            "active": True,
            "locked_until": None,
        }
    ]
    accounts = AccountService(ektp_service)
    accounts.login("admin.dukcapil", "rahasia-awal-1")

    assert run(ektp_deployment, "account", "disable", "admin.dukcapil").exit_code == 0
    try:
        accounts.login("admin.dukcapil", "rahasia-awal-1")
        raise AssertionError("a disabled account logged in")
    except LoginRefused as exc:
        assert exc.code == "inactive"
    assert run(ektp_deployment, "account", "enable", "admin.dukcapil").exit_code == 0
    changed = run(
        ektp_deployment,
        "account",
        "set-password",
        "admin.dukcapil",
        "--password-env",
        "NEW_PW",
        password="rahasia-baru-2",
    )
    assert changed.exit_code == 0
    accounts.login("admin.dukcapil", "rahasia-baru-2")
    assert "rahasia" not in made.output + changed.output


def test_bad_input_changes_nothing(ektp_deployment, ektp_service) -> None:  # type: ignore[no-untyped-def]
    assert (
        run(
            ektp_deployment,
            "account",
            "add",
            "op1",
            "--role",
            "operator",
            "--password-env",
            "NEW_PW",
            password="cukup-panjang",
        ).exit_code
        == 0
    )
    before = run(ektp_deployment, "account", "list", "--json").output
    taken = run(
        ektp_deployment,
        "account",
        "add",
        "op1",
        "--role",
        "admin",
        "--password-env",
        "NEW_PW",
        password="cukup-panjang",
    )
    assert taken.exit_code == 1 and "already taken" in taken.output
    short = run(
        ektp_deployment, "account", "add", "op2", "--role", "operator", "--password-env", "NEW_PW", password="pendek"
    )
    assert short.exit_code == 1 and "8 characters" in short.output
    elsewhere = run(
        ektp_deployment,
        "account",
        "add",
        "op3",
        "--role",
        "operator",
        "--site",
        "99.99",
        "--password-env",
        "NEW_PW",
        password="cukup-panjang",
    )
    assert elsewhere.exit_code == 1 and "99.99" in elsewhere.output
    bad_name = run(
        ektp_deployment,
        "account",
        "add",
        "Bad Name",
        "--role",
        "operator",
        "--password-env",
        "NEW_PW",
        password="cukup-panjang",
    )
    assert bad_name.exit_code == 1
    assert run(ektp_deployment, "account", "list", "--json").output == before
    unknown = run(ektp_deployment, "account", "disable", "nobody")
    assert unknown.exit_code == 1


def test_unlock(ektp_deployment, ektp_service) -> None:  # type: ignore[no-untyped-def]
    from ektp_core.domain.model import Operator

    ektp_service.add_operator(
        Operator(
            username="spv1",
            full_name="Spv",
            role="supervisor",
            site_code="17.71",
            password_hash=crypto.hash_password("benar-sekali", n=2**10),
        ),
        actor="t",
    )
    accounts = AccountService(ektp_service)
    for _ in range(5):
        with pytest.raises(LoginRefused):
            accounts.login("spv1", "salah")
    assert json.loads(run(ektp_deployment, "account", "list", "--json").output)[0]["locked_until"]
    assert "unlocked" in run(ektp_deployment, "account", "unlock", "spv1").output
    accounts.login("spv1", "benar-sekali")
    assert "was not locked" in run(ektp_deployment, "account", "unlock", "spv1").output
