"""The report page ``/laporan``: a month of one site or the regency, with its charts, per operator,
and downloads (CSV, XLSX, PDF). For supervisors and administrators; at a site node only that site's."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from ektp_plugins.reports.commands import printing_sites
from ektp_plugins.reports.export import FORMATS, render
from ektp_plugins.web.ui import access
from ektp_plugins.web.ui.app import _, node
from ektp_plugins.web.ui.charts import grouped_bars
from flask import Blueprint, Response, abort, flash, render_template, request

from ektp_core.store.read_models.reports import SITE_FIGURES, Period, Report, build

bp = Blueprint("reports", __name__, template_folder=str(Path(__file__).with_name("templates")))

#: Management reports: supervisors and the regency's administrators.
READERS = access.SUPERVISORS | access.ADMINS


def _site_names() -> dict[str, str]:
    return {s.code: s.name for s in node().lifecycle.deployment.profile.sites}


def _choice() -> tuple[Period, str | None, str]:
    """The month and site asked for (this month and, at a site node, its own site by default)."""
    n = node()
    month = request.args.get("month") or dt.date.today().strftime("%Y-%m")
    try:
        period = Period.parse_month(month)
    except ValueError:
        flash(_("report.page.bad_month", month=month[:20]), "warn")
        month = dt.date.today().strftime("%Y-%m")
        period = Period.parse_month(month)
    site: str | None = request.args.get("site") or None
    if not n.is_dukcapil:
        site = n.site.code  # a site's supervisor reports on that site only
    elif site is not None and site not in _site_names():
        flash(_("report.page.bad_site", site=site[:40]), "warn")
        site = None
    return period, site, month


def _report(period: Period, site: str | None) -> Report:
    n = node()
    with n.lifecycle.store.read() as conn:
        return build(conn, period, site_code=site, printing_sites=printing_sites(n.lifecycle.deployment))


@bp.get("/laporan")
@access.allow(READERS)
def page() -> Any:
    """The month's figures per site and per operator, with two charts."""
    period, site, month = _choice()
    report = _report(period, site)
    names = _site_names()
    labels = [s.site for s in report.sites]
    charts = [
        grouped_bars(
            labels,
            [
                (_("report.figure.recorded"), [s["recorded"] for s in report.sites]),
                (_("report.figure.printed"), [s["printed"] for s in report.sites]),
            ],
            title=_("report.page.chart"),
        ),
        grouped_bars(
            labels,
            [
                (_("report.figure.handed_over"), [s["handed_over"] for s in report.sites]),
                (_("report.figure.waiting"), [s["waiting"] for s in report.sites]),
            ],
            title=_("report.figure.handed_over") + " / " + _("report.figure.waiting"),
        ),
    ]
    return render_template(
        "reports/page.html",
        report=report,
        figures=SITE_FIGURES,
        totals=report.totals,
        names=names,
        month=month,
        site=site,
        sites=sorted(names.items()) if node().is_dukcapil else [],
        charts=charts,
        formats=sorted(FORMATS),
        busy=any(report.totals.values()),
    )


@bp.get("/laporan/unduh")
@access.allow(READERS)
def download() -> Any:
    """The same report as a file."""
    fmt = request.args.get("format", "csv")
    if fmt not in FORMATS:
        abort(404)
    period, site, _month = _choice()
    report = _report(period, site)
    data = render(report, fmt, _, site_names=_site_names())
    response = Response(data, mimetype=FORMATS[fmt])
    name = f"laporan-{period.label}-{site or 'semua'}.{fmt}"
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    return response
