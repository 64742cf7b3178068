"""The operator guide, ``guide/panduan-operator.md``, rendered to HTML for the node's own ``/panduan``.

The guide ships inside the web plugin (a node installed from a wheel has no ``docs/``); the
documentation site includes the same file. It is MyST Markdown: each section the UI links to carries
an explicit target, ``(dasbor)=`` on the line before its heading, which becomes the heading's ``id``
here (and a label in the Sphinx site), so a link survives a reworded heading.

The page must work offline and load nothing from elsewhere: raw HTML in the source is not passed
through, an image must be one of the guide's own screenshots (its URL is the node's), and a link
must stay inside the guide. Anything else is refused, so a bad edit fails the tests, not a desk.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import attrs
from markdown_it import MarkdownIt
from markdown_it.token import Token
from mdit_py_plugins.myst_blocks import myst_block_plugin

#: The guide's folder inside the package: the Markdown source and its screenshots.
GUIDE_DIR = Path(__file__).with_name("guide")
GUIDE_FILE = GUIDE_DIR / "panduan-operator.md"
SCREENSHOTS = GUIDE_DIR / "screenshots"
#: How the source names a screenshot: ``screenshots/<name>.png``.
_SCREENSHOT = re.compile(r"screenshots/([a-z0-9][a-z0-9-]*\.png)")
#: An anchor: lower-case words joined by hyphens (stable, and safe in a URL and an id).
_ANCHOR = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")


class GuideError(ValueError):
    """The guide's source breaks a rule of this module (a bug in the package, found by its tests)."""


@attrs.frozen
class RenderedGuide:
    """The guide as HTML, with what the page and its tests need to know about it."""

    #: The first-level heading's text.
    title: str
    #: The body, headings to the end (the title's own heading left out: the page shows it).
    html: str
    #: Every section anchor, in the order of the guide.
    anchors: tuple[str, ...]
    #: The screenshots it embeds (file names in ``SCREENSHOTS``), in order.
    images: tuple[str, ...]


def _parser() -> MarkdownIt:
    # CommonMark with tables (the guide's troubleshooting table) and MyST's block syntax (targets
    # and % comments); no raw HTML, no linkify, no typographer: what the source says, escaped.
    return MarkdownIt("commonmark", {"html": False}).enable("table").use(myst_block_plugin)


def render_guide(source: str, image_url: Callable[[str], str]) -> RenderedGuide:
    """Render the guide's Markdown ``source``; ``image_url(name)`` is where the node serves a screenshot."""
    md = _parser()
    tokens = md.parse(source)
    kept: list[Token] = []
    anchors: list[str] = []
    images: list[str] = []
    title = ""
    pending: str | None = None
    index = 0
    while index < len(tokens):
        token = tokens[index]
        if token.type == "myst_target":
            pending = token.content.strip()
            if not _ANCHOR.fullmatch(pending):
                raise GuideError(f"anchor ({pending})= is not lower-case words joined by hyphens")
            if pending in anchors:
                raise GuideError(f"anchor ({pending})= is used twice")
            index += 1
            continue
        if token.type in ("myst_line_comment", "myst_block_break"):
            index += 1
            continue
        if pending is not None:
            if token.type != "heading_open":
                raise GuideError(f"anchor ({pending})= is not followed by a heading")
            token.attrSet("id", pending)
            anchors.append(pending)
            pending = None
        if token.type == "heading_open" and token.tag == "h1":
            if title:
                raise GuideError("the guide has more than one first-level heading")
            title = tokens[index + 1].content
            index += 3  # heading_open, inline, heading_close: the page renders the title itself
            continue
        if token.type == "inline":
            for child in token.children or ():
                _check_inline(child, image_url, images)
        kept.append(token)
        index += 1
    if pending is not None:
        raise GuideError(f"anchor ({pending})= ends the guide")
    if not title:
        raise GuideError("the guide has no first-level heading")
    html = md.renderer.render(kept, md.options, {})
    return RenderedGuide(title=title, html=html, anchors=tuple(anchors), images=tuple(images))


def _check_inline(token: Token, image_url: Callable[[str], str], images: list[str]) -> None:
    if token.type == "image":
        src = str(token.attrGet("src") or "")
        found = _SCREENSHOT.fullmatch(src)
        if found is None:
            raise GuideError(f"image {src!r}: the guide embeds only its own screenshots/<name>.png")
        token.attrSet("src", image_url(found[1]))
        images.append(found[1])
    elif token.type == "link_open":
        href = str(token.attrGet("href") or "")
        if not href.startswith("#"):
            raise GuideError(f"link {href!r}: the guide links only to its own sections (#anchor), to stay offline")


def load_guide(image_url: Callable[[str], str]) -> RenderedGuide:
    """The packaged guide, rendered."""
    return render_guide(GUIDE_FILE.read_text("utf-8"), image_url)
