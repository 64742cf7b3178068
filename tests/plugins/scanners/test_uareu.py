"""The U.are.U 4000B driver against its emulator, through real pyusb and the fake USB backend: the
picture placed is the picture captured (with the documented row the device leaves out), no finger,
unplug mid-image, a garbage header, kernel driver etiquette, not found; and the protocol pieces."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from ektp_plugins.scanners.uareu import ektp_register_scanners, make_scanner
from ektp_plugins.scanners.uareu import protocol as p
from ektp_plugins.scanners.uareu.driver import (
    FingerImage,
    ScannerNotConnected,
    ScannerProtocolError,
    ScannerTimeout,
    ScannerVanished,
    UareU4000,
)
from ektp_plugins.scanners.uareu.emulator import UareU4000Emulator
from ektp_plugins.simulators.usb import FakeUsbBackend
from PIL import Image, ImageDraw


def pattern(width: int = p.IMAGE_WIDTH, height: int = p.IMAGE_HEIGHT) -> Any:
    """A test picture where every row differs: ridge-like lines over a vertical gradient."""
    image = Image.new("L", (width, height), 255)
    for y in range(height):
        for x in range(0, width, 97):
            image.putpixel((x, y), y % 251)
    draw = ImageDraw.Draw(image)
    for i in range(0, width, 9):
        draw.line([(i, 0), (i // 2 + 40, height - 1)], fill=(i * 3) % 200, width=2)
    return image


@pytest.fixture
def emulator() -> UareU4000Emulator:
    return UareU4000Emulator(serial="UR4B-0001", kernel_driver=True)


@pytest.fixture
def scanner(emulator: UareU4000Emulator) -> Iterator[UareU4000]:
    reader = UareU4000(backend=FakeUsbBackend(emulator), timeout_ms=2000, finger_timeout_ms=2000)
    reader.open()
    yield reader
    reader.close()


def test_capture_returns_the_placed_image(scanner: UareU4000, emulator: UareU4000Emulator) -> None:
    image = pattern()
    emulator.place_finger(image)
    captured = scanner.capture_image()
    assert (captured.width, captured.height, captured.dpi) == (384, 290, 500)
    expected = bytearray(image.tobytes())
    # The device leaves the first row out (a NOT_PRESENT block): the driver repeats row 1 there.
    expected[: p.IMAGE_WIDTH] = expected[p.IMAGE_WIDTH : 2 * p.IMAGE_WIDTH]
    assert captured.pixels == bytes(expected) == emulator.expected_capture(image)
    assert not emulator.finger_down  # lifted when the driver waited for it
    assert emulator.captures == 1
    png = captured.png()
    assert png.startswith(b"\x89PNG")
    assert captured.to_pil().tobytes() == captured.pixels


def test_image_in_small_chunks_and_finger_placed_later(emulator: UareU4000Emulator) -> None:
    emulator.chunk_size = 1000
    reader = UareU4000(backend=FakeUsbBackend(emulator), finger_timeout_ms=3000)
    image = pattern()
    with reader:
        timer = threading.Timer(0.2, emulator.place_finger, args=(image,))
        timer.start()
        try:
            captured = reader.capture_image()
        finally:
            timer.join()
    assert captured.pixels == emulator.expected_capture(image)


def test_a_smaller_picture_is_centred_on_white(scanner: UareU4000, emulator: UareU4000Emulator) -> None:
    small = Image.new("L", (100, 50), 0)
    emulator.place_finger(small)
    captured = scanner.capture_image()
    assert captured.pixels == emulator.expected_capture(small)
    assert captured.pixels[0] == 255 and captured.pixels[145 * 384 + 192] == 0


def test_a_synthetic_finger(scanner: UareU4000, emulator: UareU4000Emulator) -> None:
    from ektp_plugins.simulators import synthetic

    emulator.place_finger(seed=7, position="right_index")
    captured = scanner.capture_image()
    assert captured.pixels == emulator.expected_capture(synthetic.finger(7, "right_index"))  # 416 x 416: cropped


def test_no_finger_times_out(scanner: UareU4000, emulator: UareU4000Emulator) -> None:
    with pytest.raises(ScannerTimeout, match="no finger"):
        scanner.capture_image(timeout_ms=200)
    emulator.place_finger(pattern())  # the reader still works afterwards
    assert isinstance(scanner.capture_image(), FingerImage)


def test_unplug_mid_image(emulator: UareU4000Emulator) -> None:
    emulator.chunk_size = 4096
    emulator.unplug_after_image_bytes = 50_000
    reader = UareU4000(backend=FakeUsbBackend(emulator), finger_timeout_ms=1000)
    reader.open()
    emulator.place_finger(pattern())
    with pytest.raises(ScannerVanished, match="reading the image"):
        reader.capture_image()
    assert not emulator.plugged
    reader.close()
    reader.close()  # twice is fine
    assert emulator.claimed_by is None
    assert emulator.events[-2:] == ["unplug", "close"]


def test_garbage_header(scanner: UareU4000, emulator: UareU4000Emulator) -> None:
    emulator.garbage_header = True
    emulator.place_finger(pattern())
    with pytest.raises(ScannerProtocolError, match="rows") as raised:
        scanner.capture_image()
    assert raised.value.code == "a5" * 64
    emulator.garbage_header = False  # the rest of the bad image was dropped: the next capture is clean
    image = pattern()
    emulator.place_finger(image)
    assert scanner.capture_image().pixels == emulator.expected_capture(image)


def test_kernel_driver_detached_and_given_back(emulator: UareU4000Emulator) -> None:
    reader = UareU4000(backend=FakeUsbBackend(emulator))
    reader.open()
    assert emulator.events[:4] == ["plug", "open", "detach", "claim"]
    assert emulator.powered and reader.device_info is not None
    reader.close()
    assert emulator.events[-3:] == ["release", "attach", "close"]
    assert not emulator.powered  # back to low power
    assert (p.REG_MODE, bytes([p.MODE_INIT])) in emulator.writes


def test_not_found() -> None:
    with pytest.raises(ScannerNotConnected, match="not on the USB bus"):
        UareU4000(backend=FakeUsbBackend()).open()
    other = UareU4000Emulator(serial="A")
    with pytest.raises(ScannerNotConnected, match="no reader with that serial"):
        UareU4000(serial="B", backend=FakeUsbBackend(other)).open()


def test_no_scan_power_interrupt() -> None:
    emulator = UareU4000Emulator()
    emulator.no_scan_power = True
    with pytest.raises(ScannerTimeout, match="power"):
        UareU4000(backend=FakeUsbBackend(emulator)).open()
    assert emulator.claimed_by is None


def test_confused_device_power_is_rebooted() -> None:
    emulator = UareU4000Emulator(initial_hwstat=0x84)
    with UareU4000(backend=FakeUsbBackend(emulator), finger_timeout_ms=1000) as reader:
        assert emulator.writes[0] == (p.REG_HWSTAT, b"\x04")
        emulator.place_finger(pattern())
        assert reader.capture_image().pixels == emulator.expected_capture(pattern())


def test_capture_when_not_open() -> None:
    with pytest.raises(ScannerNotConnected, match="not open"):
        UareU4000(backend=FakeUsbBackend(UareU4000Emulator())).capture_image(100)


def test_plugin_factory_with_emulator() -> None:
    added: dict[str, Any] = {}

    class Registry:
        def add(self, name: str, obj: Any, *, description: str = "") -> None:
            added[name] = obj

    ektp_register_scanners(Registry())
    reader = added["uareu4000"]("bench", {"emulator": True, "finger_timeout_ms": "500", "serial": "X1"})
    assert isinstance(reader, UareU4000) and reader.emulator.serial == "X1"
    with reader:
        reader.emulator.place_finger(pattern())
        assert reader.capture_image().width == 384
    with pytest.raises(ValueError, match="unknown option"):
        make_scanner("x", {"vendor": 1})
    with pytest.raises(ValueError, match="finger_timeout_ms"):
        make_scanner("x", {"finger_timeout_ms": 0})


# -- protocol pieces ------------------------------------------------------------------------------


def test_irq_packets() -> None:
    packet = p.irq_packet(p.IRQDATA_FINGER_ON)
    assert len(packet) == 64 and packet[:2] == b"\x01\x01"
    assert p.parse_irq(p.irq_packet(p.IRQDATA_SCANPWR_ON)) == 0x56AA
    with pytest.raises(p.ProtocolError):
        p.parse_irq(b"\x01\x01")


def test_header_round_trip_and_checks() -> None:
    header = p.ImageHeader(289, 3, (p.Block(p.BLOCKF_NOT_PRESENT, 1), p.Block(0, 145), p.Block(0, 144)))
    raw = header.pack()
    assert len(raw) == 64 and raw[4:7] == b"\x21\x01\x03"
    parsed = p.parse_header(raw)
    assert parsed.num_lines == 289 and parsed.key_number == 3 and parsed.data_length == 289 * 384
    with pytest.raises(p.ProtocolError, match="64"):
        p.parse_header(raw[:10])
    with pytest.raises(p.ProtocolError, match="rows"):
        p.parse_header(p.ImageHeader(290, 0, (p.Block(0, 145), p.Block(0, 145))).pack())
    with pytest.raises(p.ProtocolError, match="blocks"):
        p.parse_header(p.ImageHeader(100, 0, (p.Block(0, 100),)).pack())
    with pytest.raises(p.ProtocolError, match="encrypted"):
        blocks = (p.Block(p.BLOCKF_NOT_PRESENT, 1), p.Block(p.BLOCKF_ENCRYPTED, 145), p.Block(0, 144))
        p.parse_header(p.ImageHeader(289, 0, blocks).pack())


def test_assemble_fills_missing_rows_from_the_next_row_sent() -> None:
    missing = (p.Block(p.BLOCKF_NOT_PRESENT, 144), p.Block(p.BLOCKF_NOT_PRESENT, 144))
    header = p.ImageHeader(2, 0, (p.Block(0, 1), *missing, p.Block(0, 1)))
    data = bytes([1]) * 384 + bytes([2]) * 384
    picture = p.assemble(header, data)
    assert len(picture) == 384 * 290
    assert picture[:384] == bytes([1]) * 384 and picture[384 : 2 * 384] == bytes([2]) * 384
    assert picture[-384:] == bytes([2]) * 384


def test_a_capture_names_the_reader_by_its_reported_serial_or_says_it_has_none() -> None:
    """Guards issue 14 defect 12: a reader opened without the serial option labelled every capture
    "uareu4000:?" (``ektp walk`` printed it). The serial the reader reports is used; a reader that
    reports none is said so in words."""
    for reported, label in (("UR4B-0007", "uareu4000:UR4B-0007"), ("", "uareu4000 (no serial)")):
        emulator = UareU4000Emulator(serial=reported)
        reader = UareU4000(backend=FakeUsbBackend(emulator), timeout_ms=2000, finger_timeout_ms=2000)
        with reader:
            emulator.place_finger(pattern())
            [sample] = reader.capture("finger", ("right_index",))
        assert sample.device == label
        assert "?" not in sample.device
