"""What the SBI client and the emulator share: names, error codes, JWS and the capture hash chain.

Sources (MOSIP's public Secure Biometric Interface specification, read for the protocol only):

* https://docs.mosip.io/1.2.0/biometrics/secure-biometric-interface (SBI 0.9.5/1.0): ports
  4501-4600 on 127.0.0.1, the verbs MOSIPDISC, MOSIPDINFO, CAPTURE, RCAPTURE, STREAM, the
  ``bioSubType`` names, ``deviceSubId`` meanings, the digital ID and biometric ``data`` as JWS
  (RFC 7515 compact serialization), the ``hash``/``previousHash`` chain.
* https://docs.mosip.io/1.2.0/id-lifecycle-management/supporting-components/biometrics/sbispec
* https://mosip.github.io/documentation/1.2.0/sbi/schema_doc.html (request/response JSON schema and
  the error code list 0, 100-109).

Choices made here (documented because the specification leaves them to the device):

* Signatures are **EdDSA (Ed25519)**, RFC 8037, compact JWS written here with base64url and the
  ``cryptography`` library. The header carries ``x5c``: the device's self-signed X.509 certificate
  (standard base64 DER), from which a verifier takes the public key.
* ``hash`` = upper-case hex SHA-256 of ``bytes(previousHash) + SHA-256(bioValue bytes)``, where
  ``bioValue`` bytes are the decoded image and the first ``previousHash`` is the hex SHA-256 of the
  empty string.
* Codes 0 and 100-109 are the specification's; 110 (device busy), 111 (device not ready),
  112 (quality below the requested score) and 701 (capture timed out) are this module's own codes
  for conditions the schema leaves unnumbered.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.x509.oid import NameOID

from ektp_core.devices.scanners import ScannerError, ScannerProtocolError, UntrustedCapture
from ektp_core.domain.model import FINGER_POSITIONS

SPEC_VERSION = "0.9.5"
PORT_RANGE = range(4501, 4601)

#: ektp finger positions -> SBI bioSubType names.
FINGER_SUBTYPES: dict[str, str] = {
    "right_thumb": "Right Thumb",
    "right_index": "Right IndexFinger",
    "right_middle": "Right MiddleFinger",
    "right_ring": "Right RingFinger",
    "right_little": "Right LittleFinger",
    "left_thumb": "Left Thumb",
    "left_index": "Left IndexFinger",
    "left_middle": "Left MiddleFinger",
    "left_ring": "Left RingFinger",
    "left_little": "Left LittleFinger",
}
assert set(FINGER_SUBTYPES) == set(FINGER_POSITIONS)
IRIS_SUBTYPES: dict[str, str] = {"left": "Left", "right": "Right"}
SUBTYPE_TO_POSITION: dict[str, str] = {v: k for k, v in FINGER_SUBTYPES.items()}

#: Slap device sub-ids (specification: 1 left slap, 2 right slap, 3 two thumbs).
SLAPS: dict[int, tuple[str, ...]] = {
    1: ("left_index", "left_middle", "left_ring", "left_little"),
    2: ("right_index", "right_middle", "right_ring", "right_little"),
    3: ("left_thumb", "right_thumb"),
}
#: Iris device sub-ids (specification: 1 left, 2 right, 3 both).
IRIS_SUB_IDS: dict[int, tuple[str, ...]] = {1: ("left",), 2: ("right",), 3: ("left", "right")}

ERROR_MESSAGES: dict[int, str] = {
    0: "success",
    100: "the device is not registered",
    101: "unable to detect a biometric object (nothing on the sensor)",
    102: "technical error during extraction",
    103: "device tamper detected",
    104: "unable to connect to the management server",
    105: "image orientation error",
    106: "device not found",
    107: "the device public key has expired",
    108: "the domain public key is missing",
    109: "the requested number of biometrics (finger/iris) is not supported",
    110: "the device is busy with another capture",
    111: "the device is not ready",
    112: "the biometric quality does not meet the requested score",
    701: "the capture timed out",
}


class SbiError(ScannerError):
    """Anything that went wrong talking to an SBI service."""


class SbiDeviceError(SbiError):
    """The device (or the service) reported an error code, or did not answer in time."""

    def __init__(self, code: int, message: str | None = None) -> None:
        self.message = message or ERROR_MESSAGES.get(code, f"unknown SBI error code {code}")
        super().__init__(f"SBI error {code}: {self.message}")
        self.code: int = code  # type: ignore[assignment]  # SBI's numeric code, where other scanners give text


class SbiSignatureError(SbiError, UntrustedCapture):
    """A JWS from the device did not verify, or was signed by an untrusted key; its data was refused."""


class SbiHashChainError(SbiError, UntrustedCapture):
    """A capture's hash does not continue the session's chain; the captures were refused."""


class SbiProtocolError(SbiError, ScannerProtocolError):
    """The service answered something that is not SBI (bad JSON, missing fields)."""


def b64url(data: bytes) -> str:
    """Base64url without padding (RFC 7515)."""
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def unb64url(text: str) -> bytes:
    """The inverse of :func:`b64url` (padding optional)."""
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def new_device_key() -> tuple[Ed25519PrivateKey, bytes]:
    """A fresh Ed25519 device key and its self-signed certificate (DER)."""
    key = Ed25519PrivateKey.generate()
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, "ektp SBI emulator device"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "ektp"),
        ]
    )
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=365))
        .sign(key, None)
    )
    return key, cert.public_bytes(serialization.Encoding.DER)


def public_key_text(key: Ed25519PublicKey) -> str:
    """The raw Ed25519 public key, base64url (the form ``trusted_keys`` takes)."""
    return b64url(key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw))


def jws_sign(key: Ed25519PrivateKey, cert_der: bytes, payload: dict[str, Any]) -> str:
    """Compact JWS (EdDSA) of a JSON payload, the certificate in the ``x5c`` header."""
    header = {"alg": "EdDSA", "typ": "JWT", "x5c": [base64.b64encode(cert_der).decode("ascii")]}
    signing_input = f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(payload).encode())}"
    return f"{signing_input}.{b64url(key.sign(signing_input.encode('ascii')))}"


def jws_verify(token: str) -> tuple[dict[str, Any], Ed25519PublicKey]:
    """Check a compact JWS against the key in its own ``x5c`` certificate.

    Returns the payload and the signer's public key (whether that key is *trusted* is the
    caller's decision). Raises :class:`SbiSignatureError` for anything that does not verify.
    """
    try:
        header_b64, payload_b64, sig_b64 = token.split(".")
        header = json.loads(unb64url(header_b64))
        if header.get("alg") != "EdDSA":
            raise SbiSignatureError(f"unsupported JWS algorithm {header.get('alg')!r} (only EdDSA is accepted)")
        cert = x509.load_der_x509_certificate(base64.b64decode(header["x5c"][0]))
        public = cert.public_key()
        if not isinstance(public, Ed25519PublicKey):
            raise SbiSignatureError("the device certificate does not hold an Ed25519 key")
        public.verify(unb64url(sig_b64), f"{header_b64}.{payload_b64}".encode("ascii"))
        payload = json.loads(unb64url(payload_b64))
    except SbiSignatureError:
        raise
    except InvalidSignature:
        raise SbiSignatureError("a JWS signature from the device does not match its data") from None
    except (ValueError, KeyError, IndexError, TypeError, AttributeError) as exc:
        raise SbiSignatureError(f"a JWS from the device is malformed ({type(exc).__name__})") from None
    if not isinstance(payload, dict):
        raise SbiSignatureError("a JWS payload from the device is not a JSON object")
    return payload, public


EMPTY_HASH = hashlib.sha256(b"").hexdigest().upper()


def chain_hash(previous_hash: str, bio_value: bytes) -> str:
    """The next link: SHA-256(previousHash bytes + SHA-256(bioValue)), upper-case hex."""
    return hashlib.sha256(bytes.fromhex(previous_hash) + hashlib.sha256(bio_value).digest()).hexdigest().upper()
