"""The verification service for the pages that show verdicts and decide adjudications."""

from __future__ import annotations

from ektp_plugins.web.ui.app import node

from ektp_core.services.verification import VerificationService


def verification() -> VerificationService:
    """The profile's verifier over this node's lifecycle (built per request: it holds no connection,
    and a profile whose ``[verification]`` is wrong then fails on the page that needs it, not at start).

    Raises :class:`~ektp_core.errors.EktpError` (a configuration error) when the verifier cannot be made.
    """
    n = node()
    return VerificationService.for_deployment(n.lifecycle, n.host)
