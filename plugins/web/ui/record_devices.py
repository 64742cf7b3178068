"""The site's scanners as the recording pages use them: which device captures what, and capturing from it
without letting a stuck device hold a request forever.

Each scanner of the profile at this site is built once per app and kept open between captures (a
reader's power-up takes time, and an emulated device keeps its state in the driver object). A capture
runs in its own thread; the request waits at most the driver's own timeout plus a margin and then
answers "timed out", while the device, if it is really stuck, stays marked busy until its call ends.

Demo devices: the emulated U.are.U reader (the driver object has an ``emulator``) is given the
resident's synthetic finger before each capture, and an SBI service trusted with ``trust_any_device``
(demos only) is told the resident's identity through the SBI emulator's ``POST /control``.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import json
import logging
import threading
from collections.abc import Iterator
from typing import Any

import attrs

from ektp_core.devices.declared import ScannerSetting, make_scanner, scanner_settings
from ektp_core.devices.scanners import Sample, ScannerError, ScannerNotConnected, ScannerTimeout, ScannerVanished
from ektp_core.domain.model import Modality
from ektp_core.errors import EktpError

log = logging.getLogger(__name__)
#: Seconds a request waits beyond the driver's own timeout before it gives up on the device.
MARGIN = 5.0
#: SBI frames served per preview (the browser asks again for more).
PREVIEW_FRAMES = 50


class ScannerBusy(ScannerError):
    """Another capture is still running on the device."""


def resident_seed(enrolment_id: str) -> int:
    """The synthetic resident an emulated device shows for an enrolment (stable for its whole recording)."""
    return int.from_bytes(hashlib.sha256(enrolment_id.encode()).digest()[:4], "big") % 1_000_000


@attrs.define(eq=False)
class Device:
    """One scanner of this site, its driver object and what it captures."""

    setting: ScannerSetting
    driver: Any
    modalities: tuple[Modality, ...]
    lock: threading.Lock = attrs.field(factory=threading.Lock)
    opened: bool = False
    #: The enrolment of the current SBI session (its hash chain covers one resident's captures).
    session_of: str | None = None

    @property
    def name(self) -> str:
        """The profile's name of the device."""
        return self.setting.name

    @property
    def streams(self) -> bool:
        """True when the device offers a live preview (SBI STREAM)."""
        return callable(getattr(self.driver, "preview", None))

    @property
    def slaps(self) -> bool:
        """True when the device takes several fingers at once (an SBI slap scanner)."""
        return self.setting.driver == "sbi"

    def wait_seconds(self) -> float:
        """How long a capture may take before the page says the device timed out."""
        ms = max(
            int(getattr(self.driver, "timeout_ms", 0) or 0), int(getattr(self.driver, "finger_timeout_ms", 0) or 0)
        )
        return (ms / 1000 if ms else 30.0) + MARGIN


def _modalities(driver: Any, setting: ScannerSetting) -> tuple[Modality, ...]:
    declared = getattr(driver, "modalities", None)
    if declared is None:
        # A closed driver answers its status without I/O (the U.are.U: OFFLINE, fingers).
        with contextlib.suppress(Exception):
            declared = driver.status().modalities
    return tuple(Modality(m) for m in (declared or (Modality.FINGER,)))


