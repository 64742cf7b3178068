"""``ektp demo``: a whole regency (Kota Bengkulu) on this machine, with one command.

The Dukcapil node and two kecamatan nodes (each its own deployment, SQLite, its own ``ektp serve``),
the central-system emulator, the SBI emulator for the recording desks, ``ektp sync run`` at every
kecamatan and ``ektp verify run`` at the Dukcapil node, all as child processes logging to
``DIR/logs/``. The first run seeds accounts, blanks and a few residents. Ctrl-C or SIGTERM stops
everything. See docs/demo.md.
"""

from __future__ import annotations

import signal
import time
from pathlib import Path

import click
from ektp_plugins.demo import seed as seed
from ektp_plugins.demo.children import Child, Children
from ektp_plugins.demo.layout import (
    HOST,
    KECAMATAN,
    OFFICE,
    PROFILES,
    DemoFolder,
    Ports,
    check_ports_free,
    open_folder,
    write_profiles,
)

from ektp_core.cli.options import fail, sigterm_as_interrupt
from ektp_core.config import Deployment
from ektp_core.domain.model import PrintJobState
from ektp_core.errors import EktpError

#: The line a supervisor (or a test) waits for: everything is up and seeded.
READY_LINE = "ektp demo is ready"
SYNC_INTERVAL = 3
VERIFY_INTERVAL = 3
SEED_TIMEOUT = 240.0


def _printing_sites(dukcapil: Deployment) -> list[str]:
    """The demo's sites that print, the office first."""
    demo_sites = {OFFICE, *(code for code, _ in KECAMATAN)}
    return sorted(
        (s.code for s in dukcapil.profile.sites if s.prints and s.code in demo_sites),
        key=lambda code: (code != OFFICE, code),
    )


def _start_children(
    children: Children, folder: DemoFolder, ports: Ports, deployments: list[Deployment], token: str
) -> None:
    env = {"EKTP_CENTRAL_TOKEN": token}
    logs = folder.logs
    children.start(
        Child(
            "central-system emulator",
            [
                "central-emulator",
                "--port",
                str(ports.central),
                "--data",
                str(folder.central_dir),
                "--config",
                str(folder.dukcapil_dir / "profile.toml"),
            ],
            logs / "central-emulator.log",
            env=env,
            ready_url=f"http://{HOST}:{ports.central}/api/v1/health",
        )
    )
    # The SBI service answers its own HTTP methods only; any answer at /device means it is up.
    children.start(
        Child(
            "SBI emulator",
            ["sbi-emulator", "--port", str(ports.sbi)],
            logs / "sbi-emulator.log",
            ready_url=f"http://{HOST}:{ports.sbi}/device",
            ready_status=False,
        )
    )
    for n, deployment in enumerate(deployments):
        name = "Dukcapil node" if n == 0 else f"kecamatan node {deployment.site.code}"
        # Only the Dukcapil node talks to the central system: the kecamatan nodes never hold its token.
        children.start(
            Child(
                name,
                ["serve", "--host", HOST, "--port", str(ports.node(n)), "-d", str(deployment.root)],
                logs / f"serve-{deployment.site.code}.log",
                env=env if n == 0 else None,
                ready_url=f"http://{HOST}:{ports.node(n)}/api/v1/health",
            )
        )


def _start_loops(children: Children, folder: DemoFolder, deployments: list[Deployment], token: str) -> None:
    env = {"EKTP_CENTRAL_TOKEN": token}
    dukcapil, *sites = deployments
    children.start(
        Child(
            "verification loop (Dukcapil node)",
            ["verify", "run", "--interval", str(VERIFY_INTERVAL), "--as", "verify-run", "-d", str(dukcapil.root)],
            folder.logs / "verify-run.log",
            env=env,
        )
    )
    for site in sites:
        children.start(
            Child(
                f"sync loop ({site.site.code})",
                ["sync", "run", "--interval", str(SYNC_INTERVAL), "-d", str(site.root)],
                folder.logs / f"sync-run-{site.site.code}.log",
            )
        )


