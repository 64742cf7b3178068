"""Who may use which page: every view declares its roles, and a view that declares nothing is refused.

The check runs before every request (not in each view), so a new page cannot forget it; a test walks
the URL map and fails on any UI endpoint without a declaration.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, TypeVar

import attrs

from ektp_core.domain.model import Role

F = TypeVar("F", bound=Callable[..., Any])

#: Everyone who works at a desk: recording, printing, handover.
DESK = frozenset({Role.OPERATOR, Role.SUPERVISOR})
#: Decisions that need a supervisor: exceptions, UNKNOWN print jobs, adjudication.
SUPERVISORS = frozenset({Role.SUPERVISOR})
#: Administration: sites, devices, accounts.
ADMINS = frozenset({Role.ADMIN})
EVERYONE = frozenset(Role)


@attrs.frozen
class Access:
    """A view's access rule."""

    roles: frozenset[Role]
    public: bool = False
    #: Only at the Dukcapil node (adjudication, the regency's dashboard).
    dukcapil_only: bool = False
    #: Only at a site that prints cards (the profile's ``prints``): the print queue and the blanks.
    printing_site: bool = False


def allow(roles: Iterable[Role], *, dukcapil_only: bool = False, printing_site: bool = False) -> Callable[[F], F]:
    """Decorator: the view is for logged-in accounts with one of ``roles``."""
    rule = Access(frozenset(roles), dukcapil_only=dukcapil_only, printing_site=printing_site)

    def mark(view: F) -> F:
        view._ektp_access = rule  # type: ignore[attr-defined]
        return view

    return mark


def public(view: F) -> F:
    """Decorator: the view needs no login (the login page, the language switch, static files)."""
    view._ektp_access = Access(frozenset(), public=True)  # type: ignore[attr-defined]
    return view


def rule_of(view: Any) -> Access | None:
    """The view's declared rule, or None (refused)."""
    found = getattr(view, "_ektp_access", None)
    return found if isinstance(found, Access) else None
