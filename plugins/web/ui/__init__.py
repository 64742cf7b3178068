"""The operators' web UI: server-rendered Flask pages over the core, in Indonesian first.

:func:`~.app.create_app` builds the node's whole application (the UI and the HTTP API v1);
``ektp serve`` runs it under waitress, a production WSGI server.
"""

from __future__ import annotations

from ektp_plugins.web.ui.app import create_app

__all__ = ["create_app"]
