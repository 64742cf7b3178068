"""The Dukcapil node replaces its own signing and exchange keys: sites that pinned the old keys walk the
signed chain to the new ones and go on; packets sealed to an old exchange key are still accepted; a
forged, foreign or replayed chain changes nothing; a rotation that stopped midway finishes with the
same keys; a site cannot rotate the Dukcapil node's keys. (`ektp serve` following a rotation made by
`ektp sync rotate-node-keys` in another process: tests/integration/sync/test_node_keys_over_http.py.)"""

from __future__ import annotations

import datetime as dt
import json
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from test_store_and_forward import SITE, Direct, Node, joined, packet_bytes, record

from ektp_core.cli import cli
from ektp_core.domain.model import EnrolmentState
from ektp_core.errors import EktpError
from ektp_core.keys import crypto
from ektp_core.store.tables import node_key_transitions, peers
from ektp_core.sync import node_keys, packets
from ektp_core.sync.feed import Feed, FeedReader, FeedRefused, check_signed_job
from ektp_core.sync.inbox import Inbox
from ektp_core.sync.node_keys import ChainRefused, SiteKeys
from ektp_core.sync.outbox import Outbox
from ektp_core.testing.databases import temporary_database

E = EnrolmentState


@pytest.fixture
def nodes(tmp_path: Path, ektp_database_url: str) -> Iterator[tuple[Node, Node]]:
    from test_store_and_forward import _profile

    profile = _profile(tmp_path)
    (tmp_path / "second").mkdir()
    with temporary_database(tmp_path / "second") as second_url:
        dukcapil = Node(tmp_path / "dukcapil", profile, "17.71", ektp_database_url)
        site = Node(tmp_path / "site", profile, SITE, second_url)
        yield dukcapil, site
        site.store.dispose()
    dukcapil.store.dispose()


def pinned(site: Node) -> tuple[str, str, list[int]]:
    """The site's pinned keys and the versions of the statements it verified."""
    with site.store.read() as conn:
        row = conn.execute(sa.select(peers.c.signing_key, peers.c.exchange_key)).one()
        versions = list(
            conn.execute(sa.select(node_key_transitions.c.version).order_by(node_key_transitions.c.version)).scalars()
        )
    return str(row.signing_key), str(row.exchange_key), versions


def sync_status(node: Node) -> str:
    """What ``ektp sync status --json`` prints for the node."""
    result = CliRunner().invoke(cli, ["sync", "status", "--json", "-d", str(node.deployment.root)])
    assert result.exit_code == 0, result.output
    return result.stdout


def audit_count(node: Node, action: str) -> int:
    return node.audit_actions().count(action)


