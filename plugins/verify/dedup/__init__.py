"""The ``nbis-bozorth3`` matcher: NIST Bozorth3 behind a per-finger candidate index for 1:N deduplication.

See :class:`NbisMatcher` and docs/matching.md. Needs numpy and nbis-py (the ``biometrics`` extra).
"""

from __future__ import annotations

from ektp_plugins.verify.dedup.matcher import OPTIONS, NbisMatcher

__all__ = ["OPTIONS", "NbisMatcher"]
