"""The DigitalPersona U.are.U 4000B fingerprint reader over USB with pyusb.

The protocol (see :mod:`.protocol` for it and its source, libfprint's ``uru4000`` driver): registers
through vendor control requests, events on an interrupt endpoint, the image on a bulk endpoint. The
pyusb backend is a constructor argument (None: the system's libusb), so tests and demos run this code
against :class:`~ektp_plugins.scanners.uareu.emulator.UareU4000Emulator` behind
:class:`~ektp_plugins.simulators.usb.FakeUsbBackend`.

Decisions: the 4000B needs no challenge-response authentication (libfprint's profile for it has
``auth_cr`` false), so none is done; encrypted images are refused (:class:`ScannerProtocolError`),
libfprint's firmware patch that turns the 4000's encryption off is not done either. Every USB call has
a bounded timeout, and the waits for a finger are bounded by ``finger_timeout_ms``.
"""

from __future__ import annotations

import contextlib
import errno
import io
import logging
import threading
import time
from typing import Any

import attrs
import usb.core
import usb.util
from ektp_plugins import usbdevice
from ektp_plugins.scanners.uareu import protocol as p

from ektp_core.devices.scanners import (
    Sample,
    ScannerError,
    ScannerNotConnected,
    ScannerProtocolError,
    ScannerState,
    ScannerStatus,
    ScannerTimeout,
    ScannerVanished,
)
from ektp_core.domain.model import Modality

log = logging.getLogger(__name__)


def _template(png: bytes) -> bytes | None:
    # The minutiae template (ISO/IEC 19794-2) where the biometrics extra (NBIS) is installed.
    try:
        from ektp_plugins.scanners.nbis import iso_template_of
    except ImportError:
        return None
    return iso_template_of(png)


def _quality(image: FingerImage) -> int:
    # The reader reports no quality; NBIS gives one where the biometrics extra is installed, else a
    # coarse estimate from the share of the sensor the finger covers (documented as such).
    try:
        from ektp_plugins.scanners.nbis import quality

        return int(quality(image.to_pil()))
    except ImportError:
        dark = sum(1 for v in image.pixels[::7] if v < 128)
        return max(0, min(100, round(100 * dark / max(1, len(image.pixels[::7])) * 2)))


DEFAULT_TIMEOUT_MS = 5000
DEFAULT_FINGER_TIMEOUT_MS = 30_000
#: How long the scan power interrupt may take after power-up, and how many power-ups are tried.
SCANPWR_TIMEOUT_MS = 1000
SCANPWR_ATTEMPTS = 3
#: How many times HWSTAT is polled (10 ms apart) while the power comes up or reboots.
HWSTAT_POLLS = 100
_LIBUSB_NO_DEVICE, _LIBUSB_TIMEOUT = -4, -7


@attrs.frozen
class FingerImage:
    """A grey fingerprint picture: ``width`` x ``height`` 8-bit pixels, rows top to bottom, ridges dark."""

    width: int
    height: int
    pixels: bytes = attrs.field(repr=lambda b: f"<{len(b)} bytes>")
    dpi: int = p.IMAGE_DPI

    def __attrs_post_init__(self) -> None:
        if len(self.pixels) != self.width * self.height:
            raise ValueError(f"{len(self.pixels)} pixels for {self.width} x {self.height}")

    def to_pil(self) -> Any:
        """The picture as a PIL image (mode L, with its dpi)."""
        from PIL import Image

        image = Image.frombytes("L", (self.width, self.height), self.pixels)
        image.info["dpi"] = (self.dpi, self.dpi)
        return image

    def png(self) -> bytes:
        """The picture as PNG bytes (with its dpi)."""
        out = io.BytesIO()
        self.to_pil().save(out, format="PNG", dpi=(self.dpi, self.dpi))
        return out.getvalue()


#: What a capture's device says when the reader reports no serial number (a "?" read as a value lost).
NO_SERIAL = "no serial"


def device_label(serial: str) -> str:
    """A capture's device: the model and the reader's serial, or :data:`NO_SERIAL` in words."""
    return f"uareu4000:{serial}" if serial else f"uareu4000 ({NO_SERIAL})"


def _reported_serial(dev: Any) -> str:
    # The serial string descriptor, when the reader has one; some units answer nothing or an error.
    try:
        return str(dev.serial_number or "").strip()
    except (usb.core.USBError, ValueError):
        return ""


