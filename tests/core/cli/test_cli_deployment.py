"""`ektp init`, `ektp db upgrade` and `ektp audit verify` on real deployments (`ektp walk` as a real
process: tests/integration/demo/test_walk.py)."""

from __future__ import annotations

import json
import re
import stat
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from ektp_core.cli import cli
from ektp_core.store.tables import audit_log


@pytest.fixture
def runner(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> CliRunner:
    monkeypatch.delenv("EKTP_DEPLOYMENT", raising=False)
    monkeypatch.chdir(tmp_path)
    return CliRunner()


def test_init_creates_a_working_deployment(runner: CliRunner, tmp_path: Path, ektp_database_url: str) -> None:
    result = runner.invoke(cli, ["init", "site1", "--profile", "minimal", "--database-url", ektp_database_url])
    assert result.exit_code == 0, result.output
    root = tmp_path / "site1"
    for name in ("ektp.toml", "profile.toml", "keys/node.ed25519", "keys/data.key"):
        assert (root / name).is_file(), name
    assert stat.S_IMODE((root / "keys" / "data.key").stat().st_mode) == 0o600
    assert stat.S_IMODE((root / "keys").stat().st_mode) == 0o700
    again = runner.invoke(cli, ["init", "site1", "--database-url", ektp_database_url])
    assert again.exit_code == 1 and "already holds a deployment" in again.output
    current = runner.invoke(cli, ["db", "current", "-d", "site1"])
    head = re.search(r"current (\d{4}\w*)  head (\d{4}\w*)", current.output)
    assert head is not None and head[1] == head[2], current.output  # a new deployment is at the newest schema
    up = runner.invoke(cli, ["db", "upgrade", "-d", "site1"])
    assert up.exit_code == 0 and f"already at {head[1]}" in up.output


def test_init_refuses_unknown_profile_and_site(runner: CliRunner, tmp_path: Path) -> None:
    bad = runner.invoke(cli, ["init", "x", "--profile", "atlantis"])
    assert bad.exit_code == 1 and "no profile named 'atlantis'" in bad.output
    bad_site = runner.invoke(cli, ["init", "y", "--site", "99.99"])
    assert bad_site.exit_code == 1 and "99.99" in bad_site.output
    assert not (tmp_path / "y").exists()  # nothing left behind


def test_commands_without_a_deployment_say_so(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["audit", "verify"])
    assert result.exit_code == 1
    assert "no ektp deployment found" in result.output


def test_password_never_shown(runner: CliRunner, tmp_path: Path) -> None:
    from ektp_core.cli.node import _safe_url

    assert "s3cret" not in _safe_url("postgresql+psycopg://ektp:s3cret@db/ektp")


def test_audit_verify_finds_the_first_altered_entry(runner: CliRunner, ektp_deployment, ektp_service) -> None:
    from ektp_core.testing import make_enrolment

    for _ in range(3):
        ektp_service.record(make_enrolment())
    root = str(ektp_deployment.root)
    ok = runner.invoke(cli, ["audit", "verify", "-d", root, "--json"])
    assert ok.exit_code == 0 and json.loads(ok.stdout)["ok"]
    store = ektp_service.store
    # The database refuses to rewrite history...
    with pytest.raises(sa.exc.DBAPIError, match="append-only"), store.write() as conn:
        conn.execute(audit_log.update().where(audit_log.c.seq == 2).values(actor="mallory"))
    # ...so an attacker with raw access drops the guard first; verify still catches it.
    with store.write() as conn:
        if store.dialect == "sqlite":
            conn.exec_driver_sql("DROP TRIGGER audit_log_no_update")
        else:
            conn.exec_driver_sql("DROP TRIGGER audit_log_append_only ON audit_log")
        conn.execute(audit_log.update().where(audit_log.c.seq == 2).values(actor="mallory"))
    bad = runner.invoke(cli, ["audit", "verify", "-d", root])
    assert bad.exit_code == 1 and "BROKEN at entry 2" in bad.output
    data = json.loads(runner.invoke(cli, ["audit", "verify", "-d", root, "--json"]).stdout)
    assert data["first_bad_seq"] == 2 and data["checked"] == 1


def test_audit_verify_notices_removed_tail(runner: CliRunner, ektp_deployment, ektp_service) -> None:
    from ektp_core.testing import make_enrolment

    ektp_service.record(make_enrolment())
    store = ektp_service.store
    with store.write() as conn:
        if store.dialect == "sqlite":
            conn.exec_driver_sql("DROP TRIGGER audit_log_no_delete")
        else:
            conn.exec_driver_sql("DROP TRIGGER audit_log_append_only ON audit_log")
        last = conn.execute(sa.select(sa.func.max(audit_log.c.seq))).scalar_one()
        conn.execute(audit_log.delete().where(audit_log.c.seq == last))
    bad = runner.invoke(cli, ["audit", "verify", "-d", str(ektp_deployment.root)])
    assert bad.exit_code == 1 and "removed" in bad.output
