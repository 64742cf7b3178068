"""Acme Gateway: an ektp plugin with a verifier for a central system's HTTP API.

Registers:

* the verifier ``acme-gateway``
  (:class:`~ektp_acme_gateway.client.AcmeGatewayVerifier`);
* the example profile ``acme-gateway``, which sends enrolments through it.

The API is described in :mod:`ektp_acme_gateway.client`;
:mod:`ektp_acme_gateway.server` answers it on 127.0.0.1 for tests and demos.
"""

from __future__ import annotations

from pathlib import Path

from ektp_core import hookimpl
from ektp_core.config import ProfileSource
from ektp_core.devices.verifiers import VerifierFactory
from ektp_core.registry import Registry

from .client import AcmeGatewayVerifier
from .server import AcmeGatewayServer

__all__ = ["NAME", "PROFILE_FILE", "AcmeGatewayServer", "AcmeGatewayVerifier"]

#: The plugin's name: its entry point, its verifier and its example profile.
NAME = "acme-gateway"
#: The example profile.
PROFILE_FILE = Path(__file__).with_name("profiles") / f"{NAME}.toml"


@hookimpl
def ektp_register_verifiers(registry: Registry[VerifierFactory]) -> None:
    """The verifier, chosen in a profile with ``[verification] verifier = NAME``.

    The core builds it with the keyword argument its constructor names:
    ``AcmeGatewayVerifier(options=...)``.
    """
    registry.add(
        NAME,
        AcmeGatewayVerifier,
        description="a central system's API over HTTP",
    )


@hookimpl
def ektp_register_profiles(registry: Registry[ProfileSource]) -> None:
    """The example profile: one Dukcapil office verifying through the Acme Gateway API."""
    registry.add(NAME, PROFILE_FILE, description=f"one Dukcapil office verifying through the {NAME} API")
