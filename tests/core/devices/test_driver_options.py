"""The shared checks of a driver's options table."""

from __future__ import annotations

import pytest

from ektp_core.devices.options import DriverOptions


def test_driver_options() -> None:
    options = DriverOptions(
        {"vendor_id": "0x0F49", "timeout_ms": 500, "serial": "A1", "emulator": True},
        ("vendor_id", "timeout_ms", "serial", "emulator", "product_id"),
    )
    assert options.number("vendor_id") == 0x0F49 and options.number("product_id") is None
    assert options.number("product_id", 7) == 7 and options.string("serial") == "A1" and options.flag("emulator", False)
    with pytest.raises(ValueError, match="unknown option 'colour'"):
        DriverOptions({"colour": "red"}, ("serial",))
    for bad, call in (
        ({"n": "many"}, lambda o: o.number("n")),
        ({"n": True}, lambda o: o.number("n")),
        ({"n": 0}, lambda o: o.number("n", positive=True)),
        ({"n": "yes"}, lambda o: o.flag("n", False)),
        ({"n": 5}, lambda o: o.string("n")),
    ):
        with pytest.raises(ValueError, match="option n must be"):
            call(DriverOptions(bad, ("n",)))
