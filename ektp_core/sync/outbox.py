"""The site node's side of store and forward: the outbox.

A recorded enrolment becomes one packet (see :mod:`ektp_core.sync.packets`) in the same transaction that
marks it SENT_FOR_ENROLLMENT, so it is sent exactly when it is recorded as sent; :meth:`Outbox.send` hands
the waiting packets, oldest first, to a transport and keeps each signed receipt. A link that is down only
means the packets wait. Outcomes printed here (printed, spoiled cards) travel up the same way.
"""

from __future__ import annotations

import json
import os
import socket
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import attrs
import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ektp_core.domain.model import Enrolment, EnrolmentState, PrintJobState
from ektp_core.errors import DETAIL_KEPT, EktpError, detailed
from ektp_core.keys import crypto
from ektp_core.lifecycle import audit
from ektp_core.lifecycle.actions import AuditAction
from ektp_core.lifecycle.service import LifecycleService
from ektp_core.messages import Message, storable
from ektp_core.store import blobs as blob_store
from ektp_core.store import repository as repo
from ektp_core.store.tables import (
    outbox,
    peers,
    print_jobs,
    signed_jobs,
)
from ektp_core.sync import node_keys, packets
from ektp_core.sync.receipts import Receipt, Transport, check_receipt

E = EnrolmentState
#: Packets a site sends at once by default (see :meth:`Outbox.send`).
SEND_PARALLEL = 2


@attrs.frozen
class SendReport:
    """What one :meth:`Outbox.send` did."""

    sent: list[str] = attrs.field(factory=list)
    refused: dict[str, str] = attrs.field(factory=dict)
    waiting: int = 0
    #: Why sending stopped early (the link is down), or None.
    stopped: str | None = None


