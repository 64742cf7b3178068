"""A plugin that owns card pick-up notices, and lets other plugins say whom to notify."""

import pluggy

from ektp_core import hookimpl

hookspec = pluggy.HookspecMarker("ektp")


class NoticeHooks:
    """The hooks this plugin adds; other plugins implement them as they do the core's."""

    @hookspec
    def ektp_notice_recipients(self, site_code):
        """Phone numbers to text when a card printed at ``site_code`` is ready."""


@hookimpl
def ektp_add_hookspecs(plugin_manager):
    plugin_manager.add_hookspecs(NoticeHooks)


def recipients(host, site_code):
    # Every plugin's numbers for the site, each once, in a stable order.
    found = host.hook.ektp_notice_recipients(site_code=site_code)
    return sorted({number for numbers in found for number in numbers})