def test_a_site_that_pinned_the_old_keys_goes_on_after_a_rotation(nodes: tuple[Node, Node]) -> None:
    dukcapil, site = nodes
    inbox_, outbox_ = joined(dukcapil, site)
    old = inbox_.public_keys()
    # A verdict's print job reaches the site before the rotation (signed with the old key).
    first = record(site)
    outbox_.enqueue(first, actor="op1")
    outbox_.send(Direct(inbox_))
    for state in (E.SENT_FOR_ENROLLMENT, E.RECEIVED_AT_CENTRAL, E.PRINT_READY_RECORD):
        dukcapil.lc.transition(first, state, actor="central")
    job = dukcapil.lc.queue_print(first, site_code=SITE, actor="router", routing_reason="printed at the kecamatan")
    page = Feed(dukcapil.lc, inbox_.signing_key).since(SITE, 0)
    FeedReader(site.lc).apply(page.items, page.cursor)
    # A packet sealed to the old exchange key waits in the outbox over the rotation.
    sealed_before = outbox_.enqueue(record(site), actor="op1")

    done = node_keys.rotate(dukcapil.lc, actor="admin")
    assert (done.version, done.resumed, done.previous_signing_key) == (1, False, old["signing_key"])
    keys_dir = dukcapil.deployment.keys_dir
    # The running inbox follows the new key files; the old private keys are archived, owner-only.
    assert inbox_.public_keys() == {"signing_key": done.signing_key, "exchange_key": done.exchange_key}
    for name in done.archived:
        assert stat.S_IMODE((keys_dir / name).stat().st_mode) == 0o600
    assert not list(keys_dir.glob("*.next")) and "sync.node_keys_rotated" in dukcapil.audit_actions()
    published = inbox_.published_keys()
    assert published["version"] == 1 and len(published["chain"]) == 1

    # The site sends: the receipt is signed by the new key, so it fetches the chain, verifies it from the
    # key it pinned, pins the new keys, and the packet sealed to the old exchange key is accepted.
    report = outbox_.send(Direct(inbox_), refresh_keys=lambda: SiteKeys(site.lc).accept(inbox_.published_keys()))
    assert report.sent == [sealed_before] and not report.refused
    assert pinned(site) == (done.signing_key, done.exchange_key, [1])
    assert "sync.node_keys_updated" in site.audit_actions()
    assert "sync.packet_archived_key" in dukcapil.audit_actions()
    # A packet made now is sealed to the new exchange key and opens without the archived one.
    after = outbox_.enqueue(record(site), actor="op1")
    assert packets.open_packet(
        packet_bytes(site, after), sender=outbox_.signing_key.public_key(), private=inbox_.exchange_key
    ).id
    assert outbox_.send(Direct(inbox_)).sent == [after]
    assert audit_count(dukcapil, "sync.packet_archived_key") == 1
    # The feed, signed with the new key, applies; the print order signed with the old key still holds.
    page = Feed(dukcapil.lc, inbox_.signing_key).since(SITE, FeedReader(site.lc).cursor)
    FeedReader(site.lc).apply(page.items, page.cursor)
    assert check_signed_job(site.lc, job.id)["job_id"] == job.id
    # Nothing new: the pinned keys stay, nothing is audited.
    assert SiteKeys(site.lc).accept(inbox_.published_keys()) is None
    # What `ektp sync status` shows on both sides.
    node_status = json.loads(sync_status(dukcapil))
    assert node_status["keys_version"] == 1 and node_status["unfinished_rotation"] is None
    assert sorted(node_status["archived_keys"]) == sorted(done.archived)
    assert node_status["last_packet_sealed_to_archived_key"] is not None
    site_status = json.loads(sync_status(site))
    assert site_status["dukcapil_keys_version"] == 1 and site_status["dukcapil_signing_key"] == done.signing_key
    assert site_status["waiting_sealed_to_older_key"] == 0


def test_a_site_that_slept_through_two_rotations_walks_both(nodes: tuple[Node, Node]) -> None:
    dukcapil, site = nodes
    inbox_, outbox_ = joined(dukcapil, site)
    waiting = outbox_.enqueue(record(site), actor="op1")
    first = node_keys.rotate(dukcapil.lc, actor="admin")
    second = node_keys.rotate(dukcapil.lc, actor="admin")
    assert (first.version, second.version) == (1, 2) and second.previous_signing_key == first.signing_key
    assert len(list(dukcapil.deployment.keys_dir.glob("node.x25519.*.old"))) == 2
    update = SiteKeys(site.lc).accept(inbox_.published_keys())
    assert update is not None and (update.from_version, update.version, update.links) == (None, 2, 2)
    assert pinned(site) == (second.signing_key, second.exchange_key, [1, 2])
    assert SiteKeys(site.lc).trusted()[0] == second.signing_key and len(SiteKeys(site.lc).trusted()) == 3
    assert SiteKeys(site.lc).waiting_sealed_to_older_key() == 1
    # The packet sealed two exchange keys ago still opens.
    assert outbox_.send(Direct(inbox_)).sent == [waiting]
    assert SiteKeys(site.lc).waiting_sealed_to_older_key() == 0


def test_a_site_rotating_its_own_key_learns_the_rotated_node_keys(nodes: tuple[Node, Node]) -> None:
    dukcapil, site = nodes
    inbox_, outbox_ = joined(dukcapil, site)
    done = node_keys.rotate(dukcapil.lc, actor="admin")
    code = inbox_.new_join_code(SITE, actor="admin")

    def register(key: str) -> dict[str, Any]:
        inbox_.join(code, site_code=SITE, public_key=key)
        return inbox_.published_keys()

    outbox_.rotate_key(register, actor="admin")
    assert pinned(site) == (done.signing_key, done.exchange_key, [1])
    # A join answer with keys that do not chain to the pinned ones is refused there too.
    other = crypto.public_key_text(crypto.new_signing_key())
    code = inbox_.new_join_code(SITE, actor="admin")
    with pytest.raises(ChainRefused):
        outbox_.rotate_key(lambda key: {**register_with(inbox_, code, key), "signing_key": other}, actor="admin")
    assert pinned(site)[0] == done.signing_key
    # The site's own rotation completed all the same (the Dukcapil node already trusts its new key).
    assert inbox_.site_key(SITE) == crypto.public_key_text(crypto.load_signing_key(site.deployment.keys_dir))
    assert not (site.deployment.keys_dir / "node.ed25519.next").exists()


