"""The interface of region rules: which site prints a print-ready enrolment, and why.

Rules are plugins (``ektp_register_region_rules``); a profile picks one by name in ``[rules]``.
"""

from __future__ import annotations

from typing import Any, Protocol

import attrs

from .config import Profile
from .model import Enrolment


@attrs.frozen
class Routing:
    """The site that prints an enrolment's card and the reason, shown to operators with the job."""

    site_code: str
    reason: str


class RegionRules(Protocol):
    """What a region-rules plugin provides. Construct with the profile; ``check`` runs at load time."""

    name: str

    def __init__(self, profile: Profile, settings: dict[str, Any]) -> None: ...

    def check(self) -> list[str]:
        """Problems with the profile under these rules (a printing site without a printer...)."""
        ...

    def route(self, enrolment: Enrolment) -> Routing:
        """The site that prints this print-ready enrolment."""
        ...


def load_rules(profile: Profile, host: Any) -> RegionRules:
    """The rules the profile names (``[rules] name``), checked against the profile."""
    from .errors import ConfigError

    name = profile.rules.get("name")
    if not isinstance(name, str):
        raise ConfigError(profile.source, "rules.name", "the name of the region rules (see `ektp plugins`)", name)
    cls = host.registry("region_rules").get(name)
    settings = {k: v for k, v in profile.rules.items() if k != "name"}
    try:
        rules: RegionRules = cls(profile, settings)
    except (ValueError, TypeError) as exc:
        raise ConfigError(profile.source, "rules", f"settings that {name} accepts ({exc})") from None
    problems = rules.check()
    if problems:
        raise ConfigError(profile.source, "rules", "a profile the rules accept: " + "; ".join(problems))
    return rules
