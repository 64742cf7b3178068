"""The dashboard: the site's day at a glance (and, at the Dukcapil node, the regency's)."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

from ektp_plugins.web.ui import access
from ektp_plugins.web.ui.app import _, current_user, node, say
from ektp_plugins.web.ui.charts import grouped_bars
from ektp_plugins.web.ui.states import WAITING_TO_SEND
from flask import Blueprint, current_app, g, jsonify, redirect, render_template, request, url_for

from ektp_core.devices.declared import make_printer, make_scanner, printer_settings, scanner_settings
from ektp_core.domain.model import EnrolmentState
from ektp_core.errors import EktpError
from ektp_core.messages import Message
from ektp_core.store.read_models import blank_stock, sync_status
from ektp_core.store.read_models.dashboard import dashboard_figures

bp = Blueprint("dashboard", __name__)
#: Device status is asked at most this often (opening a USB printer takes time; pages must not wait).
DEVICE_STATUS_TTL = 20.0


@bp.get("/")
@access.allow(access.EVERYONE)
def home() -> Any:
    """The start page is the dashboard."""
    return redirect(url_for("dashboard.index"))


@bp.get("/dashboard")
@access.allow(access.EVERYONE)
def index() -> Any:
    """Figures of this site, or of the whole regency at the Dukcapil node (``?scope=site`` for the office)."""
    n = node()
    regency = n.is_dukcapil and request.args.get("scope") != "site"
    site_code = None if regency else n.site.code
    # A site that does not print has no blanks: no stock line (and no low-stock warning) for it.
    if regency:
        printing_sites = [s.code for s in n.deployment.profile.sites if s.prints]
    else:
        printing_sites = [n.site.code] if n.prints else []
    as_of = dt.datetime.now().astimezone()
    with n.lifecycle.store.read() as conn:  # one snapshot: every figure of the page agrees
        data = dashboard_figures(conn, site_code, today=as_of.date())
        ledgers = {code: blank_stock.ledger(conn, code) for code in printing_sites}
    labels = [d.strftime("%d-%m") for d in data.days]  # day-month, as every date of the UI
    per_day = grouped_bars(
        labels,
        [(_("dash.recorded"), data.recorded_per_day), (_("dash.printed"), data.printed_per_day)],
        title=_("dash.per_day"),
    )
    sites = {s.code: s for s in n.deployment.profile.sites}
    per_site = None
    if regency and data.per_site:
        codes = list(data.per_site)
        per_site = grouped_bars(
            [c.rsplit(".", 1)[-1] for c in codes],
            [
                (_("dash.recorded"), [data.per_site[c][0] for c in codes]),
                (_("dash.printed"), [data.per_site[c][1] for c in codes]),
            ],
            title=_("dash.per_site"),
        )
    states = [(state.value, data.by_state.get(state.value, 0)) for state in EnrolmentState]
    if not n.is_dukcapil:
        # At a site, SENT_FOR_ENROLLMENT begins at the desk: those still in the outbox are not "sent".
        with n.lifecycle.store.read() as conn:
            waiting = min(sync_status.unsent_enrolment_count(conn), data.by_state.get("SENT_FOR_ENROLLMENT", 0))
        sent = EnrolmentState.SENT_FOR_ENROLLMENT.value
        states = [(s, c - waiting if s == sent else c) for s, c in states]
        states.insert([s for s, _c in states].index(sent), (WAITING_TO_SEND, waiting))
    return render_template(
        "dashboard.html",
        data=data,
        regency=regency,
        per_day=per_day,
        per_site=per_site,
        ledgers=ledgers,
        sites=sites,
        states=states,
        low_stock={code: n.settings.low_stock_at(code) for code in printing_sites},
        as_of=as_of,
        reports=_reports_link(),
    )


def _reports_link() -> str | None:
    """The report page (the bundled plugin ``reports``) for the accounts it serves; the top menu has no
    room left for it at 1280 px."""
    user = current_user()
    if "reports.page" not in current_app.view_functions or user is None:
        return None
    return url_for("reports.page") if user.role in access.SUPERVISORS | access.ADMINS else None


@bp.get("/dashboard/devices")
@access.allow(access.EVERYONE)
def devices() -> Any:
    """The status of this site's printers and scanners as JSON (the dashboard fetches it after loading)."""
    n = node()
    cached = n.tasks.get("device-status")
    if cached is not None and time.monotonic() - cached[0] < DEVICE_STATUS_TTL:
        return jsonify([_shown(entry) for entry in cached[1]])
    found = []
    profile, root, site = n.deployment.profile, n.deployment.root, n.site.code
    for setting in printer_settings(profile):
        if setting.site not in (None, site):
            continue
        found.append(_status("printer", setting.name, setting.driver, lambda s=setting: make_printer(s, n.host, root)))
    for setting in scanner_settings(profile):
        if setting.site not in (None, site):
            continue
        found.append(_status("scanner", setting.name, setting.driver, lambda s=setting: make_scanner(s, n.host, root)))
    n.tasks["device-status"] = (time.monotonic(), found)
    return jsonify([_shown(entry) for entry in found])


def _shown(entry: dict[str, Any]) -> dict[str, Any]:
    # The cache keeps what the device said; each request says it in its own language.
    state = str(entry["state"])
    label = node().catalogues.lookup(g.get("lang", "id"), "term." + state.upper()) or state
    return {**{k: v for k, v in entry.items() if k != "said"}, "label": label, "message": say(entry["said"])}


def _status(kind: str, name: str, driver: str, make: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {"kind": kind, "name": name, "driver": driver}
    try:
        device = make()
        device.open()
        try:
            status = device.status()
        finally:
            device.close()
    except Exception as exc:  # any driver's failure is shown as the device's state, never as a 500
        entry.update(state="error", said=exc.as_message() if isinstance(exc, EktpError) else Message("error.general"))
        return entry
    state = getattr(status, "state", None)
    entry["state"] = str(getattr(state, "value", state) or "ready")
    entry["said"] = getattr(status, "message", "") or getattr(status, "detail", "") or ""
    return entry
