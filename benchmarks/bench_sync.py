#!/usr/bin/env python
"""Sending a site's backlog of enrolments to the Dukcapil node over loopback, against a baseline that
POSTs the same bytes without the protocol, in the same run (issue 6).

Setup (before any timing: building packets is recording-time work, not sending):

* a **Dukcapil node** (profile ``kota-bengkulu``, site ``17.71``, SQLite in a temp dir) served by
  ``ektp serve`` in its own process; a **site node** (``17.71.05``, SQLite in a temp dir) joins it
  over HTTP with a one-time join code, as ``ektp sync join`` does;
* ``--count`` enrolments (default 10,000) recorded at the site and put in its outbox. Each is an
  enrolment as ektp records it: ten finger images made by ``ektp_plugins.simulators.synthetic.finger``,
  fitted to the U.are.U 4000B's 384 x 290 frame and PNG-encoded at 500 dpi like the reader's driver
  (about 85 KB each), each with its ISO/IEC 19794-2 template from the synthetic minutiae; two iris
  PNGs (``synthetic.iris``, 640 x 480, about 165 KB each); a face JPEG (``synthetic.face``, quality
  85, about 33 KB) and a signature PNG. The images are real synthetic pictures, generated once
  (``FINGER_SETS`` distinct hands, ``PORTRAITS`` distinct faces/irises/signatures) and reused round-robin:
  every packet is still distinct bytes (its own biodata, ids, ephemeral key, nonce and signature),
  and sealing makes the bytes incompressible either way. Recording uses
  :meth:`LifecycleService.record` with all captures in one transaction (the same call the Dukcapil
  node's inbox makes) instead of fifteen :meth:`CaptureService.add` calls, then
  :meth:`Outbox.enqueue` builds, seals and signs the packet exactly as at a real site.

Timed, in the same run and on the same backlog:

* **protocol**: :meth:`Outbox.send` with :class:`HttpTransport` to the served Dukcapil node: per
  packet the site reads it from its outbox, POSTs it, the node peeks, looks up the site key, verifies
  the signature, unseals the biometrics, stores the enrolment with its captures encrypted at rest and
  its inbox row in one transaction, signs the receipt; the site checks the receipt and marks the
  packet sent (with an audit entry) in one transaction.
* **baseline**: the same packet bytes, read from the same site outbox in the same order, POSTed one
  by one with the same client code (``HttpTransport.send_packet``: urllib, a new connection a
  request, like the protocol) to a minimal Flask app served the same way (werkzeug threaded
  ``make_server``, its own process) that stores each body as one row of its own SQLite database with
  ektp's durability settings (WAL, synchronous=FULL, one ``BEGIN IMMEDIATE`` transaction a request)
  and answers a small JSON. The client then does the equivalent site-side bookkeeping as a single
  UPDATE of the packet's outbox row in its own transaction (``attempts = attempts + 1``, which does
  not mark it sent, so the protocol still has the packet to send).

The two sides are interleaved in chunks of ``--chunk`` packets (default 500), alternating which side
goes first, so that both see the same machine load (the cores are shared) and the same page-cache
state of the site database (the side that reads a chunk second finds it cached; alternating splits
that advantage evenly). Each side's time is the sum of its chunks.

After the timed run, the protocol's server-side phases are timed in-process on a sample of
``--sample`` packets (a separate Dukcapil deployment holding the served node's keys, the site joined
to it): peek, site-key and resend lookup, signature check, unseal, header-to-enrolment, store (the
record transaction with encryption at rest), receipt signing, and the site's receipt check; and,
for comparison, the site's read of a packet, a one-UPDATE transaction and the baseline server's
store of one body (in a separate SQLite file with the same settings).

Target: protocol time at most 1.5 x the baseline time. Run ``python benchmarks/bench_sync.py --help``;
see benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import io
import json
import logging
import os
import platform
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from ektp_plugins.demo.processes import sigterm_as_interrupt

from ektp_core.domain.model import FINGER_POSITIONS, Capture, Modality
from ektp_core.keys import crypto
from ektp_core.lifecycle.service import LifecycleService
from ektp_core.services.node_init import Deployment, create_deployment
from ektp_core.store.tables import outbox
from ektp_core.sync import packets
from ektp_core.sync.inbox import Inbox
from ektp_core.sync.outbox import SEND_PARALLEL, Outbox
from ektp_core.sync.receipts import check_receipt, sign_receipt
from ektp_core.testing.samples import make_enrolment, valid_nik

TARGET_RATIO = 1.5
PROFILE = "kota-bengkulu"
DUKCAPIL = "17.71"
SITE = "17.71.05"
#: Distinct synthetic hands (ten fingers each) and portraits (face, two irises, signature) reused round-robin.
FINGER_SETS = 2
PORTRAITS = 3
_START_BIRTH = dt.date(1960, 1, 1)
_PER_BIRTH_DATE = 5000  # NIK serials are four digits; spread residents over birth dates


def log(message: str) -> None:
    """A progress line on stderr (stdout carries the report)."""
    print(f"[bench_sync {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- the enrolment material -----------------------------------------------------------------------------


def make_material() -> dict[str, Any]:
    """The images, generated once: finger PNGs as the U.are.U reader delivers them, with templates;
    iris PNGs, face JPEGs and signature PNGs."""
    from ektp_plugins.scanners.uareu import protocol as uareu
    from ektp_plugins.scanners.uareu.emulator import fit
    from ektp_plugins.simulators.synthetic import face, finger, finger_minutiae, iris, signature
    from PIL import Image

    def png(image: Image.Image, dpi: int | None = None) -> bytes:
        out = io.BytesIO()
        image.save(out, format="PNG", **({"dpi": (dpi, dpi)} if dpi else {}))
        return out.getvalue()

    hands = []
    for seed in range(FINGER_SETS):
        hand = {}
        for position in FINGER_POSITIONS:
            # The reader's frame: the synthetic finger centred/cropped to 384 x 290 grey, PNG at 500 dpi.
            frame = Image.frombytes("L", (uareu.IMAGE_WIDTH, uareu.IMAGE_HEIGHT), fit(finger(seed, position, 1)))
            hand[position] = (png(frame, 500), finger_minutiae(seed, position, 1).iso_bytes())
        hands.append(hand)
        log(f"finger set {seed + 1}/{FINGER_SETS} made")
    portraits = []
    for seed in range(PORTRAITS):
        jpeg = io.BytesIO()
        face(seed).convert("RGB").save(jpeg, format="JPEG", quality=85)
        portraits.append(
            {
                "face": jpeg.getvalue(),
                "left": png(iris(seed, "left")),
                "right": png(iris(seed, "right")),
                "signature": png(signature(seed)),
            }
        )
    return {"hands": hands, "portraits": portraits}


def enrolment_parts(material: dict[str, Any], n: int) -> tuple[list[Capture], dict[str, bytes]]:
    """The captures of the ``n``-th enrolment and the bytes behind their refs."""
    hand, portrait = material["hands"][n % FINGER_SETS], material["portraits"][n % PORTRAITS]
    captures: list[Capture] = []
    images: dict[str, bytes] = {}

    def add(
        modality: Modality, position: str, data: bytes, quality: int, device: str, template: bytes | None = None
    ) -> None:
        ref = f"b{n}-{modality.value}-{position}"
        images[ref] = data
        tref = None
        if template is not None:
            tref = ref + "-t"
            images[tref] = template
        captures.append(
            Capture(
                modality=modality, position=position, device=device, quality=quality, blob_ref=ref, template_ref=tref
            )
        )

    for position in FINGER_POSITIONS:
        image, template = hand[position]
        add(Modality.FINGER, position, image, 70, "uareu-4000b", template)
    for side in ("left", "right"):
        add(Modality.IRIS, side, portrait[side], 80, "iris-cam")
    add(Modality.FACE, "face", portrait["face"], 90, "webcam")
    add(Modality.SIGNATURE, "signature", portrait["signature"], 100, "pad")
    return captures, images


# -- the deployments and servers --------------------------------------------------------------------------


def lifecycle_of(deployment: Deployment) -> LifecycleService:
    return LifecycleService(deployment.open_store(), deployment.plugin_host().hook, deployment)


def wait_for(url: str, proc: subprocess.Popen[bytes], logfile: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            break
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"server at {url} did not start:\n{logfile.read_text()}")


@contextlib.contextmanager
def served(args: list[str], health: str, logfile: Path) -> Iterator[None]:
    """A server subprocess, stopped (SIGTERM) on the way out."""
    with open(logfile, "ab") as out:
        proc = subprocess.Popen(
            [sys.executable, *args], stdout=out, stderr=out, env={**os.environ, "PYTHONUNBUFFERED": "1"}
        )
    try:
        wait_for(health, proc, logfile)
        yield
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


BASELINE_TABLE = (
    "CREATE TABLE IF NOT EXISTS bodies (id INTEGER PRIMARY KEY, received_at TEXT NOT NULL, body BLOB NOT NULL)"
)


def store_body(conn: sqlite3.Connection, data: bytes) -> int:
    """The baseline's whole storage of one packet: one durable transaction inserting the body."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        row = conn.execute(
            "INSERT INTO bodies (received_at, body) VALUES (?, ?)", (dt.datetime.now(dt.UTC).isoformat(), data)
        ).lastrowid
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return int(row or 0)


