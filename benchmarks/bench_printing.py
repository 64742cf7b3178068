#!/usr/bin/env python
"""Software time per card against the card printer's own mechanism time, in the same run.

Two measurements on a throw-away deployment, printing on the Evolis driver through real pyusb to the
emulated printer (``emulator = true``):

1. **Software time per card** (the emulator's mechanism time set to 0): the whole path of
   :meth:`PrintService.print_job` (checks, reserving the blank, rendering the card through the
   ``ektp_render_card`` hook, encoding the panels and transferring them over USB, the state
   transitions and the counter check), split into its parts. Target: at most 0.5 s per card.
2. **Printer utilisation with a queue** (the emulator's mechanism time set to ``--mechanism`` seconds
   per card): :meth:`PrintService.print_many` prepares the next card while the current one prints.
   Utilisation = cards x mechanism time / wall time from the first byte to the last card out.
   The real mechanism time is modelled as 16 s a card (about 225 cards an hour); the run uses a
   shorter one by default to finish quickly, measures the software gap between cards, and projects
   the utilisation at 16 s from that gap. Target: at least 99 %.

Run ``python benchmarks/bench_printing.py --help``; see benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from ektp_core.devices.declared import PrinterSetting, make_printer
from ektp_core.lifecycle.service import LifecycleService
from ektp_core.services.node_init import create_deployment
from ektp_core.services.printing import PrintService
from ektp_core.testing.samples import queue_print_ready, valid_nik

SOFTWARE_TARGET_S = 0.5
BUSY_TARGET = 0.99
REAL_MECHANISM_S = 16.0
SITE = "17.71"


class Timer:
    """Adds up named durations."""

    def __init__(self) -> None:
        self.seconds: dict[str, list[float]] = {}

    def add(self, name: str, value: float) -> None:
        self.seconds.setdefault(name, []).append(value)


def queue_jobs(lc: LifecycleService, count: int, offset: int) -> list[str]:
    """``count`` print-ready residents with photo and signature, each with a QUEUED job."""
    return [
        queue_print_ready(
            lc,
            site_code=SITE,
            seed=offset + i,
            routing_reason="benchmark",
            nik=valid_nik(
                district=f"17.71.0{1 + (offset + i) % 9}", serial=1 + (offset + i) // 9, birth_date=dt.date(1990, 1, 1)
            ),
        )
        for i in range(count)
    ]


def open_printer(deployment: Any, host: Any, mechanism: float, state: Path) -> Any:
    setting = PrinterSetting(
        name=f"evolis-bench-{uuid.uuid4().hex[:6]}",
        driver="evolis",
        site=SITE,
        options={"emulator": True, "emulator_mechanism_seconds": mechanism, "emulator_state": str(state)},
    )
    printer = make_printer(setting, host, deployment.root)
    printer.open()
    return setting, printer


def software_per_card(deployment: Any, host: Any, lc: LifecycleService, cards: int, work: Path) -> dict[str, float]:
    """Median seconds per card of each part of printing one card, mechanism time 0."""
    service = PrintService(lc, host, deployment)
    setting, printer = open_printer(deployment, host, 0.0, work / "state-software")
    timer = Timer()
    relay = host.hook
    original_render = service.render

    def timed_render(card: Any, job: Any) -> Any:
        start = time.perf_counter()
        try:
            return original_render(card, job)
        finally:
            timer.add("render (ektp_render_card)", time.perf_counter() - start)

    original_print = printer.print_card

    def timed_print(card: Any, *, progress: Any = None) -> Any:
        start = time.perf_counter()
        try:
            return original_print(card, progress=progress)
        finally:
            timer.add("panels + USB transfer + status polls", time.perf_counter() - start)

    service.render = timed_render  # type: ignore[method-assign]
    printer.print_card = timed_print
    jobs = queue_jobs(lc, cards + 2, 0)
    try:
        for index, job_id in enumerate(jobs):
            start = time.perf_counter()
            result = service.print_job(job_id, printer, printer_name=setting.name, actor="bench")
            total = time.perf_counter() - start
            if result.job.state.value != "PRINTED":
                raise SystemExit(f"benchmark card {job_id} did not print: {result.job.state} {result.job.reason}")
            if index >= 2:  # the first two warm the fonts and caches
                timer.add("total", total)
    finally:
        printer.close()
    del relay
    medians = {
        name: statistics.median(values[2:] if name != "total" else values) for name, values in timer.seconds.items()
    }
    medians["state transitions, checks, photo decryption"] = (
        medians["total"] - medians["render (ektp_render_card)"] - medians["panels + USB transfer + status polls"]
    )
    return medians


def utilisation(
    deployment: Any, host: Any, lc: LifecycleService, cards: int, mechanism: float, work: Path
) -> dict[str, float]:
    """Printer busy share over a queue of ``cards`` with ``mechanism`` seconds per card."""
    service = PrintService(lc, host, deployment)
    setting, printer = open_printer(deployment, host, mechanism, work / "state-queue")
    jobs = queue_jobs(lc, cards, 10_000)
    try:
        start = time.perf_counter()
        results = service.print_many(jobs, printer, printer_name=setting.name, actor="bench").results
        wall = time.perf_counter() - start
    finally:
        printer.close()
    printed = sum(1 for r in results if r.job.state.value == "PRINTED")
    if printed != cards:
        raise SystemExit(f"only {printed} of {cards} queued cards printed")
    busy = cards * mechanism / wall
    gap = max(0.0, (wall - cards * mechanism) / cards)
    return {
        "cards": cards,
        "mechanism_s": mechanism,
        "wall_s": wall,
        "busy": busy,
        "gap_per_card_s": gap,
        "projected_busy_at_16s": REAL_MECHANISM_S / (REAL_MECHANISM_S + gap),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cards", type=int, default=20, help="cards for the software measurement (default 20)")
    parser.add_argument("--queue", type=int, default=10, help="cards in the queue measurement (default 10)")
    parser.add_argument(
        "--mechanism",
        type=float,
        default=2.0,
        help="emulated seconds per card in the queue run (default 2.0; 16 is the real model)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args(argv)
    os.environ.pop("EKTP_DATABASE_URL", None)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="ektp-bench-print-") as tmp:
        work = Path(tmp)
        deployment = create_deployment(work / "d", profile="minimal", database_url=f"sqlite:///{work / 'db.sqlite3'}")
        host = deployment.plugin_host()
        store = deployment.open_store()
        lc = LifecycleService(store, host.hook, deployment)
        lc.receive_blanks(SITE, [f"BLK-{i:06d}" for i in range(1, args.cards + args.queue + 10)], actor="bench")
        print("... software time per card (mechanism 0 s)", file=sys.stderr)
        software = software_per_card(deployment, host, lc, args.cards, work)
        print(f"... queue of {args.queue} cards at {args.mechanism} s per card", file=sys.stderr)
        queue = utilisation(deployment, host, lc, args.queue, args.mechanism, work)
        ledger = lc.ledger(SITE)
        store.dispose()
    report = {
        "software_per_card_s": software,
        "software_vs_mechanism": software["total"] / REAL_MECHANISM_S,
        "queue": queue,
        "ledger_balanced": ledger.balanced,
        "targets": {"software_per_card_s": SOFTWARE_TARGET_S, "busy": BUSY_TARGET},
        "pass": {
            "software": software["total"] <= SOFTWARE_TARGET_S,
            # The target is stated for the real 16 s mechanism: measured directly when the run uses
            # --mechanism 16, projected from the measured software gap otherwise.
            "busy": (queue["busy"] if args.mechanism >= REAL_MECHANISM_S else queue["projected_busy_at_16s"])
            >= BUSY_TARGET,
        },
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "python": platform.python_version()},
        "elapsed_s": time.perf_counter() - started,
    }
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(
            f"ektp printing benchmark: Evolis driver over pyusb to the emulated printer, {args.cards} cards "
            "(medians after 2 warm-up cards)\n"
        )
        for name, value in software.items():
            if name != "total":
                print(f"  {name:45} {value * 1000:8.1f} ms")
        print(
            f"  {'software time per card':45} {software['total'] * 1000:8.1f} ms   target <= "
            f"{SOFTWARE_TARGET_S * 1000:.0f} ms   {'PASS' if report['pass']['software'] else 'FAIL'}"
        )
        print(f"  {'against the mechanism (16 s per card)':45} {report['software_vs_mechanism'] * 100:8.2f} %\n")
        print(
            f"queue: {queue['cards']} cards at {queue['mechanism_s']} s each: wall {queue['wall_s']:.2f} s, "
            f"printer busy {queue['busy'] * 100:.2f} %, software gap {queue['gap_per_card_s'] * 1000:.1f} ms "
            "per card"
        )
        print(
            f"  projected at 16 s per card: busy {queue['projected_busy_at_16s'] * 100:.2f} %   target >= "
            f"{BUSY_TARGET * 100:.0f} %   {'PASS' if report['pass']['busy'] else 'FAIL'}"
        )
        print(f"ledger balanced: {ledger.balanced}")
        m = report["machine"]
        print(f"machine: {m['platform']}, {m['cpus']} CPUs, Python {m['python']}; elapsed {report['elapsed_s']:.1f} s")
    if args.strict and not all(report["pass"].values()):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
