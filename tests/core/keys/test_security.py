"""Passwords, encryption at rest, signatures."""

from __future__ import annotations

import pytest

from ektp_core.keys import crypto
from ektp_core.keys.crypto import TamperedData


def test_password_verifier() -> None:
    verifier = crypto.hash_password("correct horse battery", n=2**10)
    assert "correct horse" not in verifier and verifier.startswith("scrypt$")
    assert crypto.verify_password("correct horse battery", verifier)
    assert not crypto.verify_password("wrong", verifier)
    assert not crypto.verify_password("x", "garbage")
    assert crypto.hash_password("same", n=2**4) != crypto.hash_password("same", n=2**4)  # salted
    with pytest.raises(ValueError, match="password"):
        crypto.hash_password("")


def test_encryption_binds_the_record_id() -> None:
    key = crypto.new_data_key()
    blob = crypto.encrypt(key, b"fingerprint image", record_id="enrol-1")
    assert b"fingerprint" not in blob
    assert crypto.decrypt(key, blob, record_id="enrol-1") == b"fingerprint image"
    with pytest.raises(TamperedData, match="enrol-2"):
        crypto.decrypt(key, blob, record_id="enrol-2")
    flipped = blob[:-1] + bytes([blob[-1] ^ 1])
    with pytest.raises(TamperedData):
        crypto.decrypt(key, flipped, record_id="enrol-1")
    with pytest.raises(TamperedData, match="wrong header"):
        crypto.decrypt(key, b"nonsense", record_id="enrol-1")
    with pytest.raises(TamperedData):
        crypto.decrypt(crypto.new_data_key(), blob, record_id="enrol-1")


def test_signatures() -> None:
    key = crypto.new_signing_key()
    public = crypto.load_public_key(crypto.public_key_text(key))
    sig = crypto.sign(key, b"packet")
    crypto.verify_signature(public, b"packet", sig)
    with pytest.raises(TamperedData):
        crypto.verify_signature(public, b"packet!", sig)
    with pytest.raises(TamperedData):
        crypto.verify_signature(crypto.new_signing_key().public_key(), b"packet", sig)


def test_node_keys_are_never_overwritten(tmp_path) -> None:
    crypto.save_node_keys(tmp_path)
    key = crypto.load_data_key(tmp_path)
    with pytest.raises(Exception, match="never overwritten"):
        crypto.save_node_keys(tmp_path)
    assert crypto.load_data_key(tmp_path) == key
    crypto.load_signing_key(tmp_path)
