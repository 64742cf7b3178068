"""``ektp seed``: synthetic residents of the deployment's own region, taken through the real services to
a chosen state, for trials, training and load.

Each resident is recorded (biodata, ten fingers, two irises, face and signature from the simulators)
through the lifecycle and the capture service; sent (at the Dukcapil node: to the central system the
profile's ``[verification]`` names, started as ``ektp central-emulator`` when that is a local address
nobody answers on, as the walk does; at a site node: its packet put in the outbox); given its verdict;
routed by the profile's region rules and queued; printed on the printer the profile chooses for the
printing site (blanks received there when it has none left); handed over after the 1:1 finger check.
Only the residents of this run are moved: what earlier runs (or operators) left is not touched.
"""

from __future__ import annotations

import secrets
import time
import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
import click
from ektp_plugins.demo.processes import local_central
from ektp_plugins.demo.residents import PICTURES, ResidentMaker, area_code_of, biometrics, finger_template
from ektp_plugins.demo.walk import recording_site

from ektp_core.cli.options import deployment_option, fail, open_deployment
from ektp_core.config import Deployment
from ektp_core.devices.declared import choose_printer
from ektp_core.domain.model import Enrolment, EnrolmentState, Operator, PrintJobState, Role, SiteKind
from ektp_core.errors import EktpError
from ektp_core.keys import crypto
from ektp_core.lifecycle.routing import load_rules, site_snapshot
from ektp_core.lifecycle.service import LifecycleService
from ektp_core.services.accounts import AccountService
from ektp_core.services.capture import CaptureService
from ektp_core.services.printing import PrintService
from ektp_core.services.verification import VerificationService
from ektp_core.store.read_models import enrolment_search
from ektp_core.sync.outbox import Outbox

E = EnrolmentState
#: The states ``--until`` accepts, in the order a resident passes them.
UNTIL = (
    E.BIO_CAPTURED,
    E.SENT_FOR_ENROLLMENT,
    E.PRINT_READY_RECORD,
    E.SENT_FOR_CARD_PRINTING,
    E.CARD_PRINTED,
    E.CARD_ISSUED,
)
OPERATOR, SUPERVISOR = "operator.seed", "supervisor.seed"
#: Seconds the seed waits for the central system's verdicts, plus this much per resident.
VERDICT_WAIT, VERDICT_WAIT_EACH = 60.0, 2.0
UNDECIDED = {E.SENT_FOR_ENROLLMENT, E.RECEIVED_AT_CENTRAL, E.SEARCH_FAILURE_AT_CENTRAL}

Echo = Callable[[str], object]
#: The fingers tried, in turn, at the handover's 1:1 check.
HANDOVER_FINGERS = ("right_index", "left_index", "right_thumb")


@attrs.frozen
class SeedReport:
    """What a seed run made: the enrolments of this run and the state each ended in."""

    states: dict[str, EnrolmentState]
    #: Residents that stopped short of the target, with why (a duplicate verdict, a printer fault...).
    stopped: dict[str, str]

    def counts(self) -> Counter[str]:
        """How many of this run's residents are in each state."""
        return Counter(state.value for state in self.states.values())


class _Progress:
    """A line every ``every`` items or every 10 seconds, whichever comes first."""

    def __init__(self, echo: Echo, what: str, total: int, every: int) -> None:
        self.echo, self.what, self.total, self.every = echo, what, total, every
        self.started = self.last = time.monotonic()

    def tick(self, done: int) -> None:
        now = time.monotonic()
        if done == self.total or done % self.every == 0 or now - self.last >= 10:
            self.last = now
            rate = (now - self.started) / max(done, 1)
            self.echo(f"   {self.what} {done}/{self.total} ({rate:.1f} s each)")


