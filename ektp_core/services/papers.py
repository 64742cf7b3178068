"""Papers for the resident: bukti perekaman (proof of recording), tanda terima (receipt of the card
handed over) and Surat Keterangan pengganti KTP-el (Suket, stands in for a card that cannot be printed
yet), each numbered per site, recorded, audited and signed; and the regency's published keys that
check them offline.

The core holds the data and the signed statements; rendering a paper (PDF, QR code) is a plugin's job
(the bundled ``papers`` plugin), which reads a paper through :meth:`PaperService.view`.

**The regency's published keys.** Every node signs the papers it issues with its own Ed25519 key
(``keys/node.ed25519``). The Dukcapil node knows every key that ever signed for the regency: its own
(the chain of its rotations) and each site's (registered when the site joined, again at each
rotation). :meth:`PaperService.export_keys` writes them as one document, signed by the Dukcapil node's
current key; a site imports it (:meth:`PaperService.import_keys`) after checking that signature against
the Dukcapil node's keys it already trusts (pinned at join, moved along the verified key chain). A
paper is genuine when its statement's signature verifies under the published key of the site that
issued it, a key not yet retired on the paper's issue day, and (a Suket) it has not expired.
"""

from __future__ import annotations

import calendar
import datetime as dt
import json
from collections.abc import Sequence
from typing import Any

import attrs
import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ektp_core.config.core_tables import PAPERS
from ektp_core.domain import regions
from ektp_core.domain.model import Enrolment, EnrolmentState, Modality, Role, SiteKind
from ektp_core.errors import Conflict, EktpError, NotFound
from ektp_core.keys import crypto
from ektp_core.keys.paper_statements import (
    NotGenuine,
    PaperKind,
    PaperStatement,
    TrustedKey,
    key_id,
)
from ektp_core.keys.paper_statements import parse as parse_statement
from ektp_core.keys.paper_statements import sign as sign_statement
from ektp_core.keys.paper_statements import verify as verify_statement
from ektp_core.lifecycle import audit
from ektp_core.lifecycle.actions import AuditAction
from ektp_core.lifecycle.service import LifecycleService
from ektp_core.messages import Message
from ektp_core.services.capture import CaptureService
from ektp_core.store import repository as repo
from ektp_core.store.read_models import papers as read
from ektp_core.store.tables import paper_keys, papers
from ektp_core.sync import node_keys

E = EnrolmentState

#: What a published-keys document says it is (part of its signed body).
KEYS_KIND = "ektp.paper_keys"
_KEYS_SIGNED = b"ektp paper keys v1\n"
#: The number's prefix of each kind: ``BPR/<site>/<year>/<seq>``.
NUMBER_PREFIX = {PaperKind.PROOF: "BPR", PaperKind.RECEIPT: "TTK", PaperKind.SUKET: "SKT"}

#: States in which a recording is confirmed and not refused: a proof of recording makes sense. At a site,
#: a BIO_CAPTURED recording also counts once confirmed (queued for the Dukcapil node).
PROOF_STATES = frozenset(
    {
        E.SENT_FOR_ENROLLMENT,
        E.RECEIVED_AT_CENTRAL,
        E.PRINT_READY_RECORD,
        E.ADJUDICATE_RECORD,
        E.ENROLL_FAILURE_AT_REGIONAL,
        E.SEARCH_FAILURE_AT_CENTRAL,
        E.REQUEST_VALIDATION,
        E.SENT_FOR_CARD_PRINTING,
        E.CARD_PRINTED,
        E.CARD_SHIPPED,
        E.CARD_ISSUED,
    }
)
#: A receipt: only once the card was handed over.
RECEIPT_STATES = frozenset({E.CARD_ISSUED})
#: A Suket: verified print-ready, or queued for printing but not printed yet (no blanks, printer down).
SUKET_STATES = frozenset({E.PRINT_READY_RECORD, E.SENT_FOR_CARD_PRINTING})
#: Who may issue each paper: the desk for proofs and receipts; a Suket stands in for the card, so a
#: supervisor signs it off.
ISSUERS: dict[PaperKind, frozenset[Role]] = {
    PaperKind.PROOF: frozenset({Role.OPERATOR, Role.SUPERVISOR}),
    PaperKind.RECEIPT: frozenset({Role.OPERATOR, Role.SUPERVISOR}),
    PaperKind.SUKET: frozenset({Role.SUPERVISOR}),
}
_DOING = {
    PaperKind.PROOF: "issue a proof of recording",
    PaperKind.RECEIPT: "issue a handover receipt",
    PaperKind.SUKET: "issue a Suket",
}


