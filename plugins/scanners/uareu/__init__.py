"""The DigitalPersona U.are.U 4000B fingerprint reader plugin: the ``uareu4000`` driver and its emulator.

Registered as ``uareu4000`` in the scanners registry. Options:

===================== ==============================================================================
``serial``            the reader's serial number, to choose one among several
``timeout_ms``        bound on every USB exchange and on the image transfer (default 5000)
``finger_timeout_ms`` bound on the wait for a finger, and for it to be lifted (default 30000)
``emulator``          true: a built-in emulated reader on a fake USB bus, through the same USB code
===================== ==============================================================================
"""

from __future__ import annotations

from typing import Any

from ektp_plugins.scanners.uareu.driver import FingerImage, UareU4000

from ektp_core import hookimpl
from ektp_core.devices.options import DriverOptions
from ektp_core.devices.scanners import (
    ScannerError,
    ScannerFactory,
    ScannerNotConnected,
    ScannerProtocolError,
    ScannerTimeout,
    ScannerVanished,
)
from ektp_core.registry import Registry

__all__ = [
    "FingerImage",
    "ScannerError",
    "ScannerNotConnected",
    "ScannerProtocolError",
    "ScannerTimeout",
    "ScannerVanished",
    "UareU4000",
    "ektp_register_scanners",
    "make_scanner",
]

_OPTIONS = ("serial", "timeout_ms", "finger_timeout_ms", "emulator")


def make_scanner(name: str, options: dict[str, Any]) -> UareU4000:
    """The registry's factory: an (unopened) :class:`UareU4000` for a profile's options."""
    checked = DriverOptions(options, _OPTIONS)
    serial = checked.string("serial")
    emulated = checked.flag("emulator", False)
    kwargs: dict[str, Any] = {}
    for key in ("timeout_ms", "finger_timeout_ms"):
        value = checked.number(key, positive=True)
        if value is not None:
            kwargs[key] = value
    backend = None
    emulator = None
    if emulated:
        # Imported here: a site with a real reader never loads the emulator.
        from ektp_plugins.scanners.uareu.emulator import UareU4000Emulator
        from ektp_plugins.simulators.usb import FakeUsbBackend

        emulator = UareU4000Emulator(serial=serial or "")
        backend = FakeUsbBackend(emulator)
    scanner = UareU4000(name, serial=serial, backend=backend, **kwargs)
    scanner.emulator = emulator
    return scanner


@hookimpl
def ektp_register_scanners(registry: Registry[ScannerFactory]) -> None:
    """Register the U.are.U 4000B driver."""
    registry.add(
        "uareu4000",
        make_scanner,
        description="DigitalPersona U.are.U 4000B fingerprint reader over USB; emulator = true for the built-in one",
    )
