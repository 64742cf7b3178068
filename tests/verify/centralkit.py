"""Helpers for the verification tests: the central-system emulator as its own process, and residents
recorded with synthetic fingers."""
from __future__ import annotations

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

from ektp_core.capture import CaptureService
from ektp_core.lifecycle import LifecycleService
from ektp_core.model import FINGER_POSITIONS, Modality
from ektp_core.scanning import Sample
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
        args = [sys.executable, "-m", "ektp_core", "central-emulator", "--port", str(self.port),
                "--data", str(self.data), "--token", TOKEN]
        if self.config is not None:
            args += ["--config", str(self.config)]
        self.data.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT,
                                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"central emulator exited: {self.log.read_text(errors='replace')[-2000:]}")
            try:
                with urllib.request.urlopen(f"{self.url}/health", timeout=1) as response:
                    if response.status == 200:
                        return self
            except OSError:
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


def finger_sample(seed: int, position: str, impression: int = 0) -> Sample:
    """A finger as a scanner would hand it over: image, quality and ISO/IEC 19794-2 template."""
    from ektp_plugins.scanners.synthetic._minutiae import finger_minutiae

    template = finger_minutiae(seed, position, impression)
    return Sample(modality=Modality.FINGER, position=position, image=minutiae_png(template), quality=80,
                  device="synthetic", template=template.iso_bytes())


def record_resident(lc: LifecycleService, *, seed: int, impression: int = 0, actor: str = "op1",
                    fingers: tuple[str, ...] = FINGER_POSITIONS, **biodata: Any) -> str:
    """Record a resident with ten synthetic fingers (of person ``seed``); returns the enrolment id."""
    enrolment = lc.record(make_enrolment(**biodata))
    capture = CaptureService(lc)
    for position in fingers:
        capture.add(enrolment.id, finger_sample(seed, position, impression), actor=actor)
    return enrolment.id
