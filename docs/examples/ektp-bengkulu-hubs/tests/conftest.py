"""Test set-up. ektp's pytest plugin brings the fixtures (``ektp_deployment``, ``ektp_service``...).

The tests that build a deployment on the ``kota-bengkulu-hubs`` profile need the distribution to be
installed (the profile requires the plugin by name, so ektp must find its entry point). They are
skipped in a plain checkout, and fail instead when ``EKTP_REQUIRE_INSTALLED=1`` (as in ektp's CI).
"""

from __future__ import annotations

import os
from importlib import metadata

import pytest

DISTRIBUTION = "ektp-bengkulu-hubs"


def installed() -> bool:
    """True when the distribution is installed (its entry point can be found)."""
    try:
        metadata.distribution(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        return False
    return True


@pytest.fixture
def needs_installation() -> None:
    """Skip (or fail, with EKTP_REQUIRE_INSTALLED=1) unless the distribution is installed."""
    if installed():
        return
    message = f"{DISTRIBUTION} is not installed (pip install . first)"
    if os.environ.get("EKTP_REQUIRE_INSTALLED") == "1":
        pytest.fail(message)
    pytest.skip(message)
