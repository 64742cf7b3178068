"""SIGKILL at random moments while the Evolis driver prints to the emulated printer: no blank goes
unaccounted for, and no second card is ever made for a resident without a supervisor's decision.

The set-up is a real deployment (the ``minimal`` profile, on SQLite, or on PostgreSQL when
``EKTP_TEST_DATABASE_URL`` is set) with print-ready residents, each with a photo, a signature and a
QUEUED print job, and blanks in stock. Each trial starts a child process that does what ``ektp print``
does: it opens the deployment, calls :meth:`LifecycleService.recover_interrupted` (SENT jobs become
UNKNOWN, RESERVED ones give their blank back), opens the Evolis driver with ``emulator = true`` and
prints every QUEUED job with :meth:`PrintService.print_many`, telling the parent on stdout where it is
(each state change, each driver step, each card confirmed). The emulated printer keeps its counter and
files every card it finishes in ``emulator_state``, a folder shared by all the child runs: that folder
is the physical printer, its output tray and its counter display, and it survives the kills.

The parent kills the child with SIGKILL at a seeded random moment: some trials while it starts up or
recovers; others at a random time up to half a second after it was told to print (which lands mostly in
the mechanism wait, the longest step); the rest a random few milliseconds after a random line the child
writes (the n-th SENT or PRINTED transaction, panel transfer, sequence end, card out, blank reservation
or render of the next card on the helper thread), so kills land in the short steps too. The summary
printed at the end (``pytest -s``) counts the kills by the step the printing thread and the helper
thread were in, by the child's last line. After each kill the parent checks the invariants. Between the
child's recovery and its printing, the child waits for the parent, which acts as the office does when a
printing node restarts: a supervisor looks at the printer and resolves each UNKNOWN job, and an operator
requeues a SPOILED one (a new job id) and keeps the printer's hopper and ribbon filled. Nothing is
requeued automatically. A last child run prints the rest without being killed, and every resident must
end with exactly one card.

**Which physical card belongs to which resident.** A card carries no job id, but it does carry the
resident: the emulator files each finished card with the SHA-256 of every panel it printed, and the Y,
M, C and K panels of a resident's card are a function of their biodata, photo and signature and of the
issue date. The supervisor renders each resident's card afresh (:meth:`PrintService.card_data` and
:meth:`PrintService.render`, as the printing node did) and compares the panel hashes, so a card is
attributed to a resident, never to a job, and the rule for an UNKNOWN job is per resident: PRINTED
when the tray holds more cards of that resident than the ledger accounts for (their PRINTED jobs),
SPOILED otherwise. A card is out of the printer only once its ``.json`` is complete: the emulator writes
the ``.png`` first and the ``.json`` last, and a kill while it files a card kills the emulated mechanism
too, with the card inside (to the supervisor, a card the printer ate: SPOILED). Numbering would work as
well here (one printer, one card at a time), but the content does not depend on any order.

**The counter.** The printer counts every card it takes. A card it took and did not finish is SPOILED
in the ledger and counted by the printer: the two agree. A kill after the job was marked SENT and before
the printer took the card (encoding and transferring the panels) leaves an UNKNOWN job whose card never
entered the printer ("phantom"): the counter did not move. The supervisor here tells the cases apart by
the counter (at most one job is ever in flight) and resolves a phantom as *not taken*: its blank goes
back to stock and the job is QUEUED again, so the ledger never runs ahead of the printer. The test
checks ``printer cards = ledger cards`` whenever no job is SENT or UNKNOWN, and
``0 <= printer cards - ledger cards <= jobs in flight`` after each kill
(``test_a_card_the_printer_never_took_reconciles`` shows the phantom case without randomness).
"""

from __future__ import annotations

import collections
import contextlib
import datetime as dt
import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import attrs
import pytest
import sqlalchemy as sa
from ektp_plugins.simulators.images import sample_photo, sample_signature

from ektp_core.devices.declared import PrinterSetting, make_printer
from ektp_core.devices.printers import EVOLIS_CANVAS, PrinterStatus
from ektp_core.domain.model import BlankState as B
from ektp_core.domain.model import Capture, Operator, Role
from ektp_core.domain.model import EnrolmentState as E
from ektp_core.domain.model import PrintJobState as J
from ektp_core.keys import crypto
from ektp_core.lifecycle import audit
from ektp_core.lifecycle.service import LifecycleService
from ektp_core.services.node_init import create_deployment
from ektp_core.services.printing import PrintService
from ektp_core.store.tables import blanks, enrolments, print_jobs
from ektp_core.testing import make_enrolment, valid_nik

