"""The web plugin's hooks: pages and menu entries that other plugins add to the operators' web UI.

The web plugin adds these hookspecs to each plugin host itself (``ektp_add_hookspecs``), so the
core's spec stays free of Flask. They are registration hooks like the core's: each fills a
registry, typed by the :class:`~ektp_core.registry.RegistryKind` declared beside it, and the web
UI reads the registries once, when its app is created. The sections of each docstring are those of
:mod:`ektp_core.hookspecs`; docs/hooks.md is generated from both modules.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

from ektp_core.registry import RegistryKind

if TYPE_CHECKING:
    from ektp_plugins.web.ui.menu import MenuEntry
    from flask import Blueprint

    from ektp_core.registry import Registry

hookspec = pluggy.HookspecMarker("ektp")

#: The web plugin's registries.
BLUEPRINTS: RegistryKind[Blueprint] = RegistryKind("blueprints", "ektp_register_blueprints", "blueprint")
MENU_ENTRIES: RegistryKind[MenuEntry] = RegistryKind("menu_entries", "ektp_register_menu_entries", "menu entry")

# --------------------------------------------------------------------------------------------------
# Registration: called once per web app, when it is created. Each gets a registry.
# --------------------------------------------------------------------------------------------------


@hookspec
def ektp_register_blueprints(registry: Registry[Blueprint]) -> None:
    """Add web pages: Flask blueprints that the web UI serves after its own pages.

    Called:
        When a plugin host first builds its ``blueprints`` registry: once, when the web UI's app
        is created (``ektp serve``, which ``ektp demo`` also starts for each of its nodes).

    Args:
        registry: the ``blueprints`` :class:`~ektp_core.registry.Registry`. Add each Flask
            blueprint with ``registry.add(name, blueprint)``; the web plugin registers every
            blueprint in the node's app. Each view must be decorated with
            ``ektp_plugins.web.ui.access.allow(roles)`` (or ``public``): the app checks the login,
            the role and the CSRF token before the view runs, and refuses a view without a rule.
            To show a page in the top menu, add a menu entry for it (``ektp_register_menu_entries``).

    Returns:
        Nothing: what counts is what the implementation adds to ``registry``.

    Results:
        Every implementation is called, one plugin at a time.

    Example:
        docs/hooks/examples/ektp_register_blueprints.py
    """


@hookspec
def ektp_register_menu_entries(registry: Registry[MenuEntry]) -> None:
    """Add entries to the web UI's top menu, for pages a plugin serves.

    Called:
        When a plugin host first builds its ``menu_entries`` registry: once, when the web UI's app
        is created, after every blueprint is registered.

    Args:
        registry: the ``menu_entries`` :class:`~ektp_core.registry.Registry`. Add each entry with
            ``registry.add(name, MenuEntry(endpoint, label_id, label_en, roles))``
            (:class:`ektp_plugins.web.ui.menu.MenuEntry`): the Flask endpoint of the page
            (``"helpdesk.contacts"``), its label in Indonesian and in English, and the roles
            (:class:`~ektp_core.domain.model.Role`) that see it. An account sees the entry when its
            role is one of ``roles`` and the page's access rule lets it in.

    Returns:
        Nothing: what counts is what the implementation adds to ``registry``.

    Results:
        Every implementation is called, one plugin at a time. The entries follow the web UI's own,
        sorted by name. An entry whose endpoint no blueprint serves is left out of the menu and
        logged with the plugin's name.

    Example:
        docs/hooks/examples/ektp_register_menu_entries.py
    """
