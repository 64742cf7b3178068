"""The MOSIP SBI client against the SBI emulator served on a free 127.0.0.1 port."""

from __future__ import annotations

import http.client
import io
import json
from collections.abc import Iterator

import click
import pytest
from click.testing import CliRunner
from ektp_plugins.scanners.sbi import SbiScanner, ektp_register_commands, ektp_register_scanners
from ektp_plugins.scanners.sbi import protocol as p
from ektp_plugins.scanners.sbi.client import SbiCapture, SbiClient, _request, discover
from ektp_plugins.scanners.sbi.emulator import EmulatorThread, SbiEmulator
from ektp_plugins.scanners.sbi.protocol import (
    SbiDeviceError,
    SbiHashChainError,
    SbiProtocolError,
    SbiSignatureError,
)
from PIL import Image, ImageDraw

from ektp_core.domain.model import FINGER_POSITIONS


class TestSource:
    """Plain deterministic images standing in for the synthetic module (at the smallest sizes the
    client accepts for each modality)."""

    __test__ = False

    def finger(self, seed: int, position: str, impression: int = 0) -> Image.Image:
        img = Image.new("L", (256, 256), 255)
        ImageDraw.Draw(img).text((2, 2), f"{seed}{position[:6]}{impression}", fill=0)
        return img

    def iris(self, seed: int, side: str) -> Image.Image:
        img = Image.new("L", (320, 240), 128)
        ImageDraw.Draw(img).ellipse((60, 20, 260, 220), fill=seed % 200, outline=0 if side == "left" else 255)
        return img

    def face(self, seed: int) -> Image.Image:
        img = Image.new("RGB", (240, 320), (200, 170, 150))
        ImageDraw.Draw(img).ellipse((40, 40, 200, 260), outline=(seed % 255, 0, 0))
        return img


@pytest.fixture
def emulator() -> Iterator[EmulatorThread]:
    with EmulatorThread(SbiEmulator(identity_seed=7, source=TestSource())) as running:
        yield running


@pytest.fixture
def client(emulator: EmulatorThread) -> SbiClient:
    return SbiClient(
        emulator.port, timeout_ms=1500, trusted_keys=[p.public_key_text(emulator.emulator.key.public_key())]
    )


def _full_registration(client: SbiClient) -> list[SbiCapture]:
    fingers = client.rcapture("finger", FINGER_POSITIONS, exceptions=["left_ring"])
    irises = client.rcapture("iris", ["left", "right"])
    face = client.rcapture("face", ["face"])
    return [*fingers, *irises, *face]


def test_discovery_finds_the_emulator(emulator: EmulatorThread) -> None:
    assert discover([emulator.port, emulator.port + 1 if emulator.port < 65535 else 1]) == [emulator.port]
    devices = SbiClient(emulator.port, trust_any_device=True).discover("Finger")
    assert [d["type"] for d in devices] == ["Finger"]
    assert devices[0]["deviceStatus"] == "Ready"


def test_device_info_verified(client: SbiClient) -> None:
    devices = client.device_info()
    assert {d.type for d in devices} == {"Finger", "Iris", "Face"}
    assert all(d.status == "Ready" for d in devices)


def test_untrusted_device_refused(emulator: EmulatorThread) -> None:
    other = p.public_key_text(p.new_device_key()[0].public_key())
    with pytest.raises(SbiSignatureError, match="not trusted"):
        SbiClient(emulator.port, trusted_keys=[other]).device_info()


def test_full_registration_capture(client: SbiClient) -> None:
    captures = _full_registration(client)
    fingers = [c for c in captures if c.modality == "finger"]
    assert len(fingers) == 9 and "left_ring" not in {c.position for c in fingers}
    assert {c.position for c in captures if c.modality == "iris"} == {"left", "right"}
    assert captures[-1].position == "face"
    previous = p.EMPTY_HASH
    for capture in captures:  # one chain across the whole session
        assert capture.hash == p.chain_hash(previous, capture.image)
        payload, _key = p.jws_verify(capture.data)
        assert payload["bioValue"] == p.b64url(capture.image)
        assert Image.open(io.BytesIO(capture.image)).size[0] > 0
        assert capture.quality >= 80
        previous = capture.hash
    assert client.previous_hash == previous


@pytest.mark.parametrize(
    ("mode", "error", "code"),
    [
        ("busy", SbiDeviceError, 110),
        ("not_ready", SbiDeviceError, 111),
        ("low_quality", SbiDeviceError, 112),
        ("bad_signature", SbiSignatureError, None),
        ("broken_chain", SbiHashChainError, None),
        ("garbage", SbiProtocolError, None),
    ],
)
def test_failure_modes(
    emulator: EmulatorThread, client: SbiClient, mode: str, error: type[Exception], code: int | None
) -> None:
    client.rcapture("face", ["face"])
    before = client.previous_hash
    emulator.emulator.fail = mode
    with pytest.raises(error) as info:
        client.rcapture("finger", FINGER_POSITIONS, quality_threshold=60)
    if code is not None:
        assert isinstance(info.value, SbiDeviceError) and info.value.code == code
    assert client.previous_hash == before  # nothing of the failed capture is kept


@pytest.mark.parametrize(("mode", "code"), [("busy", 110), ("not_ready", 111)])
def test_capture_level_errors(emulator: EmulatorThread, mode: str, code: int) -> None:
    """The service itself answers RCAPTURE with the error, whatever the client checked before."""
    emulator.emulator.fail = mode
    raw = _request(emulator.port, "RCAPTURE", "/capture", {"bio": [{"type": "Face", "deviceId": "3"}]}, 5)
    assert json.loads(raw)["biometrics"][0]["error"]["errorCode"] == str(code)


