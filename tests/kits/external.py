"""What a test does when an optional external it needs is missing (a PostgreSQL server, Chromium, a
wheel builder, the docs extra): skipped on a developer's machine, a failure under CI (``CI`` set), so
a CI image that lost it cannot pass silently."""

from __future__ import annotations

import os
from typing import NoReturn

import pytest


def missing(what: str) -> NoReturn:
    """Skip the test for want of ``what`` (say how to get it), or fail it under CI."""
    if os.environ.get("CI"):
        pytest.fail(f"CI must have it: {what}", pytrace=False)
    pytest.skip(what)
