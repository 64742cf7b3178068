"""The Evolis card printer driver: ``ektp_core.devices.printers.CardPrinter`` over USB with pyusb.

The transport is a pyusb backend given to the constructor (None: the system's libusb), so tests and
demos run this same code against :class:`~ektp_plugins.printers.evolis.emulator.EvolisEmulator`
behind :class:`~ektp_plugins.simulators.usb.FakeUsbBackend`.

Every exchange is one command and one reply, every read has a bounded timeout, and every failure is a
``PrinterError`` whose ``outcome`` follows one rule: until the ``Se`` command (sequence end) is sent,
the printer has not been asked to take a card, so the outcome is NOT_STARTED; from then on, a timeout
or an unplugged cable is UNKNOWN (the card may be anywhere) and the printer's own mid-card errors
(ribbon ended, jam) are SPOILED.
"""

from __future__ import annotations

import errno
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import usb.core
import usb.util
from ektp_plugins import usbdevice
from ektp_plugins.printers.evolis import protocol as p

from ektp_core.devices.printers import (
    EVOLIS_CANVAS,
    Outcome,
    PrinterError,
    PrinterNotConnected,
    PrinterStatus,
    PrinterTimeout,
    PrinterVanished,
    Progress,
    RenderedCard,
)
from ektp_core.messages import Message

log = logging.getLogger(__name__)

EVOLIS_VENDOR_ID = 0x0F49
#: How long a reply may take (status queries, acknowledgements of a downloaded panel).
DEFAULT_TIMEOUT_MS = 5000
#: How long a card may take from ``Se`` to the printer being ready again (a YMCKO card takes ~30 s).
DEFAULT_PRINT_TIMEOUT_MS = 120_000
# Short enough that a finished card is noticed within a few percent of a card's 16 s, and a status
# query (a few bytes) costs the printer nothing measurable.
DEFAULT_POLL_INTERVAL_MS = 50
#: Bytes per ``write`` call when sending a panel (each call has its own bounded timeout).
WRITE_CHUNK = 32 * 1024
_LIBUSB_NO_DEVICE, _LIBUSB_TIMEOUT = -4, -7


