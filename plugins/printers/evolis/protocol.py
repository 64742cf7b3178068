"""The Evolis escape-command protocol: framing, panel encoding, compression, replies and their errors.

Everything here is pure (bytes in, bytes out); the driver and the emulator both use it, the driver to
encode and the emulator to decode, and the emulator's stream parser is written from the framing rules,
not from the encoder, so a test of one against the other can fail.

Sources (public; names only, nothing copied):

* *Evolis Card Printers Programming Guide*, part number A5013 Rev. E (2003/2004; pages of it are
  published on manual-hosting sites): the framing ``ESC command ; param ; ... CR`` and "the start
  character is not compulsory after CR"; the 1016 x 648 bitmap at 300 dpi; the ``Db`` panel download
  (colour ``y m c k o``, depth parameter 2 / 32 / 64 / 128 for 1 / 5 / 6 / 7 bits per pixel, pixels
  concatenated so that every bit is used, always 648 x 1016 pixels); the data compression section
  (the K and O line compression used by ``Dbc`` below; the Y/M/C scheme that steals the top bit of
  5-, 6- and 7-bit values); the feeder and output-hopper commands.
* The Evolis SDK command reference page on evolis.com: ``Pem;2`` (the software, not the printer,
  handles errors), ``Dbc`` as a compressed download of part of a panel, and an 8-bit depth for ``Db``.
* ``dpavlin/Printer-EVOLIS`` (a Perl driver and simulator for the Dualys, public on GitHub): the
  order ``Ss`` (sequence start), ``Sr`` / ``Sv`` (front / back), ``Db`` downloads, ``Se`` (sequence
  end, the printer then prints); ``Db;k;2`` packing (81 bytes per line of 648 pixels, first pixel in
  the most significant bit, 1 = the panel prints); the landscape card turned a quarter turn clockwise
  before sending; the ``Dbc;colour;line;length;data`` framing; reading a reply after each command.
* The Evolis SDK for Python/C (status flag names) and the Evolis Premium SDK wrapper ``esselt/
  evolis-premium_sdk`` (printer state as ``MAJOR,MINOR`` with majors READY / WARNING / ERROR / OFF and
  minor names such as ``RIBBON_ENDED``, ``FEEDER_EMPTY``, ``ERR_MECHANICAL``): the vocabulary of our
  status reply.

Where the sources were silent or disagree, and what we chose (each is marked ``CHOICE`` below):

* the depth parameter for 8 bits per pixel: ``256`` (the guide's pattern: the parameter is the number
  of levels; the SDK page names an 8-bit format without its parameter);
* the guide's byte counts for ``Db`` (84 624 bytes for 2 levels, "676 992 pixels") do not match
  648 x 1016 = 658 368 pixels; we follow the arithmetic, as the Printer-EVOLIS driver does (82 296 bytes);
* ``Dbc``'s second parameter: the first panel line the data covers (we always send the whole panel
  from line 0);
* the read commands and the shape of their replies (``Rse`` state, ``Rtp`` model, ``Rsn`` serial,
  ``Rfv`` firmware, ``Rco`` card counter, ``Rrt`` ribbon type, ``Rlr`` ribbon prints left), the insert /
  eject commands ``Si`` / ``Ser``, and the refusal reply ``ERR <reason>``: the guide's read-command pages
  were not available to us; these are our names and formats, kept in this one module so that meeting a
  real printer means changing this file only;
* replies are ASCII ended by CR (Printer-EVOLIS stops at NUL or the end of the transfer: the driver
  accepts any of the three).

Panel encoding (the RenderedCard is landscape, 1016 x 648, row-major):

* transmission order: the card is turned a quarter turn clockwise, so transmitted line ``i`` is the
  card's column ``i`` (left to right) read from the bottom row up: 1016 lines of 648 pixels;
* Y, M, C: one byte per pixel (``Db;y;256``), ink density: Y = 255 - B, M = 255 - G, C = 255 - R
  (0 = no ink);
* K, O: one bit per pixel, 81 bytes per line, first pixel in bit 7, 1 where the panel prints (an
  8-bit plane value of 128 or more); sent compressed with ``Dbc``: per line, a byte 0 (white line),
  255 (black line), or ``n`` (1-81) followed by the line's first ``n`` bytes, ``n`` being the index of
  the last byte that is not 0 (the rest of the line is white). A full overlay costs 1016 bytes instead
  of 82 296, a sparse text panel a few kilobytes.
"""

