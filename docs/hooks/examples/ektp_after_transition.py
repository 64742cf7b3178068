"""A plugin that writes every print job needing a supervisor (UNKNOWN) to a file."""

import json
import logging

from ektp_core import hookimpl

log = logging.getLogger(__name__)


@hookimpl
def ektp_after_transition(transition, deployment):
    # Print jobs that need a supervisor go to a file the office's dashboard screen watches.
    if deployment is None or transition.kind != "print_job":
        return
    if transition.to_state != "UNKNOWN":
        return
    job = transition.subject_id
    alert = {"job": job, "reason": transition.reason, "at": transition.at.isoformat()}
    try:
        with open(deployment.root / "supervisor-alerts.jsonl", "a", encoding="utf-8") as out:
            print(json.dumps(alert), file=out)
    except OSError:
        log.exception("could not write the supervisor alert for print job %s", job)
