"""Card printing as the core sees it: the rendered card, the printer interface, printer errors.

The core imports no imaging or USB library: a rendered card is raw pixel planes, and a printer is
any object with the small interface :class:`CardPrinter`. The bundled drivers (Evolis over USB, the
proof printer) live in ``ektp_plugins.printers``; the layout renderer is the default
implementation of the ``ektp_render_card`` hook.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

import attrs

from ektp_core.domain.model import Biodata
from ektp_core.errors import EktpError
from ektp_core.messages import Message

#: ID-1 (CR80) card: 85.60 x 53.98 mm.
CR80_MM = (85.60, 53.98)
#: The plain CR80 canvas at 300 dpi.
CR80_300DPI = (1011, 638)
#: Evolis printers take 1016 x 648 pixels at 300 dpi (with bleed).
EVOLIS_CANVAS = (1016, 648)


@attrs.frozen(kw_only=True)
class CardData:
    """Everything printed on one card, assembled by the core for the renderer."""

    biodata: Biodata
    #: The face photo and the signature as encoded images (PNG or JPEG bytes), decrypted for printing only.
    photo: bytes = attrs.field(repr=False)
    signature: bytes = attrs.field(repr=False)
    #: Kabupaten/kota name and date printed under the photo (place and date of issue).
    issue_place: str
    issue_date: dt.date
    #: Canvas in pixels (width, height) at ``dpi``; the printer decides (1016 x 648 for Evolis).
    canvas: tuple[int, int] = EVOLIS_CANVAS
    dpi: int = 300
    #: Render the back as well (profiles ask for it; the KTP-el back is usually pre-printed).
    back: bool = False


@attrs.frozen(kw_only=True)
class RenderedCard:
    """A laid-out card: the colour image and the panels a YMCKO ribbon needs, as raw planes.

    * ``rgb``: 8-bit RGB, row-major, ``width * height * 3`` bytes (the colour panels Y, M, C are
      derived from it: Y = 255 - B, M = 255 - G, C = 255 - R);
    * ``k``: 8-bit, one byte per pixel, 255 where the black resin panel prints (text, lines);
    * ``overlay``: 8-bit, 255 where the protective overlay goes;
    * ``preview_png``: a PNG of the card as a person would see it;
    * ``back_k``: the back's black panel when the profile prints a back.
    """

    width: int
    height: int
    dpi: int
    rgb: bytes = attrs.field(repr=False)
    k: bytes = attrs.field(repr=False)
    overlay: bytes = attrs.field(repr=False)
    preview_png: bytes = attrs.field(repr=False)
    back_k: bytes | None = attrs.field(default=None, repr=False)

    def __attrs_post_init__(self) -> None:
        pixels = self.width * self.height
        for name, plane, size in (
            ("rgb", self.rgb, pixels * 3),
            ("k", self.k, pixels),
            ("overlay", self.overlay, pixels),
        ):
            if len(plane) != size:
                raise EktpError(f"rendered card: the {name} plane has {len(plane)} bytes, expected {size}")
        if self.back_k is not None and len(self.back_k) != pixels:
            raise EktpError(f"rendered card: the back_k plane has {len(self.back_k)} bytes, expected {pixels}")


class PrinterState(enum.StrEnum):
    """What a printer says about itself."""

    READY = "READY"
    BUSY = "BUSY"
    ERROR = "ERROR"
    OFFLINE = "OFFLINE"


@attrs.frozen(kw_only=True)
class PrinterStatus:
    """A printer's answer to a status query."""

    state: PrinterState
    #: What the printer says, best as a :class:`~ektp_core.messages.Message` with the driver's own
    #: catalogue (``ektp_declare_message_catalogues``), so the UI says it in Indonesian; plain text is shown as is.
    message: str | Message = ""
    model: str = ""
    serial: str = ""
    firmware: str = ""
    #: The printer's own counter of cards it has printed, when it keeps one.
    card_count: int | None = None
    ribbon: str | None = None
    #: Panels (or cards) left on the ribbon, when the printer reports it.
    ribbon_remaining: int | None = None

    @property
    def ready(self) -> bool:
        """True when a card can be printed now."""
        return self.state is PrinterState.READY


class Outcome(enum.StrEnum):
    """What a printer error means for the blank card and the job."""

    #: Nothing was taken from the hopper: the blank is still in stock, the job can be printed again.
    NOT_STARTED = "NOT_STARTED"
    #: A card was taken and ruined (ribbon ended mid-card, jam): the blank is spoiled.
    SPOILED = "SPOILED"
    #: Nobody knows (the printer vanished or stopped answering mid-card): a supervisor must look.
    UNKNOWN = "UNKNOWN"