def check_plan(deployment: Deployment, *, site_code: str | None, until: EnrolmentState) -> Any:
    """The recording site, after refusing what this node cannot do (raises :class:`EktpError`)."""
    site = recording_site(deployment, site_code)
    node = deployment.site
    if node.kind is not SiteKind.DUKCAPIL:
        if site.code != node.code:
            raise EktpError(f"a site node records its own residents only: {node.code}, not {site.code}")
        if UNTIL.index(until) > UNTIL.index(E.SENT_FOR_ENROLLMENT):
            raise EktpError(
                f"at a site node ({node.code}) the seed goes as far as SENT_FOR_ENROLLMENT (the packets wait in "
                "the outbox for `ektp sync run`); verdicts, print jobs and handovers come from the Dukcapil node"
            )
    return site


def _accounts(lc: LifecycleService, site_code: str) -> None:
    have = {account.username for account, _last_login in AccountService(lc).accounts()}
    for username, role in ((OPERATOR, Role.OPERATOR), (SUPERVISOR, Role.SUPERVISOR)):
        if username not in have:
            # A random password: the seed never logs in, and a known password would be a weak account.
            lc.add_operator(
                Operator(
                    username=username,
                    full_name=username.replace(".", " ").title(),
                    role=role,
                    site_code=site_code,
                    password_hash=crypto.hash_password(secrets.token_urlsafe(18)),
                ),
                actor="ektp-seed",
            )


def seed(
    deployment: Deployment,
    *,
    residents: int,
    site_code: str | None = None,
    until: EnrolmentState = E.SENT_FOR_CARD_PRINTING,
    seed_value: int = 1,
    pictures: str = "drawn",
    every: int = 10,
    echo: Echo = print,
) -> SeedReport:
    """Record ``residents`` new synthetic residents at the site and take each to ``until``."""
    if residents < 1:
        raise EktpError(f"--residents must be at least 1, not {residents}")
    if until not in UNTIL:
        raise EktpError(f"--until must be one of {', '.join(s.value for s in UNTIL)}, not {until}")
    if pictures not in PICTURES:
        raise EktpError(f"--pictures must be one of {', '.join(PICTURES)}, not {pictures}")
    site = check_plan(deployment, site_code=site_code, until=until)
    goal = UNTIL.index(until)
    store = deployment.open_store()
    try:
        host = deployment.plugin_host()
        lc = LifecycleService(store, host.hook, deployment)
        _accounts(lc, deployment.site.code)
        if goal >= 1 and deployment.site.kind is not SiteKind.DUKCAPIL and not Outbox.for_deployment(lc).has_joined():
            raise EktpError(
                "this site node has not joined its Dukcapil node: nothing can be sent (see `ektp sync join`); "
                "seed with --until BIO_CAPTURED, or join first"
            )
        area = area_code_of(site, deployment.profile.region_code)
        echo(
            f"Seeding {residents} resident(s) of {area} at {site.name} ({site.code}) up to {until} (seed {seed_value})"
        )
        identities = _record(lc, site.code, area, residents, seed_value, pictures, every, echo)
        ids = list(identities)
        stopped: dict[str, str] = {}
        if goal >= 1 and deployment.site.kind is not SiteKind.DUKCAPIL:
            box = Outbox.for_deployment(lc)
            for enrolment_id in ids:
                box.enqueue(enrolment_id, actor=OPERATOR)
            echo(f"   {len(ids)} packet(s) in the outbox for the Dukcapil node")
        elif goal >= 1:
            with local_central(deployment, echo=lambda text: echo(f"   {text}")):
                verification = VerificationService.for_deployment(lc, host)
                _central_path(deployment, lc, host, verification, identities, goal, every, stopped, echo)
        states = {enrolment_id: lc.get(enrolment_id).state for enrolment_id in ids}
        report = SeedReport(states, stopped)
        echo("Summary:")
        for state, count in sorted(report.counts().items(), key=lambda item: -item[1]):
            echo(f"   {count:>5}  {state}")
        for enrolment_id, why in stopped.items():
            echo(f"   stopped short: {enrolment_id}: {why}")
        with store.read() as conn:
            echo(f"   {enrolment_search.count(conn)} enrolment(s) in this node's database in all")
        return report
    finally:
        store.dispose()


