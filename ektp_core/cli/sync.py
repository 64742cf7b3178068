"""``ektp sync ...``: joining the Dukcapil node, sending packets, pulling the feed, rotating keys."""

from __future__ import annotations

import contextlib
import functools
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click
import sqlalchemy as sa

from ektp_core.cli.options import deployment_option, fail, open_deployment, sigterm_as_interrupt
from ektp_core.domain.model import SiteKind
from ektp_core.errors import EktpError
from ektp_core.keys import crypto
from ektp_core.lifecycle import audit
from ektp_core.lifecycle.actions import AuditAction
from ektp_core.lifecycle.service import LifecycleService
from ektp_core.messages import text_of
from ektp_core.store.read_models import sync_status
from ektp_core.store.repository import utc
from ektp_core.store.tables import node_key_transitions
from ektp_core.sync import node_keys
from ektp_core.sync.feed import FeedReader, FeedRefused
from ektp_core.sync.http import HttpTransport, NodeRefused
from ektp_core.sync.inbox import Inbox
from ektp_core.sync.outbox import SEND_PARALLEL, Outbox


@contextmanager
def _lifecycle(deployment_dir: Path | None) -> Iterator[LifecycleService]:
    deployment = open_deployment(deployment_dir)
    store = deployment.open_store()
    try:
        yield LifecycleService(store, deployment.plugin_host().hook, deployment)
    finally:
        store.dispose()


@click.group("sync")
def sync_group() -> None:
    """Store and forward between site nodes and the Dukcapil node."""


@sync_group.command("join-code")
@click.argument("site_code")
@click.option("--as", "actor", default="cli", show_default=True, help="Account name for the audit log.")
@deployment_option
def join_code_command(site_code: str, actor: str, deployment_dir: Path | None) -> None:
    """At the Dukcapil node: a one-time code (valid 48 hours) for SITE_CODE to join with."""
    with _lifecycle(deployment_dir) as lc:
        try:
            code = Inbox.for_deployment(lc).new_join_code(site_code, actor=actor)
        except EktpError as exc:
            fail(str(exc))
    click.echo(code)


@sync_group.command("join")
@click.argument("url")
@click.argument("code")
@deployment_option
def join_command(url: str, code: str, deployment_dir: Path | None) -> None:
    """At a site node: join the Dukcapil node at URL (its /api/v1 root) with a one-time CODE."""
    with _lifecycle(deployment_dir) as lc:
        box = Outbox.for_deployment(lc)
        try:
            keys = HttpTransport(url).join(
                site=box.site_code, public_key=crypto.public_key_text(box.signing_key), code=code
            )
        except NodeRefused as exc:
            fail(str(exc))
        except OSError as exc:
            fail(f"cannot reach {url}: {exc}", 3)
        try:
            box.joined(url=url, **keys)
        except EktpError as exc:
            fail(str(exc))
    click.echo(f"site {box.site_code} joined {url}")


@sync_group.command("rotate-key")
@click.argument("code")
@click.option("--as", "actor", default="cli", show_default=True, help="Account name for the audit log.")
@deployment_option
def rotate_key_command(code: str, actor: str, deployment_dir: Path | None) -> None:
    """At a site node: replace the site's signing key, registering the new one at the Dukcapil node with a
    one-time CODE (from `ektp sync join-code` there); packets still waiting are signed again."""
    with _lifecycle(deployment_dir) as lc:
        box = Outbox.for_deployment(lc)
        try:
            transport = HttpTransport(str(box.peer()["url"]))
            resigned = box.rotate_key(
                lambda key: transport.join(site=box.site_code, public_key=key, code=code), actor=actor
            )
        except NodeRefused as exc:
            fail(f"{exc}; the old key stays in use")
        except OSError as exc:
            fail(f"cannot reach the Dukcapil node ({exc}); the old key stays in use, run this again", 3)
        except node_keys.ChainRefused as exc:
            fail(
                f"site {box.site_code} has its new signing key, but the Dukcapil node's keys in the answer were "
                f"refused: {exc}"
            )
        except EktpError as exc:
            fail(str(exc))
    click.echo(f"site {box.site_code} has a new signing key; {resigned} waiting packet(s) signed again")


