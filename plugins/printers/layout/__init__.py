"""The default KTP-el card layout (plugin ``card-layout``).

Implements ``ektp_render_card`` as the last resort (``trylast``): a plugin that implements the same
hook and returns a :class:`~ektp_core.devices.printers.RenderedCard` replaces this layout; one that returns
None lets it draw the card. The layout itself is in :mod:`.renderer`.
"""

from __future__ import annotations

from ektp_plugins.printers.layout.renderer import (
    CardLayout,
    CardLayoutError,
    layout_card,
    preview_image,
    render_card,
    render_card_with_layout,
)

from ektp_core import hookimpl
from ektp_core.devices.printers import CardData, RenderedCard

__all__ = [
    "CardLayout",
    "CardLayoutError",
    "ektp_render_card",
    "layout_card",
    "preview_image",
    "render_card",
    "render_card_with_layout",
]


@hookimpl(trylast=True)
def ektp_render_card(card: CardData) -> RenderedCard:
    """Lay out the KTP-el front (and the back when the profile asks for it) with the bundled fonts."""
    return render_card(card)
