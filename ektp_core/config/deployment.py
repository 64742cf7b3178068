"""Deployments: the folder of one node (``ektp.toml``, its profile, its database and its keys)."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

import attrs

from ektp_core.config.profile import Profile, load_profile
from ektp_core.config.reader import TableReader
from ektp_core.domain.model import Site
from ektp_core.errors import ConfigError, DeploymentNotFound

DEPLOYMENT_FILE = "ektp.toml"
PROFILE_FILE = "profile.toml"
ENV_DEPLOYMENT = "EKTP_DEPLOYMENT"


@attrs.frozen(kw_only=True)
class Deployment:
    """One node's folder: configuration, profile, database and keys."""

    root: Path
    profile: Profile
    #: Shown with its password hidden wherever the deployment is printed (hook tracing, logs).
    database_url: str = attrs.field(repr=lambda url: repr(_hide_password(url)))
    #: The site this node serves (the Dukcapil node serves the Dukcapil site).
    site_code: str

    @property
    def keys_dir(self) -> Path:
        """Where the node's keys live (mode 0700)."""
        return self.root / "keys"

    @property
    def site(self) -> Site:
        """This node's site."""
        return self.profile.site(self.site_code)

    def open_store(self) -> Any:
        """A :class:`~ektp_core.store.Store` on this deployment's database."""
        from ektp_core.store import Store

        return Store(self.database_url)

    def plugin_host(self) -> Any:
        """A fresh :class:`~ektp_core.plugins.PluginHost` with the profile's allow and block lists."""
        from ektp_core.plugins import PluginHost

        s = self.profile.plugins
        return PluginHost(allow=s.allow or None, block=s.block, required=s.required, fatal_errors=s.fatal_errors)


def _hide_password(url: str) -> str:
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # not a URL at all: show nothing of it
        return "<database url>"


def _database_url(raw: str, root: Path) -> str:
    # A relative SQLite path is relative to the deployment folder, not to wherever the command runs.
    prefix = "sqlite:///"
    if raw.startswith(prefix) and not raw.startswith(prefix + "/") and raw != "sqlite://":
        return prefix + str((root / raw[len(prefix) :]).resolve())
    return raw


def load_deployment(root: Path) -> Deployment:
    """Read and validate the deployment in ``root``."""
    root = root.resolve()
    path = root / DEPLOYMENT_FILE
    if not path.is_file():
        raise DeploymentNotFound(
            f"{root} is not an ektp deployment (no {DEPLOYMENT_FILE}); create one with `ektp init`"
        )
    try:
        data = tomllib.loads(path.read_text("utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(str(path), "-", f"valid TOML ({exc})") from None
    top = TableReader(str(path), data)
    d = top.table("deployment", required=True)
    profile_file = d.get("profile", str, "the profile file, relative to the folder", default=PROFILE_FILE)
    # EKTP_DATABASE_URL lets CI and operators point a deployment at another database without editing it.
    url = d.get("database_url", str, "an SQLAlchemy database URL")
    url = os.environ.get("EKTP_DATABASE_URL") or url
    site_code = d.get("site", str, "the code of the site this node serves")
    d.no_unknown()
    top.no_unknown(["deployment"])
    profile = load_profile(root / profile_file)
    deployment = Deployment(root=root, profile=profile, database_url=_database_url(url, root), site_code=site_code)
    try:
        deployment.site  # noqa: B018 - checks the site exists
    except ConfigError:
        raise ConfigError(
            str(path), "deployment.site", f"one of the profile's sites {[s.code for s in profile.sites]}", site_code
        ) from None
    return deployment


def find_deployment(explicit: str | os.PathLike[str] | None = None) -> Deployment:
    """``--deployment DIR``, else ``$EKTP_DEPLOYMENT``, else the current folder."""
    if explicit:
        return load_deployment(Path(explicit))
    env = os.environ.get(ENV_DEPLOYMENT)
    if env:
        return load_deployment(Path(env))
    cwd = Path.cwd()
    if (cwd / DEPLOYMENT_FILE).is_file():
        return load_deployment(cwd)
    raise DeploymentNotFound(
        "no ektp deployment found: pass --deployment DIR, set EKTP_DEPLOYMENT, or run the command inside a "
        "deployment folder (create one with `ektp init DIR --profile NAME`)"
    )
