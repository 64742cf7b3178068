"""A fake pyusb backend that hosts emulated USB devices, so drivers run unchanged against emulators.

:class:`FakeUsbBackend` implements pyusb's backend interface (``usb.backend.IBackend``) the way the
libusb-1.0 backend behaves on Linux, so ``usb.core.find(..., backend=FakeUsbBackend(device))`` and the
ordinary ``dev.write()`` / ``dev.read()`` / ``dev.ctrl_transfer()`` / ``usb.util`` calls of a driver
work as they do on hardware. It hosts :class:`EmulatedDevice` objects: a device has the descriptors of
one configuration with one interface and a bulk OUT and a bulk IN endpoint, receives what the host
writes (:meth:`EmulatedDevice.on_bulk_out`), queues what the host reads (:meth:`EmulatedDevice.send_in`)
and may answer class or vendor control requests (:meth:`EmulatedDevice.on_ctrl`). A printer emulator and
a fingerprint-reader emulator are both subclasses.

What is reproduced from libusb on Linux, because drivers must handle it:

* errors are ``usb.core.USBError`` with libusb's message, its error code (``backend_error_code``) and
  the errno pyusb derives from it: a device that was unplugged gives ENODEV (19) on every call, a read
  with nothing to read waits for the whole timeout and then raises ``usb.core.USBTimeoutError``
  (ETIMEDOUT, 110), an unknown control request stalls (EPIPE);
* a device can be unplugged at any moment (:meth:`FakeUsbBackend.unplug`, or after a number of OUT
  bytes with :attr:`EmulatedDevice.unplug_after_out_bytes`); a read waiting for data is woken and gets
  ENODEV. Plugging it back gives a new bus address and handles opened before stay dead;
* a kernel driver may be bound to the interface (a printer gets ``usblp``): while it is, claiming the
  interface or setting the configuration fails with EBUSY, as the kernel's usbfs does, so a driver's
  detach path is exercised;
* string descriptors are served through ``GET_DESCRIPTOR`` control transfers (language list at index
  0, UTF-16LE strings), so ``dev.serial_number`` and ``usb.util.get_string`` work.

Timeouts are real waits (a test that wants a timeout passes a small one). A timeout of 0 waits forever,
as in libusb.
"""

from __future__ import annotations

import array
import errno
import struct
import threading
import time
from collections.abc import Iterator

import attrs
import usb.backend
import usb.core

# libusb-1.0 error codes and the texts pyusb's libusb1 backend gives them.
LIBUSB_ERROR_IO = -1
LIBUSB_ERROR_INVALID_PARAM = -2
LIBUSB_ERROR_ACCESS = -3
LIBUSB_ERROR_NO_DEVICE = -4
LIBUSB_ERROR_NOT_FOUND = -5
LIBUSB_ERROR_BUSY = -6
LIBUSB_ERROR_TIMEOUT = -7
LIBUSB_ERROR_PIPE = -9

_LIBUSB_ERRORS: dict[int, tuple[str, int]] = {
    LIBUSB_ERROR_IO: ("Input/output error", errno.EIO),
    LIBUSB_ERROR_INVALID_PARAM: ("Invalid parameter", errno.EINVAL),
    LIBUSB_ERROR_ACCESS: ("Access denied (insufficient permissions)", errno.EACCES),
    LIBUSB_ERROR_NO_DEVICE: ("No such device (it may have been disconnected)", errno.ENODEV),
    LIBUSB_ERROR_NOT_FOUND: ("Entity not found", errno.ENOENT),
    LIBUSB_ERROR_BUSY: ("Resource busy", errno.EBUSY),
    LIBUSB_ERROR_TIMEOUT: ("Operation timed out", errno.ETIMEDOUT),
    LIBUSB_ERROR_PIPE: ("Pipe error", errno.EPIPE),
}

# USB constants used below.
DESC_DEVICE = 0x01
DESC_CONFIGURATION = 0x02
DESC_STRING = 0x03
DESC_INTERFACE = 0x04
DESC_ENDPOINT = 0x05
ENDPOINT_IN = 0x80
TRANSFER_BULK = 0x02
LANGID_EN_US = 0x0409
#: libusb speed codes: 2 is full speed (12 Mbit/s), whose bulk packets are 64 bytes; 3 is high speed
#: (480 Mbit/s), whose bulk packets are 512 bytes.
SPEED_FULL = 2
SPEED_HIGH = 3

