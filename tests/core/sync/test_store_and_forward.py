"""Store and forward between a site node and the Dukcapil node: packets signed by the site, biometrics
sealed to the Dukcapil node, stored once, answered with a signed receipt; refusals audited."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import attrs
import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from ektp_core.devices.scanners import Sample
from ektp_core.domain.model import EnrolmentState, Modality
from ektp_core.errors import ValidationFailed
from ektp_core.keys import crypto
from ektp_core.lifecycle import audit
from ektp_core.lifecycle.service import LifecycleService
from ektp_core.services.capture import CaptureService
from ektp_core.services.node_init import create_deployment, profile_text
from ektp_core.store.tables import enrolments, inbox, outbox
from ektp_core.sync import packets
from ektp_core.sync.inbox import Inbox
from ektp_core.sync.outbox import Outbox
from ektp_core.sync.receipts import sign_receipt
from ektp_core.testing import make_enrolment

SITE = "17.71.05"
E = EnrolmentState


def _profile(tmp_path: Path) -> Path:
    text, _ = profile_text("minimal")
    text = text.replace(
        "[lifecycle]",
        '[[sites]]\ncode = "17.71.05"\nname = "Kecamatan Kampung Melayu"\n'
        'kind = "kecamatan"\nrecords = true\nprints = false\nregion_code = "17.71.05"\n\n'
        "[lifecycle]",
        1,
    )
    path = tmp_path / "two-sites.toml"
    path.write_text(text, "utf-8")
    return path


class Node:
    def __init__(self, root: Path, profile: Path, site: str, url: str) -> None:
        self.deployment = create_deployment(root, profile=str(profile), site_code=site, database_url=url)
        self.host = self.deployment.plugin_host()
        self.store = self.deployment.open_store()
        self.lc = LifecycleService(self.store, self.host.hook, self.deployment)

    def count(self, table: sa.Table) -> int:
        with self.store.read() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())

    def audit_actions(self) -> list[str]:
        with self.store.read() as conn:
            return [e.action for e in audit.entries(conn)]


@pytest.fixture
def nodes(tmp_path: Path, ektp_database_url: str) -> Iterator[tuple[Node, Node]]:
    from ektp_core.testing.databases import temporary_database

    profile = _profile(tmp_path)
    (tmp_path / "second").mkdir()
    with temporary_database(tmp_path / "second") as second_url:
        dukcapil = Node(tmp_path / "dukcapil", profile, "17.71", ektp_database_url)
        site = Node(tmp_path / "site", profile, SITE, second_url)
        yield dukcapil, site
        site.store.dispose()
    dukcapil.store.dispose()


class Direct:
    """A transport that hands packets straight to the Dukcapil node's inbox (the link can be cut)."""

    def __init__(self, inbox_: Inbox) -> None:
        self.inbox = inbox_
        self.cut_after: int | None = None
        self.delivered = 0

    def send_packet(self, packet: bytes) -> Mapping[str, Any]:
        if self.cut_after is not None and self.delivered >= self.cut_after:
            raise ConnectionResetError("link cut")
        self.delivered += 1
        return sign_receipt(self.inbox.signing_key, self.inbox.accept(packet))


def joined(dukcapil: Node, site: Node) -> tuple[Inbox, Outbox]:
    inbox_ = Inbox.for_deployment(dukcapil.lc)
    outbox_ = Outbox.for_deployment(site.lc, machine="pc-01")
    code = inbox_.new_join_code(SITE, actor="admin")
    keys = inbox_.join(code, site_code=SITE, public_key=crypto.public_key_text(outbox_.signing_key))
    outbox_.joined(url="http://dukcapil.invalid/api/v1", **keys)
    return inbox_, outbox_


