"""Real nodes as separate processes on 127.0.0.1: a Dukcapil node (``ektp serve``) and two kecamatan
site nodes (``ektp sync ...``), with the link cut mid-packet, duplicates, a tampered packet, a wrong
key and a long backlog."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from contextlib import suppress
from pathlib import Path

import sqlalchemy as sa

from ektp_core.devices.scanners import Sample
from ektp_core.domain.model import Modality
from ektp_core.lifecycle import audit
from ektp_core.lifecycle.service import LifecycleService
from ektp_core.services.capture import CaptureService
from ektp_core.services.node_init import create_deployment
from ektp_core.store.tables import inbox, outbox
from ektp_core.sync.outbox import Outbox
from ektp_core.testing import make_enrolment

SITES = ("17.71.01", "17.71.05")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def ektp(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable, "-m", "ektp_core", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    if check and done.returncode != 0:
        raise AssertionError(f"ektp {' '.join(args)} exited {done.returncode}: {done.stdout}{done.stderr}")
    return done


class CuttingProxy:
    """A TCP proxy to the Dukcapil node that can cut the link once it has carried a number of request
    bytes (counted over all connections)."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.cut_after: int | None = None
        self.carried = 0
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._pipe, args=(client,), daemon=True).start()

    def _pipe(self, client: socket.socket) -> None:
        upstream = socket.create_connection(("127.0.0.1", self.target_port))

        def back() -> None:
            try:
                while data := upstream.recv(65536):
                    client.sendall(data)
            except OSError:
                pass
            finally:
                client.close()

        threading.Thread(target=back, daemon=True).start()
        try:
            while data := client.recv(65536):
                limit = self.cut_after
                if limit is not None and self.carried + len(data) > limit:
                    upstream.sendall(data[: max(0, limit - self.carried)])
                    self.carried = limit
                    break  # the link dies mid-packet
                upstream.sendall(data)
                self.carried += len(data)
        except OSError:
            pass
        finally:
            for s in (client, upstream):
                with suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
                s.close()

    def close(self) -> None:
        self.listener.close()