def register_with(inbox_: Inbox, code: str, key: str) -> dict[str, Any]:
    inbox_.join(code, site_code=SITE, public_key=key)
    return inbox_.published_keys()


def test_a_site_joining_after_rotations_learns_their_version(nodes: tuple[Node, Node]) -> None:
    dukcapil, site = nodes
    node_keys.rotate(dukcapil.lc, actor="admin")
    inbox_ = Inbox.for_deployment(dukcapil.lc)
    outbox_ = Outbox.for_deployment(site.lc, machine="pc-01")
    code = inbox_.new_join_code(SITE, actor="admin")
    inbox_.join(code, site_code=SITE, public_key=crypto.public_key_text(outbox_.signing_key))
    outbox_.joined(url="http://dukcapil.invalid/api/v1", **inbox_.published_keys())
    assert SiteKeys(site.lc).version() == 1
    node_keys.rotate(dukcapil.lc, actor="admin")
    assert SiteKeys(site.lc).accept(inbox_.published_keys()).version == 2  # type: ignore[union-attr]
    # A join answer whose chain does not end at the keys it gives is refused.
    answer = inbox_.published_keys()
    with pytest.raises(ChainRefused, match="does not end"):
        outbox_.joined(url="http://dukcapil.invalid/api/v1", **{**answer, "chain": answer["chain"][:1]})


def _refused_changes_nothing(site: Node, answer: dict[str, Any], match: str) -> None:
    before = pinned(site)
    refusals = audit_count(site, "sync.node_keys_refused")
    with pytest.raises(ChainRefused, match=match):
        SiteKeys(site.lc).accept(answer)
    assert pinned(site) == before
    assert audit_count(site, "sync.node_keys_refused") == refusals + 1


def test_a_forged_link_is_refused_and_changes_nothing(nodes: tuple[Node, Node]) -> None:
    dukcapil, site = nodes
    inbox_, _outbox = joined(dukcapil, site)
    old = inbox_.public_keys()
    node_keys.rotate(dukcapil.lc, actor="admin")
    genuine = inbox_.published_keys()
    # An intruder's keys, announced as following the pinned key: not signed by the pinned key.
    intruder = crypto.new_signing_key()
    exchange = packets.exchange_public_text(X25519PrivateKey.generate())
    forged = node_keys.make_statement(
        version=1,
        node="17.71",
        previous=intruder,
        previous_exchange=old["exchange_key"],
        signing=intruder,
        exchange=exchange,
        at=dt.datetime.now(dt.UTC),
    )
    raw = forged.to_json()
    raw["body"]["previous"]["signing_key"] = old["signing_key"]
    _refused_changes_nothing(
        site,
        {"signing_key": forged.signing_key, "exchange_key": exchange, "version": 1, "chain": [raw]},
        "not signed by its previous signing key",
    )
    # The genuine statement with its new exchange key swapped for the intruder's: the signatures break.
    changed = json.loads(json.dumps(genuine))
    changed["chain"][0]["body"]["keys"]["exchange_key"] = exchange
    changed["exchange_key"] = exchange
    _refused_changes_nothing(site, changed, "not signed by its")
    # A second, different statement following the pinned key: a fork is refused as a whole.
    fork = {**genuine, "chain": [*genuine["chain"], raw]}
    _refused_changes_nothing(site, fork, "forked chain")
    # Not even a statement: refused.
    _refused_changes_nothing(site, {**genuine, "chain": [{"body": "x"}]}, "not a key statement")
    # The genuine answer still goes through afterwards.
    assert SiteKeys(site.lc).accept(genuine) is not None


