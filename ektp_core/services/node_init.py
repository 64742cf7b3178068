"""Creating a deployment folder (what ``ektp init`` does), usable from code and tests."""

from __future__ import annotations

import json
from pathlib import Path

from ektp_core.config import DEPLOYMENT_FILE, PROFILE_FILE, Deployment, load_deployment, load_profile
from ektp_core.errors import EktpError
from ektp_core.keys import crypto
from ektp_core.lifecycle.service import LifecycleService
from ektp_core.plugins import PluginHost


def profile_text(name_or_path: str, host: PluginHost | None = None) -> tuple[str, str]:
    """A profile's TOML text and where it came from: a registered profile name, or a path to a file."""
    path = Path(name_or_path)
    if path.suffix == ".toml" and path.is_file():
        return path.read_text("utf-8"), str(path)
    registry = (host or PluginHost()).registry("profiles")
    return registry.get(name_or_path).read_text("utf-8"), f"profile {name_or_path}"


def create_deployment(
    directory: Path,
    *,
    profile: str = "minimal",
    site_code: str | None = None,
    database_url: str = "sqlite:///ektp.sqlite3",
) -> Deployment:
    """Create ``directory`` with ``ektp.toml``, ``profile.toml``, node keys and a migrated database.

    Refuses a folder that already holds a deployment; on a bad profile or site nothing is left behind.
    """
    directory = Path(directory)
    if (directory / DEPLOYMENT_FILE).exists():
        raise EktpError(f"{directory} already holds a deployment ({DEPLOYMENT_FILE}); nothing was changed")
    text, _source = profile_text(profile)
    created = not directory.exists()
    directory.mkdir(parents=True, exist_ok=True)
    staged = directory / PROFILE_FILE
    staged.write_text(text, "utf-8")
    try:
        parsed = load_profile(staged)
        site = site_code or parsed.dukcapil_code
        parsed.site(site)
    except EktpError:
        staged.unlink()
        if created:
            directory.rmdir()
        raise
    (directory / DEPLOYMENT_FILE).write_text(
        "# ektp deployment: this node's configuration (keys: see docs/profiles.md).\n"
        "[deployment]\n"
        f'profile = "{PROFILE_FILE}"\n'
        f"database_url = {json.dumps(database_url)}\n"
        f"site = {json.dumps(site)}\n",
        "utf-8",
    )
    keys = directory / "keys"
    keys.mkdir(mode=0o700, exist_ok=True)
    crypto.save_node_keys(keys)
    deployment = load_deployment(directory)
    store = deployment.open_store()
    try:
        store.upgrade()
        host = deployment.plugin_host()
        LifecycleService(store, host.hook, deployment).sync_sites(parsed.sites, actor="ektp-init")
    finally:
        store.dispose()
    return deployment
