"""Administration: the sites (and joining them to the Dukcapil node), the devices, the active profile
and its plugins, and the audit log. Accounts and roles are in :mod:`.admin_accounts` (same blueprint).
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

from ektp_plugins.web.ui import access
from ektp_plugins.web.ui.app import _, current_user, node, say
from flask import Blueprint, abort, current_app, render_template, request

from ektp_core.devices.declared import PrinterSetting, make_printer, make_scanner, printer_settings, scanner_settings
from ektp_core.devices.region_rules import weekday_name
from ektp_core.domain.model import SiteKind
from ektp_core.lifecycle import audit
from ektp_core.store.read_models import sync_status

bp = Blueprint("admin", __name__)

#: The audit page shows this many entries unless asked for another number (at most AUDIT_MAX).
AUDIT_DEFAULT = 100
AUDIT_MAX = 1000


def _joined() -> dict[str, sync_status.JoinedSite]:
    """The sites that registered their key here (only the Dukcapil node keeps site keys)."""
    with node().lifecycle.store.read() as conn:
        return sync_status.joined_sites(conn)


def _rule_settings(profile: Any) -> list[tuple[str, list[str]]]:
    """The rules' settings as lines for people: a table of kecamatan print days becomes one line per
    kecamatan with its name and the day in the page's language (never the raw TOML table)."""
    names = {s.code: s.name for s in profile.sites}
    shown: list[tuple[str, list[str]]] = []
    for key, value in profile.rules.items():
        if key == "name":
            continue
        if isinstance(value, dict):
            lines = []
            for code, item in value.items():
                try:
                    item_text = _("day." + weekday_name(str(item)))
                except ValueError:
                    item_text = str(item)
                where = f"{code} ({names[code]})" if code in names else str(code)
                lines.append(f"{where}: {item_text}")
            shown.append((key, lines))
        else:
            shown.append((key, [str(value)]))
    return shown


def _overview(**shown: Any) -> str:
    n = node()
    profile = n.deployment.profile
    return render_template(
        "admin/index.html",
        profile=profile,
        sites=profile.sites,
        joined=_joined() if n.is_dukcapil else {},
        plugins=n.host.plugins(include_inactive=True),
        rules=dict(profile.rules),
        rule_settings=_rule_settings(profile),
        dukcapil=SiteKind.DUKCAPIL,
        **{"join_code": None, "join_site": None, **shown},
    )


@bp.get("/admin")
@access.allow(access.ADMINS)
def index() -> Any:
    """Sites (joined or not), the active profile and the plugins (loaded, failed, blocked)."""
    return _overview()


@bp.post("/admin/sites/<site_code>/join-code")
@access.allow(access.ADMINS, dukcapil_only=True)
def join_code(site_code: str) -> Any:
    """Make a one-time join code for a site; it is shown on this page once (only its hash is kept)."""
    site = next((s for s in node().deployment.profile.sites if s.code == site_code), None)
    if site is None or site.kind is SiteKind.DUKCAPIL:
        abort(404)
    user = current_user()
    assert user is not None  # the guard let only a logged-in administrator through
    code = current_app.extensions["ektp_inbox"].new_join_code(site_code, actor=user.username)
    return _overview(join_code=code, join_site=site)


def _devices() -> list[tuple[str, PrinterSetting, bool]]:
    """(kind, setting, here) for every printer and scanner of the profile; ``here``: attached to this
    node's site (or to any site), so this machine can check it."""
    n = node()
    profile, site = n.deployment.profile, n.site.code
    found = [("printer", s) for s in printer_settings(profile)] + [("scanner", s) for s in scanner_settings(profile)]
    return [(kind, s, s.site in (None, site)) for kind, s in found if n.is_dukcapil or s.site in (None, site)]


def check_device(kind: str, setting: PrinterSetting) -> dict[str, Any]:
    """Open the device, ask its status, close it; any failure is the device's state, never a 500."""
    n = node()
    make = make_printer if kind == "printer" else make_scanner
    started = time.monotonic()
    result: dict[str, Any] = {"state": "ready", "message": ""}
    try:
        device = make(setting, n.host, n.deployment.root)
        device.open()
        try:
            status = device.status()
        finally:
            device.close()
        state = getattr(status, "state", None)
        result["state"] = str(getattr(state, "value", state) or "ready")
        result["message"] = say(getattr(status, "message", "") or getattr(status, "detail", "") or "")
    except Exception as exc:  # a driver may raise anything: unplugged, permission, bad options
        result.update(state="error", message=say(exc) or type(exc).__name__)
    result["seconds"] = round(time.monotonic() - started, 2)
    result["at"] = dt.datetime.now(dt.UTC)
    return result


@bp.route("/admin/devices", methods=["GET", "POST"])
@access.allow(access.ADMINS)
def devices() -> Any:
    """The profile's printers and scanners; POST ``kind`` and ``name`` checks one now."""
    devices = _devices()
    checked: dict[str, Any] = {}
    status = 200
    if request.method == "POST":
        kind, name = request.form.get("kind", ""), request.form.get("name", "")
        match = next(((k, s) for k, s, here in devices if k == kind and s.name == name and here), None)
        if match is None:
            status = 404
            checked = {"kind": kind, "name": name, "state": "unknown", "message": ""}
        else:
            checked = {"kind": kind, "name": name, **check_device(*match)}
    return render_template("admin/devices.html", devices=devices, checked=checked), status


def _audit_entries(action: str, limit: int) -> list[audit.AuditEntry]:
    """The newest ``limit`` entries, optionally of one action or (ending in ``.``) a family of them."""
    with node().lifecycle.store.read() as conn:
        return audit.newest(conn, limit=limit, action=action)


@bp.route("/admin/audit", methods=["GET", "POST"])
@access.allow(access.ADMINS)
def audit_page() -> Any:
    """The newest audit entries (filter by action); POST checks the whole hash chain."""
    action = request.values.get("action", "").strip()[:64]
    try:
        limit = max(1, min(AUDIT_MAX, int(request.values.get("limit") or AUDIT_DEFAULT)))
    except ValueError:
        limit = AUDIT_DEFAULT
    verified = None
    if request.method == "POST":
        # The whole chain is read: on a large log this takes a while, so it runs only when asked.
        with node().lifecycle.store.read() as conn:
            verified = audit.verify(conn)
    return render_template(
        "admin/audit.html", entries=_audit_entries(action, limit), action=action, limit=limit, verified=verified
    )


from ektp_plugins.web.ui import admin_accounts  # noqa: E402,F401  (its routes join this blueprint)
