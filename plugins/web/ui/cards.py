"""Di mana kartu saya? (where is my card?): at the desk, a NIK's cards from this node's card register,
each on one line with its place and state, and the NIK's recording still in progress, if any."""

from __future__ import annotations

from typing import Any

from ektp_plugins.web.ui import access
from ektp_plugins.web.ui.app import _, node, say
from ektp_plugins.web.ui.record_forms import open_enrolment
from flask import Blueprint, current_app, render_template, request, url_for

from ektp_core.domain import nik as nik_rules
from ektp_core.domain.model import Card, CardState

bp = Blueprint("cards", __name__)

C = CardState


def _site(code: str | None) -> str:
    """A site's name and code as the profile names it (the code alone for a site it does not know)."""
    if not code:
        return "–"
    for site in node().deployment.profile.sites:
        if site.code == code:
            return f"{site.name} ({code})"
    return code


def line(card: Card) -> str:
    """Where the card is and what it is, in one sentence of the request's language."""
    when = current_app.jinja_env.filters["when"]
    printed = {"serial": card.serial, "site": _site(card.printed_site), "at": when(card.printed_at)}
    if card.state is C.PRINTED:
        collect = card.collection_site
        if collect and collect != card.printed_site:
            return _("cards.line.printed_elsewhere", collect=_site(collect), **printed)
        return _("cards.line.printed", **printed)
    if card.state is C.SHIPPED:
        return _("cards.line.shipped", collect=_site(card.collection_site), **printed)
    if card.state is C.RECEIVED:
        return _("cards.line.received", collect=_site(card.collection_site), **printed)
    if card.state is C.ACTIVE:
        return _(
            "cards.line.active",
            serial=card.serial,
            site=_site(card.handed_over_site),
            at=when(card.handed_over_at),
        )
    ended = _(
        "cards.line.ended",
        serial=card.serial,
        state=_("state." + card.state.value),
        at=when(card.updated_at),
    )
    return f"{ended}: {say(card.reason)}" if card.reason else ended


@bp.get("/cards")
@access.allow(access.DESK)
def index() -> Any:
    """Search by NIK: every card of the resident (newest first) and the recording still open."""
    n = node()
    typed = (request.args.get("nik") or "").strip()[:40]
    problem = None
    nik = None
    rows: list[tuple[Card, str]] = []
    open_one = None
    status = 200
    if typed:
        nik = nik_rules.digits_of(typed)
        if nik is None:
            problem, status = _("handover.err.nik_format"), 400
        else:
            rows = [(c, line(c)) for c in reversed(n.lifecycle.cards_of(nik))]
            open_one = open_enrolment(n.lifecycle, nik)
    open_link = None
    if open_one is not None and (n.is_dukcapil or open_one.site_code == n.site.code):
        open_link = url_for("enrolments.detail", enrolment_id=open_one.id)
    return (
        render_template(
            "office/cards.html",
            typed=typed,
            nik=nik,
            problem=problem,
            rows=rows,
            open_one=open_one,
            open_link=open_link,
            site_name=_site,
        ),
        status,
    )