from __future__ import annotations

import enum
import re

import attrs

from ektp_core.devices.printers import (
    CardJam,
    CoverOpen,
    NoCard,
    Outcome,
    PrinterBusy,
    PrinterError,
    PrinterState,
    RibbonEnded,
)

ESC = 0x1B
CR = 0x0D
NUL = 0x00

#: The card as the renderer draws it (landscape) and as the printer takes it.
CARD_WIDTH, CARD_HEIGHT = 1016, 648
PIXELS = CARD_WIDTH * CARD_HEIGHT
#: Transmitted lines and pixels per line (the card turned a quarter turn).
LINES, LINE_PIXELS = CARD_WIDTH, CARD_HEIGHT
KO_LINE_BYTES = LINE_PIXELS // 8  # 81
KO_PANEL_BYTES = LINES * KO_LINE_BYTES  # 82 296

#: Bits per pixel for each ``Db`` depth parameter (CHOICE: 256 for 8 bits).
DEPTH_BITS = {2: 1, 32: 5, 64: 6, 128: 7, 256: 8}
DEPTH_8BIT = 256
DEPTH_1BIT = 2

#: The reply to an accepted command.
OK = "OK"
#: The reply to a refused command starts with this, then a reason (CHOICE).
ERR = "ERR"
#: Reasons a refusal may carry besides the state flags below.
ERR_UNKNOWN_COMMAND = "CDE"
ERR_BAD_PARAMETER = "PARAM"
ERR_NO_SEQUENCE = "SEQ"

#: Longest command header (name and parameters) the emulator accepts before giving up on a line.
MAX_HEADER = 128


class Panel(enum.StrEnum):
    """The ribbon panels, as the colour parameter of ``Db`` / ``Dbc`` names them."""

    Y = "y"
    M = "m"
    C = "c"
    K = "k"
    O = "o"  # noqa: E741 - the overlay panel's letter in the protocol


COLOUR_PANELS = (Panel.Y, Panel.M, Panel.C)
MONO_PANELS = (Panel.K, Panel.O)


class ProtocolError(ValueError):
    """Bytes that do not follow the protocol (a garbled reply, a bad panel)."""


# --------------------------------------------------------------------------------------------------
# Commands
# --------------------------------------------------------------------------------------------------

_PARAM = re.compile(r"[\x21-\x3a\x3c-\x7e]*")  # printable ASCII without ';' (and without space)


def command(name: str, *params: str | int, data: bytes | None = None) -> bytes:
    """``ESC name;p1;...;pn CR``, or with ``data``: ``ESC name;p1;...;pn;<data> CR``.

    Binary data is framed by its length (fixed by ``Db``'s depth, given by ``Dbc``'s length
    parameter), so bytes 0x1B and 0x0D inside it are data, not framing.
    """
    if not name.isascii() or not name.isalpha():
        raise ValueError(f"command name {name!r}: letters only")
    fields = [name]
    for param in params:
        text = str(param)
        if not _PARAM.fullmatch(text):
            raise ValueError(f"command {name}: parameter {text!r} must be printable ASCII without ';'")
        fields.append(text)
    head = ";".join(fields).encode("ascii")
    if data is None:
        return bytes((ESC,)) + head + bytes((CR,))
    return bytes((ESC,)) + head + b";" + data + bytes((CR,))


def sequence_start() -> bytes:
    """``Ss``: start a card sequence (panels follow)."""
    return command("Ss")


def front_side() -> bytes:
    """``Sr``: the panels that follow are for the front (recto)."""
    return command("Sr")


def back_side() -> bytes:
    """``Sv``: the panels that follow are for the back (verso)."""
    return command("Sv")


def sequence_end() -> bytes:
    """``Se``: end of the sequence; the printer takes a card and prints the panels."""
    return command("Se")


def insert_card() -> bytes:
    """``Si``: take a card from the feeder into the printer (CHOICE of name)."""
    return command("Si")


def eject_card() -> bytes:
    """``Ser``: eject the card in the printer (CHOICE of name)."""
    return command("Ser")


def software_error_management() -> bytes:
    """``Pem;2``: the printer reports errors to the software instead of waiting for an operator."""
    return command("Pem", 2)


