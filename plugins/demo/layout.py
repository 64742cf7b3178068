"""The demo's folder: its nodes, ports, profiles and state (``ektp demo``).

A demo folder holds one deployment per node (``dukcapil/`` and one per kecamatan, named by the site
code), the central-system emulator's data (``central/``), the children's logs (``logs/``), the
generated credentials (``credentials.txt``) and ``demo.json`` (which profile, which nodes, whether the
seed data was made). Each node's ``profile.toml`` is the bundled profile with the demo's adjustments,
written again at every start so the ports in it are the ones in use.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import socket
from pathlib import Path
from typing import Any

import attrs

from ektp_core.config import DEPLOYMENT_FILE, PROFILE_FILE, Deployment, load_deployment
from ektp_core.errors import EktpError
from ektp_core.services.node_init import create_deployment, profile_text

#: The bundled profiles a demo can use.
PROFILES = ("kota-bengkulu", "kota-bengkulu-kecamatan")
DEFAULT_PROFILE = "kota-bengkulu"
#: The Dukcapil office of Kota Bengkulu.
OFFICE = "17.71"
#: The kecamatan that get a node, with the slug their accounts are named after.
KECAMATAN = (("17.71.05", "kampung-melayu"), ("17.71.03", "teluk-segara"))
STATE_FILE = "demo.json"
LOCK_FILE = ".demo.lock"
CREDENTIALS_FILE = "credentials.txt"
HOST = "127.0.0.1"


@attrs.frozen
class Ports:
    """Where each service listens: the Dukcapil node on ``base``, the kecamatan nodes after it, then the
    central-system emulator and the SBI emulator."""

    base: int
    kecamatan: int = len(KECAMATAN)

    def node(self, index: int) -> int:
        """Node ``index`` (0: the Dukcapil node, 1..: the kecamatan nodes in :data:`KECAMATAN` order)."""
        return self.base + index

    @property
    def central(self) -> int:
        """The central-system emulator."""
        return self.base + self.kecamatan + 1

    @property
    def sbi(self) -> int:
        """The SBI emulator (the scanners at every recording desk of the demo)."""
        return self.base + self.kecamatan + 2

    def all(self) -> dict[int, str]:
        """Every port with what it is for."""
        used = {self.node(0): "the Dukcapil node"}
        for n, (code, _slug) in enumerate(KECAMATAN, 1):
            used[self.node(n)] = f"the kecamatan node {code}"
        used[self.central] = "the central-system emulator"
        used[self.sbi] = "the SBI emulator"
        return used


def check_ports_free(ports: Ports) -> None:
    """Refuse, naming the port and its use, when something already listens on one of the demo's ports."""
    if ports.sbi > 65535:
        raise EktpError(
            f"--port {ports.base} leaves no room for the demo's {len(ports.all())} ports (up to "
            f"{ports.sbi}); choose a lower port"
        )
    for port, use in ports.all().items():
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            # As the servers do: connections of an earlier run still closing (TIME_WAIT) do not count.
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((HOST, port))
            except OSError as exc:
                raise EktpError(
                    f"port {port} on {HOST} (for {use}) is taken ({exc.strerror or exc}): stop what "
                    f"listens there, or choose other ports with --port (the demo uses {ports.base}"
                    f"-{ports.sbi})"
                ) from None


def _scanner_block(site: str, sbi_port: int) -> str:
    return (
        f'[[devices.scanners]]\nname = "sbi-{site}"\ndriver = "sbi"\nsite = "{site}"\n'
        f"# The demo's SBI emulator generates its device key at each start, so the demo trusts any\n"
        f"# device on this port; a real desk lists its devices' keys in trusted_keys instead.\n"
        f"# A minute per capture: the emulator draws its synthetic fingers on this machine's CPU.\n"
        f"options = {{ port = {sbi_port}, trust_any_device = true, timeout_ms = 60000 }}\n\n"
    )


def adjusted_profile(text: str, profile: str, ports: Ports) -> str:
    """The bundled profile's text with the demo's changes: the verifier on the demo's central-system
    emulator, an SBI scanner at the office and at every kecamatan of the demo (on the demo's SBI
    emulator, put before the profile's own scanners so it is the one chosen first), an emulated
    Evolis printer and a proof printer at each printing kecamatan, and ``[web] secure_cookies = false``
    (the demo serves plain HTTP on 127.0.0.1)."""
    url = f"http://{HOST}:{ports.central}/api/v1"
    changed, count = re.subn(r'(?m)^url = "http://127\.0\.0\.1:\d+/api/v1"$', f'url = "{url}"', text)
    if count != 1:
        raise EktpError(
            f"profile {profile}: cannot find its [verification] url to point it at the demo's central-system emulator"
        )
    scanners = "".join(_scanner_block(code, ports.sbi) for code in (OFFICE, *(c for c, _ in KECAMATAN)))
    marker = "[[devices.scanners]]"
    changed = changed.replace(marker, scanners + marker, 1) if marker in changed else changed + "\n" + scanners
    extra = ["\n# ---- ektp demo: written at every start of `ektp demo` ----\n"]
    if profile == "kota-bengkulu-kecamatan":  # the kecamatan print: each also gets a proof printer
        for code, _slug in KECAMATAN:
            extra.append(
                f'[[devices.printers]]\nname = "proof-{code}"\ndriver = "proof"\nsite = "{code}"\n'
                f'options = {{ folder = "proofs" }}\n\n'
            )
    extra.append(
        "[web]\n# Plain HTTP on 127.0.0.1 only: the browser would not send Secure cookies back.\n"
        "secure_cookies = false\n"
    )
    return changed + "".join(extra)