# ektp_durable: SQLite at synchronous=FULL here, whatever --ektp-sqlite-synchronous says.
pytestmark = pytest.mark.ektp_durable

SITE = "17.71"
PRINTER = "evolis-crash"
SUPERVISOR = "supervisor1"
SEED = int(os.environ.get("EKTP_PRINT_CRASH_SEED", "20250611"))  # another seed explores other kills
RESIDENTS = 72
MIN_TRIALS, MAX_TRIALS = 10, 80
TIME_BUDGET = 38.0  # seconds for the killed trials together; set-up, the last run and its checks come on top
MECHANISM_SECONDS = 0.05
EARLY_KILLS = 0.12  # share of trials killed while the child starts up or recovers
TIMED_KILLS = 0.4  # share killed at a random time after the child was told to print; the rest at a marker
KILL_WINDOW = (0.0, 0.5)  # seconds after the child was told to print (a card takes about 0.13 s here)
#: A marker the child writes (thread, first words) and the longest delay after it before the kill: the
#: mechanism wait and filing the card take most of the time of a card, so a timed kill lands there most
#: often; a kill shortly after a marker lands in the short steps as well.
MARKERS: list[tuple[str, tuple[str, ...], float]] = [
    ("MainThread", ("mark_sent", "begin"), 0.004),
    ("MainThread", ("mark_sent", "end"), 0.012),
    ("MainThread", ("step", "panel-Y"), 0.006),
    ("MainThread", ("step", "panel-C"), 0.006),
    ("MainThread", ("step", "panel-O"), 0.004),
    ("MainThread", ("step", "sequence-end"), 0.002),
    ("MainThread", ("step", "mechanism"), 0.11),
    ("MainThread", ("step", "done"), 0.006),
    ("MainThread", ("mark_printed", "begin"), 0.004),
    ("MainThread", ("mark_printed", "end"), 0.004),
    ("ektp-prepare", ("reserve_blank", "begin"), 0.004),
    ("ektp-prepare", ("render", "begin"), 0.04),
]

_INVERT = bytes(255 - v for v in range(256))
_THRESHOLD = bytes(255 if v >= 128 else 0 for v in range(256))


def printer_options(state: Path) -> dict[str, Any]:
    return {
        "emulator": True,
        "emulator_state": str(state),
        "emulator_mechanism_seconds": MECHANISM_SECONDS,
        "poll_interval_ms": 10,
    }


# The child: a printing node. Arguments: deployment folder, printer options as JSON.
CHILD = textwrap.dedent("""
    import json
    import sys
    import threading
    import time
    from pathlib import Path

    T0 = time.monotonic()
    LOCK = threading.Lock()


    def say(*words):
        line = " ".join(str(w) for w in words)
        with LOCK:  # one write per line: the helper thread's lines never cut into the main thread's
            sys.stdout.write(f"{time.monotonic() - T0:.3f} {threading.current_thread().name} {line}\\n")
            sys.stdout.flush()


    from ektp_core.config import load_deployment
    from ektp_core.devices.declared import PrinterSetting, make_printer
    from ektp_core.lifecycle.service import LifecycleService
    from ektp_core.services.printing import PrintService

    SITE, NAME = "17.71", "evolis-crash"
    deployment = load_deployment(Path(sys.argv[1]))
    options = json.loads(sys.argv[2])
    host = deployment.plugin_host()
    store = deployment.open_store()
    lc = LifecycleService(store, host.hook, deployment)
    service = PrintService(lc, host, deployment)
    say("started")
    recovered = lc.recover_interrupted(site_code=SITE, actor="printing-node")
    say("recovered", json.dumps(recovered, sort_keys=True))
    if sys.stdin.readline().strip() != "go":  # the office looks at the printer before it prints again
        sys.exit(0)
    say("go")


    def traced(obj, method):
        original = getattr(obj, method)

        def call(job_id, *args, **kwargs):
            say(method, "begin", job_id)
            result = original(job_id, *args, **kwargs)
            say(method, "end", job_id)
            return result

        setattr(obj, method, call)


    for method in ("reserve_blank", "release_blank", "mark_sent", "mark_printed", "mark_spoiled", "mark_unknown",
                   "return_unprinted"):
        traced(lc, method)
    render = service.render


    def traced_render(card, job):
        say("render", "begin", job.id)
        rendered = render(card, job)
        say("render", "end", job.id)
        return rendered


    service.render = traced_render
    last = [None]


    def progress(step, fraction):
        if step == "printing":  # 0.8: the sequence end goes out (the printer takes a card); 0.9: waiting
            step = "sequence-end" if fraction < 0.85 else "mechanism"
        if step != last[0]:
            last[0] = step
            say("step", step.replace(" ", "-"))


    setting = PrinterSetting(name=NAME, driver="evolis", site=SITE, options=options)
    printer = make_printer(setting, host, deployment.root)
    printer.open()
    say("opened")
    queued = [j.id for j in lc.jobs(site_code=SITE, states=("QUEUED",))]
    say("queue", len(queued))
    run = service.print_many(queued, printer, printer_name=NAME, actor="printing-node", progress=progress)
    results = getattr(run, "results", run)
    for result in results:
        say("result", result.job.id, result.job.state)
    say("finished", len(results), "of", len(queued), json.dumps(getattr(run, "stopped", None)))
    printer.close()
    store.dispose()
""")

