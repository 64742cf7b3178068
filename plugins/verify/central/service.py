"""The central system's behaviour behind the HTTP API: idempotent submission, the verdict worker,
long-polling, adjudication and printed cards.

One lock serialises every change (and every use of the matcher, which need not be thread-safe); one
worker thread decides received enrolments in the order they arrived, so each verdict sees every
earlier accepted enrolment in the gallery. Requests that wait for a verdict sleep on a condition the
worker signals after each commit.
"""

from __future__ import annotations

import collections
import datetime as dt
import logging
import sys
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from ektp_plugins.verify.central.settings import CentralSettings, read_register
from ektp_plugins.verify.central.snapshot import Coverage, GallerySnapshots, supports_snapshots
from ektp_plugins.verify.central.store import CentralStore, EnrolmentRecord, utc_text
from ektp_plugins.verify.central.submission import (
    Malformed,
    canonical_hash,
    enrolment_id_of,
    image_mimetype,
    parse_submission,
)
from ektp_plugins.verify.central.verdicts import judge

from ektp_core.devices.matchers import Matcher
from ektp_core.domain.model import Biodata, EnrolmentState

log = logging.getLogger("ektp.central")

#: The longest a poll may wait (seconds), as the API document says.
MAX_WAIT = 30.0
#: Decisions a supervisor may give on an ADJUDICATE_RECORD enrolment.
DECISIONS = (EnrolmentState.PRINT_READY_RECORD, EnrolmentState.DUPLICATE_RECORD)
#: Gallery enrolments loaded at once on start (small enough for steady progress lines).
GALLERY_BATCH = 500


