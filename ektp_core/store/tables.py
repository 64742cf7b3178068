"""The database schema (SQLAlchemy Core). Alembic migrations in ``migrations/`` build exactly this;
a test compares the two so they cannot drift apart."""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

TS = sa.DateTime(timezone=True)

sites = sa.Table(
    "sites",
    metadata,
    sa.Column("code", sa.String(32), primary_key=True),
    sa.Column("name", sa.String(120), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("records", sa.Boolean, nullable=False),
    sa.Column("prints", sa.Boolean, nullable=False),
    sa.Column("region_code", sa.String(16)),
)

operators = sa.Table(
    "operators",
    metadata,
    sa.Column("username", sa.String(64), primary_key=True),
    sa.Column("full_name", sa.String(120), nullable=False),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("site_code", sa.String(32), nullable=False),
    sa.Column("password_hash", sa.String(255), nullable=False),
    sa.Column("active", sa.Boolean, nullable=False),
    sa.Column("created_at", TS, nullable=False),
)

enrolments = sa.Table(
    "enrolments",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("site_code", sa.String(32), nullable=False, index=True),
    sa.Column("operator", sa.String(64), nullable=False),
    sa.Column("nik", sa.String(16), nullable=False, index=True),
    sa.Column("nama", sa.String(120), nullable=False, index=True),
    sa.Column("biodata", sa.Text, nullable=False),
    sa.Column("state", sa.String(32), nullable=False, index=True),
    sa.Column("reason", sa.Text),
    sa.Column("created_at", TS, nullable=False),
    sa.Column("updated_at", TS),
    # The service (jenis layanan): baru, hilang, rusak, perubahan; its details as JSON (migration 0012).
    sa.Column("service_type", sa.String(16), nullable=False, server_default="baru"),
    sa.Column("service", sa.Text),
)

captures = sa.Table(
    "captures",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("enrolment_id", sa.String(64), sa.ForeignKey("enrolments.id"), nullable=False, index=True),
    sa.Column("modality", sa.String(16), nullable=False),
    sa.Column("position", sa.String(16), nullable=False),
    sa.Column("device", sa.String(120), nullable=False),
    sa.Column("quality", sa.Integer),
    sa.Column("blob_ref", sa.String(128)),
    sa.Column("exception_reason", sa.Text),
    sa.Column("exception_approved_by", sa.String(64)),
    sa.Column("template_ref", sa.String(128)),
    sa.UniqueConstraint("enrolment_id", "modality", "position", name="uq_captures_slot"),
)

print_jobs = sa.Table(
    "print_jobs",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("enrolment_id", sa.String(64), sa.ForeignKey("enrolments.id"), nullable=False, index=True),
    sa.Column("site_code", sa.String(32), nullable=False, index=True),
    sa.Column("state", sa.String(16), nullable=False, index=True),
    sa.Column("routing_reason", sa.Text, nullable=False),
    sa.Column("blank_serial", sa.String(32), unique=True),
    sa.Column("printer", sa.String(120)),
    sa.Column("reason", sa.Text),
    sa.Column("created_at", TS, nullable=False),
    sa.Column("updated_at", TS),
    # The weekday the site prints this card on (semi-vertical print days); NULL: any day.
    sa.Column("print_day", sa.String(9)),
)

# At most one job per enrolment that may still produce a card: a second one would risk two cards.
_OPEN_JOB = "state IN ('QUEUED', 'RESERVED', 'SENT', 'UNKNOWN')"
sa.Index(
    "uq_print_jobs_one_open_per_enrolment",
    print_jobs.c.enrolment_id,
    unique=True,
    sqlite_where=sa.text(_OPEN_JOB),
    postgresql_where=sa.text(_OPEN_JOB),
)

blank_batches = sa.Table(
    "blank_batches",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("site_code", sa.String(32), nullable=False, index=True),
    sa.Column("count", sa.Integer, nullable=False),
    sa.Column("received_at", TS, nullable=False),
    sa.Column("received_by", sa.String(64), nullable=False),
    sa.Column("note", sa.Text),
)

blanks = sa.Table(
    "blanks",
    metadata,
    sa.Column("serial", sa.String(32), primary_key=True),
    sa.Column("site_code", sa.String(32), nullable=False, index=True),
    sa.Column("batch_id", sa.Integer, sa.ForeignKey("blank_batches.id"), nullable=False),
    sa.Column("state", sa.String(16), nullable=False, index=True),
    sa.Column("job_id", sa.String(64)),
    sa.Column("enrolment_id", sa.String(64)),
    sa.Column("reason", sa.Text),
    sa.Column("updated_at", TS),
)

# A blank is printed for at most one enrolment, and an enrolment gets at most one printed blank
# unless a supervisor spoils the first (a reprint is a new enrolment).
_PRINTED = "state = 'PRINTED'"
sa.Index(
    "uq_blanks_one_printed_per_enrolment",
    blanks.c.enrolment_id,
    unique=True,
    sqlite_where=sa.text(_PRINTED),
    postgresql_where=sa.text(_PRINTED),
)

#: The card register (migration 0012): every printed card by its blank's serial, whose it is, where it
#: was made and handed over, and its state (:class:`~ektp_core.domain.model.CardState`).
cards = sa.Table(
    "cards",
    metadata,
    sa.Column("serial", sa.String(32), primary_key=True),
    sa.Column("enrolment_id", sa.String(64), sa.ForeignKey("enrolments.id"), nullable=False, index=True),
    sa.Column("nik", sa.String(16), nullable=False, index=True),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("printed_site", sa.String(32), nullable=False),
    sa.Column("printed_at", TS, nullable=False),
    sa.Column("collection_site", sa.String(32)),
    sa.Column("handed_over_at", TS),
    sa.Column("handed_over_site", sa.String(32)),
    sa.Column("reason", sa.Text),
    sa.Column("updated_at", TS),
)

# One active card per resident: a second one is refused by the database itself.
_ACTIVE = "state = 'ACTIVE'"
sa.Index(
    "uq_cards_one_active_per_nik",
    cards.c.nik,
    unique=True,
    sqlite_where=sa.text(_ACTIVE),
    postgresql_where=sa.text(_ACTIVE),
)

audit_log = sa.Table(
    "audit_log",
    metadata,
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=False),
    # ISO text, not a DateTime: the hash covers the exact string, whatever the database's time zone.
    sa.Column("at", sa.String(40), nullable=False),
    sa.Column("actor", sa.String(64), nullable=False),
    sa.Column("action", sa.String(64), nullable=False),
    sa.Column("subject_kind", sa.String(32), nullable=False),
    sa.Column("subject_id", sa.String(64), nullable=False, index=True),
    sa.Column("detail", sa.Text, nullable=False),
    sa.Column("prev_hash", sa.String(64), nullable=False),
    sa.Column("hash", sa.String(64), nullable=False),
)

