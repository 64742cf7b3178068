"""An Evolis printer that lives behind the fake pyusb backend, speaks the escape commands byte for byte
and fails on demand.

It parses the stream exactly as it arrives (commands split across USB packets anyhow, panel data framed
by its declared length, so 0x1B and 0x0D inside image bytes are data), keeps a card counter, a ribbon
with a finite number of prints and a card feeder with a count, answers the read commands, and keeps
what it "printed": :attr:`EvolisEmulator.printed_cards` holds the decoded Y, M, C, K, O planes of each
card and the RGB image they make, for a test to compare with the RenderedCard that was sent.

Faults, for tests and demos (each is an attribute or a method; see the class):

* ``ribbon_end_on_next_card`` / ``jam_on_next_card``: the next card is spoiled mid-print
  (``ERR_RIBBON_ENDED`` / ``ERR_MECHANICAL``); the printer stays in error until :meth:`clear_error`;
* ``feeder = 0`` (or :meth:`load_cards`), ``ribbon_left = 0`` (or :meth:`replace_ribbon`),
  ``cover_open``, ``busy``: the printer refuses before taking a card;
* :meth:`stop_answering`: no more replies (now, or after a given command), so reads time out;
* ``unplug_after_out_bytes`` (from the USB base class): the cable comes out in the middle of a write;
* :meth:`garble_next_reply`: the next reply is replaced by the given bytes;
* ``on_command``: a function called with every parsed command before it is handled (to unplug or
  change state at an exact point of the sequence).

``mechanism_seconds`` models the physical print time (0 in tests); ``feed_delay_seconds`` a printer
that acknowledges the end of the sequence and only later feeds the card, still saying READY meanwhile.
The print finishes lazily, when the host next talks to the printer or asks for ``printed_cards``, so
no thread runs inside the emulator.

With ``state_dir`` the printer remembers its counter, ribbon and feeder across processes
(``state.json``) and files every card it prints as ``cards/card-NNNNNN.png`` (what came out) with
``.json`` (its number, time and the SHA-256 of each panel).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
from ektp_plugins.printers.evolis import protocol as p
from ektp_plugins.simulators.usb import EmulatedDevice

EVOLIS_VENDOR_ID = 0x0F49
#: The emulator's USB product id. Not a real Evolis product id: chosen to be recognisably a test value.
EMULATED_PRODUCT_ID = 0x7E57
#: USB printer class, printer subclass, bidirectional protocol.
PRINTER_CLASS, PRINTER_SUBCLASS, PRINTER_BIDIRECTIONAL = 0x07, 0x01, 0x02
DEFAULT_SERIAL = "EMU0000001"

_BLANK = bytes(p.PIXELS)


@attrs.frozen(kw_only=True)
class PrintedCard:
    """A card as the emulator printed it. Planes are landscape (``width`` x ``height``, row-major, one
    byte per pixel, as in a RenderedCard): ``y``, ``m``, ``c`` are ink densities 0-255, ``k``, ``o`` and
    ``back_k`` are 0 or 255; ``rgb`` is what the card looks like (Y, M, C then black resin on top)."""

    number: int
    width: int
    height: int
    y: bytes = attrs.field(repr=False)
    m: bytes = attrs.field(repr=False)
    c: bytes = attrs.field(repr=False)
    k: bytes = attrs.field(repr=False)
    o: bytes = attrs.field(repr=False)
    rgb: bytes = attrs.field(repr=False)
    back_k: bytes | None = attrs.field(default=None, repr=False)

    def png(self) -> bytes:
        """The card as a PNG image."""
        from PIL import Image  # imported here: only the persisting emulator needs imaging

        buffer = io.BytesIO()
        Image.frombytes("RGB", (self.width, self.height), self.rgb).save(buffer, format="PNG")
        return buffer.getvalue()


@attrs.define
class _Job:
    """The card being printed (or about to be: fed at ``feed_at``)."""

    side_panels: dict[str, dict[p.Panel, bytes]]
    feed_at: float
    done_at: float = 0.0
    fed: bool = False


class EvolisEmulator(EmulatedDevice):
    """An emulated Evolis card printer on the fake USB bus (see the module text for faults)."""

    def __init__(
        self,
        *,
        serial: str = DEFAULT_SERIAL,
        model: str = "Evolis Primacy (emulated)",
        firmware: str = "EMU-1.0",
        product_id: int = EMULATED_PRODUCT_ID,
        card_counter: int = 0,
        ribbon: str = "YMCKO",
        ribbon_capacity: int = 200,
        ribbon_left: int | None = None,
        feeder: int = 100,
        mechanism_seconds: float = 0.0,
        state_dir: str | os.PathLike[str] | None = None,
        kernel_driver: bool = True,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(
            vendor_id=EVOLIS_VENDOR_ID,
            product_id=product_id,
            serial=serial,
            manufacturer="Evolis",
            product=model,
            interface_class=PRINTER_CLASS,
            interface_subclass=PRINTER_SUBCLASS,
            interface_protocol=PRINTER_BIDIRECTIONAL,
            out_endpoint=0x02,
            in_endpoint=0x81,
            # USB 2.0 high speed, as current Evolis models connect: 512-byte bulk packets.
            max_packet_size=512,
            kernel_driver=kernel_driver,
        )
        self.model = model
        self.firmware = firmware
        self.ribbon = ribbon
        self.ribbon_capacity = ribbon_capacity
        self.ribbon_left = ribbon_capacity if ribbon_left is None else ribbon_left
        self.card_counter = card_counter
        self.feeder = feeder
        self.mechanism_seconds = mechanism_seconds
        #: Delay between acknowledging ``Se`` and feeding the card, during which the printer still says
        #: READY with the old counter (a driver must not take that for "done").
        self.feed_delay_seconds = 0.0
        self.clock = clock
        self.state_dir = Path(state_dir) if state_dir is not None else None
        #: Cards spoiled mid-print (they count in ``card_counter`` too: they went through the printer).
        self.spoiled_cards = 0
        self._printed: list[PrintedCard] = []
        # Faults.
        self.ribbon_end_on_next_card = False
        self.jam_on_next_card = False
        self.cover_open = False
        self.busy = False
        self.error_flag: str | None = None
        self.muted = False
        self._mute_after: str | None = None
        self._garbled: bytes | None = None
        self.on_command: Callable[[p.Command], None] | None = None
        #: Every command handled, by name, in order (panel data left out).
        self.commands: list[str] = []
        #: Parameters set with P commands (``Pem`` and the like), last value wins.
        self.parameters: dict[str, tuple[str, ...]] = {}
        self._parser = p.CommandParser()
        self._in_sequence = False
        self._side = "front"
        self._panels: dict[str, dict[p.Panel, bytes]] = {"front": {}, "back": {}}
        self._card_inside = False
        self._job: _Job | None = None
        if self.state_dir is not None:
            self._load_state()

    # -- faults and operator actions --------------------------------------------------------------

    def stop_answering(self, *, after: str | None = None) -> None:
        """Stop replying: now, or once the command named ``after`` has been answered. The printer
        still takes what it is sent (a hung firmware, a half-dead USB link)."""
        with self.lock:
            if after is None:
                self.muted = True
            else:
                self._mute_after = after

    def resume_answering(self) -> None:
        """Reply again."""
        with self.lock:
            self.muted = False
            self._mute_after = None

    def garble_next_reply(self, raw: bytes) -> None:
        """Send ``raw`` instead of the next reply."""
        with self.lock:
            self._garbled = raw

    def load_cards(self, count: int) -> None:
        """Put blank cards in the feeder."""
        with self.lock:
            self.feeder += count
            self._save_state()

    def replace_ribbon(self, prints: int | None = None) -> None:
        """Put a new ribbon in (``prints`` left, default a full one) and clear a ribbon error."""
        with self.lock:
            self.ribbon_left = self.ribbon_capacity if prints is None else prints
            if self.error_flag in ("ERR_RIBBON_ENDED", "ERR_RIBBON_ERROR"):
                self.error_flag = None
            self._save_state()

    def clear_error(self) -> None:
        """The operator cleared the fault (removed the jammed card, closed the cover) and pressed the key."""
        with self.lock:
            self.error_flag = None
            self._card_inside = False

    @property
    def printed_cards(self) -> list[PrintedCard]:
        """The cards printed so far by this emulator object, oldest first."""
        with self.lock:
            self._advance()
            return list(self._printed)

    # -- USB --------------------------------------------------------------------------------------

    def on_bulk_out(self, endpoint: int, data: bytes) -> None:
        for item in self._parser.feed(data):
            if isinstance(item, p.Violation):
                self.commands.append(f"! {item.reason}")
                self._reply(f"{p.ERR} {p.ERR_UNKNOWN_COMMAND}")
                continue
            if not self.plugged:  # a hook unplugged us: nothing more happens
                return
            if self.on_command is not None:
                self.on_command(item)
                if not self.plugged:
                    return
            self.commands.append(item.name)
            self._reply(self._handle(item))
            if self._mute_after == item.name:
                self.muted, self._mute_after = True, None

    def on_ctrl(self, request_type: int, request: int, value: int, index: int, data: bytes | int) -> bytes | int | None:
        # USB printer class GET_DEVICE_ID: the IEEE 1284 device id, as a printer class device answers.
        if request_type == 0xA1 and request == 0x00 and isinstance(data, int):
            text = (
                f"MFG:Evolis;MDL:{self.model};CMD:Evolis escape;CLS:PRINTER;DES:{self.model};SN:{self.serial};"
            ).encode("ascii", "replace")
            return (len(text) + 2).to_bytes(2, "big") + text
        return None

    def on_unplug(self) -> None:
        # A power cut: the half-received command and a sequence in progress are lost.
        self._parser = p.CommandParser()
        self._in_sequence = False

    def on_plug(self) -> None:
        self._parser = p.CommandParser()

    def _reply(self, text: str) -> None:
        if self.muted:
            return
        raw = text.encode("ascii") + b"\r"
        if self._garbled is not None:
            raw, self._garbled = self._garbled, None
        self.send_in(raw)

    # -- the command set --------------------------------------------------------------------------

    def _handle(self, cmd: p.Command) -> str:
        self._advance()
        name = cmd.name
        if name == "Rse":
            state = self._state()
            return f"{state.major},{state.flag}"
        if name in _READS:
            return _READS[name](self)
        if name.startswith("P") and len(name) > 1:
            self.parameters[name] = cmd.params
            return p.OK
        if name == "Ss":
            refusal = self._refusal()
            if refusal:
                return refusal
            self._in_sequence, self._side = True, "front"
            self._panels = {"front": {}, "back": {}}
            return p.OK
        if name in ("Sr", "Sv"):
            self._side = "front" if name == "Sr" else "back"
            return p.OK
        if name in ("Db", "Dbc"):
            return self._download(cmd)
        if name == "Se":
            return self._end_sequence()
        if name == "Si":
            refusal = self._refusal()
            if refusal:
                return refusal
            if not self._card_inside:
                if self.feeder <= 0:
                    return f"{p.ERR} WAR_FEEDER_EMPTY"
                self._take_card()
            return p.OK
        if name == "Ser":
            self._card_inside = False
            return p.OK
        return f"{p.ERR} {p.ERR_UNKNOWN_COMMAND}"

    def _download(self, cmd: p.Command) -> str:
        if not cmd.params or cmd.data is None:
            return f"{p.ERR} {p.ERR_BAD_PARAMETER}"
        try:
            panel = p.Panel(cmd.params[0])
        except ValueError:
            return f"{p.ERR} {p.ERR_BAD_PARAMETER}"
        try:
            if cmd.name == "Db":
                bits = p.DEPTH_BITS[int(cmd.params[1])]
                plane = p.unpack_depth(cmd.data, bits)
            else:
                if panel not in p.MONO_PANELS:  # the Y/M/C compression is for 5-7 bit depths, not taken here
                    return f"{p.ERR} {p.ERR_BAD_PARAMETER}"
                packed = p.decompress_mono(cmd.data, int(cmd.params[1]))
                plane = p.unpack_bits(packed)
        except (ValueError, KeyError, IndexError):
            return f"{p.ERR} {p.ERR_BAD_PARAMETER}"
        if panel in p.MONO_PANELS:  # a 1-bit panel prints or not: keep it as 0 / 255
            plane = plane.translate(_THRESHOLD)
        self._panels[self._side][panel] = plane
        return p.OK

    def _end_sequence(self) -> str:
        if not self._in_sequence:
            return f"{p.ERR} {p.ERR_NO_SEQUENCE}"
        self._in_sequence = False
        refusal = self._refusal()
        if refusal:
            return refusal
        self._job = _Job(side_panels=self._panels, feed_at=self.clock() + self.feed_delay_seconds)
        self._panels = {"front": {}, "back": {}}
        if not self.feed_delay_seconds and not self._feed():  # nothing to take: dropped, nothing consumed
            return f"{p.ERR} WAR_FEEDER_EMPTY"
        return p.OK

    def _feed(self) -> bool:
        """Take the job's card (unless one was inserted with ``Si``); False when the feeder is empty."""
        job = self._job
        assert job is not None
        if not self._card_inside:
            if self.feeder <= 0:
                self._job = None
                return False
            self._take_card()
        job.fed, job.done_at = True, job.feed_at + self.mechanism_seconds
        return True

    def _take_card(self) -> None:
        self.feeder -= 1
        # The counter counts every card that enters the printer, printed or spoiled: the ledger
        # reconciles PRINTED + SPOILED cards against it.
        self.card_counter += 1
        self._card_inside = True
        self._save_state()

    def _refusal(self) -> str:
        state = self._state()
        if state.major == p.READY:
            return ""
        return f"{p.ERR} {state.flag}"

    def _state(self) -> p.State:
        if self.error_flag:
            return p.State(p.ERROR, self.error_flag)
        if self._job is not None and self._job.fed:
            return p.State(p.BUSY, "INF_PRINTING_RUNNING")
        if self.busy:
            return p.State(p.BUSY, "INF_BUSY")
        if self.cover_open:
            return p.State(p.WARNING, "WAR_COVER_OPEN")
        if self.ribbon_left <= 0:
            return p.State(p.WARNING, "WAR_RIBBON_ENDED")
        if self.feeder <= 0 and not self._card_inside:
            return p.State(p.WARNING, "WAR_FEEDER_EMPTY")
        if self.ribbon_left <= 10:
            return p.State(p.READY, "INF_RIBBON_LOW")
        return p.State(p.READY, "PRINTER_READY")

    def _advance(self) -> None:
        """Finish the card in the printer once its print time has passed."""
        job = self._job
        if job is None:
            return
        now = self.clock()
        if not job.fed and (now < job.feed_at or not self._feed()):
            return
        if now < job.done_at:
            return
        self._job = None
        self._card_inside = False
        if self.jam_on_next_card:
            self.jam_on_next_card = False
            self.error_flag = "ERR_MECHANICAL"
            self.spoiled_cards += 1
        elif self.ribbon_end_on_next_card:
            self.ribbon_end_on_next_card = False
            self.ribbon_left = 0
            self.error_flag = "ERR_RIBBON_ENDED"
            self.spoiled_cards += 1
        else:
            self.ribbon_left -= 1
            card = self._assemble(job)
            self._printed.append(card)
            self._file_card(card)
        self._save_state()

    def _assemble(self, job: _Job) -> PrintedCard:
        front = job.side_panels["front"]
        y, m, c = (front.get(panel, _BLANK) for panel in p.COLOUR_PANELS)
        k, o = front.get(p.Panel.K, _BLANK), front.get(p.Panel.O, _BLANK)
        back_k = job.side_panels["back"].get(p.Panel.K)
        return PrintedCard(
            number=self.card_counter,
            width=p.CARD_WIDTH,
            height=p.CARD_HEIGHT,
            y=y,
            m=m,
            c=c,
            k=k,
            o=o,
            back_k=back_k,
            rgb=p.rgb_from_planes(y, m, c, k),
        )

    # -- persistence ------------------------------------------------------------------------------

    def _load_state(self) -> None:
        assert self.state_dir is not None
        path = self.state_dir / "state.json"
        if not path.exists():
            self._save_state()
            return
        saved: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        self.serial = str(saved.get("serial", self.serial))
        self.card_counter = int(saved.get("card_counter", self.card_counter))
        self.ribbon_left = int(saved.get("ribbon_left", self.ribbon_left))
        self.feeder = int(saved.get("feeder", self.feeder))
        self.spoiled_cards = int(saved.get("spoiled_cards", 0))

    def _save_state(self) -> None:
        if self.state_dir is None:
            return
        self.state_dir.mkdir(parents=True, exist_ok=True)
        state = {
            "serial": self.serial,
            "model": self.model,
            "card_counter": self.card_counter,
            "ribbon": self.ribbon,
            "ribbon_left": self.ribbon_left,
            "feeder": self.feeder,
            "spoiled_cards": self.spoiled_cards,
        }
        tmp = self.state_dir / "state.json.tmp"
        tmp.write_text(json.dumps(state, indent=2) + "\n", encoding="utf-8")
        tmp.replace(self.state_dir / "state.json")  # atomic: a crash never leaves half a file

    def _file_card(self, card: PrintedCard) -> None:
        if self.state_dir is None:
            return
        folder = self.state_dir / "cards"
        folder.mkdir(parents=True, exist_ok=True)
        stem = folder / f"card-{card.number:06d}"
        stem.with_suffix(".png").write_bytes(card.png())
        panels = {"y": card.y, "m": card.m, "c": card.c, "k": card.k, "o": card.o}
        if card.back_k is not None:
            panels["back_k"] = card.back_k
        meta = {
            "number": card.number,
            "printed_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "serial": self.serial,
            "width": card.width,
            "height": card.height,
            "sha256": {name: hashlib.sha256(plane).hexdigest() for name, plane in panels.items()},
        }
        stem.with_suffix(".json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")


_THRESHOLD = bytes(255 if v >= 128 else 0 for v in range(256))

_READS: dict[str, Callable[[EvolisEmulator], str]] = {
    "Rtp": lambda e: e.model,
    "Rsn": lambda e: e.serial,
    "Rfv": lambda e: e.firmware,
    "Rco": lambda e: str(e.card_counter),
    "Rrt": lambda e: e.ribbon,
    "Rlr": lambda e: str(max(e.ribbon_left, 0)),
}
