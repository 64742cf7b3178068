"""A plugin that prints SPECIMEN across every card of a training office."""

import io

import attrs
from ektp_plugins.printers.layout import render_card
from PIL import Image, ImageDraw, ImageFont

from ektp_core import hookimpl


@hookimpl(tryfirst=True)
def ektp_render_card(card, deployment):
    # Training offices (profile name "latihan-...") print SPECIMEN across every card.
    if deployment is None or not deployment.profile.name.startswith("latihan-"):
        return None  # a real office: the next renderer (finally the default layout) draws it
    rendered = render_card(card)
    size = (rendered.width, rendered.height)
    where, stamp = (size[0] // 10, size[1] // 3), ImageFont.load_default(size=size[1] // 6)
    k = Image.frombytes("L", size, rendered.k)  # the black resin panel
    ImageDraw.Draw(k).text(where, "SPECIMEN", fill=255, font=stamp)
    preview = Image.open(io.BytesIO(rendered.preview_png)).convert("RGB")
    ImageDraw.Draw(preview).text(where, "SPECIMEN", fill=(0, 0, 0), font=stamp)
    png = io.BytesIO()
    preview.save(png, format="PNG")
    return attrs.evolve(rendered, k=k.tobytes(), preview_png=png.getvalue())