# One row: the last sequence number and hash. Locking it serialises appends on every database.
audit_head = sa.Table(
    "audit_head",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("seq", sa.Integer, nullable=False),
    sa.Column("hash", sa.String(64), nullable=False),
)

# Encrypted biometric images and templates (AES-GCM, the enrolment id bound in as associated data).
blobs = sa.Table(
    "blobs",
    metadata,
    sa.Column("ref", sa.String(64), primary_key=True),
    sa.Column("enrolment_id", sa.String(64), sa.ForeignKey("enrolments.id"), nullable=False, index=True),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("ciphertext", sa.LargeBinary, nullable=False),
    sa.Column("created_at", TS, nullable=False),
)

# Each printer's own card counter as last read, and its value when ektp first met the printer:
# printed + spoiled cards on it must equal last_count - baseline_count.
printers = sa.Table(
    "printers",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("site_code", sa.String(32), nullable=False),
    sa.Column("driver", sa.String(64), nullable=False),
    sa.Column("serial", sa.String(64), nullable=False),
    sa.Column("baseline_count", sa.Integer),
    sa.Column("last_count", sa.Integer),
    sa.Column("updated_at", TS, nullable=False),
)

#: One row per enrolment handed to the central system: the attempts (so an outage loses nothing and
#: shows), the receipt, the verdict with its reasons and candidates, and whether its printed card was
#: reported back.
central_submissions = sa.Table(
    "central_submissions",
    metadata,
    sa.Column("enrolment_id", sa.String(64), sa.ForeignKey("enrolments.id"), primary_key=True),
    sa.Column("verifier", sa.String(64), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("last_attempt_at", TS),
    sa.Column("last_error", sa.Text),
    sa.Column("received_at", TS),
    sa.Column("verdict", sa.String(32)),
    sa.Column("verdict_detail", sa.Text),
    sa.Column("decided_at", TS),
    sa.Column("card_reported_at", TS),
)

# -- sync between site nodes and the Dukcapil node ---------------------------------------------------

#: At the Dukcapil node: each site's Ed25519 public key, registered with a one-time join code.
site_keys = sa.Table(
    "site_keys",
    metadata,
    sa.Column("site_code", sa.String(32), primary_key=True),
    sa.Column("public_key", sa.String(64), nullable=False),
    sa.Column("registered_at", TS, nullable=False),
    sa.Column("registered_by", sa.String(64), nullable=False),
)

#: At the Dukcapil node: one-time join codes (only their hash is kept).
join_codes = sa.Table(
    "join_codes",
    metadata,
    sa.Column("code_hash", sa.String(64), primary_key=True),
    sa.Column("site_code", sa.String(32), nullable=False),
    sa.Column("created_at", TS, nullable=False),
    sa.Column("expires_at", TS, nullable=False),
    sa.Column("created_by", sa.String(64), nullable=False),
    sa.Column("used_at", TS),
)

#: At a site node: the Dukcapil node it reports to (its address and public keys, learnt at join).
peers = sa.Table(
    "peers",
    metadata,
    sa.Column("role", sa.String(16), primary_key=True),
    sa.Column("url", sa.String(255), nullable=False),
    sa.Column("signing_key", sa.String(64), nullable=False),
    sa.Column("exchange_key", sa.String(64), nullable=False),
    sa.Column("joined_at", TS, nullable=False),
    #: The audit sequence number of the Dukcapil node up to which this site has read its feed.
    sa.Column("feed_cursor", sa.Integer, nullable=False, server_default="0"),
)

#: At a site node: print jobs the Dukcapil node routed here, each kept with its signed order.
signed_jobs = sa.Table(
    "signed_jobs",
    metadata,
    sa.Column("job_id", sa.String(64), primary_key=True),
    sa.Column("enrolment_id", sa.String(64), nullable=False, index=True),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("item", sa.Text, nullable=False),
    sa.Column("received_at", TS, nullable=False),
)

#: At a site node: packets waiting for (or given) the Dukcapil node's receipt, in sequence order. One
#: per (kind, subject): an ``enrolment`` (subject: the enrolment) or a ``print_outcome`` (the job).
outbox = sa.Table(
    "outbox",
    metadata,
    sa.Column("packet_id", sa.String(96), primary_key=True),
    sa.Column("seq", sa.Integer, nullable=False, unique=True),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("subject_id", sa.String(64), nullable=False),
    sa.Column("enrolment_id", sa.String(64), sa.ForeignKey("enrolments.id"), nullable=False, index=True),
    sa.Column("created_at", TS, nullable=False),
    sa.Column("packet", sa.LargeBinary, nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("last_error", sa.Text),
    sa.Column("sent_at", TS),
    sa.Column("receipt", sa.Text),
    sa.UniqueConstraint("kind", "subject_id", name="uq_outbox_kind"),
)

#: At the Dukcapil node: every packet received, once, with the signed receipt it was answered with.
inbox = sa.Table(
    "inbox",
    metadata,
    sa.Column("packet_id", sa.String(96), primary_key=True),
    sa.Column("site_code", sa.String(32), nullable=False, index=True),
    sa.Column("enrolment_id", sa.String(64)),
    sa.Column("digest", sa.String(64), nullable=False),
    sa.Column("received_at", TS, nullable=False),
    sa.Column("receipt", sa.Text, nullable=False),
)

#: The Dukcapil node's key transitions (see :mod:`ektp_core.sync.node_keys`): each replacement of its signing
#: and exchange keys, as a statement signed by the previous signing key and the new one. The Dukcapil
#: node keeps those it made (``completed_at``: when the new keys took over); a site keeps those it
#: verified, walking from the key it pinned (``completed_at``: when it pinned the new keys). Unique
#: previous keys: a chain never forks.
node_key_transitions = sa.Table(
    "node_key_transitions",
    metadata,
    sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("previous_signing_key", sa.String(64), nullable=False, unique=True),
    sa.Column("signing_key", sa.String(64), nullable=False, unique=True),
    sa.Column("exchange_key", sa.String(64), nullable=False),
    sa.Column("statement", sa.Text, nullable=False),
    sa.Column("created_at", TS, nullable=False),
    sa.Column("completed_at", TS),
)

#: Failed logins of each account at this node (kept per node: a lockout at one site does not lock the
#: same account's mirror elsewhere).
login_failures = sa.Table(
    "login_failures",
    metadata,
    sa.Column("username", sa.String(64), primary_key=True),
    sa.Column("failures", sa.Integer, nullable=False),
    sa.Column("last_failure_at", TS, nullable=False),
    sa.Column("locked_until", TS),
)

#: Sessions of the web UI, server side: the browser holds a random token, the table its SHA-256, so a
#: stolen database does not give live sessions. Logout sets ``ended_at``; the token is then worthless.
web_sessions = sa.Table(
    "web_sessions",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("username", sa.String(64), nullable=False, index=True),
    sa.Column("created_at", TS, nullable=False),
    sa.Column("last_seen_at", TS, nullable=False),
    sa.Column("ended_at", TS),
    sa.Column("end_reason", sa.String(16)),
    sa.Column("source", sa.String(64)),
)

# What the dashboard and the stock report count by time (migration 0008): without them a regency's
# fortnight is a scan of every enrolment, job and blank.
sa.Index("ix_enrolments_created_at", enrolments.c.created_at, enrolments.c.site_code)
sa.Index("ix_enrolments_site_created_at", enrolments.c.site_code, enrolments.c.created_at)
sa.Index("ix_print_jobs_state_updated_at", print_jobs.c.state, print_jobs.c.updated_at, print_jobs.c.site_code)
sa.Index("ix_blanks_site_state_updated_at", blanks.c.site_code, blanks.c.state, blanks.c.updated_at)
# The print queue of a site (thousands of jobs wait for their print day) and a printer's counter check.
sa.Index(
    "ix_print_jobs_site_queue",
    print_jobs.c.site_code,
    print_jobs.c.state,
    print_jobs.c.print_day,
    print_jobs.c.created_at,
)
sa.Index("ix_print_jobs_printer_state", print_jobs.c.printer, print_jobs.c.state)
sa.Index("ix_print_jobs_site_state_updated_at", print_jobs.c.site_code, print_jobs.c.state, print_jobs.c.updated_at)
# The reports read a period's moves from the audit log by time (migration 0012).
sa.Index("ix_audit_log_at", audit_log.c.at)
# A site's recordings in progress, newest first (migration 0010): the recording start page.
sa.Index("ix_enrolments_site_state_created_at", enrolments.c.site_code, enrolments.c.state, enrolments.c.created_at)

#: Counts kept in the same transaction as the change they count (migration 0011; written by
#: :mod:`ektp_core.store.counters`, read by the read models): enrolments per site and state, print jobs
#: per site, state and print day, blanks per site and state, the cards each printer made, and, per UTC
#: hour, recordings, cards printed and blanks used. ``state``, ``print_day`` and ``utc_hour`` hold ''
#: and -1 where a family does not count by them, so every key column is NOT NULL (a primary key).
counters = sa.Table(
    "counters",
    metadata,
    sa.Column("family", sa.String(16), primary_key=True),
    #: A site code, or a printer's name for the cards per printer.
    sa.Column("scope", sa.String(64), primary_key=True),
    sa.Column("state", sa.String(32), primary_key=True),
    sa.Column("print_day", sa.String(9), primary_key=True),
    #: Whole hours since 1970-01-01 00:00 UTC; -1 for counts not kept per hour.
    sa.Column("utc_hour", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("n", sa.Integer, nullable=False),
)
# The regency's view of a time window reads one family's hours across every site.
sa.Index("ix_counters_family_hour", counters.c.family, counters.c.utc_hour)
# The packets still waiting to be sent (the dashboard and `ektp sync status` count them on every
# request): a site's outbox keeps every packet it ever sent, so a plain count would scan all of them.
_WAITING = "sent_at IS NULL"
sa.Index(
    "ix_outbox_waiting",
    outbox.c.seq,
    sqlite_where=sa.text(_WAITING),
    postgresql_where=sa.text(_WAITING),
)

# -- papers for the resident (ektp_core.services.papers) -----------------------------------------------

#: Every paper issued to a resident (bukti perekaman, tanda terima, Suket): its number, counted per
#: site, kind and year, and the signed statement its QR code carries, kept so a reprint is the same paper.
papers = sa.Table(
    "papers",
    metadata,
    sa.Column("number", sa.String(64), primary_key=True),
    sa.Column("site_code", sa.String(32), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("year", sa.Integer, nullable=False),
    sa.Column("seq", sa.Integer, nullable=False),
    sa.Column("enrolment_id", sa.String(64), sa.ForeignKey("enrolments.id"), nullable=False, index=True),
    sa.Column("issued_at", TS, nullable=False),
    sa.Column("issued_by", sa.String(64), nullable=False),
    sa.Column("valid_until", sa.Date),
    sa.Column("statement", sa.Text, nullable=False),
    sa.UniqueConstraint("site_code", "kind", "year", "seq", name="uq_papers_site_kind_year_seq"),
)

#: At a node that checks papers: the regency's published signing keys, as the Dukcapil node exported
#: them (``ektp papers keys``), each document kept as imported; the newest one is in force.
paper_keys = sa.Table(
    "paper_keys",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("published_at", TS, nullable=False),
    sa.Column("signed_by", sa.String(64), nullable=False),
    sa.Column("document", sa.Text, nullable=False),
    sa.Column("imported_at", TS, nullable=False),
    sa.Column("imported_by", sa.String(64), nullable=False),
)