class Query(enum.StrEnum):
    """The read commands the driver uses (CHOICE of names and reply formats, see the module text)."""

    STATE = "Rse"  # "MAJOR,MINOR", e.g. "READY,PRINTER_READY" or "ERROR,ERR_RIBBON_ENDED"
    MODEL = "Rtp"  # free text
    SERIAL = "Rsn"  # free text
    FIRMWARE = "Rfv"  # free text
    COUNTER = "Rco"  # decimal: cards the printer has taken from its feeder
    RIBBON = "Rrt"  # ribbon type, e.g. "YMCKO"
    RIBBON_LEFT = "Rlr"  # decimal: prints left on the ribbon


def query(which: Query) -> bytes:
    """A read command."""
    return command(str(which))


# --------------------------------------------------------------------------------------------------
# Panels
# --------------------------------------------------------------------------------------------------


def _check_plane(plane: bytes, what: str, size: int = PIXELS) -> None:
    if len(plane) != size:
        raise ProtocolError(f"{what}: {len(plane)} bytes, expected {size}")


def to_transmission(plane: bytes) -> bytes:
    """A landscape 1016 x 648 plane (one byte per pixel, row-major) in transmission order: line ``i``
    is column ``i``, read from the bottom row up."""
    _check_plane(plane, "plane")
    bottom = (CARD_HEIGHT - 1) * CARD_WIDTH
    # A slice with step -W walks one column upwards, from the bottom row to row 0.
    return b"".join(plane[bottom + column :: -CARD_WIDTH] for column in range(CARD_WIDTH))


def from_transmission(lines: bytes) -> bytes:
    """The inverse of :func:`to_transmission`."""
    _check_plane(lines, "panel")
    # Landscape row r is pixel (H - 1 - r) of every transmitted line.
    return b"".join(lines[CARD_HEIGHT - 1 - row :: CARD_HEIGHT] for row in range(CARD_HEIGHT))


_INVERT = bytes(255 - v for v in range(256))


def colour_planes(rgb: bytes) -> tuple[bytes, bytes, bytes]:
    """The Y, M, C planes (landscape, ink density 0-255) of an RGB image: Y = 255 - B, M = 255 - G,
    C = 255 - R."""
    _check_plane(rgb, "rgb", PIXELS * 3)
    return rgb[2::3].translate(_INVERT), rgb[1::3].translate(_INVERT), rgb[0::3].translate(_INVERT)


def rgb_from_planes(y: bytes, m: bytes, c: bytes, k: bytes | None = None) -> bytes:
    """The RGB image printed by Y, M, C planes (and a K plane, 255 = black) (landscape planes)."""
    red, green, blue = c.translate(_INVERT), m.translate(_INVERT), y.translate(_INVERT)
    out = bytearray(PIXELS * 3)
    out[0::3], out[1::3], out[2::3] = red, green, blue
    if k is not None:
        # Black resin covers the colour: AND every channel with 255 where K does not print, 0 where it
        # does (as whole big integers, which is linear time, instead of a Python loop per pixel).
        keep = int.from_bytes(k.translate(_INVERT), "big")
        for channel in range(3):
            masked = int.from_bytes(out[channel::3], "big") & keep
            out[channel::3] = masked.to_bytes(PIXELS, "big")
    return bytes(out)


_TO_BIT = bytes((0x31 if v >= 128 else 0x30) for v in range(256))  # ASCII '1' / '0'
_FROM_BIT = bytes(255 if v == 0x31 else 0 for v in range(256))


def pack_bits(plane: bytes) -> bytes:
    """A landscape 8-bit plane as a 1-bit panel in transmission order (81 bytes per line, first
    pixel in bit 7, 1 where the plane is 128 or more)."""
    # Through a binary-digit string: CPython converts base-2 text to int (and back) in linear time.
    digits = to_transmission(plane).translate(_TO_BIT)
    return int(digits, 2).to_bytes(KO_PANEL_BYTES, "big")


def unpack_bits(packed: bytes) -> bytes:
    """A 1-bit panel (transmission order) as a landscape plane of 0 and 255."""
    _check_plane(packed, "1-bit panel", KO_PANEL_BYTES)
    digits = format(int.from_bytes(packed, "big"), f"0{PIXELS}b").encode("ascii")
    return from_transmission(digits.translate(_FROM_BIT))