@sync_group.command("rotate-node-keys")
@click.option("--as", "actor", required=True, help="Account name for the audit log.")
@click.option("--json", "as_json", is_flag=True, help="Print what happened as JSON.")
@deployment_option
def rotate_node_keys_command(actor: str, as_json: bool, deployment_dir: Path | None) -> None:
    """At the Dukcapil node: replace its signing (Ed25519) and exchange (X25519) keys. The change is
    announced in a statement signed by the old and the new signing key; sites verify it and take the new
    keys at their next sync. A rotation that stopped midway is finished (with the same new keys)."""
    with _lifecycle(deployment_dir) as lc:
        try:
            done = node_keys.rotate(lc, actor=actor)
        except EktpError as exc:
            fail(str(exc))
        keys_dir = lc.deployment.keys_dir
    if as_json:
        click.echo(
            json.dumps(
                {
                    "version": done.version,
                    "signing_key": done.signing_key,
                    "exchange_key": done.exchange_key,
                    "previous_signing_key": done.previous_signing_key,
                    "archived": [str(keys_dir / name) for name in done.archived],
                    "resumed": done.resumed,
                }
            )
        )
        return
    click.echo(
        ("finished the rotation that had stopped midway: " if done.resumed else "")
        + f"the Dukcapil node's keys are now version {done.version}"
    )
    click.echo(f"  signing key  {done.signing_key} (was {done.previous_signing_key})")
    click.echo(f"  exchange key {done.exchange_key}")
    click.echo("  old private keys kept as " + ", ".join(str(keys_dir / name) for name in done.archived))
    click.echo(
        "sites take the new keys at their next `ektp sync run`, `send` or `pull` (each checks the signed "
        "statement); packets they sealed to the old exchange key are still accepted"
    )


def _refresh_keys(lc: LifecycleService, transport: HttpTransport) -> node_keys.KeyUpdate | None:
    """Fetch the Dukcapil node's keys and move the pinned ones along its verified chain (at a site)."""
    update = node_keys.SiteKeys(lc).accept(transport.node_keys())
    if update is not None:
        click.echo(
            f"the Dukcapil node's keys moved to version {update.version} ({update.links} signed statement(s) "
            "verified from the pinned key)",
            err=True,
        )
    return update