class Regency:
    """A Dukcapil node serving its API in its own process, and two site deployments."""

    def __init__(
        self,
        root: Path,
        urls: list[str],
        *,
        profile: str = "kota-bengkulu",
        office: str = "17.71",
        sites: tuple[str, ...] = SITES,
    ) -> None:
        self.root = root
        self.profile = profile
        self.dukcapil = create_deployment(root / "dukcapil", profile=profile, site_code=office, database_url=urls[0])
        self.sites = {
            code: create_deployment(root / code, profile=profile, site_code=code, database_url=url)
            for code, url in zip(sites, urls[1:], strict=True)
        }
        self.port = _free_port()
        self.server: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/v1"

    def start(self) -> None:
        log = open(self.root / "serve.log", "ab")  # noqa: SIM115 - kept open for the child's lifetime
        self.server = subprocess.Popen(
            [sys.executable, "-m", "ektp_core", "serve", "--port", str(self.port), "-d", str(self.dukcapil.root)],
            stdout=log,
            stderr=log,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{self.url}/health", timeout=1):
                    return
            except OSError:
                time.sleep(0.1)
        raise AssertionError((self.root / "serve.log").read_text())

    def stop(self) -> None:
        if self.server is not None:
            self.server.terminate()
            self.server.wait(timeout=20)

    def lifecycle(self, deployment: object) -> LifecycleService:
        store = deployment.open_store()  # type: ignore[attr-defined]
        return LifecycleService(store, deployment.plugin_host().hook, deployment)  # type: ignore[attr-defined]


def join_all(world: Regency, url: str | None = None) -> None:
    for code, deployment in world.sites.items():
        join_code = ektp("sync", "join-code", code, "--as", "admin", "-d", str(world.dukcapil.root)).stdout.strip()
        ektp("sync", "join", url or world.url, join_code, "-d", str(deployment.root))


def record_and_queue(world: Regency, code: str, count: int) -> list[str]:
    lc = world.lifecycle(world.sites[code])
    capture = CaptureService(lc)
    box = Outbox.for_deployment(lc)
    ids = []
    try:
        for _n in range(count):
            enrolment = lc.record(make_enrolment(site_code=code))
            # Sizes like a real record: finger images of about 60 KB with their templates, and a face.
            for position in ("right_thumb", "right_index", "left_thumb", "left_index"):
                capture.add(
                    enrolment.id,
                    Sample(
                        modality=Modality.FINGER,
                        position=position,
                        image=os.urandom(60_000),
                        quality=60,
                        device="test",
                        template=os.urandom(400),
                    ),
                    actor="op1",
                )
            capture.add(
                enrolment.id,
                Sample(modality=Modality.FACE, position="face", image=os.urandom(40_000), quality=90, device="test"),
                actor="op1",
            )
            ids.append(box.enqueue(enrolment.id, actor="op1"))
    finally:
        lc.store.dispose()
    return ids


def inbox_ids(world: Regency) -> list[str]:
    lc = world.lifecycle(world.dukcapil)
    try:
        with lc.store.read() as conn:
            return list(conn.execute(sa.select(inbox.c.packet_id)).scalars())
    finally:
        lc.store.dispose()


def test_two_sites_send_to_the_dukcapil_node(regency: Regency) -> None:
    join_all(regency)
    sent = {code: record_and_queue(regency, code, 3) for code in SITES}
    for code, deployment in regency.sites.items():
        report = json.loads(ektp("sync", "send", "--json", "-d", str(deployment.root)).stdout)
        assert sorted(report["sent"]) == sorted(sent[code]) and report["waiting"] == 0
    assert sorted(inbox_ids(regency)) == sorted(sent[SITES[0]] + sent[SITES[1]])
    status = json.loads(ektp("sync", "status", "--json", "-d", str(regency.sites[SITES[0]].root)).stdout)
    assert status["waiting"] == 0 and status["sent"] == 3


def test_a_link_cut_mid_packet_and_a_long_backlog_lose_nothing(regency: Regency) -> None:
    proxy = CuttingProxy(regency.port)
    try:
        join_all(regency, f"http://127.0.0.1:{proxy.port}/api/v1")
        site = regency.sites[SITES[0]]
        backlog = record_and_queue(regency, SITES[0], 25)
        proxy.carried = 0
        proxy.cut_after = 420_000  # packets are about 285 KB: the second one dies halfway through
        cut = ektp("sync", "send", "--json", "-d", str(site.root), check=False)
        assert cut.returncode == 3 and "nothing is lost" in cut.stderr
        first = json.loads(cut.stdout)
        # Two packets travel at once, so one or two may have made it before the cut; none is lost.
        assert len(first["sent"]) < 25 and len(first["sent"]) + first["waiting"] == 25
        proxy.cut_after = None
        done = json.loads(ektp("sync", "send", "--json", "-d", str(site.root)).stdout)
        assert len(done["sent"]) == first["waiting"] and done["waiting"] == 0
        assert sorted(inbox_ids(regency)) == sorted(backlog)
    finally:
        proxy.close()


def _post(url: str, data: bytes) -> tuple[int, dict[str, object]]:
    request = urllib.request.Request(
        f"{url}/packets", data=data, method="POST", headers={"Content-Type": "application/octet-stream"}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_duplicates_reordering_tampering_and_wrong_keys_over_http(regency: Regency) -> None:
    join_all(regency)
    ids = record_and_queue(regency, SITES[1], 3)
    lc = regency.lifecycle(regency.sites[SITES[1]])
    with lc.store.read() as conn:
        raw = {r.packet_id: bytes(r.packet) for r in conn.execute(sa.select(outbox.c.packet_id, outbox.c.packet))}
    lc.store.dispose()
    status, first = _post(regency.url, raw[ids[2]])  # out of order
    assert status == 200 and first["first"] is True
    status, again = _post(regency.url, raw[ids[2]])
    assert status == 200 and again["first"] is False and again["signature"] == first["signature"]
    tampered = bytearray(raw[ids[0]])
    tampered[len(tampered) // 2] ^= 0xFF
    status, refused = _post(regency.url, bytes(tampered))
    assert status == 403 and refused["error"]["code"] == "bad_signature"  # type: ignore[index]
    status, garbage = _post(regency.url, b"not a packet at all")
    assert status == 400 and garbage["error"]["code"] == "malformed"  # type: ignore[index]
    # The other site's packet re-signed... is impossible; a packet claiming to come from the first site
    # but signed with the second site's key is refused.
    other = regency.lifecycle(regency.sites[SITES[0]])
    foreign = Outbox(other, signing_key=Outbox.for_deployment(lc).signing_key, site_code=SITES[0], machine="pc-x")
    enrolment = other.record(make_enrolment(site_code=SITES[0]))
    packet_id = foreign.enqueue(enrolment.id, actor="op1")
    with other.store.read() as conn:
        forged = bytes(conn.execute(sa.select(outbox.c.packet).where(outbox.c.packet_id == packet_id)).scalar_one())
    other.store.dispose()
    status, refused = _post(regency.url, forged)
    assert status == 403 and refused["error"]["code"] == "bad_signature"  # type: ignore[index]
    # The site then sends everything; only its three genuine packets are stored, each once.
    ektp("sync", "send", "-d", str(regency.sites[SITES[1]].root))
    assert sorted(inbox_ids(regency)) == sorted(ids)
    dukcapil = regency.lifecycle(regency.dukcapil)
    with dukcapil.store.read() as conn:
        refusals = [e for e in audit.entries(conn) if e.action == "sync.packet_refused"]
    dukcapil.store.dispose()
    assert len(refusals) == 3


def test_the_api_describes_itself(regency: Regency) -> None:
    with urllib.request.urlopen(f"{regency.url}/openapi.json", timeout=10) as response:
        document = json.loads(response.read())
    assert document["openapi"].startswith("3.") and "/api/v1/packets" in document["paths"]