class PaperRefused(EktpError):
    """A paper that makes no sense for the enrolment in its state (a Suket for a card already printed,
    a receipt before the handover...); nothing was issued."""

    message_code = "error.paper_refused"


def add_months(day: dt.date, months: int) -> dt.date:
    """``day`` plus whole calendar months (the 31st becomes the month's last day)."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return dt.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


@attrs.frozen(kw_only=True)
class Handover:
    """How the card was handed over, from the audit log: when, by whom, which finger matched."""

    at: dt.datetime
    operator: str
    finger: str | None


@attrs.frozen(kw_only=True)
class PaperView:
    """Everything a renderer needs to print one paper (the read model of a paper).

    The statement is the signed text the QR code carries and the PDF embeds; the rest is what the
    page shows. ``signature`` is the resident's signature captured on the pad **at recording** (the
    handover records a finger check, not a new signature); ``photo`` their pas foto (a Suket shows it).
    """

    kind: PaperKind
    number: str
    statement_text: str
    statement: PaperStatement
    issued_at: dt.datetime
    issued_by: str
    issued_by_name: str
    valid_until: dt.date | None
    site_code: str
    site_name: str
    province_name: str
    regency_name: str
    enrolment: Enrolment
    handover: Handover | None
    photo: bytes | None
    signature: bytes | None


@attrs.frozen(kw_only=True)
class Issued:
    """A paper issued (``new``), or the one already issued for the same purpose, given again."""

    number: str
    kind: PaperKind
    new: bool


@attrs.frozen(kw_only=True)
class CheckResult:
    """The outcome of checking a paper's statement: genuine with what it certifies, or why not."""

    genuine: bool
    statement: PaperStatement | None
    #: The reason it is not genuine (``paper.check.<reason>`` says it), None when genuine.
    reason: str | None
    message: Message
    key_site: str | None = None

    def to_json(self) -> dict[str, Any]:
        """For ``ektp papers check --json``."""
        return {
            "genuine": self.genuine,
            "reason": self.reason,
            "message": str(self.message),
            "statement": self.statement.to_json() if self.statement else None,
            "key_site": self.key_site,
        }


