"""``ektp report``: a day's or a month's report of one site or the whole regency, as a file."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import click
from ektp_plugins.reports.export import FORMATS, render

from ektp_core.cli.options import deployment_option, fail, services
from ektp_core.messages import default_catalogues
from ektp_core.store.read_models.reports import Period, build


def report_period(month: str | None, day: str | None) -> Period:
    """``--month YYYY-MM`` or ``--day YYYY-MM-DD`` (exactly one), in the node's local days."""
    if (month is None) == (day is None):
        raise ValueError("give either --month YYYY-MM or --day YYYY-MM-DD")
    if month is not None:
        return Period.parse_month(month)
    try:
        return Period.day(dt.date.fromisoformat(day or ""))
    except ValueError:
        raise ValueError(f"expected a day YYYY-MM-DD, got {day!r}") from None


def printing_sites(deployment: Any) -> list[str]:
    """The profile's printing sites: their blank figures count even in a month without work."""
    return [s.code for s in deployment.profile.sites if s.prints]


@click.command("report")
@click.option("--month", default=None, help="The month, YYYY-MM.")
@click.option("--day", default=None, help="Or one day, YYYY-MM-DD.")
@click.option("--site", "site_code", default=None, help="One site's code (default: every site, and the regency).")
@click.option("--format", "fmt", type=click.Choice(sorted(FORMATS)), default="csv", show_default=True)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True, help="The file to write.")
@click.option("--lang", type=click.Choice(["id", "en"]), default="id", show_default=True, help="XLSX and PDF labels.")
@deployment_option
def report_command(
    month: str | None,
    day: str | None,
    site_code: str | None,
    fmt: str,
    out: Path,
    lang: str,
    deployment_dir: Path | None,
) -> None:
    """Write the report of a month or a day: recordings by service type, verdicts, prints, handovers,
    cancellations, the blanks (received, used, spoiled, in stock) and the cards waiting for collection,
    per site and for the regency (CSV, XLSX or PDF)."""
    try:
        period = report_period(month, day)
    except ValueError as exc:
        fail(str(exc))
    with services(deployment_dir) as (deployment, _host, lifecycle):
        names = {s.code: s.name for s in deployment.profile.sites}
        if site_code is not None and site_code not in names:
            fail(f"site {site_code!r} is not in the profile (one of {sorted(names)})")
        with lifecycle.store.read() as conn:
            report = build(conn, period, site_code=site_code, printing_sites=printing_sites(deployment))
    catalogues = default_catalogues()
    data = render(report, fmt, lambda code, **values: catalogues.text(lang, code, **values), site_names=names)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".part")
    tmp.write_bytes(data)
    tmp.replace(out)  # never a half-written report under the name asked for
    total = report.totals
    click.echo(
        f"{out}: {period.label}, {len(report.sites)} site(s): {total['recorded']} recorded, "
        f"{total['printed']} printed, {total['handed_over']} handed over, {total['waiting']} waiting"
    )
