"""Shared test set-up. The ektp fixtures themselves come from ``ektp_core.testing.pytest_plugin``."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

# CI runs more examples; a developer's quick run fewer. Both are deterministic per test.
settings.register_profile("ci", max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("ci" if os.environ.get("CI") else "dev")