def _record(
    lc: LifecycleService, site_code: str, area: str, count: int, seed_value: int, pictures: str, every: int, echo: Echo
) -> dict[str, int]:
    """Record ``count`` residents; returns enrolment id -> identity seed of their synthetic biometrics."""

    def taken(nik: str) -> bool:
        with lc.store.read() as conn:
            return enrolment_search.newest_of_nik(conn, nik) is not None

    maker = ResidentMaker(area, seed=seed_value)
    capture = CaptureService(lc)
    made: dict[str, int] = {}
    progress = _Progress(echo, "recorded", count, every)
    for n, resident in enumerate(maker.residents(taken), 1):
        enrolment = lc.record(
            Enrolment(id=uuid.uuid4().hex, site_code=site_code, operator=OPERATOR, biodata=resident.biodata)
        )
        for sample in biometrics(resident.identity, birth_year=resident.biodata.tanggal_lahir.year, pictures=pictures):
            capture.add(enrolment.id, sample, actor=OPERATOR)
        made[enrolment.id] = resident.identity
        progress.tick(n)
        if n == count:
            break
    return made


def _central_path(
    deployment: Deployment,
    lc: LifecycleService,
    host: Any,
    verification: VerificationService,
    identities: dict[str, int],
    goal: int,
    every: int,
    stopped: dict[str, str],
    echo: Echo,
) -> None:
    """Send, fetch verdicts, route, print and hand over, each step for every resident still going."""
    ids = list(identities)
    progress = _Progress(echo, "sent to the central system", len(ids), every)
    for n, enrolment_id in enumerate(ids, 1):
        verification.submit(enrolment_id, actor=OPERATOR)
        progress.tick(n)
    if goal < UNTIL.index(E.PRINT_READY_RECORD):
        return
    deadline = time.monotonic() + VERDICT_WAIT + VERDICT_WAIT_EACH * len(ids)
    waiting = list(ids)
    while waiting and time.monotonic() < deadline:
        for enrolment_id in list(waiting):
            if lc.get(enrolment_id).state is E.SENT_FOR_ENROLLMENT:
                verification.submit(enrolment_id, actor=OPERATOR)  # not reached the first time: again
            verification.fetch_verdict(enrolment_id, actor=OPERATOR, wait=1)
            if lc.get(enrolment_id).state not in UNDECIDED:
                waiting.remove(enrolment_id)
        echo(f"   verdicts: {len(ids) - len(waiting)}/{len(ids)}")
    ready = []
    for enrolment_id in ids:
        enrolment = lc.get(enrolment_id)
        if enrolment.state is E.PRINT_READY_RECORD:
            ready.append(enrolment_id)
        else:
            stopped[enrolment_id] = f"{enrolment.state}: {enrolment.reason or 'no verdict in time'}"
    if goal < UNTIL.index(E.SENT_FOR_CARD_PRINTING):
        return
    jobs = _route(deployment, lc, host, ready, prints=goal >= UNTIL.index(E.CARD_PRINTED), echo=echo)
    if goal < UNTIL.index(E.CARD_PRINTED):
        return
    printed = _print(deployment, lc, host, jobs, every, stopped, echo)
    if goal < UNTIL.index(E.CARD_ISSUED):
        verification.report_cards()
        return
    progress = _Progress(echo, "handed over", len(printed), every)
    for n, enrolment_id in enumerate(printed, 1):
        # As at the desk: another finger when one does not match (each refusal is audited).
        for position in HANDOVER_FINGERS:
            live = finger_template(identities[enrolment_id], position, impression=1)
            try:
                verification.handover(enrolment_id, position, live, operator=OPERATOR)
                stopped.pop(enrolment_id, None)
                break
            except EktpError as exc:
                stopped[enrolment_id] = f"handover refused: {exc}"
        progress.tick(n)
    verification.report_cards()


