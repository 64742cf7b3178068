"""Passwords, encryption at rest, signatures."""

from __future__ import annotations

import pytest

from ektp_core import security
from ektp_core.security import TamperedData


def test_password_verifier() -> None:
    verifier = security.hash_password("correct horse battery", n=2**10)
    assert "correct horse" not in verifier and verifier.startswith("scrypt$")
    assert security.verify_password("correct horse battery", verifier)
    assert not security.verify_password("wrong", verifier)
    assert not security.verify_password("x", "garbage")
    assert security.hash_password("same", n=2**4) != security.hash_password("same", n=2**4)  # salted
    with pytest.raises(ValueError, match="password"):
        security.hash_password("")


def test_encryption_binds_the_record_id() -> None:
    key = security.new_data_key()
    blob = security.encrypt(key, b"fingerprint image", record_id="enrol-1")
    assert b"fingerprint" not in blob
    assert security.decrypt(key, blob, record_id="enrol-1") == b"fingerprint image"
    with pytest.raises(TamperedData, match="enrol-2"):
        security.decrypt(key, blob, record_id="enrol-2")
    flipped = blob[:-1] + bytes([blob[-1] ^ 1])
    with pytest.raises(TamperedData):
        security.decrypt(key, flipped, record_id="enrol-1")
    with pytest.raises(TamperedData, match="wrong header"):
        security.decrypt(key, b"nonsense", record_id="enrol-1")
    with pytest.raises(TamperedData):
        security.decrypt(security.new_data_key(), blob, record_id="enrol-1")


def test_signatures() -> None:
    key = security.new_signing_key()
    public = security.load_public_key(security.public_key_text(key))
    sig = security.sign(key, b"packet")
    security.verify_signature(public, b"packet", sig)
    with pytest.raises(TamperedData):
        security.verify_signature(public, b"packet!", sig)
    with pytest.raises(TamperedData):
        security.verify_signature(security.new_signing_key().public_key(), b"packet", sig)


def test_node_keys_are_never_overwritten(tmp_path) -> None:
    security.save_node_keys(tmp_path)
    key = security.load_data_key(tmp_path)
    with pytest.raises(Exception, match="never overwritten"):
        security.save_node_keys(tmp_path)
    assert security.load_data_key(tmp_path) == key
    security.load_signing_key(tmp_path)
