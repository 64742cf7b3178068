"""Recording biometrics onto an enrolment, one capture at a time.

Each capture is kept as soon as it is taken (its own transaction), so a closed browser or a crashed
office PC loses nothing already captured. A sample below the profile's quality threshold is refused
with the score and the threshold in the message; after the profile's number of retries the
operator is told to record an exception instead. A missing or damaged finger is an **exception**
with a reason and the approving supervisor, never a faked image. Images and templates are stored
encrypted (AES-GCM, the enrolment id bound in as associated data).
"""

from __future__ import annotations

from typing import Any

import attrs
import sqlalchemy as sa

from ektp_core.config.core_tables import CAPTURE
from ektp_core.devices.scanners import Sample
from ektp_core.domain.model import POSITIONS, Capture, CaptureException, EnrolmentState, Modality, Role
from ektp_core.errors import EktpError, IllegalTransition
from ektp_core.lifecycle import audit
from ektp_core.lifecycle.actions import AuditAction
from ektp_core.lifecycle.service import LifecycleService
from ektp_core.messages import Message
from ektp_core.store import blobs as blob_store
from ektp_core.store import repository as repo
from ektp_core.store.tables import blobs, captures


@attrs.frozen(kw_only=True)
class ModalityPolicy:
    """The quality rule of one modality."""

    min_quality: int
    retries: int


@attrs.frozen
class CapturePolicy:
    """Quality thresholds and retries per modality, from the profile's ``[capture.<modality>]`` tables."""

    rules: dict[Modality, ModalityPolicy]

    def __getitem__(self, modality: Modality) -> ModalityPolicy:
        return self.rules[modality]

    @classmethod
    def from_profile(cls, profile: Any) -> CapturePolicy:
        """Read ``[capture.finger]``, ``[capture.iris]``, ``[capture.face]``, ``[capture.signature]``
        (declared in :data:`ektp_core.config.core_tables.CAPTURE`)."""
        tables = CAPTURE.read(profile)
        return cls(
            {
                modality: ModalityPolicy(
                    min_quality=tables[modality.value]["min_quality"], retries=tables[modality.value]["retries"]
                )
                for modality in Modality
            }
        )


class QualityTooLow(EktpError):
    """A sample below the profile's threshold: nothing was stored."""

    message_code = "error.quality_too_low"

    def __init__(self, modality: Modality, position: str, score: int, threshold: int, attempts_left: int) -> None:
        self.score, self.threshold, self.attempts_left = score, threshold, attempts_left
        advice = (
            f"try again ({attempts_left} attempt(s) left)"
            if attempts_left > 0
            else "no attempts left: record an exception approved by a supervisor"
        )
        super().__init__(f"{modality} {position}: quality {score} is below the threshold {threshold}; {advice}")


