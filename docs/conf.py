"""Sphinx configuration for the ektp documentation site.

Build with ``sphinx-build -W --keep-going -b html docs docs/_build/html``: every warning is an error.
"""

from __future__ import annotations

import sys
from pathlib import Path

# The package is normally installed (``pip install -e .``); this makes a plain checkout work too.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
# Local extensions: ektp_hooks generates the hook reference (docs/hooks.md) from ektp_core/hookspecs.py.
sys.path.insert(0, str(Path(__file__).resolve().parent / "_ext"))

from ektp_core import __version__

project = "ektp"
author = "ektp developers"
copyright = "ektp developers"
release = __version__
version = ".".join(__version__.split(".")[:2])

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "ektp_hooks",
]

source_suffix = {".md": "markdown"}
root_doc = "index"
# examples/ holds a plugin distribution and tutorials/code/ the tutorials' tested code: sources, not pages.
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store", "examples", "tutorials/code"]

# MyST: anchors for headings down to ### so pages can link to sections (page.md#section).
myst_heading_anchors = 3
myst_enable_extensions = ["colon_fence", "deflist"]

# autodoc settings, for pages that pull docstrings from the code. The hook reference has its own
# extension (docs/_ext/ektp_hooks.py), so it never drifts from ektp_core.hookspecs either.
autodoc_member_order = "bysource"
autodoc_typehints = "signature"

html_theme = "furo"
html_title = f"ektp {release}"
html_show_sourcelink = False
