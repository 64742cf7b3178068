"""The Dukcapil node's signed receipt for one packet, and how a site reaches the Dukcapil node.

A receipt says whether the packet was accepted or refused (and why); the site keeps it as proof. A
resend of the same packet gets the first receipt again (``first`` false).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

import attrs
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ektp_core.keys import crypto
from ektp_core.sync import packets

#: What a receipt may say about its packet (API v1's receipt ``status``).
STATUSES = ("accepted", "refused")


@attrs.frozen
class Receipt:
    """The Dukcapil node's signed answer to one packet."""

    packet_id: str
    status: str  # "accepted" or "refused"
    enrolment_id: str | None
    received_at: str
    reason: str | None = None
    #: False when this answers a resend (the first answer, given again).
    first: bool = True

    def body(self) -> dict[str, Any]:
        """The signed part (``first`` is not signed: it differs between the first answer and a resend)."""
        return {
            "packet_id": self.packet_id,
            "status": self.status,
            "enrolment_id": self.enrolment_id,
            "received_at": self.received_at,
            "reason": self.reason,
        }


def sign_receipt(key: Ed25519PrivateKey, receipt: Receipt) -> dict[str, Any]:
    """The receipt as sent: its body, ``first`` and the Dukcapil node's signature over the body."""
    return {
        **receipt.body(),
        "first": receipt.first,
        "signature": crypto.sign(key, crypto.canonical_json(receipt.body())),
    }


def check_receipt(signed: Mapping[str, Any], dukcapil_key: str, packet_id: str) -> Receipt:
    """A receipt whose signature and packet id check out; :class:`packets.PacketRefused` otherwise."""
    try:
        receipt = Receipt(
            packet_id=str(signed["packet_id"]),
            status=str(signed["status"]),
            enrolment_id=signed.get("enrolment_id"),
            received_at=str(signed["received_at"]),
            reason=signed.get("reason"),
            first=bool(signed.get("first", True)),
        )
        crypto.verify_signature(
            crypto.load_public_key(dukcapil_key), crypto.canonical_json(receipt.body()), str(signed["signature"])
        )
    except (KeyError, TypeError, ValueError, crypto.TamperedData):
        raise packets.PacketRefused("the receipt is not signed by the Dukcapil node", code="bad_signature") from None
    if receipt.packet_id != packet_id:
        raise packets.PacketRefused(f"the receipt answers {receipt.packet_id}, not {packet_id}", code="mismatch")
    if receipt.status not in STATUSES:
        raise packets.PacketRefused(
            f"the receipt's status {receipt.status!r} is neither accepted nor refused", code="malformed"
        )
    return receipt


class Transport(Protocol):
    """How a site reaches the Dukcapil node (the HTTP client of the web plugin, or a test's)."""

    def send_packet(self, packet: bytes) -> Mapping[str, Any]:
        """Deliver one packet and return the signed receipt. Raise ``ConnectionError`` or ``OSError``
        (including timeouts) when the link is down: the packet then waits for the next try."""
