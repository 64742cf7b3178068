"""A MOSIP SBI service emulator: three registration devices (finger slap, double iris, face) on HTTP.

Implements MOSIPDISC (``/device``), MOSIPDINFO (``/info``), RCAPTURE and CAPTURE (``/capture``)
and STREAM (``/stream``, multipart/x-mixed-replace JPEG frames, a bounded number) as described in
MOSIP's SBI specification (sources in :mod:`.protocol`). The images come from
``ektp_plugins.simulators.synthetic`` unless a ``source`` object with the same three functions is
given. ``POST /control`` (JSON) picks the identity and impression and makes the device fail:

* ``fail``: ``null``, ``"busy"``, ``"not_ready"``, ``"low_quality"``, ``"timeout"`` (the capture sleeps
  past the request's timeout), ``"bad_signature"``, ``"broken_chain"`` (a wrong hash),
  ``"restart_chain"`` (ignores ``previousHash``), ``"garbage"`` (not JSON), ``"wrong_size"`` (signed
  and chained correctly, but 32 x 32 pixel images);
* ``identity_seed`` (int), ``impression`` (int);
* ``hold`` (bool): with ``true`` the identity given in the same request stays until ``{"hold": false}``,
  whoever else asks for another one (the web UI tells an emulator the identity it derives from each
  enrolment; a demo's operator holds one to present someone else: a duplicate, a stranger at the
  handover). The response says what the emulator will capture.
"""

from __future__ import annotations

import io
import json
import threading
import time
from collections.abc import Iterator
from typing import Any, Protocol

from ektp_plugins.scanners.sbi import protocol as p
from flask import Flask, Response, request
from PIL import Image
from werkzeug.serving import BaseWSGIServer, make_server

from ektp_core.errors import EktpError

FAIL_MODES = (
    None,
    "busy",
    "not_ready",
    "low_quality",
    "timeout",
    "bad_signature",
    "broken_chain",
    "restart_chain",
    "garbage",
    "wrong_size",
)
SBI_METHODS = ["MOSIPDISC", "MOSIPDINFO", "CAPTURE", "RCAPTURE", "STREAM", "POST"]


class ImageSource(Protocol):
    """Where biometric images come from (the synthetic module by default)."""

    def finger(self, seed: int, position: str, impression: int = 0) -> Image.Image: ...
    def iris(self, seed: int, side: str) -> Image.Image: ...
    def face(self, seed: int) -> Image.Image: ...


def _default_source() -> Any:
    from ektp_plugins.simulators import synthetic  # another module of issue 4

    missing = [name for name in ("finger", "iris", "face") if not hasattr(synthetic, name)]
    if missing:
        raise EktpError(
            f"ektp_plugins.simulators.synthetic does not provide {', '.join(missing)}; "
            "give the emulator another image source"
        )
    return synthetic


DEVICES: dict[str, dict[str, Any]] = {
    "1": {"type": "Finger", "deviceSubType": "Slap", "deviceSubId": [1, 2, 3], "make": "ektp", "model": "EMU-SLAP"},
    "2": {"type": "Iris", "deviceSubType": "Double", "deviceSubId": [1, 2, 3], "make": "ektp", "model": "EMU-IRIS"},
    "3": {"type": "Face", "deviceSubType": "Full face", "deviceSubId": [0], "make": "ektp", "model": "EMU-FACE"},
}


