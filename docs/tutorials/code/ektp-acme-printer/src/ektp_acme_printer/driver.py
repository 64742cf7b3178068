"""The ``acme-printer`` driver: an ektp :class:`~ektp_core.devices.printers.CardPrinter`.

It speaks the line protocol of :mod:`ektp_acme_printer.protocol`
over TCP. The printer tells its canvas
(the card's size in pixels) when the driver says HELLO, so the layout is drawn for it.

Options (the ``options`` of a ``[[devices.printers]]`` table in the profile):

* ``host`` (default ``"127.0.0.1"``) and ``port`` (default 9100): where the printer listens;
* ``timeout_ms`` (default 30000): how long to wait for any answer, including the end of a card;
* ``emulator`` (default false): start an emulator
  (:class:`~ektp_acme_printer.emulator.AcmeEmulator`)
  on 127.0.0.1 when the printer is opened, instead of connecting to ``host`` and ``port``;
* ``emulator_state``: the folder where that emulator keeps its card counter and the cards it printed
  (relative paths are inside the deployment folder; without it the emulator forgets on close).

What the printer's errors mean for the card follows the protocol's table; in addition, a printer
that stops answering during a card is a :class:`~ektp_core.devices.printers.PrinterTimeout` and a connection
lost during a card a :class:`~ektp_core.devices.printers.PrinterVanished` (the card's fate is unknown: a
supervisor looks), and a printer that cannot be reached is
:class:`~ektp_core.devices.printers.PrinterNotConnected` (nothing was taken).
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from ektp_core.devices.options import DriverOptions
from ektp_core.devices.printers import (
    EVOLIS_CANVAS,
    Outcome,
    PrinterError,
    PrinterNotConnected,
    PrinterState,
    PrinterStatus,
    PrinterTimeout,
    PrinterVanished,
    Progress,
    RenderedCard,
)

from . import protocol

if TYPE_CHECKING:  # imported where it starts: see open()
    from .emulator import AcmeEmulator

log = logging.getLogger(__name__)

#: The plugin's name, in messages.
PLUGIN = "acme-printer"
OPTIONS = ("host", "port", "timeout_ms", "emulator", "emulator_state")
_STATES = {"READY": PrinterState.READY, "BUSY": PrinterState.BUSY, "ERROR": PrinterState.ERROR}


class AcmePrinter:
    """A printer on the network (or its emulator); see the module docstring for the options."""

    def __init__(self, name: str, options: dict[str, Any]) -> None:
        #: How messages name this printer.
        self.label = f"{PLUGIN} printer {name}"
        try:
            opts = DriverOptions(options, OPTIONS)
            self.host = opts.string("host") or "127.0.0.1"
            self.port = opts.number("port", protocol.DEFAULT_PORT, positive=True) or protocol.DEFAULT_PORT
            self.timeout = (opts.number("timeout_ms", 30000, positive=True) or 30000) / 1000
            self.use_emulator = opts.flag("emulator", False)
            state = opts.string("emulator_state")
        except ValueError as exc:
            raise ValueError(f"{PLUGIN} printer {name}: {exc}") from None
        if self.port > 65535:
            raise ValueError(f"{PLUGIN} printer {name}: port {self.port} is not a TCP port (1-65535)")
        self.name = name
        self.emulator_state = Path(state) if state else None
        #: The emulator this driver started (``emulator = true``), while open.
        self.emulator: AcmeEmulator | None = None
        self.model = self.serial = self.firmware = ""
        self._canvas = EVOLIS_CANVAS
        self._sock: socket.socket | None = None
        self._reader: BinaryIO | None = None
        self._lock = threading.Lock()

    @property
    def canvas(self) -> tuple[int, int]:
        """The card size in pixels the printer announced (1016 x 648 until it is opened)."""
        return self._canvas

    @property
    def is_open(self) -> bool:
        """True while connected."""
        return self._sock is not None

    # -- connection --------------------------------------------------------------------------------

    def open(self) -> None:
        """Connect (starting the emulator first when asked to) and greet the printer."""
        with self._lock:
            if self._sock is not None:
                return
            host, port = self.host, self.port
            if self.use_emulator:
                # Imported here, not at the top: the package must not import its emulator module, or
                # `python -m ektp_acme_printer.emulator` would run a second copy of it (and warn).
                from .emulator import AcmeEmulator

                self.emulator = AcmeEmulator(self.emulator_state)
                host, port = self.emulator.start()
            try:
                self._sock = socket.create_connection((host, port), timeout=self.timeout)
                self._reader = self._sock.makefile("rb")
                hello = self._ask(protocol.request("HELLO"))
            except (OSError, protocol.ProtocolError) as exc:
                self._disconnect()
                raise PrinterNotConnected(
                    f"{self.label}: cannot talk to {host}:{port}: {exc}", code=type(exc).__name__
                ) from None
            if not hello.ok:
                self._disconnect()
                raise PrinterNotConnected(f"{self.label} refused the greeting: {hello.message}", code=hello.code)
            self.model = hello.fields.get("model", "")
            self.serial = hello.fields.get("serial", "")
            self.firmware = hello.fields.get("firmware", "")
            width, _, height = hello.fields.get("canvas", "").partition("x")
            if width.isdigit() and height.isdigit():
                self._canvas = (int(width), int(height))
            log.info("%s: %s serial %s at %s:%s", self.label, self.model, self.serial, host, port)

    def close(self) -> None:
        """Say goodbye and disconnect (safe to call twice); stops the emulator this driver started."""
        with self._lock:
            if self._sock is not None:
                with contextlib.suppress(OSError):
                    self._sock.sendall(protocol.request("BYE"))
            self._disconnect()

    def _disconnect(self) -> None:
        for closable in (self._reader, self._sock):
            if closable is not None:
                with contextlib.suppress(OSError):
                    closable.close()
        self._sock = self._reader = None
        if self.emulator is not None:
            self.emulator.stop()
            self.emulator = None

    def _ask(self, line: bytes, payload: bytes = b"") -> protocol.Reply:
        """Send a request (and its payload) and read the reply line. Raises OSError, TimeoutError
        (a subclass) and ProtocolError; an empty reply (the printer hung up) is ConnectionError."""
        if self._sock is None or self._reader is None:
            raise ConnectionError("not connected")
        self._sock.sendall(line + payload)
        reply = self._reader.readline(protocol.MAX_LINE + 1)
        if not reply:
            raise ConnectionError("the printer closed the connection")
        return protocol.parse_reply(reply)

    # -- ektp_core.devices.printers.CardPrinter --------------------------------------------------------------

    def status(self) -> PrinterStatus:
        """The printer's state and counters; OFFLINE (never an exception) when it cannot be asked."""
        with self._lock:
            if self._sock is None:
                return PrinterStatus(state=PrinterState.OFFLINE, message="not open", model=self.model)
            try:
                reply = self._ask(protocol.request("STATUS"))
            except (OSError, protocol.ProtocolError) as exc:
                self._disconnect()
                return PrinterStatus(state=PrinterState.OFFLINE, message=f"no answer: {exc}", model=self.model)
            return self._status(reply)

    def _status(self, reply: protocol.Reply) -> PrinterStatus:
        if not reply.ok:
            return PrinterStatus(state=PrinterState.ERROR, message=f"{reply.code}: {reply.message}", model=self.model)
        state = _STATES.get(reply.fields.get("state", ""), PrinterState.ERROR)
        error = reply.fields.get("error", "")
        return PrinterStatus(
            state=state,
            message=error,
            model=self.model,
            serial=self.serial,
            firmware=self.firmware,
            card_count=reply.number("cards"),
            ribbon_remaining=reply.number("ribbon"),
        )

    def print_card(self, card: RenderedCard, *, progress: Progress | None = None) -> PrinterStatus:
        """Send the card's image and wait for the printer to finish it; returns the status after it."""

        def step(name: str, fraction: float) -> None:
            if progress is not None:
                progress(name, fraction)

        with self._lock:
            if self._sock is None:
                raise PrinterNotConnected(f"{self.label} is not open")
            if (card.width, card.height) != self._canvas:
                raise PrinterError(
                    f"{self.label}: the card is {card.width}x{card.height} pixels, "
                    f"the printer takes {self._canvas[0]}x{self._canvas[1]}",
                    outcome=Outcome.NOT_STARTED,
                    code="SIZE",
                )
            image = card.preview_png
            step("sending", 0.1)
            try:
                reply = self._ask(protocol.request("PRINT", card.width, card.height, len(image)), image)
                step("printed", 0.9)
                if not reply.ok:
                    raise protocol.error_for(reply, self.name)
                counted = reply.number("cards")
                after = self._status(self._ask(protocol.request("STATUS")))
            except TimeoutError:
                self._disconnect()
                raise PrinterTimeout(
                    f"{self.label} did not answer within {self.timeout:g} s while printing: look at the printer",
                    code="timeout",
                ) from None
            except (OSError, protocol.ProtocolError) as exc:
                self._disconnect()
                raise PrinterVanished(
                    f"{self.label}: the connection was lost while printing ({exc}): look at the printer",
                    code=type(exc).__name__,
                ) from None
            if after.card_count != counted:
                log.warning("%s: PRINT said %s cards, STATUS %s", self.label, counted, after.card_count)
            step("done", 1.0)
            return after
