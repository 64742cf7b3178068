"""Signed statements on the papers a resident takes home: what a paper certifies, in a form a QR code
carries and anyone holding the regency's published keys can check offline.

A statement is a small JSON object (:class:`PaperStatement`) signed with the issuing node's Ed25519
key. Its text form is ``EKTP1.<body>.<signature>``: the canonical JSON body in base64url, then the
detached signature over a domain prefix and that body, so no other signed object of ektp (a packet, a
receipt, a key statement) can pass for a paper's statement, or the reverse. The body names the key
that signed it by a short id (:func:`key_id`), not by the whole key, to keep the QR code small.

:func:`verify` checks a text against a set of :class:`TrustedKey` (the regency's published keys, see
:mod:`ektp_core.services.papers`) and either returns the statement or raises :class:`NotGenuine` with
the reason: ``malformed``, ``unknown_key``, ``tampered``, ``retired_key`` or ``expired``.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import enum
import hashlib
import json
import re
from collections.abc import Iterable
from typing import Any

import attrs
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ektp_core.errors import EktpError
from ektp_core.keys import crypto
from ektp_core.messages import Message

#: The text form's prefix: the format's version. A later format gets another prefix.
PREFIX = "EKTP1"
# What a signature covers: this line and the canonical body (see the module's docstring).
_SIGNED = b"ektp paper statement v1\n"
#: A statement's text form, found inside any text (a pasted URL, a line of a scanner's output).
TEXT_PATTERN = re.compile(r"EKTP1\.[A-Za-z0-9_-]{8,2000}\.[A-Za-z0-9_-]{60,120}")
#: Longest input :func:`parse` looks at (a QR code holds at most a few thousand characters).
MAX_TEXT = 4000


class PaperKind(enum.StrEnum):
    """The papers a resident takes home. The values are part of the signed statement: never change them."""

    #: Bukti perekaman: proof that the resident was recorded.
    PROOF = "bukti"
    #: Tanda terima: receipt of the card handed over.
    RECEIPT = "terima"
    #: Surat Keterangan pengganti KTP-el: stands in for a card that cannot be printed yet.
    SUKET = "suket"


class Reason(enum.StrEnum):
    """Why a statement is not genuine (its message is ``paper.check.<reason>``)."""

    MALFORMED = "malformed"
    UNKNOWN_KEY = "unknown_key"
    TAMPERED = "tampered"
    RETIRED_KEY = "retired_key"
    EXPIRED = "expired"


class NotGenuine(EktpError):
    """A paper's statement did not verify; ``reason`` says why, ``statement`` holds what it claims when
    it could be read (an expired Suket, a forged signature over a readable body)."""

    message_code = "error.paper_not_genuine"

    def __init__(self, reason: Reason, statement: PaperStatement | None = None, **params: Any) -> None:
        self.reason = reason
        self.statement = statement
        super().__init__(Message(f"paper.check.{reason.value}", **params))


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def key_id(public_key: str) -> str:
    """A short id of a signing public key (base64url text): 12 characters of its SHA-256 (72 bits, far
    beyond any regency's few hundred keys colliding by chance; a forger gains nothing from a
    collision, since the signature must still verify under the key found)."""
    return _b64(hashlib.sha256(_unb64(public_key)).digest())[:12]


# The body's keys: short, since the QR code carries them. Per kind, which dates it holds.
_COMMON = ("v", "k", "no", "nik", "nama", "tgl", "s", "kid")
_DATES: dict[PaperKind, tuple[str, ...]] = {
    PaperKind.PROOF: ("rekam",),
    PaperKind.RECEIPT: ("serah",),
    PaperKind.SUKET: ("rekam", "sd"),
}
_NIK = re.compile(r"^\d{16}$")
_NUMBER = re.compile(r"^[A-Z]{2,5}/[A-Za-z0-9._-]{1,32}/\d{4}/\d{1,9}$")


@attrs.frozen
class PaperStatement:
    """What one paper certifies: its kind and number, the resident's NIK and name, when it was issued
    and by which site, and the dates of what it attests (recorded, handed over, valid until)."""

    kind: PaperKind
    number: str
    nik: str
    nama: str
    issued_on: dt.date
    site: str
    #: The short id of the key that signs it (:func:`key_id`).
    kid: str
    #: When the resident was recorded (proof, Suket).
    recorded_on: dt.date | None = None
    #: When the card was handed over (receipt).
    handed_over_on: dt.date | None = None
    #: The last day a Suket stands in for the card.
    valid_until: dt.date | None = None

    def body(self) -> dict[str, Any]:
        """The signed JSON object."""
        found: dict[str, Any] = {
            "v": 1,
            "k": self.kind.value,
            "no": self.number,
            "nik": self.nik,
            "nama": self.nama,
            "tgl": self.issued_on.isoformat(),
            "s": self.site,
            "kid": self.kid,
        }
        dates = {"rekam": self.recorded_on, "serah": self.handed_over_on, "sd": self.valid_until}
        for name in _DATES[self.kind]:
            value = dates[name]
            if value is None:
                raise ValueError(f"a {self.kind.value} statement needs its date {name!r}")
            found[name] = value.isoformat()
        return found

    @classmethod
    def from_body(cls, body: Any) -> PaperStatement:
        """Read a body (its signature is not checked here); ``ValueError`` for anything unexpected."""
        if not isinstance(body, dict):
            raise ValueError("the statement is not a JSON object")
        if body.get("v") != 1:
            raise ValueError(f"unknown statement version {body.get('v')!r}")
        kind = PaperKind(str(body.get("k")))
        expected = {*_COMMON, *_DATES[kind]}
        if set(body) != expected:
            raise ValueError(f"unexpected fields {sorted(set(body) ^ expected)}")
        if not all(isinstance(body[k], str) for k in expected - {"v"}):
            raise ValueError("a field is not text")
        if not _NIK.match(body["nik"]):
            raise ValueError("the NIK is not 16 digits")
        if not _NUMBER.match(body["no"]):
            raise ValueError(f"the number {body['no']!r} is not a paper number")
        if not body["nama"].strip() or len(body["nama"]) > 120 or any(ord(c) < 32 for c in body["nama"]):
            raise ValueError("the name is empty, too long or holds control characters")

        def day(name: str) -> dt.date | None:
            return dt.date.fromisoformat(body[name]) if name in body else None

        return cls(
            kind=kind,
            number=body["no"],
            nik=body["nik"],
            nama=body["nama"],
            issued_on=dt.date.fromisoformat(body["tgl"]),
            site=body["s"],
            kid=body["kid"],
            recorded_on=day("rekam"),
            handed_over_on=day("serah"),
            valid_until=day("sd"),
        )

    def to_json(self) -> dict[str, Any]:
        """The statement for people and scripts (long names, ISO dates)."""
        return {
            "kind": self.kind.value,
            "number": self.number,
            "nik": self.nik,
            "nama": self.nama,
            "issued_on": self.issued_on.isoformat(),
            "site": self.site,
            "key_id": self.kid,
            "recorded_on": self.recorded_on.isoformat() if self.recorded_on else None,
            "handed_over_on": self.handed_over_on.isoformat() if self.handed_over_on else None,
            "valid_until": self.valid_until.isoformat() if self.valid_until else None,
        }


def sign(statement: PaperStatement, key: Ed25519PrivateKey) -> str:
    """The statement's text form, signed with ``key`` (whose id the statement must carry)."""
    if statement.kid != key_id(crypto.public_key_text(key)):
        raise ValueError("the statement names another key than the one signing it")
    body = crypto.canonical_json(statement.body())
    return f"{PREFIX}.{_b64(body)}.{crypto.sign(key, _SIGNED + body)}"


