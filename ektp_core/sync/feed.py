"""The way back from the Dukcapil node to a site: a cursor-based feed of what concerns the site.

The feed is read off the audit log, whose sequence number is the cursor: every state change of an
enrolment the site recorded (its verdict among them), every change of a print job routed to the site,
and every account bound to the site. Because each of those changes is written in the same
transaction as its audit entry, nothing can happen without appearing in the feed, and a site that
asks again from its last cursor after an interruption misses nothing and gets nothing twice.

Each item is signed by the Dukcapil node (Ed25519 over its canonical JSON). A site applies items in
order and only after checking the signature (:class:`FeedReader`); a print job is kept with its
signature, and the site prints only jobs whose signature holds (:func:`check_signed_job`).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from typing import Any

import attrs
import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ektp_core.domain.model import Biodata, EnrolmentState
from ektp_core.errors import EktpError
from ektp_core.keys import crypto
from ektp_core.lifecycle import audit
from ektp_core.lifecycle.actions import AuditAction
from ektp_core.lifecycle.service import LifecycleService
from ektp_core.messages import Message
from ektp_core.store import counters
from ektp_core.store import repository as repo
from ektp_core.store.tables import audit_log, enrolments, operators, peers, print_jobs, signed_jobs, web_sessions
from ektp_core.sync.node_keys import SiteKeys

#: Items per answer at most; the site asks again from the cursor it got.
PAGE = 200
#: Audit entries looked at per answer at most (a site with little news still moves its cursor on).
SCAN = 5000


class FeedRefused(EktpError):
    """A feed item whose signature does not hold: nothing from it on is applied."""

    message_code = "error.feed_refused"


@attrs.frozen
class Page:
    """One answer of the feed: items in order, and the cursor to ask from next."""

    items: list[dict[str, Any]]
    cursor: int
    #: True when more entries wait after ``cursor``.
    more: bool


class Feed:
    """The Dukcapil node's side: what a site should learn, signed."""

    def __init__(self, lifecycle: LifecycleService, signing_key: Ed25519PrivateKey) -> None:
        self.lifecycle = lifecycle
        self.signing_key = signing_key

    def _sign(self, item: dict[str, Any]) -> dict[str, Any]:
        return {**item, "signature": crypto.sign(self.signing_key, crypto.canonical_json(item))}

    def since(self, site_code: str, cursor: int, *, page: int = PAGE) -> Page:
        """The items for ``site_code`` after ``cursor`` (an audit sequence number; 0 from the start)."""
        with self.lifecycle.store.read() as conn:
            entries = conn.execute(
                sa.select(audit_log).where(audit_log.c.seq > cursor).order_by(audit_log.c.seq).limit(SCAN)
            ).all()
            subjects = {e.subject_id for e in entries}
            enrolment_sites = (
                dict(
                    conn.execute(
                        sa.select(enrolments.c.id, enrolments.c.site_code).where(enrolments.c.id.in_(subjects))
                    ).all()
                )
                if subjects
                else {}
            )
            job_rows = (
                {r.id: r for r in conn.execute(sa.select(print_jobs).where(print_jobs.c.id.in_(subjects)))}
                if subjects
                else {}
            )
            accounts = (
                {r.username: r for r in conn.execute(sa.select(operators).where(operators.c.username.in_(subjects)))}
                if subjects
                else {}
            )
            items: list[dict[str, Any]] = []
            last = cursor
            for entry in entries:
                if len(items) >= page:
                    break
                last = entry.seq
                item = self._item(conn, entry, site_code, enrolment_sites, job_rows, accounts)
                if item is not None:
                    items.append(self._sign(item))
            more = len(entries) == SCAN or len(items) >= page
        return Page(items, last, more)

    def _item(
        self,
        conn: Any,
        entry: Any,
        site_code: str,
        enrolment_sites: Mapping[str, str],
        job_rows: Mapping[str, Any],
        accounts: Mapping[str, Any],
    ) -> dict[str, Any] | None:
        detail = json.loads(entry.detail)
        base = {"seq": entry.seq, "at": entry.at}
        if entry.subject_kind == "enrolment" and "to" in detail:
            if enrolment_sites.get(entry.subject_id) != site_code:
                return None
            return {
                **base,
                "kind": "enrolment_state",
                "enrolment_id": entry.subject_id,
                "state": detail["to"],
                # The message when there is one, so the site shows the reason in its operators' language.
                "reason": detail.get("reason_message") or detail.get("reason"),
            }
        if entry.action == AuditAction.ENROLMENT_CORRECTED and "changes" in detail:
            # A supervisor's correction at the Dukcapil node: the site's copy takes the same values.
            if enrolment_sites.get(entry.subject_id) != site_code:
                return None
            return {
                **base,
                "kind": "correction",
                "enrolment_id": entry.subject_id,
                "changes": {field: values[1] for field, values in detail["changes"].items()},
                "reason": detail.get("reason_message") or detail.get("reason"),
            }
        if entry.subject_kind == "print_job" and "to" in detail:
            job = job_rows.get(entry.subject_id)
            if job is None or job.site_code != site_code:
                return None
            enrolment = repo.get_enrolment(conn, job.enrolment_id)
            return {
                **base,
                "kind": "print_job",
                "job_id": job.id,
                "enrolment_id": job.enrolment_id,
                "site_code": job.site_code,
                "state": detail["to"],
                "routing_reason": job.routing_reason,
                "print_day": job.print_day,
                "biodata": enrolment.biodata.to_dict(),
            }
        if entry.subject_kind == "operator":
            account = accounts.get(entry.subject_id)
            if account is None or account.site_code != site_code:
                return None
            # The password verifier (scrypt), never a password: the site checks log-ins offline with it.
            return {
                **base,
                "kind": "account",
                "username": account.username,
                "full_name": account.full_name,
                "role": account.role,
                "site_code": account.site_code,
                "password_hash": account.password_hash,
                "active": bool(account.active),
            }
        return None