def unpack_depth(data: bytes, bits: int) -> bytes:
    """``Db`` data of 1 to 8 bits per pixel (transmission order) as a landscape 8-bit plane, values
    scaled to 0-255. 5-, 6- and 7-bit data are unpacked generically (slowly: the driver sends 8 bits)."""
    if bits == 8:
        return from_transmission(data)
    if bits == 1:
        return unpack_bits(data)
    expected = PIXELS * bits // 8
    _check_plane(data, f"{bits}-bit panel", expected)
    digits = format(int.from_bytes(data, "big"), f"0{PIXELS * bits}b")
    top = (1 << bits) - 1
    values = bytes(int(digits[i : i + bits], 2) * 255 // top for i in range(0, PIXELS * bits, bits))
    return from_transmission(values)


def compress_mono(packed: bytes) -> bytes:
    """Compress a 1-bit panel line by line (the guide's K/O scheme, see the module text)."""
    _check_plane(packed, "1-bit panel", KO_PANEL_BYTES)
    white, black = bytes(KO_LINE_BYTES), b"\xff" * KO_LINE_BYTES
    out = bytearray()
    for start in range(0, KO_PANEL_BYTES, KO_LINE_BYTES):
        line = packed[start : start + KO_LINE_BYTES]
        if line == white:
            out.append(0)
        elif line == black:
            out.append(255)
        else:
            useful = len(line.rstrip(b"\x00"))
            out.append(useful)
            out += line[:useful]
    return bytes(out)


def decompress_mono(data: bytes, first_line: int = 0) -> bytes:
    """The 1-bit panel that :func:`compress_mono` data describes, its first line being ``first_line``
    (lines it does not cover are white). Raises :class:`ProtocolError` on data that does not parse."""
    if not 0 <= first_line < LINES:
        raise ProtocolError(f"first line {first_line} is outside the panel (0-{LINES - 1})")
    out = bytearray(KO_PANEL_BYTES)
    line, pos = first_line, 0
    while pos < len(data):
        if line >= LINES:
            raise ProtocolError(f"compressed panel runs past line {LINES}")
        count = data[pos]
        pos += 1
        start = line * KO_LINE_BYTES
        if count == 255:
            out[start : start + KO_LINE_BYTES] = b"\xff" * KO_LINE_BYTES
        elif count > KO_LINE_BYTES:
            raise ProtocolError(f"line {line}: count {count} is more than {KO_LINE_BYTES} bytes")
        elif count:
            if pos + count > len(data):
                raise ProtocolError(f"line {line}: {count} bytes announced, {len(data) - pos} left")
            out[start : start + count] = data[pos : pos + count]
            pos += count
        line += 1
    return bytes(out)


def colour_download(panel: Panel, plane: bytes) -> bytes:
    """``Db;<y|m|c>;256;<658 368 bytes>``: a colour panel at 8 bits per pixel."""
    if panel not in COLOUR_PANELS:
        raise ValueError(f"{panel} is not a colour panel")
    return command("Db", str(panel), DEPTH_8BIT, data=to_transmission(plane))


def mono_download(panel: Panel, plane: bytes, *, compress: bool = True) -> bytes:
    """The K or O panel of an 8-bit plane: ``Dbc;<k|o>;0;<length>;<data>`` compressed, or
    ``Db;<k|o>;2;<82 296 bytes>``."""
    if panel not in MONO_PANELS:
        raise ValueError(f"{panel} is not a K or O panel")
    packed = pack_bits(plane)
    if not compress:
        return command("Db", str(panel), DEPTH_1BIT, data=packed)
    data = compress_mono(packed)
    return command("Dbc", str(panel), 0, len(data), data=data)


# --------------------------------------------------------------------------------------------------
# The emulator's side: a stream parser
# --------------------------------------------------------------------------------------------------


@attrs.frozen
class Command:
    """One command as the printer received it."""

    name: str
    params: tuple[str, ...] = ()
    data: bytes | None = attrs.field(default=None, repr=lambda d: "None" if d is None else f"<{len(d)} bytes>")


@attrs.frozen
class Violation:
    """Bytes the parser could not take as a command; ``reason`` says why."""

    reason: str


class CommandParser:
    """Turns the byte stream the printer receives, in pieces of any size, into commands.

    A command starts with ESC (or with a letter right after the CR that ended the previous one: the
    start character is optional there). Its header runs to CR, except for ``Db`` and ``Dbc``: after
    their leading parameters come binary data of a length fixed by the header, then CR. NUL padding
    between commands is ignored.
    """

    def __init__(self) -> None:
        self._state = "idle"
        self._header = bytearray()
        self._name = ""
        self._params: tuple[str, ...] = ()
        self._need = 0
        self._data = bytearray()

    @property
    def idle(self) -> bool:
        """True between commands."""
        return self._state == "idle"

    def feed(self, chunk: bytes) -> list[Command | Violation]:
        """Parse the next bytes; returns the commands (and violations) completed by them."""
        out: list[Command | Violation] = []
        pos, size = 0, len(chunk)
        while pos < size:
            if self._state == "data":
                take = min(self._need, size - pos)
                self._data += chunk[pos : pos + take]
                self._need -= take
                pos += take
                if not self._need:
                    self._state = "end"
                continue
            byte = chunk[pos]
            pos += 1
            if self._state == "idle":
                if byte == ESC:
                    self._start()
                elif 0x41 <= byte <= 0x5A or 0x61 <= byte <= 0x7A:
                    self._start()
                    self._header.append(byte)
                elif byte not in (NUL, CR, 0x0A):
                    out.append(Violation(f"stray byte {byte:#04x} between commands"))
            elif self._state == "header":
                if byte == CR:
                    out.append(self._finish_header())
                elif byte == ESC:  # a new command before the old one ended: the old one is lost
                    out.append(Violation(f"command {bytes(self._header)!r} not ended by CR"))
                    self._start()
                elif len(self._header) >= MAX_HEADER:
                    out.append(Violation(f"command header longer than {MAX_HEADER} bytes"))
                    self._state = "skip"
                else:
                    if byte == 0x3B:  # ';' may end the parameters of a binary download
                        violation = self._maybe_binary()
                        if violation is not None:
                            out.append(violation)
                            continue
                    self._header.append(byte)
            elif self._state == "end":
                if byte == CR:
                    out.append(Command(self._name, self._params, bytes(self._data)))
                    self._state = "idle"
                else:
                    out.append(Violation(f"{self._name}: data longer than declared"))
                    self._state = "skip"
            elif self._state == "skip" and byte == ESC:  # resynchronise on the next start character
                self._start()
        return out

    def _start(self) -> None:
        self._state = "header"
        self._header.clear()
        self._data = bytearray()

    def _finish_header(self) -> Command | Violation:
        self._state = "idle"
        try:
            text = self._header.decode("ascii")
        except UnicodeDecodeError:
            return Violation(f"command {bytes(self._header)!r} is not ASCII")
        name, *params = text.split(";")
        return Command(name, tuple(params))

    def _maybe_binary(self) -> Violation | None:
        """At a ';': if the header is a download's leading parameters, switch to its data."""
        parts = bytes(self._header).split(b";")
        name = parts[0]
        if name == b"Db" and len(parts) == 3:
            bits = DEPTH_BITS.get(int(parts[2])) if parts[2].isdigit() else None
            if bits is None:
                self._state = "skip"
                return Violation(f"Db: unknown depth {parts[2]!r}")
            need = PIXELS * bits // 8
        elif name == b"Dbc" and len(parts) == 4:
            if not parts[3].isdigit():
                self._state = "skip"
                return Violation(f"Dbc: bad length {parts[3]!r}")
            need = int(parts[3])
        else:
            return None
        self._name = name.decode("ascii")
        self._params = tuple(p.decode("ascii", "replace") for p in parts[1:])
        self._need = need
        self._state = "data" if need else "end"
        return None


# --------------------------------------------------------------------------------------------------
# Replies and states
# --------------------------------------------------------------------------------------------------

#: Major states (as in the Evolis Premium SDK's supervision).
READY, BUSY, WARNING, ERROR, OFF = "READY", "BUSY", "WARNING", "ERROR", "OFF"

#: What each state flag means, for people (the flag names follow the Evolis SDKs).
FLAG_TEXT = {
    "PRINTER_READY": "ready",
    "INF_RIBBON_LOW": "ready; the ribbon is nearly finished",
    "INF_FEEDER_NEAR_EMPTY": "ready; the card feeder is nearly empty",
    "INF_BUSY": "busy with another job",
    "INF_PRINTING_RUNNING": "printing a card",
    "INF_SLEEP_MODE": "asleep",
    "WAR_FEEDER_EMPTY": "the card feeder is empty",
    "WAR_RIBBON_ENDED": "the ribbon is finished",
    "WAR_NO_RIBBON": "there is no ribbon",
    "WAR_COVER_OPEN": "the cover is open",
    "WAR_HOPPER_FULL": "the output hopper is full",
    "WAR_COOLING": "the print head is cooling down",
    "ERR_RIBBON_ENDED": "the ribbon ended during the card",
    "ERR_RIBBON_ERROR": "the ribbon broke or stuck to the card",
    "ERR_MECHANICAL": "a card jammed (mechanical error)",
    "ERR_FEEDER_ERROR": "a card could not be fed",
    "ERR_COVER_OPEN": "the cover was opened during the card",
    "ERR_HEAD_TEMP": "the print head overheated during the card",
}


@attrs.frozen
class State:
    """A parsed ``Rse`` reply."""

    major: str
    flag: str

    @property
    def text(self) -> str:
        """The state for people."""
        return FLAG_TEXT.get(self.flag, self.flag.lower().replace("_", " "))

    @property
    def printer_state(self) -> PrinterState:
        """The core's name for the major state."""
        return {READY: PrinterState.READY, BUSY: PrinterState.BUSY, OFF: PrinterState.OFFLINE}.get(
            self.major, PrinterState.ERROR
        )


_FLAG = re.compile(r"[A-Z][A-Z0-9_]*")


def parse_reply(raw: bytes) -> str:
    """The text of one reply: ASCII ended by CR (or NUL, or nothing). Raises :class:`ProtocolError`
    on anything else (binary garbage, two replies run together)."""
    body = raw
    for end in (b"\r\n", b"\r", b"\x00"):
        if body.endswith(end):
            body = body[: -len(end)]
            break
    if not body:
        raise ProtocolError("empty reply")
    if any(b < 0x20 or b > 0x7E for b in body):
        raise ProtocolError(f"garbled reply {raw[:40]!r}")
    return body.decode("ascii")


def parse_state(reply: str) -> State:
    """Parse ``MAJOR,FLAG``."""
    major, _, flag = reply.partition(",")
    if major not in (READY, BUSY, WARNING, ERROR, OFF) or not _FLAG.fullmatch(flag):
        raise ProtocolError(f"not a printer state: {reply!r}")
    return State(major, flag)


def parse_number(reply: str, what: str) -> int:
    """A decimal reply (a counter)."""
    if not reply.isdigit():
        raise ProtocolError(f"{what}: expected a number, the printer said {reply!r}")
    return int(reply)


def refusal_flag(reply: str) -> str | None:
    """The reason of an ``ERR <reason>`` reply, or None for another reply."""
    if reply == ERR or reply.startswith(ERR + " "):
        return reply[len(ERR) :].strip() or "?"
    return None


def error_for(flag: str, *, card_taken: bool, doing: str = "") -> PrinterError:
    """The core's printer error for a state flag or a refusal reason.

    ``WAR_``/``INF_`` flags mean the printer refused before taking a card (nothing consumed, whatever
    the moment). ``ERR_`` flags mean a job was interrupted: the card in the printer is spoiled, when
    this job had given the printer a card (``card_taken``); otherwise it is an error left over from an
    earlier card, and this job consumed nothing.
    """
    text = FLAG_TEXT.get(flag, flag.lower().replace("_", " "))
    where = f" while {doing}" if doing else ""
    message = f"Evolis: {text}{where}"
    if flag.startswith("ERR_"):
        outcome = Outcome.SPOILED if card_taken else Outcome.NOT_STARTED
    else:
        outcome = Outcome.NOT_STARTED
    cls: type[PrinterError]
    if flag in ("WAR_RIBBON_ENDED", "WAR_NO_RIBBON", "ERR_RIBBON_ENDED", "ERR_RIBBON_ERROR"):
        cls = RibbonEnded
    elif flag in ("ERR_MECHANICAL",):
        cls = CardJam
    elif flag in ("WAR_FEEDER_EMPTY",):
        cls = NoCard
    elif flag in ("WAR_COVER_OPEN", "ERR_COVER_OPEN"):
        cls = CoverOpen
    elif flag in ("INF_BUSY", "INF_PRINTING_RUNNING", "WAR_COOLING", "INF_SLEEP_MODE"):
        cls = PrinterBusy
    else:
        cls = PrinterError
        if flag == "ERR_FEEDER_ERROR" and card_taken:  # fed halfway? nobody knows where the card is
            outcome = Outcome.UNKNOWN
    return cls(message, outcome=outcome, code=flag)