def record(site: Node, *, nik: str | None = None) -> str:
    enrolment = site.lc.record(make_enrolment(site_code=SITE, **({"nik": nik} if nik else {})))
    capture = CaptureService(site.lc)
    capture.add(
        enrolment.id,
        Sample(
            modality=Modality.FINGER,
            position="right_thumb",
            image=b"\x89PNG finger",
            quality=70,
            device="test",
            template=b"FMR\x00 template",
        ),
        actor="op1",
    )
    capture.add(
        enrolment.id,
        Sample(modality=Modality.FACE, position="face", image=b"\xff\xd8 face jpeg", quality=90, device="test"),
        actor="op1",
    )
    return enrolment.id


def test_an_enrolment_travels_once_with_its_biometrics(nodes: tuple[Node, Node]) -> None:
    dukcapil, site = nodes
    inbox_, outbox_ = joined(dukcapil, site)
    enrolment = record(site)
    packet_id = outbox_.enqueue(enrolment, actor="op1")
    assert site.lc.get(enrolment).state is E.SENT_FOR_ENROLLMENT
    assert outbox_.enqueue(enrolment, actor="op1") == packet_id  # one packet per enrolment
    report = outbox_.send(Direct(inbox_))
    assert report.sent == [packet_id] and report.waiting == 0
    copy = dukcapil.lc.get(enrolment)
    assert copy.state is E.BIO_CAPTURED and copy.site_code == SITE
    capture = CaptureService(dukcapil.lc)
    assert capture.image(enrolment, "finger", "right_thumb") == b"\x89PNG finger"
    assert capture.image(enrolment, "finger", "right_thumb", template=True) == b"FMR\x00 template"
    assert capture.image(enrolment, "face", "face") == b"\xff\xd8 face jpeg"
    assert "sync.packet_accepted" in site.audit_actions()


def test_resent_duplicate_and_reordered_packets_are_stored_once(nodes: tuple[Node, Node]) -> None:
    dukcapil, site = nodes
    inbox_, outbox_ = joined(dukcapil, site)
    ids = [outbox_.enqueue(record(site), actor="op1") for _ in range(3)]
    with site.store.read() as conn:
        raw = {r.packet_id: bytes(r.packet) for r in conn.execute(sa.select(outbox.c.packet_id, outbox.c.packet))}
    # Delivered out of order, one of them twice, before the site itself sends them.
    first = inbox_.accept(raw[ids[2]])
    again = inbox_.accept(raw[ids[2]])
    assert first.first and not again.first and again.body() == first.body()
    inbox_.accept(raw[ids[0]])
    report = outbox_.send(Direct(inbox_))
    assert sorted(report.sent) == sorted(ids)
    assert dukcapil.count(inbox) == 3
    with dukcapil.store.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(enrolments)).scalar_one() == 3


def test_a_link_cut_midway_loses_nothing(nodes: tuple[Node, Node]) -> None:
    dukcapil, site = nodes
    inbox_, outbox_ = joined(dukcapil, site)
    ids = [outbox_.enqueue(record(site), actor="op1") for _ in range(5)]
    link = Direct(inbox_)
    link.cut_after = 2
    report = outbox_.send(link)
    assert len(report.sent) == 2 and report.waiting == 3 and "link cut" in (report.stopped or "")
    link.cut_after = None
    assert len(outbox_.send(link).sent) == 3
    assert outbox_.waiting() == [] and dukcapil.count(inbox) == 5
    with dukcapil.store.read() as conn:
        received = set(conn.execute(sa.select(inbox.c.packet_id)).scalars())
    assert received == set(ids)


class OddStatus(Direct):
    """A Dukcapil node whose signed receipts carry a status API v1 does not have."""

    def send_packet(self, packet: bytes) -> Mapping[str, Any]:
        self.delivered += 1
        return sign_receipt(self.inbox.signing_key, attrs.evolve(self.inbox.accept(packet), status="pending"))


