"""Store and forward between a site node and the Dukcapil node.

At a **site node** (:class:`Outbox`): a recorded enrolment becomes one packet (see
:mod:`ektp_core.sync.packets`) in the same transaction that marks it SENT_FOR_ENROLLMENT, so it is sent
exactly when it is recorded as sent; :meth:`Outbox.send` hands the waiting packets, oldest first, to a
transport and keeps each signed receipt. A link that is down only means the packets wait.

At the **Dukcapil node** (:class:`Inbox`): a packet is checked (known site, its key's signature, the
biometrics sealed to this node, a header that agrees with itself) before anything is trusted, then
the enrolment, its captures and the inbox row are stored in one transaction, and a receipt signed by
this node is kept with it. A resend of the same packet gets that same receipt; another packet under
the same id, an unknown site, a bad signature or a changed byte is refused and audited.

Sites join with a one-time code (:meth:`Inbox.new_join_code`, :meth:`Inbox.join`) that registers the
site's public key; the answer gives the site the Dukcapil node's keys (:meth:`Outbox.joined`).
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import secrets
import socket
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol

import attrs
import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from ektp_core.domain.model import Biodata, Capture, CaptureException, Enrolment, EnrolmentState, PrintJobState
from ektp_core.errors import Conflict, EktpError, NotFound, ValidationFailed
from ektp_core.keys import crypto, node_keys
from ektp_core.lifecycle import audit
from ektp_core.lifecycle.service import LifecycleService
from ektp_core.store import blobs as blob_store
from ektp_core.store import repository as repo
from ektp_core.store.tables import (
    blanks,
    enrolments,
    inbox,
    join_codes,
    outbox,
    peers,
    print_jobs,
    signed_jobs,
    site_keys,
)
from ektp_core.sync import packets

E = EnrolmentState
#: Packets a site sends at once by default (see :meth:`Outbox.send`).
SEND_PARALLEL = 2
#: How long a join code stays valid.
JOIN_CODE_TTL = dt.timedelta(hours=48)


def _canonical(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode("utf-8")


@attrs.frozen
class Receipt:
    """The Dukcapil node's signed answer to one packet."""

    packet_id: str
    status: str  # "accepted" or "refused"
    enrolment_id: str | None
    received_at: str
    reason: str | None = None
    #: False when this answers a resend (the first answer, given again).
    first: bool = True

    def body(self) -> dict[str, Any]:
        """The signed part (``first`` is not signed: it differs between the first answer and a resend)."""
        return {"packet_id": self.packet_id, "status": self.status, "enrolment_id": self.enrolment_id,
                "received_at": self.received_at, "reason": self.reason}


def sign_receipt(key: Ed25519PrivateKey, receipt: Receipt) -> dict[str, Any]:
    """The receipt as sent: its body, ``first`` and the Dukcapil node's signature over the body."""
    return {**receipt.body(), "first": receipt.first, "signature": crypto.sign(key, _canonical(receipt.body()))}


def check_receipt(signed: Mapping[str, Any], dukcapil_key: str, packet_id: str) -> Receipt:
    """A receipt whose signature and packet id check out; :class:`packets.PacketRefused` otherwise."""
    try:
        receipt = Receipt(packet_id=str(signed["packet_id"]), status=str(signed["status"]),
                          enrolment_id=signed.get("enrolment_id"), received_at=str(signed["received_at"]),
                          reason=signed.get("reason"), first=bool(signed.get("first", True)))
        crypto.verify_signature(crypto.load_public_key(dukcapil_key), _canonical(receipt.body()),
                                  str(signed["signature"]))
    except (KeyError, TypeError, ValueError, crypto.TamperedData):
        raise packets.PacketRefused("the receipt is not signed by the Dukcapil node", code="bad_signature") from None
    if receipt.packet_id != packet_id:
        raise packets.PacketRefused(f"the receipt answers {receipt.packet_id}, not {packet_id}", code="mismatch")
    return receipt


class Transport(Protocol):
    """How a site reaches the Dukcapil node (the HTTP client of the web plugin, or a test's)."""

    def send_packet(self, packet: bytes) -> Mapping[str, Any]:
        """Deliver one packet and return the signed receipt. Raise ``ConnectionError`` or ``OSError``
        (including timeouts) when the link is down: the packet then waits for the next try."""