class ApiError(Exception):
    """An error the API answers with: HTTP status, stable code, message for people."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _stderr_progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


class CentralService:
    """The emulated central system over one data folder.

    ``matcher`` is the deployment's matcher (see :func:`.settings.resolve_matcher`); its gallery is
    loaded here from the snapshot of the last clean stop when that holds exactly the database's gallery,
    else rebuilt from the stored templates (:mod:`.snapshot`). Call :meth:`start` to run the verdict
    worker and :meth:`stop` to end it (which saves the snapshot).
    """

    def __init__(
        self,
        data_dir: Path,
        *,
        matcher: Matcher,
        settings: CentralSettings,
        register_file: Path | None = None,
        clock: Callable[[], dt.datetime] = _now,
        progress: Callable[[str], None] = _stderr_progress,
    ) -> None:
        self.settings = settings
        self.rules = settings.rules
        self.matcher = matcher
        self.store = CentralStore(data_dir)
        self.snapshots = GallerySnapshots(data_dir)
        self._clock = clock
        self._progress = progress
        self._closed = False
        # True while the matcher's gallery is the one the snapshot on disk holds (nothing to save on stop).
        self._snapshot_current = False
        self._lock = threading.RLock()
        self._work = threading.Condition()
        self._verdicts = threading.Condition()
        self._queue: collections.deque[str] = collections.deque()
        self._stopping = False
        self._worker: threading.Thread | None = None
        try:
            if register_file is not None:
                people, cards = self.store.seed(read_register(register_file), utc_text(self._clock()))
                progress(
                    f"register: {people} people and {cards} printed cards added from {register_file} "
                    f"({self.store.count_register()} NIKs in the register)"
                )
            self.gallery_size = self._load_gallery(progress)
        except BaseException:
            self.store.close()
            raise
        self._queue.extend(self.store.pending_ids())
        if self._queue:
            progress(f"{len(self._queue)} enrolments wait for a verdict")

    # -- lifecycle ---------------------------------------------------------------------------------------

    def _load_gallery(self, progress: Callable[[str], None]) -> int:
        """Fill the matcher's gallery: from the snapshot when it fits the database, else rebuilt."""
        matcher = self.matcher
        if not supports_snapshots(matcher) or len(matcher):
            # Without save/load there is no snapshot; a matcher handed over holding subjects is added to.
            return self._rebuild_gallery(progress)
        gallery = self.store.gallery_ids()
        if not gallery:
            return self._rebuild_gallery(progress)
        started = time.monotonic()
        why = self.snapshots.load(matcher, Coverage.of(matcher, gallery), [i for _, i, _ in gallery])
        if not why:
            self._snapshot_current = True
            progress(
                f"gallery loaded from the snapshot: {len(matcher)} enrolments in {time.monotonic() - started:.1f} s"
            )
            return len(matcher)
        progress(f"gallery snapshot not used ({why}): rebuilding the gallery from the database")
        return self._rebuild_gallery(progress)

    def _save_snapshot(self) -> None:
        """Keep the gallery for the next start (called on a clean stop, the worker ended)."""
        matcher = self.matcher
        if not supports_snapshots(matcher):
            return
        gallery = self.store.gallery_ids()
        if not gallery:
            self.snapshots.discard()
            return
        contains = getattr(matcher, "__contains__", None)
        if len(matcher) != len(gallery) or (callable(contains) and not all(contains(i) for _, i, _ in gallery)):
            # A gallery out of step with the database (an add that failed after its commit) must not
            # be kept under a marker saying otherwise; the next start rebuilds.
            self.snapshots.discard()
            self._progress(
                f"gallery snapshot not saved: the matcher holds {len(matcher)} enrolments, the "
                f"database {len(gallery)}; the next start rebuilds the gallery"
            )
            return
        if self._snapshot_current and self.snapshots.marker.exists():
            return  # loaded from the snapshot and unchanged since
        started = time.monotonic()
        self.snapshots.save(matcher, Coverage.of(matcher, gallery))
        self._snapshot_current = True
        self._progress(f"gallery snapshot saved: {len(gallery)} enrolments in {time.monotonic() - started:.1f} s")

    def _rebuild_gallery(self, progress: Callable[[str], None]) -> int:
        total = self.store.count_gallery()
        if total:
            progress(f"loading the gallery: {total} enrolments")
        started = last = time.monotonic()
        loaded = 0
        # A matcher with a bulk loader (NbisMatcher.add_many) builds its index far faster in batches.
        add_many = getattr(self.matcher, "add_many", None)
        batch: list[tuple[str, dict[str, bytes]]] = []

        def flush() -> None:
            nonlocal batch, loaded, last
            if callable(add_many):
                add_many(batch)
            else:
                for enrolment_id, fingers in batch:
                    self.matcher.add(enrolment_id, fingers)
            loaded += len(batch)
            batch = []
            if time.monotonic() - last >= 2.0:  # a line every two seconds, not one per batch
                last = time.monotonic()
                rate = loaded / max(last - started, 1e-6)
                progress(f"  {loaded}/{total} loaded ({rate:.0f}/s, about {(total - loaded) / rate:.0f} s left)")

        for entry in self.store.gallery():
            batch.append(entry)
            if len(batch) >= GALLERY_BATCH:
                flush()
        if batch:
            flush()
        if total:
            progress(f"gallery loaded: {loaded} enrolments in {time.monotonic() - started:.1f} s")
        return len(self.matcher)

    def start(self) -> None:
        """Start the verdict worker."""
        if self._worker is None:
            self._worker = threading.Thread(target=self._run, name="central-verdicts", daemon=True)
            self._worker.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the worker (after the verdict it is working on), wake every waiting poll, save the gallery
        snapshot (:mod:`.snapshot`) and close the database. Calling it again does nothing more."""
        with self._work:
            self._stopping = True
            self._work.notify_all()
        with self._verdicts:
            self._verdicts.notify_all()
        if self._worker is not None:
            self._worker.join(timeout)
            self._worker = None
        if self._closed:
            return
        self._closed = True
        try:
            with self._lock:  # a verdict still running past the timeout finishes before the gallery is saved
                self._save_snapshot()
        except Exception:  # a snapshot is an optimisation: without one the next start rebuilds
            log.exception("could not save the gallery snapshot; the next start rebuilds the gallery")
            self.snapshots.discard()
        finally:
            self.store.close()

    @property
    def stopping(self) -> bool:
        """True once :meth:`stop` was called."""
        return self._stopping

    # -- the worker --------------------------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            with self._work:
                while not self._queue and not self._stopping:
                    self._work.wait()
                if self._stopping:
                    return
                enrolment_id = self._queue.popleft()
            try:
                self.decide(enrolment_id)
            except Exception:  # one enrolment that cannot be decided must not stop the others
                log.exception("could not decide enrolment %s; it stays pending until the next start", enrolment_id)

    def _enqueue(self, enrolment_id: str) -> None:
        with self._work:
            self._queue.append(enrolment_id)
            self._work.notify()

    def decide(self, enrolment_id: str) -> EnrolmentRecord | None:
        """Give a pending enrolment its verdict (the worker calls this; tests may call it directly)."""
        with self._lock:
            record = self.store.find(enrolment_id)
            if record is None or not record.pending:
                return record
            biodata = Biodata.from_dict(dict(record.biodata))
            probe = self.store.probe(enrolment_id)
            judgement = judge(
                biodata,
                probe,
                fingers_sent=record.fingers_sent,
                register=self.store,
                matcher=self.matcher,
                rules=self.rules,
                on=dt.date.fromisoformat(record.received_at[:10]),
                replaces=self.store.replaces(enrolment_id),
            )
            record = self.store.save_verdict(enrolment_id, judgement, utc_text(self._clock()))
            if judgement.joins_gallery and probe:
                self._add_to_gallery(enrolment_id, probe)
        log.info(
            "verdict for %s: %s (%s)",
            enrolment_id,
            record.status.value,
            ", ".join(str(r["code"]) for r in record.reasons) or "no reasons",
        )
        with self._verdicts:
            self._verdicts.notify_all()
        return record

    def _add_to_gallery(self, enrolment_id: str, probe: Mapping[str, bytes]) -> None:
        # Stored first, added second: if the process dies in between, the next start loads it anyway.
        self._snapshot_current = False
        self.matcher.add(enrolment_id, probe)
        self.gallery_size = len(self.matcher)

    # -- the API's operations ------------------------------------------------------------------------------

    def submit(self, body: Any) -> tuple[int, dict[str, Any]]:
        """``POST /enrolments``: (HTTP status, answer). Raises :class:`ApiError`."""
        try:
            enrolment_id = enrolment_id_of(body)
        except Malformed as exc:
            raise ApiError(400, "malformed", str(exc)) from None
        digest = canonical_hash(body)
        answer = self._resend(enrolment_id, digest)
        if answer is not None:
            return 200, answer
        try:
            parsed = parse_submission(body)
        except Malformed as exc:
            raise ApiError(400, "malformed", str(exc)) from None
        with self._lock:
            # Checked again under the lock: two copies of one new submission may arrive at once.
            answer = self._resend(enrolment_id, digest)
            if answer is not None:
                return 200, answer
            record = self.store.insert(parsed, digest, utc_text(self._clock()))
        log.info(
            "received %s from site %r (%d fingers, %d exceptions)",
            enrolment_id,
            parsed.site,
            len(parsed.fingers),
            len(parsed.exceptions),
        )
        self._enqueue(enrolment_id)
        return 202, record.receipt(first=True)

    def _resend(self, enrolment_id: str, digest: str) -> dict[str, Any] | None:
        with self._lock:
            record = self.store.find(enrolment_id)
            if record is None:
                return None
            if record.body_hash != digest and digest not in self.store.accepted_hashes(enrolment_id):
                raise ApiError(
                    409,
                    "conflict",
                    f"enrolment {enrolment_id} was already submitted with different "
                    "content; the central system never overwrites an enrolment",
                )
            if record.status is EnrolmentState.SEARCH_FAILURE_AT_CENTRAL:
                # The lifecycle sends such an enrolment again: the resend asks for a new search.
                self.store.requeue(enrolment_id)
                self._enqueue(enrolment_id)
                log.info("search requested again for %s", enrolment_id)
            return record.receipt(first=False)

    def correct(self, enrolment_id: str, body: Any) -> EnrolmentRecord:
        """``POST /enrolments/{id}/correction``: a supervisor's correction of the biodata of an enrolment
        the centre holds, as the whole corrected submission. Refused: a malformed body, another id or
        NIK, an unknown enrolment, one whose card was already printed (a data change is a replacement)."""
        if not isinstance(body, dict) or not isinstance(body.get("submission"), dict):
            raise ApiError(400, "malformed", "expected {submission, reason, supervisor}")
        reason, supervisor = body.get("reason"), body.get("supervisor")
        if not isinstance(reason, str) or not reason.strip() or len(reason) > 500:
            raise ApiError(400, "malformed", "reason: expected a non-empty string of at most 500 characters")
        if not isinstance(supervisor, str) or not supervisor.strip() or len(supervisor) > 64:
            raise ApiError(400, "malformed", "supervisor: expected the supervisor's username")
        try:
            parsed = parse_submission(body["submission"])
        except Malformed as exc:
            raise ApiError(400, "malformed", f"submission: {exc}") from None
        if parsed.enrolment_id != enrolment_id:
            raise ApiError(400, "malformed", f"the submission is {parsed.enrolment_id}, not {enrolment_id}")
        with self._lock:
            record = self.find(enrolment_id)
            if record.nik != parsed.biodata.nik.value:
                raise ApiError(409, "conflict", f"a correction never changes the NIK of {enrolment_id}")
            if self.store.card(enrolment_id) is not None:
                raise ApiError(
                    409, "conflict", f"the card of {enrolment_id} was printed: a data change is a replacement card"
                )
            record = self.store.correct(
                parsed,
                canonical_hash(body["submission"]),
                reason=reason.strip(),
                supervisor=supervisor.strip(),
                corrected_at=utc_text(self._clock()),
            )
        log.info("corrected %s by %s", enrolment_id, supervisor)
        return record

    def poll(self, enrolment_id: str, wait: float = 0.0) -> EnrolmentRecord:
        """``GET /enrolments/{id}``: the record, once it has a verdict or ``wait`` seconds passed."""
        deadline = time.monotonic() + max(0.0, min(MAX_WAIT, wait))
        with self._verdicts:
            while True:
                record = self.store.find(enrolment_id)
                if record is None:
                    raise ApiError(404, "not_found", f"no enrolment {enrolment_id}")
                remaining = deadline - time.monotonic()
                if not record.pending or remaining <= 0 or self._stopping:
                    return record
                self._verdicts.wait(remaining)

    def find(self, enrolment_id: str) -> EnrolmentRecord:
        """The record; raises the API's 404."""
        record = self.store.find(enrolment_id)
        if record is None:
            raise ApiError(404, "not_found", f"no enrolment {enrolment_id}")
        return record

    def finger_image(self, enrolment_id: str, position: str) -> bytes:
        """A submitted finger image; raises the API's 404."""
        self.find(enrolment_id)
        image = self.store.image(enrolment_id, position) if position != "face" else None
        if image is None:
            raise ApiError(404, "not_found", f"enrolment {enrolment_id} has no image of finger {position}")
        return image

    def face_image(self, enrolment_id: str) -> tuple[bytes, str]:
        """The submitted face image and its media type; raises the API's 404."""
        self.find(enrolment_id)
        image = self.store.image(enrolment_id, "face")
        if image is None:
            raise ApiError(404, "not_found", f"enrolment {enrolment_id} has no face image")
        return image, image_mimetype(image)

    def adjudicate(self, enrolment_id: str, body: Any) -> EnrolmentRecord:
        """``POST /enrolments/{id}/adjudication``: a supervisor's decision. Raises :class:`ApiError`."""
        decision, supervisor, note = _adjudication(body)
        with self._lock:
            record = self.find(enrolment_id)
            if record.adjudication is not None and (
                record.adjudication.get("decision"),
                record.adjudication.get("supervisor"),
                record.adjudication.get("note"),
            ) == (decision.value, supervisor, note):
                return record  # the same decision sent again
            if record.status is not EnrolmentState.ADJUDICATE_RECORD:
                raise ApiError(
                    409,
                    "conflict",
                    f"enrolment {enrolment_id} is {record.status.value}; only an "
                    "ADJUDICATE_RECORD enrolment can be adjudicated",
                )
            decided_at = utc_text(self._clock())
            reasons = [dict(r) for r in record.reasons]
            reasons.append(
                {
                    "code": "adjudicated",
                    "message": f"supervisor {supervisor} decided {decision.value}" + (f": {note}" if note else ""),
                }
            )
            if decision is EnrolmentState.PRINT_READY_RECORD and self.store.has_card(record.nik):
                reasons.append(
                    {"code": "reprint", "message": f"NIK {record.nik} already holds a printed card: this is a reprint"}
                )
            record = self.store.adjudicate(
                enrolment_id,
                decision,
                reasons,
                {"decision": decision.value, "supervisor": supervisor, "note": note, "decided_at": decided_at},
            )
            if decision is EnrolmentState.PRINT_READY_RECORD:
                probe = self.store.probe(enrolment_id)
                if probe:
                    self._add_to_gallery(enrolment_id, probe)
        log.info("adjudication of %s: %s by %s", enrolment_id, decision.value, supervisor)
        with self._verdicts:
            self._verdicts.notify_all()
        return record

    def card_printed(self, body: Any) -> tuple[int, dict[str, Any]]:
        """``POST /cards``: (HTTP status, answer). Raises :class:`ApiError`."""
        if not isinstance(body, dict):
            raise ApiError(400, "malformed", "the body must be a JSON object")
        unknown = sorted(set(body) - {"enrolment_id", "printed_at"})
        if unknown:
            raise ApiError(400, "malformed", f"unknown keys {unknown} (a card has enrolment_id and printed_at)")
        enrolment_id = body.get("enrolment_id")
        if not isinstance(enrolment_id, str) or not enrolment_id:
            raise ApiError(400, "malformed", "enrolment_id: expected the enrolment id")
        printed_at = _utc_timestamp(body.get("printed_at"))
        with self._lock:
            record = self.find(enrolment_id)
            existing = self.store.card(enrolment_id)
            if existing is not None:
                return 200, {**existing, "first": False}
            if record.status is not EnrolmentState.PRINT_READY_RECORD:
                raise ApiError(
                    409,
                    "conflict",
                    f"enrolment {enrolment_id} is {record.status.value}; only a "
                    "PRINT_READY_RECORD enrolment gets a card",
                )
            self.store.record_card(enrolment_id, record.nik, printed_at, utc_text(self._clock()))
            card = self.store.card(enrolment_id)
        assert card is not None
        log.info("card printed for %s", enrolment_id)
        return 201, {**card, "first": True}

    def health(self) -> dict[str, Any]:
        """``GET /health``."""
        return {
            "status": "stopping" if self._stopping else "ok",
            "service": "ektp central emulator",
            "gallery": self.gallery_size,
            "pending": self.store.count_pending(),
        }