def baseline_server(port: int, database: str) -> None:
    """The baseline node: store each POSTed body in one SQLite transaction, answer a small JSON.

    Same serving as ``ektp serve`` (werkzeug threaded ``make_server``, access log lines without
    bodies) and ektp's durability (WAL, synchronous=FULL, BEGIN IMMEDIATE, a connection reused per
    thread as SQLAlchemy's pool does)."""
    from flask import Flask, Response, jsonify, request
    from werkzeug.serving import WSGIRequestHandler, make_server

    local = threading.local()

    def connection() -> sqlite3.Connection:
        conn = getattr(local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(database, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            local.conn = conn
        return conn

    with sqlite3.connect(database) as setup:
        setup.execute("PRAGMA journal_mode=WAL")
        setup.execute(BASELINE_TABLE)
    app = Flask("baseline")

    @app.get("/api/v1/health")
    def health() -> Response:
        return jsonify({"status": "ok"})

    @app.post("/api/v1/packets")
    def store() -> Response:
        data = request.get_data(cache=False)
        return jsonify({"status": "stored", "id": store_body(connection(), data), "bytes": len(data)})

    class Handler(WSGIRequestHandler):
        def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
            self.log("info", "%s %s %s", self.command, self.path.split("?")[0], code)

    server = make_server("127.0.0.1", port, app, threaded=True, request_handler=Handler)
    try:
        with sigterm_as_interrupt():
            server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


# -- the backlog ---------------------------------------------------------------------------------------------


def build_backlog(lc: LifecycleService, box: Outbox, material: dict[str, Any], count: int) -> list[str]:
    """Record ``count`` enrolments at the site and enqueue each (packet built, sealed, signed)."""
    ids = []
    started = time.perf_counter()
    for n in range(count):
        birth = _START_BIRTH + dt.timedelta(days=n // _PER_BIRTH_DATE)
        nik = valid_nik(district=SITE, birth_date=birth, serial=n % _PER_BIRTH_DATE + 1)
        enrolment = make_enrolment(site_code=SITE, operator="op1", nik=nik, tanggal_lahir=birth)
        captures, images = enrolment_parts(material, n)
        lc.record(enrolment, captures, images)
        ids.append(box.enqueue(enrolment.id, actor="op1"))
        if (n + 1) % 250 == 0 or n + 1 == count:
            rate = (n + 1) / (time.perf_counter() - started)
            log(f"backlog {n + 1}/{count} built ({rate:.1f} enrolments/s)")
    return ids


def packet_sizes(lc: LifecycleService) -> list[int]:
    with lc.store.read() as conn:
        return [
            int(s) for s in conn.execute(sa.select(sa.func.length(outbox.c.packet)).order_by(outbox.c.seq)).scalars()
        ]


# -- the timed sides ---------------------------------------------------------------------------------------------


def baseline_chunk(lc: LifecycleService, transport: Any, ids: list[str]) -> float:
    """POST the packets' bytes in order (read as Outbox.send reads them), then one UPDATE each."""
    start = time.perf_counter()
    for packet_id in ids:
        with lc.store.read() as conn:
            data = conn.execute(sa.select(outbox.c.packet).where(outbox.c.packet_id == packet_id)).scalar_one()
        answer = transport.send_packet(bytes(data))
        if answer.get("status") != "stored":
            raise SystemExit(f"the baseline server did not store {packet_id}: {answer}")
        with lc.store.write() as conn:
            conn.execute(outbox.update().where(outbox.c.packet_id == packet_id).values(attempts=outbox.c.attempts + 1))
    return time.perf_counter() - start


def protocol_chunk(box: Outbox, transport: Any, ids: list[str], parallel: int) -> float:
    """Outbox.send of exactly the next ``len(ids)`` waiting packets (the same ones, oldest first)."""
    start = time.perf_counter()
    report = box.send(transport, limit=len(ids), parallel=parallel)
    elapsed = time.perf_counter() - start
    if report.sent != ids or report.stopped or report.refused:
        raise SystemExit(
            f"the protocol did not send the chunk cleanly: stopped={report.stopped} "
            f"refused={dict(list(report.refused.items())[:3])} sent {len(report.sent)}/{len(ids)}"
        )
    return elapsed


def timed_run(
    lc: LifecycleService, box: Outbox, protocol_url: str, baseline_url: str, ids: list[str], chunk: int, parallel: int
) -> tuple[float, float]:
    from ektp_core.sync.http import HttpTransport

    protocol = HttpTransport(protocol_url, timeout=120)
    baseline = HttpTransport(baseline_url, timeout=120)
    totals = {"protocol": 0.0, "baseline": 0.0}
    for k, first in enumerate(range(0, len(ids), chunk)):
        part = ids[first : first + chunk]
        sides: list[tuple[str, Callable[[], float]]] = [
            ("baseline", lambda part=part: baseline_chunk(lc, baseline, part)),  # type: ignore[misc]
            ("protocol", lambda part=part: protocol_chunk(box, protocol, part, parallel)),  # type: ignore[misc]
        ]
        if k % 2:
            sides.reverse()  # alternate who reads the chunk first (page cache) and who runs under which load
        for name, run in sides:
            seconds = run()
            totals[name] += seconds
            log(
                f"{name:8s} packets {first + 1}-{first + len(part)}: {seconds:7.2f} s "
                f"({seconds / len(part) * 1000:6.1f} ms/packet)"
            )
        done = first + len(part)
        log(f"{done}/{len(ids)} sent by both; ratio so far {totals['protocol'] / totals['baseline']:.2f}")
    return totals["protocol"], totals["baseline"]


# -- where the protocol's time goes -----------------------------------------------------------------------------


def phases(
    root: Path, served_node: Deployment, site_lc: LifecycleService, site_box: Outbox, sample: int
) -> dict[str, float]:
    """Median milliseconds of each phase of accepting a packet, in-process, on ``sample`` packets."""
    probe = create_deployment(
        root / "probe", profile=PROFILE, site_code=DUKCAPIL, database_url=f"sqlite:///{root / 'probe.sqlite3'}"
    )
    lc = lifecycle_of(probe)
    keys = served_node.keys_dir
    # The served node's keys, so the backlog's packets (sealed to it) open here.
    box = Inbox(lc, signing_key=crypto.load_signing_key(keys), exchange_key=crypto.load_exchange_key(keys))
    box.join(
        box.new_join_code(SITE, actor="admin"), site_code=SITE, public_key=crypto.public_key_text(site_box.signing_key)
    )
    dukcapil_key = crypto.public_key_text(box.signing_key)
    with site_lc.store.read() as conn:
        rows = conn.execute(sa.select(outbox.c.packet_id, outbox.c.packet).order_by(outbox.c.seq).limit(sample)).all()
    timings: dict[str, list[float]] = {}

    @contextlib.contextmanager
    def timed(name: str) -> Iterator[None]:
        t0 = time.perf_counter()
        yield
        timings.setdefault(name, []).append((time.perf_counter() - t0) * 1000)

    try:
        for row in rows:
            data = bytes(row.packet)
            with timed("accept total (phases below, run once each)"):
                with timed("peek (parse header)"):
                    packet_id, _header = packets.peek(data)
                with timed("site key + resend lookup (2 reads)"):
                    key = box.site_key(packet_id.site)
                    box._known(str(packet_id))
                sender = crypto.load_public_key(key)
                with timed("sha256 of packet"):
                    digest = packets.content_digest(data)
                with timed("verify signature (Ed25519 over the digest)"):
                    sender.verify(data[-64:], b"ektp packet v1 sha256:" + bytes.fromhex(digest))
                # open_packet repeats peek and verify around the unseal (given the digest): unseal is the difference.
                with timed("open_packet (peek+verify+unseal)"):
                    packet = packets.open_packet(data, sender=sender, private=box.exchange_key, digest=digest)
                with timed("header -> enrolment"):
                    enrolment, captures, images = box._contents(packet)
                with timed("store (record tx, encrypt at rest, inbox row)"):
                    receipt = box._store(packet, enrolment, captures, images)
                with timed("sign receipt"):
                    signed = sign_receipt(box.signing_key, receipt)
            with timed("site: check receipt"):
                check_receipt(signed, dukcapil_key, str(packet_id))
    finally:
        lc.store.dispose()
    med = {k: statistics.median(v) for k, v in timings.items()}
    unseal = max(
        0.0,
        med["open_packet (peek+verify+unseal)"]
        - med["verify signature (Ed25519 over the digest)"]
        - med["peek (parse header)"],
    )
    total = med.pop("accept total (phases below, run once each)")
    # Listed in the order a packet meets them; the total last.
    ordered: dict[str, float] = {}
    for name, ms in med.items():
        if name != "site: check receipt":
            ordered[name] = ms
        if name.startswith("open_packet"):
            ordered["  of which unseal (X25519 + AES-GCM, by difference)"] = unseal
    return {**ordered, "accept total (each phase above once)": total, "site: check receipt": med["site: check receipt"]}


def site_and_baseline(root: Path, lc: LifecycleService, sample: int) -> dict[str, float]:
    """Median ms of the per-packet work both sides share outside the HTTP exchange (the site's read of
    the packet, a one-UPDATE transaction) and of the baseline server's store, in-process."""
    with lc.store.read() as conn:
        rows = conn.execute(sa.select(outbox.c.packet_id).order_by(outbox.c.seq).limit(sample)).scalars().all()
    baseline = sqlite3.connect(root / "baseline-probe.sqlite3", isolation_level=None)
    baseline.execute("PRAGMA journal_mode=WAL")
    baseline.execute("PRAGMA synchronous=FULL")
    baseline.execute(BASELINE_TABLE)
    read, update, stored = [], [], []
    for packet_id in rows:
        t0 = time.perf_counter()
        with lc.store.read() as conn:
            data = bytes(conn.execute(sa.select(outbox.c.packet).where(outbox.c.packet_id == packet_id)).scalar_one())
        read.append((time.perf_counter() - t0) * 1000)
        t0 = time.perf_counter()
        store_body(baseline, data)
        stored.append((time.perf_counter() - t0) * 1000)
        t0 = time.perf_counter()
        with lc.store.write() as conn:
            conn.execute(outbox.update().where(outbox.c.packet_id == packet_id).values(attempts=outbox.c.attempts))
        update.append((time.perf_counter() - t0) * 1000)
    baseline.close()
    return {
        "site: read packet from outbox": statistics.median(read),
        "site: one UPDATE transaction (baseline's marking)": statistics.median(update),
        "baseline server: store body (one insert tx)": statistics.median(stored),
    }


# -- main ----------------------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=10_000, help="enrolments in the backlog (default 10000)")
    parser.add_argument("--chunk", type=int, default=500, help="packets per interleaved chunk (default 500)")
    parser.add_argument("--sample", type=int, default=50, help="packets for the phase breakdown (default 50)")
    parser.add_argument(
        "--parallel",
        type=int,
        default=SEND_PARALLEL,
        help=f"packets the site sends at once (default {SEND_PARALLEL}, ektp's default; 1: one "
        "after another, like the baseline)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--strict", action="store_true", help="exit 1 when the ratio misses the target")
    parser.add_argument(
        "--tmp", type=Path, default=None, help="parent folder for the temp dir (needs ~3.5 GB per 1000 enrolments)"
    )
    parser.add_argument("--serve-baseline", nargs=2, metavar=("PORT", "DB"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve_baseline:
        baseline_server(int(args.serve_baseline[0]), args.serve_baseline[1])
        return 0
    os.environ.pop("EKTP_DATABASE_URL", None)
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="ektp-bench-sync-", dir=args.tmp) as tmp:
        root = Path(tmp)
        dukcapil = create_deployment(
            root / "dukcapil",
            profile=PROFILE,
            site_code=DUKCAPIL,
            database_url=f"sqlite:///{root / 'dukcapil.sqlite3'}",
        )
        site = create_deployment(
            root / "site", profile=PROFILE, site_code=SITE, database_url=f"sqlite:///{root / 'site.sqlite3'}"
        )
        protocol_port, baseline_port = free_port(), free_port()
        protocol_url = f"http://127.0.0.1:{protocol_port}/api/v1"
        baseline_url = f"http://127.0.0.1:{baseline_port}/api/v1"
        material = make_material()
        with (
            served(
                ["-m", "ektp_core", "serve", "--port", str(protocol_port), "-d", str(dukcapil.root)],
                f"{protocol_url}/health",
                root / "serve.log",
            ),
            served(
                [__file__, "--serve-baseline", str(baseline_port), str(root / "baseline.sqlite3")],
                f"{baseline_url}/health",
                root / "baseline.log",
            ),
        ):
            from ektp_core.sync.http import HttpTransport

            # Join as `ektp sync join` does: a one-time code from the Dukcapil node, the site's key over HTTP.
            node_lc = lifecycle_of(dukcapil)
            code = Inbox.for_deployment(node_lc).new_join_code(SITE, actor="admin")
            node_lc.store.dispose()
            site_lc = lifecycle_of(site)
            box = Outbox.for_deployment(site_lc, machine="bench-pc")
            keys = HttpTransport(protocol_url).join(
                site=SITE, public_key=crypto.public_key_text(box.signing_key), code=code
            )
            box.joined(url=protocol_url, **keys)
            ids = build_backlog(site_lc, box, material, args.count)
            sizes = packet_sizes(site_lc)
            log(f"backlog ready: {len(ids)} packets, mean {statistics.mean(sizes) / 1000:.1f} KB; sending")
            protocol_s, baseline_s = timed_run(site_lc, box, protocol_url, baseline_url, ids, args.chunk, args.parallel)
        breakdown = phases(root, dukcapil, site_lc, box, min(args.sample, len(ids)))
        breakdown.update(site_and_baseline(root, site_lc, min(args.sample, len(ids))))
        site_lc.store.dispose()
    count = len(ids)
    ratio = protocol_s / baseline_s
    report = {
        "count": count,
        "mean_packet_bytes": statistics.mean(sizes),
        "total_mb": sum(sizes) / 1e6,
        "protocol_s": protocol_s,
        "baseline_s": baseline_s,
        "protocol_ms_per_packet": protocol_s / count * 1000,
        "baseline_ms_per_packet": baseline_s / count * 1000,
        "ratio": ratio,
        "parallel": args.parallel,
        "target_ratio": TARGET_RATIO,
        "meets_target": ratio <= TARGET_RATIO,
        "breakdown_ms": breakdown,
        "machine": {
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "sqlite": sqlite3.sqlite_version,
        },
        "elapsed_s": time.perf_counter() - started,
    }
    status = 1 if args.strict and not report["meets_target"] else 0
    if args.json:
        print(json.dumps(report, indent=2))
        return status
    print(f"ektp sync benchmark: a backlog of {count} enrolments, site -> Dukcapil node over loopback\n")
    print(f"  mean packet size                           {report['mean_packet_bytes'] / 1000:10.1f} KB")
    print(f"  total sent (each side)                     {report['total_mb']:10.1f} MB")
    for side, label in (
        ("protocol", f"protocol (Outbox.send, {args.parallel} at once)"),
        ("baseline", "baseline (same bytes -> bare Flask+SQLite)"),
    ):
        print(f"  {label:42s} {report[side + '_s']:10.2f} s  {report[side + '_ms_per_packet']:7.1f} ms/packet")
    verdict = "meets" if report["meets_target"] else "MISSES"
    print(f"  ratio protocol/baseline                    {ratio:10.2f}   ({verdict} the target <= {TARGET_RATIO})")
    print(f"\n  where a packet's time goes (in-process, median of {min(args.sample, count)} packets, ms):")
    for name, ms in breakdown.items():
        print(f"    {name:52s} {ms:8.2f}")
    m = report["machine"]
    print(
        f"\nmachine: {m['platform']}, {m['cpus']} CPUs, Python {m['python']}, SQLite {m['sqlite']}; "
        f"elapsed {report['elapsed_s']:.1f} s"
    )
    return status


if __name__ == "__main__":
    sys.exit(main())
