"""The proof printer: PNG and PDF per card at the exact card size, a counter that survives restarts."""

from __future__ import annotations

import datetime as dt
import io
import json
import re
from pathlib import Path

import pytest
from ektp_plugins.printers import proof
from ektp_plugins.printers.layout import render_card
from ektp_plugins.printers.proof import ProofPrinter
from ektp_plugins.simulators.images import sample_photo, sample_signature
from PIL import Image

from ektp_core.devices.printers import (
    CR80_300DPI,
    EVOLIS_CANVAS,
    CardData,
    CardPrinter,
    Outcome,
    PrinterError,
    PrinterNotConnected,
    PrinterState,
    RenderedCard,
)
from ektp_core.plugins import PluginHost
from ektp_core.testing.samples import make_biodata

CARD_POINTS = (85.60 / 25.4 * 72, 53.98 / 25.4 * 72)  # 242.65 x 153.01


def rendered(canvas: tuple[int, int] = EVOLIS_CANVAS, *, back: bool = False) -> RenderedCard:
    card = CardData(
        biodata=make_biodata(),
        photo=sample_photo(5, birth_year=1990),
        signature=sample_signature(5),
        issue_place="KOTA BENGKULU",
        issue_date=dt.date(2024, 5, 2),
        canvas=canvas,
        back=back,
    )
    return render_card(card)


@pytest.fixture(scope="module")
def front() -> RenderedCard:
    return rendered()


@pytest.fixture(scope="module")
def front_and_back() -> RenderedCard:
    return rendered(back=True)


class Clock:
    """A clock that moves one second per reading."""

    def __init__(self) -> None:
        self.now = dt.datetime(2024, 5, 2, 8, 30, tzinfo=dt.UTC)

    def __call__(self) -> dt.datetime:
        self.now += dt.timedelta(seconds=1)
        return self.now


def media_boxes(pdf: bytes) -> list[tuple[float, float]]:
    boxes = re.findall(rb"/MediaBox\s*\[\s*([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s*\]", pdf)
    return [(float(x1) - float(x0), float(y1) - float(y0)) for x0, y0, x1, y1 in boxes]


def card_files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name != "index.json")


def test_it_is_a_card_printer_registered_as_proof(tmp_path: Path) -> None:
    host = PluginHost(allow=["printer-proof"])
    factory = host.registry("printers").get("proof")
    printer = factory(name="proof-1", options={"folder": str(tmp_path)})
    assert isinstance(printer, CardPrinter)
    assert printer.canvas == EVOLIS_CANVAS
    assert ProofPrinter("p", {"folder": str(tmp_path), "canvas": "cr80"}).canvas == CR80_300DPI
    assert host.registry("printers").entry("proof").plugin == "printer-proof"
    assert "ektp_register_printers" in dir(proof)


def test_writes_a_png_and_a_pdf_of_the_exact_card_size(tmp_path: Path, front: RenderedCard) -> None:
    printer = ProofPrinter("proof-1", {"folder": str(tmp_path / "cards")}, clock=Clock())
    printer.open()
    steps: list[tuple[str, float]] = []
    status = printer.print_card(front, progress=lambda step, done: steps.append((step, done)))
    assert status.state is PrinterState.READY and status.card_count == 1 and status.model == "ektp proof printer"
    folder = tmp_path / "cards"
    assert card_files(folder) == ["000001-20240502T083001Z.pdf", "000001-20240502T083001Z.png"]
    png = Image.open(folder / "000001-20240502T083001Z.png")
    assert png.format == "PNG" and png.size == EVOLIS_CANVAS
    pdf = (folder / "000001-20240502T083001Z.pdf").read_bytes()
    assert pdf.startswith(b"%PDF")
    [(width, height)] = media_boxes(pdf)
    assert width == pytest.approx(CARD_POINTS[0], abs=0.05)  # 85.60 mm
    assert height == pytest.approx(CARD_POINTS[1], abs=0.05)  # 53.98 mm
    assert width == pytest.approx(242.6, abs=0.1) and height == pytest.approx(153.0, abs=0.1)
    # Progress: named steps, never going back, ending at 1.0.
    fractions = [done for _, done in steps]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0 and len(steps) >= 4


def test_a_card_with_a_back_gets_a_second_page(tmp_path: Path, front_and_back: RenderedCard) -> None:
    printer = ProofPrinter("proof-1", {"folder": str(tmp_path)}, clock=Clock())
    printer.open()
    printer.print_card(front_and_back)
    names = card_files(tmp_path)
    assert [n for n in names if n.endswith("-back.png")]
    pdf = (tmp_path / next(n for n in names if n.endswith(".pdf"))).read_bytes()
    boxes = media_boxes(pdf)
    assert len(boxes) == 2
    for width, height in boxes:
        assert (width, height) == pytest.approx(CARD_POINTS, abs=0.05)


