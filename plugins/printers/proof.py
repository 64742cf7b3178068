"""The proof printer (plugin ``printer-proof``, driver ``proof``): cards as PNG and PDF files in a folder.

No hardware: each card becomes ``NNNNNN-YYYYMMDDTHHMMSSZ.png`` (the preview, full canvas) and
``NNNNNN-YYYYMMDDTHHMMSSZ.pdf`` (the card at its exact physical size, 85.60 x 53.98 mm, the front
on page 1 and the back on page 2 when the card has one; the back is also written as
``...-back.png``). It is for trying a deployment, checking layouts and proof-reading a card before
a real printer is bought, and it behaves like a printer the rest of ektp can trust:

* ``index.json`` in the folder is the printer's memory: its serial (made up on first use) and one
  entry per card. ``card_count`` is the number of entries, so it survives restarts.
* Every file is written to a temporary name and renamed into place, and the index entry is
  written (atomically, the same way) only after the card's files are complete. A crash at any
  point leaves either a counted card with all its files or no counted card: files of a card that
  never reached the index are renamed ``*.uncounted`` the next time the printer opens.
* A folder that cannot be created or written gives :class:`~ektp_core.devices.printers.PrinterNotConnected`.

One process prints to a folder at a time (two processes sharing one folder could number two cards
alike).

Options: ``folder`` (required; relative paths are inside the deployment folder), ``canvas``
(``evolis``: 1016 x 648, the default; ``cr80``: 1011 x 638) and ``dpi`` (300, the only value).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import json
import logging
import os
import re
import threading
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PIL import Image

from ektp_core import __version__, hookimpl
from ektp_core.devices.printers import (
    CR80_300DPI,
    CR80_MM,
    EVOLIS_CANVAS,
    Outcome,
    PrinterError,
    PrinterFactory,
    PrinterNotConnected,
    PrinterState,
    PrinterStatus,
    Progress,
    RenderedCard,
)
from ektp_core.keys.crypto import fsync_dir
from ektp_core.registry import Registry

log = logging.getLogger(__name__)

MODEL = "ektp proof printer"
CANVASES = {"evolis": EVOLIS_CANVAS, "cr80": CR80_300DPI}
OPTIONS = ("folder", "canvas", "dpi")
INDEX = "index.json"
_TEMP_PREFIX = ".tmp-"
_CARD_FILE = re.compile(r"^(\d{6}-\d{8}T\d{6}Z(?:-\d+)?)(?:-back)?\.(?:png|pdf)$")
_MM_PER_INCH = 25.4


def _write_temp(folder: Path, data: bytes) -> Path:
    """``data`` in a new temporary file in ``folder``, flushed to disk."""
    path = folder / f"{_TEMP_PREFIX}{uuid.uuid4().hex}"
    with open(path, "xb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    return path


def _atomic_write(path: Path, data: bytes) -> None:
    """Write ``path`` so that a reader (or a crash) sees the old file or the new one, never half of one."""
    temp = _write_temp(path.parent, data)
    try:
        os.replace(temp, path)
    except OSError:
        temp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def card_pixels(dpi: int) -> tuple[int, int]:
    """The ID-1 card (85.60 x 53.98 mm) in whole pixels at ``dpi``: 1011 x 638 at 300 dpi."""
    return round(CR80_MM[0] / _MM_PER_INCH * dpi), round(CR80_MM[1] / _MM_PER_INCH * dpi)


def crop_to_card(image: Image.Image, dpi: int) -> Image.Image:
    """The card itself, centred in a canvas that may carry bleed (Evolis: 1016 x 648)."""
    width, height = card_pixels(dpi)
    if image.width < width or image.height < height:
        return image
    left, top = (image.width - width) // 2, (image.height - height) // 2
    return image.crop((left, top, left + width, top + height))


def pdf_bytes(pages: list[Image.Image]) -> bytes:
    """A PDF whose pages are exactly ID-1 size: each page's resolution is set per axis from its pixels.

    The card is 1011 x 638 pixels at 300 dpi, which is 85.598 x 54.018 mm; a resolution of
    299.99 x 300.21 dpi makes the page 85.60 x 53.98 mm (242.65 x 153.01 points) exactly.
    """
    first, rest = pages[0], pages[1:]
    dpi = (first.width * _MM_PER_INCH / CR80_MM[0], first.height * _MM_PER_INCH / CR80_MM[1])
    buffer = io.BytesIO()
    first.save(
        buffer,
        format="PDF",
        save_all=True,
        append_images=rest,
        resolution=300.0,
        dpi=dpi,
        title="KTP-el proof",
        creator=f"ektp {__version__}",
    )
    return buffer.getvalue()


class ProofPrinter:
    """A :class:`~ektp_core.devices.printers.CardPrinter` that writes each card to a folder as PNG and PDF."""

    def __init__(self, name: str, options: dict[str, Any], *, clock: Callable[[], dt.datetime] | None = None) -> None:
        unknown = sorted(set(options) - set(OPTIONS))
        if unknown:
            raise ValueError(f"proof printer {name}: unknown option {unknown[0]!r} (known: {', '.join(OPTIONS)})")
        folder = options.get("folder")
        if not isinstance(folder, str | os.PathLike) or not str(folder):
            raise ValueError(f"proof printer {name}: the option 'folder' is required (where the cards are written)")
        canvas = options.get("canvas", "evolis")
        if canvas not in CANVASES:
            raise ValueError(f"proof printer {name}: canvas {canvas!r} is not one of {', '.join(CANVASES)}")
        dpi = options.get("dpi", 300)
        if dpi != 300:
            raise ValueError(f"proof printer {name}: dpi {dpi!r} is not supported (card canvases are 300 dpi)")
        self.name = name
        self.folder = Path(folder)
        self.dpi = 300
        self._canvas = CANVASES[canvas]
        self._clock = clock or (lambda: dt.datetime.now(dt.UTC))
        self._index: dict[str, Any] | None = None
        self._lock = threading.Lock()

    @property
    def canvas(self) -> tuple[int, int]:
        """The canvas the layout draws for this printer."""
        return self._canvas

    @property
    def is_open(self) -> bool:
        """True between :meth:`open` and :meth:`close`."""
        return self._index is not None

    # ---------------------------------------------------------------------------------------------

    def open(self) -> None:
        """Create the folder if needed, check it can be written and read the card index."""
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            _write_temp(self.folder, b"").unlink()  # can we really write here?
            index = self._read_index()
            if index is None:
                index = {"format": 1, "model": MODEL, "serial": f"PROOF-{uuid.uuid4().hex[:10].upper()}", "cards": []}
                _atomic_write(self.folder / INDEX, self._dump(index))
            self._tidy(index)
        except OSError as exc:
            raise PrinterNotConnected(
                f"proof printer {self.name}: cannot write to the folder {self.folder}: {exc.strerror or exc}",
                code=type(exc).__name__,
            ) from None
        self._index = index

    def close(self) -> None:
        """Forget the open state (nothing to release); safe to call twice."""
        self._index = None

    def status(self) -> PrinterStatus:
        """READY with the number of cards written, once open; OFFLINE before."""
        if self._index is None:
            return PrinterStatus(state=PrinterState.OFFLINE, message="not open", model=MODEL)
        return PrinterStatus(
            state=PrinterState.READY,
            model=MODEL,
            serial=str(self._index["serial"]),
            firmware=__version__,
            card_count=len(self._index["cards"]),
        )

    def print_card(self, card: RenderedCard, *, progress: Progress | None = None) -> PrinterStatus:
        """Write the card's PNG and PDF (and back), then count it; see the module docstring."""

        def step(name: str, fraction: float) -> None:
            if progress is not None:
                progress(name, fraction)

        with self._lock:
            if self._index is None:
                raise PrinterNotConnected(f"proof printer {self.name} is not open")
            if (card.width, card.height) != self._canvas:
                raise PrinterError(
                    f"proof printer {self.name}: the card is {card.width}x{card.height} pixels, "
                    f"this printer takes {self._canvas[0]}x{self._canvas[1]}",
                    outcome=Outcome.NOT_STARTED,
                    code="canvas",
                )
            step("preparing", 0.0)
            number = len(self._index["cards"]) + 1
            stem = self._stem(number)
            # The PDF shows the card as a person sees it: the preview (colour panels with the black on top).
            front = Image.open(io.BytesIO(card.preview_png)).convert("RGB")
            files: dict[str, bytes] = {f"{stem}.png": card.preview_png}
            pages = [crop_to_card(front, card.dpi)]
            if card.back_k is not None:
                step("back", 0.2)
                # Black resin on a white card: the plane inverted.
                back = Image.frombytes("L", (card.width, card.height), card.back_k).point(lambda v: 255 - v)
                back_png = io.BytesIO()
                back.save(back_png, format="PNG", dpi=(card.dpi, card.dpi))
                files[f"{stem}-back.png"] = back_png.getvalue()
                pages.append(crop_to_card(back.convert("RGB"), card.dpi))
            step("pdf", 0.35)
            files[f"{stem}.pdf"] = pdf_bytes(pages)
            step("writing", 0.6)
            written: list[Path] = []
            temps: list[Path] = []
            try:
                for data in files.values():
                    temps.append(_write_temp(self.folder, data))
                for temp, filename in zip(temps, files, strict=True):
                    os.replace(temp, self.folder / filename)
                    written.append(self.folder / filename)
                fsync_dir(self.folder)
                step("counting", 0.85)
                entry = {
                    "number": number,
                    "stem": stem,
                    "files": sorted(files),
                    "printed_at": self._clock().astimezone(dt.UTC).isoformat(timespec="seconds"),
                    "width": card.width,
                    "height": card.height,
                    "back": card.back_k is not None,
                }
                index = {**self._index, "cards": [*self._index["cards"], entry]}
                _atomic_write(self.folder / INDEX, self._dump(index))  # the moment the card counts
            except OSError as exc:
                for path in temps + written:
                    with contextlib.suppress(OSError):
                        path.unlink(missing_ok=True)
                raise PrinterNotConnected(
                    f"proof printer {self.name}: could not write card {number} to {self.folder}: {exc.strerror or exc}",
                    code=type(exc).__name__,
                ) from None
            self._index = index
            step("done", 1.0)
            log.info("proof printer %s: card %d written as %s.pdf", self.name, number, stem)
            return self.status()

    # ---------------------------------------------------------------------------------------------

    def _stem(self, number: int) -> str:
        stamp = self._clock().astimezone(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
        stem = f"{number:06d}-{stamp}"
        # An uncounted card left by a crash may hold the same name: never overwrite a file.
        suffix = 1
        candidate = stem
        while any((self.folder / f"{candidate}{ext}").exists() for ext in (".png", ".pdf", "-back.png")):
            suffix += 1
            candidate = f"{stem}-{suffix}"
        return candidate

    def _read_index(self) -> dict[str, Any] | None:
        path = self.folder / INDEX
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return None
        try:
            index = json.loads(raw)
            if not isinstance(index, dict) or not isinstance(index.get("cards"), list) or not index.get("serial"):
                raise ValueError("not an ektp proof printer index")
        except ValueError as exc:
            raise PrinterNotConnected(
                f"proof printer {self.name}: {path} is damaged ({exc}); the card count "
                "cannot be trusted: repair it or move it aside"
            ) from None
        return index

    def _tidy(self, index: dict[str, Any]) -> None:
        """Remove temporary files of an interrupted write; mark card files the index never counted."""
        counted = {name for entry in index["cards"] for name in entry.get("files", [])}
        for path in self.folder.iterdir():
            if path.name.startswith(_TEMP_PREFIX):
                path.unlink(missing_ok=True)
            elif _CARD_FILE.match(path.name) and path.name not in counted:
                log.warning(
                    "proof printer %s: %s was never counted (interrupted print); renamed *.uncounted",
                    self.name,
                    path.name,
                )
                os.replace(path, path.with_name(path.name + ".uncounted"))

    @staticmethod
    def _dump(index: dict[str, Any]) -> bytes:
        return (json.dumps(index, indent=1, ensure_ascii=False) + "\n").encode()


@hookimpl
def ektp_register_printers(registry: Registry[PrinterFactory]) -> None:
    """Register the proof printer driver as ``proof``."""
    registry.add("proof", ProofPrinter, description="writes each card as PNG and PDF to a folder (no hardware)")
