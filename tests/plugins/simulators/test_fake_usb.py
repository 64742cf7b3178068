"""The fake pyusb backend, driven through real pyusb: descriptors, strings, transfers, timeouts,
unplugging, kernel drivers, control requests."""

from __future__ import annotations

import errno
import threading
import time
from collections.abc import Iterator

import pytest
import usb.control
import usb.core
import usb.util
from ektp_plugins.simulators.usb import EmulatedDevice, FakeUsbBackend

VID, PID = 0x1234, 0x5678


class EchoDevice(EmulatedDevice):
    """Sends back what it receives, upper-cased; remembers the packets."""

    def __init__(self, serial: str = "ECHO-1", **kwargs: object) -> None:
        super().__init__(
            vendor_id=VID,
            product_id=PID,
            serial=serial,
            manufacturer="ACME",
            product="Echo",
            interface_class=0xFF,
            out_endpoint=0x01,
            in_endpoint=0x82,
            **kwargs,
        )  # type: ignore[arg-type]
        self.packets: list[bytes] = []

    def on_bulk_out(self, endpoint: int, data: bytes) -> None:
        self.packets.append(data)
        self.send_in(data.upper())

    def on_ctrl(self, request_type: int, request: int, value: int, index: int, data: bytes | int) -> bytes | int | None:
        if request_type == 0xC0 and request == 0x42 and isinstance(data, int):  # a vendor "who are you"
            return b"echo"[:data]
        return None


@pytest.fixture
def device() -> EchoDevice:
    return EchoDevice()


@pytest.fixture
def backend(device: EchoDevice) -> FakeUsbBackend:
    return FakeUsbBackend(device)


@pytest.fixture
def dev(backend: FakeUsbBackend) -> Iterator[usb.core.Device]:
    found = usb.core.find(idVendor=VID, idProduct=PID, backend=backend)
    assert found is not None
    yield found
    usb.util.dispose_resources(found)


def test_descriptors_through_pyusb(dev: usb.core.Device) -> None:
    assert (dev.idVendor, dev.idProduct, dev.bcdUSB, dev.bNumConfigurations) == (VID, PID, 0x0200, 1)
    assert dev.bus == 1 and dev.address == 1 and dev.port_number == 1
    cfg = dev[0]
    assert (cfg.bConfigurationValue, cfg.bNumInterfaces, cfg.wTotalLength) == (1, 1, 9 + 9 + 7 + 7)
    interfaces = list(cfg)
    assert len(interfaces) == 1 and interfaces[0].bInterfaceClass == 0xFF
    endpoints = [(e.bEndpointAddress, e.bmAttributes, e.wMaxPacketSize) for e in interfaces[0]]
    assert endpoints == [(0x01, usb.util.ENDPOINT_TYPE_BULK, 64), (0x82, usb.util.ENDPOINT_TYPE_BULK, 64)]
    assert "ECHO-1" in str(dev)  # pyusb's full dump reads every string descriptor


def test_string_descriptors(dev: usb.core.Device) -> None:
    assert (dev.serial_number, dev.manufacturer, dev.product) == ("ECHO-1", "ACME", "Echo")
    assert dev.langids == (0x0409,)
    assert usb.util.get_string(dev, 3) == "ECHO-1"
    with pytest.raises(usb.core.USBError) as caught:  # a language the device does not have stalls
        usb.util.get_string(dev, 3, langid=0x0421)
    assert caught.value.errno == errno.EPIPE


def test_device_descriptor_over_control_transfer(dev: usb.core.Device) -> None:
    raw = usb.control.get_descriptor(dev, 18, usb.util.DESC_TYPE_DEVICE, 0)
    assert len(raw) == 18 and raw[0] == 18 and raw[1] == 1
    assert int.from_bytes(bytes(raw[8:10]), "little") == VID
    assert bytes(dev.ctrl_transfer(0xC0, 0x42, 0, 0, 4)) == b"echo"
    with pytest.raises(usb.core.USBError) as caught:
        dev.ctrl_transfer(0xC0, 0x99, 0, 0, 4)
    assert caught.value.errno == errno.EPIPE


def test_bulk_transfers_go_by_packets(dev: usb.core.Device, device: EchoDevice) -> None:
    payload = bytes(range(200))
    assert dev.write(0x01, payload, timeout=100) == 200
    assert [len(p) for p in device.packets] == [64, 64, 64, 8]
    assert b"".join(device.packets) == payload
    echoed = bytes(dev.read(0x82, 150, timeout=100)) + bytes(dev.read(0x82, 150, timeout=100))
    assert echoed == payload.upper()


def test_read_waits_for_the_timeout_then_raises_etimedout(dev: usb.core.Device) -> None:
    started = time.monotonic()
    with pytest.raises(usb.core.USBTimeoutError) as caught:
        dev.read(0x82, 64, timeout=120)
    assert caught.value.errno == errno.ETIMEDOUT
    assert 0.11 <= time.monotonic() - started < 1.0


def test_read_gets_data_written_meanwhile(dev: usb.core.Device, device: EchoDevice) -> None:
    threading.Timer(0.05, device.send_in, args=(b"late",)).start()
    assert bytes(dev.read(0x82, 64, timeout=2000)) == b"late"


