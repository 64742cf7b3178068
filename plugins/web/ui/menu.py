"""The top menu's entries for other plugins' pages (``ektp_register_menu_entries``)."""

from __future__ import annotations

from collections.abc import Iterable

import attrs

from ektp_core.domain.model import Role


def _roles(value: Iterable[Role | str]) -> frozenset[Role]:
    return frozenset(Role(role) for role in value)


@attrs.frozen
class MenuEntry:
    """One entry of the web UI's top menu: a plugin's page, its label and who sees it.

    ``endpoint`` is the page's Flask endpoint (``"helpdesk.contacts"``); ``label_id`` and
    ``label_en`` are its label in Indonesian and in English (any other language shows the
    Indonesian one, as the UI's catalogues do); ``roles`` are the roles that see it. A role that is
    not one of :class:`~ektp_core.domain.model.Role` is refused when the entry is made.
    """

    endpoint: str
    label_id: str
    label_en: str
    roles: frozenset[Role] = attrs.field(converter=_roles)

    def label(self, language: str) -> str:
        """The label in ``language`` (English for ``en``, Indonesian otherwise)."""
        return self.label_en if language == "en" else self.label_id
