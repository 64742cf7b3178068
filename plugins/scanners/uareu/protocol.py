"""The DigitalPersona U.are.U 4000/4000B USB protocol: constants, interrupt packets and the image header.

Everything here is learnt from libfprint's ``uru4000`` driver (``libfprint/drivers/uru4000.c``, by
Daniel Drake and Timo Teräs, LGPL-2.1; read in the freedesktop libfprint tree and its mirrors), written
anew in Python:

* registers are read and written with vendor control requests, request ``0x04``, ``wValue`` = the
  register (``bmRequestType`` 0xC0 to read, 0x40 to write), ``wIndex`` 0;
* ``REG_HWSTAT`` (0x07): bit 7 is low power, bits 7 and 2 together mean "confused, reboot the power",
  bit 0 comes back when the power was rebooted; ``REG_MODE`` (0x4E) takes the scanning modes below;
  ``REG_DEVICE_INFO`` (0xF0, 16 bytes) holds version bytes;
* the interrupt endpoint (0x81, IN) delivers 64-byte packets whose first two bytes, big-endian, are the
  event: 0x56AA scan power on, 0x0101 finger on, 0x0200 finger off, 0x0800 "death" (the next scan will
  probably fail);
* the bulk endpoint (0x82, IN) delivers one image: a 64-byte header (``num_lines`` little-endian at
  offset 4, ``key_number`` at 6, 15 ``(flags, lines)`` block descriptors from offset 16) followed by
  ``num_lines`` rows of 384 8-bit pixels. The full picture is 384 x 290; a block flagged NOT_PRESENT
  was not sent and is filled with the next row that was. The 4000B may scramble blocks flagged
  ENCRYPTED (a key read from registers 0x33/0x34 drives an LFSR); that variant is not implemented here
  and such an image is refused as a protocol error. Pixels come with the colours inverted (ridges
  bright); the 4000 (not the 4000B) also sends the picture flipped both ways.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator

import attrs

VENDOR_ID = 0x05BA
PRODUCT_ID_4000 = 0x0007
PRODUCT_ID_4000B = 0x000A

USB_RQ = 0x04
CTRL_IN = 0xC0  # vendor request, device to host
CTRL_OUT = 0x40  # vendor request, host to device

EP_INTR = 0x81
EP_DATA = 0x82

REG_HWSTAT = 0x07
REG_SCRAMBLE_DATA_INDEX = 0x33
REG_SCRAMBLE_DATA_KEY = 0x34
REG_MODE = 0x4E
REG_DEVICE_INFO = 0xF0
DEVICE_INFO_LENGTH = 16

HWSTAT_LOW_POWER = 0x80
HWSTAT_CONFUSED = 0x84
HWSTAT_POWER_REBOOTED = 0x01

MODE_INIT = 0x00
MODE_AWAIT_FINGER_ON = 0x10
MODE_AWAIT_FINGER_OFF = 0x12
MODE_CAPTURE = 0x20
MODE_CAPTURE_AUX = 0x30
MODE_OFF = 0x70
MODE_READY = 0x80

IRQ_LENGTH = 64
IRQDATA_SCANPWR_ON = 0x56AA
IRQDATA_FINGER_ON = 0x0101
IRQDATA_FINGER_OFF = 0x0200
IRQDATA_DEATH = 0x0800

IMAGE_WIDTH = 384
IMAGE_HEIGHT = 290
IMAGE_DPI = 500
HEADER_LENGTH = 64
#: The most the device sends for one image (header and all 290 rows): libfprint's transfer size.
MAX_IMAGE_TRANSFER = HEADER_LENGTH + IMAGE_WIDTH * IMAGE_HEIGHT
BLOCK_COUNT = 15
_BLOCKS_OFFSET = 16

BLOCKF_CHANGE_KEY = 0x80
BLOCKF_NO_KEY_UPDATE = 0x04
BLOCKF_ENCRYPTED = 0x02
BLOCKF_NOT_PRESENT = 0x01


class ProtocolError(ValueError):
    """Bytes from the device that do not follow the protocol."""


def irq_packet(kind: int) -> bytes:
    """A 64-byte interrupt packet announcing ``kind`` (big-endian in the first two bytes)."""
    return struct.pack(">H", kind) + bytes(IRQ_LENGTH - 2)


def parse_irq(packet: bytes) -> int:
    """The event of an interrupt packet. Raises :class:`ProtocolError` for a short packet."""
    if len(packet) != IRQ_LENGTH:
        raise ProtocolError(f"an interrupt packet of {len(packet)} bytes (expected {IRQ_LENGTH})")
    kind: int = struct.unpack_from(">H", packet)[0]
    return kind


@attrs.frozen
class Block:
    """One block descriptor of the image header: ``lines`` rows with ``flags``."""

    flags: int
    lines: int

    @property
    def present(self) -> bool:
        """False when the rows were not sent (they are filled from the next row that was)."""
        return not self.flags & BLOCKF_NOT_PRESENT


@attrs.frozen
class ImageHeader:
    """The 64-byte header in front of an image."""

    num_lines: int
    key_number: int
    blocks: tuple[Block, ...]

    @property
    def data_length(self) -> int:
        """Bytes of pixels after the header."""
        return self.num_lines * IMAGE_WIDTH

    def used_blocks(self) -> Iterator[Block]:
        """The blocks up to the first empty one."""
        for block in self.blocks:
            if block.lines == 0:
                return
            yield block

    def pack(self) -> bytes:
        """The header's 64 bytes (unknown fields zero)."""
        if len(self.blocks) > BLOCK_COUNT:
            raise ValueError(f"at most {BLOCK_COUNT} blocks")
        head = bytearray(HEADER_LENGTH)
        struct.pack_into("<HB", head, 4, self.num_lines, self.key_number)
        for i, block in enumerate(self.blocks):
            struct.pack_into("BB", head, _BLOCKS_OFFSET + 2 * i, block.flags, block.lines)
        return bytes(head)


