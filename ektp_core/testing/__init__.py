"""Testing support for ektp and its plugins: sample residents, database helpers, pytest fixtures.

The fixtures are a pytest plugin (entry point ``pytest11: ektp``), so a plugin distribution that
installs ektp gets them without a conftest.
"""

from ektp_core.testing.samples import (
    issue_card,
    make_biodata,
    make_enrolment,
    make_print_ready,
    queue_print_ready,
    valid_nik,
)

__all__ = ["issue_card", "make_biodata", "make_enrolment", "make_print_ready", "queue_print_ready", "valid_nik"]
