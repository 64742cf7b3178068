"""Rotating the Dukcapil node's own keys: its Ed25519 signing key and its X25519 exchange key.

Sites pin the Dukcapil node's public keys when they join. To replace them without breaking any
site, every replacement is announced in a **transition statement**: the new key set (version ``n``)
and the one it replaces (version ``n - 1``), signed by the previous signing key *and* by the new one.
The Dukcapil node publishes the chain of its statements (``GET /api/v1/keys``); a site walks it from
the signing key it pinned, checking both signatures of every link, and only then pins the keys at the
end of the walk. A statement the site cannot reach from its pinned key (forged, from another node, or
an old one replayed to roll it back) is refused and changes nothing.

At the Dukcapil node (:func:`rotate`), the new keys are written first as ``node.ed25519.next`` and
``node.x25519.next``, so a rotation that stopped midway finishes with the same keys when run again;
the statement is recorded, the old private keys are kept as ``node.ed25519.<time>.v<N>.old`` and
``node.x25519.<time>.v<N>.old``, the new ones take their place, and the rotation is audited. The
inbox keeps opening packets sealed to an archived exchange key (:class:`NodeKeyring`): a site that
has not heard of the rotation yet, or a packet that waited in a site's outbox, still goes through.

At a site (:class:`SiteKeys`), verified statements are kept in the same table, so a print order the
Dukcapil node signed with an earlier key of the chain is still recognised (:meth:`SiteKeys.trusted`).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import attrs
import sqlalchemy as sa
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from ektp_core.domain.model import SiteKind
from ektp_core.errors import EktpError
from ektp_core.keys import crypto
from ektp_core.lifecycle import audit
from ektp_core.lifecycle.actions import AuditAction
from ektp_core.messages import Message
from ektp_core.store.tables import node_key_transitions, outbox, peers
from ektp_core.sync import packets

#: What a statement says it is; part of the signed body, so no other signed object passes for one.
STATEMENT_KIND = "ektp.node_keys"
# Signatures cover this prefix and the canonical body: a receipt or a feed item (canonical JSON,
# starting with "{") can never be mistaken for a key statement, nor the reverse.
_SIGNED = b"ektp node key transition v1\n"
SIGNING_FILE = "node.ed25519"
EXCHANGE_FILE = crypto.EXCHANGE_KEY_FILE
#: Suffix of a new key that is not in use yet (a rotation that stopped midway resumes with it).
PENDING = ".next"
#: How many statements a chain may hold (a node rotates a few times in its life; more is hostile).
MAX_CHAIN = 1000
#: A running server reads its keys again at least this often (besides whenever the key files change).
RELOAD_SECONDS = 10.0

K = TypeVar("K", Ed25519PrivateKey, X25519PrivateKey)


class ChainRefused(EktpError):
    """A key statement or chain that does not verify from the key this site pinned: nothing changed."""

    message_code = "error.chain_refused"


def _stamp(at: dt.datetime) -> str:
    return at.astimezone(dt.UTC).strftime("%Y%m%dT%H%M%SZ")


# ---------------------------------------------------------------------------------------------------
# Statements and chains
# ---------------------------------------------------------------------------------------------------


@attrs.frozen
class Statement:
    """One transition: the key set ``version`` replaces the one before it, signed by both signing keys."""

    version: int
    node: str
    previous_signing_key: str
    previous_exchange_key: str
    signing_key: str
    exchange_key: str
    at: str
    signed_by_previous: str = ""
    signed_by_new: str = ""

    def body(self) -> dict[str, Any]:
        """The signed part."""
        return {
            "kind": STATEMENT_KIND,
            "version": self.version,
            "node": self.node,
            "at": self.at,
            "previous": {"signing_key": self.previous_signing_key, "exchange_key": self.previous_exchange_key},
            "keys": {"signing_key": self.signing_key, "exchange_key": self.exchange_key},
        }

    def to_json(self) -> dict[str, Any]:
        """The statement as published: its body and both signatures."""
        return {"body": self.body(), "signed_by_previous": self.signed_by_previous, "signed_by_new": self.signed_by_new}

    @classmethod
    def from_json(cls, raw: Any) -> Statement:
        """Read a published statement (its signatures are not checked here: :meth:`verify`)."""
        try:
            body = raw["body"]
            if body["kind"] != STATEMENT_KIND:
                raise ValueError(f"kind {body['kind']!r}")
            version = body["version"]
            if not isinstance(version, int) or isinstance(version, bool) or version < 1:
                raise ValueError(f"version {version!r}")
            found = cls(
                version=version,
                node=str(body["node"]),
                previous_signing_key=str(body["previous"]["signing_key"]),
                previous_exchange_key=str(body["previous"]["exchange_key"]),
                signing_key=str(body["keys"]["signing_key"]),
                exchange_key=str(body["keys"]["exchange_key"]),
                at=str(body["at"]),
                signed_by_previous=str(raw["signed_by_previous"]),
                signed_by_new=str(raw["signed_by_new"]),
            )
            if found.body() != body:
                raise ValueError("unexpected fields in the body")
            if dt.datetime.fromisoformat(found.at).tzinfo is None:
                raise ValueError(f"time {found.at!r} without a zone")
            for key in (found.previous_signing_key, found.signing_key):
                crypto.load_public_key(key)
            for key in (found.previous_exchange_key, found.exchange_key):
                packets.load_exchange_public(key)
        except (KeyError, TypeError, ValueError, EktpError) as exc:
            raise ChainRefused(f"not a key statement of a Dukcapil node ({exc})") from None
        return found

    def verify(self) -> None:
        """Both signatures hold (the previous signing key's and the new one's); :class:`ChainRefused` otherwise."""
        signed = _SIGNED + crypto.canonical_json(self.body())
        for who, key, signature in (
            ("previous", self.previous_signing_key, self.signed_by_previous),
            ("new", self.signing_key, self.signed_by_new),
        ):
            try:
                crypto.verify_signature(crypto.load_public_key(key), signed, signature)
            except (ValueError, crypto.TamperedData):
                raise ChainRefused(
                    f"the key statement for version {self.version} is not signed by its {who} "
                    f"signing key: forged or changed on the way"
                ) from None


def make_statement(
    *,
    version: int,
    node: str,
    previous: Ed25519PrivateKey,
    previous_exchange: str,
    signing: Ed25519PrivateKey,
    exchange: str,
    at: dt.datetime,
) -> Statement:
    """A statement that key set ``version`` (``signing``, ``exchange``) replaces ``previous``, signed by both."""
    unsigned = Statement(
        version=version,
        node=node,
        previous_signing_key=crypto.public_key_text(previous),
        previous_exchange_key=previous_exchange,
        signing_key=crypto.public_key_text(signing),
        exchange_key=exchange,
        at=at.astimezone(dt.UTC).isoformat(),
    )
    signed = _SIGNED + crypto.canonical_json(unsigned.body())
    return attrs.evolve(
        unsigned, signed_by_previous=crypto.sign(previous, signed), signed_by_new=crypto.sign(signing, signed)
    )


def walk(pinned: str, chain: Any) -> list[Statement]:
    """The links from the signing key ``pinned`` to the newest key the chain reaches, each verified.

    Only links reachable from ``pinned`` are trusted; the rest of the chain (history from before the
    pin) is ignored. A fork (two statements following one key), a loop, a version that does not
    follow the one before, or a link whose signatures do not hold refuses the whole chain.
    """
    if not isinstance(chain, list):
        raise ChainRefused("the Dukcapil node's key chain is not a list")
    if len(chain) > MAX_CHAIN:
        raise ChainRefused(f"the Dukcapil node's key chain has {len(chain)} statements (at most {MAX_CHAIN})")
    following: dict[str, list[Statement]] = {}
    for raw in chain:
        statement = Statement.from_json(raw)
        following.setdefault(statement.previous_signing_key, []).append(statement)
    links: list[Statement] = []
    seen, key = {pinned}, pinned
    while key in following:
        candidates = {json.dumps(s.to_json(), sort_keys=True): s for s in following[key]}
        if len(candidates) > 1:
            raise ChainRefused(f"two different key statements follow the key {key[:12]}...: refused (a forked chain)")
        [link] = candidates.values()
        link.verify()
        if links and (link.version != links[-1].version + 1 or link.node != links[-1].node):
            raise ChainRefused(
                f"the key statement for version {link.version} does not follow version "
                f"{links[-1].version} of the same node"
            )
        if link.signing_key in seen:
            raise ChainRefused("the Dukcapil node's key chain loops back to an earlier key")
        seen.add(link.signing_key)
        links.append(link)
        key = link.signing_key
    return links


# ---------------------------------------------------------------------------------------------------
# The Dukcapil node: its current keys, published, and rotated
# ---------------------------------------------------------------------------------------------------


@attrs.frozen
class KeySet:
    """The Dukcapil node's keys at one moment: the current pair and the archived exchange keys."""

    version: int
    signing: Ed25519PrivateKey
    exchange: X25519PrivateKey
    #: Exchange keys of earlier versions, newest first: packets sealed to them still open.
    archived_exchange: tuple[X25519PrivateKey, ...] = ()

    @property
    def opening(self) -> tuple[X25519PrivateKey, ...]:
        """Every exchange key a packet may be sealed to, the current one first."""
        return (self.exchange, *self.archived_exchange)


