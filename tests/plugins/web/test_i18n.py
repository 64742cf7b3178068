"""The UI's catalogues: every shipped language complete, every message the code asks for present."""

from __future__ import annotations

import json
import re
from pathlib import Path

from ektp_plugins.web.ui.i18n import LOCALES, Catalogues

from ektp_core.plugins import PluginHost

UI = LOCALES.parent
_LITERAL = re.compile(r"""\b_\(\s*["']([a-z_]+\.[A-Za-z0-9_.]*)["']""")


def test_every_catalogue_has_the_keys_of_the_indonesian_one() -> None:
    reference = set(json.loads((LOCALES / "id.json").read_text("utf-8")))
    for path in LOCALES.glob("*.json"):
        keys = set(json.loads(path.read_text("utf-8")))
        assert keys == reference, f"{path.name}: missing {sorted(reference - keys)}, extra {sorted(keys - reference)}"


def test_every_message_the_pages_use_is_in_the_catalogue() -> None:
    PluginHost()  # the plugins' message catalogues join the core's
    known = set(Catalogues().messages["id"])
    used: dict[str, str] = {}
    for path in [*UI.rglob("*.html"), *UI.glob("*.py")]:
        for key in _LITERAL.findall(path.read_text("utf-8")):
            used.setdefault(key, path.name)
    # A key ending in "." is a prefix completed at run time ("state." + the state): some key must start with it.
    missing = {
        key: where
        for key, where in used.items()
        if (key not in known if not key.endswith(".") else not any(k.startswith(key) for k in known))
    }
    assert missing == {}
    assert len(used) > 30  # the pattern still finds the pages' messages


def test_a_new_language_is_a_file(tmp_path: Path) -> None:
    (tmp_path / "jv.json").write_text(json.dumps({"_language": "Basa Jawa", "auth.title": "Mlebu"}), "utf-8")
    catalogues = Catalogues([LOCALES, tmp_path])
    assert ("jv", "Basa Jawa") in catalogues.languages
    assert catalogues.text("jv", "auth.title") == "Mlebu"
    # A key the new catalogue lacks falls back to Indonesian.
    assert catalogues.text("jv", "auth.password") == "Kata sandi"
    assert catalogues.languages[0][0] == "id"
