"""The operator guide served by the node itself (``/panduan``), and each desk page's link to its section.

A desk has no internet as a rule, so the guide and its screenshots come from the node, in the UI's
layout, for every logged-in account. Every page a desk works in shows a "Bantuan" link to its own
section of the guide: :func:`section_of` decides which, from the page's endpoint (and, for a
recording step, its modality), and base.html shows the link wherever there is one.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ektp_plugins.web.ui import access
from ektp_plugins.web.ui.app import current_user
from ektp_plugins.web.ui.guide_render import SCREENSHOTS, load_guide
from flask import Blueprint, abort, render_template, request, send_from_directory, url_for
from markupsafe import Markup

bp = Blueprint("guide", __name__)

#: The guide's section of a desk page, by endpoint; the pages a form post shows again included.
PAGE_SECTIONS: Mapping[str, str] = {
    "record.new": "biodata",
    "record.create": "biodata",
    "record.summary": "ringkasan",
    "record.confirm": "ringkasan",
    "printing.progress": "mencetak",
    "printing.blanks": "blangko",
    "printing.receive": "blangko",
    "printing.spoil": "blangko",
    "enrolments.correct_form": "koreksi-dan-pembatalan",
    "enrolments.correct": "koreksi-dan-pembatalan",
    "admin.locked": "masuk-dan-keluar",
    "admin.unlock": "masuk-dan-keluar",
}
#: A recording step's section, by the modality in its URL.
STEP_SECTIONS: Mapping[str, str] = {
    "face": "pas-foto",
    "finger": "sidik-jari",
    "iris": "iris-mata",
    "signature": "tanda-tangan",
}
#: Otherwise the section of the page's blueprint (its menu entry).
BLUEPRINT_SECTIONS: Mapping[str, str] = {
    "dashboard": "dasbor",
    "record": "perekaman",
    "enrolments": "data-rekam",
    "printing": "antrean-cetak",
    "handover": "penyerahan",
    "replacement": "layanan-penggantian",
    "cards": "di-mana-kartu-saya",
    "adjudication": "adjudikasi",
    "admin": "administrasi",
    # The papers plugin's pages (the PDF of a paper, the public check page /cek).
    "papers": "surat",
    # The reports plugin's page and its downloads.
    "reports": "laporan",
}


def section_of(endpoint: str, view_args: Mapping[str, Any] | None = None) -> str | None:
    """The guide's anchor for a page, or None (the login page, the guide, another plugin's page)."""
    blueprint = endpoint.partition(".")[0]
    modality = (view_args or {}).get("modality")
    if blueprint == "record" and isinstance(modality, str) and modality in STEP_SECTIONS:
        return STEP_SECTIONS[modality]
    return PAGE_SECTIONS.get(endpoint) or BLUEPRINT_SECTIONS.get(blueprint)


def help_link() -> str | None:
    """The current page's link into the guide, for a logged-in account; None where there is none."""
    if current_user() is None or request.endpoint is None:
        return None
    section = section_of(request.endpoint, request.view_args)
    return url_for("guide.page", _anchor=section) if section else None


@bp.app_context_processor
def _help_link() -> dict[str, Any]:
    # Every template of the app (base.html shows the link), not only this blueprint's.
    return {"help_link": help_link}


def _screenshot_url(name: str) -> str:
    return url_for("guide.screenshot", name=name)


@bp.get("/panduan")
@access.allow(access.EVERYONE)
def page() -> Any:
    """The whole guide, in Indonesian whatever the UI's language (there is no English guide)."""
    guide = load_guide(_screenshot_url)
    # The HTML is the renderer's own output over the packaged source (raw HTML in it is escaped).
    return render_template("guide.html", title=guide.title, body=Markup(guide.html))


@bp.get("/panduan/screenshots/<name>")
@access.allow(access.EVERYONE)
def screenshot(name: str) -> Any:
    """One of the guide's screenshots (PNG only; send_from_directory refuses a path out of the folder)."""
    if not name.endswith(".png"):
        abort(404)
    return send_from_directory(SCREENSHOTS, name, mimetype="image/png", max_age=3600)