class PaperService:
    """Issue, read and check the papers of one node."""

    def __init__(self, lifecycle: LifecycleService) -> None:
        self.lifecycle = lifecycle
        self.deployment = lifecycle.deployment

    # -- settings and keys ------------------------------------------------------------------------------

    @property
    def suket_months(self) -> int:
        """``[papers] suket_validity_months`` (default 6)."""
        return int(PAPERS.read(self.deployment.profile)["suket_validity_months"])

    @property
    def is_dukcapil(self) -> bool:
        """True at the Dukcapil node, which publishes the regency's keys."""
        return bool(self.deployment.site.kind is SiteKind.DUKCAPIL)

    def _signing_key(self) -> Ed25519PrivateKey:
        keys_dir = self.deployment.keys_dir
        if self.is_dukcapil:
            # The key sites are shown: during an unfinished rotation the previous one (node_keys).
            def published() -> tuple[int, str | None]:
                with self.lifecycle.store.read() as conn:
                    return node_keys.published_signing_key(conn)

            return node_keys.load_key_set(keys_dir, published).signing
        return crypto.load_signing_key(keys_dir)

    def _today(self) -> dt.date:
        return self.lifecycle.clock().astimezone().date()

    # -- issuing ----------------------------------------------------------------------------------------

    def _check_state(self, conn: Any, kind: PaperKind, enrolment: Enrolment) -> None:
        state = enrolment.state
        if kind is PaperKind.PROOF:
            confirmed = state in PROOF_STATES or (
                state is E.BIO_CAPTURED and read.queued_for_dukcapil(conn, enrolment.id)
            )
            if not confirmed:
                raise PaperRefused(Message("paper.refused.proof", enrolment=enrolment.id, state=state.value))
        elif kind is PaperKind.RECEIPT:
            if state not in RECEIPT_STATES:
                raise PaperRefused(Message("paper.refused.receipt", enrolment=enrolment.id, state=state.value))
        elif state not in SUKET_STATES:
            raise PaperRefused(Message("paper.refused.suket", enrolment=enrolment.id, state=state.value))

    def fits(self, kind: PaperKind | str, enrolment: Enrolment) -> bool:
        """Whether a paper of ``kind`` makes sense for the enrolment in its state now (what a button
        offers; :meth:`issue` checks again, with the account's role)."""
        with self.lifecycle.store.read() as conn:
            try:
                self._check_state(conn, PaperKind(kind), enrolment)
            except PaperRefused:
                return False
        return True

    def issue(self, kind: PaperKind | str, enrolment_id: str, *, actor: str) -> Issued:
        """Issue a paper of ``kind`` for an enrolment, or give the one issued already.

        A proof and a receipt are issued once per enrolment; asking again gives the same paper (same
        number, same statement). A Suket is given again while it is valid; once expired, and while the
        card still cannot be printed, a new one is issued. Refused (nothing stored): an account without
        the role, an enrolment of another site (at a site node), a state where the paper makes no sense.
        Audited as ``paper.issued``.
        """
        kind = PaperKind(kind)
        key = self._signing_key()
        for _attempt in range(3):
            try:
                return self._issue_once(kind, enrolment_id, actor, key)
            except sa.exc.IntegrityError:
                continue  # another desk took this number meanwhile (nothing was stored): count again
        raise Conflict(Message("paper.busy", enrolment=enrolment_id))

    def _issue_once(self, kind: PaperKind, enrolment_id: str, actor: str, key: Ed25519PrivateKey) -> Issued:
        lc = self.lifecycle
        site = self.deployment.site
        at = lc.clock()
        today = at.astimezone().date()
        with lc.store.write() as conn:
            lc._require_role(conn, actor, ISSUERS[kind], _DOING[kind])
            enrolment = repo.get_enrolment(conn, enrolment_id)
            if not self.is_dukcapil and enrolment.site_code != site.code:
                raise NotFound("enrolment", enrolment_id)
            self._check_state(conn, kind, enrolment)
            for earlier in reversed(read.papers_of(conn, enrolment_id)):
                if earlier.kind != kind.value:
                    continue
                if kind is not PaperKind.SUKET or (earlier.valid_until and earlier.valid_until >= today):
                    return Issued(number=earlier.number, kind=kind, new=False)
            seq = read.next_seq(conn, site.code, kind.value, today.year)
            number = f"{NUMBER_PREFIX[kind]}/{site.code}/{today.year}/{seq:06d}"
            valid_until = add_months(today, self.suket_months) if kind is PaperKind.SUKET else None
            handover = self._handover(conn, enrolment_id) if kind is PaperKind.RECEIPT else None
            statement = PaperStatement(
                kind=kind,
                number=number,
                nik=enrolment.biodata.nik.value,
                nama=enrolment.biodata.nama,
                issued_on=today,
                site=site.code,
                kid=key_id(crypto.public_key_text(key)),
                recorded_on=enrolment.created_at.astimezone().date() if kind is not PaperKind.RECEIPT else None,
                handed_over_on=(handover.at if handover else at).astimezone().date()
                if kind is PaperKind.RECEIPT
                else None,
                valid_until=valid_until,
            )
            conn.execute(
                papers.insert().values(
                    number=number,
                    site_code=site.code,
                    kind=kind.value,
                    year=today.year,
                    seq=seq,
                    enrolment_id=enrolment_id,
                    issued_at=at,
                    issued_by=actor,
                    valid_until=valid_until,
                    statement=sign_statement(statement, key),
                )
            )
            audit.append(
                conn,
                actor=actor,
                action=AuditAction.PAPER_ISSUED,
                subject_kind="enrolment",
                subject_id=enrolment_id,
                at=at,
                detail={
                    "paper": number,
                    "kind": kind.value,
                    "valid_until": valid_until.isoformat() if valid_until else None,
                    "key_id": statement.kid,
                },
            )
            return Issued(number=number, kind=kind, new=True)

    @staticmethod
    def _handover(conn: Any, enrolment_id: str) -> Handover | None:
        found = read.handover_entry(conn, enrolment_id)
        if found is None:
            return None
        at, actor, detail = found
        said = detail.get("reason_message") or {}
        params = said.get("params", {}) if isinstance(said, dict) else {}
        finger = params.get("position") if isinstance(params, dict) else None
        return Handover(at=at, operator=str(actor), finger=str(finger) if finger else None)

    # -- reading ---------------------------------------------------------------------------------------

    def papers_of(self, enrolment_id: str) -> list[read.PaperRow]:
        """An enrolment's papers, oldest first."""
        with self.lifecycle.store.read() as conn:
            return read.papers_of(conn, enrolment_id)

    def latest(self, enrolment_id: str, kind: PaperKind | str) -> read.PaperRow | None:
        """The newest paper of ``kind`` issued for the enrolment, or None."""
        found = [p for p in self.papers_of(enrolment_id) if p.kind == PaperKind(kind).value]
        return found[-1] if found else None

    def view(self, number: str) -> PaperView:
        """One issued paper with everything its page shows; :class:`NotFound` for an unknown number."""
        lc = self.lifecycle
        with lc.store.read() as conn:
            row = read.paper(conn, number)
            if row is None:
                raise NotFound("paper", number)
            enrolment = repo.get_enrolment(conn, row.enrolment_id)
            handover = self._handover(conn, row.enrolment_id)
            try:
                issuer = repo.get_operator(conn, row.issued_by)
                issuer_name = issuer.full_name
            except NotFound:
                issuer_name = row.issued_by
        statement_text = row.statement
        statement = parse_statement(statement_text)[0]
        capture = CaptureService(lc)
        profile = self.deployment.profile
        try:
            site_name = profile.site(row.site_code).name
        except (KeyError, EktpError):
            site_name = row.site_code
        province = regions.name_of(profile.region_code.split(".")[0]) or ""
        return PaperView(
            kind=PaperKind(row.kind),
            number=row.number,
            statement_text=statement_text,
            statement=statement,
            issued_at=row.issued_at,
            issued_by=row.issued_by,
            issued_by_name=issuer_name,
            valid_until=row.valid_until,
            site_code=row.site_code,
            site_name=site_name,
            province_name=province,
            regency_name=profile.region_name,
            enrolment=enrolment,
            handover=handover,
            photo=_image(capture, enrolment.id, Modality.FACE, "face"),
            signature=_image(capture, enrolment.id, Modality.SIGNATURE, "signature"),
        )

    # -- the regency's published keys ---------------------------------------------------------------------

    def published_keys(self) -> list[TrustedKey]:
        """At the Dukcapil node: every signing key of the regency, its own and each site's, with the time
        it was registered and (once replaced) retired."""
        if not self.is_dukcapil:
            raise EktpError(Message("paper.keys.not_dukcapil", site=self.deployment.site.code))
        own_code = self.deployment.site.code
        keys: list[TrustedKey] = []
        with self.lifecycle.store.read() as conn:
            since: dt.datetime | None = None
            for row in read.node_key_history(conn):
                retired = repo.utc(row.completed_at)
                keys.append(TrustedKey(own_code, str(row.previous_signing_key), since, retired))
                since = retired
            keys.append(TrustedKey(own_code, crypto.public_key_text(self._signing_key()), since, None))
            history = read.site_key_history(conn, [site.code for site in self.deployment.profile.sites])
        by_site: dict[str, list[tuple[str, dt.datetime | None]]] = {}
        for site, key, at in history:
            by_site.setdefault(site, []).append((key, at))
        for site, entries in sorted(by_site.items()):
            for index, (key, at) in enumerate(entries):
                until = entries[index + 1][1] if index + 1 < len(entries) else None
                if until is not None and entries[index + 1][0] == key:
                    continue  # registered again with the same key: one entry
                keys.append(TrustedKey(site, key, at, until))
        return keys

    def export_keys(self) -> dict[str, Any]:
        """The published-keys document: every key, signed by the Dukcapil node's current signing key."""
        keys = self.published_keys()
        signing = self._signing_key()
        body = {
            "kind": KEYS_KIND,
            "v": 1,
            "regency": self.deployment.profile.region_code,
            "node": self.deployment.site.code,
            "at": self.lifecycle.clock().astimezone(dt.UTC).isoformat(),
            "keys": [k.to_json() for k in keys],
        }
        return {
            "body": body,
            "signed_by": crypto.public_key_text(signing),
            "signature": crypto.sign(signing, _KEYS_SIGNED + crypto.canonical_json(body)),
        }

    @staticmethod
    def read_keys_document(document: Any, trusted_signers: Sequence[str]) -> tuple[dt.datetime, list[TrustedKey]]:
        """The time and keys of a published-keys document signed by one of ``trusted_signers``;
        :class:`EktpError` (``paper.keys.refused``) for anything else."""
        try:
            body, signer, signature = document["body"], str(document["signed_by"]), str(document["signature"])
            if body["kind"] != KEYS_KIND or body["v"] != 1:
                raise ValueError("not a published-keys document")
            if signer not in trusted_signers:
                raise ValueError("signed by a key this node does not trust as the Dukcapil node's")
            signed = _KEYS_SIGNED + crypto.canonical_json(body)
            crypto.verify_signature(crypto.load_public_key(signer), signed, signature)
            at = dt.datetime.fromisoformat(str(body["at"]))
            if at.tzinfo is None:
                raise ValueError("its time has no zone")
            keys = [TrustedKey.from_json(raw) for raw in body["keys"]]
        except (KeyError, TypeError, ValueError, crypto.TamperedData) as exc:
            raise EktpError(Message("paper.keys.refused", why=str(exc)[:300])) from None
        return at, keys

    def import_keys(self, document: Any, *, actor: str) -> int:
        """At a site: keep the regency's published keys after checking the Dukcapil node signed them (with a
        key of its chain this site trusts); returns how many keys. An older document than the one in
        force is refused (a replay must not bring back retired keys' trust). Audited as
        ``paper.keys_imported``."""
        if self.is_dukcapil:
            raise EktpError(Message("paper.keys.at_dukcapil"))
        trusted = node_keys.SiteKeys(self.lifecycle).trusted()
        at, keys = self.read_keys_document(document, trusted)
        lc = self.lifecycle
        now = lc.clock()
        with lc.store.write() as conn:
            lc._require_role(conn, actor, (Role.SUPERVISOR, Role.ADMIN), "import the regency's published keys")
            newest = read.newest_published_keys(conn)
            if newest is not None and repo.utc(newest.published_at) > at:
                raise Conflict(
                    Message("paper.keys.older", at=at.isoformat(), newest=repo.utc(newest.published_at).isoformat())
                )
            conn.execute(
                paper_keys.insert().values(
                    published_at=at,
                    signed_by=str(document["signed_by"]),
                    document=json.dumps(document, ensure_ascii=False),
                    imported_at=now,
                    imported_by=actor,
                )
            )
            audit.append(
                conn,
                actor=actor,
                action=AuditAction.PAPER_KEYS_IMPORTED,
                subject_kind="node_keys",
                subject_id="paper_keys",
                at=now,
                detail={"published_at": at.isoformat(), "keys": len(keys), "signed_by": str(document["signed_by"])},
            )
        return len(keys)

    def trusted_keys(self) -> list[TrustedKey]:
        """The keys papers are checked against here: at the Dukcapil node the regency's keys as it knows
        them now; at a site the newest imported published keys (checked again) and its own key."""
        if self.is_dukcapil:
            return self.published_keys()
        keys: list[TrustedKey] = []
        with self.lifecycle.store.read() as conn:
            newest = read.newest_published_keys(conn)
        if newest is not None:
            trusted = node_keys.SiteKeys(self.lifecycle).trusted()
            keys = self.read_keys_document(json.loads(newest.document), trusted)[1]
        own = crypto.public_key_text(self._signing_key())
        if not any(k.key == own for k in keys):
            keys.append(TrustedKey(self.deployment.site.code, own))
        return keys

    def check(self, text: str) -> CheckResult:
        """Check a statement (a QR code's text, or text holding one) against the keys trusted here."""
        try:
            statement, key = verify_statement(text, self.trusted_keys(), today=self._today())
        except NotGenuine as exc:
            return CheckResult(
                genuine=False, statement=exc.statement, reason=exc.reason.value, message=exc.as_message()
            )
        return CheckResult(
            genuine=True,
            statement=statement,
            reason=None,
            message=Message(
                "paper.check.genuine", kind=Message(f"paper.kind.{statement.kind.value}"), number=statement.number
            ),
            key_site=key.site,
        )


def _image(capture: CaptureService, enrolment_id: str, modality: Modality, position: str) -> bytes | None:
    try:
        return capture.image(enrolment_id, modality, position)
    except (EktpError, NotFound):
        return None
