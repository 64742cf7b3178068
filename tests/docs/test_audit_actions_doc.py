"""docs/storage.md lists the audit actions as the catalogue says (a table generated from
ektp_core.lifecycle.actions and checked in, so it reads without a docs build).

``EKTP_REGENERATE_DOCS=1 pytest tests/docs/test_audit_actions_doc.py`` rewrites the table in place.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from ektp_core.lifecycle.actions import AuditAction, catalogue_markdown

PAGE = Path(__file__).resolve().parents[2] / "docs" / "storage.md"
_BLOCK = re.compile(r"(<!-- BEGIN audit-actions:[^\n]*-->\n)(.*?)(<!-- END audit-actions -->)", re.DOTALL)


def test_the_storage_page_lists_every_audit_action_as_the_catalogue_says() -> None:
    text = PAGE.read_text("utf-8")
    blocks = _BLOCK.findall(text)
    assert len(blocks) == 1, "docs/storage.md must hold one BEGIN audit-actions ... END audit-actions block"
    expected = catalogue_markdown()
    if blocks[0][1] != expected and os.environ.get("EKTP_REGENERATE_DOCS") == "1":
        PAGE.write_text(_BLOCK.sub(lambda m: m.group(1) + expected + m.group(3), text), "utf-8")
        return
    assert blocks[0][1] == expected, (
        "the audit actions in docs/storage.md are stale: run "
        "`EKTP_REGENERATE_DOCS=1 pytest tests/docs/test_audit_actions_doc.py` and commit the page"
    )


def test_the_table_names_each_action_once() -> None:
    block = _BLOCK.search(PAGE.read_text("utf-8"))
    assert block is not None
    listed = re.findall(r"^\| `([a-z_]+\.[a-z_]+)` \|", block.group(2), flags=re.MULTILINE)
    assert sorted(listed) == sorted(str(action) for action in AuditAction)
