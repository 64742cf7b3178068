#!/usr/bin/env python
"""Capturing and templating a full biometric set from the emulators, against the emulators' own raw
delivery time, in the same run.

A full set is ten fingers (two slaps and the thumbs), two irises and a face through the MOSIP SBI
client from the SBI emulator service (every signature and the hash chain verified), each finger's
ISO/IEC 19794-2 template extracted with NIST NBIS, and everything stored encrypted on an enrolment
(plus the signature image). The baseline is the same RCAPTURE requests sent by a bare HTTP client
that neither parses nor verifies the answers: the emulator's own time to make, sign and deliver
the images. Also: template extraction and NFIQ2 quality per finger, and one finger through the
U.are.U 4000B driver (pyusb) from its emulator against the emulator's own image delivery.

No target yet (the issue asks to measure). Run ``python benchmarks/bench_capture.py --help``.
"""

from __future__ import annotations

import argparse
import http.client
import io
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from ektp_plugins.scanners import nbis
from ektp_plugins.scanners.sbi import SbiScanner
from ektp_plugins.scanners.sbi import protocol as p
from ektp_plugins.scanners.sbi.emulator import EmulatorThread, SbiEmulator
from ektp_plugins.scanners.uareu import make_scanner
from ektp_plugins.simulators.images import sample_signature
from PIL import Image

from ektp_core.devices.scanners import Sample
from ektp_core.domain.model import FINGER_POSITIONS, Modality
from ektp_core.lifecycle.service import LifecycleService
from ektp_core.services.capture import CaptureService
from ektp_core.services.node_init import create_deployment
from ektp_core.testing.samples import make_enrolment, valid_nik


def record_requests(scanner: SbiScanner, service: CaptureService, enrolment_id: str) -> list[bytes]:
    """One full set through the client, remembering the exact RCAPTURE bodies it sent."""
    from ektp_plugins.scanners.sbi import client as sbi_client

    sent: list[bytes] = []
    original = sbi_client._request

    def recording(port: int, method: str, path: str, body: dict[str, Any] | None, timeout: float) -> bytes:
        if method == "RCAPTURE":
            sent.append(json.dumps(body or {}).encode())
        return original(port, method, path, body, timeout)

    sbi_client._request = recording  # type: ignore[assignment]
    try:
        full_set(scanner, service, enrolment_id, {"extract": []})
    finally:
        sbi_client._request = original  # type: ignore[assignment]
    return sent


def raw_delivery(port: int, bodies: list[bytes]) -> float:
    """Seconds for the emulator to make, sign and send the same captures (nothing parsed or verified)."""
    start = time.perf_counter()
    for body in bodies:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        conn.request("RCAPTURE", "/capture", body=body, headers={"Content-Type": "application/json"})
        answer = conn.getresponse().read()
        conn.close()
        if b'"errorCode": "0"' not in answer and b'"errorCode":"0"' not in answer:
            raise SystemExit(f"the emulator refused a replayed capture: {answer[:200]!r}")
    return time.perf_counter() - start


