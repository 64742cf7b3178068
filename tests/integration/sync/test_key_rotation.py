"""A site replaces its signing key: the Dukcapil node learns the new one with a one-time code, packets
that were waiting are signed again and go through, and the old key is no longer trusted."""

from __future__ import annotations

import json

from test_nodes import Regency, ektp, join_all, record_and_queue

from ektp_core.keys import crypto


def test_a_site_rotates_its_key_and_nothing_waiting_is_lost(regency: Regency) -> None:
    join_all(regency)
    site = "17.71.05"
    node = regency.sites[site]
    old_public = crypto.public_key_text(crypto.load_signing_key(node.keys_dir))
    [waiting] = record_and_queue(regency, site, 1)
    # A wrong code changes nothing: the old key stays.
    refused = ektp("sync", "rotate-key", "not-a-code", "-d", str(node.root), check=False)
    assert refused.returncode == 1 and "old key stays" in refused.stderr
    assert crypto.public_key_text(crypto.load_signing_key(node.keys_dir)) == old_public

    code = ektp("sync", "join-code", site, "--as", "admin", "-d", str(regency.dukcapil.root)).stdout.strip()
    done = ektp("sync", "rotate-key", code, "--as", "admin", "-d", str(node.root))
    assert "1 waiting packet(s) signed again" in done.stdout
    new_public = crypto.public_key_text(crypto.load_signing_key(node.keys_dir))
    assert new_public != old_public
    assert list(node.keys_dir.glob("node.ed25519.*.old")) and not (node.keys_dir / "node.ed25519.next").exists()
    # The packet made before the rotation goes through, and the feed answers the new key.
    sent = json.loads(ektp("sync", "send", "--json", "-d", str(node.root)).stdout)
    assert sent["sent"] == [waiting] and not sent["refused"]
    assert json.loads(ektp("sync", "pull", "--json", "-d", str(node.root)).stdout)["applied"] >= 1
    # The other site is untouched.
    other = regency.sites["17.71.01"]
    assert ektp("sync", "pull", "-d", str(other.root)).returncode == 0


def test_a_rotation_stopped_midway_finishes_with_the_same_key(regency: Regency) -> None:
    join_all(regency)
    site = "17.71.05"
    node = regency.sites[site]
    from cryptography.hazmat.primitives import serialization

    # A rotation that wrote its new key and stopped (the node lost power before registering it).
    pending = crypto.new_signing_key()
    crypto.write_private_file(
        node.keys_dir / "node.ed25519.next",
        pending.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ),
    )
    code = ektp("sync", "join-code", site, "--as", "admin", "-d", str(regency.dukcapil.root)).stdout.strip()
    ektp("sync", "rotate-key", code, "-d", str(node.root))
    assert crypto.public_key_text(crypto.load_signing_key(node.keys_dir)) == crypto.public_key_text(pending)
    record_and_queue(regency, site, 1)
    assert len(json.loads(ektp("sync", "send", "--json", "-d", str(node.root)).stdout)["sent"]) == 1