def test_a_receipt_with_another_status_is_not_trusted_and_the_packet_waits(nodes: tuple[Node, Node]) -> None:
    dukcapil, site = nodes
    inbox_, outbox_ = joined(dukcapil, site)
    packet_id = outbox_.enqueue(record(site), actor="op1")
    report = outbox_.send(OddStatus(inbox_))
    assert report.sent == [] and report.refused == {} and report.waiting == 1
    assert "'pending' is neither accepted nor refused" in (report.stopped or "")
    with site.store.read() as conn:
        row = conn.execute(
            sa.select(outbox.c.sent_at, outbox.c.last_error).where(outbox.c.packet_id == packet_id)
        ).one()
    assert row.sent_at is None and "neither accepted nor refused" in row.last_error
    assert not [a for a in site.audit_actions() if a.startswith("sync.packet_")]  # no receipt recorded
    # Sent again to a Dukcapil node that answers as API v1 says: the first answer, kept once.
    assert outbox_.send(Direct(inbox_)).sent == [packet_id]
    assert site.audit_actions().count("sync.packet_accepted") == 1 and dukcapil.count(inbox) == 1


def packet_bytes(site: Node, packet_id: str) -> bytes:
    """The packet as the site's outbox holds it."""
    with site.store.read() as conn:
        return bytes(conn.execute(sa.select(outbox.c.packet).where(outbox.c.packet_id == packet_id)).scalar_one())


def _tamper(data: bytes, at: int) -> bytes:
    return data[:at] + bytes([data[at] ^ 0x01]) + data[at + 1 :]


@pytest.mark.parametrize("where", ["header", "sealed", "signature"])
def test_a_tampered_packet_is_refused_audited_and_not_stored(nodes: tuple[Node, Node], where: str) -> None:
    dukcapil, site = nodes
    inbox_, outbox_ = joined(dukcapil, site)
    packet_id = outbox_.enqueue(record(site), actor="op1")
    data = packet_bytes(site, packet_id)
    at = {"header": 20, "sealed": len(data) - 100, "signature": len(data) - 5}[where]
    with pytest.raises(packets.PacketRefused) as info:
        inbox_.accept(_tamper(data, at))
    assert info.value.code in ("bad_signature", "malformed")
    assert dukcapil.count(inbox) == 0 and dukcapil.count(enrolments) == 0
    assert "sync.packet_refused" in dukcapil.audit_actions()
    # The genuine packet still goes through afterwards.
    assert inbox_.accept(data).status == "accepted"


def test_a_packet_signed_by_another_key_or_from_an_unknown_site_is_refused(nodes: tuple[Node, Node]) -> None:
    dukcapil, site = nodes
    inbox_, _outbox = joined(dukcapil, site)
    intruder = Outbox(site.lc, signing_key=crypto.new_signing_key(), site_code=SITE, machine="pc-99")
    packet_id = intruder.enqueue(record(site), actor="op1")
    data = packet_bytes(site, packet_id)
    with pytest.raises(packets.PacketRefused) as info:
        inbox_.accept(data)
    assert info.value.code == "bad_signature"
    stranger = Outbox(site.lc, signing_key=crypto.new_signing_key(), site_code="17.71.01", machine="pc-01")
    foreign = packets.build(
        packets.PacketId.parse("17.71.01+pc-01+000000001+20261128T010203Z"),
        {"kind": "enrolment", "site": "17.71.01"},
        {},
        signer=stranger.signing_key,
        recipient=inbox_.exchange_key.public_key(),
    )
    with pytest.raises(packets.PacketRefused) as info:
        inbox_.accept(foreign)
    assert info.value.code == "unknown_site"
    assert dukcapil.count(inbox) == 0


def test_biometrics_sealed_to_another_node_do_not_open(nodes: tuple[Node, Node]) -> None:
    dukcapil, site = nodes
    inbox_, outbox_ = joined(dukcapil, site)
    other = X25519PrivateKey.generate()
    outbox_.joined(
        url="http://x.invalid",
        signing_key=crypto.public_key_text(inbox_.signing_key),
        exchange_key=packets.exchange_public_text(other),
    )
    packet_id = outbox_.enqueue(record(site), actor="op1")
    data = packet_bytes(site, packet_id)
    with pytest.raises(packets.PacketRefused) as info:
        inbox_.accept(data)
    assert info.value.code == "tampered"


