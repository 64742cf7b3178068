"""The Acme Printer line protocol: what the driver sends and the printer (or emulator) answers.

The printer listens on TCP, port 9100 by default. The client sends one request line and reads one
reply line, one request at a time. Lines are UTF-8 text ending in ``\\n``, at most 1024 bytes.

Requests and their replies::

    HELLO                         OK model=<text> serial=<text> firmware=<text> canvas=<width>x<height>
    STATUS                        OK state=<READY|BUSY|ERROR> cards=<n> hopper=<n> ribbon=<n> [error=<CODE>]
    PRINT <width> <height> <length>
        then exactly <length> bytes: the card as a PNG of <width> x <height> pixels at 300 dpi
                                  OK cards=<n>       the printer's own counter after this card
    BYE                           OK bye             and the printer closes the connection

Any request may instead be answered ``ERR <CODE> <message>``. ``cards`` counts every card that went
through the printer, spoiled ones included. The codes, and what became of the card:

========  =========================================================  ===========
code      meaning                                                     the card
========  =========================================================  ===========
BUSY      the printer is busy with another card                       not taken
COVER     the cover is open                                           not taken
NOCARD    the card hopper is empty                                    not taken
NORIBBON  there is no ribbon left                                     not taken
SIZE      the image is not the printer's canvas, or not a PNG         not taken
SYNTAX    the request is not part of the protocol                     not taken
RIBBON    the ribbon ran out during the card                          spoiled
JAM       the card jammed                                             spoiled
========  =========================================================  ===========

Any other code leaves the card's fate unknown.
"""

from __future__ import annotations

import attrs
from ektp_core.devices.printers import (
    CardJam,
    CoverOpen,
    NoCard,
    Outcome,
    PrinterBusy,
    PrinterError,
    RibbonEnded,
)

DEFAULT_PORT = 9100
MAX_LINE = 1024
#: The largest card image a printer accepts (a 1016 x 648 PNG is far smaller).
MAX_CARD_BYTES = 16 * 1024 * 1024

#: Error codes after which the card was never taken from the hopper.
NOT_STARTED = {"BUSY", "COVER", "NOCARD", "NORIBBON", "SIZE", "SYNTAX"}
#: Error codes after which the card was taken and ruined.
SPOILED = {"RIBBON", "JAM"}
_ERRORS: dict[str, type[PrinterError]] = {
    "BUSY": PrinterBusy,
    "COVER": CoverOpen,
    "NOCARD": NoCard,
    "RIBBON": RibbonEnded,
    "JAM": CardJam,
}


class ProtocolError(ValueError):
    """A line that is not part of the protocol."""


@attrs.frozen
class Reply:
    """One reply line: ``OK key=value ...`` or ``ERR CODE message``."""

    ok: bool
    fields: dict[str, str] = attrs.field(factory=dict)
    code: str = ""
    message: str = ""

    def number(self, key: str) -> int:
        """A whole-number field; ProtocolError when it is missing or not a number."""
        try:
            return int(self.fields[key])
        except (KeyError, ValueError):
            raise ProtocolError(f"the reply has no whole number {key}= ({self.fields})") from None


def request(command: str, *args: object) -> bytes:
    """A request line."""
    return (" ".join([command, *(str(a) for a in args)]) + "\n").encode("utf-8")


def parse_request(line: bytes) -> tuple[str, list[str]]:
    """The command and its arguments; ProtocolError for an empty or undecodable line."""
    try:
        words = line.decode("utf-8").split()
    except UnicodeDecodeError:
        raise ProtocolError("the request is not UTF-8") from None
    if not words:
        raise ProtocolError("empty request")
    return words[0].upper(), words[1:]


def ok(**fields: object) -> bytes:
    """An ``OK`` reply line with ``key=value`` fields (values must hold no spaces)."""
    return (" ".join(["OK", *(f"{k}={v}" for k, v in fields.items())]) + "\n").encode("utf-8")


def err(code: str, message: str) -> bytes:
    """An ``ERR`` reply line."""
    return f"ERR {code} {' '.join(message.split())}\n".encode()


def parse_reply(line: bytes) -> Reply:
    """Read a reply line; ProtocolError when it is neither ``OK ...`` nor ``ERR CODE ...``."""
    if not line.endswith(b"\n"):
        raise ProtocolError("the reply line was cut off")
    try:
        text = line.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise ProtocolError("the reply is not UTF-8") from None
    head, _, rest = text.partition(" ")
    if head == "OK":
        fields: dict[str, str] = {}
        for word in rest.split():
            key, sep, value = word.partition("=")
            if not sep or not key:
                if word == "bye":
                    continue
                raise ProtocolError(f"not a key=value field: {word!r}")
            fields[key] = value
        return Reply(True, fields)
    if head == "ERR":
        code, _, message = rest.partition(" ")
        if not code:
            raise ProtocolError("an ERR reply without a code")
        return Reply(False, code=code, message=message)
    raise ProtocolError(f"not a reply: {text[:60]!r}")


def error_for(reply: Reply, printer: str) -> PrinterError:
    """The ektp printer error for an ``ERR`` reply, with the outcome the code means."""
    message = f"printer {printer}: {reply.message or reply.code} ({reply.code})"
    cls = _ERRORS.get(reply.code)
    if cls is not None:
        return cls(message, code=reply.code)
    if reply.code in NOT_STARTED:
        return PrinterError(message, outcome=Outcome.NOT_STARTED, code=reply.code)
    if reply.code in SPOILED:
        return PrinterError(message, outcome=Outcome.SPOILED, code=reply.code)
    return PrinterError(message, outcome=Outcome.UNKNOWN, code=reply.code)