def _seed(folder: DemoFolder, deployments: list[Deployment], ports: Ports, children: Children) -> None:
    """The first run's content; ``demo.json`` marks it done only at the end, so an interrupted seed runs
    again (accounts and blanks that exist are kept)."""
    dukcapil, *sites = deployments

    def alive() -> None:
        dead = children.first_dead()
        if dead is not None:
            raise dead.died()

    click.echo("Seeding the demo (first run):")
    made = seed.create_accounts(dukcapil, folder)
    click.echo(f"  {len(made)} account(s) created at the Dukcapil node")

    def arrived() -> bool:
        return all(
            {u for u, _r, code, _n in seed.demo_accounts() if code == site.site.code} <= seed.accounts_at(site)
            for site in sites
        )

    seed.wait_for("the kecamatan accounts to arrive through the feed", arrived, timeout=60, alive=alive)
    click.echo("  the kecamatan nodes received their accounts through the feed")
    seed.receive_blanks(dukcapil, sites, _printing_sites(dukcapil), click.echo)
    recorded = seed.record_residents(sites, ports.sbi, click.echo)
    seed.wait_for(
        "the residents' verdicts and print jobs at the Dukcapil node",
        lambda: seed.verified(dukcapil, list(recorded)),
        timeout=SEED_TIMEOUT,
        alive=alive,
    )
    click.echo("  verified by the central-system emulator; print jobs queued where the profile prints")
    with seed.lifecycle(dukcapil) as lc:
        jobs = sorted((j for j in lc.jobs() if j.enrolment_id in recorded), key=lambda j: j.created_at)
    if any(j.state is PrintJobState.PRINTED for j in jobs):
        click.echo("  a card was printed by an earlier run")
    elif not jobs:
        click.echo("  no card to print: the central-system emulator found none of the residents print-ready")
    else:
        where = jobs[0].site_code
        node = dukcapil if where == OFFICE else next(s for s in sites if s.site.code == where)
        operator = "operator.dukcapil" if where == OFFICE else f"operator.{dict(KECAMATAN)[where]}"
        # At a kecamatan that prints, the job arrives with the next pull of its feed.
        seed.wait_for(
            f"a print job to reach {where}",
            lambda: seed.print_one(node, where, operator, click.echo) is not None,
            timeout=60,
            alive=alive,
        )
    folder.seeded = True
    folder.save()


def _announce(folder: DemoFolder, deployments: list[Deployment], ports: Ports) -> None:
    click.echo("")
    click.echo(f"Demo of {deployments[0].profile.title} in {folder.root}")
    for n, deployment in enumerate(deployments):
        site = deployment.site
        click.echo(f"  {site.name} ({site.code}): http://{HOST}:{ports.node(n)}/")
    click.echo(
        f"  central-system emulator: http://{HOST}:{ports.central}/api/v1 ; SBI emulator: "
        f"http://{HOST}:{ports.sbi}/ (POST /control with 'hold': true picks the person it presents)"
    )
    click.echo(f"Accounts (also in {folder.credentials}):")
    for username, role, site_code, password in seed.read_credentials(folder.credentials):
        click.echo(f"  {username:<28} {role:<11} {site_code:<9} {password}")
    click.echo(f"Logs: {folder.logs}")
    click.echo(f"{READY_LINE}: press Ctrl-C to stop everything (the data stays for the next run)")


@click.command("demo")
@click.option(
    "--dir",
    "directory",
    default="ektp-demo",
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="The demo folder (created, or reused).",
)
@click.option(
    "--port",
    default=5000,
    show_default=True,
    type=click.IntRange(1024, 65535),
    help="The Dukcapil node's web UI; the kecamatan nodes and the emulators take the ports after it.",
)
@click.option(
    "--profile",
    type=click.Choice(PROFILES),
    default=None,
    help="The bundled profile (default kota-bengkulu; a reused folder keeps its own).",
)
@click.option("--fresh", is_flag=True, help="Delete the demo folder's earlier data first.")
def demo_command(directory: Path, port: int, profile: str | None, fresh: bool) -> None:
    """Run a demo of Kota Bengkulu: the Dukcapil node, two kecamatan nodes, the central-system and SBI
    emulators, with seeded accounts and residents, until Ctrl-C or SIGTERM."""
    ports = Ports(port)
    try:
        check_ports_free(ports)
        folder, created = open_folder(directory, profile=profile, fresh=fresh)
        deployments = write_profiles(folder, ports)
        token = folder.central_token()
    except EktpError as exc:
        fail(str(exc))
        return
    click.echo(f"{'Created' if created else 'Reusing'} the demo in {folder.root} (profile {folder.profile})")
    children = Children(click.echo)
    status = 0
    # Ctrl-C stops the demo even when it was started with SIGINT ignored (a background job of a script).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    with sigterm_as_interrupt():
        try:
            click.echo("Starting the services:")
            _start_children(children, folder, ports, deployments, token)
            seed.join_sites(deployments[0], deployments[1:], f"http://{HOST}:{ports.node(0)}/api/v1", click.echo)
            _start_loops(children, folder, deployments, token)
            if not folder.seeded:
                _seed(folder, deployments, ports, children)
            _announce(folder, deployments, ports)
            while (dead := children.first_dead()) is None:
                time.sleep(0.5)
            raise dead.died()
        except KeyboardInterrupt:
            click.echo("\nStopping...")
        except (EktpError, OSError) as exc:
            click.echo(f"error: {exc}", err=True)
            status = 1
        finally:
            # A second Ctrl-C must not leave children behind halfway through stopping them.
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            children.stop()
    click.echo("stopped" if status == 0 else "stopped after an error")
    if status:
        raise SystemExit(status)


__all__ = ["READY_LINE", "demo_command"]
