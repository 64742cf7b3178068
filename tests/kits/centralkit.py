"""Helpers for the verification tests: the central-system emulator as its own process, and residents
recorded with synthetic fingers."""

from __future__ import annotations

import base64
import http.client
import io
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

from ektp_core.devices.scanners import Sample
from ektp_core.domain.model import FINGER_POSITIONS, Biodata, EnrolmentState, Modality, Operator, Role
from ektp_core.keys import crypto
from ektp_core.lifecycle.service import LifecycleService
from ektp_core.services.capture import CaptureService
from ektp_core.services.node_init import profile_text
from ektp_core.services.verification import VerificationService
from ektp_core.testing import make_enrolment

TOKEN = "test-central-token-0123456789"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class CentralProcess:
    """``ektp central-emulator`` running as a child process on 127.0.0.1."""

    def __init__(self, data: Path, *, port: int | None = None, config: Path | None = None) -> None:
        self.data = data
        self.port = port or free_port()
        self.config = config
        self.process: subprocess.Popen[bytes] | None = None
        self.log = data.parent / f"{data.name}.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/v1"

    def start(self) -> CentralProcess:
        args = [
            sys.executable,
            "-m",
            "ektp_core",
            "central-emulator",
            "--port",
            str(self.port),
            "--data",
            str(self.data),
            "--token",
            TOKEN,
        ]
        if self.config is not None:
            args += ["--config", str(self.config)]
        self.data.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                args, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"}
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"central emulator exited: {self.log.read_text(errors='replace')[-2000:]}")
            try:
                with urllib.request.urlopen(f"{self.url}/health", timeout=1) as response:
                    if response.status == 200:
                        return self
            except (OSError, http.client.HTTPException):  # HTTPException: a self-connected probe
                time.sleep(0.1)
        raise RuntimeError("central emulator did not come up within 60 s")

    def health(self) -> dict[str, Any]:
        with urllib.request.urlopen(f"{self.url}/health", timeout=5) as response:
            result: dict[str, Any] = json.loads(response.read())
            return result

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None


def minutiae_png(template: Any) -> bytes:
    """A picture of a template's minutiae: a cheap, real PNG standing in for the finger image."""
    from PIL import Image, ImageDraw

    image = Image.new("L", (template.width, template.height), 235)
    draw = ImageDraw.Draw(image)
    for m in template.minutiae:
        draw.ellipse((m.x - 3, m.y - 3, m.x + 3, m.y + 3), outline=20)
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def finger_sample(seed: int, position: str, impression: int = 0, *, image: bool = False) -> Sample:
    """A finger as a scanner would hand it over: image, quality and ISO/IEC 19794-2 template.

    Fast by default (a minutiae-level synthetic finger, its PNG a drawing of the minutiae); with
    ``image`` a real synthetic fingerprint image and its NBIS (mindtct) template, as a reader gives.
    """
    if image:
        from ektp_plugins.scanners import nbis
        from ektp_plugins.simulators.synthetic import finger

        picture = finger(seed, position, impression)
        buffer = io.BytesIO()
        picture.save(buffer, "PNG")
        return Sample(
            modality=Modality.FINGER,
            position=position,
            image=buffer.getvalue(),
            quality=80,
            device="synthetic-image",
            template=nbis.extract(picture).iso_bytes(),
        )
    from ektp_plugins.simulators.synthetic import finger_minutiae

    template = finger_minutiae(seed, position, impression)
    return Sample(
        modality=Modality.FINGER,
        position=position,
        image=minutiae_png(template),
        quality=80,
        device="synthetic",
        template=template.iso_bytes(),
    )


def record_resident(
    lc: LifecycleService,
    *,
    seed: int,
    impression: int = 0,
    actor: str = "op1",
    fingers: tuple[str, ...] = FINGER_POSITIONS,
    image_fingers: tuple[str, ...] = (),
    **biodata: Any,
) -> str:
    """Record a resident with ten synthetic fingers (of person ``seed``; ``image_fingers`` from real
    synthetic images through NBIS); returns the enrolment id."""
    enrolment = lc.record(make_enrolment(**biodata))
    capture = CaptureService(lc)
    for position in fingers:
        sample = finger_sample(seed, position, impression, image=position in image_fingers)
        capture.add(enrolment.id, sample, actor=actor)
    return enrolment.id