def check_item(item: Mapping[str, Any], dukcapil_key: str) -> dict[str, Any]:
    """The item without its signature, if the signature holds; :class:`FeedRefused` otherwise."""
    body = {k: v for k, v in item.items() if k != "signature"}
    try:
        crypto.verify_signature(
            crypto.load_public_key(dukcapil_key), crypto.canonical_json(body), str(item["signature"])
        )
    except (KeyError, ValueError, crypto.TamperedData):
        raise FeedRefused(f"feed item {item.get('seq')} is not signed by the Dukcapil node: not applied") from None
    return body


def check_signed_job(lifecycle: LifecycleService, job_id: str) -> dict[str, Any]:
    """The Dukcapil node's signed order for a print job at this site; raises when there is none or its
    signature does not hold (a site prints only jobs the Dukcapil node signed).

    The order was checked with the key pinned when it arrived; since then the Dukcapil node may have
    rotated its keys, so a signature by an earlier key of the chain this site verified holds too."""
    with lifecycle.store.read() as conn:
        row = conn.execute(sa.select(signed_jobs.c.item).where(signed_jobs.c.job_id == job_id)).scalar()
        peer = conn.execute(sa.select(peers.c.signing_key).where(peers.c.role == "dukcapil")).scalar()
    if row is None or peer is None:
        raise FeedRefused(f"print job {job_id} has no order signed by the Dukcapil node: not printed")
    item = json.loads(row)
    for key in SiteKeys(lifecycle).trusted():  # the pinned key first
        try:
            return check_item(item, key)
        except FeedRefused:
            continue
    raise FeedRefused(f"print job {job_id}: its order is not signed by the Dukcapil node: not printed")


@attrs.frozen
class Applied:
    """What a site did with one page of the feed."""

    applied: int
    cursor: int
    states: dict[str, str] = attrs.field(factory=dict)
    jobs: list[str] = attrs.field(factory=list)
    accounts: list[str] = attrs.field(factory=list)


