"""Every command the docs show is run here, page by page in the page's order, or excused with a reason.

``docs_run/extract.py`` finds the commands (fenced sh/console blocks and systemd units' ExecStart of
docs/*.md, docs/tutorials/*.md and README.md), ``docs_run/plans.py`` says how each page runs (the
state it assumes, what is substituted: server paths, PostgreSQL URLs, host names, fixed ports),
``docs_run/excuses.py`` lists what is not run and why, and ``docs_run/runner.py`` runs them. A new
command on a page with a plan runs at once; a command on a page without one, or an excuse or plan
entry naming a command no longer shown, fails here.

The pages run at the same time (a few threads, each running its commands as child processes), so
the whole set takes about as long as its slowest pages.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pytest
from docs_run.excuses import EXCUSES, RunOn
from docs_run.extract import Shown, all_shown, fenced_blocks, shown_commands, split_chain, strip_comment
from docs_run.plans import PLANS
from docs_run.runner import Record, missing_output, run_page

COMMANDS = all_shown()
SHOWN_KEYS = {shown.key for shown in COMMANDS}
#: Pages run at the same time; most of a page's time is spent waiting for child processes, and the
#: walk pages wait for each other (their walks share the port 4800).
WORKERS = 5
#: The slowest pages first, so they do not start last; the walks first of all, since they run one by one.
SLOW_FIRST = [
    "docs/plugins.md",
    "README.md",
    "docs/quickstart.md",
    "docs/demo.md",
    "docs/deployment.md",
    "docs/tutorials/verifier.md",
    "docs/tutorials/printer-driver.md",
    "docs/tutorials/region-rules.md",
]


def _commands_of(page: str) -> list[Shown]:
    return [shown for shown in COMMANDS if shown.page == page]


# -- the lists are complete and current -------------------------------------------------------------


def test_the_docs_show_commands() -> None:
    assert len(COMMANDS) > 100
    assert {shown.page for shown in COMMANDS} >= {"README.md", "docs/deployment.md", "docs/sync.md", "docs/cli.md"}


def test_every_shown_command_is_run_or_excused() -> None:
    """A command on a page without a plan, and not excused, is neither run nor excused."""
    loose = [f"{s.page}:{s.line}: `{s.text}`" for s in COMMANDS if s.key not in EXCUSES and s.page not in PLANS]
    assert not loose, (
        "commands the docs show that no test runs: add the page to tests/docs/docs_run/plans.py, or an "
        "excuse with its reason to tests/docs/docs_run/excuses.py:\n" + "\n".join(loose)
    )


def test_every_excuse_names_a_shown_command() -> None:
    stale = [f"{page}: `{text}`" for page, text in EXCUSES if (page, text) not in SHOWN_KEYS]
    assert not stale, "excuses for commands the docs no longer show (remove them):\n" + "\n".join(stale)


def test_every_plan_entry_names_a_shown_command() -> None:
    stale = [
        f"{page}: `{text}`"
        for page, plan in PLANS.items()
        for text in [*plan.steps, *plan.mirror]
        if (page, text) not in SHOWN_KEYS
    ]
    assert not stale, "plan entries for commands the docs no longer show (remove them):\n" + "\n".join(stale)
    unexcused_mirrors = [
        f"{page}: `{text}`" for page, plan in PLANS.items() for text in plan.mirror if (page, text) not in EXCUSES
    ]
    assert not unexcused_mirrors, "a mirror stands in for an excused command only:\n" + "\n".join(unexcused_mirrors)
    both = [f"{page}: `{text}`" for page, plan in PLANS.items() for text in plan.steps if (page, text) in EXCUSES]
    assert not both, "commands both excused and given a step (which is it?):\n" + "\n".join(both)
    idle = [page for page in PLANS if all(shown.key in EXCUSES for shown in _commands_of(page))]
    assert not idle, f"plans for pages with nothing left to run: {idle}"


def test_a_command_run_elsewhere_is_run_there_verbatim() -> None:
    for (page, text), why in EXCUSES.items():
        if isinstance(why, RunOn):
            assert (why.page, text) in SHOWN_KEYS, f"{page}: `{text}`: {why.page} does not show it"
            runs_it = (why.page, text) not in EXCUSES and why.page in PLANS
            assert runs_it, f"{page}: `{text}`: {why.page} does not run it"
            here = [s for s in COMMANDS if s.key == (page, text)]
            there = [s for s in COMMANDS if s.key == (why.page, text)]
            assert {s.prompt for s in here} == {s.prompt for s in there}, f"{page}: `{text}` runs elsewhere there"


def test_every_excuse_gives_a_reason() -> None:
    for key, why in EXCUSES.items():
        assert len(str(why)) > 20, key


# -- the pieces ----------------------------------------------------------------------------------------


def test_a_chain_is_split_outside_quotes_only() -> None:
    assert split_chain("a && cd b") == [("a", False), ("cd b", False)]
    assert split_chain("x -d '{\"a\": 1}; b' ; c || d") == [("x -d '{\"a\": 1}; b'", False), ("c", False), ("d", False)]
    assert split_chain("server --port 1 &") == [("server --port 1", True)]
    assert split_chain('echo "a && b"') == [('echo "a && b"', False)]
    assert strip_comment("ektp sync send   # oldest first") == "ektp sync send"
    assert strip_comment("curl -d '# not a comment'") == "curl -d '# not a comment'"
    assert strip_comment("date +%F#x") == "date +%F#x"


def test_console_blocks_give_prompts_and_output(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "Text.\n\n```console\n$ ektp a \\\n    --b\nline 1\n...\nsite$   ektp c && cd d   # note\n```\n\n"
        "1. A list:\n\n   ```sh\n   ektp e\n   # a comment\n   ```\n\n"
        "```ini\n[Service]\nExecStart=/x/ektp f\n```\n"
        "\n````md\n```sh\nnot a command\n```\n````\n",
        "utf-8",
    )
    import docs_run.extract as extract

    original = extract.ROOT
    extract.ROOT = tmp_path
    try:
        found = shown_commands(page)
    finally:
        extract.ROOT = original
    assert [(s.text, s.prompt, s.output, s.unit) for s in found] == [
        ("ektp a --b", "", ("line 1", "..."), False),
        ("ektp c", "site", (), False),
        ("cd d", "site", (), False),
        ("ektp e", "", (), False),
        ("/x/ektp f", "", (), True),
    ]
    assert [s.line for s in found] == [4, 8, 8, 14, 20]
    assert len(fenced_blocks(page.read_text("utf-8"))) == 4


def test_shown_output_is_matched_line_by_line_with_ellipses() -> None:
    actual = "created x\n  profile   minimal\n  site      17.71 Kota\nextra\n  keys      /tmp/k\n"
    assert missing_output(("created x", "  site      17.71 ...", "  keys      /tmp/k"), actual) is None
    assert missing_output(("created x", "...", "  keys ... /tmp/k"), actual) is None
    assert missing_output(("  keys      /tmp/k", "created x"), actual) == "created x"  # order counts
    assert missing_output(("  site 17.71 Kota",), actual) == "  site 17.71 Kota"  # spacing counts
    assert missing_output(("created",), actual) == "created"  # a whole line, not a part
    # What differs on every run: a key, a join code, a timestamp.
    assert (
        missing_output(
            ("key ekZHiUOHQhtw11hzVXUZ_gLh_M54k9DDLkZ50fREUhY at 20261128T052544Z, code 3FA2C1-09B7D4-77E0AA-1C5B2F",),
            "key gbYAogYXmz8hkMbFZ39caiABRfkEuDEIe1m_iwLHMFQ at 20270101T000000Z, code AF4470-C10EA2-717A62-66A1A7",
        )
        is None
    )
    assert missing_output(("key ekZHiUOHQhtw11hzVXUZ_gLh_M54k9DDLkZ50fREUhY",), "key short") is not None


# -- the runs --------------------------------------------------------------------------------------------


def _slug(page: str) -> str:
    return re.sub(r"[^\w]+", "-", page.removesuffix(".md"))


@pytest.fixture(scope="session")
def doc_runs(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Future[list[Record]]]]:
    """The selected pages' runs, started together on first use; each test waits for its own."""
    wanted = {
        item.callspec.params["page"]
        for item in request.session.items
        if getattr(item, "originalname", "") == "test_the_page_runs" and hasattr(item, "callspec")
    }
    order = sorted(wanted, key=lambda page: (SLOW_FIRST.index(page) if page in SLOW_FIRST else len(SLOW_FIRST), page))
    excused = set(EXCUSES)
    pool = ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="docs-run")
    futures = {
        page: pool.submit(
            run_page, page, PLANS[page], _commands_of(page), excused, tmp_path_factory.mktemp(_slug(page))
        )
        for page in order
    }
    try:
        yield futures
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


@pytest.mark.parametrize(
    "page",
    [pytest.param(page, marks=[pytest.mark.postgres] if plan.database else []) for page, plan in sorted(PLANS.items())],
)
def test_the_page_runs(page: str, doc_runs: dict[str, Future[list[Record]]]) -> None:
    records = doc_runs[page].result()
    commands = _commands_of(page)
    assert [r.shown for r in records] == commands
    ran = [r for r in records if r.how in ("ran", "service", "cd")]
    assert ran, f"{page}: nothing ran"
    for record in records:
        assert (record.how in ("excused", "mirrored")) == (record.shown.key in EXCUSES), record