class Outbox:
    """A site node's packets to the Dukcapil node."""

    def __init__(
        self, lifecycle: LifecycleService, *, signing_key: Ed25519PrivateKey, site_code: str, machine: str | None = None
    ) -> None:
        self.lifecycle = lifecycle
        self.signing_key = signing_key
        self.site_code = site_code
        self.machine = machine or _machine_name()

    @classmethod
    def for_deployment(cls, lifecycle: LifecycleService, **kwargs: Any) -> Outbox:
        """The outbox of a site deployment (its signing key and site)."""
        deployment = lifecycle.deployment
        return cls(
            lifecycle,
            signing_key=crypto.load_signing_key(deployment.keys_dir),
            site_code=deployment.site.code,
            **kwargs,
        )

    def has_joined(self) -> bool:
        """True once this site has joined a Dukcapil node."""
        with self.lifecycle.store.read() as conn:
            return conn.execute(sa.select(peers.c.url).where(peers.c.role == "dukcapil")).first() is not None

    def peer(self) -> Mapping[str, Any]:
        """The Dukcapil node this site reports to; an error says how to join when there is none."""
        with self.lifecycle.store.read() as conn:
            row = conn.execute(sa.select(peers).where(peers.c.role == "dukcapil")).one_or_none()
        if row is None:
            raise EktpError(Message("sync.not_joined"))
        return dict(row._mapping)

    def moved(self, url: str) -> None:
        """The Dukcapil node this site joined now answers at ``url`` (a new address or port): the keys
        pinned when the site joined stay as they are; only where packets go changes."""
        self.peer()  # refuses a site that never joined, with the message that says how
        with self.lifecycle.store.write() as conn:
            conn.execute(peers.update().where(peers.c.role == "dukcapil").values(url=url))

    def joined(
        self, *, url: str, signing_key: str, exchange_key: str, chain: Sequence[Any] = (), version: int | None = None
    ) -> None:
        """Remember the Dukcapil node (after a successful join): its keys are pinned on the one-time
        code's word, with the history of key statements that ends at them (``chain`` and ``version``,
        from the join answer), so the site knows their version. A history that does not verify, or does
        not end at these keys and version, refuses the join."""
        crypto.load_public_key(signing_key)
        packets.load_exchange_public(exchange_key)
        at = self.lifecycle.clock()
        with self.lifecycle.store.write() as conn:
            conn.execute(peers.delete().where(peers.c.role == "dukcapil"))
            conn.execute(
                peers.insert().values(
                    role="dukcapil", url=url, signing_key=signing_key, exchange_key=exchange_key, joined_at=at
                )
            )
            node_keys.SiteKeys(self.lifecycle).remember(conn, chain, signing_key, exchange_key, version, at)

    def rotate_key(self, register: Callable[[str], Mapping[str, Any]], *, actor: str) -> int:
        """Give this site a new signing key; returns how many waiting packets were signed again.

        ``register`` hands the new public key to the Dukcapil node (``ektp sync rotate-key`` joins again
        with a one-time code) and returns its public keys. The new key is kept in ``node.ed25519.next``
        until the end, so a rotation that stopped midway finishes with the same key when run again. The
        packets still waiting are signed again with the new key (their content is unchanged), then the
        old key is kept as ``node.ed25519.<time>.old`` and the new one takes its place.
        """
        from cryptography.hazmat.primitives import serialization

        keys_dir = self.lifecycle.deployment.keys_dir
        current, pending = keys_dir / "node.ed25519", keys_dir / "node.ed25519.next"
        if pending.exists():
            key = serialization.load_pem_private_key(pending.read_bytes(), password=None)
            if not isinstance(key, Ed25519PrivateKey):
                raise EktpError(f"{pending} is not an Ed25519 key")
            new = key
        else:
            new = crypto.new_signing_key()
            crypto.write_private_file(
                pending,
                new.private_bytes(
                    serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
                ),
            )
        self.peer()
        keys = register(crypto.public_key_text(new))
        lc = self.lifecycle
        at = lc.clock()
        with lc.store.write() as conn:
            waiting = conn.execute(
                sa.select(outbox.c.packet_id, outbox.c.packet).where(outbox.c.sent_at.is_(None))
            ).all()
            for row in waiting:
                conn.execute(
                    outbox.update()
                    .where(outbox.c.packet_id == row.packet_id)
                    .values(packet=packets.resign(bytes(row.packet), new))
                )
            audit.append(
                conn,
                actor=actor,
                action=AuditAction.SYNC_KEY_ROTATED,
                subject_kind="site",
                subject_id=self.site_code,
                at=at,
                detail={"public_key": crypto.public_key_text(new), "resigned": len(waiting)},
            )
        # Archived first (a hard link), then replaced: a rotation stopped in between still has a live key.
        # Two rotations in one second get two archives (never one overwriting the other).
        stamp, n = at.strftime("%Y%m%dT%H%M%SZ"), 1
        archive = keys_dir / f"node.ed25519.{stamp}.old"
        while archive.exists() and archive.read_bytes() != current.read_bytes():
            n += 1
            archive = keys_dir / f"node.ed25519.{stamp}-{n}.old"
        node_keys.archive_key_file(current, archive)
        os.replace(pending, current)
        self.signing_key = new
        # The Dukcapil node answered with its keys: the pinned ones, or newer ones that must chain to
        # them (it rotated its own keys meanwhile). Never taken on trust; checked once this site's own
        # rotation is complete, since the Dukcapil node already trusts only the new site key.
        node_keys.SiteKeys(lc).accept(keys, actor=actor)
        return len(waiting)

    def _contents(self, conn: Any, enrolment: Enrolment) -> tuple[dict[str, Any], dict[str, bytes]]:
        listed, blobs = [], {}
        for c in repo.list_captures(conn, enrolment.id):
            entry: dict[str, Any] = {
                "modality": c.modality.value,
                "position": c.position,
                "device": c.device,
                "quality": c.quality,
            }
            if c.exception is not None:
                entry["exception"] = {"reason": c.exception.reason, "approved_by": c.exception.approved_by}
            for key, ref in (("image", c.blob_ref), ("template", c.template_ref)):
                if ref is not None:
                    name = f"{c.modality.value}/{c.position}/{key}"
                    blobs[name] = blob_store.get(conn, self.lifecycle.data_key, ref=ref, enrolment_id=enrolment.id)
                    entry[key] = name
            listed.append(entry)
        header = {
            "kind": "enrolment",
            "site": self.site_code,
            "machine": self.machine,
            "enrolment": {
                "id": enrolment.id,
                "site_code": enrolment.site_code,
                "operator": enrolment.operator,
                "recorded_at": enrolment.created_at.isoformat(),
                "biodata": enrolment.biodata.to_dict(),
            },
            "captures": listed,
        }
        return header, blobs

    def enqueue(self, enrolment_id: str, *, actor: str) -> str:
        """Make the enrolment's packet and mark it SENT_FOR_ENROLLMENT, in one transaction; returns the
        packet id. An enrolment already in the outbox keeps its packet (the same id is returned)."""
        peer = self.peer()
        recipient = packets.load_exchange_public(peer["exchange_key"])
        lc = self.lifecycle
        at = lc.clock()
        with lc.store.write() as conn:
            existing = conn.execute(
                sa.select(outbox.c.packet_id).where(outbox.c.kind == "enrolment", outbox.c.subject_id == enrolment_id)
            ).scalar_one_or_none()
            if existing is not None:
                return str(existing)
            enrolment = repo.get_enrolment(conn, enrolment_id, lock=True)
            seq = int(conn.execute(sa.select(sa.func.coalesce(sa.func.max(outbox.c.seq), 0))).scalar_one()) + 1
            packet_id = packets.PacketId.new(self.site_code, self.machine, seq, at)
            header, blobs = self._contents(conn, enrolment)
            data = packets.build(packet_id, header, blobs, signer=self.signing_key, recipient=recipient)
            conn.execute(
                outbox.insert().values(
                    packet_id=str(packet_id),
                    seq=seq,
                    kind="enrolment",
                    subject_id=enrolment_id,
                    enrolment_id=enrolment_id,
                    created_at=at,
                    packet=data,
                    attempts=0,
                )
            )
            _, t = lc._move_enrolment(
                conn,
                enrolment_id,
                E.SENT_FOR_ENROLLMENT,
                actor,
                at,
                Message("reason.queued_for_dukcapil", packet=packet_id),
            )
        lc._notify([t])
        return str(packet_id)

    def enqueue_outcomes(self) -> list[str]:
        """A packet for every print job the Dukcapil node ordered here that ended PRINTED or SPOILED and
        was not reported yet; returns their packet ids. Derived from the database each time, so an
        outcome is reported even when the node stopped between printing and sending."""
        peer = self.peer()
        recipient = packets.load_exchange_public(peer["exchange_key"])
        lc = self.lifecycle
        made = []
        with lc.store.write() as conn:
            # One outcome per (job, final state): a card PRINTED and later spoiled by a supervisor is
            # reported twice, PRINTED then SPOILED.
            reported = sa.select(outbox.c.subject_id).where(outbox.c.kind == "print_outcome")
            subject = print_jobs.c.id + ":" + print_jobs.c.state
            rows = conn.execute(
                sa.select(print_jobs, subject.label("subject"))
                .where(
                    print_jobs.c.state.in_([PrintJobState.PRINTED.value, PrintJobState.SPOILED.value]),
                    print_jobs.c.id.in_(sa.select(signed_jobs.c.job_id)),
                    subject.not_in(reported),
                )
                .order_by(print_jobs.c.updated_at, print_jobs.c.id)
            ).all()
            at = lc.clock()
            for row in rows:
                seq = int(conn.execute(sa.select(sa.func.coalesce(sa.func.max(outbox.c.seq), 0))).scalar_one()) + 1
                packet_id = packets.PacketId.new(self.site_code, self.machine, seq, at)
                outcome = {
                    "job_id": row.id,
                    "enrolment_id": row.enrolment_id,
                    "state": row.state,
                    "blank_serial": row.blank_serial,
                    "printer": row.printer,
                    "reason": row.reason,
                    "at": repo.utc(row.updated_at or row.created_at).isoformat(),
                }
                data = packets.build(
                    packet_id,
                    {"kind": "print_outcome", "site": self.site_code, "machine": self.machine, "outcome": outcome},
                    {},
                    signer=self.signing_key,
                    recipient=recipient,
                )
                conn.execute(
                    outbox.insert().values(
                        packet_id=str(packet_id),
                        seq=seq,
                        kind="print_outcome",
                        subject_id=row.subject,
                        enrolment_id=row.enrolment_id,
                        created_at=at,
                        packet=data,
                        attempts=0,
                    )
                )
                made.append(str(packet_id))
        return made

    def waiting(self) -> list[str]:
        """Packet ids still without a receipt, in sending order."""
        with self.lifecycle.store.read() as conn:
            return list(
                conn.execute(
                    sa.select(outbox.c.packet_id).where(outbox.c.sent_at.is_(None)).order_by(outbox.c.seq)
                ).scalars()
            )

    def send(
        self,
        transport: Transport,
        *,
        limit: int | None = None,
        parallel: int = SEND_PARALLEL,
        progress: Callable[[str], object] = lambda _m: None,
        refresh_keys: Callable[[], object] | None = None,
    ) -> SendReport:
        """Send waiting packets oldest first until done, ``limit`` or the link fails (print outcomes
        not yet reported are queued first).

        Up to ``parallel`` packets travel at once: packets are independent and a resend is answered
        with the first receipt, so while the Dukcapil node stores one, the next is already on its way.
        When the link fails, no new packet is started; those in flight finish or fail on their own.

        A receipt the pinned key does not verify may come from a Dukcapil node that has just rotated its
        keys: ``refresh_keys`` (fetch and verify its key chain, :class:`node_keys.SiteKeys`) is then
        called once, and the receipt checked again with the key pinned after it.
        """
        if parallel < 1:
            raise ValueError("parallel must be at least 1")
        peer = dict(self.peer())
        refreshing = threading.Lock()
        refreshed: list[bool] = []

        def check(answer: Mapping[str, Any], packet_id: str) -> Receipt:
            try:
                return check_receipt(answer, peer["signing_key"], packet_id)
            except packets.PacketRefused:
                if refresh_keys is None:
                    raise
                with refreshing:
                    if not refreshed:
                        refreshed.append(True)
                        refresh_keys()
                        peer.update(self.peer())
                return check_receipt(answer, peer["signing_key"], packet_id)

        self.enqueue_outcomes()
        report = SendReport()
        ids = self.waiting()
        todo = ids[:limit] if limit else ids
        stopped: list[str] = []
        done = 0

        def one(packet_id: str) -> tuple[str, Mapping[str, Any], Receipt] | None:
            if stopped:
                return None  # the link failed meanwhile: leave it for the next send
            with self.lifecycle.store.read() as conn:
                data = conn.execute(sa.select(outbox.c.packet).where(outbox.c.packet_id == packet_id)).scalar_one()
            try:
                answer = transport.send_packet(bytes(data))
                receipt = check(answer, packet_id)
            except (OSError, packets.PacketRefused) as exc:
                # Down, or an answer this site cannot trust: the packet waits and is sent again.
                said = (
                    detailed(exc)
                    if isinstance(exc, packets.PacketRefused)
                    else Message("sync.unreachable", detail=str(exc)[:DETAIL_KEPT])
                )
                self._attempt(packet_id, storable(said))
                stopped.append(str(exc))
                return None
            self._receipt(packet_id, answer, receipt)
            return packet_id, answer, receipt

        with ThreadPoolExecutor(max_workers=parallel, thread_name_prefix="outbox") as pool:
            for result in pool.map(one, todo):
                if result is None:
                    continue
                packet_id, _answer, receipt = result
                done += 1
                progress(f"sent {done}/{len(todo)}: {packet_id} {receipt.status}")
                if receipt.status == "accepted":
                    report.sent.append(packet_id)
                else:
                    report.refused[packet_id] = receipt.reason or "refused"
        return attrs.evolve(report, waiting=len(self.waiting()), stopped=stopped[0] if stopped else None)

    def _attempt(self, packet_id: str, error: str) -> None:
        with self.lifecycle.store.write() as conn:
            conn.execute(
                outbox.update()
                .where(outbox.c.packet_id == packet_id)
                .values(attempts=outbox.c.attempts + 1, last_error=error)
            )

    def _receipt(self, packet_id: str, answer: Mapping[str, Any], receipt: Receipt) -> None:
        at = self.lifecycle.clock()
        with self.lifecycle.store.write() as conn:
            conn.execute(
                outbox.update()
                .where(outbox.c.packet_id == packet_id, outbox.c.sent_at.is_(None))
                .values(attempts=outbox.c.attempts + 1, last_error=None, sent_at=at, receipt=json.dumps(dict(answer)))
            )
            row = conn.execute(sa.select(outbox.c.enrolment_id).where(outbox.c.packet_id == packet_id)).one()
            audit.append(
                conn,
                actor="sync",
                action=AuditAction.SYNC_PACKET_ACCEPTED
                if receipt.status == "accepted"
                else AuditAction.SYNC_PACKET_REFUSED,
                subject_kind="enrolment",
                subject_id=row.enrolment_id,
                at=at,
                detail={"packet": packet_id, **({"reason": receipt.reason} if receipt.reason else {})},
            )


def _machine_name() -> str:
    name = "".join(ch if ch.isalnum() or ch == "-" else "-" for ch in socket.gethostname())[:32].strip("-")
    return name or "node"
