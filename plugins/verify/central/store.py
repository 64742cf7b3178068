"""The emulator's own SQLite database (SQLAlchemy Core): accepted enrolments with their templates and
images, verdicts, the population register, printed cards, and the idempotency records (each
enrolment's body hash).

Every change is one transaction, so a restart finds either the state before a request or after it;
the in-memory gallery of the matcher is rebuilt from :meth:`CentralStore.gallery` on start (unless
the snapshot of :mod:`.snapshot` holds exactly :meth:`CentralStore.gallery_ids`).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import attrs
import sqlalchemy as sa
from ektp_plugins.verify.central.submission import ParsedSubmission
from ektp_plugins.verify.central.verdicts import Judgement, Person
from sqlalchemy.engine import Connection, Engine

from ektp_core.domain.model import EnrolmentState

#: The database file inside the data folder.
DATABASE_FILE = "central.sqlite3"

metadata = sa.MetaData()

enrolments = sa.Table(
    "enrolments",
    metadata,
    # The sequence number is the order of receipt: the worker decides in this order.
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("enrolment_id", sa.String(128), nullable=False, unique=True),
    sa.Column("body_hash", sa.String(64), nullable=False),
    sa.Column("site", sa.String(64), nullable=False),
    sa.Column("nik", sa.String(16), nullable=False, index=True),
    sa.Column("biodata", sa.Text, nullable=False),
    sa.Column("exceptions", sa.Text, nullable=False, default="{}"),
    sa.Column("fingers_sent", sa.Integer, nullable=False),
    sa.Column("received_at", sa.String(32), nullable=False),
    sa.Column("status", sa.String(40), nullable=False, index=True),
    sa.Column("decided_at", sa.String(32)),
    sa.Column("reasons", sa.Text, nullable=False, default="[]"),
    sa.Column("candidates", sa.Text, nullable=False, default="[]"),
    sa.Column("in_gallery", sa.Boolean, nullable=False, default=False, index=True),
    sa.Column("adjudication", sa.Text),
)

templates = sa.Table(
    "templates",
    metadata,
    sa.Column("enrolment_id", sa.String(128), primary_key=True),
    sa.Column("position", sa.String(16), primary_key=True),
    sa.Column("data", sa.LargeBinary, nullable=False),
    sa.Column("minutiae", sa.Integer, nullable=False),
)

images = sa.Table(
    "images",
    metadata,
    sa.Column("enrolment_id", sa.String(128), primary_key=True),
    # A finger position, or "face".
    sa.Column("position", sa.String(16), primary_key=True),
    sa.Column("data", sa.LargeBinary, nullable=False),
)

register = sa.Table(
    "register",
    metadata,
    sa.Column("nik", sa.String(16), primary_key=True),
    sa.Column("name", sa.String(120), nullable=False),
    sa.Column("sex", sa.String(1), nullable=False),
    sa.Column("birth_date", sa.String(10), nullable=False),
    sa.Column("birth_place", sa.String(60), nullable=False),
    # "seed" (the --register file) or "enrolment" (learnt from an accepted enrolment).
    sa.Column("source", sa.String(16), nullable=False),
    sa.Column("enrolment_id", sa.String(128)),
    sa.Column("registered_at", sa.String(32), nullable=False),
)

cards = sa.Table(
    "cards",
    metadata,
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("nik", sa.String(16), nullable=False, index=True),
    # None for a card the --register file says was printed before the emulator existed.
    sa.Column("enrolment_id", sa.String(128), unique=True),
    sa.Column("printed_at", sa.String(32)),
    sa.Column("recorded_at", sa.String(32), nullable=False),
    sa.Column("source", sa.String(16), nullable=False),
)


# Tables added after the first release are separate tables, so an emulator's existing data folder
# gains them at start (create_all) without a migration.

#: The service of a replacement: the earlier enrolment it replaces (first cards have no row).
services = sa.Table(
    "services",
    metadata,
    sa.Column("enrolment_id", sa.String(128), primary_key=True),
    sa.Column("type", sa.String(16), nullable=False),
    sa.Column("replaces", sa.String(128), nullable=False),
)

#: Supervisors' corrections of enrolments the emulator holds, each with the hash of the corrected
#: submission (a resend of the corrected body is then the same enrolment, not a conflict).
corrections = sa.Table(
    "corrections",
    metadata,
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("enrolment_id", sa.String(128), nullable=False, index=True),
    sa.Column("body_hash", sa.String(64), nullable=False),
    sa.Column("biodata", sa.Text, nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("supervisor", sa.String(64), nullable=False),
    sa.Column("corrected_at", sa.String(32), nullable=False),
)


def utc_text(moment: dt.datetime) -> str:
    """A UTC timestamp as the API writes it: ``2026-11-28T01:02:03Z``."""
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@attrs.frozen
class EnrolmentRecord:
    """One stored enrolment and its verdict so far."""

    enrolment_id: str
    body_hash: str
    site: str
    nik: str
    biodata: Mapping[str, Any]
    fingers_sent: int
    received_at: str
    status: EnrolmentState
    decided_at: str | None
    reasons: tuple[Mapping[str, Any], ...]
    candidates: tuple[Mapping[str, Any], ...]
    in_gallery: bool
    adjudication: Mapping[str, Any] | None

    @property
    def pending(self) -> bool:
        """True while no verdict exists."""
        return self.status is EnrolmentState.RECEIVED_AT_CENTRAL

    def receipt(self, *, first: bool) -> dict[str, Any]:
        """The answer to a submission (the same for the first time and any resend, but for ``first``)."""
        return {
            "enrolment_id": self.enrolment_id,
            "status": EnrolmentState.RECEIVED_AT_CENTRAL.value,
            "received_at": self.received_at,
            "first": first,
        }

    def as_polled(self) -> dict[str, Any]:
        """The answer to ``GET /enrolments/{id}``."""
        out: dict[str, Any] = {
            "enrolment_id": self.enrolment_id,
            "status": self.status.value,
            "received_at": self.received_at,
            "decided_at": self.decided_at,
            "reasons": [dict(r) for r in self.reasons],
            "candidates": [dict(c) for c in self.candidates],
        }
        if self.adjudication is not None:
            out["adjudication"] = dict(self.adjudication)
        return out

    @classmethod
    def from_row(cls, row: Any) -> EnrolmentRecord:
        """Convert a database row at the store's edge."""
        return cls(
            enrolment_id=row.enrolment_id,
            body_hash=row.body_hash,
            site=row.site,
            nik=row.nik,
            biodata=json.loads(row.biodata),
            fingers_sent=row.fingers_sent,
            received_at=row.received_at,
            status=EnrolmentState(row.status),
            decided_at=row.decided_at,
            reasons=tuple(json.loads(row.reasons)),
            candidates=tuple(json.loads(row.candidates)),
            in_gallery=bool(row.in_gallery),
            adjudication=json.loads(row.adjudication) if row.adjudication else None,
        )