def node_profile(tmp_path: Path, url: str, **matcher: float) -> Path:
    text, _ = profile_text("minimal")
    text = text[: text.index("\n[verification]")]  # replaced below, pointing at this test's emulator
    text += (
        f'\n[verification]\nverifier = "http"\nurl = "{url}"\nrequired = ["finger"]\n'
        "retries = 1\nbackoff_seconds = 0.05\ntimeout_seconds = 5\n"
    )
    if matcher:
        text += "\n[verification.matcher]\n" + "".join(f"{k} = {v}\n" for k, v in matcher.items())
    path = tmp_path / "profile-under-test.toml"
    path.write_text(text, "utf-8")
    return path


class Node:
    """A Dukcapil node's deployment with its lifecycle and verification services."""

    def __init__(self, deployment: Any) -> None:
        self.deployment = deployment
        self.host = deployment.plugin_host()
        self.store = deployment.open_store()
        self.lc = LifecycleService(self.store, self.host.hook, deployment)
        self.verification = VerificationService.for_deployment(self.lc, self.host)
        for username, role in (("op1", Role.OPERATOR), ("sup1", Role.SUPERVISOR)):
            self.lc.add_operator(
                Operator(
                    username=username,
                    full_name=username,
                    role=role,
                    site_code="17.71",
                    password_hash=crypto.hash_password("x" * 12, n=2**4),
                ),
                actor="admin",
            )

    def state(self, enrolment_id: str) -> EnrolmentState:
        return self.lc.get(enrolment_id).state

    def verdict(self, enrolment_id: str) -> EnrolmentState | None:
        """The central system's verdict kept for the enrolment (its state may have moved on since:
        a sync queues the print job of a print-ready enrolment at once)."""
        status = self.verification.status(enrolment_id)
        return status.verdict.status if status and status.verdict else None

    def settle(self, *enrolment_ids: str) -> None:
        """Sync until every enrolment has its verdict (the emulator decides in the background)."""
        for _ in range(20):
            self.verification.sync(actor="op1", wait=5)
            if all(self.state(e) is not EnrolmentState.RECEIVED_AT_CENTRAL for e in enrolment_ids):
                return
        raise AssertionError("no verdict after 20 syncs")


def print_card(node: Node, enrolment_id: str, serial: str) -> None:
    """Print the enrolment's card (the job the sync routed, blank ``serial``): CARD_PRINTED."""
    lc = node.lc
    [job] = [j for j in lc.jobs(states=["QUEUED"]) if j.enrolment_id == enrolment_id]
    lc.receive_blanks(job.site_code, [serial], actor="sup1")
    lc.reserve_blank(job.id, actor="op1")
    lc.mark_sent(job.id, actor="op1", printer="evolis-1")
    lc.mark_printed(job.id, actor="op1")
    assert node.state(enrolment_id) is EnrolmentState.CARD_PRINTED


# -- bodies as the ``http`` verifier sends them --------------------------------------------------------

#: Four fingers: the fused score (mean of the two best) of a genuine pair is then well above 40.
FINGERS = ("right_thumb", "right_index", "left_thumb", "left_index")
_templates: dict[tuple[int, str, int], bytes] = {}


def template(seed: int, position: str, impression: int = 0) -> bytes:
    """The ISO/IEC 19794-2 record of one synthetic finger impression (cached: tests reuse them)."""
    key = (seed, position, impression)
    if key not in _templates:
        from ektp_plugins.simulators.synthetic import finger_minutiae

        _templates[key] = finger_minutiae(seed, position, impression).iso_bytes()
    return _templates[key]


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def submission(
    enrolment_id: str,
    biodata: Biodata,
    *,
    seed: int,
    impression: int = 0,
    fingers: tuple[str, ...] = FINGERS,
    images: bool = False,
) -> dict[str, Any]:
    """A body as the ``http`` verifier sends it: fingers of synthetic person ``seed``."""
    from ektp_plugins.scanners.nbis import Template

    body: dict[str, Any] = {
        "enrolment_id": enrolment_id,
        "site": "17.71.05",
        "biodata": biodata.to_dict(),
        "fingers": {p: b64(template(seed, p, impression)) for p in fingers},
        "finger_images": {},
        "face": None,
        "exceptions": {},
    }
    if images:
        body["finger_images"] = {
            p: b64(minutiae_png(Template.from_iso(template(seed, p, impression)))) for p in fingers
        }
    return body