def test_the_cr80_canvas_gives_the_same_page(tmp_path: Path) -> None:
    printer = ProofPrinter("proof-1", {"folder": str(tmp_path), "canvas": "cr80"})
    printer.open()
    printer.print_card(rendered(CR80_300DPI))
    pdf = next(tmp_path.glob("*.pdf")).read_bytes()
    assert media_boxes(pdf) == [pytest.approx(CARD_POINTS, abs=0.05)]
    png = Image.open(io.BytesIO(next(tmp_path.glob("*.png")).read_bytes()))
    assert png.size == CR80_300DPI


def test_the_counter_and_serial_survive_a_restart(tmp_path: Path, front: RenderedCard) -> None:
    clock = Clock()
    first = ProofPrinter("proof-1", {"folder": str(tmp_path)}, clock=clock)
    first.open()
    first.print_card(front)
    first.print_card(front)
    serial = first.status().serial
    first.close()
    first.close()  # twice is fine

    again = ProofPrinter("proof-1", {"folder": str(tmp_path)}, clock=clock)
    again.open()
    status = again.status()
    assert status.card_count == 2 and status.serial == serial and serial.startswith("PROOF-")
    assert again.print_card(front).card_count == 3
    assert sorted(n[:6] for n in card_files(tmp_path) if n.endswith(".pdf")) == ["000001", "000002", "000003"]
    index = json.loads((tmp_path / "index.json").read_text())
    assert [c["number"] for c in index["cards"]] == [1, 2, 3]


def test_an_unwritable_folder_is_not_connected(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    printer = ProofPrinter("proof-1", {"folder": str(blocker / "cards")})
    with pytest.raises(PrinterNotConnected, match="cannot write to the folder") as caught:
        printer.open()
    assert caught.value.outcome is Outcome.NOT_STARTED
    assert printer.status().state is PrinterState.OFFLINE


def test_printing_needs_an_open_printer_and_the_right_canvas(tmp_path: Path, front: RenderedCard) -> None:
    printer = ProofPrinter("proof-1", {"folder": str(tmp_path), "canvas": "cr80"})
    with pytest.raises(PrinterNotConnected, match="not open"):
        printer.print_card(front)
    printer.open()
    with pytest.raises(PrinterError, match="1016x648") as caught:
        printer.print_card(front)  # rendered for Evolis, this one takes CR80
    assert caught.value.outcome is Outcome.NOT_STARTED
    assert printer.status().card_count == 0 and card_files(tmp_path) == []


@pytest.mark.parametrize(
    "options, message",
    [
        ({}, "folder"),
        ({"folder": "x", "canvas": "a4"}, "canvas"),
        ({"folder": "x", "dpi": 600}, "dpi"),
        ({"folder": "x", "colour": "red"}, "colour"),
    ],
)
def test_bad_options_are_refused(options: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ProofPrinter("proof-1", options)


def test_a_failed_write_counts_nothing_and_leaves_no_files(
    tmp_path: Path, front: RenderedCard, monkeypatch: pytest.MonkeyPatch
) -> None:
    printer = ProofPrinter("proof-1", {"folder": str(tmp_path)})
    printer.open()

    def disk_full(path: Path, data: bytes) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(proof, "_atomic_write", disk_full)
    with pytest.raises(PrinterNotConnected, match="No space left") as caught:
        printer.print_card(front)
    assert caught.value.outcome is Outcome.NOT_STARTED
    assert printer.status().card_count == 0
    assert card_files(tmp_path) == []


def test_leftovers_of_a_crash_are_tidied_and_not_counted(tmp_path: Path, front: RenderedCard) -> None:
    printer = ProofPrinter("proof-1", {"folder": str(tmp_path)}, clock=Clock())
    printer.open()
    printer.print_card(front)
    printer.close()
    # A crash mid-card: a half-written temporary file, and a card whose files were renamed into place
    # but never reached the index.
    (tmp_path / ".tmp-0123456789abcdef").write_bytes(b"%PDF half")
    (tmp_path / "000002-20240502T083005Z.png").write_bytes(front.preview_png)

    again = ProofPrinter("proof-1", {"folder": str(tmp_path)}, clock=Clock())
    again.open()
    assert again.status().card_count == 1
    names = card_files(tmp_path)
    assert not [n for n in names if n.startswith(".tmp-")]
    assert "000002-20240502T083005Z.png.uncounted" in names
    assert again.print_card(front).card_count == 2


def test_a_damaged_index_is_refused_not_reset(tmp_path: Path) -> None:
    (tmp_path / "index.json").write_text("{not json")
    with pytest.raises(PrinterNotConnected, match="damaged"):
        ProofPrinter("proof-1", {"folder": str(tmp_path)}).open()
    assert (tmp_path / "index.json").read_text() == "{not json"
