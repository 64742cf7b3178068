"""A plugin that adds a help page to the web UI."""

from ektp_plugins.web.ui import access
from flask import Blueprint, render_template_string

from ektp_core import hookimpl

helpdesk = Blueprint("helpdesk", __name__, url_prefix="/bantuan")

CONTACTS = [
    ("Dukcapil helpdesk", "0736-21000"),
    ("Blank-card stock (province)", "0736-22000"),
]
PAGE = "<h1>Bantuan</h1><ul>{% for who, phone in contacts %}<li>{{ who }}: {{ phone }}</li>{% endfor %}</ul>"


@helpdesk.get("/")
@access.allow(access.EVERYONE)  # every view says who may use it, or it is refused
def contacts():
    return render_template_string(PAGE, contacts=CONTACTS)


@hookimpl
def ektp_register_blueprints(registry):
    registry.add("helpdesk", helpdesk, description="who to call when something goes wrong")