def parse_header(data: bytes) -> ImageHeader:
    """Parse and check an image header: a row count the picture can hold and block descriptors that
    account for it. Raises :class:`ProtocolError` (also for an encrypted image, not supported)."""
    if len(data) < HEADER_LENGTH:
        raise ProtocolError(f"an image header of {len(data)} bytes (expected {HEADER_LENGTH})")
    num_lines, key_number = struct.unpack_from("<HB", data, 4)
    blocks = tuple(Block(*struct.unpack_from("BB", data, _BLOCKS_OFFSET + 2 * i)) for i in range(BLOCK_COUNT))
    header = ImageHeader(num_lines, key_number, blocks)
    # libfprint refuses num_lines >= 290 as a bad capture; an empty image is no better.
    if not 0 < num_lines < IMAGE_HEIGHT:
        raise ProtocolError(f"the image header announces {num_lines} rows (expected 1 to {IMAGE_HEIGHT - 1})")
    used = list(header.used_blocks())
    present = sum(b.lines for b in used if b.present)
    total = sum(b.lines for b in used)
    if present != num_lines or total != IMAGE_HEIGHT:
        raise ProtocolError(
            f"the image blocks hold {present} rows sent of {total} (header: {num_lines} sent of {IMAGE_HEIGHT})"
        )
    if any(b.flags & (BLOCKF_ENCRYPTED | BLOCKF_CHANGE_KEY) for b in used):
        raise ProtocolError("the image is encrypted (the 4000B scrambling is not supported)")
    return header


def assemble(header: ImageHeader, data: bytes) -> bytes:
    """The 384 x 290 picture from the rows sent: rows of a NOT_PRESENT block repeat the next row sent
    (as libfprint fills them). ``data`` is the pixels after the header, as the device sent them."""
    if len(data) < header.data_length:
        raise ProtocolError(f"{len(data)} bytes of pixels for {header.num_lines} rows")
    out = bytearray()
    row = 0
    for block in header.used_blocks():
        if block.present:
            out += data[row * IMAGE_WIDTH : (row + block.lines) * IMAGE_WIDTH]
            row += block.lines
        else:
            source = min(row, header.num_lines - 1)
            out += data[source * IMAGE_WIDTH : (source + 1) * IMAGE_WIDTH] * block.lines
    return bytes(out)


def invert(pixels: bytes) -> bytes:
    """The pixels with the colours inverted (the sensor sends ridges bright)."""
    return pixels.translate(_INVERT)


def flip_both(pixels: bytes) -> bytes:
    """The picture turned 180 degrees (flipped vertically and horizontally), as the 4000 sends it: for
    rows stored one after the other, that is the bytes in reverse order."""
    return pixels[::-1]


_INVERT = bytes(range(255, -1, -1))
