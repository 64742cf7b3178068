"""Sync packets: one enrolment, as a site node sends it to the Dukcapil node.

A packet is bytes::

    b"EKP1" | header length (4 bytes, big-endian) | header (UTF-8 JSON) | sealed biometrics | signature (64)

* the **header** names the packet (``site+machine+sequence+timestamp``), the enrolment (its biodata
  and the list of its captures, without images) and the length of the sealed part;
* the **sealed biometrics** are every image and template of the enrolment, encrypted to the Dukcapil
  node's X25519 public key: an ephemeral X25519 key agreement, HKDF-SHA256, then AES-256-GCM with the
  packet id as associated data, so a sealed part moved into another packet does not open;
* the **signature** is the site's Ed25519 signature over the SHA-256 of everything before it (prefixed
  with a domain string), so a 1 MB packet is hashed once, and that hash also identifies its content.

Only the Dukcapil node can read the biometrics; anyone can check who sent the packet; a changed
byte anywhere is refused.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
import struct
from collections.abc import Mapping, Sequence
from typing import Any

import attrs
from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from ektp_core.errors import EktpError

MAGIC = b"EKP1"
_LENGTH = struct.Struct(">I")
_SIGNATURE = 64
#: Limits that keep a broken or hostile packet from exhausting a node.
MAX_HEADER = 1 << 20
MAX_PACKET = 64 << 20
# Site codes are Kemendagri codes ("17.71.05") or a profile's own ("17.71-JB1"); never a "+".
_ID = re.compile(
    r"^(?P<site>[0-9A-Za-z][0-9A-Za-z.-]{1,31})\+(?P<machine>[A-Za-z0-9-]{1,32})\+"
    r"(?P<seq>[0-9]{1,12})\+(?P<stamp>[0-9]{8}T[0-9]{6}Z)$"
)
_HKDF_INFO = b"ektp packet v1"
_SIGNED = b"ektp packet v1 sha256:"


class PacketRefused(EktpError):
    """A packet that is malformed, tampered with, signed by the wrong key, or cannot be opened."""

    message_code = "error.packet_refused"

    def __init__(self, reason: str, *, code: str = "refused") -> None:
        super().__init__(reason)
        self.code = code


@attrs.frozen
class PacketId:
    """``site+machine+sequence+timestamp``: unique per site machine, readable in logs."""

    site: str
    machine: str
    seq: int
    stamp: str

    def __str__(self) -> str:
        return f"{self.site}+{self.machine}+{self.seq:09d}+{self.stamp}"

    @classmethod
    def parse(cls, text: str) -> PacketId:
        """Read an id; raises :class:`PacketRefused` for anything else."""
        match = _ID.match(text) if isinstance(text, str) else None
        if match is None:
            raise PacketRefused(f"not a packet id: {str(text)[:80]!r}", code="malformed")
        return cls(match["site"], match["machine"], int(match["seq"]), match["stamp"])

    @classmethod
    def new(cls, site: str, machine: str, seq: int, at: dt.datetime) -> PacketId:
        """The id of a new packet made ``at``."""
        return cls.parse(str(cls(site, machine, seq, at.astimezone(dt.UTC).strftime("%Y%m%dT%H%M%SZ"))))


@attrs.frozen
class Packet:
    """An opened packet: its id, its header and the biometrics by name."""

    id: PacketId
    header: Mapping[str, Any]
    blobs: Mapping[str, bytes] = attrs.field(repr=False)
    #: :func:`content_digest`: a resend with other content under the same id differs.
    digest: str = ""
    #: Which of the keys given to :func:`open_packet` opened the biometrics (0: the first, the current one).
    sealed_to: int = 0


# -- keys ------------------------------------------------------------------------------------------


def exchange_public_text(key: X25519PrivateKey | X25519PublicKey) -> str:
    """An X25519 public key as base64url text (the Dukcapil node publishes it to its sites)."""
    import base64

    pub = key.public_key() if isinstance(key, X25519PrivateKey) else key
    raw = pub.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def load_exchange_public(text: str) -> X25519PublicKey:
    """The inverse of :func:`exchange_public_text`."""
    import base64

    try:
        return X25519PublicKey.from_public_bytes(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
    except ValueError:
        raise EktpError(f"not an X25519 public key: {text[:60]!r}") from None


# -- sealing -----------------------------------------------------------------------------------------


def _key(shared: bytes, ephemeral: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=ephemeral, info=_HKDF_INFO).derive(shared)


def _pack_blobs(blobs: Mapping[str, bytes]) -> bytes:
    parts = [_LENGTH.pack(len(blobs))]
    for name, data in blobs.items():
        raw = name.encode("utf-8")
        parts += [_LENGTH.pack(len(raw)), raw, _LENGTH.pack(len(data)), data]
    return b"".join(parts)


def _unpack_blobs(data: bytes) -> dict[str, bytes]:
    try:
        (count,), offset = _LENGTH.unpack_from(data, 0), _LENGTH.size
        blobs: dict[str, bytes] = {}
        for _ in range(count):
            (size,) = _LENGTH.unpack_from(data, offset)
            name = data[offset + 4 : offset + 4 + size].decode("utf-8")
            offset += 4 + size
            (size,) = _LENGTH.unpack_from(data, offset)
            blobs[name] = data[offset + 4 : offset + 4 + size]
            if len(blobs[name]) != size:
                raise ValueError("truncated")
            offset += 4 + size
    except (struct.error, UnicodeDecodeError, ValueError):
        raise PacketRefused("the sealed biometrics do not parse", code="malformed") from None
    if offset != len(data):
        raise PacketRefused("trailing bytes after the sealed biometrics", code="malformed")
    return blobs


def seal(recipient: X25519PublicKey, blobs: Mapping[str, bytes], *, packet_id: str) -> bytes:
    """Encrypt ``blobs`` so that only ``recipient`` opens them, bound to ``packet_id``."""
    ephemeral = X25519PrivateKey.generate()
    eph_raw = ephemeral.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    nonce = os.urandom(12)
    key = _key(ephemeral.exchange(recipient), eph_raw)
    return eph_raw + nonce + AESGCM(key).encrypt(nonce, _pack_blobs(blobs), packet_id.encode("ascii"))


def unseal(
    private: X25519PrivateKey | Sequence[X25519PrivateKey], sealed: bytes, *, packet_id: str
) -> dict[str, bytes]:
    """The blobs of :func:`seal`; :class:`PacketRefused` when they were not sealed to this node or
    were changed or moved. ``private`` may be several keys (the current one first): see
    :func:`unseal_with`."""
    return unseal_with(private, sealed, packet_id=packet_id)[0]


def unseal_with(
    private: X25519PrivateKey | Sequence[X25519PrivateKey], sealed: bytes, *, packet_id: str
) -> tuple[dict[str, bytes], int]:
    """The blobs of :func:`seal` and the position in ``private`` of the key that opened them.

    The Dukcapil node passes its current exchange key and the archived ones: a packet sealed before
    a site learnt of a key rotation still opens. Each wrong key fails on the GCM tag, so trying
    them costs one key agreement and one pass over the data each, and never yields wrong blobs."""
    keys = [private] if isinstance(private, X25519PrivateKey) else list(private)
    if len(sealed) < 32 + 12 + 16:
        raise PacketRefused("sealed biometrics too short", code="malformed")
    eph_raw, nonce, body = sealed[:32], sealed[32:44], sealed[44:]
    for index, key in enumerate(keys):
        try:
            aes = _key(key.exchange(X25519PublicKey.from_public_bytes(eph_raw)), eph_raw)
            opened = AESGCM(aes).decrypt(nonce, body, packet_id.encode("ascii"))
        except (InvalidTag, ValueError):
            continue
        return _unpack_blobs(opened), index
    raise PacketRefused("the biometrics were not sealed to this node, or were changed on the way", code="tampered")


# -- building and reading ------------------------------------------------------------------------------


def build(
    packet_id: PacketId,
    header: Mapping[str, Any],
    blobs: Mapping[str, bytes],
    *,
    signer: Ed25519PrivateKey,
    recipient: X25519PublicKey,
) -> bytes:
    """The bytes of a new packet (signed by the site, biometrics sealed to the Dukcapil node)."""
    sealed = seal(recipient, blobs, packet_id=str(packet_id))
    head = json.dumps(
        {**header, "packet_id": str(packet_id), "sealed_length": len(sealed)},
        ensure_ascii=False,
        separators=(",", ":"),
        sort_keys=True,
    ).encode("utf-8")
    if len(head) > MAX_HEADER:
        raise EktpError(f"packet header of {len(head)} bytes is over the {MAX_HEADER} limit")
    unsigned = MAGIC + _LENGTH.pack(len(head)) + head + sealed
    return unsigned + signer.sign(_SIGNED + hashlib.sha256(unsigned).digest())


def resign(data: bytes, signer: Ed25519PrivateKey) -> bytes:
    """The same packet signed with another key (a site that rotated its key re-signs what waits in its
    outbox). The content, and so :func:`content_digest`, stays the same: a resend is still a resend."""
    peek(data)
    unsigned = data[:-_SIGNATURE]
    return unsigned + signer.sign(_SIGNED + hashlib.sha256(unsigned).digest())


def peek(data: bytes) -> tuple[PacketId, dict[str, Any]]:
    """The id and header of a packet, unverified (to find the sender's key). Raises PacketRefused."""
    if len(data) > MAX_PACKET:
        raise PacketRefused(f"packet of {len(data)} bytes is over the {MAX_PACKET} limit", code="malformed")
    if len(data) < len(MAGIC) + 4 + _SIGNATURE or data[:4] != MAGIC:
        raise PacketRefused("not an ektp packet (wrong magic or too short)", code="malformed")
    (length,) = _LENGTH.unpack_from(data, 4)
    if length > MAX_HEADER or 8 + length + _SIGNATURE > len(data):
        raise PacketRefused("packet header length out of range", code="malformed")
    try:
        header = json.loads(data[8 : 8 + length])
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise PacketRefused("packet header is not JSON", code="malformed") from None
    if not isinstance(header, dict):
        raise PacketRefused("packet header is not an object", code="malformed")
    packet_id = PacketId.parse(header.get("packet_id", ""))
    if 8 + length + int(header.get("sealed_length", -1)) + _SIGNATURE != len(data):
        raise PacketRefused("packet length does not match its header (cut short?)", code="malformed")
    return packet_id, header


def content_digest(data: bytes) -> str:
    """The SHA-256 (hex) of a packet's signed content: what its signature covers, and what tells a
    resend (same content) from another packet under the same id."""
    return hashlib.sha256(data[:-_SIGNATURE]).hexdigest()


def open_packet(
    data: bytes,
    *,
    sender: Ed25519PublicKey,
    private: X25519PrivateKey | Sequence[X25519PrivateKey],
    digest: str | None = None,
) -> Packet:
    """Verify the site's signature first (nothing is decrypted before), then open the biometrics.
    ``digest`` is :func:`content_digest` of ``data`` when the caller computed it already; ``private``
    is the exchange key, or the current and archived ones (:attr:`Packet.sealed_to` says which opened)."""
    packet_id, header = peek(data)
    digest = digest or content_digest(data)
    try:
        sender.verify(data[-_SIGNATURE:], _SIGNED + bytes.fromhex(digest))
    except InvalidSignature:
        raise PacketRefused(
            f"packet {packet_id} does not carry a valid signature of site {packet_id.site}", code="bad_signature"
        ) from None
    length = _LENGTH.unpack_from(data, 4)[0]
    blobs, sealed_to = unseal_with(private, data[8 + length : -_SIGNATURE], packet_id=str(packet_id))
    return Packet(packet_id, header, blobs, digest, sealed_to)


def blob_names(captures: Sequence[Mapping[str, Any]]) -> list[str]:
    """The blob names a packet's capture list refers to (each image and template)."""
    names = []
    for c in captures:
        for key in ("image", "template"):
            if c.get(key):
                names.append(str(c[key]))
    return names
