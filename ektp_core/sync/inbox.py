"""The Dukcapil node's side of store and forward: the inbox.

A packet is checked (known site, its key's signature, the biometrics sealed to this node, a header that
agrees with itself) before anything is trusted, then the enrolment, its captures and the inbox row are
stored in one transaction, and a receipt signed by this node is kept with it. A resend of the same packet
gets that same receipt; another packet under the same id, an unknown site, a bad signature or a changed
byte is refused and audited.

Sites join with a one-time code (:meth:`Inbox.new_join_code`, :meth:`Inbox.join`) that registers the
site's public key; the answer gives the site the Dukcapil node's keys (:meth:`Outbox.joined`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import secrets
from collections.abc import Callable, Mapping
from typing import Any

import attrs
import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from ektp_core.domain.model import Biodata, Capture, CaptureException, Enrolment, EnrolmentState, PrintJobState
from ektp_core.errors import Conflict, EktpError, NotFound, ValidationFailed
from ektp_core.keys import crypto
from ektp_core.lifecycle import audit
from ektp_core.lifecycle.actions import AuditAction
from ektp_core.lifecycle.service import LifecycleService
from ektp_core.store import blobs as blob_store
from ektp_core.store import repository as repo
from ektp_core.store.tables import (
    blanks,
    inbox,
    join_codes,
    site_keys,
)
from ektp_core.sync import node_keys, packets
from ektp_core.sync.receipts import Receipt

E = EnrolmentState
#: How long a join code stays valid.
JOIN_CODE_TTL = dt.timedelta(hours=48)


class Inbox:
    """The Dukcapil node's side: join codes, site keys, and packets stored once.

    Its keys are given (``signing_key``, ``exchange_key`` and the archived exchange keys that still
    open packets), or, for a deployment, read from its keys folder and read again when a rotation
    (:func:`node_keys.rotate`) changed them, so a running server follows a rotation.
    """

    def __init__(
        self,
        lifecycle: LifecycleService,
        *,
        signing_key: Ed25519PrivateKey | None = None,
        exchange_key: X25519PrivateKey | None = None,
        archived_exchange_keys: tuple[X25519PrivateKey, ...] = (),
        keyring: node_keys.NodeKeyring | None = None,
    ) -> None:
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
            conn.execute(
                join_codes.insert().values(
                    code_hash=_hash_code(code),
                    site_code=site_code,
                    created_at=at,
                    expires_at=at + ttl,
                    created_by=actor,
                )
            )
            audit.append(
                conn,
                actor=actor,
                action=AuditAction.SYNC_JOIN_CODE,
                subject_kind="site",
                subject_id=site_code,
                at=at,
                detail={"expires_at": (at + ttl).isoformat()},
            )
        return code

    def join(self, code: str, *, site_code: str, public_key: str) -> dict[str, str]:
        """Register a site's public key with a one-time code; returns this node's public keys."""
        crypto.load_public_key(public_key)
        lc = self.lifecycle
        at = lc.clock()
        with lc.store.write() as conn:
            row = conn.execute(
                sa.select(join_codes).where(join_codes.c.code_hash == _hash_code(code)).with_for_update()
            ).one_or_none()
            problem = None
            if row is None or row.site_code != site_code:
                problem = "unknown join code for this site"
            elif row.used_at is not None:
                problem = "join code already used"
            elif repo.utc(row.expires_at) < at:
                problem = "join code expired"
            if problem is not None or row is None:
                audit.append(
                    conn,
                    actor=f"site:{site_code}",
                    action=AuditAction.SYNC_JOIN_REFUSED,
                    subject_kind="site",
                    subject_id=site_code,
                    at=at,
                    detail={"why": problem},
                )
            else:
                conn.execute(join_codes.update().where(join_codes.c.code_hash == row.code_hash).values(used_at=at))
                conn.execute(site_keys.delete().where(site_keys.c.site_code == site_code))
                conn.execute(
                    site_keys.insert().values(
                        site_code=site_code, public_key=public_key, registered_at=at, registered_by=row.created_by
                    )
                )
                audit.append(
                    conn,
                    actor=f"site:{site_code}",
                    action=AuditAction.SYNC_JOINED,
                    subject_kind="site",
                    subject_id=site_code,
                    at=at,
                    detail={"public_key": public_key},
                )
        if problem is not None:
            raise ValidationFailed([problem])
        return self.public_keys()

    def site_key(self, site_code: str) -> str:
        """The registered public key of a site; :class:`NotFound` when it never joined."""
        with self.lifecycle.store.read() as conn:
            key = conn.execute(
                sa.select(site_keys.c.public_key).where(site_keys.c.site_code == site_code)
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
                    raise packets.PacketRefused(
                        f"packet {packet_id} was already received with other content", code="conflict"
                    )
                return attrs.evolve(known[1], first=False)
            keys = self.keys()
            packet = packets.open_packet(data, sender=crypto.load_public_key(key), private=keys.opening, digest=digest)
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
            audit.append(
                conn,
                actor=f"site:{packet.id.site}",
                action=AuditAction.SYNC_PACKET_ARCHIVED_KEY,
                subject_kind="site",
                subject_id=packet.id.site,
                at=self.lifecycle.clock(),
                detail={
                    "packet": str(packet.id),
                    "exchange_key": packets.exchange_public_text(keys.opening[packet.sealed_to]),
                },
            )

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
            raise packets.PacketRefused(
                f"packet {packet.id}: job {job_id} was routed to {job.site_code}, not to site {packet.id.site}",
                code="bad_signature",
            )
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
                job = (
                    lc.mark_printed(job_id, actor=actor)
                    if state is PrintJobState.PRINTED
                    else lc.mark_spoiled(job_id, actor=actor, reason=reason or "spoiled at the site")
                )
            elif job.state is PrintJobState.PRINTED and state is PrintJobState.SPOILED:
                # A supervisor at the site spoiled the printed card (a misprint): the same here.
                job = lc.spoil_after_print_reported(job_id, actor=actor, reason=reason or "spoiled at the site")
            elif (
                job.state is PrintJobState.SPOILED
                and state is PrintJobState.PRINTED
                and job.blank_serial == serial
                and lc.was_printed(job_id)
            ):
                state = job.state  # the PRINTED report arrived after the later spoil: already superseded
            if job.state is not state or job.blank_serial != serial:
                raise Conflict(
                    f"job {job_id} is {job.state} on blank {job.blank_serial} here; the site reports "
                    f"{state} on {serial}"
                )
        except (Conflict, ValidationFailed, EktpError) as exc:
            return self._store_refusal(packet, job.enrolment_id, str(exc))
        at = lc.clock()
        receipt = Receipt(str(packet.id), "accepted", job.enrolment_id, at.astimezone(dt.UTC).isoformat())
        with lc.store.write() as conn:
            known_receipt = conn.execute(sa.select(inbox.c.receipt).where(inbox.c.packet_id == str(packet.id))).scalar()
            if known_receipt is not None:
                return attrs.evolve(Receipt(**json.loads(known_receipt)), first=False)
            conn.execute(
                inbox.insert().values(
                    packet_id=str(packet.id),
                    site_code=packet.id.site,
                    enrolment_id=job.enrolment_id,
                    digest=packet.digest,
                    received_at=at,
                    receipt=json.dumps(receipt.body()),
                )
            )
        return receipt

    def _known(self, packet_id: str) -> tuple[str, Receipt] | None:
        with self.lifecycle.store.read() as conn:
            row = conn.execute(
                sa.select(inbox.c.digest, inbox.c.receipt).where(inbox.c.packet_id == packet_id)
            ).one_or_none()
        if row is None:
            return None
        stored = json.loads(row.receipt)
        return row.digest, Receipt(
            **{k: stored[k] for k in ("packet_id", "status", "enrolment_id", "received_at", "reason")}
        )

    def _refused(self, data: bytes, code: str, why: str) -> None:
        try:
            packet_id, _header = packets.peek(data)
            subject, site = str(packet_id), packet_id.site
        except packets.PacketRefused:
            subject, site = "(unreadable)", "?"
        with self.lifecycle.store.write() as conn:
            audit.append(
                conn,
                actor=f"site:{site}",
                action=AuditAction.SYNC_PACKET_REFUSED,
                subject_kind="packet",
                subject_id=subject[:64],
                at=self.lifecycle.clock(),
                detail={
                    "packet": subject[:96],
                    "code": code,
                    "why": why[:500],
                    "bytes": len(data),
                    "sha256": hashlib.sha256(data).hexdigest(),
                },
            )

    def _contents(self, packet: packets.Packet) -> tuple[Enrolment, list[Capture], dict[str, bytes]]:
        header = packet.header
        try:
            if header.get("kind") != "enrolment" or header.get("site") != packet.id.site:
                raise ValueError("the header's kind or site does not match the packet id")
            raw = header["enrolment"]
            if raw["site_code"] != packet.id.site:
                raise ValueError(f"an enrolment of site {raw['site_code']} in a packet of site {packet.id.site}")
            enrolment = Enrolment(
                id=str(raw["id"]),
                site_code=str(raw["site_code"]),
                operator=str(raw["operator"]),
                biodata=Biodata.from_dict(dict(raw["biodata"])),
                created_at=_recorded_at(raw.get("recorded_at")) or self.lifecycle.clock(),
            )
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
                captures.append(
                    Capture(
                        modality=c["modality"],
                        position=c["position"],
                        device=str(c.get("device", "")),
                        quality=c.get("quality"),
                        blob_ref=refs["image"],
                        template_ref=refs["template"],
                        exception=CaptureException(reason=exception["reason"], approved_by=exception["approved_by"])
                        if exception
                        else None,
                    )
                )
        except (KeyError, TypeError, ValueError, EktpError) as exc:
            raise packets.PacketRefused(f"packet {packet.id}: {exc}", code="malformed") from None
        return enrolment, captures, images

    def _store(
        self, packet: packets.Packet, enrolment: Enrolment, captures: list[Capture], images: Mapping[str, bytes]
    ) -> Receipt:
        lc = self.lifecycle
        holder: dict[str, Receipt] = {}

        def keep(conn: Any, at: dt.datetime) -> None:
            receipt = Receipt(str(packet.id), "accepted", enrolment.id, at.astimezone(dt.UTC).isoformat())
            conn.execute(
                inbox.insert().values(
                    packet_id=str(packet.id),
                    site_code=packet.id.site,
                    enrolment_id=enrolment.id,
                    digest=packet.digest,
                    received_at=at,
                    receipt=json.dumps(receipt.body()),
                )
            )
            holder["receipt"] = receipt

        try:
            # The site's recording time is the enrolment's; this node's arrival time is the inbox row's.
            lc.record(enrolment, captures, images, within=keep, recorded_at=enrolment.created_at)
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
            conn.execute(
                inbox.insert().values(
                    packet_id=str(packet.id),
                    site_code=packet.id.site,
                    enrolment_id=None,
                    digest=packet.digest,
                    received_at=at,
                    receipt=json.dumps(receipt.body()),
                )
            )
            audit.append(
                conn,
                actor=f"site:{packet.id.site}",
                action=AuditAction.SYNC_ENROLMENT_REFUSED,
                subject_kind="packet",
                subject_id=str(packet.id),
                at=at,
                detail={"enrolment": enrolment_id, "why": reason[:500]},
            )
        return receipt


def _recorded_at(value: Any) -> dt.datetime | None:
    """The packet's ``recorded_at`` (ISO 8601 with its offset); None when absent. A time without an
    offset, or not a time, makes the packet malformed (ValueError)."""
    if value is None:
        return None
    moment = dt.datetime.fromisoformat(str(value))
    if moment.tzinfo is None:
        raise ValueError(f"recorded_at {value!r} has no UTC offset")
    return moment.astimezone(dt.UTC)


def _hash_code(code: str) -> str:
    return hashlib.sha256(code.strip().upper().encode("utf-8")).hexdigest()
