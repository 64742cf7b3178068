"""An emulated Acme Printer printer: the line protocol of :mod:`.protocol` on 127.0.0.1.

It keeps what a real printer keeps, so the driver and the ledger can be tested against it: a serial,
a card counter, a hopper of blank cards and a ribbon. With a folder, that state survives restarts
(``state.json``) and every card it prints is written there as ``cards/NNNNNN.png``.

A card takes ``mechanism_seconds`` to go through (0 by default). Meanwhile STATUS says BUSY and
another PRINT is refused with BUSY; the printer is READY again *before* it sends the end-of-job
answer (``OK cards=<n>``), so a STATUS sent right after that answer never finds it BUSY.

Faults on request, for tests: :attr:`~AcmeEmulator.cover_open`, an empty hopper or ribbon
(:attr:`~AcmeEmulator.hopper`, :attr:`~AcmeEmulator.ribbon`),
:meth:`~AcmeEmulator.fail_next` (answer the next PRINT with an error code),
:meth:`~AcmeEmulator.hang_next` (never answer it) and
:meth:`~AcmeEmulator.drop_next` (hang up instead of answering).

Run one by hand with ``python -m ektp_acme_printer.emulator [FOLDER] [--port N]``.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import socketserver
import threading
import uuid
from pathlib import Path
from typing import Any

from ektp_core.devices.printers import EVOLIS_CANVAS
from PIL import Image, UnidentifiedImageError

from . import protocol

MODEL = "Acme Printer emulator"
FIRMWARE = "1.0"


class AcmeEmulator:
    """A Acme Printer printer on 127.0.0.1 (see the module docstring)."""

    def __init__(
        self,
        folder: Path | str | None = None,
        *,
        hopper: int = 100,
        ribbon: int = 500,
        canvas: tuple[int, int] = EVOLIS_CANVAS,
        port: int = 0,
        mechanism_seconds: float = 0.0,
    ) -> None:
        self.folder = Path(folder) if folder is not None else None
        self.canvas = canvas
        self.port = port
        self.mechanism_seconds = mechanism_seconds
        self.cover_open = False
        #: Busy with something else than a card (a test sets it); a card in the mechanism is _printing.
        self.busy = False
        self._printing = False
        self._lock = threading.Lock()
        self._fault: str | None = None
        self._server: socketserver.ThreadingTCPServer | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        state = self._load()
        self.serial: str = state.get("serial") or f"EMU-{uuid.uuid4().hex[:8].upper()}"
        self.cards: int = int(state.get("cards", 0))
        self.hopper: int = int(state.get("hopper", hopper))
        self.ribbon: int = int(state.get("ribbon", ribbon))
        self._save()

    # -- state -------------------------------------------------------------------------------------

    def _load(self) -> dict[str, Any]:
        if self.folder is None or not (self.folder / "state.json").is_file():
            return {}
        state: dict[str, Any] = json.loads((self.folder / "state.json").read_text("utf-8"))
        return state

    def _save(self) -> None:
        if self.folder is None:
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        temp = self.folder / "state.json.tmp"
        temp.write_text(
            json.dumps(
                {"serial": self.serial, "cards": self.cards, "hopper": self.hopper, "ribbon": self.ribbon}, indent=1
            )
            + "\n",
            "utf-8",
        )
        os.replace(temp, self.folder / "state.json")

    def printed(self) -> list[Path]:
        """The cards written to the folder, oldest first."""
        if self.folder is None:
            return []
        return sorted((self.folder / "cards").glob("*.png"))

    # -- faults --------------------------------------------------------------------------------------

    def fail_next(self, code: str) -> None:
        """Answer the next PRINT with ``ERR code``. RIBBON and JAM use up the card, as on a real printer,
        and so does a code the protocol does not know; the not-taken codes (BUSY, COVER...) do not."""
        self._fault = code

    def hang_next(self) -> None:
        """Never answer the next PRINT (the driver times out)."""
        self._fault = "<hang>"

    def drop_next(self) -> None:
        """Hang up instead of answering the next PRINT (after printing the card)."""
        self._fault = "<drop>"

    # -- serving ---------------------------------------------------------------------------------------

    def start(self) -> tuple[str, int]:
        """Listen on 127.0.0.1 (``port`` 0: any free port) in a background thread; returns the address."""
        emulator = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                emulator._serve(self.rfile, self.wfile)

        class Server(socketserver.ThreadingTCPServer):
            allow_reuse_address = True
            daemon_threads = True

        self._stopping = threading.Event()
        self._server = Server(("127.0.0.1", self.port), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, name=f"emulator-{self.serial}", daemon=True)
        self._thread.start()
        return self.address

    @property
    def address(self) -> tuple[str, int]:
        """Where it listens (after :meth:`start`)."""
        if self._server is None:
            raise RuntimeError("the emulator is not started")
        host, port = self._server.server_address[:2]
        return str(host), int(port)

    def stop(self) -> None:
        """Stop listening (safe to call twice)."""
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> AcmeEmulator:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _serve(self, rfile: Any, wfile: Any) -> None:
        while True:
            line = rfile.readline(protocol.MAX_LINE + 1)
            if not line:
                return
            try:
                command, args = protocol.parse_request(line)
            except protocol.ProtocolError as exc:
                wfile.write(protocol.err("SYNTAX", str(exc)))
                continue
            if command == "BYE":
                wfile.write(protocol.ok())
                return
            reply = self._answer(command, args, rfile)
            if reply is None:  # a fault: hang up without an answer
                return
            wfile.write(reply)

    def _answer(self, command: str, args: list[str], rfile: Any) -> bytes | None:
        if command == "HELLO":
            return protocol.ok(
                model=MODEL.replace(" ", "-"),
                serial=self.serial,
                firmware=FIRMWARE,
                canvas=f"{self.canvas[0]}x{self.canvas[1]}",
            )
        if command == "STATUS":
            with self._lock:
                return self._status_line()
        if command == "PRINT":
            return self._print(args, rfile)
        return protocol.err("SYNTAX", f"unknown request {command}")

    def _status_line(self) -> bytes:
        error = "COVER" if self.cover_open else "NOCARD" if self.hopper <= 0 else "NORIBBON" if self.ribbon <= 0 else ""
        state = "ERROR" if error else "BUSY" if self.busy or self._printing else "READY"
        fields: dict[str, object] = {"state": state, "cards": self.cards, "hopper": self.hopper, "ribbon": self.ribbon}
        if error:
            fields["error"] = error
        return protocol.ok(**fields)

    def _print(self, args: list[str], rfile: Any) -> bytes | None:
        if len(args) != 3 or not all(a.isdigit() for a in args):
            return protocol.err("SYNTAX", "PRINT takes <width> <height> <length>")
        width, height, length = (int(a) for a in args)
        if length > protocol.MAX_CARD_BYTES:
            return None  # refuse to read it: hang up
        image = rfile.read(length)
        if len(image) != length:
            return None
        with self._lock:
            fault, self._fault = self._fault, None
        if fault == "<hang>":
            self._stopping.wait()  # no answer until the emulator stops: the driver times out
            return None
        with self._lock:
            refusal = self._refusal(width, height, image)
            if refusal is None and fault in protocol.NOT_STARTED:
                refusal = protocol.err(fault, "emulated failure")  # refused before the card is taken
            if refusal is not None:
                return refusal
            # The card goes through the printer from here: it counts, printed or spoiled.
            self._printing = True
            self.cards += 1
            self.hopper -= 1
            self.ribbon -= 1
        try:
            # The mechanism runs without the lock, so a STATUS meanwhile answers (BUSY).
            self._stopping.wait(self.mechanism_seconds)
            with self._lock:
                return self._finish(image, fault)
        finally:
            # Idle again before _serve writes the end-of-job answer: the order matters, since a driver
            # asks STATUS as soon as it has read that answer, and a BUSY there would look like a fault.
            with self._lock:
                self._printing = False

    def _finish(self, image: bytes, fault: str | None) -> bytes | None:
        """The end of a card taken from the hopper: spoiled by a fault, or written out (lock held)."""
        if fault in ("JAM", "RIBBON"):
            if fault == "RIBBON":
                self.ribbon = 0
            self._save()
            return protocol.err(fault, "card jammed" if fault == "JAM" else "ribbon ended during the card")
        if fault is not None and fault != "<drop>":
            self._save()
            return protocol.err(fault, "emulated failure")
        if self.folder is not None:
            cards = self.folder / "cards"
            cards.mkdir(parents=True, exist_ok=True)
            (cards / f"{self.cards:06d}.png").write_bytes(image)
        self._save()
        if fault == "<drop>":
            return None
        return protocol.ok(cards=self.cards)

    def _refusal(self, width: int, height: int, image: bytes) -> bytes | None:
        if self.busy or self._printing:
            return protocol.err("BUSY", "printing another card")
        if self.cover_open:
            return protocol.err("COVER", "the cover is open")
        if self.hopper <= 0:
            return protocol.err("NOCARD", "the card hopper is empty")
        if self.ribbon <= 0:
            return protocol.err("NORIBBON", "no ribbon left")
        if (width, height) != self.canvas:
            return protocol.err("SIZE", f"the card must be {self.canvas[0]}x{self.canvas[1]}")
        try:
            with Image.open(io.BytesIO(image)) as png:
                if png.format != "PNG" or png.size != (width, height):
                    return protocol.err("SIZE", f"expected a {width}x{height} PNG")
        except (UnidentifiedImageError, OSError):
            return protocol.err("SIZE", "the card is not a PNG image")
        return None


def main(argv: list[str] | None = None) -> None:
    """Run an emulator in the foreground until interrupted."""
    parser = argparse.ArgumentParser(description="An emulated Acme Printer printer on 127.0.0.1.")
    parser.add_argument("folder", nargs="?", default=None, help="where it keeps its counter and cards")
    parser.add_argument("--port", type=int, default=protocol.DEFAULT_PORT, help="TCP port (default 9100)")
    parser.add_argument(
        "--mechanism-seconds", type=float, default=0.0, help="how long a card takes to go through (default 0)"
    )
    args = parser.parse_args(argv)
    emulator = AcmeEmulator(
        args.folder,
        port=args.port,
        mechanism_seconds=args.mechanism_seconds,
    )
    host, port = emulator.start()
    # Flushed: whoever started it (a test, a service manager) may be waiting for this line on a pipe.
    print(f"{MODEL} {emulator.serial} listening on {host}:{port}; Ctrl-C stops it", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        emulator.stop()


if __name__ == "__main__":
    main()
