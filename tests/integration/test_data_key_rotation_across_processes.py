"""A service that was running during a data-key rotation run by another process (``ektp keys
rotate-data-key``) keeps reading the old blobs and writes new ones with the new key. (The rotation
itself, in-process: tests/core/keys/test_data_key_rotation.py.)"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from click.testing import CliRunner
from datakeykit import blob_rows, fill_node, plaintexts

from ektp_core.cli import cli
from ektp_core.config import Deployment
from ektp_core.devices.scanners import Sample
from ektp_core.domain.model import Modality
from ektp_core.keys import crypto, data_keys
from ektp_core.lifecycle.service import LifecycleService
from ektp_core.services.capture import CaptureService


@pytest.fixture
def node(ektp_deployment: Deployment, ektp_service: LifecycleService) -> tuple[Deployment, LifecycleService, dict]:
    return ektp_deployment, ektp_service, fill_node(ektp_service)


def test_a_service_opened_before_a_rotation_by_another_process_keeps_working(node) -> None:
    deployment, lc, named = node
    capture = CaptureService(lc)
    first = capture.image(named["fingers"], "finger", "right_thumb")  # the keyring is loaded now
    old_id = lc.data_key.current_id
    before = plaintexts(deployment)

    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "ektp_core",
            "keys",
            "rotate-data-key",
            "--as",
            "admin1",
            "--batch-size",
            "5",
            "-d",
            str(deployment.root),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "NO_COLOR": "1"},
    )
    assert done.returncode == 0, done.stderr
    assert "re-encrypted 5 of" in done.stderr
    new_id = data_keys.key_id(crypto.load_data_key(deployment.keys_dir))
    assert f"re-encrypted {len(before)} blobs under data key {new_id}" in done.stdout
    assert f"the old data key is retired ({old_id})" in done.stdout

    # The old service meets a key id it does not know, reads keys/ once, and reads on.
    assert capture.image(named["fingers"], "finger", "right_thumb") == first
    # It writes new blobs with the new key (it noticed data.key was replaced).
    capture.add(
        named["fingers"],
        Sample(modality=Modality.FINGER, position="left_thumb", image=b"new finger" * 30, quality=80, device="test"),
        actor="op1",
    )
    assert lc.data_key.current_id == new_id
    assert all(c.startswith(data_keys.header_for(new_id)) for _e, c in blob_rows(lc).values())
    assert capture.image(named["fingers"], "finger", "left_thumb") == b"new finger" * 30

    status = CliRunner().invoke(cli, ["keys", "status", "--json", "-d", str(deployment.root)])
    assert status.exit_code == 0 and f'"key_id": "{old_id}", "current": false, "blobs": 0' in status.output
