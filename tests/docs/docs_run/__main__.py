"""Run the docs' commands of some pages and show what ran, as run: ``cd tests/docs && python -m docs_run
docs/sync.md`` (no page: list every shown command with how it is run or why it is not)."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

# pytest puts tests/kits on sys.path (pyproject.toml's pythonpath); run by hand, this does.
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "kits"))

from .excuses import EXCUSES
from .extract import all_shown
from .plans import PLANS
from .runner import run_page


def main(pages: list[str]) -> int:
    commands = all_shown()
    if not pages:
        for shown in commands:
            why = EXCUSES.get(shown.key)
            status = f"excused: {why}" if why else ("run" if shown.page in PLANS else "NEITHER RUN NOR EXCUSED")
            print(f"{shown.page}:{shown.line}: {shown.text}\n    {status}")
        return 0
    for page in pages:
        with tempfile.TemporaryDirectory(prefix="docs-run-") as scratch:
            print(f"== {page}: {PLANS[page].state}")
            for record in run_page(
                page, PLANS[page], [s for s in commands if s.page == page], set(EXCUSES), Path(scratch)
            ):
                shown = record.shown
                if record.how in ("excused", "mirrored"):
                    print(f"  {shown.line:4} {record.how:8} {shown.text}\n                {EXCUSES[shown.key]}")
                else:
                    print(f"  {shown.line:4} {record.how:8} {record.ran}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