def _route(
    deployment: Deployment, lc: LifecycleService, host: Any, ready: list[str], *, prints: bool, echo: Echo
) -> dict[str, str]:
    """Queue a print job for each print-ready resident where the region rules say; returns job id ->
    enrolment id. When the cards are to be printed, a printing site with no blank left receives a box
    first (the rules would otherwise send the card elsewhere, or nowhere)."""
    rules = load_rules(deployment.profile, host)
    batch = secrets.token_hex(3).upper()
    boxes = 0
    jobs: dict[str, str] = {}
    for enrolment_id in ready:
        enrolment = lc.get(enrolment_id)
        if prints:
            planned = rules.route(enrolment, site_snapshot(deployment.profile, lc))
            if lc.ledger(planned.site_code).in_stock == 0:
                need = max(10, len(ready) - len(jobs))
                digits = planned.site_code.replace(".", "")[-10:]
                serials = [f"SEED{digits}-{batch}-{boxes:02d}{i:04d}" for i in range(need)]
                lc.receive_blanks(planned.site_code, serials, actor=SUPERVISOR, note="ektp seed delivery")
                echo(f"   received {need} blanks at {planned.site_code} ({serials[0]} .. {serials[-1]})")
                boxes += 1
        routing = rules.route(enrolment, site_snapshot(deployment.profile, lc))
        job = lc.queue_print(
            enrolment_id,
            site_code=routing.site_code,
            actor=OPERATOR,
            routing_reason=routing.reason,
            print_day=routing.print_day,
        )
        jobs[job.id] = enrolment_id
    where = Counter(lc.jobs_by_id(job_id).site_code for job_id in jobs)
    echo(f"   queued {len(jobs)} print job(s): " + ", ".join(f"{n} at {code}" for code, n in sorted(where.items())))
    return jobs


def _print(
    deployment: Deployment,
    lc: LifecycleService,
    host: Any,
    jobs: dict[str, str],
    every: int,
    stopped: dict[str, str],
    echo: Echo,
) -> list[str]:
    """Print every job on the printer the profile chooses for its site; returns the enrolments printed."""
    by_site: dict[str, list[str]] = {}
    for job_id in jobs:
        by_site.setdefault(lc.jobs_by_id(job_id).site_code, []).append(job_id)
    printing = PrintService(lc, host, deployment)
    printed: list[str] = []
    progress = _Progress(echo, "printed", len(jobs), every)
    done = 0
    for site_code, site_jobs in sorted(by_site.items()):
        try:
            setting, printer = choose_printer(deployment, host, site_code=site_code)
        except EktpError as exc:
            for job_id in site_jobs:
                stopped[jobs[job_id]] = f"not printed at {site_code}: {exc}"
            continue
        printer.open()
        try:
            for job_id in site_jobs:
                result = printing.print_job(job_id, printer, printer_name=setting.name, actor=OPERATOR)
                if result.error is None and result.job.state is PrintJobState.PRINTED:
                    printed.append(jobs[job_id])
                else:
                    stopped[jobs[job_id]] = f"print job {job_id} {result.job.state}: {result.job.reason}"
                done += 1
                progress.tick(done)
        finally:
            printer.close()
    return printed


@click.command("seed")
@deployment_option
@click.option("--residents", "count", type=int, required=True, help="How many new residents to add (1 or more).")
@click.option("--site", "site_code", default=None, help="The recording site (default: this node's own site).")
@click.option(
    "--until",
    type=click.Choice([s.value for s in UNTIL]),
    default=E.SENT_FOR_CARD_PRINTING.value,
    show_default=True,
    help="The state every resident is taken to.",
)
@click.option("--seed", "seed_value", type=int, default=1, show_default=True, help="Seed of the synthetic residents.")
@click.option(
    "--pictures",
    type=click.Choice(PICTURES),
    default="drawn",
    show_default=True,
    help="drawn: the simulators' finger and iris pictures (seconds each); quick: small stand-ins (for load).",
)
def seed_command(
    deployment_dir: Path | None, count: int, site_code: str | None, until: str, seed_value: int, pictures: str
) -> None:
    """Add synthetic residents of this deployment's region and take each to a state (trials, training, load)."""
    if count < 1:
        fail(f"--residents must be at least 1, not {count}")
    try:
        deployment = open_deployment(deployment_dir)
        seed(
            deployment,
            residents=count,
            site_code=site_code,
            until=E(until),
            seed_value=seed_value,
            pictures=pictures,
            echo=click.echo,
        )
    except EktpError as exc:
        fail(str(exc))