class CaptureService:
    """Adds captures and exceptions to enrolments that are still being recorded (BIO_CAPTURED)."""

    def __init__(self, lifecycle: LifecycleService, policy: CapturePolicy | None = None) -> None:
        self.lifecycle = lifecycle
        deployment = lifecycle.deployment
        self.policy = policy or CapturePolicy.from_profile(deployment.profile if deployment is not None else None)

    def _slot_free(self, conn: Any, enrolment_id: str, modality: Modality, position: str) -> None:
        # A retry replaces the earlier capture of the same slot, image and template included.
        old = conn.execute(
            sa.select(captures.c.blob_ref, captures.c.template_ref).where(
                captures.c.enrolment_id == enrolment_id,
                captures.c.modality == modality.value,
                captures.c.position == position,
            )
        ).one_or_none()
        if old is None:
            return
        refs = [r for r in (old.blob_ref, old.template_ref) if r]
        conn.execute(
            captures.delete().where(
                captures.c.enrolment_id == enrolment_id,
                captures.c.modality == modality.value,
                captures.c.position == position,
            )
        )
        if refs:
            conn.execute(blobs.delete().where(blobs.c.ref.in_(refs)))

    def _recording(self, conn: Any, enrolment_id: str) -> None:
        enrolment = repo.get_enrolment(conn, enrolment_id, lock=True)
        if enrolment.state is not EnrolmentState.BIO_CAPTURED:
            raise IllegalTransition(
                "enrolment", enrolment_id, enrolment.state, "given new captures (only while BIO_CAPTURED)"
            )

    def add(self, enrolment_id: str, sample: Sample, *, actor: str, attempt: int = 1) -> Capture:
        """Keep one sample (replacing an earlier one of the same slot); refuse it below the threshold."""
        if sample.position not in POSITIONS[sample.modality]:
            raise EktpError(Message("capture.bad_position", modality=sample.modality, position=sample.position))
        rule = self.policy[sample.modality]
        if sample.quality < rule.min_quality:
            raise QualityTooLow(
                sample.modality, sample.position, sample.quality, rule.min_quality, max(0, rule.retries - attempt)
            )
        lc = self.lifecycle
        at = lc.clock()
        # Opaque references: the blob rows carry the enrolment, and the id is bound into the cipher.
        image_ref = blob_store.new_ref()
        template_ref = blob_store.new_ref() if sample.template is not None else None
        capture = Capture(
            modality=sample.modality,
            position=sample.position,
            device=sample.device,
            quality=sample.quality,
            blob_ref=image_ref,
            template_ref=template_ref,
        )
        with lc.store.write() as conn:
            self._recording(conn, enrolment_id)
            self._slot_free(conn, enrolment_id, sample.modality, sample.position)
            kind = f"{sample.modality}/{sample.position}"
            blob_store.put(
                conn, lc.data_key, enrolment_id=enrolment_id, ref=image_ref, kind=kind, data=sample.image, at=at
            )
            if sample.template is not None and template_ref is not None:
                blob_store.put(
                    conn,
                    lc.data_key,
                    enrolment_id=enrolment_id,
                    ref=template_ref,
                    kind=f"{kind}/template",
                    data=sample.template,
                    at=at,
                )
            conn.execute(captures.insert().values(**repo.capture_to_row(enrolment_id, capture)))
            audit.append(
                conn,
                actor=actor,
                action=AuditAction.CAPTURE_SAVED,
                subject_kind="enrolment",
                subject_id=enrolment_id,
                detail={
                    "modality": sample.modality.value,
                    "position": sample.position,
                    "quality": sample.quality,
                    "device": sample.device,
                    "attempt": attempt,
                },
                at=at,
            )
        return capture

    def add_exception(
        self, enrolment_id: str, modality: Modality | str, position: str, *, reason: str, supervisor: str, actor: str
    ) -> Capture:
        """Record a missing or damaged finger (or eye) with the approving supervisor."""
        modality = Modality(modality)
        capture = Capture(
            modality=modality, position=position, exception=CaptureException(reason=reason, approved_by=supervisor)
        )
        lc = self.lifecycle
        at = lc.clock()
        with lc.store.write() as conn:
            lc._require_role(conn, supervisor, (Role.SUPERVISOR, Role.ADMIN), "approve a biometric exception")
            self._recording(conn, enrolment_id)
            self._slot_free(conn, enrolment_id, modality, position)
            conn.execute(captures.insert().values(**repo.capture_to_row(enrolment_id, capture)))
            audit.append(
                conn,
                actor=actor,
                action=AuditAction.CAPTURE_EXCEPTION,
                subject_kind="enrolment",
                subject_id=enrolment_id,
                detail={"modality": modality.value, "position": position, "reason": reason, "approved_by": supervisor},
                at=at,
            )
        return capture

    def captures(self, enrolment_id: str) -> list[Capture]:
        """The enrolment's captures and exceptions."""
        with self.lifecycle.store.read() as conn:
            return repo.list_captures(conn, enrolment_id)

    def missing(self, enrolment_id: str) -> list[tuple[Modality, str]]:
        """Slots with neither a capture nor an exception: ten fingers, two irises, the face, the signature."""
        have = {(c.modality, c.position) for c in self.captures(enrolment_id)}
        return [(m, p) for m, positions in POSITIONS.items() for p in positions if (m, p) not in have]

    def image(self, enrolment_id: str, modality: Modality | str, position: str, *, template: bool = False) -> bytes:
        """The decrypted image (or template) of one capture."""
        modality = Modality(modality)
        with self.lifecycle.store.read() as conn:
            for c in repo.list_captures(conn, enrolment_id):
                if c.modality is modality and c.position == position:
                    ref = c.template_ref if template else c.blob_ref
                    if ref is None:
                        break
                    return blob_store.get(conn, self.lifecycle.data_key, ref=ref, enrolment_id=enrolment_id)
        raise EktpError(
            Message(
                "capture.missing_template" if template else "capture.missing_image",
                enrolment=enrolment_id,
                modality=modality,
                position=position,
            )
        )