def test_source_failure_is_a_technical_error(emulator: EmulatorThread, client: SbiClient) -> None:
    class Broken(TestSource):
        def face(self, seed: int) -> Image.Image:
            raise OSError("camera unplugged")

    emulator.emulator.source = Broken()
    with pytest.raises(SbiDeviceError) as info:
        client.rcapture("face", ["face"])
    assert info.value.code == 102 and "technical error" in str(info.value)


def test_timeout(emulator: EmulatorThread, client: SbiClient) -> None:
    emulator.emulator.fail = "timeout"
    with pytest.raises(SbiDeviceError) as info:
        client.rcapture("face", ["face"], timeout_ms=200)
    assert info.value.code == 701


def test_tampered_payload_detected(client: SbiClient) -> None:
    capture = client.rcapture("face", ["face"])[0]
    head, body, sig = capture.data.split(".")
    forged = p.b64url(p.unb64url(body).replace(b"Registration", b"Auth________"))
    with pytest.raises(SbiSignatureError):
        p.jws_verify(f"{head}.{forged}.{sig}")


def test_chain_must_continue_the_session(emulator: EmulatorThread, client: SbiClient) -> None:
    client.rcapture("face", ["face"])
    before = client.previous_hash
    emulator.emulator.fail = "restart_chain"  # a service that ignores previousHash: each call signs fine alone
    with pytest.raises(SbiHashChainError):
        client.rcapture("iris", ["left", "right"])
    assert client.previous_hash == before
    client.new_session()
    assert len(client.rcapture("iris", ["left", "right"])) == 2  # a new session starts from the empty hash


def test_control_endpoint_changes_identity(emulator: EmulatorThread, client: SbiClient) -> None:
    first = client.rcapture("face", ["face"])[0].image
    conn = http.client.HTTPConnection("127.0.0.1", emulator.port, timeout=5)
    conn.request("POST", "/control", body=b'{"identity_seed": 99}', headers={"Content-Type": "application/json"})
    assert conn.getresponse().status == 200
    conn.close()
    assert emulator.emulator.identity_seed == 99
    assert client.rcapture("face", ["face"])[0].image != first
    bad = emulator.emulator.app.test_client().post("/control", json={"fail": "explode"})
    assert bad.status_code == 400


def test_an_operator_holds_the_identity_the_web_ui_would_change(emulator: EmulatorThread) -> None:
    """A demo's operator holds identity 7; the web UI's per-enrolment identity is ignored until released,
    its impression (each new attempt) still taken."""
    control = emulator.emulator.app.test_client()
    held = control.post("/control", json={"identity_seed": 7, "hold": True}).get_json()
    assert held == {"identity_seed": 7, "impression": 0, "fail": None, "hold": True}
    answer = control.post("/control", json={"identity_seed": 123456, "impression": 2}).get_json()
    assert answer["identity_seed"] == 7 and answer["impression"] == 2
    assert control.post("/control", json={"hold": "yes"}).status_code == 400
    assert emulator.emulator.hold is True
    assert control.post("/control", json={"identity_seed": 8, "hold": True}).get_json()["identity_seed"] == 8
    released = control.post("/control", json={"hold": False}).get_json()
    assert released["hold"] is False and released["identity_seed"] == 8
    assert control.post("/control", json={"identity_seed": 123456}).get_json()["identity_seed"] == 123456


def test_stream_yields_frames(client: SbiClient) -> None:
    frames = list(client.stream("finger", max_frames=3, sub_id=1))
    assert len(frames) == 3
    assert all(f.startswith(b"\xff\xd8") for f in frames)


def test_hooks_register_scanner_and_command(emulator: EmulatorThread) -> None:
    added: dict[str, object] = {}

    class Registry:
        def add(self, name: str, obj: object, *, description: str = "") -> None:
            added[name] = obj

    ektp_register_scanners(Registry())
    scanner = added["sbi"]("fingers", {"port": emulator.port, "trust_any_device": True})  # type: ignore[operator]
    assert isinstance(scanner, SbiScanner)
    scanner.new_session()
    scanner.open()
    samples = scanner.capture("iris", ["left", "right"])
    assert [s.position for s in samples] == ["left", "right"] and all(s.image and s.quality for s in samples)
    assert scanner.status().state.value == "READY"
    with pytest.raises(ValueError, match="trusted_keys"):
        SbiScanner("x", {"port": emulator.port})
    group = click.Group()
    ektp_register_commands(group)
    result = CliRunner().invoke(group, ["sbi-emulator", "--help"])
    assert result.exit_code == 0 and "--seed" in result.output


def test_default_source_is_the_synthetic_module() -> None:
    """The emulator's default images come from the synthetic generator (the simulators plugin, in the
    simulated extra that the test extra brings): an error here is a failure, never a skip."""
    with EmulatorThread(SbiEmulator(identity_seed=3)) as running:
        client = SbiClient(running.port, timeout_ms=20000, trust_any_device=True)
        captures = client.rcapture("finger", ["left_thumb", "right_thumb"])
        captures += client.rcapture("iris", ["left"]) + client.rcapture("face", ["face"])
    assert [c.position for c in captures] == ["left_thumb", "right_thumb", "left", "face"]
    assert Image.open(io.BytesIO(captures[0].image)).mode == "L"
