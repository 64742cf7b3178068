"""The test-only switch ``--ektp-sqlite-synchronous``: SQLite connections run with the level a test run
chose, tests marked ``ektp_durable`` keep ektp's FULL, and nothing changes without the option."""

from __future__ import annotations

from pathlib import Path

import pytest

from ektp_core.store import Store
from ektp_core.testing.sqlite_sync import sqlite_synchronous

FULL, NORMAL = 2, 1  # what PRAGMA synchronous reports


def _synchronous(store: Store) -> int:
    with store.read() as conn:
        return int(conn.exec_driver_sql("PRAGMA synchronous").scalar_one())


@pytest.mark.ektp_durable  # this test sets the level itself
def test_normal_only_inside_and_only_for_sqlite_connections(tmp_path: Path) -> None:
    before = Store(f"sqlite:///{tmp_path / 'before.sqlite3'}")
    assert _synchronous(before) == FULL
    with sqlite_synchronous("NORMAL"):
        inside = Store(f"sqlite:///{tmp_path / 'inside.sqlite3'}")
        assert _synchronous(inside) == NORMAL
        assert _synchronous(inside) == NORMAL  # a connection checked out again
        assert _synchronous(before) == NORMAL  # an existing store's next connection too
    after = Store(f"sqlite:///{tmp_path / 'after.sqlite3'}")
    assert _synchronous(after) == FULL
    with sqlite_synchronous("FULL"):
        assert _synchronous(Store(f"sqlite:///{tmp_path / 'full.sqlite3'}")) == FULL
    for store in (before, inside, after):
        store.dispose()


def test_an_unknown_level_is_refused() -> None:
    with pytest.raises(ValueError, match="FULL, NORMAL, not 'OFF'"), sqlite_synchronous("OFF"):  # type: ignore[arg-type]
        pass


PROBE = """
import pytest
from ektp_core.store import Store

def level(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'x.sqlite3'}")
    with store.read() as conn:
        value = conn.exec_driver_sql("PRAGMA synchronous").scalar_one()
    store.dispose()
    return value

def test_plain(tmp_path):
    print("plain", level(tmp_path))

@pytest.mark.ektp_durable
def test_durable(tmp_path):
    print("durable", level(tmp_path))
"""


@pytest.mark.ektp_durable  # the inner run's connections must not see this run's level
@pytest.mark.parametrize(
    ("args", "plain", "header"),
    [
        ([], FULL, False),
        (["--ektp-sqlite-synchronous=NORMAL"], NORMAL, True),
        (["--ektp-sqlite-synchronous=FULL"], FULL, False),
    ],
)
def test_the_option_and_the_marker(pytester: pytest.Pytester, args: list[str], plain: int, header: bool) -> None:
    pytester.makepyfile(test_probe=PROBE)
    result = pytester.runpytest_inprocess("-s", "-p", "no:cacheprovider", *args)
    result.assert_outcomes(passed=2)
    assert f"plain {plain}" in result.stdout.str() and f"durable {FULL}" in result.stdout.str()
    said = "ektp: SQLite synchronous=NORMAL for tests not marked ektp_durable" in result.stdout.str()
    assert said is header  # never silently on


def test_an_unknown_level_on_the_command_line_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_probe=PROBE)
    result = pytester.runpytest_inprocess("--ektp-sqlite-synchronous=OFF")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
