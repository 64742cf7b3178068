"""The web UI's keys in the profile's ``[web]`` table, declared for the plugin host's checks.

``[web]`` is shared: the core declares the accounts' limits in it (lockout, session lifetimes,
:data:`ektp_core.config.core_tables.WEB_ACCOUNTS`), the web plugin the keys of its own UI.
"""

from __future__ import annotations

from typing import Any

import attrs

from ektp_core.config.schema import Setting, Table


def _at_least_zero(value: int) -> bool:
    return value >= 0


#: The web plugin's part of ``[web]``.
WEB_UI = Table(
    key="web",
    description="The accounts' limits at every node, and the web UI's settings.",
    shared=True,
    settings=(
        Setting(
            key="login_attempts_per_minute",
            types=int,
            expected="a whole number >= 0",
            default=10,
            check=_at_least_zero,
            description="Rate limit of login attempts per client address (0: no limit).",
        ),
        Setting(
            key="secure_cookies",
            types=bool,
            expected="true or false",
            default=True,
            description="The session cookie's Secure flag (false only for plain HTTP on 127.0.0.1).",
        ),
        Setting(
            key="low_stock",
            types=int,
            expected="a whole number >= 0",
            default=50,
            check=_at_least_zero,
            description="The dashboard warns below this many blanks in stock.",
        ),
        Setting(
            key="locales_dir",
            types=str,
            expected="a folder, relative to the deployment",
            description="A folder of extra or overriding language catalogues (JSON).",
        ),
    ),
)


@attrs.frozen(kw_only=True)
class WebSettings:
    """The web UI's keys of the profile's ``[web]`` table (see docs/profiles.md)."""

    secure_cookies: bool = True
    login_attempts_per_minute: int = 10
    low_stock: int = 50
    locales_dir: str | None = None

    @classmethod
    def from_profile(cls, profile: Any) -> WebSettings:
        """Read the web plugin's keys of ``[web]``; the account limits in it are read by
        :class:`~ektp_core.services.accounts.LoginPolicy`."""
        web = WEB_UI.read(profile)
        return cls(
            secure_cookies=web["secure_cookies"],
            login_attempts_per_minute=web["login_attempts_per_minute"],
            low_stock=web["low_stock"],
            locales_dir=web["locales_dir"] or None,
        )
