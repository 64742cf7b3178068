"""A MOSIP SBI client: discovery, device info, registration capture and preview stream.

Speaks the SBI verbs with :mod:`http.client` (custom HTTP methods MOSIPDISC, MOSIPDINFO, RCAPTURE,
CAPTURE, STREAM). Every JWS is verified (see :mod:`.protocol` for the algorithm and the sources),
the signer must be the device whose info was verified (and trusted), and the hash chain must
continue across every capture of a session. A capture that fails any check returns nothing.
"""

from __future__ import annotations

import http.client
import io
import json
import uuid
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from ektp_plugins.scanners.sbi import protocol as p
from ektp_plugins.scanners.sbi.protocol import SbiDeviceError, SbiHashChainError, SbiProtocolError, SbiSignatureError


@dataclass(frozen=True)
class SbiDevice:
    """One device of a service, as MOSIPDINFO described it (verified)."""

    port: int
    device_id: str
    type: str
    status: str
    sub_ids: tuple[int, ...]
    info: dict[str, Any]
    public_key: str


@dataclass(frozen=True)
class SbiCapture:
    """One verified biometric from a capture."""

    modality: str
    position: str
    image: bytes
    quality: int
    device: SbiDevice
    data: str
    hash: str
    payload: dict[str, Any] = field(repr=False)


def _request(port: int, method: str, path: str, body: dict[str, Any] | None, timeout: float) -> bytes:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        payload = json.dumps(body or {}).encode()
        conn.request(method, path, body=payload, headers={"Content-Type": "application/json"})
        response = conn.getresponse()
        return response.read()
    except TimeoutError:
        raise SbiDeviceError(701) from None
    except (ConnectionError, OSError, http.client.HTTPException) as exc:
        raise SbiDeviceError(106, f"no SBI service answered on 127.0.0.1:{port} ({exc})") from None
    finally:
        conn.close()