# ---------------------------------------------------------------------------------------------------
# The site node
# ---------------------------------------------------------------------------------------------------


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

    def __init__(self, lifecycle: LifecycleService, *, signing_key: Ed25519PrivateKey, site_code: str,
                 machine: str | None = None) -> None:
        self.lifecycle = lifecycle
        self.signing_key = signing_key
        self.site_code = site_code
        self.machine = machine or _machine_name()

    @classmethod
    def for_deployment(cls, lifecycle: LifecycleService, **kwargs: Any) -> Outbox:
        """The outbox of a site deployment (its signing key and site)."""
        deployment = lifecycle.deployment
        return cls(lifecycle, signing_key=crypto.load_signing_key(deployment.keys_dir),
                   site_code=deployment.site.code, **kwargs)

    def peer(self) -> Mapping[str, Any]:
        """The Dukcapil node this site reports to; an error says how to join when there is none."""
        with self.lifecycle.store.read() as conn:
            row = conn.execute(sa.select(peers).where(peers.c.role == "dukcapil")).one_or_none()
        if row is None:
            raise EktpError("this site has not joined a Dukcapil node yet: `ektp sync join URL CODE` with the "
                            "one-time code from the Dukcapil office")
        return dict(row._mapping)

    def joined(self, *, url: str, signing_key: str, exchange_key: str, chain: Sequence[Any] = (),
               version: int | None = None) -> None:
        """Remember the Dukcapil node (after a successful join): its keys are pinned on the one-time
        code's word, with the history of key statements that ends at them (``chain`` and ``version``,
        from the join answer), so the site knows their version. A history that does not verify, or does
        not end at these keys and version, refuses the join."""
        crypto.load_public_key(signing_key)
        packets.load_exchange_public(exchange_key)
        at = self.lifecycle.clock()
        with self.lifecycle.store.write() as conn:
            conn.execute(peers.delete().where(peers.c.role == "dukcapil"))
            conn.execute(peers.insert().values(role="dukcapil", url=url, signing_key=signing_key,
                                               exchange_key=exchange_key, joined_at=at))
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
            crypto.write_private_file(pending, new.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
        self.peer()
        keys = register(crypto.public_key_text(new))
        lc = self.lifecycle
        at = lc.clock()
        with lc.store.write() as conn:
            waiting = conn.execute(sa.select(outbox.c.packet_id, outbox.c.packet).where(outbox.c.sent_at.is_(None))
                                   ).all()
            for row in waiting:
                conn.execute(outbox.update().where(outbox.c.packet_id == row.packet_id)
                             .values(packet=packets.resign(bytes(row.packet), new)))
            audit.append(conn, actor=actor, action="sync.key_rotated", subject_kind="site", subject_id=self.site_code,
                         at=at, detail={"public_key": crypto.public_key_text(new), "resigned": len(waiting)})
        # Archived first (a hard link), then replaced: a rotation stopped in between still has a live key.
        # Two rotations in one second get two archives (never one overwriting the other).
        stamp, n = at.strftime('%Y%m%dT%H%M%SZ'), 1
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
            entry: dict[str, Any] = {"modality": c.modality.value, "position": c.position, "device": c.device,
                                     "quality": c.quality}
            if c.exception is not None:
                entry["exception"] = {"reason": c.exception.reason, "approved_by": c.exception.approved_by}
            for key, ref in (("image", c.blob_ref), ("template", c.template_ref)):
                if ref is not None:
                    name = f"{c.modality.value}/{c.position}/{key}"
                    blobs[name] = blob_store.get(conn, self.lifecycle.data_key, ref=ref, enrolment_id=enrolment.id)
                    entry[key] = name
            listed.append(entry)
        header = {"kind": "enrolment", "site": self.site_code, "machine": self.machine,
                  "enrolment": {"id": enrolment.id, "site_code": enrolment.site_code,
                                "operator": enrolment.operator, "recorded_at": enrolment.created_at.isoformat(),
                                "biodata": enrolment.biodata.to_dict()},
                  "captures": listed}
        return header, blobs

    def enqueue(self, enrolment_id: str, *, actor: str) -> str:
        """Make the enrolment's packet and mark it SENT_FOR_ENROLLMENT, in one transaction; returns the
        packet id. An enrolment already in the outbox keeps its packet (the same id is returned)."""
        peer = self.peer()
        recipient = packets.load_exchange_public(peer["exchange_key"])
        lc = self.lifecycle
        at = lc.clock()
        with lc.store.write() as conn:
            existing = conn.execute(sa.select(outbox.c.packet_id).where(
                outbox.c.kind == "enrolment", outbox.c.subject_id == enrolment_id)).scalar_one_or_none()
            if existing is not None:
                return str(existing)
            enrolment = repo.get_enrolment(conn, enrolment_id, lock=True)
            seq = int(conn.execute(sa.select(sa.func.coalesce(sa.func.max(outbox.c.seq), 0))).scalar_one()) + 1
            packet_id = packets.PacketId.new(self.site_code, self.machine, seq, at)
            header, blobs = self._contents(conn, enrolment)
            data = packets.build(packet_id, header, blobs, signer=self.signing_key, recipient=recipient)
            conn.execute(outbox.insert().values(packet_id=str(packet_id), seq=seq, kind="enrolment",
                                                subject_id=enrolment_id, enrolment_id=enrolment_id,
                                                created_at=at, packet=data, attempts=0))
            _, t = lc._move_enrolment(conn, enrolment_id, E.SENT_FOR_ENROLLMENT, actor, at,
                                      f"to the Dukcapil node in packet {packet_id}")
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
            rows = conn.execute(sa.select(print_jobs, subject.label("subject")).where(
                print_jobs.c.state.in_([PrintJobState.PRINTED.value, PrintJobState.SPOILED.value]),
                print_jobs.c.id.in_(sa.select(signed_jobs.c.job_id)), subject.not_in(reported))
                .order_by(print_jobs.c.updated_at, print_jobs.c.id)).all()
            at = lc.clock()
            for row in rows:
                seq = int(conn.execute(sa.select(sa.func.coalesce(sa.func.max(outbox.c.seq), 0))).scalar_one()) + 1
                packet_id = packets.PacketId.new(self.site_code, self.machine, seq, at)
                outcome = {"job_id": row.id, "enrolment_id": row.enrolment_id, "state": row.state,
                           "blank_serial": row.blank_serial, "printer": row.printer, "reason": row.reason,
                           "at": repo.utc(row.updated_at or row.created_at).isoformat()}
                data = packets.build(packet_id, {"kind": "print_outcome", "site": self.site_code,
                                                 "machine": self.machine, "outcome": outcome}, {},
                                     signer=self.signing_key, recipient=recipient)
                conn.execute(outbox.insert().values(packet_id=str(packet_id), seq=seq, kind="print_outcome",
                                                    subject_id=row.subject, enrolment_id=row.enrolment_id,
                                                    created_at=at, packet=data, attempts=0))
                made.append(str(packet_id))
        return made

    def waiting(self) -> list[str]:
        """Packet ids still without a receipt, in sending order."""
        with self.lifecycle.store.read() as conn:
            return list(conn.execute(sa.select(outbox.c.packet_id).where(outbox.c.sent_at.is_(None))
                                     .order_by(outbox.c.seq)).scalars())

    def send(self, transport: Transport, *, limit: int | None = None, parallel: int = SEND_PARALLEL,
             progress: Callable[[str], object] = lambda _m: None,
             refresh_keys: Callable[[], object] | None = None) -> SendReport:
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
                self._attempt(packet_id, str(exc))
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
            conn.execute(outbox.update().where(outbox.c.packet_id == packet_id)
                         .values(attempts=outbox.c.attempts + 1, last_error=error[:2000]))

    def _receipt(self, packet_id: str, answer: Mapping[str, Any], receipt: Receipt) -> None:
        at = self.lifecycle.clock()
        with self.lifecycle.store.write() as conn:
            conn.execute(outbox.update().where(outbox.c.packet_id == packet_id, outbox.c.sent_at.is_(None))
                         .values(attempts=outbox.c.attempts + 1, last_error=None, sent_at=at,
                                 receipt=json.dumps(dict(answer))))
            row = conn.execute(sa.select(outbox.c.enrolment_id).where(outbox.c.packet_id == packet_id)).one()
            audit.append(conn, actor="sync", action=f"sync.packet_{receipt.status}", subject_kind="enrolment",
                         subject_id=row.enrolment_id, at=at,
                         detail={"packet": packet_id, **({"reason": receipt.reason} if receipt.reason else {})})


def _machine_name() -> str:
    name = "".join(ch if ch.isalnum() or ch == "-" else "-" for ch in socket.gethostname())[:32].strip("-")
    return name or "node"


# ---------------------------------------------------------------------------------------------------
# The Dukcapil node
# ---------------------------------------------------------------------------------------------------


class Inbox:
    """The Dukcapil node's side: join codes, site keys, and packets stored once.

    Its keys are given (``signing_key``, ``exchange_key`` and the archived exchange keys that still
    open packets), or, for a deployment, read from its keys folder and read again when a rotation
    (:func:`node_keys.rotate`) changed them, so a running server follows a rotation.
    """

    def __init__(self, lifecycle: LifecycleService, *, signing_key: Ed25519PrivateKey | None = None,
                 exchange_key: X25519PrivateKey | None = None,
                 archived_exchange_keys: tuple[X25519PrivateKey, ...] = (),
                 keyring: node_keys.NodeKeyring | None = None) -> None:
        self.lifecycle = lifecycle
        if keyring is None:
            if signing_key is None or exchange_key is None:
                raise ValueError("an Inbox needs its keys or a keyring")
            fixed = node_keys.KeySet(0, signing_key, exchange_key, archived_exchange_keys)
            self._keys: Callable[[], node_keys.KeySet] = lambda: fixed
        else:
            self._keys = keyring.current

    @classmethod
    def for_deployment(cls, lifecycle: LifecycleService) -> Inbox:
        """The inbox of the Dukcapil deployment (its keys folder, followed through rotations)."""
        def published() -> tuple[int, str | None]:
            with lifecycle.store.read() as conn:
                return node_keys.published_signing_key(conn)

        return cls(lifecycle, keyring=node_keys.NodeKeyring(lifecycle.deployment.keys_dir, published))

    def keys(self) -> node_keys.KeySet:
        """The keys in force now (one consistent set: sign and report the version from the same one)."""
        return self._keys()

    @property
    def signing_key(self) -> Ed25519PrivateKey:
        """The current signing key (receipts, feed items)."""
        return self.keys().signing

    @property
    def exchange_key(self) -> X25519PrivateKey:
        """The current exchange key (sites seal biometrics to its public half)."""
        return self.keys().exchange

    def published_keys(self) -> dict[str, Any]:
        """``GET /api/v1/keys``: the public keys, their version and the chain of key statements."""
        keys = self.keys()
        with self.lifecycle.store.read() as conn:
            return node_keys.published(conn, keys)

    def public_keys(self) -> dict[str, str]:
        """What a site needs to know of this node: its signing and exchange public keys."""
        answer = self.published_keys()
        return {"signing_key": answer["signing_key"], "exchange_key": answer["exchange_key"]}

    # -- joining ----------------------------------------------------------------------------------------

    def new_join_code(self, site_code: str, *, actor: str, ttl: dt.timedelta = JOIN_CODE_TTL) -> str:
        """A one-time code for ``site_code`` to join with (only its hash is stored)."""
        lc = self.lifecycle
        code = "-".join(secrets.token_hex(3).upper() for _ in range(4))
        at = lc.clock()
        with lc.store.write() as conn:
            if site_code not in {site.code for site in repo.list_sites(conn)}:
                raise NotFound("site", site_code)
            conn.execute(join_codes.insert().values(code_hash=_hash_code(code), site_code=site_code, created_at=at,
                                                    expires_at=at + ttl, created_by=actor))
            audit.append(conn, actor=actor, action="sync.join_code", subject_kind="site", subject_id=site_code,
                         at=at, detail={"expires_at": (at + ttl).isoformat()})
        return code

    def join(self, code: str, *, site_code: str, public_key: str) -> dict[str, str]:
        """Register a site's public key with a one-time code; returns this node's public keys."""
        crypto.load_public_key(public_key)
        lc = self.lifecycle
        at = lc.clock()
        with lc.store.write() as conn:
            row = conn.execute(sa.select(join_codes).where(join_codes.c.code_hash == _hash_code(code))
                               .with_for_update()).one_or_none()
            problem = None
            if row is None or row.site_code != site_code:
                problem = "unknown join code for this site"
            elif row.used_at is not None:
                problem = "join code already used"
            elif repo.utc(row.expires_at) < at:
                problem = "join code expired"
            if problem is not None or row is None:
                audit.append(conn, actor=f"site:{site_code}", action="sync.join_refused", subject_kind="site",
                             subject_id=site_code, at=at, detail={"why": problem})
            else:
                conn.execute(join_codes.update().where(join_codes.c.code_hash == row.code_hash).values(used_at=at))
                conn.execute(site_keys.delete().where(site_keys.c.site_code == site_code))
                conn.execute(site_keys.insert().values(site_code=site_code, public_key=public_key, registered_at=at,
                                                       registered_by=row.created_by))
                audit.append(conn, actor=f"site:{site_code}", action="sync.joined", subject_kind="site",
                             subject_id=site_code, at=at, detail={"public_key": public_key})
        if problem is not None:
            raise ValidationFailed([problem])
        return self.public_keys()

    def site_key(self, site_code: str) -> str:
        """The registered public key of a site; :class:`NotFound` when it never joined."""
        with self.lifecycle.store.read() as conn:
            key = conn.execute(sa.select(site_keys.c.public_key).where(site_keys.c.site_code == site_code)
                               ).scalar_one_or_none()
        if key is None:
            raise NotFound("joined site", site_code)
        return str(key)

    # -- packets ------------------------------------------------------------------------------------------

    def accept(self, data: bytes) -> Receipt:
        """Check and store one packet, once; returns the receipt (the first one again for a resend).

        Raises :class:`packets.PacketRefused` (audited) for a packet that cannot be trusted or that
        reuses an id with other content; nothing is stored then. A trusted packet whose enrolment the
        node refuses (a validation problem, a NIK with an enrolment in progress) is answered with a
        ``refused`` receipt, kept like any other.
        """
        try:
            packet_id, _header = packets.peek(data)
            key = self.site_key(packet_id.site)
            known = self._known(str(packet_id))
            digest = packets.content_digest(data)
            if known is not None:
                if known[0] != digest:
                    raise packets.PacketRefused(f"packet {packet_id} was already received with other content",
                                                code="conflict")
                return attrs.evolve(known[1], first=False)
            keys = self.keys()
            packet = packets.open_packet(data, sender=crypto.load_public_key(key), private=keys.opening,
                                         digest=digest)
            if packet.sealed_to:
                self._sealed_to_archived_key(packet, keys)
            if packet.header.get("kind") == "print_outcome":
                return self._outcome(packet)
            enrolment, captures, images = self._contents(packet)
        except NotFound as exc:
            why = f"site {exc.key} has not joined this node (no registered key)"
            self._refused(data, "unknown_site", why)
            raise packets.PacketRefused(why, code="unknown_site") from None
        except packets.PacketRefused as exc:
            self._refused(data, exc.code, str(exc))
            raise
        return self._store(packet, enrolment, captures, images)

    def _sealed_to_archived_key(self, packet: packets.Packet, keys: node_keys.KeySet) -> None:
        """Audit a packet that opened only with an archived exchange key: the site sealed it before it
        learnt of a rotation. While these still come, the archived key must be kept."""
        with self.lifecycle.store.write() as conn:
            audit.append(conn, actor=f"site:{packet.id.site}", action="sync.packet_archived_key",
                         subject_kind="site", subject_id=packet.id.site, at=self.lifecycle.clock(),
                         detail={"packet": str(packet.id),
                                 "exchange_key": packets.exchange_public_text(keys.opening[packet.sealed_to])})

    def _outcome(self, packet: packets.Packet) -> Receipt:
        """A site reports how a job the Dukcapil node routed there ended: the node's copy of the job,
        its blank and the enrolment follow, step by step (each step skipped when already done, so a
        resend after a crash midway finishes the work)."""
        lc = self.lifecycle
        actor = f"site:{packet.id.site}"
        try:
            o = packet.header["outcome"]
            job_id, state, serial = str(o["job_id"]), PrintJobState(o["state"]), str(o["blank_serial"])
            printer = str(o.get("printer") or "site printer")
            reason = str(o.get("reason") or "")
        except (KeyError, TypeError, ValueError):
            raise packets.PacketRefused(f"packet {packet.id}: not a print outcome", code="malformed") from None
        if state not in (PrintJobState.PRINTED, PrintJobState.SPOILED):
            raise packets.PacketRefused(f"packet {packet.id}: outcome {state} is not final", code="malformed")
        try:
            job = lc.jobs_by_id(job_id)
        except NotFound:
            raise packets.PacketRefused(f"packet {packet.id}: no print job {job_id} here", code="malformed") from None
        if job.site_code != packet.id.site:
            raise packets.PacketRefused(f"packet {packet.id}: job {job_id} was routed to {job.site_code}, "
                                        f"not to site {packet.id.site}", code="bad_signature")
        try:
            if job.state is PrintJobState.QUEUED:
                with lc.store.read() as conn:
                    known = conn.execute(sa.select(blanks.c.serial).where(blanks.c.serial == serial)).first()
                if known is None:  # a blank the site received directly: the regency's ledger learns of it
                    lc.receive_blanks(job.site_code, [serial], actor=actor, note=f"reported by site in {packet.id}")
                job = lc.reserve_blank(job_id, actor=actor, serial=serial)
            if job.state is PrintJobState.RESERVED:
                job = lc.mark_sent(job_id, actor=actor, printer=printer)
            if job.state is PrintJobState.SENT:
                job = (lc.mark_printed(job_id, actor=actor) if state is PrintJobState.PRINTED
                       else lc.mark_spoiled(job_id, actor=actor, reason=reason or "spoiled at the site"))
            elif job.state is PrintJobState.PRINTED and state is PrintJobState.SPOILED:
                # A supervisor at the site spoiled the printed card (a misprint): the same here.
                job = lc.spoil_after_print_reported(job_id, actor=actor, reason=reason or "spoiled at the site")
            elif (job.state is PrintJobState.SPOILED and state is PrintJobState.PRINTED
                  and job.blank_serial == serial and lc.was_printed(job_id)):
                state = job.state  # the PRINTED report arrived after the later spoil: already superseded
            if job.state is not state or job.blank_serial != serial:
                raise Conflict(f"job {job_id} is {job.state} on blank {job.blank_serial} here; the site reports "
                               f"{state} on {serial}")
        except (Conflict, ValidationFailed, EktpError) as exc:
            return self._store_refusal(packet, job.enrolment_id, str(exc))
        at = lc.clock()
        receipt = Receipt(str(packet.id), "accepted", job.enrolment_id, at.astimezone(dt.UTC).isoformat())
        with lc.store.write() as conn:
            known_receipt = conn.execute(sa.select(inbox.c.receipt).where(inbox.c.packet_id == str(packet.id))).scalar()
            if known_receipt is not None:
                return attrs.evolve(Receipt(**json.loads(known_receipt)), first=False)
            conn.execute(inbox.insert().values(packet_id=str(packet.id), site_code=packet.id.site,
                                               enrolment_id=job.enrolment_id, digest=packet.digest, received_at=at,
                                               receipt=json.dumps(receipt.body())))
        return receipt

    def _known(self, packet_id: str) -> tuple[str, Receipt] | None:
        with self.lifecycle.store.read() as conn:
            row = conn.execute(sa.select(inbox.c.digest, inbox.c.receipt).where(inbox.c.packet_id == packet_id)
                               ).one_or_none()
        if row is None:
            return None
        stored = json.loads(row.receipt)
        return row.digest, Receipt(**{k: stored[k] for k in ("packet_id", "status", "enrolment_id", "received_at",
                                                              "reason")})

    def _refused(self, data: bytes, code: str, why: str) -> None:
        try:
            packet_id, _header = packets.peek(data)
            subject, site = str(packet_id), packet_id.site
        except packets.PacketRefused:
            subject, site = "(unreadable)", "?"
        with self.lifecycle.store.write() as conn:
            audit.append(conn, actor=f"site:{site}", action="sync.packet_refused", subject_kind="packet",
                         subject_id=subject[:64], at=self.lifecycle.clock(),
                         detail={"packet": subject[:96], "code": code, "why": why[:500], "bytes": len(data),
                                 "sha256": hashlib.sha256(data).hexdigest()})

    def _contents(self, packet: packets.Packet) -> tuple[Enrolment, list[Capture], dict[str, bytes]]:
        header = packet.header
        try:
            if header.get("kind") != "enrolment" or header.get("site") != packet.id.site:
                raise ValueError("the header's kind or site does not match the packet id")
            raw = header["enrolment"]
            if raw["site_code"] != packet.id.site:
                raise ValueError(f"an enrolment of site {raw['site_code']} in a packet of site {packet.id.site}")
            enrolment = Enrolment(id=str(raw["id"]), site_code=str(raw["site_code"]), operator=str(raw["operator"]),
                                  biodata=Biodata.from_dict(dict(raw["biodata"])))
            captures: list[Capture] = []
            images: dict[str, bytes] = {}
            for n, c in enumerate(header["captures"]):
                refs: dict[str, str | None] = {}
                for key in ("image", "template"):
                    name = c.get(key)
                    if name is None:
                        refs[key] = None
                        continue
                    if name not in packet.blobs:
                        raise ValueError(f"capture {n} names {name!r}, which the packet does not carry")
                    refs[key] = blob_store.new_ref()
                    images[str(refs[key])] = packet.blobs[name]
                exception = c.get("exception")
                captures.append(Capture(
                    modality=c["modality"], position=c["position"], device=str(c.get("device", "")),
                    quality=c.get("quality"), blob_ref=refs["image"], template_ref=refs["template"],
                    exception=CaptureException(reason=exception["reason"], approved_by=exception["approved_by"])
                    if exception else None))
        except (KeyError, TypeError, ValueError, EktpError) as exc:
            raise packets.PacketRefused(f"packet {packet.id}: {exc}", code="malformed") from None
        return enrolment, captures, images

    def _store(self, packet: packets.Packet, enrolment: Enrolment, captures: list[Capture],
               images: Mapping[str, bytes]) -> Receipt:
        lc = self.lifecycle
        holder: dict[str, Receipt] = {}

        def keep(conn: Any, at: dt.datetime) -> None:
            receipt = Receipt(str(packet.id), "accepted", enrolment.id, at.astimezone(dt.UTC).isoformat())
            conn.execute(inbox.insert().values(packet_id=str(packet.id), site_code=packet.id.site,
                                               enrolment_id=enrolment.id, digest=packet.digest, received_at=at,
                                               receipt=json.dumps(receipt.body())))
            holder["receipt"] = receipt

        try:
            lc.record(enrolment, captures, images, within=keep)
        except (Conflict, ValidationFailed, EktpError) as exc:
            if isinstance(exc, Conflict) and self._known(str(packet.id)) is not None:
                known = self._known(str(packet.id))
                assert known is not None
                return attrs.evolve(known[1], first=False)  # a concurrent resend stored it first
            return self._store_refusal(packet, enrolment.id, str(exc))
        return holder["receipt"]

    def _store_refusal(self, packet: packets.Packet, enrolment_id: str, reason: str) -> Receipt:
        lc = self.lifecycle
        at = lc.clock()
        receipt = Receipt(str(packet.id), "refused", enrolment_id, at.astimezone(dt.UTC).isoformat(), reason[:500])
        with lc.store.write() as conn:
            known = conn.execute(sa.select(inbox.c.receipt).where(inbox.c.packet_id == str(packet.id))).scalar()
            if known is not None:
                return attrs.evolve(Receipt(**json.loads(known)), first=False)
            conn.execute(inbox.insert().values(packet_id=str(packet.id), site_code=packet.id.site,
                                               enrolment_id=None, digest=packet.digest, received_at=at,
                                               receipt=json.dumps(receipt.body())))
            audit.append(conn, actor=f"site:{packet.id.site}", action="sync.enrolment_refused",
                         subject_kind="packet", subject_id=str(packet.id), at=at,
                         detail={"enrolment": enrolment_id, "why": reason[:500]})
        return receipt


def _hash_code(code: str) -> str:
    return hashlib.sha256(code.strip().upper().encode("utf-8")).hexdigest()


def enrolment_ids_from(site_code: str, lifecycle: LifecycleService) -> list[str]:
    """The enrolments a site recorded that this node holds (for feeds and reports)."""
    with lifecycle.store.read() as conn:
        return list(conn.execute(sa.select(enrolments.c.id).where(enrolments.c.site_code == site_code)
                                 .order_by(enrolments.c.created_at)).scalars())