class DeskDevices:
    """The scanners at this node's site, built once and shared by every request of the app."""

    def __init__(self, deployment: Any, host: Any) -> None:
        self.deployment = deployment
        self.host = host
        self.devices: list[Device] = []
        self.problems: list[str] = []
        for setting in scanner_settings(deployment.profile):
            if setting.site != deployment.site.code:
                continue
            try:
                driver = make_scanner(setting, host, deployment.root)
            except EktpError as exc:  # a broken option or a missing plugin: said on the page, not a crash
                self.problems.append(f"{setting.name}: {exc}")
                continue
            self.devices.append(Device(setting, driver, _modalities(driver, setting)))

    def for_modality(self, modality: Modality) -> list[Device]:
        """The devices that capture ``modality``."""
        return [d for d in self.devices if modality in d.modalities]

    def get(self, name: str) -> Device:
        """The device called ``name``; an error when the site has none by that name."""
        for device in self.devices:
            if device.name == name:
                return device
        raise ScannerNotConnected(f"no scanner named {name!r} at this site")

    def capture(
        self,
        device: Device,
        modality: Modality,
        positions: tuple[str, ...],
        *,
        enrolment_id: str,
        attempt: int,
        exceptions: tuple[str, ...] = (),
    ) -> list[Sample]:
        """Capture ``positions`` from the device; raises :class:`ScannerError` (not connected, timed
        out, busy...) with nothing captured. Waits at most :meth:`Device.wait_seconds`."""
        if not device.lock.acquire(blocking=False):
            raise ScannerBusy(f"{device.name} is still busy with an earlier capture")
        result: dict[str, Any] = {}

        def work() -> None:
            try:
                result["samples"] = self._capture_locked(device, modality, positions, exceptions, enrolment_id, attempt)
            except BaseException as exc:  # handed to the request thread, which raises it
                result["error"] = exc
            finally:
                device.lock.release()

        worker = threading.Thread(target=work, name=f"capture-{device.name}", daemon=True)
        worker.start()
        worker.join(device.wait_seconds())
        if worker.is_alive():
            raise ScannerTimeout(f"{device.name} did not answer within {device.wait_seconds():.0f} s")
        if "error" in result:
            raise result["error"]
        samples: list[Sample] = result["samples"]
        return samples

    def _capture_locked(
        self,
        device: Device,
        modality: Modality,
        positions: tuple[str, ...],
        exceptions: tuple[str, ...],
        enrolment_id: str,
        attempt: int,
    ) -> list[Sample]:
        driver = device.driver
        try:
            if not device.opened:
                driver.open()
                device.opened = True
            if device.slaps and device.session_of != enrolment_id:
                driver.new_session()
                device.session_of = enrolment_id
            self._present(device, modality, positions, enrolment_id, attempt)
            samples: list[Sample] = (
                driver.capture(modality, positions, exceptions=exceptions)
                if exceptions
                else driver.capture(modality, positions)
            )
            return samples
        except (ScannerNotConnected, ScannerVanished):
            # Opened again on the next capture (the cable may be back by then).
            with contextlib.suppress(Exception):
                driver.close()
            device.opened = False
            raise
        except ScannerError as exc:
            raise _plain(device, exc) from exc
        except EktpError:
            raise
        except Exception as exc:  # a driver bug must not become a 500 with a half-open device
            log.exception("scanner %s failed", device.name)
            raise ScannerError(f"{device.name}: {exc}") from exc

    def _present(
        self, device: Device, modality: Modality, positions: tuple[str, ...], enrolment_id: str, attempt: int
    ) -> None:
        """Demo devices only: put the resident's synthetic biometric in front of the emulated device."""
        seed = resident_seed(enrolment_id)
        emulator = getattr(device.driver, "emulator", None)
        if emulator is not None and modality is Modality.FINGER and positions:
            emulator.place_finger(seed=seed, position=positions[0], impression=attempt - 1)
        elif device.setting.driver == "sbi" and getattr(device.driver, "trust_any_device", False):
            _sbi_control(device.driver, {"identity_seed": seed, "impression": attempt - 1})

    def preview(self, device: Device, modality: Modality) -> Iterator[bytes]:
        """JPEG frames of the device's live preview (SBI STREAM); empty when it has none."""
        if not device.streams:
            return iter(())
        try:
            frames: Iterator[bytes] = device.driver.preview(modality.value, max_frames=PREVIEW_FRAMES)
        except EktpError as exc:  # no service to ask: an empty picture, the capture button says why
            log.info("no preview from %s: %s", device.name, exc)
            return iter(())
        return frames


#: SBI's numeric error codes that mean what the core's scanner errors say (see the sbi plugin's protocol).
_SBI_CODES = {106: ScannerNotConnected, 110: ScannerBusy, 701: ScannerTimeout}


def _plain(device: Device, exc: ScannerError) -> ScannerError:
    """An SBI error code turned into the core's error of the same meaning (the page words them)."""
    kind = _SBI_CODES.get(exc.code) if device.setting.driver == "sbi" and isinstance(exc.code, int) else None
    if kind is None or isinstance(exc, kind):
        return exc
    return kind(str(exc), code=str(exc.code))


def _sbi_control(driver: Any, settings: dict[str, Any]) -> None:
    # The SBI emulator's control endpoint; a real SBI service has none and the call is simply ignored.
    try:
        port = driver.client.port
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        try:
            conn.request("POST", "/control", body=json.dumps(settings), headers={"Content-Type": "application/json"})
            conn.getresponse().read()
        finally:
            conn.close()
    except Exception as exc:  # demo help only: the capture itself reports real trouble
        log.debug("sbi control not accepted: %s", exc)
