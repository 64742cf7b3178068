"""A plugin with a table of its own in the profile: when and where it writes a print report."""

from ektp_core import hookimpl
from ektp_core.config.schema import Setting, Table

REPORT = Table(
    key="print_report",
    description="The daily print report.",
    settings=(
        Setting(
            key="folder",
            types=str,
            expected="a folder, relative to the deployment",
            default="reports",
            description="Where each day's report is written.",
        ),
        Setting(
            key="hour",
            types=int,
            expected="an hour of the day, 0-23",
            default=17,
            check=lambda hour: 0 <= hour <= 23,
            description="When the day's report is written.",
        ),
    ),
)


@hookimpl
def ektp_declare_profile_tables(tables):
    tables.add(REPORT)


def report_settings(profile):
    # The same checks, and the same errors, as when the profile was loaded.
    return REPORT.read(profile)
