"""Acme Printer: an ektp plugin with a card-printer driver for a line protocol.

Registers:

* the printer driver ``acme-printer``
  (:class:`~ektp_acme_printer.driver.AcmePrinter`);
* the example profile ``acme-printer``: one Dukcapil office with an emulated printer.

The protocol is described in :mod:`ektp_acme_printer.protocol`;
:mod:`ektp_acme_printer.emulator` answers it, and
``python -m ektp_acme_printer.emulator``
runs one. The package does not import the emulator module itself (so that ``python -m`` runs it
cleanly): import the emulator from there.
"""

from __future__ import annotations

from pathlib import Path

from ektp_core import hookimpl
from ektp_core.config import ProfileSource
from ektp_core.devices.printers import PrinterFactory
from ektp_core.registry import Registry

from .driver import AcmePrinter

__all__ = ["NAME", "PROFILE_FILE", "AcmePrinter"]

#: The plugin's name: its entry point, its driver and its example profile.
NAME = "acme-printer"
#: The example profile.
PROFILE_FILE = Path(__file__).with_name("profiles") / f"{NAME}.toml"


@hookimpl
def ektp_register_printers(registry: Registry[PrinterFactory]) -> None:
    """The driver, chosen in a profile's ``[[devices.printers]]`` with ``driver = NAME``.

    The core builds it with the keyword arguments its constructor names:
    ``AcmePrinter(name=..., options=...)``.
    """
    registry.add(
        NAME,
        AcmePrinter,
        description="card printer over TCP (line protocol)",
    )


@hookimpl
def ektp_register_profiles(registry: Registry[ProfileSource]) -> None:
    """The example profile: one Dukcapil office with an emulated Acme Printer printer."""
    registry.add(NAME, PROFILE_FILE, description="one Dukcapil office printing on an emulated printer")
