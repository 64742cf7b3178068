"""Biometric scanners as the core sees them: the captured sample, the scanner interface, errors.

Drivers (the MOSIP SBI client, a USB fingerprint reader, the simulated kit) live in
``ektp_plugins.scanners`` and are registered through ``ektp_register_scanners``; a profile's
``[[devices.scanners]]`` picks them by name. The core imports no imaging or USB library.
"""

from __future__ import annotations

import enum
from typing import Any, Protocol, runtime_checkable

import attrs

from ektp_core.domain.model import Modality
from ektp_core.errors import EktpError
from ektp_core.messages import Message


@attrs.frozen(kw_only=True)
class Sample:
    """One biometric as a scanner delivered it."""

    modality: Modality
    position: str
    #: The encoded image (PNG, JPEG, WSQ...) as the device gave it; kept so templates can be re-extracted.
    image: bytes = attrs.field(repr=False)
    #: Quality 0-100 (NFIQ2 where available, else the device's own score).
    quality: int
    #: The device that took it (model and serial), for the capture record.
    device: str
    #: A minutiae template (ISO/IEC 19794-2) for fingers, when the scanner or an extractor made one.
    template: bytes | None = attrs.field(default=None, repr=False)


class ScannerState(enum.StrEnum):
    """What a scanner says about itself."""

    READY = "READY"
    BUSY = "BUSY"
    NOT_READY = "NOT_READY"
    OFFLINE = "OFFLINE"


@attrs.frozen(kw_only=True)
class ScannerStatus:
    """A scanner's answer to a status query."""

    state: ScannerState
    message: str = ""
    model: str = ""
    serial: str = ""
    #: The modalities it captures.
    modalities: tuple[Modality, ...] = ()


class ScannerError(EktpError):
    """A scanner refused or failed; nothing from the failed capture is kept. ``code`` carries the
    low-level detail (a USB error, an SBI error code, the bytes of a bad header) for the log."""

    message_code = "error.scanner"

    def __init__(self, message: str | Message, *, code: str = "") -> None:
        super().__init__(message)
        self.code = code


class ScannerNotConnected(ScannerError):
    """No such scanner, or it cannot be opened."""

    message_code = "error.scanner.not_connected"


class ScannerTimeout(ScannerError):
    """No finger (or face, or eye) within the time allowed, or the device stopped answering."""

    message_code = "error.scanner.timeout"


class ScannerVanished(ScannerError):
    """The scanner disappeared mid-capture (unplugged)."""

    message_code = "error.scanner.vanished"


class ScannerProtocolError(ScannerError):
    """The scanner answered something that is not its protocol (garbage, a short or wrong-size image)."""

    message_code = "error.scanner.protocol"


class UntrustedCapture(ScannerError):
    """A capture failed its signature or hash-chain check and was refused."""

    message_code = "error.scanner.untrusted"


@runtime_checkable
class BiometricScanner(Protocol):
    """What a scanner driver provides. Built by a :class:`ScannerFactory` registered through
    ``ektp_register_scanners``."""

    name: str

    def open(self) -> None:
        """Find and claim the device; raise :class:`ScannerNotConnected` when it is not there."""
        ...

    def close(self) -> None:
        """Release the device (safe to call twice)."""
        ...

    def status(self) -> ScannerStatus:
        """Ask the scanner how it is."""
        ...

    def capture(
        self, modality: Modality, positions: tuple[str, ...], *, exceptions: tuple[str, ...] = ()
    ) -> list[Sample]:
        """Capture ``positions`` of ``modality`` (fingers of a slap, both irises, the face...),
        skipping the ``exceptions``. All or nothing: an error leaves no sample behind."""
        ...


class ScannerFactory(Protocol):
    """What ``ektp_register_scanners`` registers: a class or function that builds, but does not open,
    a :class:`BiometricScanner` for one ``[[devices.scanners]]`` entry of the profile.

    Called as a :class:`~ektp_core.devices.printers.PrinterFactory` is: with the keyword arguments it
    names among ``name``, ``options`` and ``profile`` (:mod:`ektp_core.devices.factories`).
    """

    def __call__(self, *args: Any, **kwargs: Any) -> BiometricScanner:
        """Build the scanner."""
        ...


__all__ = [
    "BiometricScanner",
    "Sample",
    "ScannerError",
    "ScannerFactory",
    "ScannerNotConnected",
    "ScannerProtocolError",
    "ScannerState",
    "ScannerStatus",
    "ScannerTimeout",
    "ScannerVanished",
    "UntrustedCapture",
]
