"""MOSIP SBI scanners: a client for any SBI 0.9.5/1.0 service and an emulator to develop against.

Registers the scanner driver ``sbi`` and the command ``ektp sbi-emulator``. Protocol sources are
listed in :mod:`.protocol`.

Profile options for ``sbi``: ``port`` (one port) or ``ports`` (``[first, last]``, default
4501-4600, searched in parallel), ``timeout_ms`` (default 10000), ``trusted_keys`` (base64url
Ed25519 device keys) and ``trust_any_device`` (demos only).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import click
from ektp_plugins.scanners.sbi.client import SbiCapture, SbiClient
from ektp_plugins.scanners.sbi.protocol import PORT_RANGE, SbiDeviceError

from ektp_core import hookimpl
from ektp_core.devices.scanners import Sample, ScannerFactory, ScannerNotConnected, ScannerState, ScannerStatus
from ektp_core.domain.model import Modality
from ektp_core.registry import Registry

OPTIONS = {"port", "ports", "timeout_ms", "trusted_keys", "trust_any_device"}


def _template(modality: str, image: bytes) -> bytes | None:
    # Fingers carry their minutiae template where the biometrics extra (NBIS) is installed; the image
    # is kept either way, so a template can be extracted later.
    if modality != "finger":
        return None
    try:
        from ektp_plugins.scanners.nbis import iso_template_of
    except ImportError:
        return None
    return iso_template_of(image)


class SbiScanner:
    """The ``sbi`` scanner driver: finger, iris and face capture through one SBI service."""

    modalities = ("finger", "iris", "face")

    def __init__(self, name: str, options: dict[str, Any]) -> None:
        unknown = set(options) - OPTIONS
        if unknown:
            raise ValueError(f"sbi scanner {name}: unknown options {sorted(unknown)} (known: {sorted(OPTIONS)})")
        self.name = name
        ports = options.get("ports")
        self.ports = range(int(ports[0]), int(ports[1]) + 1) if ports else PORT_RANGE
        self.port: int | None = int(options["port"]) if "port" in options else None
        self.timeout_ms = int(options.get("timeout_ms", 10000))
        self.trusted_keys = list(options.get("trusted_keys", []))
        self.trust_any_device = bool(options.get("trust_any_device", False))
        if not self.trusted_keys and not self.trust_any_device:
            raise ValueError(f"sbi scanner {name}: give trusted_keys (or trust_any_device = true for a demo)")
        self._client: SbiClient | None = None

    @property
    def client(self) -> SbiClient:
        """The connected client (discovered on first use)."""
        if self._client is None:
            self._client = SbiClient(
                self.port,
                ports=self.ports,
                timeout_ms=self.timeout_ms,
                trusted_keys=self.trusted_keys,
                trust_any_device=self.trust_any_device,
            )
        return self._client

    # -- ektp_core.devices.scanners.BiometricScanner ----------------------------------------------------------

    def open(self) -> None:
        """Find the SBI service (the configured port, else 4501-4600) and verify its device info."""
        try:
            self.client.device_info()
        except SbiDeviceError as exc:
            self._client = None
            raise ScannerNotConnected(f"sbi scanner {self.name}: {exc}") from None

    def close(self) -> None:
        """Forget the service (SBI is stateless HTTP; nothing to release)."""
        self._client = None

    def status(self) -> ScannerStatus:
        """The service's devices, from MOSIPDISC / MOSIPDINFO."""
        try:
            devices = self.client.device_info()
        except SbiDeviceError as exc:
            return ScannerStatus(state=ScannerState.OFFLINE, message=str(exc))
        kinds = {d.type.lower() for d in devices}
        modalities = tuple(m for m in (Modality.FINGER, Modality.IRIS, Modality.FACE) if m.value in kinds)
        statuses = {d.status for d in devices}
        state = (
            ScannerState.READY
            if statuses <= {"Ready"}
            else (ScannerState.BUSY if "Busy" in statuses else ScannerState.NOT_READY)
        )
        first = devices[0] if devices else None
        return ScannerStatus(
            state=state,
            message=", ".join(sorted(statuses)),
            modalities=modalities,
            model=str(first.info.get("deviceCode", "")) if first else "",
            serial=first.device_id if first else "",
        )

    def capture(
        self,
        modality: Modality | str,
        positions: Iterable[str],
        *,
        exceptions: Iterable[str] = (),
        quality_threshold: int | None = None,
    ) -> list[Sample]:
        """Capture, every biometric's signature and the session's hash chain verified; all or nothing."""
        captured = self.capture_verified(
            str(Modality(modality).value), positions, exceptions, quality_threshold=quality_threshold
        )
        return [
            Sample(
                modality=Modality(c.modality),
                position=c.position,
                image=c.image,
                quality=c.quality,
                device=f"sbi:{c.device.device_id}",
                template=_template(c.modality, c.image),
            )
            for c in captured
        ]

    # -- SBI specifics -------------------------------------------------------------------------------------

    def new_session(self) -> None:
        """Start one resident's captures (a new hash chain)."""
        self.client.new_session()

    def capture_verified(
        self,
        modality: str,
        positions: Iterable[str],
        exceptions: Iterable[str] = (),
        quality_threshold: int | None = None,
    ) -> list[SbiCapture]:
        """Capture, verified, with the SBI details; see :meth:`SbiClient.rcapture`."""
        return self.client.rcapture(modality, positions, exceptions, quality_threshold=quality_threshold)

    def preview(self, modality: str, max_frames: int = 5) -> Iterator[bytes]:
        """JPEG preview frames."""
        return self.client.stream(modality, max_frames=max_frames)


def sbi_scanner(name: str, options: dict[str, Any]) -> SbiScanner:
    """The factory registered as ``sbi``."""
    return SbiScanner(name, options)


@click.command("sbi-emulator")
@click.option("--port", default=4501, show_default=True, help="Port on 127.0.0.1 (SBI uses 4501-4600).")
@click.option("--seed", default=1, show_default=True, help="The synthetic identity captured.")
def sbi_emulator_command(port: int, seed: int) -> None:
    """Run a MOSIP SBI emulator (finger slap, iris, face) until Ctrl-C; POST /control to change it."""
    from ektp_plugins.scanners.sbi.emulator import serve

    click.echo(f"SBI emulator on http://127.0.0.1:{port} (identity seed {seed}); Ctrl-C stops it")
    serve(port=port, seed=seed)


@hookimpl
def ektp_register_commands(cli: click.Group) -> None:
    """Add ``ektp sbi-emulator``."""
    cli.add_command(sbi_emulator_command)


@hookimpl
def ektp_register_scanners(registry: Registry[ScannerFactory]) -> None:
    """Register the ``sbi`` scanner driver."""
    registry.add("sbi", sbi_scanner, description="MOSIP SBI 0.9.5/1.0 device service (127.0.0.1:4501-4600)")
