"""Regenerate the references kept as Markdown in the repository, readable there without a docs build.

    python tools/references.py          # rewrite them
    python tools/references.py --check  # exit 1, naming each stale file, when one is out of date

* docs/hooks.md: the blocks between ``<!-- generated: ... -->`` and ``<!-- end generated -->``, from the
  hookspecs (ektp_core/hookspecs.py and the web plugin's ektp_plugins/web/hookspecs.py) and their
  examples in docs/hooks/examples/; the rest of the page is written by hand;
* docs/devices.md: the whole page, from the interfaces in ektp_core/devices/.

The generators live in docs/_ext/ (ektp_hooks.py, ektp_devices.py), beside the Sphinx extension that
renders the hook reference richly for the documentation site. tests/docs/test_references.py runs the
check, so a changed hookspec or device interface fails the tests until this command is run.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "docs" / "_ext"))

import ektp_devices  # noqa: E402  (docs/_ext is not a package)
import ektp_hooks  # noqa: E402

HOOKS_PAGE = ROOT / "docs" / "hooks.md"
DEVICES_PAGE = ROOT / "docs" / "devices.md"


def expected() -> dict[Path, str]:
    """Every generated file with the content it should have now."""
    entries = ektp_hooks.collect_all(implementations=ektp_hooks.bundled_implementations())
    problems = [problem for entry in entries for problem in ektp_hooks.check_hook(entry)]
    if problems:
        raise SystemExit("the hookspecs' docstrings are not complete:\n  " + "\n  ".join(problems))
    return {
        HOOKS_PAGE: ektp_hooks.regenerate(HOOKS_PAGE.read_text("utf-8"), entries),
        DEVICES_PAGE: ektp_devices.render_page(),
    }


def stale() -> list[Path]:
    """The generated files whose content is not what :func:`expected` makes."""
    return [path for path, text in expected().items() if not path.is_file() or path.read_text("utf-8") != text]


def _shown(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def main(argv: list[str] | None = None) -> int:
    """Write the references, or with ``--check`` only say which are stale."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 when a file is stale")
    args = parser.parse_args(argv)
    if args.check:
        old = stale()
        for path in old:
            print(f"{_shown(path)} is stale: run python tools/references.py", file=sys.stderr)
        return 1 if old else 0
    for path, text in expected().items():
        if not path.is_file() or path.read_text("utf-8") != text:
            path.write_text(text, "utf-8")
            print(f"wrote {_shown(path)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