class CentralStore:
    """The emulator's database. Thread-safe for reads; the service serialises writes."""

    def __init__(self, data_dir: Path) -> None:
        data_dir.mkdir(parents=True, exist_ok=True)
        self.path = data_dir / DATABASE_FILE
        self.engine: Engine = sa.create_engine(f"sqlite:///{self.path}")

        @sa.event.listens_for(self.engine, "connect")
        def _pragmas(dbapi_connection: Any, _record: Any) -> None:
            # WAL lets the poll requests read while the worker writes; synchronous=FULL because an
            # accepted enrolment must survive a power cut once it was acknowledged.
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=FULL")
            cursor.execute("PRAGMA busy_timeout=10000")
            cursor.close()

        metadata.create_all(self.engine)

    def close(self) -> None:
        """Release the database connections."""
        self.engine.dispose()

    # -- enrolments ----------------------------------------------------------------------------------

    def find(self, enrolment_id: str) -> EnrolmentRecord | None:
        """The stored enrolment, or None."""
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(enrolments).where(enrolments.c.enrolment_id == enrolment_id)).first()
        return EnrolmentRecord.from_row(row) if row else None

    def insert(self, parsed: ParsedSubmission, body_hash: str, received_at: str) -> EnrolmentRecord:
        """Store a new submission (pending) with its templates and images, in one transaction."""
        with self.engine.begin() as conn:
            conn.execute(
                enrolments.insert().values(
                    enrolment_id=parsed.enrolment_id,
                    body_hash=body_hash,
                    site=parsed.site,
                    nik=parsed.biodata.nik.value,
                    biodata=json.dumps(parsed.biodata.to_dict()),
                    exceptions=json.dumps(dict(parsed.exceptions)),
                    fingers_sent=parsed.fingers_sent,
                    received_at=received_at,
                    status=EnrolmentState.RECEIVED_AT_CENTRAL.value,
                    reasons="[]",
                    candidates="[]",
                    in_gallery=False,
                )
            )
            if parsed.service.replaces:
                conn.execute(
                    services.insert().values(
                        enrolment_id=parsed.enrolment_id,
                        type=parsed.service.type.value,
                        replaces=parsed.service.replaces,
                    )
                )
            if parsed.fingers:
                conn.execute(
                    templates.insert(),
                    [
                        {
                            "enrolment_id": parsed.enrolment_id,
                            "position": pos,
                            "data": data,
                            "minutiae": parsed.minutiae.get(pos, 0),
                        }
                        for pos, data in parsed.fingers.items()
                    ],
                )
            blobs = dict(parsed.finger_images)
            if parsed.face is not None:
                blobs["face"] = parsed.face
            if blobs:
                conn.execute(
                    images.insert(),
                    [
                        {"enrolment_id": parsed.enrolment_id, "position": pos, "data": data}
                        for pos, data in blobs.items()
                    ],
                )
        record = self.find(parsed.enrolment_id)
        assert record is not None
        return record

    def pending_ids(self) -> list[str]:
        """Enrolments waiting for a verdict, in the order they were received."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(enrolments.c.enrolment_id)
                .where(enrolments.c.status == EnrolmentState.RECEIVED_AT_CENTRAL.value)
                .order_by(enrolments.c.seq)
            ).all()
        return [r.enrolment_id for r in rows]

    def count_pending(self) -> int:
        """How many enrolments wait for a verdict."""
        with self.engine.connect() as conn:
            return int(
                conn.execute(
                    sa.select(sa.func.count())
                    .select_from(enrolments)
                    .where(enrolments.c.status == EnrolmentState.RECEIVED_AT_CENTRAL.value)
                ).scalar_one()
            )

    def probe(self, enrolment_id: str) -> dict[str, bytes]:
        """The enrolment's templates usable for search (those holding minutiae)."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(templates.c.position, templates.c.data).where(
                    templates.c.enrolment_id == enrolment_id, templates.c.minutiae > 0
                )
            ).all()
        return {r.position: r.data for r in rows}

    def count_gallery(self) -> int:
        """How many enrolments belong in the gallery."""
        with self.engine.connect() as conn:
            return int(
                conn.execute(
                    sa.select(sa.func.count()).select_from(enrolments).where(enrolments.c.in_gallery.is_(True))
                ).scalar_one()
            )

    def gallery(self) -> Iterator[tuple[str, dict[str, bytes]]]:
        """Every gallery enrolment with its usable templates, in the order received."""
        query = (
            sa.select(templates.c.enrolment_id, templates.c.position, templates.c.data)
            .join(enrolments, enrolments.c.enrolment_id == templates.c.enrolment_id)
            .where(enrolments.c.in_gallery.is_(True), templates.c.minutiae > 0)
            .order_by(enrolments.c.seq)
        )
        current: str | None = None
        fingers: dict[str, bytes] = {}
        with self.engine.connect() as conn:
            for row in conn.execute(query):
                if row.enrolment_id != current:
                    if current is not None:
                        yield current, fingers
                    current, fingers = row.enrolment_id, {}
                fingers[row.position] = row.data
        if current is not None:
            yield current, fingers

    def gallery_ids(self) -> list[tuple[int, str, str]]:
        """(sequence number, enrolment id, body hash) of every enrolment :meth:`gallery` yields (a gallery
        enrolment with at least one usable template), in the order received: what a snapshot must cover."""
        usable = sa.exists().where(templates.c.enrolment_id == enrolments.c.enrolment_id, templates.c.minutiae > 0)
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(enrolments.c.seq, enrolments.c.enrolment_id, enrolments.c.body_hash)
                .where(enrolments.c.in_gallery.is_(True), usable)
                .order_by(enrolments.c.seq)
            ).all()
        return [(int(r.seq), r.enrolment_id, r.body_hash) for r in rows]

    def accepted_enrolments(self, nik: str) -> list[tuple[str, Mapping[str, bytes]]]:
        """The NIK's gallery enrolments in the order received, with their usable templates (enrolments
        without any are left out)."""
        query = (
            sa.select(templates.c.enrolment_id, templates.c.position, templates.c.data)
            .join(enrolments, enrolments.c.enrolment_id == templates.c.enrolment_id)
            .where(enrolments.c.nik == nik, enrolments.c.in_gallery.is_(True), templates.c.minutiae > 0)
            .order_by(enrolments.c.seq)
        )
        out: dict[str, dict[str, bytes]] = {}
        with self.engine.connect() as conn:
            for row in conn.execute(query):
                out.setdefault(row.enrolment_id, {})[row.position] = row.data
        return list(out.items())

    def image(self, enrolment_id: str, position: str) -> bytes | None:
        """A stored finger image (or the face, ``position="face"``)."""
        with self.engine.connect() as conn:
            return conn.execute(
                sa.select(images.c.data).where(images.c.enrolment_id == enrolment_id, images.c.position == position)
            ).scalar()

    # -- verdicts ------------------------------------------------------------------------------------

    def save_verdict(self, enrolment_id: str, judgement: Judgement, decided_at: str) -> EnrolmentRecord:
        """Store a verdict; a print-ready record joins the gallery and teaches the register its NIK."""
        with self.engine.begin() as conn:
            conn.execute(
                enrolments.update()
                .where(enrolments.c.enrolment_id == enrolment_id)
                .values(
                    status=judgement.status.value,
                    decided_at=decided_at,
                    reasons=json.dumps([attrs.asdict(r) for r in judgement.reasons]),
                    candidates=json.dumps([c.to_dict() for c in judgement.candidates]),
                    in_gallery=judgement.joins_gallery,
                )
            )
            if judgement.joins_gallery:
                self._learn(conn, enrolment_id, decided_at)
        record = self.find(enrolment_id)
        assert record is not None
        return record

    def requeue(self, enrolment_id: str) -> None:
        """Put an enrolment whose search failed back in the queue (its resend asks for a new search)."""
        with self.engine.begin() as conn:
            conn.execute(
                enrolments.update()
                .where(enrolments.c.enrolment_id == enrolment_id)
                .values(status=EnrolmentState.RECEIVED_AT_CENTRAL.value, decided_at=None, reasons="[]", candidates="[]")
            )

    def adjudicate(
        self, enrolment_id: str, status: EnrolmentState, reasons: list[dict[str, str]], adjudication: dict[str, Any]
    ) -> EnrolmentRecord:
        """Store a supervisor's decision on an ADJUDICATE_RECORD enrolment."""
        with self.engine.begin() as conn:
            joins = status is EnrolmentState.PRINT_READY_RECORD
            conn.execute(
                enrolments.update()
                .where(enrolments.c.enrolment_id == enrolment_id)
                .values(
                    status=status.value,
                    decided_at=adjudication["decided_at"],
                    reasons=json.dumps(reasons),
                    adjudication=json.dumps(adjudication),
                    in_gallery=joins,
                )
            )
            if joins:
                self._learn(conn, enrolment_id, adjudication["decided_at"])
        record = self.find(enrolment_id)
        assert record is not None
        return record

    def replaces(self, enrolment_id: str) -> str | None:
        """The earlier enrolment a replacement names, or None for a first card."""
        with self.engine.connect() as conn:
            value = conn.execute(
                sa.select(services.c.replaces).where(services.c.enrolment_id == enrolment_id)
            ).scalar_one_or_none()
        return str(value) if value is not None else None

    def accepted_hashes(self, enrolment_id: str) -> set[str]:
        """The body hashes of an enrolment's corrected submissions (besides the first one's)."""
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(corrections.c.body_hash).where(corrections.c.enrolment_id == enrolment_id))
            return {str(r.body_hash) for r in rows}

    def correct(
        self, parsed: ParsedSubmission, body_hash: str, *, reason: str, supervisor: str, corrected_at: str
    ) -> EnrolmentRecord:
        """Replace an enrolment's biodata with a supervisor's correction (the NIK never changes); the
        register follows when this enrolment is where it learnt the person from."""
        biodata = json.dumps(parsed.biodata.to_dict())
        with self.engine.begin() as conn:
            conn.execute(
                enrolments.update().where(enrolments.c.enrolment_id == parsed.enrolment_id).values(biodata=biodata)
            )
            conn.execute(
                corrections.insert().values(
                    enrolment_id=parsed.enrolment_id,
                    body_hash=body_hash,
                    biodata=biodata,
                    reason=reason,
                    supervisor=supervisor,
                    corrected_at=corrected_at,
                )
            )
            person = _person(parsed.biodata.to_dict())
            conn.execute(
                register.update()
                .where(register.c.nik == person.nik, register.c.enrolment_id == parsed.enrolment_id)
                .values(**_person_row(person))
            )
        record = self.find(parsed.enrolment_id)
        assert record is not None
        return record

    # -- the population register and cards ------------------------------------------------------------

    def _learn(self, conn: Connection, enrolment_id: str, when: str) -> None:
        row = conn.execute(sa.select(enrolments.c.biodata).where(enrolments.c.enrolment_id == enrolment_id)).one()
        person = _person(json.loads(row.biodata))
        if conn.execute(sa.select(register.c.nik).where(register.c.nik == person.nik)).first() is None:
            conn.execute(
                register.insert().values(
                    **_person_row(person), source="enrolment", enrolment_id=enrolment_id, registered_at=when
                )
            )

    def person(self, nik: str) -> Person | None:
        """The person the register holds for a NIK."""
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(register).where(register.c.nik == nik)).first()
        if row is None:
            return None
        return Person(row.nik, row.name, row.sex, dt.date.fromisoformat(row.birth_date), row.birth_place)

    def has_card(self, nik: str) -> bool:
        """Whether a card was printed for the NIK."""
        with self.engine.connect() as conn:
            return conn.execute(sa.select(cards.c.seq).where(cards.c.nik == nik).limit(1)).first() is not None

    def enrolled_person(self, enrolment_id: str) -> Person | None:
        """The person an enrolment's biodata describes."""
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(enrolments.c.biodata).where(enrolments.c.enrolment_id == enrolment_id)).first()
        return _person(json.loads(row.biodata)) if row else None

    def count_register(self) -> int:
        """How many NIKs the register holds."""
        with self.engine.connect() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(register)).scalar_one())

    def card(self, enrolment_id: str) -> dict[str, Any] | None:
        """The card recorded for an enrolment, if any."""
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(cards).where(cards.c.enrolment_id == enrolment_id)).first()
        return (
            None
            if row is None
            else {
                "enrolment_id": row.enrolment_id,
                "nik": row.nik,
                "printed_at": row.printed_at,
                "recorded_at": row.recorded_at,
            }
        )

    def record_card(self, enrolment_id: str, nik: str, printed_at: str, recorded_at: str) -> None:
        """Record that an enrolment's card was printed."""
        with self.engine.begin() as conn:
            conn.execute(
                cards.insert().values(
                    nik=nik, enrolment_id=enrolment_id, printed_at=printed_at, recorded_at=recorded_at, source="api"
                )
            )

    def seed(self, entries: Iterable[tuple[Person, bool, str | None]], now: str) -> tuple[int, int]:
        """Add register entries (and cards printed before) from a seed file; returns (people, cards) added.

        An entry the register already holds for the same person is skipped, so seeding twice is
        harmless; one that contradicts the register raises ValueError and nothing is added.
        """
        added_people = added_cards = 0
        with self.engine.begin() as conn:
            for person, card_printed, card_printed_at in entries:
                row = conn.execute(sa.select(register).where(register.c.nik == person.nik)).first()
                if row is None:
                    conn.execute(register.insert().values(**_person_row(person), source="seed", registered_at=now))
                    added_people += 1
                else:
                    known = Person(row.nik, row.name, row.sex, dt.date.fromisoformat(row.birth_date), row.birth_place)
                    differ = known.differences(person)
                    if differ:
                        raise ValueError(
                            f"NIK {person.nik}: the register already holds another person ({', '.join(differ)} differ)"
                        )
                if card_printed:
                    seeded = conn.execute(
                        sa.select(cards.c.seq).where(cards.c.nik == person.nik, cards.c.source == "seed")
                    ).first()
                    if seeded is None:
                        conn.execute(
                            cards.insert().values(
                                nik=person.nik,
                                enrolment_id=None,
                                printed_at=card_printed_at,
                                recorded_at=now,
                                source="seed",
                            )
                        )
                        added_cards += 1
        return added_people, added_cards


def _person(biodata: Mapping[str, Any]) -> Person:
    return Person(
        str(biodata["nik"]),
        str(biodata["nama"]),
        str(biodata["jenis_kelamin"]),
        dt.date.fromisoformat(str(biodata["tanggal_lahir"])),
        str(biodata["tempat_lahir"]),
    )


def _person_row(person: Person) -> dict[str, str]:
    return {
        "nik": person.nik,
        "name": person.name,
        "sex": person.sex,
        "birth_date": person.birth_date.isoformat(),
        "birth_place": person.birth_place,
    }
