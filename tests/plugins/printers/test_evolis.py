"""The Evolis driver against the Evolis emulator, through real pyusb and the fake USB backend: what is
printed is what was sent, the counter, the status, every fault with its error class and outcome, USB
etiquette (kernel driver, interface released), and the protocol pieces on their own."""

from __future__ import annotations

import errno
import json
import threading
import time
from collections.abc import Callable, Iterator
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import pytest
import usb.core
from ektp_plugins.printers.evolis import ektp_register_printers, make_printer
from ektp_plugins.printers.evolis import protocol as p
from ektp_plugins.printers.evolis.driver import EvolisPrinter
from ektp_plugins.printers.evolis.emulator import EMULATED_PRODUCT_ID, EvolisEmulator
from ektp_plugins.simulators.usb import FakeUsbBackend

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
from ektp_core.errors import PluginError
from ektp_core.messages import Message
from ektp_core.registry import Registry

W, H = 1016, 648
TIMEOUT_MS = 250  # short: the timeout tests really wait for it


def _threshold(plane: bytes) -> bytes:
    return bytes(255 if v >= 128 else 0 for v in plane)


def make_card(*, back: bool = False) -> RenderedCard:
    """A synthetic card: colour gradients (every byte value, so 0x1B and 0x0D occur in the panel data),
    text-like K strokes with values on both sides of the threshold, an overlay with a hole for a chip."""
    red = bytes(x * 255 // (W - 1) for x in range(W)) * H
    green = b"".join(bytes((y * 255 // (H - 1),)) * W for y in range(H))
    blue = b"".join(bytes((x + 3 * y) & 0xFF for x in range(W)) for y in range(H))
    rgb = bytearray(W * H * 3)
    rgb[0::3], rgb[1::3], rgb[2::3] = red, green, blue
    k = bytearray(W * H)
    for line in range(8):  # eight "lines of text": strokes 3 px wide every 9 px, 24 px high
        top = 300 + line * 40
        for y in range(top, top + 24):
            for x in range(430, 990, 9):
                k[y * W + x : y * W + x + 3] = (200, 128, 127)  # 127 must not print, 128 must
        k[(top + 30) * W + 430 : (top + 30) * W + 990] = bytes((100,)) * 560  # too light to print
    overlay = bytearray(b"\xff" * (W * H))
    for y in range(250, 400):  # no varnish over the chip
        overlay[y * W + 80 : y * W + 200] = bytes(120)
    back_k = bytes(255 if (x // 50 + y // 50) % 2 else 0 for y in range(H) for x in range(W)) if back else None
    return RenderedCard(
        width=W, height=H, dpi=300, rgb=bytes(rgb), k=bytes(k), overlay=bytes(overlay), preview_png=b"", back_k=back_k
    )


@pytest.fixture(scope="module")
def card() -> RenderedCard:
    return make_card()


@pytest.fixture
def emulator() -> EvolisEmulator:
    return EvolisEmulator(serial="EVO-TEST-1")


@pytest.fixture
def backend(emulator: EvolisEmulator) -> FakeUsbBackend:
    return FakeUsbBackend(emulator)


def new_printer(backend: FakeUsbBackend, **kwargs: Any) -> EvolisPrinter:
    options: dict[str, Any] = {
        "product_id": EMULATED_PRODUCT_ID,
        "timeout_ms": TIMEOUT_MS,
        "print_timeout_ms": 3000,
        "poll_interval_ms": 5,
    }
    options.update(kwargs)
    return EvolisPrinter("evolis-test", backend=backend, **options)


@pytest.fixture
def printer(backend: FakeUsbBackend, emulator: EvolisEmulator) -> Iterator[EvolisPrinter]:
    printer = new_printer(backend)
    printer.open()
    yield printer
    printer.close()
    # Whatever the test did, closing gives the interface back.
    assert emulator.claimed_by is None


def expect_failure(
    printer: EvolisPrinter, card: RenderedCard, cls: type[PrinterError], outcome: Outcome
) -> PrinterError:
    with pytest.raises(PrinterError) as caught:
        printer.print_card(card)
    assert type(caught.value) is cls, caught.value
    assert caught.value.outcome is outcome, caught.value
    return caught.value


# --------------------------------------------------------------------------------------------------
# Printing
# --------------------------------------------------------------------------------------------------


def test_printed_panels_are_what_was_sent(printer: EvolisPrinter, emulator: EvolisEmulator, card: RenderedCard) -> None:
    assert isinstance(printer, CardPrinter) and printer.canvas == (W, H)
    y, m, c = p.colour_planes(card.rgb)
    sent = p.to_transmission(y)
    assert b"\x1b" in sent and b"\r" in sent  # the framing bytes do occur inside the data
    before = printer.status()
    after = printer.print_card(card)
    [printed] = emulator.printed_cards
    assert (printed.width, printed.height) == (W, H)
    assert printed.y == y and printed.m == m and printed.c == c  # byte for byte
    assert printed.k == _threshold(card.k) and printed.o == _threshold(card.overlay)  # bit exact
    assert printed.back_k is None
    expected_rgb = bytearray(card.rgb)
    for i, v in enumerate(printed.k):
        if v:
            expected_rgb[3 * i : 3 * i + 3] = b"\x00\x00\x00"
    assert printed.rgb == bytes(expected_rgb)
    assert before.card_count == 0 and after.card_count == 1 and printed.number == 1
    assert after.ready and after.ribbon_remaining == before.ribbon_remaining - 1  # type: ignore[operator]
    # K and O went compressed; the overlay with its hole is mostly whole black lines.
    assert emulator.commands[emulator.commands.index("Ss") : emulator.commands.index("Se") + 1] == [
        "Ss",
        "Sr",
        "Db",
        "Db",
        "Db",
        "Dbc",
        "Dbc",
        "Se",
    ]


def test_uncompressed_mono_panels_and_a_back(backend: FakeUsbBackend, emulator: EvolisEmulator) -> None:
    card = make_card(back=True)
    with new_printer(backend, compress=False) as printer:
        printer.print_card(card)
    [printed] = emulator.printed_cards
    assert printed.k == _threshold(card.k) and printed.o == _threshold(card.overlay)
    assert card.back_k is not None and printed.back_k == card.back_k
    assert emulator.commands.count("Dbc") == 0 and "Sv" in emulator.commands


def test_status_fields(printer: EvolisPrinter, emulator: EvolisEmulator) -> None:
    status = printer.status()
    assert status.state is PrinterState.READY and status.ready and str(status.message) == "ready"
    assert status.message == Message("evolis.PRINTER_READY", text="ready")  # Indonesian in the UI: "siap"
    assert (status.model, status.serial, status.firmware) == ("Evolis Primacy (emulated)", "EVO-TEST-1", "EMU-1.0")
    assert (status.card_count, status.ribbon, status.ribbon_remaining) == (0, "YMCKO", 200)
    emulator.ribbon_left = 7
    assert str(printer.status().message) == "ready; the ribbon is nearly finished"


def test_counter_ribbon_and_feeder_follow_each_card(
    printer: EvolisPrinter, emulator: EvolisEmulator, card: RenderedCard
) -> None:
    emulator.feeder = 3
    counts = [printer.print_card(card).card_count for _ in range(3)]
    assert counts == [1, 2, 3]
    assert emulator.feeder == 0 and emulator.ribbon_left == 197
    # The last blank went through: the printer now warns about the next card, this one printed fine.
    status = printer.status()
    assert status.state is PrinterState.ERROR and "feeder is empty" in str(status.message)
    expect_failure(printer, card, NoCard, Outcome.NOT_STARTED)
    assert emulator.card_counter == 3 and "Ss" not in emulator.commands[-8:]


def test_progress_is_reported_per_panel(printer: EvolisPrinter, card: RenderedCard) -> None:
    seen: list[tuple[str, float]] = []
    printer.print_card(card, progress=lambda step, fraction: seen.append((step, fraction)))
    steps = list(dict.fromkeys(step for step, _ in seen))
    assert steps == ["checking the printer", "panel Y", "panel M", "panel C", "panel K", "panel O", "printing", "done"]
    fractions = [f for _, f in seen]
    assert fractions == sorted(fractions) and fractions[0] == 0.0 and fractions[-1] == 1.0


def test_print_time_is_waited_for(backend: FakeUsbBackend, emulator: EvolisEmulator, card: RenderedCard) -> None:
    emulator.mechanism_seconds = 0.15
    with new_printer(backend, poll_interval_ms=20) as printer:
        started = time.monotonic()
        status = printer.print_card(card)
        assert time.monotonic() - started >= 0.15
    assert status.card_count == 1
    sequence_end = emulator.commands.index("Se")
    assert emulator.commands[sequence_end:].count("Rse") >= 3  # it saw the printer busy, then ready


def test_ready_is_not_done_until_the_counter_moves(
    printer: EvolisPrinter, emulator: EvolisEmulator, card: RenderedCard
) -> None:
    emulator.feed_delay_seconds = 0.1  # acknowledges Se, says READY with the old counter, then feeds
    started = time.monotonic()
    assert printer.print_card(card).card_count == 1
    assert time.monotonic() - started >= 0.1 and len(emulator.printed_cards) == 1


def test_feeder_empty_when_the_printer_gets_to_feeding(
    printer: EvolisPrinter, emulator: EvolisEmulator, card: RenderedCard
) -> None:
    emulator.feed_delay_seconds = 0.05

    def empty_after_sequence_end(cmd: p.Command) -> None:
        if "Se" in emulator.commands:  # Se was accepted; the last blank is gone before the feed
            emulator.feeder = 0

    emulator.on_command = empty_after_sequence_end
    error = expect_failure(printer, card, NoCard, Outcome.NOT_STARTED)
    assert "waiting for the card" in str(error) and emulator.card_counter == 0


def test_status_from_another_thread_while_a_card_prints(
    backend: FakeUsbBackend, emulator: EvolisEmulator, card: RenderedCard
) -> None:
    emulator.mechanism_seconds = 0.1
    seen: list[PrinterState] = []
    failures: list[BaseException] = []
    with new_printer(backend, poll_interval_ms=10) as printer:
        done = threading.Event()

        def watch() -> None:
            while not done.is_set():
                try:
                    seen.append(printer.status().state)
                except BaseException as exc:  # any failure: reported below
                    failures.append(exc)
                    return

        watcher = threading.Thread(target=watch)
        watcher.start()
        try:
            assert printer.print_card(card).card_count == 1
        finally:
            done.set()
            watcher.join()
    assert failures == [] and PrinterState.BUSY in seen
    assert emulator.printed_cards[0].y == p.colour_planes(card.rgb)[0]


def test_wrong_canvas_is_refused_before_the_printer(printer: EvolisPrinter, emulator: EvolisEmulator) -> None:
    small = RenderedCard(
        width=10, height=10, dpi=300, rgb=bytes(300), k=bytes(100), overlay=bytes(100), preview_png=b""
    )
    with pytest.raises(PrinterError) as caught:
        printer.print_card(small)
    assert caught.value.outcome is Outcome.NOT_STARTED and "Ss" not in emulator.commands


# --------------------------------------------------------------------------------------------------
# Faults
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "cls"),
    [
        (lambda e: setattr(e, "feeder", 0), NoCard),
        (lambda e: setattr(e, "cover_open", True), CoverOpen),
        (lambda e: setattr(e, "busy", True), PrinterBusy),
        (lambda e: setattr(e, "ribbon_left", 0), RibbonEnded),
    ],
    ids=["feeder-empty", "cover-open", "busy", "ribbon-finished"],
)
def test_refusals_before_the_card(
    printer: EvolisPrinter,
    emulator: EvolisEmulator,
    card: RenderedCard,
    fault: Callable[[EvolisEmulator], None],
    cls: type[PrinterError],
) -> None:
    fault(emulator)
    error = expect_failure(printer, card, cls, Outcome.NOT_STARTED)
    assert error.code.startswith("WAR_") or error.code.startswith("INF_")
    assert emulator.card_counter == 0 and "Ss" not in emulator.commands


def test_feeder_found_empty_when_the_card_is_taken(
    printer: EvolisPrinter, emulator: EvolisEmulator, card: RenderedCard
) -> None:
    def empty_at_sequence_end(cmd: p.Command) -> None:
        if cmd.name == "Se":
            emulator.feeder = 0

    emulator.on_command = empty_at_sequence_end
    expect_failure(printer, card, NoCard, Outcome.NOT_STARTED)
    assert emulator.card_counter == 0 and emulator.printed_cards == []


@pytest.mark.parametrize(
    ("attribute", "cls", "flag"),
    [
        ("ribbon_end_on_next_card", RibbonEnded, "ERR_RIBBON_ENDED"),
        ("jam_on_next_card", CardJam, "ERR_MECHANICAL"),
    ],
)
def test_card_spoiled_mid_print(
    printer: EvolisPrinter,
    emulator: EvolisEmulator,
    card: RenderedCard,
    attribute: str,
    cls: type[PrinterError],
    flag: str,
) -> None:
    setattr(emulator, attribute, True)
    error = expect_failure(printer, card, cls, Outcome.SPOILED)
    assert error.code == flag
    assert emulator.card_counter == 1 and emulator.spoiled_cards == 1 and emulator.printed_cards == []
    # The error stays until an operator clears it; the next card is refused, consuming nothing.
    again = expect_failure(printer, card, cls, Outcome.NOT_STARTED)
    assert again.code == flag and emulator.card_counter == 1
    emulator.clear_error()
    emulator.replace_ribbon()
    assert printer.print_card(card).card_count == 2


def test_no_answer_before_the_card(printer: EvolisPrinter, emulator: EvolisEmulator, card: RenderedCard) -> None:
    emulator.stop_answering()
    started = time.monotonic()
    expect_failure(printer, card, PrinterTimeout, Outcome.NOT_STARTED)
    assert time.monotonic() - started < 2 * TIMEOUT_MS / 1000 + 0.5  # bounded by the reply timeout


def test_no_answer_in_the_middle_of_the_panels(
    printer: EvolisPrinter, emulator: EvolisEmulator, card: RenderedCard
) -> None:
    emulator.stop_answering(after="Db")  # the Y panel is acknowledged, the M panel is not
    expect_failure(printer, card, PrinterTimeout, Outcome.NOT_STARTED)
    assert emulator.card_counter == 0


def test_no_answer_after_the_card_is_taken(
    printer: EvolisPrinter, emulator: EvolisEmulator, card: RenderedCard
) -> None:
    emulator.stop_answering(after="Se")
    expect_failure(printer, card, PrinterTimeout, Outcome.UNKNOWN)
    assert emulator.card_counter == 1


def test_still_printing_after_the_print_timeout(
    backend: FakeUsbBackend, emulator: EvolisEmulator, card: RenderedCard
) -> None:
    emulator.mechanism_seconds = 5
    with new_printer(backend, print_timeout_ms=200, poll_interval_ms=20) as printer:
        error = expect_failure(printer, card, PrinterTimeout, Outcome.UNKNOWN)
    assert error.code == "INF_PRINTING_RUNNING"


def test_unplugged_in_the_middle_of_a_panel(
    printer: EvolisPrinter, emulator: EvolisEmulator, card: RenderedCard
) -> None:
    emulator.unplug_after_out_bytes = 300_000  # inside the Y panel
    error = expect_failure(printer, card, PrinterVanished, Outcome.NOT_STARTED)
    assert "disappeared" in str(error) and not emulator.plugged
    assert "Db" not in emulator.commands and emulator.card_counter == 0


@pytest.mark.parametrize("at", ["Se", "Rco"])
def test_unplugged_after_the_card_is_taken(
    printer: EvolisPrinter, emulator: EvolisEmulator, card: RenderedCard, at: str
) -> None:
    def pull_the_cable(cmd: p.Command) -> None:
        if cmd.name == at and "Ss" in emulator.commands:
            emulator.unplug()

    emulator.on_command = pull_the_cable
    expect_failure(printer, card, PrinterVanished, Outcome.UNKNOWN)
    printer.close()
    printer.close()  # twice is fine, and on a vanished printer


def test_garbage_reply_is_a_clear_error(printer: EvolisPrinter, emulator: EvolisEmulator) -> None:
    emulator.garble_next_reply(b"\xff\xfe\x1b\x00garbage\r")
    with pytest.raises(PrinterError) as caught:
        printer.status()
    assert type(caught.value) is PrinterError and "not Evolis protocol" in str(caught.value)
    assert caught.value.outcome is Outcome.NOT_STARTED
    emulator.garble_next_reply(b"HELLO\r")  # printable, but not a state
    with pytest.raises(PrinterError, match="not a printer state"):
        printer.status()
    emulator.garble_next_reply(b"READY,PRINTER_READY")  # no CR: the short packet ends the reply
    assert printer.status().ready


def test_unexpected_reply_to_a_command(printer: EvolisPrinter, emulator: EvolisEmulator, card: RenderedCard) -> None:
    def answer_oddly(cmd: p.Command) -> None:
        if cmd.name == "Ss":
            emulator.garble_next_reply(b"WHAT\r")

    emulator.on_command = answer_oddly
    error = expect_failure(printer, card, PrinterError, Outcome.NOT_STARTED)
    assert "'WHAT'" in str(error)


# --------------------------------------------------------------------------------------------------
# USB etiquette
# --------------------------------------------------------------------------------------------------


def test_kernel_driver_is_detached_and_given_back(backend: FakeUsbBackend, emulator: EvolisEmulator) -> None:
    assert emulator.kernel_driver_active
    printer = new_printer(backend)
    printer.open()
    assert not emulator.kernel_driver_active and emulator.claimed_by is not None
    assert emulator.events.index("detach") < emulator.events.index("claim")
    printer.close()
    assert emulator.kernel_driver_active and emulator.claimed_by is None
    assert emulator.events[-3:] == ["release", "attach", "close"]


def test_no_kernel_driver_nothing_to_detach(card: RenderedCard) -> None:
    emulator = EvolisEmulator(kernel_driver=False)
    with new_printer(FakeUsbBackend(emulator)) as printer:
        printer.print_card(card)
    assert "detach" not in emulator.events and "attach" not in emulator.events
    assert emulator.claimed_by is None


def test_interface_held_by_another_program(backend: FakeUsbBackend) -> None:
    with new_printer(backend):
        second = new_printer(backend)
        with pytest.raises(PrinterNotConnected, match="another program"):
            second.open()


def test_choosing_a_printer_by_serial(card: RenderedCard) -> None:
    first, second = EvolisEmulator(serial="AAA111"), EvolisEmulator(serial="BBB222")
    backend = FakeUsbBackend(first, second)
    with new_printer(backend, serial="BBB222") as printer:
        assert printer.status().serial == "BBB222"
        printer.print_card(card)
    assert (len(first.printed_cards), len(second.printed_cards)) == (0, 1)
    with pytest.raises(PrinterNotConnected, match="AAA111, BBB222") as caught:
        new_printer(backend).open()  # two printers and no serial: refuse to guess
    assert caught.value.outcome is Outcome.NOT_STARTED
    with pytest.raises(PrinterNotConnected, match="no printer with that serial"):
        new_printer(backend, serial="CCC333").open()
    assert first.claimed_by is None and second.claimed_by is None


def test_printer_not_found() -> None:
    with pytest.raises(PrinterNotConnected, match="not on the USB bus") as caught:
        new_printer(FakeUsbBackend()).open()
    assert caught.value.outcome is Outcome.NOT_STARTED
    with pytest.raises(PrinterNotConnected):
        new_printer(FakeUsbBackend(EvolisEmulator()), product_id=0x0001).open()
    with pytest.raises(PrinterNotConnected, match="not open"):
        new_printer(FakeUsbBackend()).status()


def test_eject_and_unknown_commands(printer: EvolisPrinter, emulator: EvolisEmulator) -> None:
    printer.eject_card()
    assert emulator.commands[-1] == "Ser"
    assert printer._ask(p.command("Zz"), "testing") == "ERR CDE"


# --------------------------------------------------------------------------------------------------
# The emulator keeps its state; the plugin registers the driver
# --------------------------------------------------------------------------------------------------


def test_emulator_state_survives_a_restart(tmp_path: Path, card: RenderedCard) -> None:
    from PIL import Image

    for expected in (1, 2):
        emulator = EvolisEmulator(state_dir=tmp_path)
        with new_printer(FakeUsbBackend(emulator)) as printer:
            assert printer.print_card(card).card_count == expected
    state = json.loads((tmp_path / "state.json").read_text())
    assert state["card_counter"] == 2 and state["ribbon_left"] == 198
    with Image.open(tmp_path / "cards" / "card-000002.png") as image:
        assert image.size == (W, H) and image.convert("RGB").tobytes() == emulator.printed_cards[0].rgb
    meta = json.loads((tmp_path / "cards" / "card-000002.json").read_text())
    assert meta["number"] == 2 and set(meta["sha256"]) == {"y", "m", "c", "k", "o"}


def test_plugin_factory_with_the_emulator(tmp_path: Path, card: RenderedCard) -> None:
    registry: Registry[Callable[..., EvolisPrinter]] = Registry("printers")
    ektp_register_printers(registry)
    factory = registry.get("evolis")
    printer = factory(
        name="evolis-1",
        options={"emulator": True, "emulator_state": str(tmp_path), "timeout_ms": 1000, "serial": "EMU-42"},
    )
    assert isinstance(printer, EvolisPrinter) and printer.emulator is not None
    with printer:
        assert printer.print_card(card).serial == "EMU-42"
    assert (tmp_path / "cards" / "card-000001.png").exists()
    real = make_printer("site-printer", {"vendor_id": "0x0F49", "product_id": 0x1234, "serial": "X"})
    assert (real.vendor_id, real.product_id, real.backend, real.emulator) == (0x0F49, 0x1234, None, None)
    for bad in ({"colour": True}, {"timeout_ms": "soon"}, {"emulator": "yes"}, {"emulator_state": "x"}):
        with pytest.raises(ValueError):
            make_printer("bad", bad)
    with pytest.raises(PluginError):
        registry.add("evolis", make_printer)
    assert "printer-evolis" in {ep.name for ep in entry_points(group="ektp")}


# --------------------------------------------------------------------------------------------------
# Protocol pieces
# --------------------------------------------------------------------------------------------------


def test_parser_takes_any_packet_boundaries() -> None:
    data = bytes(range(256)) * 3  # contains ESC and CR
    stream = (
        b"\x1bPem;2\r"
        + b"Rsn\r"  # no ESC after a CR is allowed
        + b"\x00" * 16
        + p.command("Dbc", "k", 0, len(data), data=data)
        + p.command("Se")
    )
    for size in (1, 7, 64, len(stream)):
        parser = p.CommandParser()
        out = [item for start in range(0, len(stream), size) for item in parser.feed(stream[start : start + size])]
        assert out == [
            p.Command("Pem", ("2",)),
            p.Command("Rsn"),
            p.Command("Dbc", ("k", "0", str(len(data))), data),
            p.Command("Se"),
        ]
        assert parser.idle


def test_parser_reports_bad_framing() -> None:
    parser = p.CommandParser()
    out = parser.feed(b"\x1bDbc;k;0;3;abcdef\r\x1bRse\r")
    assert isinstance(out[0], p.Violation) and "longer than declared" in out[0].reason
    assert out[1:] == [p.Command("Rse")]
    assert isinstance(p.CommandParser().feed(b"\x1bDb;y;99;")[0], p.Violation)


def test_full_db_panel_in_odd_pieces() -> None:
    plane = bytes((i * 7) & 0xFF for i in range(W * H))
    stream = p.colour_download(p.Panel.M, plane)
    parser = p.CommandParser()
    out = [item for start in range(0, len(stream), 4093) for item in parser.feed(stream[start : start + 4093])]
    assert len(out) == 1 and isinstance(out[0], p.Command) and out[0].data is not None
    assert p.unpack_depth(out[0].data, 8) == plane


def test_mono_compression() -> None:
    white, black = bytes(p.KO_LINE_BYTES), b"\xff" * p.KO_LINE_BYTES
    partial = bytes(10) + b"\x81" + bytes(p.KO_LINE_BYTES - 11)
    packed = white + black + partial + bytes(p.KO_PANEL_BYTES - 3 * p.KO_LINE_BYTES)
    compressed = p.compress_mono(packed)
    assert compressed[:3] == b"\x00\xff\x0b" and compressed[3:14] == partial[:11]
    assert len(compressed) == 2 + 12 + (p.LINES - 3)
    assert p.decompress_mono(compressed) == packed
    for bad in (b"\x52", b"\x05ab", b"\x00" * (p.LINES + 1)):
        with pytest.raises(p.ProtocolError):
            p.decompress_mono(bad)


def test_bit_packing_order() -> None:
    plane = bytearray(W * H)
    plane[(H - 1) * W] = 255  # bottom-left pixel: first pixel of the first line
    plane[0] = 200  # top-left: last pixel of the first line
    plane[(H - 1) * W + 1] = 128  # bottom row, second column: first pixel of the second line
    packed = p.pack_bits(bytes(plane))
    assert packed[0] == 0x80 and packed[p.KO_LINE_BYTES - 1] == 0x01 and packed[p.KO_LINE_BYTES] == 0x80
    assert sum(bin(b).count("1") for b in packed) == 3
    assert p.unpack_bits(packed) == _threshold(bytes(plane))


def test_five_bit_panels_are_decoded() -> None:
    values = bytes(i % 32 for i in range(W * H))  # 5-bit values in transmission order
    bits = "".join(format(v, "05b") for v in values)
    data = int(bits, 2).to_bytes(W * H * 5 // 8, "big")
    plane = p.unpack_depth(data, 5)
    assert p.to_transmission(plane)[:40] == bytes(v * 255 // 31 for v in values[:40])


def test_commands_are_framed_and_checked() -> None:
    assert p.command("Pem", 2) == b"\x1bPem;2\r"
    assert p.command("Db", "k", 2, data=b"\r\x1b") == b"\x1bDb;k;2;\r\x1b\r"
    for bad in (("Pe m",), ("Pem", "a;b"), ("Pem", "x\ry")):
        with pytest.raises(ValueError):
            p.command(*bad)


def test_replies_and_errors() -> None:
    assert p.parse_reply(b"OK\r") == "OK" and p.parse_reply(b"OK\x00") == "OK"
    for bad in (b"\r", b"O\x01K\r", b"OK\rOK\r"):
        with pytest.raises(p.ProtocolError):
            p.parse_reply(bad)
    assert p.refusal_flag("ERR WAR_FEEDER_EMPTY") == "WAR_FEEDER_EMPTY" and p.refusal_flag("OK") is None
    assert p.error_for("ERR_FEEDER_ERROR", card_taken=True).outcome is Outcome.UNKNOWN
    assert p.error_for("ERR_COVER_OPEN", card_taken=True).outcome is Outcome.SPOILED
    assert type(p.error_for("SOMETHING_NEW", card_taken=False)) is PrinterError


def test_usb_errors_keep_libusb_semantics() -> None:
    emulator = EvolisEmulator()
    device = usb.core.find(idVendor=0x0F49, backend=FakeUsbBackend(emulator))
    device.detach_kernel_driver(0)
    emulator.unplug()
    with pytest.raises(usb.core.USBError) as caught:
        device.write(0x02, b"\x1bRse\r")
    assert caught.value.errno == errno.ENODEV
