"""The operator guide's screenshots exist, are desk-sized and small (``tools/screenshots.py`` makes them),
where the guide is: package data of the web plugin, which the node serves and the docs include."""

from __future__ import annotations

import importlib.util
import struct
from pathlib import Path
from types import ModuleType

from ektp_plugins.web.ui.guide_render import SCREENSHOTS, load_guide

ROOT = Path(__file__).resolve().parents[2]


def _tool() -> ModuleType:
    spec = importlib.util.spec_from_file_location("ektp_screenshots_tool", ROOT / "tools" / "screenshots.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_main_page_has_a_small_desk_sized_screenshot() -> None:
    tool = _tool()
    folder = tool.SCREENSHOTS
    assert folder == SCREENSHOTS  # where the node serves them from
    missing = [name for name in tool.PAGES if not (folder / f"{name}.png").is_file()]
    assert not missing, f"run `python tools/screenshots.py` to make: {', '.join(missing)}"
    for name in tool.PAGES:
        data = (folder / f"{name}.png").read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n", name
        width, height = struct.unpack(">II", data[16:24])  # the IHDR chunk
        assert (width, height) == (1366, 768), (name, width, height)
        assert len(data) <= tool.MAX_BYTES, (name, len(data))
    stray = sorted(p.name for p in folder.glob("*.png") if p.stem not in tool.PAGES)
    assert not stray, f"screenshots no page makes any more: {stray}"


def test_the_guide_embeds_every_screenshot_the_tool_makes() -> None:
    embedded = load_guide(lambda name: name).images
    assert sorted(embedded) == sorted(f"{name}.png" for name in _tool().PAGES)
