"""The card register: every printed card (by its blank's serial) and its state, kept in the same
transaction as the lifecycle move that changes it.

The lifecycle service calls these functions inside its own transactions: a card is registered PRINTED
with its print job, DESTROYED when a supervisor spoils it, ACTIVE when it is handed over (and the
resident's card before it, if any, REPLACED), LOST when the resident reports it lost. Each move is
checked against :data:`~ektp_core.lifecycle.states.CARD_TRANSITIONS` and audited as ``card.<state>``
through the service's own recorder (``record``), like every other state move.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ektp_core.domain.model import Card, CardState
from ektp_core.errors import Conflict, IllegalTransition, NotFound
from ektp_core.events import Transition
from ektp_core.lifecycle.states import CARD_TRANSITIONS
from ektp_core.messages import Message, storable
from ektp_core.store import repository as repo
from ektp_core.store.tables import cards

C = CardState

#: The lifecycle service's recorder: (conn, kind, subject, old, new, actor, at, reason, detail).
Recorder = Callable[..., Transition]

#: Cards a resident holds or will hold: a new first card for the NIK is refused while one exists.
HELD = (C.PRINTED, C.SHIPPED, C.RECEIVED, C.ACTIVE)


def get(conn: Connection, serial: str, *, lock: bool = False) -> Card:
    """One card of the register; NotFound when the serial was never printed here."""
    query = sa.select(cards).where(cards.c.serial == serial)
    row = conn.execute(query.with_for_update() if lock else query).first()
    if row is None:
        raise NotFound("card", serial)
    return repo.card_from_row(row)


def of_nik(conn: Connection, nik: str) -> list[Card]:
    """Every card of one resident, oldest first."""
    rows = conn.execute(sa.select(cards).where(cards.c.nik == nik).order_by(cards.c.printed_at, cards.c.serial))
    return [repo.card_from_row(r) for r in rows]


def of_enrolment(conn: Connection, enrolment_id: str) -> list[Card]:
    """The cards printed for one enrolment (more than one when a supervisor spoiled one), oldest first."""
    rows = conn.execute(
        sa.select(cards).where(cards.c.enrolment_id == enrolment_id).order_by(cards.c.printed_at, cards.c.serial)
    )
    return [repo.card_from_row(r) for r in rows]


def active(conn: Connection, nik: str) -> Card | None:
    """The resident's active card (handed over, not replaced, lost or destroyed), if any."""
    row = conn.execute(sa.select(cards).where(cards.c.nik == nik, cards.c.state == C.ACTIVE.value)).first()
    return repo.card_from_row(row) if row is not None else None


def printed(
    conn: Connection,
    record: Recorder,
    *,
    serial: str,
    enrolment_id: str,
    nik: str,
    site: str,
    collection_site: str | None,
    actor: str,
    at: dt.datetime,
) -> Transition:
    """Register a card that just came out of a printer."""
    if conn.execute(sa.select(cards.c.serial).where(cards.c.serial == serial)).first() is not None:
        raise Conflict(Message("card.already_registered", serial=serial))
    conn.execute(
        cards.insert().values(
            serial=serial,
            enrolment_id=enrolment_id,
            nik=nik,
            state=C.PRINTED.value,
            printed_site=site,
            printed_at=at,
            collection_site=collection_site,
            updated_at=at,
        )
    )
    return record(
        conn, "card", serial, None, C.PRINTED.value, actor, at, None, {"enrolment": enrolment_id, "site": site}
    )


def move(
    conn: Connection,
    record: Recorder,
    serial: str,
    new: CardState,
    *,
    actor: str,
    at: dt.datetime,
    reason: str | Message | None = None,
    allowed_from: Sequence[CardState] = (),
    **values: Any,
) -> Transition:
    """Move one card to ``new`` (checked against the register's table), with its audit entry."""
    card = get(conn, serial, lock=True)
    if (allowed_from and card.state not in allowed_from) or new not in CARD_TRANSITIONS[card.state]:
        raise IllegalTransition("card", serial, card.state, new)
    changes: dict[str, Any] = {"state": new.value, "updated_at": at, **values}
    if reason is not None:
        changes["reason"] = storable(reason)
    conn.execute(cards.update().where(cards.c.serial == serial).values(**changes))
    detail = {"enrolment": card.enrolment_id, **{k: v for k, v in values.items() if isinstance(v, str)}}
    return record(conn, "card", serial, card.state.value, new.value, actor, at, reason, detail)


def handed_over(
    conn: Connection, record: Recorder, *, enrolment_id: str, site: str, actor: str, at: dt.datetime
) -> list[Transition]:
    """The enrolment's card was handed over at ``site``: it becomes the resident's ACTIVE card, and the
    card it replaces (any other ACTIVE card of the NIK) becomes REPLACED first.

    An enrolment printed at another node (whose register this node does not hold) has no card here:
    nothing to move, the handover itself is audited with the enrolment.
    """
    held = [c for c in of_enrolment(conn, enrolment_id) if c.state in (C.PRINTED, C.SHIPPED, C.RECEIVED)]
    if not held:
        return []
    card = held[-1]
    out = []
    earlier = active(conn, card.nik)
    if earlier is not None:
        out.append(
            move(
                conn,
                record,
                earlier.serial,
                C.REPLACED,
                actor=actor,
                at=at,
                reason=Message("reason.card_replaced", serial=card.serial, enrolment=enrolment_id),
            )
        )
    out.append(
        move(
            conn,
            record,
            card.serial,
            C.ACTIVE,
            actor=actor,
            at=at,
            handed_over_at=at,
            handed_over_site=site,
        )
    )
    return out