def test_a_chain_from_another_node_is_refused(nodes: tuple[Node, Node]) -> None:
    dukcapil, site = nodes
    joined(dukcapil, site)
    other_old, other_new = crypto.new_signing_key(), crypto.new_signing_key()
    exchange = packets.exchange_public_text(X25519PrivateKey.generate())
    foreign = node_keys.make_statement(
        version=1,
        node="31.71",
        previous=other_old,
        previous_exchange=packets.exchange_public_text(X25519PrivateKey.generate()),
        signing=other_new,
        exchange=exchange,
        at=dt.datetime.now(dt.UTC),
    )
    foreign.verify()  # a perfectly signed chain, just not from the key this site pinned
    _refused_changes_nothing(
        site,
        {"signing_key": foreign.signing_key, "exchange_key": exchange, "version": 1, "chain": [foreign.to_json()]},
        "do not descend",
    )


def test_a_replayed_old_statement_is_refused(nodes: tuple[Node, Node]) -> None:
    dukcapil, site = nodes
    inbox_, _outbox = joined(dukcapil, site)
    original = inbox_.public_keys()
    node_keys.rotate(dukcapil.lc, actor="admin")
    as_of_one = inbox_.published_keys()
    node_keys.rotate(dukcapil.lc, actor="admin")
    SiteKeys(site.lc).accept(inbox_.published_keys())
    # Someone answers with the keys and chain of version 1 (a stale copy, or to roll the site back).
    _refused_changes_nothing(site, as_of_one, "do not descend")
    # Or the original keys with no chain at all.
    _refused_changes_nothing(site, {**original, "version": 0, "chain": []}, "do not descend")
    # The same exchange key with another signing key, or the reverse, without a statement: refused.
    _refused_changes_nothing(
        site, {**inbox_.published_keys(), "exchange_key": original["exchange_key"]}, "do not descend"
    )


def test_a_rotation_stopped_midway_finishes_with_the_same_keys(
    nodes: tuple[Node, Node], monkeypatch: pytest.MonkeyPatch
) -> None:
    dukcapil, site = nodes
    inbox_, outbox_ = joined(dukcapil, site)
    keys_dir = dukcapil.deployment.keys_dir
    original = inbox_.public_keys()

    # 1. Stopped after writing the new keys, before recording the statement.
    def power_cut(**_kw: Any) -> Any:
        raise KeyboardInterrupt

    monkeypatch.setattr(node_keys, "make_statement", power_cut)
    with pytest.raises(KeyboardInterrupt):
        node_keys.rotate(dukcapil.lc, actor="admin")
    pending = crypto.public_key_text(node_keys._load_signing(keys_dir / "node.ed25519.next"))
    assert inbox_.public_keys() == original and dukcapil.count(node_key_transitions) == 0
    monkeypatch.undo()

    # 2. Stopped after the exchange key moved, before the signing key did.
    real_swap = node_keys._swap
    calls: list[str] = []

    def swap_once(keys_dir: Path, name: str, *args: Any) -> None:
        calls.append(name)
        if name == node_keys.SIGNING_FILE:
            raise KeyboardInterrupt
        real_swap(keys_dir, name, *args)

    monkeypatch.setattr(node_keys, "_swap", swap_once)
    with pytest.raises(KeyboardInterrupt):
        node_keys.rotate(dukcapil.lc, actor="admin")
    monkeypatch.undo()
    # Half done: sites are not shown the new keys yet, and a packet sealed to the old key still opens.
    assert inbox_.published_keys()["version"] == 0 and inbox_.public_keys()["signing_key"] == original["signing_key"]
    waiting = outbox_.enqueue(record(site), actor="op1")
    assert outbox_.send(Direct(inbox_)).sent == [waiting]

    done = node_keys.rotate(dukcapil.lc, actor="admin")
    assert done.resumed and done.version == 1 and done.signing_key == pending
    assert crypto.public_key_text(crypto.load_signing_key(keys_dir)) == pending
    assert not list(keys_dir.glob("*.next")) and dukcapil.count(node_key_transitions) == 1
    assert dukcapil.audit_actions().count("sync.node_keys_rotated") == 1
    # Run again, it is a new rotation (version 2), not the same one twice.
    assert node_keys.rotate(dukcapil.lc, actor="admin").version == 2
    assert SiteKeys(site.lc).accept(inbox_.published_keys()).version == 2  # type: ignore[union-attr]


