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


def _site_thresholds(value: dict[str, Any]) -> bool:
    return all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in value.values())


#: The default low-stock threshold: a printer's lower real output is about 50 cards a day (DOMAIN:
#: 50-150), so below 20 a site has less than half a day's printing left; a delivery (often 50 or
#: more blanks) with a card or two printed from it is not "low".
LOW_STOCK = 20

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
            default=LOW_STOCK,
            check=_at_least_zero,
            description="The pages warn when a printing site has fewer blanks in stock than this.",
        ),
        Setting(
            key="low_stock_sites",
            types=dict,
            expected="a table of site codes to whole numbers >= 0",
            default={},
            check=_site_thresholds,
            description="Per printing site, its own low-stock threshold (a busy office wants more warning).",
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
    low_stock: int = LOW_STOCK
    #: Site code -> that site's own threshold (``[web] low_stock_sites``).
    low_stock_sites: dict[str, int] = attrs.field(factory=dict)
    locales_dir: str | None = None

    def low_stock_at(self, site_code: str) -> int:
        """The low-stock threshold of ``site_code``: a stock *below* it is low (the pages say "< N")."""
        return self.low_stock_sites.get(site_code, self.low_stock)

    @classmethod
    def from_profile(cls, profile: Any) -> WebSettings:
        """Read the web plugin's keys of ``[web]``; the account limits in it are read by
        :class:`~ektp_core.services.accounts.LoginPolicy`."""
        web = WEB_UI.read(profile)
        return cls(
            secure_cookies=web["secure_cookies"],
            login_attempts_per_minute=web["login_attempts_per_minute"],
            low_stock=web["low_stock"],
            low_stock_sites={str(code): int(n) for code, n in web["low_stock_sites"].items()},
            locales_dir=web["locales_dir"] or None,
        )