class UareU4000:
    """A U.are.U 4000B on USB, found by vendor/product id and, among several, by serial number.

    ``timeout_ms`` bounds every USB exchange and the image transfer, ``finger_timeout_ms`` the waits for
    a finger to be put down and lifted. Safe to share between threads: one operation at a time.
    """

    def __init__(
        self,
        name: str = "uareu4000",
        *,
        vendor_id: int = p.VENDOR_ID,
        product_id: int = p.PRODUCT_ID_4000B,
        serial: str | None = None,
        timeout_ms: int = DEFAULT_TIMEOUT_MS,
        finger_timeout_ms: int = DEFAULT_FINGER_TIMEOUT_MS,
        backend: Any = None,
    ) -> None:
        if timeout_ms <= 0 or finger_timeout_ms <= 0:
            raise ValueError("timeout_ms and finger_timeout_ms must be positive")
        self.name = name
        self.vendor_id = vendor_id
        self.product_id = product_id
        self.serial = serial
        self.timeout_ms = timeout_ms
        self.finger_timeout_ms = finger_timeout_ms
        self.backend = backend
        #: The emulator behind an ``emulator = true`` reader (set by the plugin's factory), else None.
        self.emulator: Any = None
        #: The 16 bytes of REG_DEVICE_INFO read at open (version bytes), or None.
        self.device_info: bytes | None = None
        #: The serial the open reader reports (the option's when set), "" when it reports none.
        self.device_serial = serial or ""
        self._dev: Any = None
        self._interface = 0
        self._reattach = False
        self._lock = threading.RLock()

    def __repr__(self) -> str:
        state = "open" if self._dev is not None else "closed"
        return f"<UareU4000 {self.name} {self.vendor_id:04x}:{self.product_id:04x} {self.serial} {state}>"

    def __enter__(self) -> UareU4000:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _what(self) -> str:
        serial = f", serial {self.serial}" if self.serial else ""
        return f"U.are.U reader {self.name} ({self.vendor_id:04x}:{self.product_id:04x}{serial})"

    # -- open / close -----------------------------------------------------------------------------

    def open(self) -> None:
        """Find the reader, detach a kernel driver holding it, claim the interface and power the sensor
        up (waiting for its scan-power interrupt). Raises :class:`ScannerNotConnected` and the others."""
        with self._lock:
            if self._dev is not None:
                return
            dev = self._find()
            try:
                self._claim(dev)
            except usb.core.USBError as exc:
                self._release(dev)
                raise ScannerNotConnected(
                    f"{self._what()}: cannot take the USB interface: {exc}", code=str(exc)
                ) from exc
            self._dev = dev
            self.device_serial = self.serial or _reported_serial(dev)
            try:
                self._power_up()
                self.device_info = self._read_reg(p.REG_DEVICE_INFO, p.DEVICE_INFO_LENGTH, "reading its version")
            except ScannerError:
                self.close()
                raise

    def close(self) -> None:
        """Put the sensor back to low power, release the interface, give it back to a kernel driver we
        detached and free the handle. Safe to call twice and after the reader vanished."""
        with self._lock:
            dev, self._dev = self._dev, None
            if dev is None:
                return
            with contextlib.suppress(usb.core.USBError):
                self._ctrl_out(dev, p.REG_MODE, bytes([p.MODE_INIT]))
                self._ctrl_out(dev, p.REG_HWSTAT, bytes([p.HWSTAT_LOW_POWER]))
            self._release(dev)

    def _find(self) -> Any:
        return usbdevice.find_one(
            backend=self.backend,
            vendor_id=self.vendor_id,
            product_id=self.product_id,
            serial=self.serial,
            what=self._what(),
            noun="reader",
            not_connected=ScannerNotConnected,
        )

    def _claim(self, dev: Any) -> None:
        self._reattach = usbdevice.claim(dev, self._interface)

    def _release(self, dev: Any) -> None:
        reattach, self._reattach = self._reattach, False
        usbdevice.release(dev, self._interface, reattach=reattach)

    # -- transport --------------------------------------------------------------------------------

    def _device(self) -> Any:
        if self._dev is None:
            raise ScannerNotConnected(f"{self._what()} is not open")
        return self._dev

    def _usb_failure(self, exc: usb.core.USBError, doing: str) -> ScannerError:
        code = getattr(exc, "backend_error_code", None)
        if exc.errno == errno.ENODEV or code == _LIBUSB_NO_DEVICE:
            return ScannerVanished(f"{self._what()} disappeared from the USB bus while {doing}", code=str(exc))
        if isinstance(exc, usb.core.USBTimeoutError) or exc.errno == errno.ETIMEDOUT or code == _LIBUSB_TIMEOUT:
            return ScannerTimeout(
                f"{self._what()} did not answer within {self.timeout_ms} ms while {doing}", code=str(exc)
            )
        return ScannerError(f"{self._what()}: USB error while {doing}: {exc}", code=str(exc))

    def _ctrl_out(self, dev: Any, register: int, value: bytes) -> None:
        written = dev.ctrl_transfer(p.CTRL_OUT, p.USB_RQ, register, 0, value, timeout=self.timeout_ms)
        if written != len(value):
            raise ScannerProtocolError(
                f"{self._what()} took {written} of {len(value)} bytes for register {register:#06x}"
            )

    def _write_reg(self, register: int, value: int, doing: str) -> None:
        try:
            self._ctrl_out(self._device(), register, bytes([value]))
        except usb.core.USBError as exc:
            raise self._usb_failure(exc, doing) from exc

    def _read_reg(self, register: int, length: int, doing: str) -> bytes:
        try:
            data = bytes(
                self._device().ctrl_transfer(p.CTRL_IN, p.USB_RQ, register, 0, length, timeout=self.timeout_ms)
            )
        except usb.core.USBError as exc:
            raise self._usb_failure(exc, doing) from exc
        if len(data) != length:
            raise ScannerProtocolError(
                f"{self._what()} gave {len(data)} of {length} bytes of register {register:#06x} while {doing}",
                code=data.hex(),
            )
        return data

    def _hwstat(self) -> int:
        return self._read_reg(p.REG_HWSTAT, 1, "reading its power state")[0]

    def _irq(self, timeout_ms: int, doing: str) -> int | None:
        """The next interrupt event, or None when none came within ``timeout_ms``."""
        try:
            packet = bytes(self._device().read(p.EP_INTR, p.IRQ_LENGTH, timeout=max(1, timeout_ms)))
        except usb.core.USBError as exc:
            failure = self._usb_failure(exc, doing)
            if isinstance(failure, ScannerTimeout):
                return None
            raise failure from exc
        try:
            kind = p.parse_irq(packet)
        except p.ProtocolError as exc:
            raise ScannerProtocolError(f"{self._what()}: {exc} while {doing}", code=packet.hex()) from exc
        if kind == p.IRQDATA_DEATH:
            log.warning("%s sent the 0x0800 interrupt: the next scan may fail", self._what())
        return kind

    def _await_irq(self, kind: int, mode: int | None, timeout_ms: int, doing: str) -> bool:
        """Set ``mode`` (if any) and wait up to ``timeout_ms`` for the event ``kind``, ignoring others.
        As libfprint does, the mode is set again after three other events (the device may have
        dropped ours). False when the time ran out."""
        deadline = time.monotonic() + timeout_ms / 1000
        while True:
            if mode is not None:
                self._write_reg(p.REG_MODE, mode, doing)
            for _ in range(3):
                remaining = int((deadline - time.monotonic()) * 1000)
                if remaining <= 0:
                    return False
                got = self._irq(remaining, doing)
                if got == kind:
                    return True
                if got is None:
                    return False
                log.debug("%s: ignoring interrupt %04x while %s", self._what(), got, doing)

    # -- power-up ---------------------------------------------------------------------------------

    def _power_up(self) -> None:
        """libfprint's init: reboot the power if HWSTAT says the device is confused, go to low power,
        leave low power (polling HWSTAT), then wait for the scan power interrupt; three tries."""
        for _attempt in range(SCANPWR_ATTEMPTS):
            status = self._hwstat()
            if status & p.HWSTAT_CONFUSED == p.HWSTAT_CONFUSED:
                self._write_reg(p.REG_HWSTAT, status & 0x0F, "rebooting its power")
                status = self._poll_hwstat(lambda s: bool(s & p.HWSTAT_POWER_REBOOTED), "rebooting its power")
            if not status & p.HWSTAT_LOW_POWER:
                status |= p.HWSTAT_LOW_POWER
                self._write_reg(p.REG_HWSTAT, status, "powering it down")
            for _ in range(HWSTAT_POLLS):
                self._write_reg(p.REG_HWSTAT, status & 0x0F, "powering it up")
                if not self._hwstat() & p.HWSTAT_LOW_POWER:
                    break
                time.sleep(0.01)
            else:
                raise ScannerError(f"{self._what()} did not leave low power")
            if self._await_irq(p.IRQDATA_SCANPWR_ON, None, SCANPWR_TIMEOUT_MS, "waiting for the scan power"):
                return
            log.info("%s: no scan power interrupt, trying again", self._what())
        raise ScannerTimeout(f"{self._what()} did not power its sensor up ({SCANPWR_ATTEMPTS} tries)")

    def _poll_hwstat(self, done: Any, doing: str) -> int:
        for _ in range(HWSTAT_POLLS):
            status = self._hwstat()
            if done(status):
                return status
            time.sleep(0.01)
        raise ScannerError(f"{self._what()}: its power state stayed {status:#04x} while {doing}")

    # -- capture ----------------------------------------------------------------------------------

    # -- ektp_core.devices.scanners.BiometricScanner -----------------------------------------------------------

    def status(self) -> ScannerStatus:
        """READY when the reader is open and answering; OFFLINE otherwise."""
        if self._dev is None:
            return ScannerStatus(state=ScannerState.OFFLINE, message="not open", modalities=(Modality.FINGER,))
        return ScannerStatus(
            state=ScannerState.READY,
            model="DigitalPersona U.are.U 4000B",
            serial=self.serial or "",
            modalities=(Modality.FINGER,),
        )

    def capture(
        self,
        modality: Modality | str,
        positions: tuple[str, ...] | list[str],
        *,
        exceptions: tuple[str, ...] | list[str] = (),
    ) -> list[Sample]:
        """One finger at a time, in the order given (the operator places each as asked), skipping the
        exceptions. All or nothing: an error discards the fingers already taken in this call."""
        if Modality(modality) is not Modality.FINGER:
            raise ScannerError(f"{self._what()} captures fingers only, not {modality}")
        samples = []
        for position in positions:
            if position in exceptions:
                continue
            image = self.capture_image()
            png = image.png()
            samples.append(
                Sample(
                    modality=Modality.FINGER,
                    position=position,
                    image=png,
                    quality=_quality(image),
                    device=device_label(self.device_serial),
                    template=_template(png),
                )
            )
        return samples

    def capture_image(self, timeout_ms: int | None = None) -> FingerImage:
        """Wait for a finger (up to ``timeout_ms``, default ``finger_timeout_ms``), take its picture
        and wait for it to be lifted (same bound; a finger left down is logged, the picture returned).

        The picture is 384 x 290 at 500 dpi, ridges dark: the colours the sensor sends inverted are put
        back; rows the device left out (NOT_PRESENT blocks) repeat the next row sent.
        Raises :class:`ScannerTimeout` (no finger), :class:`ScannerVanished` (unplugged),
        :class:`ScannerProtocolError` (a bad image header), :class:`ScannerNotConnected` (not open)."""
        wait = self.finger_timeout_ms if timeout_ms is None else timeout_ms
        if wait <= 0:
            raise ValueError("timeout_ms must be positive")
        with self._lock:
            self._device()
            if not self._await_irq(p.IRQDATA_FINGER_ON, p.MODE_AWAIT_FINGER_ON, wait, "waiting for a finger"):
                with contextlib.suppress(ScannerError):
                    self._write_reg(p.REG_MODE, p.MODE_INIT, "stopping the finger wait")
                raise ScannerTimeout(f"{self._what()}: no finger within {wait} ms")
            self._write_reg(p.REG_MODE, p.MODE_CAPTURE, "starting the capture")
            try:
                header, data = self._read_image()
            except ScannerProtocolError:
                self._drain_image()
                raise
            pixels = p.assemble(header, data)
            if self.product_id == p.PRODUCT_ID_4000:
                pixels = p.flip_both(pixels)
            image = FingerImage(p.IMAGE_WIDTH, p.IMAGE_HEIGHT, p.invert(pixels))
            if not self._await_irq(
                p.IRQDATA_FINGER_OFF, p.MODE_AWAIT_FINGER_OFF, wait, "waiting for the finger to be lifted"
            ):
                log.warning("%s: the finger was not lifted within %d ms", self._what(), wait)
            return image

    def _drain_image(self) -> None:
        """Read and drop the rest of a bad image (bounded), so the next capture starts clean."""
        dev = self._device()
        for _ in range(p.MAX_IMAGE_TRANSFER // 512 + 1):
            try:
                dev.read(p.EP_DATA, p.MAX_IMAGE_TRANSFER, timeout=20)
            except usb.core.USBError:
                return

    def _read_image(self) -> tuple[p.ImageHeader, bytes]:
        """Read the header and the rows it announces, in whatever pieces the device sends, within
        ``timeout_ms`` for the whole image."""
        dev = self._device()
        deadline = time.monotonic() + self.timeout_ms / 1000
        raw = bytearray()
        header: p.ImageHeader | None = None
        expected = p.MAX_IMAGE_TRANSFER
        while len(raw) < expected:
            remaining = int((deadline - time.monotonic()) * 1000)
            if remaining <= 0:
                raise ScannerTimeout(
                    f"{self._what()}: the image did not arrive within {self.timeout_ms} ms "
                    f"({len(raw)} bytes of {expected})"
                )
            try:
                raw += bytes(dev.read(p.EP_DATA, expected - len(raw), timeout=remaining))
            except usb.core.USBError as exc:
                raise self._usb_failure(exc, f"reading the image ({len(raw)} bytes in)") from exc
            if header is None and len(raw) >= p.HEADER_LENGTH:
                try:
                    header = p.parse_header(bytes(raw[: p.HEADER_LENGTH]))
                except p.ProtocolError as exc:
                    raise ScannerProtocolError(
                        f"{self._what()}: {exc}", code=bytes(raw[: p.HEADER_LENGTH]).hex()
                    ) from exc
                expected = p.HEADER_LENGTH + header.data_length
        assert header is not None  # the loop runs until at least a header was read and parsed
        return header, bytes(raw[p.HEADER_LENGTH : expected])