class PrinterError(EktpError):
    """A printer refused or failed; ``outcome`` says what became of the card."""

    message_code = "error.printer"

    outcome = Outcome.UNKNOWN

    def __init__(self, message: str | Message, *, outcome: Outcome | None = None, code: str = "") -> None:
        super().__init__(message)
        if outcome is not None:
            self.outcome = outcome
        #: The printer's own error code or reply, for the log.
        self.code = code


class PrinterNotConnected(PrinterError):
    """No such printer on the bus, or it cannot be opened."""

    message_code = "error.printer.not_connected"

    outcome = Outcome.NOT_STARTED


class PrinterBusy(PrinterError):
    """The printer is busy with something else."""

    message_code = "error.printer.busy"

    outcome = Outcome.NOT_STARTED


class CoverOpen(PrinterError):
    """The printer's cover is open."""

    message_code = "error.printer.cover_open"

    outcome = Outcome.NOT_STARTED


class NoCard(PrinterError):
    """The card hopper (feeder) is empty."""

    message_code = "error.printer.no_card"

    outcome = Outcome.NOT_STARTED


class RibbonEnded(PrinterError):
    """The ribbon ran out (mid-card, the card is spoiled)."""

    message_code = "error.printer.ribbon_ended"

    outcome = Outcome.SPOILED


class CardJam(PrinterError):
    """A card jammed in the printer (the card is spoiled)."""

    message_code = "error.printer.card_jam"

    outcome = Outcome.SPOILED


class PrinterTimeout(PrinterError):
    """The printer stopped answering within the bounded timeout."""

    message_code = "error.printer.timeout"

    outcome = Outcome.UNKNOWN


class PrinterVanished(PrinterError):
    """The printer disappeared from the bus (unplugged, powered off)."""

    message_code = "error.printer.vanished"

    outcome = Outcome.UNKNOWN


#: Called with a step name and the fraction done (0.0-1.0) while a card prints.
Progress = Callable[[str, float], None]


def step_reporter(say: Callable[[str], object]) -> Progress:
    """A progress callback that tells a person each new step once (drivers report many fractions)."""
    last: list[str] = []

    def report(step: str, fraction: float) -> None:
        if not last or last[-1] != step:
            last.append(step)
            say(f"[{fraction * 100:5.1f}%] {step}")

    return report


@runtime_checkable
class CardPrinter(Protocol):
    """What a printer driver provides. Built by a :class:`PrinterFactory` registered through
    ``ektp_register_printers``, and opened by the core only when it prints or asks the status."""

    name: str

    @property
    def canvas(self) -> tuple[int, int]:
        """Pixel size (width, height) at 300 dpi the driver expects."""
        ...

    def open(self) -> None:
        """Find and claim the device; raise :class:`PrinterNotConnected` when it is not there."""
        ...

    def close(self) -> None:
        """Release the device (safe to call twice)."""
        ...

    def status(self) -> PrinterStatus:
        """Ask the printer how it is."""
        ...

    def print_card(self, card: RenderedCard, *, progress: Progress | None = None) -> PrinterStatus:
        """Print one card and return the printer's status after it (with its card counter).

        Raises a :class:`PrinterError` whose ``outcome`` says what became of the card.
        """
        ...


class PrinterFactory(Protocol):
    """What ``ektp_register_printers`` registers: a class or function that builds, but does not open,
    a :class:`CardPrinter` for one ``[[devices.printers]]`` entry of the profile.

    It is called with keyword arguments and receives only those it names among ``name`` (the entry's
    ``name``), ``options`` (its ``options`` table, with relative ``folder`` and ``emulator_state``
    paths made absolute inside the deployment folder) and ``profile``; it raises ``ValueError`` for
    options it does not accept (:mod:`ektp_core.devices.factories`).
    """

    def __call__(self, *args: Any, **kwargs: Any) -> CardPrinter:
        """Build the printer."""
        ...


__all__ = [
    "CR80_300DPI",
    "CR80_MM",
    "EVOLIS_CANVAS",
    "CardData",
    "CardJam",
    "CardPrinter",
    "CoverOpen",
    "NoCard",
    "Outcome",
    "PrinterBusy",
    "PrinterError",
    "PrinterFactory",
    "PrinterNotConnected",
    "PrinterState",
    "PrinterStatus",
    "PrinterTimeout",
    "PrinterVanished",
    "Progress",
    "RenderedCard",
    "RibbonEnded",
    "step_reporter",
]
