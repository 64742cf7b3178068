"""Fixtures for the report page: the web UI over a real deployment and browsers logged in with each
role (tests/kits/webkit.py)."""

from webkit import browser, web_app

__all__ = ["browser", "web_app"]