@attrs.frozen
class TrustedKey:
    """A signing key the regency published for one site: used since ``since``, retired on ``until``
    (None: still in use). A paper is genuine only if signed by its issuing site's key before retirement."""

    site: str
    key: str
    since: dt.datetime | None = None
    until: dt.datetime | None = None

    @property
    def kid(self) -> str:
        """The key's short id."""
        return key_id(self.key)

    def to_json(self) -> dict[str, Any]:
        """As the published keys list it."""
        return {
            "site": self.site,
            "key": self.key,
            "since": self.since.isoformat() if self.since else None,
            "until": self.until.isoformat() if self.until else None,
        }

    @classmethod
    def from_json(cls, raw: Any) -> TrustedKey:
        """Read one entry of the published keys (``ValueError`` when it is not one)."""
        if not isinstance(raw, dict) or set(raw) != {"site", "key", "since", "until"}:
            raise ValueError("not a published key entry")
        crypto.load_public_key(str(raw["key"]))

        def moment(value: Any) -> dt.datetime | None:
            if value is None:
                return None
            found = dt.datetime.fromisoformat(str(value))
            if found.tzinfo is None:
                raise ValueError(f"time {value!r} without a zone")
            return found

        return cls(str(raw["site"]), str(raw["key"]), moment(raw["since"]), moment(raw["until"]))


def find_text(text: str) -> str | None:
    """The statement's text form inside ``text`` (a pasted URL, a scanner's line), or None."""
    found = TEXT_PATTERN.search(text[:MAX_TEXT])
    return found.group(0) if found else None


def parse(text: str) -> tuple[PaperStatement, bytes, str]:
    """The statement, the signed bytes and the signature of a text form; :class:`NotGenuine`
    (``malformed``) when it is not one."""
    found = find_text(text or "")
    if found is None:
        raise NotGenuine(Reason.MALFORMED, detail="no ektp paper statement (EKTP1....) in the text")
    _prefix, body_text, signature = found.split(".")
    try:
        body = _unb64(body_text)
        statement = PaperStatement.from_body(json.loads(body.decode("utf-8")))
    except (ValueError, UnicodeDecodeError, binascii.Error) as exc:
        raise NotGenuine(Reason.MALFORMED, detail=str(exc)[:200]) from None
    if crypto.canonical_json(statement.body()) != body:
        raise NotGenuine(Reason.MALFORMED, detail="the statement is not in its canonical form")
    return statement, _SIGNED + body, signature


def verify(text: str, trusted: Iterable[TrustedKey], *, today: dt.date) -> tuple[PaperStatement, TrustedKey]:
    """The statement in ``text`` and the key that signed it, if genuine on ``today``; else
    :class:`NotGenuine` with the reason. The signature is checked before anything the body says is
    believed; the key must be one the regency published for the issuing site, in use on the issue day."""
    statement, signed, signature = parse(text)
    candidates = [k for k in trusted if k.kid == statement.kid and k.site == statement.site]
    if not candidates:
        raise NotGenuine(Reason.UNKNOWN_KEY, statement, kid=statement.kid, site=statement.site)
    for candidate in candidates:
        try:
            crypto.verify_signature(crypto.load_public_key(candidate.key), signed, signature)
        except (crypto.TamperedData, ValueError):
            continue
        key = candidate
        break
    else:
        raise NotGenuine(Reason.TAMPERED)
    if key.until is not None and statement.issued_on > key.until.date():
        raise NotGenuine(Reason.RETIRED_KEY, statement, until=key.until.date().isoformat())
    if statement.valid_until is not None and today > statement.valid_until:
        raise NotGenuine(Reason.EXPIRED, statement, until=statement.valid_until.isoformat())
    return statement, key