_REQ_GET_STATUS = 0x00
_REQ_GET_DESCRIPTOR = 0x06
_REQ_GET_CONFIGURATION = 0x08
_REQ_GET_INTERFACE = 0x0A


def usb_error(code: int, detail: str = "") -> usb.core.USBError:
    """The exception pyusb's libusb1 backend raises for a libusb error code (``USBTimeoutError`` for a
    timeout). ``detail`` is appended to the message, for the test reading it."""
    message, err = _LIBUSB_ERRORS.get(code, ("Unknown error", errno.EIO))
    text = f"{message} ({detail})" if detail else message
    cls = usb.core.USBTimeoutError if code == LIBUSB_ERROR_TIMEOUT else usb.core.USBError
    error: usb.core.USBError = cls(text, code, err)
    return error


# --------------------------------------------------------------------------------------------------
# Descriptors: plain objects with the fields pyusb copies (it reads every one of them by name).
# --------------------------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class DeviceDescriptor:
    """The fields of a USB device descriptor plus the topology libusb adds (bus, address, port)."""

    idVendor: int
    idProduct: int
    bcdDevice: int
    bcdUSB: int = 0x0200
    bDeviceClass: int = 0
    bDeviceSubClass: int = 0
    bDeviceProtocol: int = 0
    bMaxPacketSize0: int = 64
    iManufacturer: int = 1
    iProduct: int = 2
    iSerialNumber: int = 3
    bNumConfigurations: int = 1
    bLength: int = 18
    bDescriptorType: int = DESC_DEVICE
    bus: int | None = None
    address: int | None = None
    port_number: int | None = None
    port_numbers: tuple[int, ...] | None = None
    speed: int | None = SPEED_FULL

    def pack(self) -> bytes:
        """The 18 bytes a device sends for GET_DESCRIPTOR(DEVICE)."""
        return struct.pack(
            "<BBHBBBBHHHBBBB",
            self.bLength,
            self.bDescriptorType,
            self.bcdUSB,
            self.bDeviceClass,
            self.bDeviceSubClass,
            self.bDeviceProtocol,
            self.bMaxPacketSize0,
            self.idVendor,
            self.idProduct,
            self.bcdDevice,
            self.iManufacturer,
            self.iProduct,
            self.iSerialNumber,
            self.bNumConfigurations,
        )


@attrs.frozen(kw_only=True)
class EndpointDescriptor:
    """A USB endpoint descriptor."""

    bEndpointAddress: int
    bmAttributes: int = TRANSFER_BULK
    wMaxPacketSize: int = 64
    bInterval: int = 0
    bRefresh: int = 0
    bSynchAddress: int = 0
    bLength: int = 7
    bDescriptorType: int = DESC_ENDPOINT
    extra_descriptors: list[int] = attrs.field(factory=list)

    def pack(self) -> bytes:
        """The 7 bytes of the descriptor."""
        return struct.pack(
            "<BBBBHB",
            self.bLength,
            self.bDescriptorType,
            self.bEndpointAddress,
            self.bmAttributes,
            self.wMaxPacketSize,
            self.bInterval,
        )


@attrs.frozen(kw_only=True)
class InterfaceDescriptor:
    """A USB interface descriptor with its endpoints."""

    bInterfaceNumber: int = 0
    bAlternateSetting: int = 0
    bInterfaceClass: int = 0xFF
    bInterfaceSubClass: int = 0
    bInterfaceProtocol: int = 0
    iInterface: int = 0
    endpoints: tuple[EndpointDescriptor, ...] = ()
    bLength: int = 9
    bDescriptorType: int = DESC_INTERFACE
    extra_descriptors: list[int] = attrs.field(factory=list)

    @property
    def bNumEndpoints(self) -> int:  # named as the USB field pyusb reads
        return len(self.endpoints)

    def pack(self) -> bytes:
        """The interface descriptor followed by its endpoint descriptors."""
        head = struct.pack(
            "<BBBBBBBBB",
            self.bLength,
            self.bDescriptorType,
            self.bInterfaceNumber,
            self.bAlternateSetting,
            self.bNumEndpoints,
            self.bInterfaceClass,
            self.bInterfaceSubClass,
            self.bInterfaceProtocol,
            self.iInterface,
        )
        return head + b"".join(e.pack() for e in self.endpoints)


