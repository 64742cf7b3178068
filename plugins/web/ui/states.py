"""How an enrolment's state reads on a page.

At a site node SENT_FOR_ENROLLMENT starts when the operator confirms the recording, while its packet
still waits in the site's outbox; "sent" would then be untrue until the Dukcapil node's receipt
comes back. Such an enrolment reads "waiting to be sent" (the SIAK state name stays in brackets).
"""

from __future__ import annotations

from collections.abc import Iterable

from ektp_plugins.web.ui.app import _, node

from ektp_core.domain.model import EnrolmentState
from ektp_core.store.read_models import sync_status

#: The label of a confirmed recording whose packet has not left the site.
WAITING_TO_SEND = "state.waiting_to_send"


def unsent(enrolment_ids: Iterable[str]) -> frozenset[str]:
    """Of these enrolments, those whose packet waits in this site's outbox (none at the Dukcapil node,
    which has no outbox of recordings)."""
    n = node()
    if n.is_dukcapil:
        return frozenset()
    with n.lifecycle.store.read() as conn:
        return sync_status.unsent_enrolments(conn, enrolment_ids)


def state_label(state: EnrolmentState, *, waiting: bool = False) -> str:
    """The state's label; a SENT_FOR_ENROLLMENT still in the outbox (``waiting``) says so."""
    if waiting and state is EnrolmentState.SENT_FOR_ENROLLMENT:
        return _(WAITING_TO_SEND)
    return _("state." + state.value)
