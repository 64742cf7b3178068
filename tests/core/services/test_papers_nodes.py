"""The regency's published keys between two nodes: the Dukcapil node publishes every node's signing
key, a site imports them (checked against the Dukcapil node's keys it pinned at join), and then each
node checks the other's papers offline; a site's replaced key stays published for its older papers."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path

import pytest

from ektp_core.domain.model import Operator, Role
from ektp_core.errors import EktpError
from ektp_core.keys import crypto
from ektp_core.lifecycle.service import LifecycleService
from ektp_core.services.node_init import create_deployment, profile_text
from ektp_core.services.papers import PaperKind, PaperService
from ektp_core.sync.inbox import Inbox
from ektp_core.sync.outbox import Outbox
from ektp_core.testing import make_print_ready

SITE = "17.71.05"


class Node:
    def __init__(self, root: Path, profile: Path, site: str, url: str) -> None:
        self.deployment = create_deployment(root, profile=str(profile), site_code=site, database_url=url)
        self.host = self.deployment.plugin_host()
        self.store = self.deployment.open_store()
        self.lc = LifecycleService(self.store, self.host.hook, self.deployment)
        for name, role in (("op1", Role.OPERATOR), ("spv1", Role.SUPERVISOR)):
            self.lc.add_operator(Operator(username=name, full_name=name, role=role, site_code=site), actor="t")
        self.papers = PaperService(self.lc)


@pytest.fixture
def nodes(tmp_path: Path, ektp_database_url: str) -> Iterator[tuple[Node, Node]]:
    from ektp_core.testing.databases import temporary_database

    text, _ = profile_text("minimal")
    text = text.replace(
        "[lifecycle]",
        '[[sites]]\ncode = "17.71.05"\nname = "Kecamatan Kampung Melayu"\n'
        'kind = "kecamatan"\nrecords = true\nprints = false\nregion_code = "17.71.05"\n\n[lifecycle]',
        1,
    )
    profile = tmp_path / "two-sites.toml"
    profile.write_text(text, "utf-8")
    (tmp_path / "second").mkdir()
    with temporary_database(tmp_path / "second") as second_url:
        dukcapil = Node(tmp_path / "dukcapil", profile, "17.71", ektp_database_url)
        site = Node(tmp_path / "site", profile, SITE, second_url)
        inbox = Inbox.for_deployment(dukcapil.lc)
        outbox = Outbox.for_deployment(site.lc, machine="pc-01")
        code = inbox.new_join_code(SITE, actor="admin")
        keys = inbox.join(code, site_code=SITE, public_key=crypto.public_key_text(outbox.signing_key))
        outbox.joined(url="http://dukcapil.invalid/api/v1", **keys)
        yield dukcapil, site
        site.store.dispose()
    dukcapil.store.dispose()


def _proof(node: Node, site: str, nik: str) -> str:
    enrolment = make_print_ready(node.lc, recorded_at=site, nik=nik)
    number = node.papers.issue(PaperKind.PROOF, enrolment, actor="op1").number
    return node.papers.view(number).statement_text


def test_each_node_checks_the_others_papers_once_the_keys_are_published(nodes: tuple[Node, Node]) -> None:
    dukcapil, site = nodes
    at_site = _proof(site, SITE, "1771054101900041")
    at_dukcapil = _proof(dukcapil, "17.71", "1771054101900042")
    # The Dukcapil node knows the site's key from its join.
    assert dukcapil.papers.check(at_site).genuine
    # The site knows only its own key until it imports the regency's published keys.
    assert site.papers.check(at_site).genuine
    assert site.papers.check(at_dukcapil).reason == "unknown_key"
    document = dukcapil.papers.export_keys()
    assert {k["site"] for k in document["body"]["keys"]} == {"17.71", SITE}
    with pytest.raises(EktpError, match="may not"):
        site.papers.import_keys(document, actor="op1")
    forged = copy.deepcopy(document)
    forged["body"]["keys"].append(
        {"site": SITE, "key": crypto.public_key_text(crypto.new_signing_key()), "since": None, "until": None}
    )
    with pytest.raises(EktpError, match="refused"):
        site.papers.import_keys(forged, actor="spv1")
    assert site.papers.import_keys(document, actor="spv1") == 2
    assert site.papers.check(at_dukcapil).genuine
    # An older document than the one in force is refused (a replay must not undo a retirement).
    older = copy.deepcopy(document)
    older["body"]["at"] = "2020-01-01T00:00:00+00:00"
    signing = crypto.load_signing_key(dukcapil.deployment.keys_dir)
    from ektp_core.services import papers as papers_module

    older["signature"] = crypto.sign(signing, papers_module._KEYS_SIGNED + crypto.canonical_json(older["body"]))
    with pytest.raises(EktpError, match="older"):
        site.papers.import_keys(older, actor="spv1")


def test_a_replaced_site_key_stays_published_for_the_papers_it_signed(nodes: tuple[Node, Node]) -> None:
    dukcapil, site = nodes
    before = _proof(site, SITE, "1771054101900043")
    inbox = Inbox.for_deployment(dukcapil.lc)
    code = inbox.new_join_code(SITE, actor="admin")
    inbox.join(code, site_code=SITE, public_key=crypto.public_key_text(crypto.new_signing_key()))  # a rotation
    keys = [k for k in dukcapil.papers.published_keys() if k.site == SITE]
    assert len(keys) == 2 and keys[0].until is not None and keys[1].until is None
    assert dukcapil.papers.check(before).genuine