class FeedReader:
    """A site's side: check and apply feed items in order, and keep the cursor."""

    def __init__(self, lifecycle: LifecycleService) -> None:
        self.lifecycle = lifecycle

    def _peer(self) -> tuple[str, int]:
        with self.lifecycle.store.read() as conn:
            row = conn.execute(
                sa.select(peers.c.signing_key, peers.c.feed_cursor).where(peers.c.role == "dukcapil")
            ).one_or_none()
        if row is None:
            raise EktpError(Message("sync.not_joined"))
        return str(row.signing_key), int(row.feed_cursor)

    @property
    def cursor(self) -> int:
        """Where the next page starts."""
        return self._peer()[1]

    def apply(self, items: Sequence[Mapping[str, Any]], cursor: int) -> Applied:
        """Apply a page (every signature checked first: a bad one refuses the whole page, so nothing
        is skipped) and move the cursor to ``cursor``, in one transaction."""
        key, current = self._peer()
        checked = [(check_item(item, key), item) for item in items]
        # Items at or before the cursor were applied already (a page asked twice): skipped.
        checked = [(body, item) for body, item in checked if int(body["seq"]) > current]
        cursor = max(cursor, current)
        lc = self.lifecycle
        at = lc.clock()
        result = Applied(len(checked), cursor)
        with lc.store.write() as conn:
            for body, signed in checked:
                self._apply_one(conn, body, signed, at, result)
            conn.execute(peers.update().where(peers.c.role == "dukcapil").values(feed_cursor=cursor))
        return result

    @staticmethod
    def _queue_here(conn: Any, item: Mapping[str, Any], at: dt.datetime) -> None:
        """A job routed here for an enrolment this site holds becomes a QUEUED job of its print queue
        (its order is checked again when it is printed). A resident recorded elsewhere has no record
        here yet: the job waits in ``signed_jobs``."""
        if item["state"] != "QUEUED":
            return
        holds = conn.execute(sa.select(enrolments.c.id).where(enrolments.c.id == str(item["enrolment_id"]))).first()
        known = conn.execute(sa.select(print_jobs.c.id).where(print_jobs.c.id == str(item["job_id"]))).first()
        if holds is None or known is not None:
            return
        conn.execute(
            print_jobs.insert().values(
                id=str(item["job_id"]),
                enrolment_id=str(item["enrolment_id"]),
                site_code=str(item["site_code"]),
                state="QUEUED",
                routing_reason=str(item.get("routing_reason") or ""),
                print_day=item.get("print_day"),
                created_at=at,
                updated_at=at,
            )
        )
        audit.append(
            conn,
            actor="sync",
            action=AuditAction.SYNC_JOB_RECEIVED,
            subject_kind="print_job",
            subject_id=str(item["job_id"]),
            at=at,
            detail={"enrolment": str(item["enrolment_id"])},
        )
        counters.change(
            conn, after=counters.job_keys(str(item["site_code"]), "QUEUED", item.get("print_day"), None, at)
        )

    def _apply_one(
        self, conn: Any, item: Mapping[str, Any], signed_item: Mapping[str, Any], at: dt.datetime, result: Applied
    ) -> None:
        kind = item.get("kind")
        if kind == "enrolment_state":
            enrolment_id = str(item["enrolment_id"])
            row = conn.execute(
                sa.select(enrolments.c.state, enrolments.c.site_code, enrolments.c.created_at).where(
                    enrolments.c.id == enrolment_id
                )
            ).first()
            if row is None or row.state == item["state"]:
                return
            current = str(row.state)
            state = EnrolmentState(item["state"])
            # The Dukcapil node's record is the reference: the site's copy follows it, audited.
            conn.execute(
                enrolments.update()
                .where(enrolments.c.id == enrolment_id)
                .values(state=state.value, reason=_stored_reason(item.get("reason")), updated_at=at)
            )
            audit.append(
                conn,
                actor="sync",
                action=AuditAction.SYNC_STATE_MIRRORED,
                subject_kind="enrolment",
                subject_id=enrolment_id,
                at=at,
                detail={"from": current, "to": state.value, "dukcapil_seq": item["seq"]},
            )
            counters.change(
                conn,
                counters.enrolment_keys(row.site_code, current, row.created_at),
                counters.enrolment_keys(row.site_code, state.value, row.created_at),
            )
            result.states[enrolment_id] = state.value
        elif kind == "correction":
            enrolment_id = str(item["enrolment_id"])
            found = conn.execute(sa.select(enrolments).where(enrolments.c.id == enrolment_id)).first()
            if found is None:
                return
            mirrored = repo.enrolment_from_row(found)
            old = mirrored.biodata.to_dict()
            biodata = Biodata.from_dict({**old, **dict(item["changes"])})
            changed = {k: [old[k], v] for k, v in biodata.to_dict().items() if old.get(k) != v}
            if not changed:
                return  # already applied (a page read twice)
            values = repo.enrolment_to_row(attrs.evolve(mirrored, biodata=biodata))
            conn.execute(
                enrolments.update()
                .where(enrolments.c.id == enrolment_id)
                .values(nik=values["nik"], nama=values["nama"], biodata=values["biodata"], updated_at=at)
            )
            audit.append(
                conn,
                actor="sync",
                action=AuditAction.ENROLMENT_CORRECTED,
                subject_kind="enrolment",
                subject_id=enrolment_id,
                at=at,
                detail={"changes": changed, "sent": True, "dukcapil_seq": item["seq"]},
            )
        elif kind == "print_job":
            job_id = str(item["job_id"])
            signed = json.dumps(dict(signed_item))  # kept with its signature: checked again before printing
            exists = conn.execute(sa.select(signed_jobs.c.job_id).where(signed_jobs.c.job_id == job_id)).first()
            if exists is None:
                conn.execute(
                    signed_jobs.insert().values(
                        job_id=job_id,
                        enrolment_id=str(item["enrolment_id"]),
                        state=str(item["state"]),
                        item=signed,
                        received_at=at,
                    )
                )
                result.jobs.append(job_id)
                self._queue_here(conn, item, at)
            else:
                conn.execute(
                    signed_jobs.update()
                    .where(signed_jobs.c.job_id == job_id)
                    .values(state=str(item["state"]), item=signed, received_at=at)
                )
        elif kind == "account":
            username = str(item["username"])
            values = {
                "full_name": item["full_name"],
                "role": item["role"],
                "site_code": item["site_code"],
                "password_hash": item["password_hash"],
                "active": bool(item["active"]),
            }
            before = conn.execute(
                sa.select(operators.c.password_hash, operators.c.role, operators.c.active).where(
                    operators.c.username == username
                )
            ).first()
            updated = conn.execute(operators.update().where(operators.c.username == username).values(**values))
            if updated.rowcount == 0:
                conn.execute(operators.insert().values(username=username, created_at=at, **values))
            elif before is not None and (before.password_hash, before.role, bool(before.active)) != (
                values["password_hash"],
                values["role"],
                values["active"],
            ):
                # A new password, role or a disabled account ends the sessions open here, as at the Dukcapil node.
                conn.execute(
                    web_sessions.update()
                    .where(web_sessions.c.username == username)
                    .where(web_sessions.c.ended_at.is_(None))
                    .values(ended_at=at, end_reason="changed")
                )
            audit.append(
                conn,
                actor="sync",
                action=AuditAction.SYNC_ACCOUNT_RECEIVED,
                subject_kind="operator",
                subject_id=username,
                at=at,
                detail={"role": item["role"], "active": bool(item["active"])},
            )
            result.accounts.append(username)


def _stored_reason(value: Any) -> str | None:
    """A reason from the feed as the site's column keeps it: a message's JSON, or the text itself."""
    found = Message.found_in(value)
    if found is not None:
        return found.to_json()
    return None if value is None else str(value)
