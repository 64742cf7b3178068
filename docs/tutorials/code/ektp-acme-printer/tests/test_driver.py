"""The driver against the emulator: the protocol, the counter, and what each fault means for the card."""

from __future__ import annotations

import io
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from ektp_core.devices.printers import (
    CardJam,
    CardPrinter,
    CoverOpen,
    NoCard,
    Outcome,
    PrinterBusy,
    PrinterError,
    PrinterNotConnected,
    PrinterState,
    PrinterTimeout,
    PrinterVanished,
    RenderedCard,
    RibbonEnded,
)
from PIL import Image, ImageDraw

from ektp_acme_printer import AcmePrinter as Printer
from ektp_acme_printer import protocol
from ektp_acme_printer.emulator import AcmeEmulator as Emulator


def rendered_card(size: tuple[int, int]) -> RenderedCard:
    """A plain card of ``size`` pixels with every plane a printer needs."""
    image = Image.new("RGB", size, (214, 230, 245))
    ImageDraw.Draw(image).rectangle((40, 40, size[0] // 3, size[1] - 40), fill=(120, 120, 160))
    png = io.BytesIO()
    image.save(png, format="PNG")
    pixels = size[0] * size[1]
    return RenderedCard(
        width=size[0],
        height=size[1],
        dpi=300,
        rgb=image.tobytes(),
        k=bytes(pixels),
        overlay=b"\xff" * pixels,
        preview_png=png.getvalue(),
    )


@pytest.fixture
def emulator(tmp_path: Path) -> Iterator[Emulator]:
    with Emulator(tmp_path / "printer", hopper=5) as emulator:
        yield emulator


@pytest.fixture
def printer(emulator: Emulator) -> Iterator[Printer]:
    host, port = emulator.address
    printer = Printer("test", {"host": host, "port": port, "timeout_ms": 10000})
    printer.open()
    yield printer
    printer.close()


def test_is_a_card_printer_that_learns_its_canvas(printer: Printer) -> None:
    assert isinstance(printer, CardPrinter)
    status = printer.status()
    assert status.ready and status.card_count == 0
    assert status.serial.startswith("EMU-") and status.model
    assert printer.canvas == (1016, 648)


def test_prints_a_card_and_the_counter_counts_it(printer: Printer, emulator: Emulator) -> None:
    steps: list[str] = []
    after = printer.print_card(rendered_card(printer.canvas), progress=lambda step, _f: steps.append(step))
    assert after.card_count == 1 and after.ready
    assert steps == ["sending", "printed", "done"]
    [card] = emulator.printed()
    assert Image.open(card).size == printer.canvas
    assert emulator.hopper == 4


def test_the_counter_survives_a_restart(tmp_path: Path) -> None:
    with Emulator(tmp_path / "printer") as first:
        printer = Printer("test", {"port": first.address[1]})
        printer.open()
        printer.print_card(rendered_card(printer.canvas))
        printer.close()
    with Emulator(tmp_path / "printer") as second:
        assert (second.cards, second.serial) == (1, first.serial)


@pytest.mark.parametrize(("fault", "error"), [("cover", CoverOpen), ("hopper", NoCard)])
def test_refusals_take_no_card(printer: Printer, emulator: Emulator, fault: str, error: type[PrinterError]) -> None:
    if fault == "cover":
        emulator.cover_open = True
    else:
        emulator.hopper = 0
    assert printer.status().state is PrinterState.ERROR
    with pytest.raises(error) as raised:
        printer.print_card(rendered_card(printer.canvas))
    assert raised.value.outcome is Outcome.NOT_STARTED
    assert emulator.cards == 0 and emulator.printed() == []


@pytest.mark.parametrize(("code", "error"), [("JAM", CardJam), ("RIBBON", RibbonEnded)])
def test_a_jam_or_the_end_of_the_ribbon_spoils_the_card(
    printer: Printer, emulator: Emulator, code: str, error: type[PrinterError]
) -> None:
    emulator.fail_next(code)
    with pytest.raises(error) as raised:
        printer.print_card(rendered_card(printer.canvas))
    assert raised.value.outcome is Outcome.SPOILED and raised.value.code == code
    assert printer.status().card_count == 1  # the ruined card went through the printer


def test_busy_while_a_card_goes_through_and_ready_right_after_its_answer(tmp_path: Path) -> None:
    """While the mechanism runs, STATUS says BUSY and another card is refused (nothing taken); the
    STATUS the driver sends right after the end-of-job answer finds the printer READY, since a BUSY
    there would make ektp see a printer that is not ready after a card it did print."""
    with Emulator(tmp_path / "printer", mechanism_seconds=0.4) as emulator:
        printer = Printer("test", {"port": emulator.address[1]})
        watcher = Printer("watcher", {"port": emulator.address[1]})
        printer.open()
        watcher.open()
        try:
            after: list[PrinterState | int | None] = []

            def print_one() -> None:
                status = printer.print_card(rendered_card(printer.canvas))
                after.extend([status.state, status.card_count])

            thread = threading.Thread(target=print_one)
            thread.start()
            deadline = time.monotonic() + 5
            while watcher.status().state is not PrinterState.BUSY and time.monotonic() < deadline:
                time.sleep(0.01)
            assert watcher.status().state is PrinterState.BUSY
            with pytest.raises(PrinterBusy) as raised:
                watcher.print_card(rendered_card(watcher.canvas))
            assert raised.value.outcome is Outcome.NOT_STARTED
            thread.join(10)
            assert after == [PrinterState.READY, 1]
            assert watcher.status().state is PrinterState.READY and emulator.cards == 1
        finally:
            watcher.close()
            printer.close()


def test_no_answer_during_a_card_is_a_timeout(emulator: Emulator) -> None:
    printer = Printer("test", {"port": emulator.address[1], "timeout_ms": 300})
    printer.open()
    emulator.hang_next()
    with pytest.raises(PrinterTimeout, match=r"did not answer within 0\.3 s") as raised:
        printer.print_card(rendered_card(printer.canvas))
    assert raised.value.outcome is Outcome.UNKNOWN
    assert printer.status().state is PrinterState.OFFLINE  # the driver hung up; open() again to go on


def test_a_connection_lost_during_a_card_leaves_it_unknown(printer: Printer, emulator: Emulator) -> None:
    emulator.drop_next()
    with pytest.raises(PrinterVanished) as raised:
        printer.print_card(rendered_card(printer.canvas))
    assert raised.value.outcome is Outcome.UNKNOWN
    printer.open()
    assert printer.status().card_count == 1  # the emulator did print it: a supervisor finds out


def test_a_card_of_the_wrong_size_is_refused_before_sending(printer: Printer, emulator: Emulator) -> None:
    with pytest.raises(PrinterError, match="1016x648") as raised:
        printer.print_card(rendered_card((1011, 638)))
    assert raised.value.outcome is Outcome.NOT_STARTED
    assert emulator.cards == 0


def test_no_printer_listening_is_not_connected() -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    printer = Printer("test", {"port": port, "timeout_ms": 500})
    with pytest.raises(PrinterNotConnected, match=f"127.0.0.1:{port}"):
        printer.open()
    assert printer.status().state is PrinterState.OFFLINE
    with pytest.raises(PrinterNotConnected):
        printer.print_card(rendered_card(printer.canvas))


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"colour": "blue"}, "unknown option 'colour'"),
        ({"port": "printer"}, "port must be a positive whole number"),
        ({"port": 70000}, "not a TCP port"),
        ({"timeout_ms": 0}, "timeout_ms must be a positive whole number"),
        ({"emulator": "yes"}, "emulator must be true or false"),
    ],
)
def test_bad_options_are_refused_with_their_name(options: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Printer("test", options)


def test_replies_that_are_not_the_protocol_are_refused() -> None:
    assert protocol.parse_reply(b"OK state=READY cards=3\n").number("cards") == 3
    error = protocol.error_for(protocol.parse_reply(b"ERR NOCARD the hopper is empty\n"), "p1")
    assert isinstance(error, NoCard) and error.code == "NOCARD"
    assert protocol.error_for(protocol.parse_reply(b"ERR FIRE smoke\n"), "p1").outcome is Outcome.UNKNOWN
    for line in (b"HELLO\n", b"OK state\n", b"ERR\n", b"OK cards=1"):
        with pytest.raises(protocol.ProtocolError):
            protocol.parse_reply(line)