def test_the_same_id_with_other_content_is_a_conflict(nodes: tuple[Node, Node]) -> None:
    dukcapil, site = nodes
    inbox_, outbox_ = joined(dukcapil, site)
    packet_id = outbox_.enqueue(record(site), actor="op1")
    data = packet_bytes(site, packet_id)
    inbox_.accept(data)
    _, header = packets.peek(data)
    rebuilt = packets.build(
        packets.PacketId.parse(packet_id),
        {k: v for k, v in header.items() if k not in ("packet_id", "sealed_length")},
        {"finger/right_thumb/image": b"other"},
        signer=outbox_.signing_key,
        recipient=inbox_.exchange_key.public_key(),
    )
    with pytest.raises(packets.PacketRefused) as info:
        inbox_.accept(rebuilt)
    assert info.value.code == "conflict"
    assert dukcapil.count(inbox) == 1


def test_an_enrolment_the_dukcapil_node_refuses_gets_a_kept_refusal(nodes: tuple[Node, Node]) -> None:
    dukcapil, site = nodes
    inbox_, outbox_ = joined(dukcapil, site)
    nik = "1771054101900077"
    dukcapil.lc.record(make_enrolment(nik=nik))  # the same resident is already being recorded there
    packet_id = outbox_.enqueue(record(site, nik=nik), actor="op1")
    report = outbox_.send(Direct(inbox_))
    assert packet_id in report.refused and "in progress" in report.refused[packet_id]
    with site.store.read() as conn:
        assert conn.execute(sa.select(outbox.c.sent_at).where(outbox.c.packet_id == packet_id)).scalar() is not None


def test_join_codes_are_one_time_and_site_bound(nodes: tuple[Node, Node]) -> None:
    dukcapil, _site = nodes
    inbox_ = Inbox.for_deployment(dukcapil.lc)
    key = crypto.public_key_text(crypto.new_signing_key())
    code = inbox_.new_join_code(SITE, actor="admin")
    with pytest.raises(ValidationFailed, match="unknown join code"):
        inbox_.join(code, site_code="17.71", public_key=key)
    inbox_.join(code.lower(), site_code=SITE, public_key=key)
    with pytest.raises(ValidationFailed, match="already used"):
        inbox_.join(code, site_code=SITE, public_key=key)
    assert inbox_.site_key(SITE) == key
    assert dukcapil.audit_actions().count("sync.join_refused") == 2


def test_a_spoiled_card_at_the_site_is_reported_once(nodes: tuple[Node, Node]) -> None:
    from ektp_core.sync.feed import Feed, FeedReader

    dukcapil, site = nodes
    inbox_, outbox_ = joined(dukcapil, site)
    enrolment = record(site)
    outbox_.enqueue(enrolment, actor="op1")
    outbox_.send(Direct(inbox_))
    for state in (E.SENT_FOR_ENROLLMENT, E.RECEIVED_AT_CENTRAL, E.PRINT_READY_RECORD):
        dukcapil.lc.transition(enrolment, state, actor="central")
    job = dukcapil.lc.queue_print(enrolment, site_code=SITE, actor="router", routing_reason="printed at the kecamatan")
    page = Feed(dukcapil.lc, inbox_.signing_key).since(SITE, 0)
    applied = FeedReader(site.lc).apply(page.items, page.cursor)
    assert applied.jobs == [job.id] and site.lc.get(enrolment).state is E.SENT_FOR_CARD_PRINTING

    site.lc.receive_blanks(SITE, ["BLK-KEC-0001"], actor="op1")
    site.lc.reserve_blank(job.id, actor="op1")
    site.lc.mark_sent(job.id, actor="op1", printer="evolis-kec")
    site.lc.mark_spoiled(job.id, actor="op1", reason="ribbon creased")
    report = outbox_.send(Direct(inbox_))
    assert len(report.sent) == 1 and outbox_.send(Direct(inbox_)).sent == []
    mirrored = dukcapil.lc.jobs_by_id(job.id)
    assert mirrored.state.value == "SPOILED" and mirrored.blank_serial == "BLK-KEC-0001"
    assert "ribbon creased" in (mirrored.reason or "")
    ledger = dukcapil.lc.ledger(SITE)
    assert ledger.balanced and ledger.spoiled == 1 and ledger.received == 1


