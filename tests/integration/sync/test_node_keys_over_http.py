"""Real nodes: `ektp serve` follows the rotation of the Dukcapil node's keys made by `ektp sync
rotate-node-keys` in another process; a site learns the keys on its next send, another on its next
pull. (The rotation itself, in-process: tests/core/sync/test_node_key_rotation.py.)"""

from __future__ import annotations

import json

from test_nodes import Regency, ektp, join_all, record_and_queue


def test_rotate_node_keys_over_http(regency: Regency) -> None:
    join_all(regency)
    site_code = "17.71.05"
    node = regency.sites[site_code]
    [sealed_before] = record_and_queue(regency, site_code, 1)

    refused = ektp("sync", "rotate-node-keys", "--as", "admin", "-d", str(node.root), check=False)
    assert refused.returncode == 1 and "not the Dukcapil node" in refused.stderr
    done = ektp("sync", "rotate-node-keys", "--as", "admin", "-d", str(regency.dukcapil.root))
    assert "keys are now version 1" in done.stdout and ".old" in done.stdout
    status = json.loads(ektp("sync", "status", "--json", "-d", str(regency.dukcapil.root)).stdout)
    assert status["keys_version"] == 1 and len(status["archived_keys"]) == 2

    # The site learns the keys on its next send (the running server signs with the new key at once),
    # and the packet sealed to the old exchange key goes through.
    sent = ektp("sync", "send", "--json", "-d", str(node.root))
    assert json.loads(sent.stdout)["sent"] == [sealed_before] and "moved to version 1" in sent.stderr
    [sealed_after] = record_and_queue(regency, site_code, 1)
    ran = ektp("sync", "run", "--once", "-d", str(node.root))
    assert "sent 1" in ran.stderr and "pulled" in ran.stderr
    shown = json.loads(ektp("sync", "status", "--json", "-d", str(node.root)).stdout)
    assert shown["dukcapil_keys_version"] == 1 and shown["waiting"] == 0 and sealed_after
    # The other site slept through it: its pull walks the chain too.
    other = regency.sites["17.71.01"]
    pulled = ektp("sync", "pull", "-d", str(other.root))
    assert "moved to version 1" in pulled.stderr
    assert json.loads(ektp("sync", "status", "--json", "-d", str(other.root)).stdout)["dukcapil_keys_version"] == 1
