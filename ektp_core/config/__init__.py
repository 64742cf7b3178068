"""Profiles and deployments.

A **profile** (TOML) says how a regency runs: its region, its sites, its rules, its plugins. A
**deployment** is a folder that holds one node's configuration (``ektp.toml``), its profile, its
database and its keys. Both are validated on load; a mistake is reported with the file, the key
and what was expected.
"""

from ektp_core.config.deployment import (
    DEPLOYMENT_FILE,
    ENV_DEPLOYMENT,
    PROFILE_FILE,
    Deployment,
    find_deployment,
    load_deployment,
)
from ektp_core.config.profile import (
    PROFILE_KEYS,
    LifecycleSettings,
    PluginSettings,
    Profile,
    ProfileSource,
    load_profile,
    parse_profile,
)
from ektp_core.config.reader import TableReader

__all__ = [
    "DEPLOYMENT_FILE",
    "ENV_DEPLOYMENT",
    "PROFILE_FILE",
    "PROFILE_KEYS",
    "Deployment",
    "LifecycleSettings",
    "PluginSettings",
    "Profile",
    "ProfileSource",
    "TableReader",
    "find_deployment",
    "load_deployment",
    "load_profile",
    "parse_profile",
]