#: The printing thread's last line -> where it was when it died.
_PHASES = {
    ("started",): "recovering",
    ("recovered",): "waiting for the office",
    ("go",): "opening the printer",
    ("opened",): "opening the printer",
    ("queue",): "preparing the first card",
    ("mark_sent", "begin"): "marking SENT",
    ("mark_sent", "end"): "encoding the panels",
    ("step", "checking-the-printer"): "USB: status before the card",
    ("step", "sequence-end"): "USB: sequence end (the printer takes the card)",
    ("step", "mechanism"): "mechanism wait (the emulator files the card)",
    ("step", "done"): "card out: reading the counter",
    ("mark_printed", "begin"): "marking PRINTED",
    ("mark_printed", "end"): "between cards",
    ("result",): "finished",
    ("finished",): "finished",
}


# --------------------------------------------------------------------------------------------------
# Set-up
# --------------------------------------------------------------------------------------------------


def queue_residents(lc: LifecycleService, count: int) -> list[str]:
    """``count`` print-ready residents with a photo and a signature, each with a QUEUED print job."""
    jobs = []
    for n in range(count):
        enrolment = make_enrolment(
            nik=valid_nik(district=f"17.71.0{1 + n % 9}", serial=1 + n // 9, birth_date=dt.date(1990, 1, 1))
        )
        face, sig = f"{enrolment.id}-face", f"{enrolment.id}-sig"
        lc.record(
            enrolment,
            [
                Capture(modality="face", position="face", device="t", quality=90, blob_ref=face),
                Capture(modality="signature", position="signature", device="t", quality=90, blob_ref=sig),
            ],
            {face: sample_photo(n, birth_year=1990), sig: sample_signature(n)},
        )
        for state in (E.SENT_FOR_ENROLLMENT, E.RECEIVED_AT_CENTRAL, E.PRINT_READY_RECORD):
            lc.transition(enrolment.id, state, actor="central")
        jobs.append(lc.queue_print(enrolment.id, site_code=SITE, actor="op", routing_reason="crash test").id)
    return jobs


def deployment_with_residents(tmp_path: Path, database_url: str, residents: int) -> tuple[Any, Any, LifecycleService]:
    deployment = create_deployment(tmp_path / "d", profile="minimal", database_url=database_url)
    host = deployment.plugin_host()
    lc = LifecycleService(deployment.open_store(), host.hook, deployment)
    lc.add_operator(
        Operator(
            username=SUPERVISOR,
            full_name="SUPERVISOR",
            role=Role.SUPERVISOR,
            site_code=SITE,
            password_hash=crypto.hash_password("rahasia-supervisor", n=2**4),
        ),
        actor="admin",
    )
    lc.receive_blanks(SITE, [f"BLK-{i:06d}" for i in range(1, 2 * residents + 1)], actor="admin")
    queue_residents(lc, residents)
    return deployment, host, lc


# --------------------------------------------------------------------------------------------------
# The child process
# --------------------------------------------------------------------------------------------------


class Child:
    """One printing node; its stdout read on a thread so the parent can time the kill."""

    def __init__(self, script: Path, deployment_dir: Path, options: dict[str, Any], stderr: Path) -> None:
        self.stderr = stderr
        with stderr.open("w") as err:  # a file, not a pipe: a chatty child never blocks on a full pipe
            self.proc = subprocess.Popen(
                [sys.executable, str(script), str(deployment_dir), json.dumps(options)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=err,
                text=True,
                env=dict(os.environ, PYTHONUNBUFFERED="1"),
            )
        self.lines: list[tuple[str, list[str]]] = []  # (thread, words)
        self.recovered = threading.Event()
        #: Set when the child wrote ``marker`` for the ``occurrence``-th time.
        self.marker: tuple[str, tuple[str, ...], int] | None = None
        self.marked = threading.Event()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            _, thread, *words = line.split() or [""]
            if not line.endswith("\n") or not words:  # a line cut short by the kill tells nothing
                continue
            self.lines.append((thread, words))
            if words[0] == "recovered":
                self.recovered.set()
            if self.marker is not None:
                prefix, first, occurrence = self.marker
                if thread.startswith(prefix) and tuple(words[: len(first)]) == first:
                    if occurrence <= 1:
                        self.marked.set()
                    self.marker = (prefix, first, occurrence - 1)
        self.recovered.set()
        self.marked.set()

    def go(self) -> None:
        assert self.proc.stdin is not None
        with contextlib.suppress(BrokenPipeError):  # it died meanwhile: the parent sees it next
            self.proc.stdin.write("go\n")
            self.proc.stdin.flush()

    def kill(self) -> str:
        """SIGKILL (unless it already ended); returns its stderr."""
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
        return self.wait(30)

    def wait(self, timeout: float) -> str:
        """Wait for the end; returns its stderr."""
        self.proc.wait(timeout=timeout)
        self.reader.join(timeout=30)
        for stream in (self.proc.stdin, self.proc.stdout):
            with contextlib.suppress(BrokenPipeError, AttributeError):
                stream.close()  # type: ignore[union-attr]
        return self.stderr.read_text("utf-8", errors="replace")

    def phase(self) -> str:
        """Where the printing thread was when the child died, from its last line."""
        main = [words for thread, words in self.lines if thread == "MainThread"]
        if not main:
            return "starting up"
        words = main[-1]
        if words[0] == "step" and words[1].startswith("panel-"):
            return "USB: transfer of the panels"
        return _PHASES.get(tuple(words[:2]), _PHASES.get(tuple(words[:1]), " ".join(words[:2])))

    def helper_phase(self) -> str | None:
        """What the helper thread (reserve and render the next card) was doing, if anything."""
        helper = [words for thread, words in self.lines if thread.startswith("ektp-prepare")]
        if not helper or helper[-1][1] != "begin":
            return None
        return "reserving a blank" if helper[-1][0] == "reserve_blank" else "rendering"

    def recovery(self) -> dict[str, list[str]]:
        """What :meth:`LifecycleService.recover_interrupted` did at the child's start (empty if it died first)."""
        for thread, words in self.lines:
            if thread == "MainThread" and words[0] == "recovered":
                return dict(json.loads(" ".join(words[1:])))
        return {}

    def confirmed(self) -> int:
        return sum(1 for _, words in self.lines if words[:2] == ["mark_printed", "end"])


# --------------------------------------------------------------------------------------------------
# The office: the printer's evidence, the supervisor, the invariants
# --------------------------------------------------------------------------------------------------


@attrs.define
class Office:
    """The parent's side: the printer on the desk, its output tray, the supervisor's decisions."""

    deployment: Any
    host: Any
    lc: LifecycleService
    state_dir: Path
    service: PrintService = attrs.field(init=False)
    #: SPOILED decisions for UNKNOWN jobs whose card the printer never took (its counter did not move).
    phantoms: int = 0
    decisions: collections.Counter[str] = attrs.field(factory=collections.Counter)
    #: Issue date -> (Y, M, C, K panel hashes) -> enrolment, filled in queue order as cards need it.
    fingerprints: dict[dt.date, dict[tuple[str, ...], str]] = attrs.field(factory=dict)
    fingerprinted: dict[dt.date, set[str]] = attrs.field(factory=dict)
    #: Card number -> enrolment, for every card that came out.
    owners: dict[int, str] = attrs.field(factory=dict)
    renders: int = 0

    def __attrs_post_init__(self) -> None:
        self.service = PrintService(self.lc, self.host, self.deployment)

    # -- the printer (only while no child has it open) -----------------------------------------------

    def printer(self) -> Any:
        setting = PrinterSetting(name=PRINTER, driver="evolis", site=SITE, options=printer_options(self.state_dir))
        return make_printer(setting, self.host, self.deployment.root)

    def printer_status(self) -> PrinterStatus:
        """The printer's own word, through the driver: its counter above all."""
        with self.printer() as printer:
            return printer.status()

    def tend_printer(self) -> None:
        """An operator fills the hopper and changes the ribbon: enough for every card still to print."""
        emulator = self.printer().emulator
        if emulator.feeder <= RESIDENTS:
            emulator.load_cards(2 * RESIDENTS)
        if emulator.ribbon_left <= RESIDENTS:
            emulator.replace_ribbon()

    def cards(self) -> dict[int, str]:
        """Every card that came out of the printer, by number, with the resident it is for."""
        folder = self.state_dir / "cards"
        for path in sorted(folder.glob("card-*.json")) if folder.exists() else []:
            try:
                meta = json.loads(path.read_text("utf-8"))
            except ValueError:
                continue  # killed while filing it: the card never came out
            number = int(meta["number"])
            if number not in self.owners:
                self.owners[number] = self._owner(meta)
        return dict(self.owners)

    def _owner(self, meta: dict[str, Any]) -> str:
        sha = meta["sha256"]
        key = (sha["y"], sha["m"], sha["c"], sha["k"])
        printed_on = dt.datetime.fromisoformat(meta["printed_at"]).astimezone(dt.UTC).date()
        # the card was rendered a moment before it came out: just after midnight, on the day before
        for day in (printed_on, printed_on - dt.timedelta(days=1)):
            index = self.fingerprints.setdefault(day, {})
            done = self.fingerprinted.setdefault(day, set())
            if key in index:
                return index[key]
            for job in self.lc.jobs(site_code=SITE):  # oldest first: the order the queue prints in
                if job.enrolment_id not in done:
                    done.add(job.enrolment_id)
                    index[self._fingerprint(job, day)] = job.enrolment_id
                    if key in index:
                        return index[key]
        raise AssertionError(f"card {meta['number']} that came out of the printer is for nobody here: {meta}")

    def _fingerprint(self, job: Any, day: dt.date) -> tuple[str, ...]:
        """The hashes of the Y, M, C and K panels the printer prints for this resident's card."""
        card = attrs.evolve(self.service.card_data(job, EVOLIS_CANVAS), issue_date=day)
        rendered = self.service.render(card, job)
        self.renders += 1
        rgb = rendered.rgb  # Y = 255 - B, M = 255 - G, C = 255 - R; the K panel prints where k >= 128
        planes = (
            rgb[2::3].translate(_INVERT),
            rgb[1::3].translate(_INVERT),
            rgb[0::3].translate(_INVERT),
            rendered.k.translate(_THRESHOLD),
        )
        return tuple(hashlib.sha256(plane).hexdigest() for plane in planes)

    # -- the supervisor and the operator -------------------------------------------------------------

    def resolve(self) -> list[str]:
        """A supervisor resolves every UNKNOWN job by the printer's evidence; an operator requeues
        what was SPOILED. Returns what was decided."""
        lc = self.lc
        unknown = lc.jobs(site_code=SITE, states=(J.UNKNOWN.value,))
        if not unknown:
            return []
        assert not lc.jobs(site_code=SITE, states=(J.SENT.value,)), "the node recovered before this"
        # print_many sends one card at a time: one crash leaves at most one job UNKNOWN
        assert len(unknown) == 1, unknown
        job = unknown[0]
        check = self.service.reconcile(PRINTER, self.printer_status())
        taken = (check.printer_cards or 0) - (check.ledger_cards - self.phantoms)
        assert taken in (0, 1), f"the counter is {taken} cards ahead of the ledger with one job in flight"
        cards = collections.Counter(self.cards().values())
        printed_before = sum(
            1 for j in lc.jobs(site_code=SITE, states=(J.PRINTED.value,)) if j.enrolment_id == job.enrolment_id
        )
        printed = cards[job.enrolment_id] > printed_before
        assert taken == 1 or not printed, "a card came out that the printer did not count"
        phantom = not printed and taken == 0
        reason = (
            "the card is in the output tray"
            if printed
            else "the counter did not move: the card never went in"
            if phantom
            else "the printer took a card and none came out"
        )
        # A card the printer never took goes back to stock and its job is QUEUED again (no requeue).
        resolved = lc.resolve_unknown(
            job.id, supervisor=SUPERVISOR, printed=printed, reason=reason, card_taken=not phantom
        )
        assert resolved.state is (J.PRINTED if printed else J.QUEUED if phantom else J.SPOILED)
        what = "printed" if printed else "phantom" if phantom else "eaten"
        self.decisions[what] += 1
        if not printed and not phantom:
            lc.requeue(job.id, actor="op")
        return [f"{job.id[:8]} {what}"]

    # -- the invariants ------------------------------------------------------------------------------

    def check(self, *, settled: bool) -> dict[str, Any]:
        """Everything that must hold while no child prints. ``settled``: no job is SENT or UNKNOWN, so
        the counter reconciles exactly (up to the phantom cards)."""
        lc = self.lc
        with lc.store.read() as conn:
            verified = audit.verify(conn)
            entries = [e for e in audit.entries(conn) if e.subject_kind == "print_job"]
            jobs = {r.id: r for r in conn.execute(sa.select(print_jobs))}
            blank_rows = {r.serial: r for r in conn.execute(sa.select(blanks))}
            enrolment_state = {r.id: r.state for r in conn.execute(sa.select(enrolments.c.id, enrolments.c.state))}
        assert verified.ok, verified

        # the blank ledger balances, at the site and in all
        for site in (SITE, None):
            ledger = lc.ledger(site)
            assert ledger.balanced, (site, ledger)
        # every reserved blank belongs to a RESERVED, SENT or UNKNOWN job, and each of those holds one
        holding = {r.blank_serial: r for r in jobs.values() if r.state in (J.RESERVED, J.SENT, J.UNKNOWN)}
        assert None not in holding
        reserved = {s for s, b in blank_rows.items() if b.state == B.RESERVED}
        assert set(holding) == reserved, set(holding) ^ reserved
        assert all(blank_rows[serial].job_id == job.id for serial, job in holding.items())
        # a printed blank was printed by one job, for one resident, and a resident has one printed blank
        printed_jobs = [r for r in jobs.values() if r.state == J.PRINTED]
        by_blank = collections.Counter(r.blank_serial for r in printed_jobs)
        assert all(n == 1 for n in by_blank.values()), by_blank
        assert set(by_blank) == {s for s, b in blank_rows.items() if b.state == B.PRINTED}
        for r in printed_jobs:
            assert (blank_rows[r.blank_serial].job_id, blank_rows[r.blank_serial].enrolment_id) == (
                r.id,
                r.enrolment_id,
            )
            assert enrolment_state[r.enrolment_id] == E.CARD_PRINTED
        printed_for = collections.Counter(r.enrolment_id for r in printed_jobs)
        assert all(n == 1 for n in printed_for.values()), printed_for

        # no job was ever SENT twice; a resident's jobs were sent once, plus once per requeue, and every
        # requeue followed a supervisor's SPOILED decision (nothing else here spoils a card)
        sent = collections.Counter(e.subject_id for e in entries if e.detail.get("to") == J.SENT.value)
        # A job is sent again only after a supervisor found its card never entered the printer.
        not_taken = collections.Counter(
            e.subject_id
            for e in entries
            if (e.detail.get("from"), e.detail.get("to"), e.actor) == (J.UNKNOWN.value, J.QUEUED.value, SUPERVISOR)
        )
        assert all(n <= 1 + not_taken[j] for j, n in sent.items()), [j for j, n in sent.items() if n > 1]
        requeues = collections.Counter(
            jobs[e.subject_id].enrolment_id
            for e in entries
            if e.detail.get("from") is None and "requeue_of" in e.detail
        )
        decided = collections.Counter(
            jobs[e.subject_id].enrolment_id
            for e in entries
            if (e.detail.get("from"), e.detail.get("to"), e.actor) == (J.UNKNOWN.value, J.SPOILED.value, SUPERVISOR)
        )
        sent_for = collections.Counter(jobs[job_id].enrolment_id for job_id in sent)
        not_taken_for = collections.Counter({jobs[j].enrolment_id: n for j, n in not_taken.items()})
        assert all(n <= 1 + requeues[eid] + not_taken_for[eid] for eid, n in sent_for.items()), (sent_for, requeues)
        assert all(requeues[eid] <= decided[eid] for eid in requeues), (requeues, decided)

        # the cards that came out of the printer: at most one per resident plus one per supervisor's
        # decision; and as this supervisor spoils only a card that did not come out, exactly the
        # PRINTED ones, plus perhaps the card of a job still in flight
        cards = self.cards()
        per_resident = collections.Counter(cards.values())
        in_flight = collections.Counter(r.enrolment_id for r in jobs.values() if r.state in (J.SENT, J.UNKNOWN))
        for eid, n in per_resident.items():
            assert n <= 1 + decided[eid], f"{n} cards came out for resident {eid} without a supervisor's decision"
            assert printed_for[eid] <= n <= printed_for[eid] + in_flight[eid] and n <= 1, (eid, n, printed_for[eid])
        missing = [eid for eid in printed_for if per_resident[eid] != 1]
        assert not missing, f"CARD_PRINTED, yet no card of theirs came out: {missing}"

        # the printer's counter against the ledger
        status = self.printer_status()
        check = self.service.reconcile(PRINTER, status)
        assert status.card_count is not None
        if check.printer_cards is None:  # never met: it never took a card
            assert status.card_count == 0 and not cards, check
        else:
            assert len(cards) <= check.printer_cards, check
            ahead = check.printer_cards - (check.ledger_cards - self.phantoms)
            assert 0 <= ahead <= sum(in_flight.values()), (check, self.phantoms, in_flight)
            if settled:
                assert not in_flight, in_flight
                assert check.printer_cards == check.ledger_cards - self.phantoms, (check, self.phantoms)
                assert check.matches is (self.phantoms == 0), (check, self.phantoms)
        return {
            "cards": len(cards),
            "printed": len(printed_jobs),
            "in flight": sum(in_flight.values()),
            "counter": status.card_count,
            "phantoms": self.phantoms,
        }


# --------------------------------------------------------------------------------------------------
# The tests
# --------------------------------------------------------------------------------------------------


def test_sigkill_while_printing_never_loses_a_blank_nor_prints_twice(tmp_path: Path, ektp_database_url: str) -> None:
    started = time.monotonic()
    deployment, host, lc = deployment_with_residents(tmp_path, ektp_database_url, RESIDENTS)
    script = tmp_path / "printing_node.py"
    script.write_text(CHILD, "utf-8")
    state = tmp_path / "printer"
    options = printer_options(state)
    office = Office(deployment, host, lc, state)
    rng = random.Random(SEED)
    phases: collections.Counter[str] = collections.Counter()
    helper_phases: collections.Counter[str] = collections.Counter()
    recovered: collections.Counter[str] = collections.Counter()
    trials = 0
    log: list[str] = []
    setup = time.monotonic() - started

    def ready(child: Child) -> None:
        """The node recovered and waits: the office resolves, checks, tends the printer, says go."""
        assert child.recovered.wait(timeout=60), "the printing node never started"
        if child.proc.poll() is None:
            log.append(f"supervisor: {office.resolve()}")
            office.check(settled=True)
            office.tend_printer()
            child.go()

    try:
        loop_start = time.monotonic()
        while trials < MAX_TRIALS and (trials < MIN_TRIALS or time.monotonic() - loop_start < TIME_BUDGET):
            if len(lc.jobs(site_code=SITE, states=(J.QUEUED.value, J.RESERVED.value))) < 3:
                break  # (RESIDENTS too small for this machine's speed: fewer trials than the budget allows)
            child = Child(script, tmp_path / "d", options, tmp_path / f"node-{trials}.stderr")
            try:
                draw = rng.random()
                if draw < EARLY_KILLS:
                    child.recovered.wait(timeout=rng.uniform(0.05, 0.8))  # importing, opening, recovering
                elif draw < EARLY_KILLS + TIMED_KILLS:
                    ready(child)
                    time.sleep(rng.uniform(*KILL_WINDOW))
                else:
                    thread, first, delay = rng.choice(MARKERS)
                    child.marker = (thread, first, rng.randint(1, 3))
                    ready(child)
                    assert child.marked.wait(timeout=30), f"the child never wrote {first}"
                    time.sleep(rng.uniform(0, delay))
            finally:
                err = child.kill()
            phase, helper = child.phase(), child.helper_phase()
            phases[phase] += 1
            helper_phases[helper or "idle"] += 1
            recovered.update({key: len(ids) for key, ids in child.recovery().items()})
            assert child.proc.returncode in (-signal.SIGKILL, 0), f"the printing node failed:\n{err}"
            counts = office.check(settled=False)
            log.append(
                f"trial {trials}: killed in {phase!r} (helper {helper}) after {child.confirmed()} cards "
                f"confirmed; last line {child.lines[-1:]}; then {counts}"
            )
            trials += 1

        # the last run: nobody kills it
        child = Child(script, tmp_path / "d", options, tmp_path / "node-last.stderr")
        ready(child)
        err = child.wait(timeout=120)
        assert child.proc.returncode == 0, err
        recovered.update({key: len(ids) for key, ids in child.recovery().items()})
        counts = office.check(settled=True)
        log.append(f"last run: {child.lines[-1:]}; then {counts}")
        jobs = lc.jobs(site_code=SITE)
        residents = {j.enrolment_id for j in jobs}
        printed = collections.Counter(j.enrolment_id for j in jobs if j.state is J.PRINTED)
        assert len(residents) == RESIDENTS
        assert all(printed[eid] == 1 for eid in residents), "not every resident got exactly one card"
        assert all(lc.get(eid).state is E.CARD_PRINTED for eid in residents)
        assert {j.state for j in jobs} <= {J.PRINTED, J.SPOILED}
        assert set(office.cards().values()) == residents and counts["cards"] == RESIDENTS
        ledger = lc.ledger(SITE)
        assert ledger.printed == RESIDENTS and ledger.reserved == 0
        assert ledger.spoiled == office.decisions["eaten"], (ledger, office.decisions)
        assert trials >= MIN_TRIALS, "the residents ran out before the minimum number of trials"
    except AssertionError as exc:
        raise AssertionError(
            f"{exc}\n\nseed {SEED}, trial {trials}, kills by phase {dict(phases)}\n" + "\n".join(log[-40:])
        ) from exc
    finally:
        lc.store.dispose()
    print(
        f"\nseed {SEED}: {trials} kills in {time.monotonic() - started:.1f} s (set-up {setup:.1f} s); "
        f"printing thread {dict(phases.most_common())}; helper thread {dict(helper_phases.most_common())}; "
        f"recovered by the next node {dict(recovered)}; supervisor {dict(office.decisions)}; "
        f"{office.renders} renders to attribute cards"
    )


def test_a_card_the_printer_never_took_reconciles(tmp_path: Path, ektp_database_url: str) -> None:
    """The process dies after marking the job SENT and before the printer took the card (the kill
    above lands there in the panel encoding and USB transfer): the counter did not move, a supervisor
    sees no card and resolves the job SPOILED, the only choice besides PRINTED; then the printer and
    the ledger should still agree."""
    deployment, host, lc = deployment_with_residents(tmp_path, ektp_database_url, 1)
    try:
        office = Office(deployment, host, lc, tmp_path / "printer")
        service = office.service
        (job,) = lc.jobs(site_code=SITE)
        with office.printer() as printer:

            def killed(card: Any, *, progress: Any = None) -> Any:
                raise KeyboardInterrupt("stands for SIGKILL: the process dies before the first byte of the card")

            printer.print_card = killed
            with pytest.raises(KeyboardInterrupt):
                service.print_job(job.id, printer, printer_name=PRINTER, actor="printing-node")
        assert lc.jobs_by_id(job.id).state is J.SENT
        assert lc.recover_interrupted(site_code=SITE)["unknown"] == [job.id]
        status = office.printer_status()
        assert status.card_count == 0 and not office.cards()  # the printer never took a card
        lc.resolve_unknown(
            job.id,
            supervisor=SUPERVISOR,
            printed=False,
            card_taken=False,
            reason="the counter did not move: the card never went in",
        )
        assert lc.ledger(SITE).balanced and lc.ledger(SITE).in_stock == lc.ledger(SITE).received
        assert lc.jobs_by_id(job.id).state is J.QUEUED
        check = service.reconcile(PRINTER, status)
        assert check.matches, f"the printer counted {check.printer_cards} cards, the ledger {check.ledger_cards}"
    finally:
        lc.store.dispose()
