"""The demo's folder, ports and adjusted profiles, without running the whole demo (its child processes:
tests/integration/demo/test_demo_children.py)."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest
from ektp_plugins.demo.layout import (
    KECAMATAN,
    OFFICE,
    Ports,
    adjusted_profile,
    check_ports_free,
    open_folder,
    write_profiles,
)
from ektp_plugins.demo.seed import Account, read_credentials, write_credentials

from ektp_core.devices.declared import printer_settings, scanner_settings
from ektp_core.domain.model import Role
from ektp_core.errors import EktpError
from ektp_core.services.node_init import profile_text


def test_ports_follow_the_dukcapil_node() -> None:
    ports = Ports(6000)
    assert [ports.node(n) for n in range(3)] == [6000, 6001, 6002]
    assert (ports.central, ports.sbi) == (6003, 6004)
    assert len(ports.all()) == 5


def test_a_taken_port_is_named_with_its_use() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(EktpError, match=rf"port {port} .*the Dukcapil node.* is taken"):
            check_ports_free(Ports(port))
    with pytest.raises(EktpError, match="no room"):
        check_ports_free(Ports(65533))


@pytest.mark.parametrize("profile", ["kota-bengkulu", "kota-bengkulu-kecamatan"])
def test_the_profiles_are_adjusted_for_the_demo(tmp_path: Path, profile: str) -> None:
    folder, created = open_folder(tmp_path / "demo", profile=profile, fresh=False)
    assert created
    deployments = write_profiles(folder, Ports(7000))
    assert [d.site.code for d in deployments] == [OFFICE, *(code for code, _ in KECAMATAN)]
    for deployment in deployments:
        raw = deployment.profile.raw
        assert raw["verification"]["url"] == "http://127.0.0.1:7003/api/v1"
        assert raw["web"]["secure_cookies"] is False
        here = [s for s in scanner_settings(deployment.profile) if s.site == deployment.site.code]
        # The SBI scanner comes first at every desk, on the demo's emulator, trusting its changing key.
        assert here[0].driver == "sbi"
        assert here[0].options == {"port": 7004, "trust_any_device": True, "timeout_ms": 60000}
        printers = {p.driver for p in printer_settings(deployment.profile) if p.site == deployment.site.code}
        prints = deployment.site.code == OFFICE or profile == "kota-bengkulu-kecamatan"
        assert printers == ({"evolis", "proof"} if prints else set())
    # A second start on other ports writes the profiles again.
    folder.lock.close()
    again, created = open_folder(tmp_path / "demo", profile=None, fresh=False)
    assert not created and again.profile == profile
    assert write_profiles(again, Ports(8000))[0].profile.raw["verification"]["url"] == "http://127.0.0.1:8003/api/v1"


def test_a_profile_without_a_verification_url_is_refused() -> None:
    text, _ = profile_text("kota-bengkulu")
    with pytest.raises(EktpError, match="verification"):
        adjusted_profile(text.replace('url = "http://127.0.0.1:4800/api/v1"', ""), "kota-bengkulu", Ports(5000))


def test_a_demo_folder_keeps_its_profile_and_fresh_starts_again(tmp_path: Path) -> None:
    root = tmp_path / "demo"
    folder, _ = open_folder(root, profile="kota-bengkulu", fresh=False)
    (root / "dukcapil" / "marker").write_text("old")
    folder.lock.close()
    with pytest.raises(EktpError, match="uses the profile kota-bengkulu"):
        open_folder(root, profile="kota-bengkulu-kecamatan", fresh=False)
    folder, created = open_folder(root, profile="kota-bengkulu-kecamatan", fresh=True)
    assert created and folder.profile == "kota-bengkulu-kecamatan"
    assert not (root / "dukcapil" / "marker").exists()


def test_a_folder_that_lost_a_node_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "demo"
    open_folder(root, profile=None, fresh=False)[0].lock.close()
    (root / "17.71.05" / "ektp.toml").unlink()
    with pytest.raises(EktpError, match="lacks its node"):
        open_folder(root, profile=None, fresh=False)


def test_credentials_are_private_and_read_back(tmp_path: Path) -> None:
    path = tmp_path / "credentials.txt"
    write_credentials(path, [Account("operator.kampung-melayu", Role.OPERATOR, "17.71.05", "Operator", "s3cret-pw")])
    assert os.stat(path).st_mode & 0o777 == 0o600
    assert read_credentials(path) == [("operator.kampung-melayu", "operator", "17.71.05", "s3cret-pw")]


def test_one_demo_at_a_time_in_a_folder(tmp_path: Path) -> None:
    folder, _ = open_folder(tmp_path / "demo", profile=None, fresh=False)
    with pytest.raises(EktpError, match="another ektp demo is running"):
        open_folder(tmp_path / "demo", profile=None, fresh=True)
    assert (tmp_path / "demo" / "dukcapil" / "ektp.toml").exists()  # --fresh deleted nothing
    folder.lock.close()
    again, created = open_folder(tmp_path / "demo", profile=None, fresh=True)
    assert created
    again.lock.close()


def test_verify_run_once_runs_one_round_and_stops(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from ektp_core.cli import cli
    from ektp_core.services.node_init import create_deployment

    deployment = create_deployment(tmp_path / "node", profile="minimal")
    with socket.socket() as s:  # a port nobody listens on once closed
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    profile = deployment.root / "profile.toml"
    profile.write_text(profile.read_text().replace("127.0.0.1:4800", f"127.0.0.1:{port}"))
    result = CliRunner().invoke(
        cli, ["verify", "run", "--once", "-d", str(deployment.root)], env={"EKTP_CENTRAL_TOKEN": "t"}
    )
    assert result.exit_code == 0, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and "sent 0, verdicts 0" in lines[0] and "cards reported 0" in lines[0]
