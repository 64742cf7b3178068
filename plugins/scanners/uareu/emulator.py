"""An emulated U.are.U 4000B for :class:`~ektp_plugins.simulators.usb.FakeUsbBackend`.

It answers the register requests of :mod:`.protocol` (HWSTAT power states, REG_MODE, the version
block), sends the interrupt packets (scan power on, finger on, finger off) on endpoint 0x81 and the
image (the real 64-byte header, then the rows sent) on bulk endpoint 0x82 in ``chunk_size`` pieces.
(libfprint reads the image as one transfer of 64 + 290 x 384 bytes; the pieces here make the driver's
reassembly across reads do its work.) A test puts a finger down with
:meth:`UareU4000Emulator.place_finger` (a PIL image, or one drawn by ``ektp_plugins.simulators.synthetic``
when that module is installed) and lifts it with :meth:`~UareU4000Emulator.lift_finger`.

What the emulated sensor does to a picture, as the real one does: colours inverted on the wire, the
rows of NOT_PRESENT blocks left out (by default the first row: the driver then repeats row 1 in
row 0, see :meth:`UareU4000Emulator.expected_capture`), a picture that is not 384 x 290 centred on a
white (no-ridge) background or cropped around its centre.

Faults: no finger (the driver times out), :attr:`~UareU4000Emulator.unplug_after_image_bytes`
(the cable is pulled in the middle of the image), :attr:`~UareU4000Emulator.garbage_header`,
:attr:`~UareU4000Emulator.no_scan_power` (the 0x56AA interrupt never comes).

The fake backend knows one IN endpoint per device; this emulator has two (interrupt 0x81 and bulk
0x82), so its IN endpoint address is an ``int`` that compares equal to both (see
:class:`_InEndpoints`) and :meth:`~UareU4000Emulator.bulk_in` keeps one queue per endpoint.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import Any

from ektp_plugins.scanners.uareu import protocol as p
from ektp_plugins.simulators.usb import (
    ConfigurationDescriptor,
    EmulatedDevice,
    EndpointDescriptor,
    InterfaceDescriptor,
)

TRANSFER_INTERRUPT = 0x03
DEFAULT_CHUNK_SIZE = 16 * 1024
#: libfprint accepts at most 289 rows sent; the default layout leaves the first row out.
DEFAULT_BLOCKS: tuple[p.Block, ...] = (p.Block(p.BLOCKF_NOT_PRESENT, 1), p.Block(0, 145), p.Block(0, 144))
#: What REG_DEVICE_INFO holds (libfprint prints bytes 10-11 and 4-5 as versions).
DEVICE_INFO = bytes((0, 0, 0, 0, 0x01, 0x04, 0, 0, 0, 0, 0x00, 0x12, 0, 0, 0, 0))
WHITE = 255


class _InEndpoints(int):
    """An IN endpoint address (its int value, for the base class) that also compares equal to the
    device's other IN endpoints, so the backend's single-endpoint check lets both through."""

    aliases: frozenset[int]

    def __new__(cls, value: int, *others: int) -> _InEndpoints:
        obj = super().__new__(cls, value)
        obj.aliases = frozenset((value, *others))
        return obj

    def __eq__(self, other: object) -> bool:
        return other in self.aliases

    def __ne__(self, other: object) -> bool:
        return other not in self.aliases

    __hash__ = int.__hash__


def fit(image: Any) -> bytes:
    """A PIL image as the sensor's 384 x 290 grey pixels: converted to L, centred on white or cropped
    around its centre."""
    from PIL import Image

    grey = image.convert("L")
    if grey.size == (p.IMAGE_WIDTH, p.IMAGE_HEIGHT):
        return bytes(grey.tobytes())
    canvas = Image.new("L", (p.IMAGE_WIDTH, p.IMAGE_HEIGHT), WHITE)
    canvas.paste(grey, ((p.IMAGE_WIDTH - grey.width) // 2, (p.IMAGE_HEIGHT - grey.height) // 2))
    return bytes(canvas.tobytes())


class UareU4000Emulator(EmulatedDevice):
    """A U.are.U 4000B (05ba:000a) with a finger that tests put down and lift."""

    def __init__(
        self,
        *,
        serial: str = "",
        product_id: int = p.PRODUCT_ID_4000B,
        kernel_driver: bool = False,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        blocks: tuple[p.Block, ...] = DEFAULT_BLOCKS,
        initial_hwstat: int = p.HWSTAT_LOW_POWER,
    ) -> None:
        super().__init__(
            vendor_id=p.VENDOR_ID,
            product_id=product_id,
            serial=serial,
            manufacturer="DigitalPersona, Inc.",
            product="U.are.U 4000B Fingerprint Reader",
            interface_class=0xFF,
            interface_subclass=0xFF,
            interface_protocol=0xFF,
            in_endpoint=_InEndpoints(p.EP_DATA, p.EP_INTR),
            kernel_driver=kernel_driver,
        )
        self.interface = InterfaceDescriptor(
            bInterfaceClass=0xFF,
            bInterfaceSubClass=0xFF,
            bInterfaceProtocol=0xFF,
            endpoints=(
                EndpointDescriptor(
                    bEndpointAddress=p.EP_INTR,
                    bmAttributes=TRANSFER_INTERRUPT,
                    wMaxPacketSize=p.IRQ_LENGTH,
                    bInterval=1,
                ),
                EndpointDescriptor(bEndpointAddress=p.EP_DATA, wMaxPacketSize=self.max_packet_size),
            ),
        )
        self.configuration_descriptor = ConfigurationDescriptor(
            bmAttributes=0x80, bMaxPower=50, interfaces=(self.interface,)
        )
        if chunk_size <= 0:
            raise ValueError("chunk_size must be positive")
        self.chunk_size = chunk_size
        self.blocks = blocks
        self.initial_hwstat = initial_hwstat
        #: Fault: after this many image bytes read by the host, the cable is pulled.
        self.unplug_after_image_bytes: int | None = None
        #: Fault: the image header is garbage (num_lines 0xA5A5).
        self.garbage_header = False
        #: Fault: the scan power interrupt never comes.
        self.no_scan_power = False
        #: The registers the host wrote, in order (register, value bytes), for tests.
        self.writes: list[tuple[int, bytes]] = []
        #: How many images were sent.
        self.captures = 0
        self._ready = threading.Condition(self.lock)
        self._queues: dict[int, deque[bytes]] = {p.EP_INTR: deque(), p.EP_DATA: deque()}
        self._image_sent = 0
        self._finger: bytes | None = None
        self._lift_after_capture = True
        self._reset_state()

    # -- test controls ----------------------------------------------------------------------------

    def place_finger(
        self,
        image: Any = None,
        *,
        seed: int = 0,
        position: str = "right_index",
        impression: int = 0,
        lift_after_capture: bool = True,
    ) -> None:
        """Put a finger on the glass: ``image`` (a PIL image), or when None the synthetic finger
        ``(seed, position, impression)`` from ``ektp_plugins.simulators.synthetic``. With
        ``lift_after_capture`` the finger is lifted as soon as the driver waits for that."""
        if image is None:
            try:
                from ektp_plugins.simulators.synthetic import finger  # type: ignore[import-not-found,attr-defined,unused-ignore]
            except ImportError as exc:  # being written alongside this driver; needs numpy/scipy
                raise RuntimeError(
                    "no image given and ektp_plugins.simulators.synthetic.finger is not available"
                ) from exc
            image = finger(seed, position, impression=impression)
        pixels = fit(image)
        with self.lock:
            self._finger = pixels
            self._lift_after_capture = lift_after_capture
            if self.mode == p.MODE_AWAIT_FINGER_ON and self.powered:
                self._irq(p.IRQDATA_FINGER_ON)

    def lift_finger(self) -> None:
        """Take the finger off the glass."""
        with self.lock:
            self._finger = None
            if self.mode == p.MODE_AWAIT_FINGER_OFF and self.powered:
                self._irq(p.IRQDATA_FINGER_OFF)

    @property
    def finger_down(self) -> bool:
        """True while a finger is on the glass."""
        return self._finger is not None

    def expected_capture(self, image: Any) -> bytes:
        """The pixels the driver returns for ``image``: the fitted picture with the rows of NOT_PRESENT
        blocks replaced by the next row sent (colours and flips undone by the driver)."""
        sent = self._rows_sent(fit(image))
        wire = p.assemble(p.ImageHeader(len(sent) // p.IMAGE_WIDTH, 0, self.blocks), sent)
        if self.product_id == p.PRODUCT_ID_4000:
            wire = p.flip_both(wire)
        return p.invert(wire)

    # -- the device -------------------------------------------------------------------------------

    def _reset_state(self) -> None:
        self.hwstat = self.initial_hwstat
        self.mode = p.MODE_INIT
        self.registers: dict[int, int] = {}
        for queue in self._queues.values():
            queue.clear()
        self._image_sent = 0

    @property
    def powered(self) -> bool:
        """True when the sensor is out of low power."""
        return not self.hwstat & p.HWSTAT_LOW_POWER

    def on_plug(self) -> None:
        self._reset_state()

    def on_reset(self) -> None:
        self._reset_state()

    def on_unplug(self) -> None:
        self._ready.notify_all()

    def _irq(self, kind: int) -> None:
        self._queues[p.EP_INTR].append(p.irq_packet(kind))
        self._ready.notify_all()

    def on_ctrl(self, request_type: int, request: int, value: int, index: int, data: bytes | int) -> bytes | int | None:
        if request != p.USB_RQ or index != 0:
            return None
        if request_type == p.CTRL_IN and isinstance(data, int):
            return self._read(value, data)
        if request_type == p.CTRL_OUT and isinstance(data, bytes):
            self.writes.append((value, data))
            for offset, byte in enumerate(data):
                self._write(value + offset, byte)
            return len(data)
        return None

    def _read(self, register: int, length: int) -> bytes:
        out = bytearray()
        for reg in range(register, register + length):
            if reg == p.REG_HWSTAT:
                out.append(self.hwstat)
            elif reg == p.REG_MODE:
                out.append(self.mode)
            elif p.REG_DEVICE_INFO <= reg < p.REG_DEVICE_INFO + len(DEVICE_INFO):
                out.append(DEVICE_INFO[reg - p.REG_DEVICE_INFO])
            else:
                out.append(self.registers.get(reg, 0))
        return bytes(out)

    def _write(self, register: int, value: int) -> None:
        if register == p.REG_HWSTAT:
            self._set_hwstat(value)
        elif register == p.REG_MODE:
            self._set_mode(value)
        else:
            self.registers[register] = value

    def _set_hwstat(self, value: int) -> None:
        was_powered = self.powered
        if value & p.HWSTAT_LOW_POWER:
            self.hwstat = value
            return
        # Leaving low power (or rebooting a confused device): bit 0 tells the power came back.
        self.hwstat = (value & 0x0F) | p.HWSTAT_POWER_REBOOTED
        if not was_powered and not self.no_scan_power:
            self._irq(p.IRQDATA_SCANPWR_ON)

    def _set_mode(self, mode: int) -> None:
        self.mode = mode
        if not self.powered:
            return
        if mode == p.MODE_AWAIT_FINGER_ON and self._finger is not None:
            self._irq(p.IRQDATA_FINGER_ON)
        elif mode == p.MODE_CAPTURE and self._finger is not None:
            self._send_image(self._finger)
        elif mode == p.MODE_AWAIT_FINGER_OFF:
            if self._finger is not None and self._lift_after_capture:
                self._finger = None
            if self._finger is None:
                self._irq(p.IRQDATA_FINGER_OFF)

    def _rows_sent(self, pixels: bytes) -> bytes:
        """The rows of the present blocks, from the picture as the wire carries it."""
        wire = p.invert(pixels)
        if self.product_id == p.PRODUCT_ID_4000:
            wire = p.flip_both(wire)
        out = bytearray()
        row = 0
        for block in self.blocks:
            if block.present:
                out += wire[row * p.IMAGE_WIDTH : (row + block.lines) * p.IMAGE_WIDTH]
            row += block.lines
        return bytes(out)

    def _send_image(self, pixels: bytes) -> None:
        rows = self._rows_sent(pixels)
        header = p.ImageHeader(len(rows) // p.IMAGE_WIDTH, 0, self.blocks).pack()
        if self.garbage_header:
            header = b"\xa5" * p.HEADER_LENGTH
        payload = header + rows
        queue = self._queues[p.EP_DATA]
        queue.clear()
        for start in range(0, len(payload), self.chunk_size):
            queue.append(payload[start : start + self.chunk_size])
        self._image_sent = 0
        self.captures += 1
        self._ready.notify_all()

    def bulk_in(self, endpoint: int, size: int, timeout_ms: int) -> bytes:
        """One read on the interrupt (0x81) or the image (0x82) endpoint: at most one queued packet or
        chunk, waiting up to ``timeout_ms`` (0: forever); ``b""`` for a timeout or an unplug."""
        deadline = None if timeout_ms == 0 else time.monotonic() + timeout_ms / 1000
        queue = self._queues.get(int(endpoint))
        if queue is None:
            return b""
        with self._ready:
            while True:
                if not self.plugged:
                    return b""
                cut = self.unplug_after_image_bytes
                if endpoint == p.EP_DATA and cut is not None and self._image_sent >= cut and queue:
                    self.unplug()
                    return b""
                if queue:
                    break
                if deadline is None:
                    self._ready.wait()
                    continue
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return b""
                self._ready.wait(remaining)
            chunk = queue[0]
            take = min(size, len(chunk))
            if endpoint == p.EP_DATA and cut is not None:
                take = min(take, cut - self._image_sent)
            piece, rest = chunk[:take], chunk[take:]
            if rest:
                queue[0] = rest
            else:
                queue.popleft()
            if endpoint == p.EP_DATA:
                self._image_sent += len(piece)
            return piece
