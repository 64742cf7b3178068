"""Fixtures for the web UI: the node's app over a real deployment (SQLite, the minimal profile unless a
test marks another with ``ektp_profile``), its accounts, and browsers logged in with each role
(defined in tests/kits/webkit.py, shared with tests/integration/web)."""

from webkit import browser, web_app

__all__ = ["browser", "web_app"]