def test_unplugged_device_gives_enodev(dev: usb.core.Device, device: EchoDevice, backend: FakeUsbBackend) -> None:
    dev.write(0x01, b"x", timeout=100)
    device.unplug()
    assert usb.core.find(idVendor=VID, backend=backend) is None
    for call in (lambda: dev.write(0x01, b"x", timeout=100), lambda: dev.read(0x82, 64, timeout=100)):
        with pytest.raises(usb.core.USBError) as caught:
            call()
        assert caught.value.errno == errno.ENODEV
        assert not isinstance(caught.value, usb.core.USBTimeoutError)


def test_unplug_wakes_a_waiting_read(dev: usb.core.Device, device: EchoDevice) -> None:
    dev.write(0x01, b"a", timeout=100)
    dev.read(0x82, 64, timeout=100)
    threading.Timer(0.05, device.unplug).start()
    started = time.monotonic()
    with pytest.raises(usb.core.USBError) as caught:
        dev.read(0x82, 64, timeout=5000)
    assert caught.value.errno == errno.ENODEV
    assert time.monotonic() - started < 2


def test_plugged_back_device_is_new(dev: usb.core.Device, device: EchoDevice, backend: FakeUsbBackend) -> None:
    dev.write(0x01, b"x", timeout=100)
    device.unplug()
    backend.plug(device)
    with pytest.raises(usb.core.USBError) as caught:  # the old handle belongs to the old enumeration
        dev.write(0x01, b"x", timeout=100)
    assert caught.value.errno == errno.ENODEV
    again = usb.core.find(idVendor=VID, backend=backend)
    assert again is not None and again.address != dev.address
    assert again.write(0x01, b"ok", timeout=100) == 2
    usb.util.dispose_resources(again)


def test_unplug_after_a_number_of_bytes(dev: usb.core.Device, device: EchoDevice) -> None:
    device.unplug_after_out_bytes = 100
    dev.write(0x01, bytes(60), timeout=100)
    with pytest.raises(usb.core.USBError) as caught:
        dev.write(0x01, bytes(60), timeout=100)
    assert caught.value.errno == errno.ENODEV
    assert sum(len(p) for p in device.packets) == 100
    assert not device.plugged


def test_kernel_driver_must_be_detached(backend: FakeUsbBackend) -> None:
    bound = EchoDevice(serial="BOUND", kernel_driver=True)
    backend.plug(bound)
    dev = usb.core.find(idVendor=VID, custom_match=lambda d: d.serial_number == "BOUND", backend=backend)
    assert dev.is_kernel_driver_active(0)
    for call in (
        lambda: usb.util.claim_interface(dev, 0),
        dev.set_configuration,
        lambda: dev.write(0x01, b"x", timeout=100),
    ):
        with pytest.raises(usb.core.USBError) as caught:
            call()
        assert caught.value.errno == errno.EBUSY
    with pytest.raises(usb.core.USBError):
        dev.attach_kernel_driver(0)  # already attached
    dev.detach_kernel_driver(0)
    assert not dev.is_kernel_driver_active(0)
    usb.util.claim_interface(dev, 0)
    with pytest.raises(usb.core.USBError) as caught:
        dev.attach_kernel_driver(0)  # the interface is ours now
    assert caught.value.errno == errno.EBUSY
    usb.util.release_interface(dev, 0)
    dev.attach_kernel_driver(0)
    usb.util.dispose_resources(dev)
    assert [e for e in bound.events if e != "open"][:6] == ["plug", "detach", "claim", "release", "attach", "close"]


def test_interface_claimed_by_another_handle_is_busy(dev: usb.core.Device, backend: FakeUsbBackend) -> None:
    usb.util.claim_interface(dev, 0)
    other = usb.core.find(idVendor=VID, backend=backend)
    with pytest.raises(usb.core.USBError) as caught:
        usb.util.claim_interface(other, 0)
    assert caught.value.errno == errno.EBUSY
    usb.util.dispose_resources(dev)  # closing the first handle frees the interface
    usb.util.claim_interface(other, 0)
    usb.util.dispose_resources(other)


def test_dispose_releases_the_interface(dev: usb.core.Device, device: EchoDevice) -> None:
    dev.write(0x01, b"x", timeout=100)  # pyusb claims the interface on first use
    assert device.claimed_by is not None
    usb.util.dispose_resources(dev)
    assert device.claimed_by is None
    assert device.events[-2:] == ["release", "close"]


def test_finding_one_device_among_two_by_serial(backend: FakeUsbBackend) -> None:
    backend.plug(EchoDevice(serial="ECHO-2"))
    assert len(list(usb.core.find(find_all=True, idVendor=VID, backend=backend))) == 2
    second = usb.core.find(idVendor=VID, serial_number="ECHO-2", backend=backend)
    assert second is not None and second.address == 2
    usb.util.dispose_resources(second)


def test_unconfigured_device_needs_set_configuration() -> None:
    device = EchoDevice(configured=False)
    dev = usb.core.find(idVendor=VID, backend=FakeUsbBackend(device))
    with pytest.raises(usb.core.USBError):
        dev.get_active_configuration()
    dev.set_configuration()
    assert dev.get_active_configuration().bConfigurationValue == 1
    assert "set_configuration 1" in device.events
    usb.util.dispose_resources(dev)


def test_empty_bus() -> None:
    assert usb.core.find(idVendor=VID, backend=FakeUsbBackend()) is None