@attrs.frozen(kw_only=True)
class ConfigurationDescriptor:
    """A USB configuration descriptor with its interfaces (one alternate setting each)."""

    bConfigurationValue: int = 1
    iConfiguration: int = 0
    bmAttributes: int = 0xC0  # self-powered: a printer has its own power supply
    bMaxPower: int = 1
    interfaces: tuple[InterfaceDescriptor, ...] = ()
    bLength: int = 9
    bDescriptorType: int = DESC_CONFIGURATION
    extra_descriptors: list[int] = attrs.field(factory=list)

    @property
    def bNumInterfaces(self) -> int:  # named as the USB field pyusb reads
        return len(self.interfaces)

    @property
    def wTotalLength(self) -> int:  # named as the USB field pyusb reads
        return self.bLength + sum(len(i.pack()) for i in self.interfaces)

    def pack(self) -> bytes:
        """The whole configuration as GET_DESCRIPTOR(CONFIGURATION) returns it."""
        head = struct.pack(
            "<BBHBBBBB",
            self.bLength,
            self.bDescriptorType,
            self.wTotalLength,
            self.bNumInterfaces,
            self.bConfigurationValue,
            self.iConfiguration,
            self.bmAttributes,
            self.bMaxPower,
        )
        return head + b"".join(i.pack() for i in self.interfaces)


# --------------------------------------------------------------------------------------------------
# The emulated device
# --------------------------------------------------------------------------------------------------


