"""`ektp print-requeue`: a SPOILED job's card queued again from the command line, through the same
lifecycle call as the web UI's Cetak ulang (`POST /print/jobs/<id>/requeue`), with a clear refusal
for everything else. Before this command, the CLI had no way at all to queue a spoiled card again."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
import sqlalchemy as sa
from click.testing import CliRunner, Result

from ektp_core.cli import cli
from ektp_core.config import Deployment
from ektp_core.domain.model import EnrolmentState, Operator, PrintJobState, Role
from ektp_core.keys import crypto
from ektp_core.lifecycle.service import LifecycleService
from ektp_core.store.tables import audit_log
from ektp_core.testing.samples import queue_print_ready

Run = Callable[..., Result]


@pytest.fixture
def run(ektp_deployment: Deployment) -> Run:
    runner = CliRunner()

    def invoke(*args: str) -> Result:
        return runner.invoke(cli, [*args, "-d", str(ektp_deployment.root)])

    return invoke


def _account(lc: LifecycleService, username: str, role: Role, site: str, *, active: bool = True) -> None:
    lc.add_operator(
        Operator(
            username=username,
            full_name=username.title(),
            role=role,
            site_code=site,
            password_hash=crypto.hash_password("x" * 12, n=2**4),
            active=active,
        ),
        actor="admin",
    )


def _spoiled_job(lc: LifecycleService, run: Run, *, site: str, seed: int = 0) -> str:
    """A job whose card the printer took and ruined (a ribbon that ended mid-card)."""
    job_id = queue_print_ready(lc, site_code=site, seed=seed, routing_reason="dukcapil-only")
    assert run("blanks", "receive", f"BLK-{seed:06d}", "--site", site).exit_code == 0
    lc.reserve_blank(job_id, actor="op")
    lc.mark_sent(job_id, actor="op", printer="evolis-1")
    lc.mark_spoiled(job_id, actor="op", reason="evolis-1: the ribbon ended mid-card")
    return job_id


def _requeue_entries(lc: LifecycleService) -> list[dict[str, object]]:
    with lc.store.read() as conn:
        rows = conn.execute(
            sa.select(audit_log.c.actor, audit_log.c.action, audit_log.c.subject_id, audit_log.c.detail).where(
                audit_log.c.subject_kind == "print_job"
            )
        ).all()
    return [
        {"actor": r.actor, "action": r.action, "job": r.subject_id, **json.loads(r.detail)}
        for r in rows
        if "requeue_of" in json.loads(r.detail)
    ]


def test_a_spoiled_job_is_queued_again_as_the_web_ui_does(
    ektp_deployment: Deployment, ektp_service: LifecycleService, run: Run
) -> None:
    """The new job, its audit entry and the enrolment are exactly what `LifecycleService.requeue` makes
    (the web view's call): same site, routing and print day, `requeue_of` in the audit entry, by the
    account given with --as."""
    site = ektp_deployment.site_code
    _account(ektp_service, "op1", Role.OPERATOR, site)
    spoiled = _spoiled_job(ektp_service, run, site=site)

    result = run("print-requeue", spoiled, "--as", "op1")

    assert result.exit_code == 0, result.output
    [new] = ektp_service.jobs(site_code=site, states=(PrintJobState.QUEUED.value,))
    assert result.stdout.strip() == f"job {spoiled} queued again as job {new.id} at site {site}"
    old = ektp_service.jobs_by_id(spoiled)
    assert old.state is PrintJobState.SPOILED  # the spoiled job stays as it was: its blank is accounted for
    assert (new.enrolment_id, new.site_code, new.routing_reason, new.print_day) == (
        old.enrolment_id,
        old.site_code,
        old.routing_reason,
        old.print_day,
    )
    assert ektp_service.get(new.enrolment_id).state is EnrolmentState.SENT_FOR_CARD_PRINTING
    [entry] = _requeue_entries(ektp_service)
    assert (entry["actor"], entry["action"], entry["job"], entry["requeue_of"], entry["to"]) == (
        "op1",
        "print_job.queued",
        new.id,
        spoiled,
        "QUEUED",
    )
    queue = json.loads(run("print-queue", "--json").stdout)
    assert [j["id"] for j in queue] == [new.id]


def test_refusals_say_why_and_change_nothing(
    ektp_deployment: Deployment, ektp_service: LifecycleService, run: Run
) -> None:
    """Each refusal names its reason, exits 1 and leaves the jobs and the audit log as they were."""
    site = ektp_deployment.site_code
    _account(ektp_service, "op1", Role.OPERATOR, site)
    _account(ektp_service, "admin1", Role.ADMIN, site)
    _account(ektp_service, "gone", Role.SUPERVISOR, site, active=False)
    spoiled = _spoiled_job(ektp_service, run, site=site)
    queued = queue_print_ready(ektp_service, site_code=site, seed=7, routing_reason="dukcapil-only")
    before = ektp_service.jobs()

    cases = {
        ("print-requeue", "0" * 32, "--as", "op1"): f"no print job {'0' * 32}",
        ("print-requeue", queued, "--as", "op1"): f"print job {queued} is QUEUED; only a SPOILED job",
        ("print-requeue", spoiled, "--as", "nobody"): "nobody is not an account here",
        ("print-requeue", spoiled, "--as", "admin1"): "admin1 (admin): only an active operator or supervisor",
        ("print-requeue", spoiled, "--as", "gone"): "gone (supervisor, disabled)",
    }
    for args, said in cases.items():
        result = run(*args)
        assert result.exit_code == 1, (args, result.output)
        assert said in result.output and "nothing was changed" in result.output, (args, result.output)
    missing_as = run("print-requeue", spoiled)
    assert missing_as.exit_code == 2 and "--as" in missing_as.output  # who decided is always recorded

    # Twice: the second refusal comes from the lifecycle itself (the enrolment already has its new job).
    assert run("print-requeue", spoiled, "--as", "op1").exit_code == 0
    again = run("print-requeue", spoiled, "--as", "op1")
    assert again.exit_code == 1 and "already has an open print job" in again.output
    assert len(ektp_service.jobs()) == len(before) + 1
    assert len(_requeue_entries(ektp_service)) == 1


@pytest.mark.ektp_profile("kota-bengkulu")
def test_another_sites_job_is_refused(ektp_deployment: Deployment, ektp_service: LifecycleService, run: Run) -> None:
    """At the Dukcapil node, a job of a kecamatan's queue is not this node's to reprint (the web UI's
    rule: a job page serves only the node's own site)."""
    _account(ektp_service, "op1", Role.OPERATOR, ektp_deployment.site_code)
    spoiled = _spoiled_job(ektp_service, run, site="17.71.05")
    result = run("print-requeue", spoiled, "--as", "op1")
    assert result.exit_code == 1
    assert f"print job {spoiled} is in the queue of site 17.71.05, not of this node's site 17.71" in result.output
    assert ektp_service.jobs(states=(PrintJobState.QUEUED.value,)) == []


@pytest.mark.ektp_profile("kota-bengkulu", site="17.71.05")
def test_a_site_node_refuses(ektp_deployment: Deployment, ektp_service: LifecycleService, run: Run) -> None:
    """A kecamatan node prints only jobs the Dukcapil node signed: a reprint queued there would never
    print, so it is refused, as the web UI offers no button there."""
    _account(ektp_service, "op1", Role.OPERATOR, "17.71.05")
    spoiled = _spoiled_job(ektp_service, run, site="17.71.05")
    result = run("print-requeue", spoiled, "--as", "op1")
    assert result.exit_code == 1
    assert "this node serves site 17.71.05: only the Dukcapil node queues a spoiled card again" in result.output
    assert ektp_service.jobs(states=(PrintJobState.QUEUED.value,)) == []