def _load_signing(path: Path) -> Ed25519PrivateKey:
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise EktpError(f"{path} is not an Ed25519 key")
    return key


def _load_exchange(path: Path) -> X25519PrivateKey:
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, X25519PrivateKey):
        raise EktpError(f"{path} is not an X25519 key")
    return key


def _pem(key: Ed25519PrivateKey | X25519PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _public(key: Ed25519PrivateKey | X25519PrivateKey) -> str:
    if isinstance(key, Ed25519PrivateKey):
        return crypto.public_key_text(key)
    return packets.exchange_public_text(key)


def archived_exchange_files(keys_dir: Path) -> list[Path]:
    """The archived exchange keys of ``keys_dir``, newest first (their names sort by time)."""
    return sorted(keys_dir.glob(f"{EXCHANGE_FILE}.*.old"), reverse=True)


def published_signing_key(conn: sa.Connection) -> tuple[int, str | None]:
    """The version and signing public key sites are shown now: the end of the completed chain, the keys
    the first rotation replaces while it is unfinished, or ``(0, None)`` when the node never rotated."""
    rows = conn.execute(
        sa.select(
            node_key_transitions.c.version,
            node_key_transitions.c.previous_signing_key,
            node_key_transitions.c.signing_key,
            node_key_transitions.c.completed_at,
        ).order_by(node_key_transitions.c.version)
    ).all()
    completed = [row for row in rows if row.completed_at is not None]
    if completed:
        return int(completed[-1].version), str(completed[-1].signing_key)
    if rows:
        return 0, str(rows[0].previous_signing_key)
    return 0, None


def load_key_set(keys_dir: Path, published: Callable[[], tuple[int, str | None]]) -> KeySet:
    """The keys in ``keys_dir`` now, signing with the key sites are shown (``published``).

    That is the live key except while a rotation has moved its new key in but has not completed: the
    node then goes on signing with the previous key, kept in the archive, so sites can verify every
    receipt and feed item at any moment of a rotation, or after one that stopped midway."""
    live = crypto.load_signing_key(keys_dir)
    version, wanted = published()
    signing = live
    if wanted is not None and crypto.public_key_text(live) != wanted:
        for path in sorted(keys_dir.glob(f"{SIGNING_FILE}.*.old"), reverse=True):
            archived = _load_signing(path)
            if crypto.public_key_text(archived) == wanted:
                signing = archived
                break
    exchange = crypto.load_exchange_key(keys_dir)
    opening = tuple(_load_exchange(path) for path in archived_exchange_files(keys_dir))
    return KeySet(version, signing, exchange, opening)


class NodeKeyring:
    """The Dukcapil node's keys as its server uses them: read again whenever the key files change, so
    `ektp sync rotate-node-keys` takes effect in a running `ektp serve` without a restart (a completed
    rotation touches the keys folder for that)."""

    def __init__(self, keys_dir: Path, published: Callable[[], tuple[int, str | None]]) -> None:
        self.keys_dir = keys_dir
        self._published = published
        self._lock = threading.Lock()
        self._stamp: tuple[int, ...] | None = None
        self._loaded = 0.0
        self._keys: KeySet | None = None

    def _files_stamp(self) -> tuple[int, ...]:
        # The folder's mtime moves when a key is renamed, archived or deleted (and when a rotation
        # completes); the files' when rewritten.
        stamps: list[int] = []
        for path in (self.keys_dir, self.keys_dir / SIGNING_FILE, self.keys_dir / EXCHANGE_FILE):
            try:
                st = path.stat()
            except FileNotFoundError:
                stamps += [0, 0]
            else:
                stamps += [st.st_ino, st.st_mtime_ns]
        return tuple(stamps)

    def current(self) -> KeySet:
        """The keys in force (read again when the files changed since last time, and every
        :data:`RELOAD_SECONDS` anyway: a folder whose times are coarse may not show a change)."""
        stamp = self._files_stamp()
        now = time.monotonic()
        with self._lock:
            if self._keys is None or stamp != self._stamp or now - self._loaded > RELOAD_SECONDS:
                self._keys = load_key_set(self.keys_dir, self._published)
                self._stamp, self._loaded = stamp, now
            return self._keys


def published(conn: sa.Connection, keys: KeySet) -> dict[str, Any]:
    """What ``GET /api/v1/keys`` answers: the current public keys, their version, and the chain of
    every completed transition (a site walks it from the key it pinned)."""
    rows = conn.execute(
        sa.select(node_key_transitions.c.statement, node_key_transitions.c.completed_at).order_by(
            node_key_transitions.c.version
        )
    ).all()
    chain = [json.loads(row.statement) for row in rows if row.completed_at is not None]
    # A site is only ever shown keys it can chain to: the end of the completed chain, even while a
    # rotation that stopped midway has already put its new key files in place.
    if chain:
        last = Statement.from_json(chain[-1])
        return {
            "signing_key": last.signing_key,
            "exchange_key": last.exchange_key,
            "version": last.version,
            "chain": chain,
        }
    if rows:  # the first rotation has not completed: the keys it replaces are still the published ones
        first = Statement.from_json(json.loads(rows[0].statement))
        return {
            "signing_key": first.previous_signing_key,
            "exchange_key": first.previous_exchange_key,
            "version": 0,
            "chain": [],
        }
    return {"signing_key": _public(keys.signing), "exchange_key": _public(keys.exchange), "version": 0, "chain": []}


@attrs.frozen
class Rotation:
    """What :func:`rotate` did."""

    version: int
    previous_signing_key: str
    signing_key: str
    exchange_key: str
    #: The archived private keys (file names in the keys folder).
    archived: list[str]
    #: True when this finished a rotation that had stopped midway (no new keys were made).
    resumed: bool


def _pending(path: Path, make: Callable[[], K], load: Callable[[Path], K]) -> K:
    """The new key waiting in ``path``, made and written (0600, complete or not at all) when absent."""
    if path.exists():
        return load(path)
    key = make()
    temporary = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    crypto.write_private_file(temporary, _pem(key))
    try:
        os.link(temporary, path)  # fails if another rotation wrote its key first: that one is used
    except FileExistsError:
        return load(path)
    finally:
        temporary.unlink()
    return key


def archive_key_file(live: Path, archive: Path) -> None:
    """Keep the key file ``live`` also as ``archive`` (0600; the live file stays in place until a new
    key replaces it, so a rotation stopped in between still has its key); done already is fine."""
    if archive.exists():
        if archive.read_bytes() != live.read_bytes():
            raise EktpError(f"{archive} exists and holds another key: move it away and run this again")
        return
    try:
        os.link(live, archive)
    except OSError:  # a filesystem without hard links
        partial = archive.with_name(archive.name + ".tmp")
        crypto.write_private_file(partial, live.read_bytes())
        os.replace(partial, archive)


def _swap(
    keys_dir: Path,
    name: str,
    load: Callable[[Path], Ed25519PrivateKey | X25519PrivateKey],
    previous: str,
    new: str,
    archive: str,
) -> None:
    """Archive the live key ``name`` and put the pending one in its place; skipped when already done."""
    live, pending = keys_dir / name, keys_dir / (name + PENDING)
    live_public = _public(load(live))
    if live_public == new:
        pending.unlink(missing_ok=True)
        return
    if live_public != previous:
        raise EktpError(
            f"{live} is neither the key the rotation replaces nor its new key: stopped; restore the "
            "keys folder from a backup"
        )
    if not pending.exists() or _public(load(pending)) != new:
        raise EktpError(
            f"the new key of the unfinished rotation ({pending}) is missing or another key: restore it from a backup"
        )
    archive_key_file(live, keys_dir / archive)
    os.replace(pending, live)
    crypto.fsync_dir(keys_dir)  # the renames must survive a power cut before the rotation is done


def rotate(lifecycle: Any, *, actor: str) -> Rotation:
    """Replace the Dukcapil node's signing and exchange keys; finishes a rotation that stopped midway.

    Steps, each skipped when already done: the new keys (``*.next`` files), the statement recorded as
    not yet completed, each old key archived and replaced by the new one, then the rotation marked
    completed and audited (``sync.node_keys_rotated``). Sites see the new keys only once completed.
    """
    deployment = lifecycle.deployment
    site = deployment.site
    if site.kind is not SiteKind.DUKCAPIL:
        raise EktpError(
            f"this is site {site.code} ({site.kind}), not the Dukcapil node: only the Dukcapil node "
            "rotates its node keys (a site replaces its own key with `ektp sync rotate-key CODE`)"
        )
    keys_dir: Path = deployment.keys_dir
    store = lifecycle.store
    with store.read() as conn:
        unfinished = conn.execute(
            sa.select(node_key_transitions)
            .where(node_key_transitions.c.completed_at.is_(None))
            .order_by(node_key_transitions.c.version.desc())
            .limit(1)
        ).one_or_none()
        done = int(
            conn.execute(
                sa.select(sa.func.coalesce(sa.func.max(node_key_transitions.c.version), 0)).where(
                    node_key_transitions.c.completed_at.is_not(None)
                )
            ).scalar_one()
        )
    resumed = unfinished is not None
    if unfinished is not None:
        statement = Statement.from_json(json.loads(unfinished.statement))
    else:
        signing = _pending(keys_dir / (SIGNING_FILE + PENDING), crypto.new_signing_key, _load_signing)
        exchange = _pending(keys_dir / (EXCHANGE_FILE + PENDING), X25519PrivateKey.generate, _load_exchange)
        previous = crypto.load_signing_key(keys_dir)
        if crypto.public_key_text(previous) == crypto.public_key_text(signing):
            raise EktpError(f"{keys_dir / (SIGNING_FILE + PENDING)} is the key in use: remove it and run this again")
        at = lifecycle.clock()
        statement = make_statement(
            version=done + 1,
            node=site.code,
            previous=previous,
            previous_exchange=_public(crypto.load_exchange_key(keys_dir)),
            signing=signing,
            exchange=_public(exchange),
            at=at,
        )
        try:
            with store.write() as conn:
                conn.execute(
                    node_key_transitions.insert().values(
                        version=statement.version,
                        previous_signing_key=statement.previous_signing_key,
                        signing_key=statement.signing_key,
                        exchange_key=statement.exchange_key,
                        statement=json.dumps(statement.to_json()),
                        created_at=at,
                    )
                )
        except sa.exc.IntegrityError:
            raise EktpError(
                f"another rotation recorded version {statement.version} meanwhile: see `ektp sync status`, "
                "then run this again if it says a rotation stopped midway"
            ) from None
    stamp = f"{_stamp(dt.datetime.fromisoformat(statement.at))}.v{statement.version - 1}.old"
    archived = [f"{EXCHANGE_FILE}.{stamp}", f"{SIGNING_FILE}.{stamp}"]
    # The exchange key first: from then on the inbox opens packets sealed to either key.
    _swap(keys_dir, EXCHANGE_FILE, _load_exchange, statement.previous_exchange_key, statement.exchange_key, archived[0])
    _swap(keys_dir, SIGNING_FILE, _load_signing, statement.previous_signing_key, statement.signing_key, archived[1])
    at = lifecycle.clock()
    with store.write() as conn:
        marked = conn.execute(
            node_key_transitions.update()
            .where(node_key_transitions.c.version == statement.version, node_key_transitions.c.completed_at.is_(None))
            .values(completed_at=at)
        )
        if marked.rowcount:
            audit.append(
                conn,
                actor=actor,
                action=AuditAction.SYNC_NODE_KEYS_ROTATED,
                subject_kind="node_keys",
                subject_id=str(statement.version),
                at=at,
                detail={
                    "version": statement.version,
                    "signing_key": statement.signing_key,
                    "exchange_key": statement.exchange_key,
                    "previous_signing_key": statement.previous_signing_key,
                    "archived": archived,
                    "resumed": resumed,
                },
            )
    # Running servers notice the folder's new mtime and sign with the new key from now on.
    os.utime(keys_dir)
    return Rotation(
        statement.version,
        statement.previous_signing_key,
        statement.signing_key,
        statement.exchange_key,
        archived,
        resumed,
    )


# ---------------------------------------------------------------------------------------------------
# A site: the pinned keys, moved forward only along a verified chain
# ---------------------------------------------------------------------------------------------------


@attrs.frozen
class KeyUpdate:
    """A site moved its pinned keys forward along the chain."""

    from_version: int | None
    version: int
    signing_key: str
    exchange_key: str
    links: int


class SiteKeys:
    """A site's pinned keys of its Dukcapil node and the statements it verified."""

    def __init__(self, lifecycle: Any) -> None:
        self.lifecycle = lifecycle

    def _peer(self, conn: sa.Connection) -> Any:
        row = conn.execute(sa.select(peers).where(peers.c.role == "dukcapil")).one_or_none()
        if row is None:
            raise EktpError(Message("sync.not_joined"))
        return row

    def version(self) -> int | None:
        """The version of the pinned keys (None: pinned at join and never moved, version unknown)."""
        with self.lifecycle.store.read() as conn:
            found = conn.execute(sa.select(sa.func.max(node_key_transitions.c.version))).scalar()
        return None if found is None else int(found)

    def trusted(self) -> list[str]:
        """The pinned signing key, then the earlier keys of the verified chain: a print order kept here
        was checked with the key pinned when it arrived, which may since have been replaced."""
        with self.lifecycle.store.read() as conn:
            pinned = str(self._peer(conn).signing_key)
            earlier = (
                conn.execute(
                    sa.select(node_key_transitions.c.previous_signing_key).order_by(
                        node_key_transitions.c.version.desc()
                    )
                )
                .scalars()
                .all()
            )
        return [pinned, *[str(k) for k in earlier if k != pinned]]

    def waiting_sealed_to_older_key(self) -> int:
        """Packets waiting in the outbox that were sealed before the newest keys were pinned (they go
        through: the Dukcapil node keeps its archived exchange keys)."""
        with self.lifecycle.store.read() as conn:
            since = conn.execute(sa.select(sa.func.max(node_key_transitions.c.completed_at))).scalar()
            if since is None:
                return 0
            return int(
                conn.execute(
                    sa.select(sa.func.count())
                    .select_from(outbox)
                    .where(outbox.c.sent_at.is_(None), outbox.c.created_at < since)
                ).scalar_one()
            )

    def remember(
        self,
        conn: sa.Connection,
        chain: Iterable[Any],
        signing_key: str,
        exchange_key: str,
        version: int | None,
        at: dt.datetime,
    ) -> None:
        """At join (the keys are taken on the one-time code's word): keep the history that ends at the
        joined keys, so the site knows their version. A history that does not verify refuses the join."""
        conn.execute(node_key_transitions.delete())
        statements = [Statement.from_json(raw) for raw in chain]
        if not statements:
            if version:
                raise ChainRefused(f"the Dukcapil node gave keys of version {version} without their chain: not joined")
            return
        links = walk(statements[0].previous_signing_key, [s.to_json() for s in statements])
        if (
            not links
            or (links[-1].signing_key, links[-1].exchange_key) != (signing_key, exchange_key)
            or (version is not None and links[-1].version != version)
        ):
            raise ChainRefused("the Dukcapil node's key chain does not end at the keys it gave: not joined")
        self._insert(conn, links, at)

    @staticmethod
    def _insert(conn: sa.Connection, links: Sequence[Statement], at: dt.datetime) -> None:
        for link in links:
            conn.execute(
                node_key_transitions.insert().values(
                    version=link.version,
                    previous_signing_key=link.previous_signing_key,
                    signing_key=link.signing_key,
                    exchange_key=link.exchange_key,
                    statement=json.dumps(link.to_json()),
                    created_at=dt.datetime.fromisoformat(link.at),
                    completed_at=at,
                )
            )

    def accept(self, answer: Mapping[str, Any], *, actor: str = "sync") -> KeyUpdate | None:
        """Move the pinned keys to those ``answer`` (``GET /api/v1/keys``) presents, if its chain leads
        there from the pinned signing key; None when they are the pinned ones already. Otherwise
        :class:`ChainRefused` (audited as ``sync.node_keys_refused``) and nothing changes."""
        lc = self.lifecycle
        with lc.store.read() as conn:
            peer = self._peer(conn)
            known = conn.execute(sa.select(sa.func.max(node_key_transitions.c.version))).scalar()
        pinned, pinned_exchange = str(peer.signing_key), str(peer.exchange_key)
        try:
            offered, offered_exchange = str(answer["signing_key"]), str(answer["exchange_key"])
        except (KeyError, TypeError):
            return self._refuse("the Dukcapil node's key answer has no keys", pinned)
        if (offered, offered_exchange) == (pinned, pinned_exchange):
            return None
        try:
            links = walk(pinned, answer.get("chain", []))
            if not links or (links[-1].signing_key, links[-1].exchange_key) != (offered, offered_exchange):
                raise ChainRefused(
                    f"the keys the Dukcapil node presents (version {answer.get('version')}) do not descend from the "
                    f"key this site pinned ({pinned[:12]}...): an old statement replayed, another node, or a forged "
                    "chain"
                )
            if known is not None and links[0].version != int(known) + 1:
                raise ChainRefused(
                    f"the key statement for version {links[0].version} does not follow version {known}, "
                    "the one this site pinned"
                )
        except ChainRefused as exc:
            return self._refuse(str(exc), pinned)
        at = lc.clock()
        last = links[-1]
        with lc.store.write() as conn:
            moved = conn.execute(
                peers.update()
                .where(peers.c.role == "dukcapil", peers.c.signing_key == pinned)
                .values(signing_key=last.signing_key, exchange_key=last.exchange_key)
            )
            if not moved.rowcount:
                raise EktpError("the pinned keys changed meanwhile (another sync run): run this again")
            self._insert(conn, links, at)
            audit.append(
                conn,
                actor=actor,
                action=AuditAction.SYNC_NODE_KEYS_UPDATED,
                subject_kind="node_keys",
                subject_id=str(last.version),
                at=at,
                detail={
                    "from_version": known,
                    "version": last.version,
                    "signing_key": last.signing_key,
                    "exchange_key": last.exchange_key,
                    "previous_signing_key": pinned,
                    "links": len(links),
                },
            )
        return KeyUpdate(
            None if known is None else int(known), last.version, last.signing_key, last.exchange_key, len(links)
        )

    def _refuse(self, why: str, pinned: str) -> NoReturn:
        lc = self.lifecycle
        with lc.store.write() as conn:
            audit.append(
                conn,
                actor="sync",
                action=AuditAction.SYNC_NODE_KEYS_REFUSED,
                subject_kind="node_keys",
                subject_id="dukcapil",
                at=lc.clock(),
                detail={"why": why[:500], "pinned": pinned},
            )
        raise ChainRefused(f"{why}; the pinned keys stay as they are: ask the Dukcapil office")
