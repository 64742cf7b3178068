"""ektp core: the record -> verify -> print lifecycle of the KTP-el, its data and its hook points.

The core imports no web framework, no USB library and no imaging library: everything that touches the
outside world is a plugin (see :mod:`ektp_core.hookspecs`).
"""

from __future__ import annotations

import pluggy

from ektp_core import _compat

__version__ = "0.2.0"

#: Marker for hook implementations in plugins: ``@ektp_core.hookimpl``.
hookimpl = pluggy.HookimplMarker("ektp")

_compat.install()

__all__ = ["__version__", "hookimpl"]