def _adjudication(body: Any) -> tuple[EnrolmentState, str, str]:
    if not isinstance(body, dict):
        raise ApiError(400, "malformed", "the body must be a JSON object")
    unknown = sorted(set(body) - {"decision", "supervisor", "note"})
    if unknown:
        raise ApiError(400, "malformed", f"unknown keys {unknown} (a decision has decision, supervisor and note)")
    allowed = [d.value for d in DECISIONS]
    if body.get("decision") not in allowed:
        raise ApiError(400, "malformed", f"decision: expected one of {allowed}, got {body.get('decision')!r}")
    supervisor = body.get("supervisor")
    if not isinstance(supervisor, str) or not supervisor.strip() or len(supervisor) > 64:
        raise ApiError(400, "malformed", "supervisor: expected the supervisor's account name (at most 64 characters)")
    note = body.get("note", "")
    if note is None:
        note = ""
    if not isinstance(note, str) or len(note) > 500:
        raise ApiError(400, "malformed", "note: expected a text of at most 500 characters")
    return EnrolmentState(body["decision"]), supervisor.strip(), note.strip()


def _utc_timestamp(value: Any) -> str:
    """An ISO 8601 timestamp as the API writes it (a time without zone is taken as UTC)."""
    if not isinstance(value, str):
        raise ApiError(400, "malformed", f"printed_at: expected an ISO 8601 timestamp, got {value!r}")
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        raise ApiError(400, "malformed", f"printed_at: {value!r} is not an ISO 8601 timestamp") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return utc_text(moment)


__all__ = ["DECISIONS", "MAX_WAIT", "ApiError", "CentralService"]