def full_set(scanner: SbiScanner, service: CaptureService, enrolment_id: str, timings: dict[str, list[float]]) -> float:
    """Seconds to capture, verify, template and store a full set through the SBI client."""
    start = time.perf_counter()
    scanner.new_session()
    fingers = scanner.capture(Modality.FINGER, FINGER_POSITIONS)
    others = [*scanner.capture(Modality.IRIS, ("left", "right")), *scanner.capture(Modality.FACE, ("face",))]
    elapsed_capture = time.perf_counter() - start
    # The scanner attached each finger's template; time extraction on its own as well.
    for sample in fingers:
        t0 = time.perf_counter()
        nbis.extract(Image.open(io.BytesIO(sample.image)))
        timings["extract"].append(time.perf_counter() - t0)
    start_store = time.perf_counter()
    for sample in [*fingers, *others]:
        service.add(enrolment_id, sample, actor="bench")
    service.add(
        enrolment_id,
        Sample(modality=Modality.SIGNATURE, position="signature", image=sample_signature(1), quality=100, device="pad"),
        actor="bench",
    )
    return elapsed_capture + (time.perf_counter() - start_store)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3, help="full sets per side (default 3)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    os.environ.pop("EKTP_DATABASE_URL", None)
    import logging

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no access log lines in the report
    timings: dict[str, list[float]] = {"extract": [], "quality": [], "raw": [], "full": [], "usb": [], "usb_raw": []}
    started = time.perf_counter()
    with (
        tempfile.TemporaryDirectory(prefix="ektp-bench-capture-") as tmp,
        EmulatorThread(SbiEmulator(identity_seed=3)) as running,
    ):
        deployment = create_deployment(Path(tmp) / "d", database_url=f"sqlite:///{tmp}/db.sqlite3")
        host = deployment.plugin_host()
        store = deployment.open_store()
        lc = LifecycleService(store, host.hook, deployment)
        service = CaptureService(lc)
        key = p.public_key_text(running.emulator.key.public_key())
        scanner = SbiScanner("sbi", {"port": running.port, "trusted_keys": [key], "timeout_ms": 60000})
        scanner.open()
        # Warm-up (the emulator caches each finger's master pattern) and the requests to replay.
        bodies = record_requests(scanner, service, lc.record(make_enrolment(nik=valid_nik(serial=99))).id)
        for i in range(args.rounds):
            timings["raw"].append(raw_delivery(running.port, bodies))
            enrolment = lc.record(make_enrolment(nik=valid_nik(serial=100 + i)))
            timings["full"].append(full_set(scanner, service, enrolment.id, timings))
        from ektp_plugins.simulators.synthetic import finger

        for position in FINGER_POSITIONS[:3]:
            image = finger(3, position, 1)
            t0 = time.perf_counter()
            nbis.quality(image)
            timings["quality"].append(time.perf_counter() - t0)
        reader = make_scanner("reader", {"emulator": True})
        reader.open()
        try:
            for position in FINGER_POSITIONS[:3]:
                reader.emulator.place_finger(seed=3, position=position, impression=1)
                t0 = time.perf_counter()
                reader.capture_image()
                timings["usb"].append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                finger(3, position, 1)  # what the emulated reader spends making its image
                timings["usb_raw"].append(time.perf_counter() - t0)
        finally:
            reader.close()
        store.dispose()
    med = {k: statistics.median(v) for k, v in timings.items() if v}
    report = {
        "full_set_s": med["full"],
        "raw_delivery_s": med["raw"],
        "ratio": med["full"] / med["raw"],
        "extract_per_finger_s": med["extract"],
        "nfiq2_per_finger_s": med["quality"],
        "usb_finger_s": med["usb"],
        "usb_emulator_image_s": med["usb_raw"],
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "python": platform.python_version()},
        "elapsed_s": time.perf_counter() - started,
    }
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print(f"ektp capture benchmark ({args.rounds} full sets; medians)\n")
    print(f"  full set via SBI (capture, verify, template 10 fingers, store encrypted) {med['full']:7.2f} s")
    print(f"  the emulator's raw delivery of the same captures                     {med['raw']:7.2f} s")
    print(f"  ratio                                                                 {report['ratio']:7.2f}")
    print(f"  template extraction (mindtct) per finger                             {med['extract'] * 1000:7.1f} ms")
    print(f"  NFIQ2 quality per finger                                             {med['quality'] * 1000:7.1f} ms")
    print(f"  one finger via the U.are.U driver (pyusb: interrupts, registers, image) {med['usb'] * 1000:5.1f} ms")
    print(f"  the emulated reader making that finger's image (before the capture)  {med['usb_raw'] * 1000:7.1f} ms")
    m = report["machine"]
    print(f"\nmachine: {m['platform']}, {m['cpus']} CPUs, Python {m['python']}; elapsed {report['elapsed_s']:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
