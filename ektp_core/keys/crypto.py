"""Passwords, keys, encryption at rest and signatures.

* Passwords are stored as scrypt verifiers (``scrypt$n$r$p$salt$hash``), never in clear.
* Biometric blobs are encrypted with AES-256-GCM, the record id bound in as associated data, so a
  blob moved to another record fails to decrypt instead of decoding as someone else's. This module
  has the original single-key format (``EK1``); :mod:`ektp_core.keys.data_keys` the keyring and the format
  that names its key (``EK2``), which the node writes.
* Nodes sign what they send with Ed25519.
"""

from __future__ import annotations

import base64
import hmac
import json
import os
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from ektp_core.errors import EktpError

# scrypt cost: about 50 ms on an office PC; n=2**14 is OWASP's minimum for interactive logins.
SCRYPT_N = 2**14
SCRYPT_R = 8
SCRYPT_P = 1


class TamperedData(EktpError):
    """Encrypted or signed data failed its integrity check; it was not decoded."""

    message_code = "error.tampered_data"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def canonical_json(value: Any) -> bytes:
    """The one byte form of a JSON value that is signed and checked (sorted keys, no spaces, UTF-8)."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode("utf-8")


def hash_password(password: str, *, n: int = SCRYPT_N) -> str:
    """A salted scrypt verifier for a password."""
    if not password:
        raise ValueError("password: must not be empty")
    salt = os.urandom(16)
    digest = Scrypt(salt=salt, length=32, n=n, r=SCRYPT_R, p=SCRYPT_P).derive(password.encode("utf-8"))
    return f"scrypt${n}${SCRYPT_R}${SCRYPT_P}${_b64(salt)}${_b64(digest)}"


def verify_password(password: str, verifier: str) -> bool:
    """True when ``password`` matches ``verifier``; False for a wrong password or a malformed verifier."""
    try:
        scheme, n, r, p, salt, digest = verifier.split("$")
        if scheme != "scrypt":
            return False
        candidate = Scrypt(salt=_unb64(salt), length=32, n=int(n), r=int(r), p=int(p)).derive(password.encode("utf-8"))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(candidate, _unb64(digest))


# --------------------------------------------------------------------------------------------------
# Encryption at rest
# --------------------------------------------------------------------------------------------------


def new_data_key() -> bytes:
    """A fresh 256-bit AES key."""
    return AESGCM.generate_key(bit_length=256)


def encrypt(key: bytes, plaintext: bytes, *, record_id: str) -> bytes:
    """AES-GCM with a random nonce; the record id is authenticated, not stored."""
    nonce = os.urandom(12)
    return b"EK1" + nonce + AESGCM(key).encrypt(nonce, plaintext, record_id.encode("utf-8"))


def decrypt(key: bytes, blob: bytes, *, record_id: str) -> bytes:
    """The plaintext, or :class:`TamperedData` when the blob, the key or the record id does not match."""
    if len(blob) < 3 + 12 + 16 or blob[:3] != b"EK1":
        raise TamperedData("the blob is not an ektp encrypted blob (wrong header or too short)")
    try:
        return AESGCM(key).decrypt(blob[3:15], blob[15:], record_id.encode("utf-8"))
    except InvalidTag:
        raise TamperedData(f"the blob for record {record_id} failed its integrity check; it was not decoded") from None


# --------------------------------------------------------------------------------------------------
# Node keys and signatures
# --------------------------------------------------------------------------------------------------


def new_signing_key() -> Ed25519PrivateKey:
    """A fresh Ed25519 key for a node."""
    return Ed25519PrivateKey.generate()


def public_key_text(key: Ed25519PrivateKey | Ed25519PublicKey) -> str:
    """The raw public key, base64url: short enough to read out over the phone when joining a site."""
    pub = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return _b64(pub.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw))


def load_public_key(text: str) -> Ed25519PublicKey:
    """The inverse of :func:`public_key_text`."""
    return Ed25519PublicKey.from_public_bytes(_unb64(text))


def sign(key: Ed25519PrivateKey, data: bytes) -> str:
    """A detached signature, base64url."""
    return _b64(key.sign(data))


def verify_signature(public_key: Ed25519PublicKey, data: bytes, signature: str) -> None:
    """Return quietly for a good signature; raise :class:`TamperedData` otherwise."""
    try:
        public_key.verify(_unb64(signature), data)
    except (InvalidSignature, ValueError):
        raise TamperedData("the signature does not match the data and the sender's key") from None


def write_private_file(path: Path, data: bytes) -> None:
    """Write a secret readable by its owner only (0600), created that way from the start."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)


def fsync_dir(folder: Path) -> None:
    """Make the renames and new files in ``folder`` durable (a power cut right after must not undo
    them). POSIX only: Windows cannot open a directory and does not need it."""
    if os.name != "posix":
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def save_node_keys(keys_dir: Path) -> None:
    """Create a node's signing key, exchange key and data key in ``keys_dir`` (refuses to overwrite)."""
    signing, data = keys_dir / "node.ed25519", keys_dir / "data.key"
    for path in (signing, data, keys_dir / EXCHANGE_KEY_FILE):
        if path.exists():
            raise EktpError(f"{path} already exists; keys are never overwritten (rotate them instead)")
    pem = new_signing_key().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    write_private_file(signing, pem)
    write_private_file(data, new_data_key())
    load_exchange_key(keys_dir)


#: The node's X25519 key: sites seal biometrics in packets to the Dukcapil node's public half.
EXCHANGE_KEY_FILE = "node.x25519"


def load_exchange_key(keys_dir: Path) -> X25519PrivateKey:
    """The node's X25519 key, made on first use (nodes created before sync had none)."""
    path = keys_dir / EXCHANGE_KEY_FILE
    if not path.exists():
        pem = X25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # another process made it first: use theirs
        else:
            with os.fdopen(fd, "wb") as fh:
                fh.write(pem)
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, X25519PrivateKey):
        raise EktpError(f"{path} is not an X25519 key")
    return key


def load_signing_key(keys_dir: Path) -> Ed25519PrivateKey:
    """The node's signing key."""
    key = serialization.load_pem_private_key((keys_dir / "node.ed25519").read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise EktpError(f"{keys_dir / 'node.ed25519'} is not an Ed25519 key")
    return key


def load_data_key(keys_dir: Path) -> bytes:
    """The node's current AES key for biometrics at rest (``keys/data.key``). Blobs are read and written
    through :class:`ektp_core.keys.data_keys.DataKeyring`, which also holds the keys a rotation retired."""
    key = (keys_dir / "data.key").read_bytes()
    if len(key) != 32:
        raise EktpError(f"{keys_dir / 'data.key'} is not a 256-bit key")
    return key