class EmulatedDevice:
    """A USB device living inside a :class:`FakeUsbBackend`.

    It has one configuration (value 1) with one interface (number 0) and two bulk endpoints. Subclasses
    implement the device's protocol by overriding :meth:`on_bulk_out` (called with every packet the host
    writes, at most ``max_packet_size`` bytes, in order) and queueing replies with :meth:`send_in`;
    :meth:`bulk_in` and :meth:`on_ctrl` may be overridden too. All state changes happen under
    :attr:`lock`, which the backend holds while it calls the device.

    Test controls: :meth:`unplug` / :meth:`plug_back`, :attr:`unplug_after_out_bytes`,
    :attr:`kernel_driver_active`; :attr:`events` records what the host did (open, detach, claim,
    release, attach, close, ...) so a test can check a driver's etiquette.
    """

    def __init__(
        self,
        *,
        vendor_id: int,
        product_id: int,
        serial: str = "",
        manufacturer: str = "",
        product: str = "",
        bcd_device: int = 0x0100,
        interface_class: int = 0xFF,
        interface_subclass: int = 0,
        interface_protocol: int = 0,
        out_endpoint: int = 0x01,
        in_endpoint: int = 0x81,
        max_packet_size: int = 64,
        kernel_driver: bool = False,
        configured: bool = True,
    ) -> None:
        if out_endpoint & ENDPOINT_IN or not in_endpoint & ENDPOINT_IN:
            raise ValueError("out_endpoint must be an OUT address (bit 7 clear), in_endpoint an IN address (bit 7 set)")
        self.vendor_id = vendor_id
        self.product_id = product_id
        self.serial = serial
        self.manufacturer = manufacturer
        self.product = product
        self.bcd_device = bcd_device
        self.out_endpoint = out_endpoint
        self.in_endpoint = in_endpoint
        self.max_packet_size = max_packet_size
        self.interface = InterfaceDescriptor(
            bInterfaceClass=interface_class,
            bInterfaceSubClass=interface_subclass,
            bInterfaceProtocol=interface_protocol,
            endpoints=(
                EndpointDescriptor(bEndpointAddress=out_endpoint, wMaxPacketSize=max_packet_size),
                EndpointDescriptor(bEndpointAddress=in_endpoint, wMaxPacketSize=max_packet_size),
            ),
        )
        self.configuration_descriptor = ConfigurationDescriptor(interfaces=(self.interface,))
        #: Bound to a kernel driver when plugged (Linux binds ``usblp`` to a printer interface).
        self.kernel_driver_default = kernel_driver
        self.kernel_driver_active = kernel_driver
        self.configured_default = configured
        #: The active configuration value (0: unconfigured).
        self.configuration = 1 if configured else 0
        #: After this many more bytes written to the device, it is unplugged in the middle of the write.
        self.unplug_after_out_bytes: int | None = None
        #: What the host did, in order ("open", "detach", "claim", "release", "attach", "close", ...).
        self.events: list[str] = []
        self.lock = threading.RLock()
        self._in_ready = threading.Condition(self.lock)
        self._in_queue = bytearray()
        self.host: FakeUsbBackend | None = None
        self.generation = 0
        self.claimed_by: object | None = None

    # -- what subclasses implement ----------------------------------------------------------------

    def on_bulk_out(self, endpoint: int, data: bytes) -> None:
        """The host wrote ``data`` (one packet) to the OUT endpoint. The base device discards it."""

    def bulk_in(self, endpoint: int, size: int, timeout_ms: int) -> bytes:
        """Up to ``size`` bytes for a read on the IN endpoint, waiting up to ``timeout_ms`` for data to
        arrive (0: forever). Returns ``b""`` when there is none (the backend turns that into a timeout)
        or when the device is unplugged meanwhile (the backend turns that into ENODEV)."""
        deadline = None if timeout_ms == 0 else time.monotonic() + timeout_ms / 1000
        with self._in_ready:
            while not self._in_queue and self.plugged:
                if deadline is None:
                    self._in_ready.wait()
                    continue
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._in_ready.wait(remaining)
            if not self.plugged:
                return b""
            chunk = bytes(self._in_queue[:size])
            del self._in_queue[:size]
            return chunk

    def on_ctrl(self, request_type: int, request: int, value: int, index: int, data: bytes | int) -> bytes | int | None:
        """A class or vendor control request (standard requests are answered by the backend). ``data``
        is the payload of an OUT request or the length asked for by an IN request. Return the bytes to
        send (IN), the count accepted (OUT), or None to stall the request (libusb reports EPIPE)."""
        return None

    def on_plug(self) -> None:
        """Called when the device is plugged in (again)."""

    def on_unplug(self) -> None:
        """Called when the device is unplugged."""

    def on_reset(self) -> None:
        """Called on a USB port reset."""

    # -- helpers for subclasses and tests ---------------------------------------------------------

    def send_in(self, data: bytes) -> None:
        """Queue bytes the host will read from the IN endpoint (wakes a waiting read)."""
        with self._in_ready:
            self._in_queue += data
            self._in_ready.notify_all()

    def clear_in(self) -> None:
        """Drop whatever the host has not read yet."""
        with self.lock:
            self._in_queue.clear()

    @property
    def pending_in(self) -> int:
        """Bytes queued for the host and not read yet."""
        with self.lock:
            return len(self._in_queue)

    @property
    def plugged(self) -> bool:
        """True while the device is on a bus."""
        return self.host is not None

    def unplug(self) -> None:
        """Pull the cable now (a no-op when already unplugged)."""
        if self.host is not None:
            self.host.unplug(self)

    def strings(self) -> dict[int, str]:
        """The string descriptors by index (1 manufacturer, 2 product, 3 serial number)."""
        return {1: self.manufacturer, 2: self.product, 3: self.serial}

    def device_descriptor(self) -> DeviceDescriptor:
        """The device descriptor (without topology)."""
        strings = self.strings()
        return DeviceDescriptor(
            idVendor=self.vendor_id,
            idProduct=self.product_id,
            bcdDevice=self.bcd_device,
            speed=SPEED_HIGH if self.max_packet_size >= 512 else SPEED_FULL,
            bMaxPacketSize0=64,
            iManufacturer=1 if strings.get(1) else 0,
            iProduct=2 if strings.get(2) else 0,
            iSerialNumber=3 if strings.get(3) else 0,
        )

    def __repr__(self) -> str:
        return (
            f"<{type(self).__name__} {self.vendor_id:04x}:{self.product_id:04x} serial={self.serial!r} "
            f"{'plugged' if self.plugged else 'unplugged'}>"
        )


# --------------------------------------------------------------------------------------------------
# The backend
# --------------------------------------------------------------------------------------------------


@attrs.frozen
class _DeviceRef:
    """What ``enumerate_devices`` yields: one device as it was when the bus was enumerated."""

    device: EmulatedDevice = attrs.field(eq=False)
    generation: int
    bus: int
    address: int
    port: int


@attrs.define(eq=False)
class _Handle:
    """An open device handle (libusb_device_handle)."""

    ref: _DeviceRef
    closed: bool = False