@sync_group.command("send")
@click.option("--limit", type=click.IntRange(1), default=None, help="Send at most this many packets.")
@click.option(
    "--parallel",
    type=click.IntRange(1, 8),
    default=SEND_PARALLEL,
    show_default=True,
    help="Packets on the way at once.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@deployment_option
def send_command(limit: int | None, parallel: int, as_json: bool, deployment_dir: Path | None) -> None:
    """At a site node: send the waiting packets to the Dukcapil node, oldest first."""
    with _lifecycle(deployment_dir) as lc:
        box = Outbox.for_deployment(lc)
        try:
            transport = HttpTransport(str(box.peer()["url"]))
            _refresh_keys(lc, transport)
            report = box.send(
                transport,
                limit=limit,
                parallel=parallel,
                progress=lambda m: click.echo(m, err=True),
                refresh_keys=lambda: _refresh_keys(lc, transport),
            )
        except NodeRefused as exc:
            fail(f"{exc}; the packet waits")
        except EktpError as exc:
            fail(str(exc))
        except OSError as exc:
            fail(f"the link is down ({exc}); the packets wait, nothing is lost", 3)
    if as_json:
        click.echo(
            json.dumps(
                {"sent": report.sent, "refused": report.refused, "waiting": report.waiting, "stopped": report.stopped}
            )
        )
    else:
        click.echo(f"sent {len(report.sent)}, refused {len(report.refused)}, waiting {report.waiting}")
    if report.stopped:
        fail(f"the link is down ({report.stopped}); {report.waiting} packet(s) wait, nothing is lost", 3)


def _pull(lc: LifecycleService, box: Outbox) -> dict[str, Any]:
    """Read the feed page by page until it has nothing more; returns what was applied."""
    transport = HttpTransport(str(box.peer()["url"]))
    _refresh_keys(lc, transport)
    reader = FeedReader(lc)
    totals: dict[str, Any] = {"applied": 0, "states": {}, "jobs": [], "accounts": []}
    while True:
        page = transport.feed(site=box.site_code, signing_key=box.signing_key, cursor=reader.cursor)
        try:
            done = reader.apply(page["items"], int(page["cursor"]))
        except FeedRefused:
            # Signed with keys the Dukcapil node rotated to after this run fetched them? Learn them (only
            # along a verified chain) and check the page once more; a page still refused is refused.
            if _refresh_keys(lc, transport) is None:
                raise
            done = reader.apply(page["items"], int(page["cursor"]))
        totals["applied"] += done.applied
        totals["states"].update(done.states)
        totals["jobs"] += done.jobs
        totals["accounts"] += done.accounts
        totals["cursor"] = done.cursor
        if not page.get("more"):
            return totals


@sync_group.command("pull")
@click.option("--json", "as_json", is_flag=True, help="Print what was applied as JSON.")
@deployment_option
def pull_command(as_json: bool, deployment_dir: Path | None) -> None:
    """At a site node: fetch what concerns the site from the Dukcapil node's feed (verdicts and states of
    its enrolments, print jobs routed here, accounts) and apply it; resumes from the last cursor."""
    with _lifecycle(deployment_dir) as lc:
        box = Outbox.for_deployment(lc)
        try:
            totals = _pull(lc, box)
        except (NodeRefused, FeedRefused, EktpError) as exc:
            fail(str(exc))
        except OSError as exc:
            fail(f"the link is down ({exc}); the feed resumes from its cursor next time", 3)
    if as_json:
        click.echo(json.dumps(totals))
    else:
        click.echo(
            f"applied {totals['applied']} item(s): {len(totals['states'])} state change(s), "
            f"{len(totals['jobs'])} new print job(s), {len(totals['accounts'])} account(s); "
            f"cursor {totals['cursor']}"
        )


@sync_group.command("run")
@click.option("--interval", type=click.FloatRange(1), default=30.0, show_default=True, help="Seconds between rounds.")
@click.option("--once", is_flag=True, help="One round (send, then pull) and stop.")
@deployment_option
def run_command(interval: float, once: bool, deployment_dir: Path | None) -> None:
    """At a site node: send waiting packets and pull the feed, again and again (a link that is down only
    delays things), until Ctrl-C or SIGTERM."""
    with contextlib.suppress(KeyboardInterrupt), sigterm_as_interrupt():
        while True:
            with _lifecycle(deployment_dir) as lc:
                box = Outbox.for_deployment(lc)
                try:
                    transport = HttpTransport(str(box.peer()["url"]))
                    _refresh_keys(lc, transport)
                    report = box.send(transport, refresh_keys=functools.partial(_refresh_keys, lc, transport))
                    line = f"sent {len(report.sent)}, refused {len(report.refused)}, waiting {report.waiting}"
                    if report.stopped is None:
                        totals = _pull(lc, box)
                        line += f"; pulled {totals['applied']} item(s), cursor {totals['cursor']}"
                    else:
                        line += f"; link down: {report.stopped}"
                except (NodeRefused, FeedRefused, EktpError) as exc:
                    line = f"error: {exc}"
                except OSError as exc:
                    line = f"link down: {exc}"
            click.echo(f"{time.strftime('%H:%M:%S')} {line}", err=True)
            if once:
                return
            time.sleep(interval)
    click.echo("stopped", err=True)


@sync_group.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@deployment_option
def status_command(as_json: bool, deployment_dir: Path | None) -> None:
    """At a site node: the Dukcapil node it reports to, the version of its keys pinned here, and the
    site's packets (waiting, sent, last error). At the Dukcapil node: its keys (version, archived keys)."""
    with _lifecycle(deployment_dir) as lc:
        if lc.deployment.site.kind is SiteKind.DUKCAPIL:
            _node_status(lc, as_json)
            return
        box = Outbox.for_deployment(lc)
        try:
            peer: dict[str, Any] | None = dict(box.peer())
        except EktpError:
            peer = None
        with lc.store.read() as conn:
            packets = sync_status.outbox_figures(conn)
            jobs = sync_status.queued_signed_jobs(conn)
        waiting, sent, last = packets.waiting, packets.sent, packets.last_error
        site_keys = node_keys.SiteKeys(lc)
        version = site_keys.version() if peer else None
        older = site_keys.waiting_sealed_to_older_key() if peer else 0
    info = {
        "site": box.site_code,
        "machine": box.machine,
        "dukcapil": peer["url"] if peer else None,
        "waiting": waiting,
        "sent": sent,
        "last_error": text_of(last) or None,
        "feed_cursor": peer["feed_cursor"] if peer else None,
        "queued_jobs": jobs,
        "dukcapil_signing_key": peer["signing_key"] if peer else None,
        "dukcapil_keys_version": version,
        "waiting_sealed_to_older_key": older,
    }
    if as_json:
        click.echo(json.dumps(info))
        return
    click.echo(f"site {info['site']} ({info['machine']}) -> {info['dukcapil'] or 'not joined'}")
    click.echo(f"packets waiting {waiting}, sent {sent}" + (f"; last error: {text_of(last)}" if last else ""))
    click.echo(f"feed cursor {info['feed_cursor']}, signed print jobs queued here {jobs}")
    if peer:
        click.echo(
            f"Dukcapil node's keys pinned here: {'as joined' if version is None else f'version {version}'}, "
            f"signing key {peer['signing_key']}"
            + (f"; {older} waiting packet(s) sealed to an older exchange key" if older else "")
        )


def _node_status(lc: LifecycleService, as_json: bool) -> None:
    """`ektp sync status` at the Dukcapil node: its keys, their version and the archived keys."""
    inbox = Inbox.for_deployment(lc)
    keys = inbox.published_keys()
    keys_dir = lc.deployment.keys_dir
    with lc.store.read() as conn:
        since = conn.execute(
            sa.select(node_key_transitions.c.completed_at).where(node_key_transitions.c.version == keys["version"])
        ).scalar()
        unfinished = conn.execute(
            sa.select(node_key_transitions.c.version).where(node_key_transitions.c.completed_at.is_(None))
        ).scalar()
        newest_old = audit.newest(conn, limit=1, action=AuditAction.SYNC_PACKET_ARCHIVED_KEY.value)
    last_old = newest_old[0].at if newest_old else None
    archived = sorted(p.name for p in keys_dir.glob("node.*.old"))
    info = {
        "site": lc.deployment.site.code,
        "role": "dukcapil",
        "keys_version": keys["version"],
        "signing_key": keys["signing_key"],
        "exchange_key": keys["exchange_key"],
        "since": utc(since).isoformat() if since is not None else None,
        "unfinished_rotation": unfinished,
        "archived_keys": archived,
        "last_packet_sealed_to_archived_key": str(last_old) if last_old else None,
    }
    if as_json:
        click.echo(json.dumps(info))
        return
    click.echo(
        f"Dukcapil node {info['site']}: keys version {keys['version']}"
        + (f" (since {utc(since).strftime('%Y-%m-%d %H:%M UTC')})" if since is not None else "")
    )
    click.echo(f"signing key {keys['signing_key']}, exchange key {keys['exchange_key']}")
    if unfinished is not None:
        click.echo(f"a rotation to version {unfinished} stopped midway: run `ektp sync rotate-node-keys` again")
    click.echo(f"archived keys: {', '.join(archived) if archived else 'none'}")
    if last_old:
        click.echo(f"last packet that needed an archived exchange key: {last_old}")


#: What this module adds to the ``ektp`` command.
COMMANDS = (sync_group,)
