"""A plugin with a page for supervisors, and its entry in the web UI's top menu."""

from ektp_plugins.web.ui import access
from ektp_plugins.web.ui.menu import MenuEntry
from flask import Blueprint

from ektp_core import hookimpl

stock = Blueprint("stock", __name__, url_prefix="/stok")


@stock.get("/")
@access.allow(access.SUPERVISORS)  # who may open the page
def overview():
    return "<h1>Stok blangko per kecamatan</h1>"


@hookimpl
def ektp_register_blueprints(registry):
    registry.add("stock", stock, description="blank stock of every kecamatan")


@hookimpl
def ektp_register_menu_entries(registry):
    entry = MenuEntry(
        "stock.overview",
        label_id="Stok blangko",
        label_en="Blank stock",
        roles=access.SUPERVISORS,  # who sees the entry
    )
    registry.add("stock", entry)
