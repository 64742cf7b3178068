"""What every bundled USB driver does the same way: find one device by vendor, product and serial,
take its interface from the kernel's driver, and give everything back on close.

Each driver passes its own error class and the noun people use for the device ("printer",
"reader"), so messages stay in the driver's terms.
"""

from __future__ import annotations

import contextlib
import errno
from typing import Any

import usb.core
import usb.util


def usb_reason(exc: BaseException) -> str:
    """A USB error for people, with what to do about the usual ones."""
    number = getattr(exc, "errno", None)
    if number == errno.EACCES:
        return f"{exc}: no permission (add a udev rule for the device, or run as a member of its group)"
    if number == errno.EBUSY:
        return f"{exc}: another program (or driver) is using the device"
    return str(exc)


def dispose(dev: Any) -> None:
    """Free pyusb's handle on a device (quietly: it may be gone)."""
    with contextlib.suppress(usb.core.USBError):
        usb.util.dispose_resources(dev)


def find_one(
    *,
    backend: Any,
    vendor_id: int,
    product_id: int | None,
    serial: str | None,
    what: str,
    noun: str,
    not_connected: type[Exception],
) -> Any:
    """The one device matching the ids (and ``serial``); ``not_connected`` is raised, naming the
    serials found, when there is none, or several and no serial to choose by."""
    criteria: dict[str, int] = {"idVendor": vendor_id}
    if product_id is not None:
        criteria["idProduct"] = product_id
    try:
        found = list(usb.core.find(find_all=True, backend=backend, **criteria))
    except usb.core.NoBackendError as exc:
        raise not_connected(f"{what}: no USB library (install libusb-1.0)") from exc
    except usb.core.USBError as exc:
        raise not_connected(f"{what}: cannot list USB devices: {usb_reason(exc)}") from exc
    if not found:
        raise not_connected(f"{what}: not on the USB bus (is it on and plugged in?)")
    serials: list[str] = []
    chosen = None
    for dev in found:
        try:
            dev_serial = dev.serial_number or ""
        except (usb.core.USBError, ValueError) as exc:
            dev_serial = f"? ({usb_reason(exc)})"
        serials.append(dev_serial)
        if chosen is None and (serial is None or dev_serial == serial):
            chosen = dev
        else:
            dispose(dev)  # reading the serial opened it; let it go
    if chosen is None:
        raise not_connected(f"{what}: no {noun} with that serial (found: {', '.join(serials)})")
    if serial is None and len(found) > 1:
        dispose(chosen)
        raise not_connected(
            f"{what}: {len(found)} {noun}s found (serials {', '.join(serials)}); set the serial option to choose one"
        )
    return chosen


def claim(dev: Any, interface: int) -> bool:
    """Detach the kernel's driver if it holds ``interface``, configure the device if it is not, and
    claim the interface. Returns whether a kernel driver was detached (to give it back on release)."""
    try:
        detached = bool(dev.is_kernel_driver_active(interface))
    except NotImplementedError:  # Windows and macOS have no kernel driver to detach
        detached = False
    if detached:
        dev.detach_kernel_driver(interface)
    try:
        config = dev.get_active_configuration()
    except usb.core.USBError:
        config = None
    if config is None:
        dev.set_configuration()
    usb.util.claim_interface(dev, interface)
    return detached


def release(dev: Any, interface: int, *, reattach: bool) -> None:
    """Release the interface, give it back to the kernel driver we detached, free the handle. Quiet
    about a device that is already gone."""
    with contextlib.suppress(usb.core.USBError, ValueError):
        usb.util.release_interface(dev, interface)
    if reattach:
        # Gone, or a platform without kernel drivers to give the device back to.
        with contextlib.suppress(usb.core.USBError, NotImplementedError):
            dev.attach_kernel_driver(interface)
    dispose(dev)
