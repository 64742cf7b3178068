"""The accessibility check of the browser end-to-end tests: axe-core, pinned in ``tests/e2e/axe``
(``npm ci`` there), injected into a page and run against WCAG 2.2 AA.

axe-core comes from the npm registry, not from Python: its ``axe.min.js`` is looked for at
``$EKTP_AXE`` or ``tests/e2e/axe/node_modules/axe-core/axe.min.js``. Without it the tests that need it
are skipped on a developer's machine and fail under CI (``CI`` set), like the Chromium fixture.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from external import missing

#: The environment variable naming ``axe.min.js`` (else the pinned copy under tests/e2e/axe).
AXE_ENV = "EKTP_AXE"
PINNED = Path(__file__).resolve().parent / "axe" / "node_modules" / "axe-core" / "axe.min.js"
#: WCAG 2.0, 2.1 and 2.2, levels A and AA: what the issue asks of every page.
TAGS = ("wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa")
# A function expression, not a string of statements: Playwright calls it with the tags, and the pages'
# CSP (no 'unsafe-eval') does not apply to evaluate, which runs in the page through the DevTools protocol.
_RUN = """async (tags) => {
  const result = await axe.run(document, { runOnly: { type: "tag", values: tags }, resultTypes: ["violations"] });
  return result.violations.map((v) => ({
    id: v.id, impact: v.impact, help: v.help,
    nodes: v.nodes.map((n) => ({ target: n.target.join(" "), summary: n.failureSummary || "" })),
  }));
}"""


def find_axe() -> Path | None:
    """``axe.min.js``: ``$EKTP_AXE``, else the pinned copy; None when there is none."""
    wanted = os.environ.get(AXE_ENV)
    path = Path(wanted) if wanted else PINNED
    return path if path.is_file() else None


def axe_path() -> Path:
    """``axe.min.js``, or skip (fail under CI) saying how to install it."""
    path = find_axe()
    if path is not None:
        return path
    missing(
        f"axe-core not found (${AXE_ENV}={os.environ.get(AXE_ENV, '')!r}, {PINNED}): "
        "run `npm ci --prefix tests/e2e/axe` (Node.js 18+)"
    )


def violations(page: Any, axe: Path) -> list[dict[str, Any]]:
    """Run axe-core on the page as it is now, its collapsed ``<details>`` opened (what they hide must
    pass too); its WCAG 2.2 AA violations (empty when none)."""
    page.evaluate("document.querySelectorAll('details').forEach((d) => { d.open = true; })")
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.add_script_tag(path=str(axe))
    found: list[dict[str, Any]] = page.evaluate(_RUN, list(TAGS))
    return found


def report(where: str, found: list[dict[str, Any]]) -> str:
    """Each violation's id, impact and help, and the nodes it was found on (a failing test's message)."""
    lines = [f"{where}: {len(found)} axe violation(s)"]
    for v in found:
        lines.append(f"  {v['id']} ({v['impact']}): {v['help']}")
        for node in v["nodes"][:8]:
            lines.append(f"    {node['target']}: {node['summary'].replace(chr(10), ' / ')}")
        if len(v["nodes"]) > 8:
            lines.append(f"    ... and {len(v['nodes']) - 8} more")
    return "\n".join(lines)
