"""The blank-card (blangko) ledger of this site: the count, deliveries received, blanks spoiled, the
spoiled list and the daily stock report (also as CSV). Routes of the ``printing`` blueprint."""

from __future__ import annotations

import csv
import io
from typing import Any

from ektp_plugins.web.ui import access
from ektp_plugins.web.ui.app import _, current_user, node, say
from ektp_plugins.web.ui.blank_forms import SerialsInvalid, parse_serials, report_range
from ektp_plugins.web.ui.printing import bp
from flask import Response, flash, redirect, render_template, request, url_for

from ektp_core.domain.model import Role
from ektp_core.errors import Conflict, EktpError, IllegalTransition, NotFound
from ektp_core.store.read_models import blank_stock

#: The stock report's columns (catalogue keys), in CSV order after the site.
REPORT_COLUMNS = (
    "blanks.day",
    "blanks.opening",
    "blanks.col_received",
    "blanks.col_printed",
    "blanks.col_spoiled",
    "blanks.closing",
)


@bp.get("/blanks")
@access.allow(access.DESK, printing_site=True)
def blanks() -> Any:
    """The ledger, the forms to receive and spoil blanks, the spoiled list and the stock report."""
    n = node()
    first, last, ok = report_range(request.args.get("from"), request.args.get("to"))
    if not ok:
        flash(_("blanks.err.dates"), "warn")
    user = current_user()
    site = n.site.code
    with n.lifecycle.store.read() as conn:  # one snapshot: the ledger, the report and the list agree
        ledger = blank_stock.ledger(conn, site)
        days = blank_stock.stock_days(conn, site, first, last)
        spoiled = blank_stock.spoiled_blanks(conn, site)
    return render_template(
        "printing/blanks.html",
        ledger=ledger,
        low_stock=n.settings.low_stock_at(n.site.code),
        spoiled=spoiled,
        days=days,
        first=first,
        last=last,
        columns=REPORT_COLUMNS,
        supervisor=user is not None and user.role is Role.SUPERVISOR,
        serials=request.args.get("serials", ""),
    )


@bp.get("/blanks/report.csv")
@access.allow(access.DESK, printing_site=True)
def report() -> Any:
    """The daily stock report for the chosen dates, as a CSV download."""
    n = node()
    first, last, _ok = report_range(request.args.get("from"), request.args.get("to"))
    with n.lifecycle.store.read() as conn:
        days = blank_stock.stock_days(conn, n.site.code, first, last)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([_("blanks.csv.site"), *[_(key) for key in REPORT_COLUMNS]])
    writer.writerows(blank_stock.csv_rows(n.site.code, days))
    text = buffer.getvalue()
    response = Response("\ufeff" + text, mimetype="text/csv")  # the BOM lets spreadsheet programs read UTF-8
    response.headers["Content-Disposition"] = (
        f'attachment; filename="stok-blangko-{n.site.code}-{first.isoformat()}-{last.isoformat()}.csv"'
    )
    return response


@bp.post("/blanks/receive")
@access.allow(access.SUPERVISORS, printing_site=True)
def receive() -> Any:
    """Receive a delivery: serial ranges and single serials; all or nothing (as ``ektp blanks receive``)."""
    n = node()
    user = current_user()
    assert user is not None
    typed = request.form.get("serials", "")
    note = (request.form.get("note") or "").strip() or None
    try:
        serials = parse_serials(typed)
        count = n.lifecycle.receive_blanks(n.site.code, serials, actor=user.username, note=note)
    except SerialsInvalid as exc:
        flash(_(exc.key, **exc.values), "error")
        return redirect(url_for("printing.blanks", serials=typed[:2000]))
    except Conflict as exc:
        flash(_("blanks.err.duplicate", detail=say(exc)), "error")
        return redirect(url_for("printing.blanks", serials=typed[:2000]))
    except EktpError as exc:  # a serial of the wrong shape (the ledger's own check)
        flash(_("blanks.err.invalid", detail=say(exc)), "error")
        return redirect(url_for("printing.blanks", serials=typed[:2000]))
    ledger = n.lifecycle.ledger(n.site.code)
    flash(_("blanks.received_ok", count=count, first=min(serials), last=max(serials), stock=ledger.in_stock), "ok")
    return redirect(url_for("printing.blanks"))


@bp.post("/blanks/spoil")
@access.allow(access.DESK, printing_site=True)
def spoil() -> Any:
    """Spoil a blank in stock (damaged, misprinted outside ektp); the reason is required."""
    n = node()
    user = current_user()
    assert user is not None
    serial = (request.form.get("serial") or "").strip().upper()
    reason = (request.form.get("reason") or "").strip()
    if not serial:
        flash(_("blanks.err.serial_required"), "error")
    elif not reason:
        flash(_("blanks.err.reason_required"), "error")
    elif _blank_site(serial) != n.site.code:
        flash(_("blanks.err.unknown", serial=serial, site=n.site.code), "error")
    else:
        try:
            n.lifecycle.spoil_blank(serial, actor=user.username, reason=reason)
        except IllegalTransition as exc:
            flash(_("blanks.err.not_in_stock", serial=serial, detail=say(exc)), "error")
        except NotFound:
            flash(_("blanks.err.unknown", serial=serial, site=n.site.code), "error")
        else:
            flash(_("blanks.spoiled_ok", serial=serial), "ok")
    return redirect(url_for("printing.blanks"))


def _blank_site(serial: str) -> str | None:
    with node().lifecycle.store.read() as conn:
        return blank_stock.blank_site(conn, serial)