class FakeUsbBackend(usb.backend.IBackend):  # type: ignore[misc]  # pyusb ships no type hints
    """A pyusb backend whose bus holds :class:`EmulatedDevice` objects instead of hardware.

    Pass it as ``backend=`` to ``usb.core.find``. Devices given to the constructor are plugged in;
    :meth:`plug` and :meth:`unplug` change the bus at any moment, from any thread.
    """

    def __init__(self, *devices: EmulatedDevice, bus: int = 1) -> None:
        super().__init__()
        self.bus = bus
        self._lock = threading.RLock()
        self._plugged: list[_DeviceRef] = []
        self._next_address = 1
        for device in devices:
            self.plug(device)

    # -- the bus ----------------------------------------------------------------------------------

    def plug(self, device: EmulatedDevice, *, port: int | None = None) -> None:
        """Plug a device in. A device plugged back gets a new address, a fresh kernel driver binding
        and a fresh configuration, as after a real re-enumeration."""
        # Lock order everywhere: the device first, then the bus (a device may unplug itself mid-write).
        with device.lock, self._lock:
            if device.host is not None:
                raise ValueError(f"{device!r} is already plugged into a bus")
            device.generation += 1
            device.host = self
            device.kernel_driver_active = device.kernel_driver_default
            device.configuration = 1 if device.configured_default else 0
            device.claimed_by = None
            device.clear_in()
            ref = _DeviceRef(
                device,
                device.generation,
                self.bus,
                self._next_address,
                port if port is not None else len(self._plugged) + 1,
            )
            self._next_address += 1
            self._plugged.append(ref)
            device.events.append("plug")
            device.on_plug()

    def unplug(self, device: EmulatedDevice) -> None:
        """Unplug a device: every call on its handles gives ENODEV from now on; a read waiting for
        data wakes up and gets ENODEV."""
        with device.lock, self._lock:
            if device.host is not self:
                return
            self._plugged = [r for r in self._plugged if r.device is not device]
            device.host = None
            device.claimed_by = None
            device.unplug_after_out_bytes = None
            device.events.append("unplug")
            device.on_unplug()
            device._in_ready.notify_all()

    @property
    def devices(self) -> list[EmulatedDevice]:
        """The devices plugged in now."""
        with self._lock:
            return [r.device for r in self._plugged]

    def _present(self, ref: _DeviceRef) -> EmulatedDevice:
        device = ref.device
        if device.host is not self or device.generation != ref.generation:
            raise usb_error(LIBUSB_ERROR_NO_DEVICE)
        return device

    def _device(self, handle: _Handle) -> EmulatedDevice:
        if handle.closed:
            raise usb_error(LIBUSB_ERROR_INVALID_PARAM, "the handle is closed")
        return self._present(handle.ref)

    # -- enumeration and descriptors --------------------------------------------------------------

    def enumerate_devices(self) -> Iterator[_DeviceRef]:
        with self._lock:
            return iter(list(self._plugged))

    def get_parent(self, dev: _DeviceRef) -> None:
        return None  # the emulated devices hang off the root hub

    def get_device_descriptor(self, dev: _DeviceRef) -> DeviceDescriptor:
        return attrs.evolve(
            dev.device.device_descriptor(),
            bus=dev.bus,
            address=dev.address,
            port_number=dev.port,
            port_numbers=(dev.port,),
        )

    def get_configuration_descriptor(self, dev: _DeviceRef, config: int) -> ConfigurationDescriptor:
        if config != 0:
            raise usb_error(LIBUSB_ERROR_NOT_FOUND, f"no configuration at index {config}")
        return dev.device.configuration_descriptor

    def get_interface_descriptor(self, dev: _DeviceRef, intf: int, alt: int, config: int) -> InterfaceDescriptor:
        cfg = self.get_configuration_descriptor(dev, config)
        if intf >= cfg.bNumInterfaces:
            raise IndexError(f"Invalid interface index {intf}")
        if alt != 0:  # one alternate setting per interface; pyusb stops iterating on IndexError
            raise IndexError(f"Invalid alternate setting index {alt}")
        return cfg.interfaces[intf]

    def get_endpoint_descriptor(self, dev: _DeviceRef, ep: int, intf: int, alt: int, config: int) -> EndpointDescriptor:
        interface = self.get_interface_descriptor(dev, intf, alt, config)
        if ep >= interface.bNumEndpoints:
            raise IndexError(f"Invalid endpoint index {ep}")
        return interface.endpoints[ep]

    # -- handles, configuration, interfaces -------------------------------------------------------

    def open_device(self, dev: _DeviceRef) -> _Handle:
        with self._lock:
            device = self._present(dev)
            device.events.append("open")
            return _Handle(dev)

    def close_device(self, dev_handle: _Handle) -> None:
        device = dev_handle.ref.device
        with device.lock:
            if dev_handle.closed:
                return
            dev_handle.closed = True
            # Closing the usbfs file releases what the handle had claimed, even on a vanished device.
            if device.claimed_by is dev_handle:
                device.claimed_by = None
            device.events.append("close")

    def set_configuration(self, dev_handle: _Handle, config_value: int) -> None:
        device = self._device(dev_handle)
        with device.lock:
            if config_value not in (0, device.configuration_descriptor.bConfigurationValue):
                raise usb_error(LIBUSB_ERROR_NOT_FOUND, f"no configuration {config_value}")
            # usbfs refuses while another driver (the kernel's, or another program) holds an interface.
            if device.kernel_driver_active or device.claimed_by not in (None, dev_handle):
                raise usb_error(LIBUSB_ERROR_BUSY, "an interface is in use by another driver")
            device.configuration = config_value
            device.events.append(f"set_configuration {config_value}")

    def get_configuration(self, dev_handle: _Handle) -> int:
        device = self._device(dev_handle)
        return device.configuration

    def set_interface_altsetting(self, dev_handle: _Handle, intf: int, altsetting: int) -> None:
        device = self._device(dev_handle)
        with device.lock:
            if intf != device.interface.bInterfaceNumber or altsetting != 0 or device.claimed_by is not dev_handle:
                raise usb_error(LIBUSB_ERROR_NOT_FOUND, f"interface {intf} alternate setting {altsetting}")

    def claim_interface(self, dev_handle: _Handle, intf: int) -> None:
        device = self._device(dev_handle)
        with device.lock:
            if intf != device.interface.bInterfaceNumber or device.configuration == 0:
                raise usb_error(LIBUSB_ERROR_NOT_FOUND, f"no interface {intf} in the active configuration")
            if device.kernel_driver_active:
                raise usb_error(LIBUSB_ERROR_BUSY, f"interface {intf} is bound to a kernel driver")
            if device.claimed_by not in (None, dev_handle):
                raise usb_error(LIBUSB_ERROR_BUSY, f"interface {intf} is claimed by another handle")
            device.claimed_by = dev_handle
            device.events.append("claim")

    def release_interface(self, dev_handle: _Handle, intf: int) -> None:
        device = self._device(dev_handle)
        with device.lock:
            if device.claimed_by is not dev_handle:
                raise usb_error(LIBUSB_ERROR_NOT_FOUND, f"interface {intf} is not claimed by this handle")
            device.claimed_by = None
            device.events.append("release")

    def is_kernel_driver_active(self, dev_handle: _Handle, intf: int) -> bool:
        device = self._device(dev_handle)
        return intf == device.interface.bInterfaceNumber and device.kernel_driver_active

    def detach_kernel_driver(self, dev_handle: _Handle, intf: int) -> None:
        device = self._device(dev_handle)
        with device.lock:
            if intf != device.interface.bInterfaceNumber or not device.kernel_driver_active:
                raise usb_error(LIBUSB_ERROR_NOT_FOUND, f"no kernel driver on interface {intf}")
            device.kernel_driver_active = False
            device.events.append("detach")

    def attach_kernel_driver(self, dev_handle: _Handle, intf: int) -> None:
        device = self._device(dev_handle)
        with device.lock:
            if intf != device.interface.bInterfaceNumber:
                raise usb_error(LIBUSB_ERROR_NOT_FOUND, f"no interface {intf}")
            if device.kernel_driver_active or device.claimed_by is not None:
                raise usb_error(LIBUSB_ERROR_BUSY, f"interface {intf} is in use")
            device.kernel_driver_active = True
            device.events.append("attach")

    def clear_halt(self, dev_handle: _Handle, ep: int) -> None:
        self._device(dev_handle)

    def reset_device(self, dev_handle: _Handle) -> None:
        device = self._device(dev_handle)
        with device.lock:
            device.events.append("reset")
            device.clear_in()
            device.on_reset()

    # -- transfers --------------------------------------------------------------------------------

    def _usable(self, device: EmulatedDevice, dev_handle: _Handle, ep: int, direction: int) -> None:
        address = device.in_endpoint if direction else device.out_endpoint
        if ep != address:
            raise usb_error(LIBUSB_ERROR_NOT_FOUND, f"no {'IN' if direction else 'OUT'} endpoint {ep:#04x}")
        if device.kernel_driver_active:  # usbfs cannot take over an interface a kernel driver holds
            raise usb_error(LIBUSB_ERROR_BUSY, "the interface is bound to a kernel driver")
        if device.claimed_by not in (None, dev_handle):
            raise usb_error(LIBUSB_ERROR_BUSY, "the interface is claimed by another handle")

    def bulk_write(self, dev_handle: _Handle, ep: int, intf: int, data: array.array[int], timeout: int) -> int:
        device = self._device(dev_handle)
        payload = data.tobytes()
        with device.lock:
            self._usable(device, dev_handle, ep, 0)
            budget = device.unplug_after_out_bytes
            cut = budget is not None and budget <= len(payload)
            if budget is not None:
                device.unplug_after_out_bytes = None if cut else budget - len(payload)
            deliver = payload[:budget] if cut else payload
            size = device.max_packet_size
            for start in range(0, len(deliver), size):
                device.on_bulk_out(ep, deliver[start : start + size])
                if not device.plugged:  # the device pulled itself off the bus mid-transfer
                    raise usb_error(LIBUSB_ERROR_NO_DEVICE)
            if cut:
                self.unplug(device)
                raise usb_error(LIBUSB_ERROR_NO_DEVICE)
            return len(payload)

    def bulk_read(self, dev_handle: _Handle, ep: int, intf: int, buff: array.array[int], timeout: int) -> int:
        device = self._device(dev_handle)
        with device.lock:
            self._usable(device, dev_handle, ep, ENDPOINT_IN)
        # Not under the lock for the wait: another thread must be able to write or unplug meanwhile.
        chunk = device.bulk_in(ep, len(buff), timeout)
        self._present(dev_handle.ref)
        if not chunk:
            raise usb_error(LIBUSB_ERROR_TIMEOUT)
        buff[: len(chunk)] = array.array("B", chunk)
        return len(chunk)

    # Interrupt endpoints go through the same device hooks: an emulator declares what it has.
    intr_write = bulk_write
    intr_read = bulk_read

    def ctrl_transfer(
        self,
        dev_handle: _Handle,
        bmRequestType: int,
        bRequest: int,
        wValue: int,
        wIndex: int,
        data: array.array[int],
        timeout: int,
    ) -> int:
        device = self._device(dev_handle)
        device_to_host = bool(bmRequestType & ENDPOINT_IN)
        with device.lock:
            if bmRequestType & 0x60 == 0:  # standard request
                answer = self._standard_request(device, bmRequestType, bRequest, wValue, wIndex, len(data))
            else:
                asked: bytes | int = len(data) if device_to_host else data.tobytes()
                answer = device.on_ctrl(bmRequestType, bRequest, wValue, wIndex, asked)
            if answer is None:
                raise usb_error(LIBUSB_ERROR_PIPE, f"request {bRequest:#04x} stalled")
            if not device_to_host:
                return len(data) if isinstance(answer, bytes) else int(answer)
            if isinstance(answer, int):
                raise TypeError("an IN control request must be answered with bytes")
            answer = answer[: len(data)]
            data[: len(answer)] = array.array("B", answer)
            return len(answer)

    def _standard_request(
        self, device: EmulatedDevice, request_type: int, request: int, value: int, index: int, length: int
    ) -> bytes | int | None:
        if request == _REQ_GET_DESCRIPTOR and request_type & ENDPOINT_IN:
            kind, number = value >> 8, value & 0xFF
            if kind == DESC_DEVICE:
                return device.device_descriptor().pack()
            if kind == DESC_CONFIGURATION and number == 0:
                return device.configuration_descriptor.pack()
            if kind == DESC_STRING:
                if number == 0:  # the list of language ids
                    return struct.pack("<BBH", 4, DESC_STRING, LANGID_EN_US)
                text = device.strings().get(number)
                if not text or index != LANGID_EN_US:
                    return None
                encoded = text.encode("utf-16-le")
                return bytes((2 + len(encoded), DESC_STRING)) + encoded
            return None
        if request == _REQ_GET_STATUS and request_type & ENDPOINT_IN:
            return b"\x01\x00"  # self-powered
        if request == _REQ_GET_CONFIGURATION and request_type & ENDPOINT_IN:
            return bytes((device.configuration,))
        if request == _REQ_GET_INTERFACE and request_type & ENDPOINT_IN:
            return b"\x00"
        return None
