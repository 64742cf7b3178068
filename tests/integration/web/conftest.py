"""The web UI's fixtures (``web_app``, ``browser``: tests/kits/webkit.py) for the web tests that start
real processes."""

from webkit import browser, web_app

__all__ = ["browser", "web_app"]