@attrs.define
class DemoFolder:
    """A demo folder and what ``demo.json`` says of it."""

    root: Path
    profile: str = DEFAULT_PROFILE
    seeded: bool = False
    #: The open lock file: held while this process runs the demo.
    lock: Any = attrs.field(default=None, eq=False, repr=False)

    @property
    def dukcapil_dir(self) -> Path:
        """The Dukcapil node's deployment."""
        return self.root / "dukcapil"

    def site_dir(self, code: str) -> Path:
        """A kecamatan node's deployment."""
        return self.root / code

    @property
    def logs(self) -> Path:
        """Where the children write."""
        return self.root / "logs"

    @property
    def central_dir(self) -> Path:
        """The central-system emulator's data."""
        return self.root / "central"

    @property
    def credentials(self) -> Path:
        """The generated accounts and passwords."""
        return self.root / CREDENTIALS_FILE

    def node_dirs(self) -> list[Path]:
        """Every node's folder, the Dukcapil node first."""
        return [self.dukcapil_dir, *(self.site_dir(code) for code, _ in KECAMATAN)]

    def save(self) -> None:
        """Write ``demo.json``."""
        state = {
            "profile": self.profile,
            "office": OFFICE,
            "kecamatan": [c for c, _ in KECAMATAN],
            "seeded": self.seeded,
        }
        (self.root / STATE_FILE).write_text(json.dumps(state, indent=2) + "\n", "utf-8")

    def central_token(self) -> str:
        """The token the central-system emulator and the Dukcapil node share (made once, mode 0600)."""
        path = self.central_dir / "token"
        if path.exists() and path.read_text("utf-8").strip():
            return path.read_text("utf-8").strip()
        self.central_dir.mkdir(parents=True, exist_ok=True)
        token = secrets.token_urlsafe(24)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(token + "\n")
        return token


def _lock(root: Path) -> Any:
    """Hold ``root/.demo.lock`` for the life of this process: two demos on one folder would share its
    databases and fight over its emulated devices."""
    handle = open(root / LOCK_FILE, "a+")  # noqa: SIM115 - held open until the process ends
    try:
        import fcntl
    except ImportError:  # not on POSIX: no lock, as before
        return handle
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise EktpError(f"another ektp demo is running in {root}; stop it first (Ctrl-C in its terminal)") from None
    return handle


def open_folder(root: Path, *, profile: str | None, fresh: bool) -> tuple[DemoFolder, bool]:
    """The demo folder at ``root`` and whether it was just created; ``fresh`` deletes an earlier demo
    first. Refuses a folder that holds something other than a demo, and a profile other than the one
    an existing demo was made with."""
    root = root.resolve()
    state_path = root / STATE_FILE
    if root.exists() and not state_path.exists() and any(p.name != LOCK_FILE for p in root.iterdir()):
        raise EktpError(
            f"{root} is not empty and holds no ektp demo ({STATE_FILE}); choose another --dir (nothing was changed)"
        )
    root.mkdir(parents=True, exist_ok=True)
    lock = _lock(root)
    try:
        if fresh and state_path.exists():
            for entry in root.iterdir():  # everything but the lock this run holds
                if entry.name == LOCK_FILE:
                    continue
                if entry.is_dir() and not entry.is_symlink():
                    shutil.rmtree(entry)
                else:
                    entry.unlink()
        if state_path.exists():
            try:
                state: dict[str, Any] = json.loads(state_path.read_text("utf-8"))
            except ValueError as exc:
                raise EktpError(f"{state_path} is damaged ({exc}); start again with --fresh") from None
            folder = DemoFolder(
                root, profile=str(state.get("profile", DEFAULT_PROFILE)), seeded=bool(state.get("seeded")), lock=lock
            )
            if profile is not None and profile != folder.profile:
                raise EktpError(
                    f"the demo in {root} uses the profile {folder.profile}; run it without --profile, "
                    f"or give --fresh to start again with {profile}"
                )
            missing = [str(p) for p in folder.node_dirs() if not (p / DEPLOYMENT_FILE).exists()]
            if missing:
                raise EktpError(f"the demo in {root} lacks its node(s) {', '.join(missing)}; start again with --fresh")
            return folder, False
        folder = DemoFolder(root, profile=profile or DEFAULT_PROFILE, lock=lock)
        try:
            create_deployment(folder.dukcapil_dir, profile=folder.profile, site_code=OFFICE)
            for code, _slug in KECAMATAN:
                create_deployment(folder.site_dir(code), profile=folder.profile, site_code=code)
        except BaseException:  # half a demo is worse than none: the next run starts clean
            for path in folder.node_dirs():
                shutil.rmtree(path, ignore_errors=True)
            raise
        folder.save()
        return folder, True
    except BaseException:
        lock.close()
        raise


def write_profiles(folder: DemoFolder, ports: Ports) -> list[Deployment]:
    """Write every node's adjusted ``profile.toml`` for these ports; the nodes' deployments, Dukcapil first."""
    text, _source = profile_text(folder.profile)
    adjusted = adjusted_profile(text, folder.profile, ports)
    deployments = []
    for path in folder.node_dirs():
        (path / PROFILE_FILE).write_text(adjusted, "utf-8")
        deployments.append(load_deployment(path))
    return deployments