def test_the_dukcapil_node_keeps_the_sites_recording_time_and_its_own_arrival(nodes: tuple[Node, Node]) -> None:
    """Guards issue 14 defect 9: the Dukcapil node stamped a travelled enrolment with its arrival time
    (recorded 02:40 at the kecamatan, shown 02:42; here 02:59 and 03:01, across an hour). The
    enrolment keeps the packet's recording time; the arrival stays in the inbox row and the audit
    entry, which names both."""
    import datetime as dt

    from ektp_core.lifecycle import audit

    dukcapil, site = nodes
    inbox_, outbox_ = joined(dukcapil, site)
    recorded = dt.datetime(2026, 12, 7, 2, 59, tzinfo=dt.UTC)  # and it arrives in the next hour
    site.lc.clock = lambda: recorded  # type: ignore[method-assign]
    enrolment = record(site)
    outbox_.enqueue(enrolment, actor="op1")
    arrival = recorded + dt.timedelta(minutes=2)
    dukcapil.lc.clock = lambda: arrival  # type: ignore[method-assign]
    outbox_.send(Direct(inbox_))
    copy = dukcapil.lc.get(enrolment)
    assert copy.created_at == recorded == site.lc.get(enrolment).created_at
    with dukcapil.store.read() as conn:
        [entry] = [e for e in audit.entries(conn, subject_id=enrolment) if e.detail.get("to") == "BIO_CAPTURED"]
    assert entry.at == arrival.isoformat() and entry.detail["recorded_at"] == recorded.isoformat()
    # The hourly "recorded" counters count it in the hour it was recorded (as a recount of created_at
    # does), so its next move takes it out of the same row.
    import sqlalchemy as sa

    from ektp_core.store import counters
    from ektp_core.store.tables import counters as counter_rows

    dukcapil.lc.transition(enrolment, E.SENT_FOR_ENROLLMENT, actor="op1")
    with dukcapil.store.read() as conn:
        kept = conn.execute(
            sa.select(counter_rows.c.utc_hour, counter_rows.c.n).where(
                counter_rows.c.family == "recorded", counter_rows.c.scope == SITE
            )
        ).all()
        recount = counters.count_rows(
            conn, counters.Family.RECORDED, recorded - dt.timedelta(hours=2), arrival + dt.timedelta(hours=2)
        )
    assert [(h, n) for h, n in kept if n] == [(counters.hour_of(recorded), 1)]
    assert recount[(SITE, "")] == 1


def test_a_site_clock_ahead_does_not_put_a_recording_in_the_future(nodes: tuple[Node, Node]) -> None:
    import datetime as dt

    dukcapil, site = nodes
    inbox_, outbox_ = joined(dukcapil, site)
    now = dt.datetime(2026, 12, 7, 2, 40, tzinfo=dt.UTC)
    site.lc.clock = lambda: now + dt.timedelta(hours=3)  # type: ignore[method-assign]
    enrolment = record(site)
    outbox_.enqueue(enrolment, actor="op1")
    dukcapil.lc.clock = lambda: now  # type: ignore[method-assign]
    outbox_.send(Direct(inbox_))
    assert dukcapil.lc.get(enrolment).created_at == now