def _json(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise SbiProtocolError("the SBI service answered something that is not JSON") from None


def _check_error(item: dict[str, Any]) -> None:
    error = item.get("error") or {}
    try:
        code = int(error.get("errorCode", 0))
    except (TypeError, ValueError):
        raise SbiProtocolError(f"bad SBI error code {error.get('errorCode')!r}") from None
    if code != 0:
        raise SbiDeviceError(code)


#: The smallest and largest image (width, height) each modality may deliver: a 500 dpi finger is at
#: least 256 px square, an ISO/IEC 19794-6 iris image 640 x 480, an ICAO face at least 480 x 640.
IMAGE_BOUNDS = {
    "finger": ((256, 256), (2000, 2000)),
    "iris": ((320, 240), (2000, 2000)),
    "face": ((240, 320), (4000, 6000)),
}


def _check_image(modality: str, image: bytes) -> None:
    """Refuse an image that does not decode, or whose size cannot be this modality's."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(image)) as decoded:
            width, height = decoded.size
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise SbiProtocolError(f"a {modality} image does not decode ({exc})") from None
    (min_w, min_h), (max_w, max_h) = IMAGE_BOUNDS.get(modality, ((1, 1), (10_000, 10_000)))
    if not (min_w <= width <= max_w and min_h <= height <= max_h):
        raise SbiProtocolError(
            f"a {modality} image of {width} x {height} pixels is the wrong size "
            f"(expected {min_w} x {min_h} to {max_w} x {max_h})"
        )


def _probe(port: int, timeout: float) -> int | None:
    try:
        data = _json(_request(port, "MOSIPDISC", "/device", {"type": "Biometric Device"}, timeout))
    except Exception:
        return None
    return port if isinstance(data, list) else None


def discover(ports: Iterable[int] = p.PORT_RANGE, timeout: float = 0.3) -> list[int]:
    """The 127.0.0.1 ports (in order) where a service answers MOSIPDISC with a device list."""
    ports = list(ports)
    with ThreadPoolExecutor(max_workers=min(32, max(1, len(ports)))) as pool:
        found = pool.map(lambda port: _probe(port, timeout), ports)
    return [port for port in found if port is not None]


class SbiClient:
    """A client for one SBI service (one port).

    ``trusted_keys`` are base64url raw Ed25519 public keys of devices this office accepts; with
    ``trust_any_device`` (demos only) any key that signs consistently is accepted.
    """

    def __init__(
        self,
        port: int | None = None,
        *,
        ports: Iterable[int] = p.PORT_RANGE,
        timeout_ms: int = 10000,
        trusted_keys: Iterable[str] = (),
        trust_any_device: bool = False,
    ) -> None:
        if port is None:
            found = discover(ports)
            if not found:
                raise SbiDeviceError(106, "no SBI service found on 127.0.0.1 ports 4501-4600")
            port = found[0]
        self.port = port
        self.timeout_ms = timeout_ms
        self.trusted_keys = set(trusted_keys)
        self.trust_any_device = trust_any_device
        self.previous_hash = p.EMPTY_HASH
        self._devices: dict[str, SbiDevice] | None = None

    # ----------------------------------------------------------------------------------------------
    def new_session(self) -> None:
        """Start a new hash chain (one resident's captures form one session)."""
        self.previous_hash = p.EMPTY_HASH

    def discover(self, kind: str = "Biometric Device") -> list[dict[str, Any]]:
        """MOSIPDISC: the devices the service announces (unsigned)."""
        data = _json(_request(self.port, "MOSIPDISC", "/device", {"type": kind}, 2.0))
        if not isinstance(data, list):
            raise SbiProtocolError("MOSIPDISC did not answer a list of devices")
        return data

    def _trusted(self, key: str) -> bool:
        return self.trust_any_device or key in self.trusted_keys

    def device_info(self) -> list[SbiDevice]:
        """MOSIPDINFO: every device, its info JWS and digital ID verified and its key trusted."""
        data = _json(_request(self.port, "MOSIPDINFO", "/info", {}, 2.0))
        if not isinstance(data, list):
            raise SbiProtocolError("MOSIPDINFO did not answer a list")
        devices: dict[str, SbiDevice] = {}
        for item in data:
            _check_error(item)
            info, key = p.jws_verify(str(item.get("deviceInfo", "")))
            key_text = p.public_key_text(key)
            if not self._trusted(key_text):
                raise SbiSignatureError(f"device key {key_text} is not trusted (add it to trusted_keys)")
            _digital, digital_key = p.jws_verify(str(info.get("digitalId", "")))
            if p.public_key_text(digital_key) != key_text:
                raise SbiSignatureError("the digital ID is signed by another key than the device info")
            device = SbiDevice(
                port=self.port,
                device_id=str(info["deviceId"]),
                type=str(info.get("type", "")),
                status=str(info.get("deviceStatus", "")),
                sub_ids=tuple(int(s) for s in info.get("deviceSubId", [])),
                info=info,
                public_key=key_text,
            )
            devices[device.device_id] = device
        self._devices = devices
        return list(devices.values())

    def _device(self, kind: str) -> SbiDevice:
        devices = self._devices if self._devices is not None else {d.device_id: d for d in self.device_info()}
        for device in devices.values():
            if device.type == kind:
                if device.status == "Busy":
                    raise SbiDeviceError(110)
                if device.status == "Not Ready":
                    raise SbiDeviceError(111)
                if device.status == "Not Registered":
                    raise SbiDeviceError(100)
                return device
        raise SbiDeviceError(106, f"the SBI service has no {kind} device")

    # ----------------------------------------------------------------------------------------------
    def rcapture(
        self,
        modality: str,
        positions: Iterable[str],
        exceptions: Iterable[str] = (),
        timeout_ms: int | None = None,
        quality_threshold: int | None = None,
    ) -> list[SbiCapture]:
        """Registration capture of ``positions`` (ektp names) of one modality ("finger", "iris", "face").

        Fingers are asked slap by slap (left, right, thumbs) as needed; ``exceptions`` are ektp
        positions the resident cannot give (missing or damaged). Returns the verified captures, in
        order; raises and returns nothing when any part fails.
        """
        positions, exceptions = list(positions), set(exceptions)
        timeout_ms = timeout_ms or self.timeout_ms
        self._devices = None  # re-read status and keys before every capture
        bios: list[dict[str, Any]] = []
        if modality == "finger":
            device = self._device("Finger")
            for sub_id, slap in p.SLAPS.items():
                wanted = [pos for pos in slap if pos in positions]
                if not wanted:
                    continue
                bios.append(
                    {
                        "type": "Finger",
                        "deviceSubId": str(sub_id),
                        "count": str(len(wanted)),
                        "bioSubType": [p.FINGER_SUBTYPES[x] for x in wanted],
                        "exception": [p.FINGER_SUBTYPES[x] for x in slap if x in exceptions],
                    }
                )
        elif modality == "iris":
            device = self._device("Iris")
            sides = [s for s in ("left", "right") if s in positions]
            sub_id = 3 if len(sides) == 2 else (1 if sides == ["left"] else 2)
            bios.append(
                {
                    "type": "Iris",
                    "deviceSubId": str(sub_id),
                    "count": str(len(sides)),
                    "bioSubType": [p.IRIS_SUBTYPES[s] for s in sides],
                    "exception": [p.IRIS_SUBTYPES[s] for s in sides if s in exceptions],
                }
            )
        elif modality == "face":
            device = self._device("Face")
            bios.append({"type": "Face", "deviceSubId": "0", "count": "1", "bioSubType": [], "exception": []})
        else:
            raise ValueError(f"modality must be finger, iris or face, not {modality!r}")
        previous = self.previous_hash
        captures: list[SbiCapture] = []
        for bio in bios:
            request = {
                "env": "Developer",
                "purpose": "Registration",
                "specVersion": p.SPEC_VERSION,
                "timeout": str(timeout_ms),
                "captureTime": "",
                "transactionId": str(uuid.uuid4()),
                "bio": [
                    bio
                    | {
                        "deviceId": device.device_id,
                        "requestedScore": str(quality_threshold or 0),
                        "previousHash": previous,
                    }
                ],
                "customOpts": None,
            }
            raw = _request(self.port, "RCAPTURE", "/capture", request, timeout_ms / 1000 + 0.5)
            data = _json(raw)
            if not isinstance(data, dict) or not isinstance(data.get("biometrics"), list):
                raise SbiProtocolError("RCAPTURE did not answer a biometrics list")
            for item in data["biometrics"]:
                _check_error(item)
                captures.append(self._verify(item, device, modality, previous))
                previous = captures[-1].hash
        expected = [x for x in positions if x not in exceptions]
        got = [c.position for c in captures]
        if sorted(got) != sorted(expected):
            raise SbiProtocolError(f"asked for {expected}, the device returned {got}")
        if quality_threshold is not None:
            low = [c for c in captures if c.quality < quality_threshold]
            if low:
                names = ", ".join(f"{c.position} ({c.quality})" for c in low)
                raise SbiDeviceError(112, f"quality below {quality_threshold}: {names}")
        self.previous_hash = previous
        return captures

    def _verify(self, item: dict[str, Any], device: SbiDevice, modality: str, previous: str) -> SbiCapture:
        payload, key = p.jws_verify(str(item.get("data", "")))
        if p.public_key_text(key) != device.public_key:
            raise SbiSignatureError("a biometric was signed by another key than the device's")
        try:
            image = p.unb64url(str(payload["bioValue"]))
            quality = int(payload.get("qualityScore", 0))
        except (KeyError, ValueError) as exc:
            raise SbiProtocolError(f"a biometric has a bad payload ({exc})") from None
        if str(item.get("hash", "")).upper() != p.chain_hash(previous, image):
            raise SbiHashChainError("a capture's hash does not continue the session's hash chain")
        _check_image(modality, image)
        subtype = str(payload.get("bioSubType", ""))
        if modality == "finger":
            position = p.SUBTYPE_TO_POSITION.get(subtype, "")
        elif modality == "iris":
            position = subtype.lower()
        else:
            position = "face"
        return SbiCapture(
            modality=modality,
            position=position,
            image=image,
            quality=quality,
            device=device,
            data=str(item["data"]),
            hash=str(item["hash"]).upper(),
            payload=payload,
        )

    # ----------------------------------------------------------------------------------------------
    def stream(self, modality: str, *, max_frames: int = 5, sub_id: int = 0) -> Iterator[bytes]:
        """STREAM: up to ``max_frames`` JPEG preview frames (a generator)."""
        device = self._device({"finger": "Finger", "iris": "Iris", "face": "Face"}[modality])
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout_ms / 1000)
        try:
            body = json.dumps({"deviceId": device.device_id, "deviceSubId": sub_id, "frames": max_frames})
            conn.request("STREAM", "/stream", body=body.encode(), headers={"Content-Type": "application/json"})
            response = conn.getresponse()
            if response.status != 200:
                raise SbiDeviceError(102, f"STREAM answered HTTP {response.status}")
            for _ in range(max_frames):
                length = None
                line = response.readline()
                while line and not line.startswith(b"--"):
                    line = response.readline()
                if not line:
                    return
                while True:
                    line = response.readline().strip()
                    if not line:
                        break
                    name, _sep, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value.strip())
                if length is None:
                    raise SbiProtocolError("a STREAM frame has no Content-Length")
                yield response.read(length)
        finally:
            conn.close()
