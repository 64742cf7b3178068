"""Fixtures for the papers plugin: the web UI's app and browsers (tests/kits/webkit.py)."""

from webkit import browser, web_app

__all__ = ["browser", "web_app"]