def _supervisor(node: Node, site_code: str) -> None:
    from ektp_core.domain.model import Operator, Role

    node.lc.add_operator(
        Operator(
            username="spv1",
            full_name="SPV",
            role=Role.SUPERVISOR,
            site_code=site_code,
            password_hash=crypto.hash_password("x", n=2**4),
        ),
        actor="test",
    )


def test_a_supervisors_correction_at_the_dukcapil_node_reaches_the_site_through_the_feed(
    nodes: tuple[Node, Node],
) -> None:
    from ektp_core.services.corrections import Corrections
    from ektp_core.sync.feed import Feed, FeedReader

    dukcapil, site = nodes
    inbox_, outbox_ = joined(dukcapil, site)
    enrolment = record(site)
    outbox_.enqueue(enrolment, actor="op1")
    outbox_.send(Direct(inbox_))
    _supervisor(dukcapil, "17.71")
    # Not yet received by the central system: corrected at the node alone.
    Corrections(dukcapil.lc).correct(enrolment, {"alamat": "JL. SUDIRMAN NO. 9"}, actor="spv1", reason="KK says so")
    page = Feed(dukcapil.lc, inbox_.signing_key).since(SITE, 0)
    reader = FeedReader(site.lc)
    reader.apply(page.items, page.cursor)
    assert site.lc.get(enrolment).biodata.alamat == "JL. SUDIRMAN NO. 9"
    assert site.audit_actions().count("enrolment.corrected") == 1
    reader.apply(page.items, page.cursor)  # a page read twice changes nothing more
    assert site.audit_actions().count("enrolment.corrected") == 1


def test_a_site_cancels_only_what_it_never_sent_and_the_purge_empties_its_packet(nodes: tuple[Node, Node]) -> None:
    import datetime as dt

    from ektp_core.errors import EktpError
    from ektp_core.services.corrections import Corrections
    from ektp_core.store.tables import blobs
    from ektp_core.sync.feed import Feed, FeedReader

    dukcapil, site = nodes
    inbox_, outbox_ = joined(dukcapil, site)
    sent = record(site)
    outbox_.enqueue(sent, actor="op1")
    outbox_.send(Direct(inbox_))
    _supervisor(site, SITE)
    _supervisor(dukcapil, "17.71")
    corrections = Corrections(site.lc)
    site.lc.transition(sent, E.ENROLL_FAILURE_AT_REGIONAL, actor="sync")
    with pytest.raises(EktpError, match="Dukcapil"):  # it was sent: the Dukcapil office cancels it
        corrections.cancel(sent, supervisor="spv1", reason="abandoned")
    assert site.lc.get(sent).state is E.ENROLL_FAILURE_AT_REGIONAL
    # The central system refuses it; the Dukcapil office cancels it; the site hears of it in the feed.
    for state in (E.SENT_FOR_ENROLLMENT, E.RECEIVED_AT_CENTRAL, E.DUPLICATE_RECORD):
        dukcapil.lc.transition(sent, state, actor="central")
    Corrections(dukcapil.lc).cancel(sent, supervisor="spv1", reason="duplicate confirmed")
    page = Feed(dukcapil.lc, inbox_.signing_key).since(SITE, 0)
    FeedReader(site.lc).apply(page.items, page.cursor)
    assert site.lc.get(sent).state is E.ENROLLMENT_CANCELLED
    never_sent = record(site, nik="1771054101900002")
    corrections.cancel(never_sent, supervisor="spv1", reason="abandoned")
    purged = {p.enrolment_id: p for p in corrections.purge(older_than=dt.timedelta(0))}
    assert set(purged) == {sent, never_sent} and purged[sent].packets == 1
    with site.store.read() as conn:
        packet = conn.execute(sa.select(outbox.c.packet).where(outbox.c.enrolment_id == sent)).scalar_one()
        left = conn.execute(sa.select(sa.func.count()).select_from(blobs)).scalar_one()
    assert packet == b"" and left == 0  # the sealed biometrics the site kept are gone too
