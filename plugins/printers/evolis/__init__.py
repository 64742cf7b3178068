"""The Evolis card printer plugin: the ``evolis`` driver (escape commands over USB) and its emulator.

Registered as ``evolis`` in the printers registry. Options (``[[devices.printers]] options``):

=========================== ========================================================================
``vendor_id``               USB vendor id (default ``0x0F49``, Evolis); a number or a string "0x0F49"
``product_id``              USB product id (default: any product of the vendor)
``serial``                  the printer's serial number, to choose one among several (required then)
``timeout_ms``              bound on every reply (default 5000)
``print_timeout_ms``        bound on one card, from the moment it is taken (default 120000)
``poll_interval_ms``        how often the state is read while a card prints (default 50)
``compress``                send the K and O panels line-compressed (``Dbc``, default true)
``emulator``                true: print to a built-in emulated printer through the same USB code
``emulator_state``          a folder where the emulator keeps its counter, ribbon and printed cards
``emulator_mechanism_seconds`` how long the emulated printer takes per card (default 0)
=========================== ========================================================================

There is no separate ``evolis-emulated`` driver: ``emulator = true`` gives the real driver a fake USB
bus holding an :class:`~ektp_plugins.printers.evolis.emulator.EvolisEmulator`, so a demo exercises the
same code as a site with a real printer.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ektp_plugins.printers.evolis.driver import EVOLIS_VENDOR_ID, EvolisPrinter

from ektp_core import hookimpl
from ektp_core.devices.options import DriverOptions
from ektp_core.devices.printers import PrinterFactory
from ektp_core.registry import Registry

__all__ = ["EvolisPrinter", "ektp_register_printers", "make_printer"]

_OPTIONS = (
    "vendor_id",
    "product_id",
    "serial",
    "timeout_ms",
    "print_timeout_ms",
    "poll_interval_ms",
    "compress",
    "emulator",
    "emulator_state",
    "emulator_mechanism_seconds",
)


def make_printer(name: str, options: dict[str, Any]) -> EvolisPrinter:
    """The registry's factory: an (unopened) :class:`EvolisPrinter` for a profile's options."""
    checked = DriverOptions(options, _OPTIONS)
    serial = checked.string("serial")
    timeouts = {key: checked.number(key) for key in ("timeout_ms", "print_timeout_ms", "poll_interval_ms")}
    kwargs: dict[str, Any] = {key: value for key, value in timeouts.items() if value is not None}
    vendor_id = checked.number("vendor_id", EVOLIS_VENDOR_ID)
    product_id = checked.number("product_id")
    backend = None
    emulator = None
    if checked.flag("emulator", False):
        # Imported here: a site with a real printer never loads the emulator.
        from ektp_plugins.printers.evolis.emulator import DEFAULT_SERIAL, EMULATED_PRODUCT_ID, EvolisEmulator
        from ektp_plugins.simulators.usb import FakeUsbBackend

        seconds = options.get("emulator_mechanism_seconds", 0)
        if not isinstance(seconds, int | float) or isinstance(seconds, bool) or seconds < 0:
            raise ValueError(f"option emulator_mechanism_seconds must be a number of seconds, not {seconds!r}")
        # The emulated printer carries the serial the profile names; one saved in emulator_state wins.
        emulator = EvolisEmulator(
            state_dir=options.get("emulator_state"), mechanism_seconds=float(seconds), serial=serial or DEFAULT_SERIAL
        )
        backend = FakeUsbBackend(emulator)
        vendor_id, product_id = emulator.vendor_id, product_id or EMULATED_PRODUCT_ID
    elif "emulator_state" in options or "emulator_mechanism_seconds" in options:
        raise ValueError("emulator_state and emulator_mechanism_seconds only apply with emulator = true")
    printer = EvolisPrinter(
        name,
        vendor_id=vendor_id or EVOLIS_VENDOR_ID,
        product_id=product_id,
        serial=serial,
        compress=checked.flag("compress", True),
        backend=backend,
        **kwargs,
    )
    printer.emulator = emulator
    return printer


@hookimpl
def ektp_declare_message_catalogues(folders: list[Path]) -> None:
    """The printer's own states (its status flags), in English and Indonesian."""
    folders.append(Path(__file__).with_name("locales"))


@hookimpl
def ektp_register_printers(registry: Registry[PrinterFactory]) -> None:
    """Register the Evolis driver."""
    registry.add(
        "evolis",
        make_printer,
        description="Evolis card printers over USB (escape commands); emulator = true for the built-in one",
    )