def test_a_rotation_stopped_before_it_was_marked_done_finishes_on_rerun(
    nodes: tuple[Node, Node], monkeypatch: pytest.MonkeyPatch
) -> None:
    dukcapil, site = nodes
    inbox_, outbox_ = joined(dukcapil, site)
    waiting = outbox_.enqueue(record(site), actor="op1")

    def power_cut(*_a: Any, **_kw: Any) -> Any:
        raise KeyboardInterrupt

    # Both keys moved, then the power went before the rotation was recorded as completed.
    monkeypatch.setattr(node_keys.audit, "append", power_cut)
    with pytest.raises(KeyboardInterrupt):
        node_keys.rotate(dukcapil.lc, actor="admin")
    monkeypatch.undo()
    live = crypto.public_key_text(crypto.load_signing_key(dukcapil.deployment.keys_dir))
    original = pinned(site)
    # Not shown to sites yet, and the node goes on signing with the key they know (kept in the archive):
    # the packet sealed to the old exchange key goes through with a receipt the site verifies.
    assert inbox_.published_keys()["version"] == 0 and inbox_.public_keys()["signing_key"] == original[0]
    assert crypto.public_key_text(inbox_.signing_key) == original[0] != live
    report = outbox_.send(Direct(inbox_), refresh_keys=lambda: SiteKeys(site.lc).accept(inbox_.published_keys()))
    assert report.sent == [waiting] and pinned(site) == original
    done = node_keys.rotate(dukcapil.lc, actor="admin")
    assert done.resumed and done.signing_key == live and inbox_.published_keys()["version"] == 1
    # Completed: the running inbox signs with the new key, and the site follows on its next send.
    assert crypto.public_key_text(inbox_.signing_key) == live
    after = outbox_.enqueue(record(site), actor="op1")
    report = outbox_.send(Direct(inbox_), refresh_keys=lambda: SiteKeys(site.lc).accept(inbox_.published_keys()))
    assert report.sent == [after] and pinned(site)[0] == live


def test_a_site_cannot_rotate_the_dukcapil_nodes_keys(nodes: tuple[Node, Node]) -> None:
    dukcapil, site = nodes
    joined(dukcapil, site)
    before = sorted(p.name for p in site.deployment.keys_dir.iterdir())
    with pytest.raises(EktpError, match="not the Dukcapil node"):
        node_keys.rotate(site.lc, actor="admin")
    assert sorted(p.name for p in site.deployment.keys_dir.iterdir()) == before
    assert site.count(node_key_transitions) == 0


def test_a_feed_page_signed_with_unknown_keys_is_refused_until_the_chain_verifies(nodes: tuple[Node, Node]) -> None:
    dukcapil, site = nodes
    inbox_, outbox_ = joined(dukcapil, site)
    outbox_.enqueue(record(site), actor="op1")
    outbox_.send(Direct(inbox_))
    node_keys.rotate(dukcapil.lc, actor="admin")
    page = Feed(dukcapil.lc, inbox_.signing_key).since(SITE, 0)
    with pytest.raises(FeedRefused):
        FeedReader(site.lc).apply(page.items, page.cursor)
    assert FeedReader(site.lc).cursor == 0
    SiteKeys(site.lc).accept(inbox_.published_keys())
    assert FeedReader(site.lc).apply(page.items, page.cursor).applied >= 1


def test_archived_keys_are_in_the_backup_and_work_after_a_restore(nodes: tuple[Node, Node], tmp_path: Path) -> None:
    from ektp_plugins.backup.archive import create_backup, restore_backup

    from ektp_core.config import load_deployment
    from ektp_core.lifecycle.service import LifecycleService

    dukcapil, site = nodes
    inbox_, outbox_ = joined(dukcapil, site)
    sealed_before = packet_bytes(site, outbox_.enqueue(record(site), actor="op1"))
    node_keys.rotate(dukcapil.lc, actor="admin")
    file = tmp_path / "dukcapil.ektpbak"
    report = create_backup(dukcapil.deployment, file, "a long enough passphrase")
    assert any(name.endswith(".old") and "x25519" in name for name in report.files)
    (tmp_path / "db3").mkdir()
    with temporary_database(tmp_path / "db3") as url:
        restore_backup(file, tmp_path / "restored", "a long enough passphrase", database_url=url)
        deployment = load_deployment(tmp_path / "restored")
        store = deployment.open_store()
        try:
            restored = Inbox.for_deployment(LifecycleService(store, deployment.plugin_host().hook, deployment))
            assert restored.published_keys() == inbox_.published_keys()
            # The packet sealed before the rotation opens at the restored node with its archived key.
            assert restored.accept(sealed_before).status == "accepted"
        finally:
            store.dispose()