class EvolisPrinter:
    """An Evolis YMCKO card printer on USB, found by vendor/product id and, among several, by serial.

    ``backend`` is the pyusb backend (None: the system's libusb). ``timeout_ms`` bounds every reply,
    ``print_timeout_ms`` the whole print after the card is taken. ``compress`` sends the K and O
    panels with ``Dbc`` (line compression) instead of ``Db``. Safe to share between threads: one
    command/reply exchange at a time, one card at a time.
    """

    def __init__(
        self,
        name: str = "evolis",
        *,
        vendor_id: int = EVOLIS_VENDOR_ID,
        product_id: int | None = None,
        serial: str | None = None,
        timeout_ms: int = DEFAULT_TIMEOUT_MS,
        print_timeout_ms: int = DEFAULT_PRINT_TIMEOUT_MS,
        poll_interval_ms: int = DEFAULT_POLL_INTERVAL_MS,
        compress: bool = True,
        backend: Any = None,
    ) -> None:
        if timeout_ms <= 0 or print_timeout_ms <= 0 or poll_interval_ms <= 0:
            raise ValueError("timeout_ms, print_timeout_ms and poll_interval_ms must be positive")
        self.name = name
        self.vendor_id = vendor_id
        self.product_id = product_id
        self.serial = serial
        self.timeout_ms = timeout_ms
        self.print_timeout_ms = print_timeout_ms
        self.poll_interval_ms = poll_interval_ms
        self.compress = compress
        self.backend = backend
        #: The emulator behind a ``emulator = true`` printer (set by the plugin's factory), else None.
        self.emulator: Any = None
        self._dev: Any = None
        self._interface = 0
        self._ep_out: Any = None
        self._ep_in: Any = None
        self._packet = 64
        self._reattach = False
        self._card_taken = False
        self._io = threading.RLock()  # one command/reply exchange at a time
        self._job = threading.Lock()  # one card at a time

    @property
    def canvas(self) -> tuple[int, int]:
        """Evolis printers take 1016 x 648 pixels at 300 dpi."""
        return EVOLIS_CANVAS

    def __repr__(self) -> str:
        state = "open" if self._dev is not None else "closed"
        return f"<EvolisPrinter {self.name} {self.vendor_id:04x}:{self.product_id or 0:04x} {self.serial} {state}>"

    def __enter__(self) -> EvolisPrinter:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- open / close -----------------------------------------------------------------------------

    def open(self) -> None:
        """Find the printer, detach the kernel's printer driver if it holds the interface, claim the
        interface and flush stale replies. Raises :class:`PrinterNotConnected` (nothing consumed)."""
        with self._io:
            if self._dev is not None:
                return
            dev = self._find()
            try:
                self._claim(dev)
            except usb.core.USBError as exc:
                self._release(dev)
                raise PrinterNotConnected(
                    f"{self._what()}: cannot take the USB interface: {_usb_reason(exc)}", code=str(exc)
                ) from exc
            self._dev = dev
            self._card_taken = False
            self._drain()
            try:
                self._expect_ok(p.software_error_management(), "setting error management")
            except PrinterError:
                self.close()
                raise

    def close(self) -> None:
        """Release the interface, give the interface back to the kernel driver we detached, free the
        handle. Safe to call twice and after the printer vanished."""
        with self._io:
            dev, self._dev = self._dev, None
            if dev is not None:
                self._release(dev)

    def _release(self, dev: Any) -> None:
        with self._io:
            reattach, self._reattach = self._reattach, False
            usbdevice.release(dev, self._interface, reattach=reattach)

    def _what(self) -> str:
        product = f"{self.product_id:04x}" if self.product_id is not None else "*"
        ids = f"{self.vendor_id:04x}:{product}"
        return f"Evolis printer {self.name} ({ids}{', serial ' + self.serial if self.serial else ''})"

    def _find(self) -> Any:
        return usbdevice.find_one(
            backend=self.backend,
            vendor_id=self.vendor_id,
            product_id=self.product_id,
            serial=self.serial,
            what=self._what(),
            noun="printer",
            not_connected=PrinterNotConnected,
        )

    def _claim(self, dev: Any) -> None:
        self._reattach = usbdevice.claim(dev, self._interface)
        interface = dev.get_active_configuration()[(self._interface, 0)]
        self._ep_out = usb.util.find_descriptor(interface, custom_match=lambda e: _bulk(e, usb.util.ENDPOINT_OUT))
        self._ep_in = usb.util.find_descriptor(interface, custom_match=lambda e: _bulk(e, usb.util.ENDPOINT_IN))
        if self._ep_out is None or self._ep_in is None:
            raise usb.core.USBError("the printer interface has no bulk IN and OUT endpoints")
        self._packet = int(self._ep_in.wMaxPacketSize) or 64

    def _drain(self) -> None:
        """Read and drop replies left by an earlier session, so the next reply is ours."""
        for _ in range(64):
            try:
                self._dev.read(self._ep_in, self._packet, timeout=10)
            except usb.core.USBError:
                return

    # -- transport --------------------------------------------------------------------------------

    def _device(self) -> Any:
        if self._dev is None:
            raise PrinterNotConnected(f"{self._what()} is not open", outcome=self._outcome())
        return self._dev

    def _outcome(self) -> Outcome:
        return Outcome.UNKNOWN if self._card_taken else Outcome.NOT_STARTED

    def _usb_failure(self, exc: usb.core.USBError, doing: str) -> PrinterError:
        outcome = self._outcome()
        code = getattr(exc, "backend_error_code", None)
        if exc.errno == errno.ENODEV or code == _LIBUSB_NO_DEVICE:
            return PrinterVanished(
                f"{self._what()} disappeared from the USB bus while {doing}", outcome=outcome, code=str(exc)
            )
        if isinstance(exc, usb.core.USBTimeoutError) or exc.errno == errno.ETIMEDOUT or code == _LIBUSB_TIMEOUT:
            return PrinterTimeout(
                f"{self._what()} did not answer within {self.timeout_ms} ms while {doing}",
                outcome=outcome,
                code=str(exc),
            )
        return PrinterError(
            f"{self._what()}: USB error while {doing}: {_usb_reason(exc)}", outcome=outcome, code=str(exc)
        )

    def _write(self, payload: bytes, doing: str, progress: Callable[[int], None] | None = None) -> None:
        dev = self._device()
        for start in range(0, len(payload), WRITE_CHUNK):
            try:
                dev.write(self._ep_out, payload[start : start + WRITE_CHUNK], timeout=self.timeout_ms)
            except usb.core.USBError as exc:
                raise self._usb_failure(exc, doing) from exc
            if progress is not None:
                progress(min(start + WRITE_CHUNK, len(payload)))

    def _read_reply(self, doing: str) -> str:
        dev = self._device()
        deadline = time.monotonic() + self.timeout_ms / 1000
        raw = bytearray()
        while True:
            remaining = int((deadline - time.monotonic()) * 1000)
            if remaining <= 0:
                exc = usb.core.USBTimeoutError("Operation timed out", _LIBUSB_TIMEOUT, errno.ETIMEDOUT)
                raise self._usb_failure(exc, doing)
            try:
                chunk = bytes(dev.read(self._ep_in, self._packet, timeout=remaining))
            except usb.core.USBError as exc:
                raise self._usb_failure(exc, doing) from exc
            raw += chunk
            # A reply ends with CR (or NUL), or with a short packet: the end of a USB transfer.
            if b"\r" in raw or b"\x00" in raw or len(chunk) < self._packet:
                break
        try:
            return p.parse_reply(bytes(raw))
        except p.ProtocolError as exc:
            raise PrinterError(
                f"{self._what()} sent a reply that is not Evolis protocol while {doing}: {exc}",
                outcome=self._outcome(),
                code=bytes(raw[:64]).hex(),
            ) from exc

    def _ask(self, payload: bytes, doing: str, progress: Callable[[int], None] | None = None) -> str:
        with self._io:
            self._write(payload, doing, progress)
            return self._read_reply(doing)

    def _expect_ok(self, payload: bytes, doing: str, progress: Callable[[int], None] | None = None) -> None:
        reply = self._ask(payload, doing, progress)
        if reply == p.OK:
            return
        flag = p.refusal_flag(reply)
        if flag is not None:
            raise p.error_for(flag, card_taken=self._card_taken, doing=doing)
        raise PrinterError(
            f"{self._what()} answered {reply!r} while {doing} (expected OK)", outcome=self._outcome(), code=reply
        )

    def _query(self, which: p.Query, doing: str) -> str:
        return self._ask(p.query(which), doing)

    def _optional(self, which: p.Query, doing: str) -> str | None:
        """An informational read: None when the model does not know the command."""
        reply = self._query(which, doing)
        return None if p.refusal_flag(reply) is not None else reply

    def _state(self) -> p.State:
        reply = self._query(p.Query.STATE, "reading its state")
        try:
            return p.parse_state(reply)
        except p.ProtocolError as exc:
            raise PrinterError(f"{self._what()}: {exc}", outcome=self._outcome(), code=reply) from exc

    def _counter(self) -> int | None:
        reply = self._optional(p.Query.COUNTER, "reading its card counter")
        if reply is None:
            return None
        try:
            return p.parse_number(reply, "card counter")
        except p.ProtocolError as exc:
            raise PrinterError(f"{self._what()}: {exc}", outcome=self._outcome(), code=reply) from exc

    # -- the CardPrinter interface ----------------------------------------------------------------

    def status(self) -> PrinterStatus:
        """State, model, serial, firmware, card counter and ribbon, as the printer reports them."""
        return self._status()[0]

    def _status(self) -> tuple[PrinterStatus, p.State]:
        with self._io:
            state = self._state()
            left = self._optional(p.Query.RIBBON_LEFT, "reading the ribbon")
            return PrinterStatus(
                state=state.printer_state,
                message=Message(f"evolis.{state.flag}", text=state.text),
                model=self._optional(p.Query.MODEL, "reading its model") or "",
                serial=self._optional(p.Query.SERIAL, "reading its serial number") or "",
                firmware=self._optional(p.Query.FIRMWARE, "reading its firmware version") or "",
                card_count=self._counter(),
                ribbon=self._optional(p.Query.RIBBON, "reading the ribbon"),
                ribbon_remaining=int(left) if left is not None and left.isdigit() else None,
            ), state

    def print_card(self, card: RenderedCard, *, progress: Progress | None = None) -> PrinterStatus:
        """Check the printer, send the sequence (start, panels, end), wait until the card is out and
        return the status after it. See the module text for the outcome of each failure."""
        report: Progress = progress or (lambda step, fraction: None)
        if (card.width, card.height) != self.canvas:
            raise PrinterError(
                f"the card was rendered at {card.width} x {card.height}; {self.name} prints "
                f"{self.canvas[0]} x {self.canvas[1]}",
                outcome=Outcome.NOT_STARTED,
            )
        panels = self._panel_commands(card)  # encode before touching the printer
        with self._job:
            self._card_taken = False
            try:
                return self._print(panels, report)
            finally:
                self._card_taken = False

    def eject_card(self) -> None:
        """Push out a card left in the printer (after a fault the operator has cleared)."""
        self._expect_ok(p.eject_card(), "ejecting the card")

    def _panel_commands(self, card: RenderedCard) -> list[tuple[str, bytes]]:
        y, m, c = p.colour_planes(card.rgb)
        commands = [
            ("panel Y", p.colour_download(p.Panel.Y, y)),
            ("panel M", p.colour_download(p.Panel.M, m)),
            ("panel C", p.colour_download(p.Panel.C, c)),
            ("panel K", p.mono_download(p.Panel.K, card.k, compress=self.compress)),
            ("panel O", p.mono_download(p.Panel.O, card.overlay, compress=self.compress)),
        ]
        if card.back_k is not None:
            commands.append(("back", p.back_side()))
            commands.append(("back panel K", p.mono_download(p.Panel.K, card.back_k, compress=self.compress)))
        return commands

    def _print(self, panels: list[tuple[str, bytes]], report: Progress) -> PrinterStatus:
        report("checking the printer", 0.0)
        before, state = self._status()
        if not before.ready:
            raise p.error_for(state.flag, card_taken=False, doing="checking it before the card")
        total = sum(len(payload) for _, payload in panels)
        sent = 0
        with self._io:  # the sequence is one conversation: no status query slips in between
            self._expect_ok(p.sequence_start(), "starting the card sequence")
            self._expect_ok(p.front_side(), "starting the front")
            for step, payload in panels:
                base = sent
                report(step, 0.05 + 0.75 * base / total)

                def moved(done: int, base: int = base, step: str = step) -> None:
                    report(step, 0.05 + 0.75 * (base + done) / total)

                self._expect_ok(payload, f"sending the {step}", moved)
                sent += len(payload)
            report("printing", 0.8)
            # From here the printer may take a card: a failure can no longer mean "nothing consumed".
            self._card_taken = True
            self._expect_ok(p.sequence_end(), "ending the sequence (the printer takes a card)")
        after = self._wait_done(before.card_count, report)
        report("done", 1.0)
        return after

    def _wait_done(self, before: int | None, report: Progress) -> PrinterStatus:
        """Poll until the card is out: the counter moved on and the printer is ready (or only warns
        about the next card: feeder now empty, ribbon now finished). Bounded by print_timeout_ms."""
        deadline = time.monotonic() + self.print_timeout_ms / 1000
        seen_busy = False
        while True:
            state = self._state()
            if state.major == p.ERROR:
                raise p.error_for(state.flag, card_taken=True, doing="printing the card")
            if state.major in (p.READY, p.WARNING):
                count = self._counter()
                moved = seen_busy if before is None or count is None else count > before
                if moved:
                    return self.status()
                if state.major == p.WARNING:  # refused before feeding: nothing was taken
                    raise p.error_for(state.flag, card_taken=False, doing="waiting for the card")
            else:
                seen_busy = True
            if time.monotonic() >= deadline:
                raise PrinterTimeout(
                    f"{self._what()} was still {state.text} {self.print_timeout_ms} ms after the card was sent",
                    outcome=Outcome.UNKNOWN,
                    code=state.flag,
                )
            report("printing", 0.9)
            time.sleep(self.poll_interval_ms / 1000)


def _bulk(endpoint: Any, direction: int) -> bool:
    return bool(
        usb.util.endpoint_direction(endpoint.bEndpointAddress) == direction
        and usb.util.endpoint_type(endpoint.bmAttributes) == usb.util.ENDPOINT_TYPE_BULK
    )


_usb_reason = usbdevice.usb_reason