def _png(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


def _jpeg(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.convert("L").save(buf, format="JPEG", quality=70)
    return buf.getvalue()


class SbiEmulator:
    """The emulated SBI service; :meth:`app` is its Flask application."""

    def __init__(
        self,
        *,
        identity_seed: int = 1,
        impression: int = 0,
        source: Any = None,
        port: int = 4501,
        serial: str = "EMU000000001",
    ) -> None:
        self.identity_seed = identity_seed
        self.impression = impression
        self.source = source if source is not None else _default_source()
        self.port = port
        self.serial = serial
        self.fail: str | None = None
        #: The identity an operator holds: other requests' ``identity_seed`` is ignored meanwhile.
        self.hold = False
        self.key, self.cert_der = p.new_device_key()
        self._busy = threading.Lock()
        self.app = self._make_app()

    # ----------------------------------------------------------------------------------------------
    def digital_id(self, device_id: str) -> dict[str, Any]:
        """The device's digital ID payload (signed when sent)."""
        dev = DEVICES[device_id]
        return {
            "serialNo": f"{self.serial}{device_id}",
            "make": dev["make"],
            "model": dev["model"],
            "type": dev["type"],
            "deviceSubType": dev["deviceSubType"],
            "deviceProvider": "ektp emulator",
            "deviceProviderId": "ektp.emulator",
            "dateTime": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }

    def _status(self) -> str:
        return {"busy": "Busy", "not_ready": "Not Ready"}.get(self.fail or "", "Ready")

    def device_entry(self, device_id: str, *, signed: bool) -> dict[str, Any]:
        """One device as MOSIPDISC (unsigned digital ID) or MOSIPDINFO (signed) describes it."""
        dev = DEVICES[device_id]
        digital = self.digital_id(device_id)
        return {
            "specVersion": [p.SPEC_VERSION],
            "env": "Developer",
            "digitalId": p.jws_sign(self.key, self.cert_der, digital)
            if signed
            else p.b64url(json.dumps(digital).encode()),
            "deviceId": device_id,
            "deviceCode": f"{self.serial}-{device_id}",
            "purpose": "Registration",
            "serviceVersion": "0.1",
            "deviceStatus": self._status(),
            "firmware": "emu-1",
            "certification": "L0",
            "deviceSubId": dev["deviceSubId"],
            "callbackId": f"http://127.0.0.1:{self.port}/",
            "type": dev["type"],
        }

    @staticmethod
    def _error(code: int) -> dict[str, Any]:
        return {"errorCode": str(code), "errorInfo": p.ERROR_MESSAGES.get(code, "")}

    # ----------------------------------------------------------------------------------------------
    def _images(self, bio: dict[str, Any]) -> list[tuple[str, Image.Image]]:
        """The (bioSubType, image) pairs a bio request asks for, exceptions left out."""
        kind = bio.get("type")
        sub_id = int(bio.get("deviceSubId", 0))
        exceptions = set(bio.get("exception") or [])
        seed = self.identity_seed
        if kind == "Finger":
            if sub_id not in p.SLAPS:
                raise ValueError(f"deviceSubId {sub_id} is not a slap")
            wanted = [pos for pos in p.SLAPS[sub_id] if p.FINGER_SUBTYPES[pos] not in exceptions]
            requested = bio.get("bioSubType") or []
            if requested and "UNKNOWN" not in requested:
                wanted = [pos for pos in wanted if p.FINGER_SUBTYPES[pos] in requested]
            return [(p.FINGER_SUBTYPES[pos], self.source.finger(seed, pos, self.impression)) for pos in wanted]
        if kind == "Iris":
            sides = [s for s in p.IRIS_SUB_IDS.get(sub_id, ()) if p.IRIS_SUBTYPES[s] not in exceptions]
            return [(p.IRIS_SUBTYPES[s], self.source.iris(seed, s)) for s in sides]
        if kind == "Face":
            return [("", self.source.face(seed))]
        raise ValueError(f"unknown bio type {kind!r}")

    def capture(self, body: dict[str, Any], purpose: str) -> Response:
        """RCAPTURE/CAPTURE: sign each biometric, chain the hashes."""
        if self.fail == "garbage":
            return Response(b"\x00<html>not json", status=200, mimetype="application/json")
        timeout_ms = int(body.get("timeout", 10000))
        if self.fail == "timeout":
            time.sleep(timeout_ms / 1000 + 1.0)
            return self._capture_error(701)
        if self.fail == "busy" or not self._busy.acquire(blocking=False):
            return self._capture_error(110)
        try:
            if self.fail == "not_ready":
                return self._capture_error(111)
            biometrics: list[dict[str, Any]] = []
            for bio in body.get("bio") or []:
                device_id = str(bio.get("deviceId", ""))
                if device_id not in DEVICES:
                    return self._capture_error(106)
                previous = str(bio.get("previousHash") or p.EMPTY_HASH)
                if self.fail == "restart_chain":
                    previous = p.EMPTY_HASH
                try:
                    images = self._images(bio)
                except ValueError:
                    return self._capture_error(109)
                except Exception:  # the image source failed: the device's "technical error"
                    return self._capture_error(102)
                requested = int(bio.get("requestedScore", 0) or 0)
                for index, (subtype, image) in enumerate(images):
                    if self.fail == "wrong_size":
                        image = image.resize((32, 32))
                    raw = _png(image)
                    quality = 20 + index if self.fail == "low_quality" else 80 + (self.identity_seed + index) % 15
                    payload = {
                        "digitalId": p.jws_sign(self.key, self.cert_der, self.digital_id(device_id)),
                        "deviceCode": f"{self.serial}-{device_id}",
                        "deviceServiceVersion": "0.1",
                        "bioType": bio.get("type"),
                        "bioSubType": subtype,
                        "purpose": purpose,
                        "env": body.get("env", "Developer"),
                        "bioValue": p.b64url(raw),
                        "transactionId": body.get("transactionId", ""),
                        "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                        "requestedScore": requested,
                        "qualityScore": quality,
                    }
                    data = p.jws_sign(self.key, self.cert_der, payload)
                    if self.fail == "bad_signature":
                        head, body_b64, sig = data.split(".")
                        data = f"{head}.{body_b64}.{sig[:-4]}{'AAAA' if sig[-4:] != 'AAAA' else 'BBBB'}"
                    link = p.chain_hash(previous, raw)
                    if self.fail == "broken_chain" and index == len(images) - 1:
                        link = p.chain_hash(p.EMPTY_HASH, b"not the image")
                    biometrics.append(
                        {
                            "specVersion": p.SPEC_VERSION,
                            "data": data,
                            "hash": link,
                            "sessionKey": "",
                            "thumbprint": "",
                            "error": self._error(0),
                        }
                    )
                    previous = link
            return Response(json.dumps({"biometrics": biometrics}), mimetype="application/json")
        finally:
            self._busy.release()

    def _capture_error(self, code: int) -> Response:
        return Response(
            json.dumps(
                {"biometrics": [{"specVersion": p.SPEC_VERSION, "data": "", "hash": "", "error": self._error(code)}]}
            ),
            mimetype="application/json",
        )

    def stream(self, device_id: str, sub_id: int, frames: int) -> Iterator[bytes]:
        """multipart/x-mixed-replace parts, each one JPEG preview frame."""
        kind = DEVICES.get(device_id, DEVICES["3"])["type"]
        for i in range(frames):
            if kind == "Finger":
                image = self.source.finger(self.identity_seed, p.SLAPS.get(sub_id, p.SLAPS[1])[0], i)
            elif kind == "Iris":
                image = self.source.iris(self.identity_seed, "left" if sub_id != 2 else "right")
            else:
                image = self.source.face(self.identity_seed)
            frame = _jpeg(image)
            yield (
                b"--mosipframe\r\nContent-Type: image/jpeg\r\nContent-Length: "
                + str(len(frame)).encode()
                + b"\r\n\r\n"
                + frame
                + b"\r\n"
            )
            time.sleep(0.02)

    # ----------------------------------------------------------------------------------------------
    def _make_app(self) -> Flask:
        app = Flask("ektp-sbi-emulator")

        def body() -> dict[str, Any]:
            data = request.get_json(force=True, silent=True)
            return data if isinstance(data, dict) else {}

        @app.route("/device", methods=SBI_METHODS)
        def discover() -> Response:
            if self.fail == "garbage":
                return Response(b"garbage", mimetype="application/json")
            kind = body().get("type", "Biometric Device")
            ids = [d for d, dev in DEVICES.items() if kind in ("Biometric Device", dev["type"])]
            return Response(
                json.dumps([self.device_entry(d, signed=False) | {"error": self._error(0)} for d in ids]),
                mimetype="application/json",
            )

        @app.route("/info", methods=SBI_METHODS)
        def info() -> Response:
            if self.fail == "garbage":
                return Response(b"garbage", mimetype="application/json")
            items = []
            for d in DEVICES:
                token = p.jws_sign(self.key, self.cert_der, self.device_entry(d, signed=True))
                items.append({"deviceInfo": token, "error": self._error(0)})
            return Response(json.dumps(items), mimetype="application/json")

        @app.route("/capture", methods=SBI_METHODS)
        def capture() -> Response:
            purpose = "Registration" if request.method in ("RCAPTURE", "POST") else "Auth"
            return self.capture(body(), purpose)

        @app.route("/stream", methods=SBI_METHODS)
        def stream() -> Response:
            req = body()
            frames = max(1, min(int(req.get("frames", 5)), 100))
            gen = self.stream(str(req.get("deviceId", "3")), int(req.get("deviceSubId", 0)), frames)
            return Response(gen, mimetype="multipart/x-mixed-replace; boundary=mosipframe")

        @app.route("/control", methods=["POST"])
        def control() -> Response:
            req = body()
            if "fail" in req:
                if req["fail"] not in FAIL_MODES:
                    return Response(
                        json.dumps({"error": f"fail must be one of {FAIL_MODES}"}),
                        status=400,
                        mimetype="application/json",
                    )
                self.fail = req["fail"]
            if "hold" in req and not isinstance(req["hold"], bool):
                return Response(
                    json.dumps({"error": "hold must be true or false"}), status=400, mimetype="application/json"
                )
            if "identity_seed" in req and ("hold" in req or not self.hold):
                self.identity_seed = int(req["identity_seed"])
            if "hold" in req:
                self.hold = req["hold"]
            if "impression" in req:
                self.impression = int(req["impression"])
            return Response(
                json.dumps(
                    {
                        "identity_seed": self.identity_seed,
                        "impression": self.impression,
                        "fail": self.fail,
                        "hold": self.hold,
                    }
                ),
                mimetype="application/json",
            )

        return app


class EmulatorThread:
    """The emulator served by werkzeug in a background thread (for tests and demos)."""

    def __init__(self, emulator: SbiEmulator, host: str = "127.0.0.1", port: int = 0) -> None:
        self.server: BaseWSGIServer = make_server(host, port, emulator.app, threaded=True)
        self.port = self.server.server_port
        emulator.port = self.port
        self.emulator = emulator
        self._thread = threading.Thread(target=self.server.serve_forever, name="sbi-emulator", daemon=True)

    def __enter__(self) -> EmulatorThread:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self._thread.join(timeout=5)


def serve(port: int = 4501, seed: int = 1) -> None:
    """Run the emulator in the foreground until interrupted."""
    emulator = SbiEmulator(identity_seed=seed, port=port)
    make_server("127.0.0.1", port, emulator.app, threaded=True).serve_forever()


__all__ = ["FAIL_MODES", "EmulatorThread", "ImageSource", "SbiEmulator", "serve"]
