"""Replacement cards (cetak ulang / penggantian): a lost (``hilang``), damaged (``rusak``) or changed
(``perubahan``) card replaced from the resident's existing record.

At the desk, the applicant is identified first: a live finger is compared 1:1 with the earlier
enrolment's (the handover matcher and threshold), and the check is audited. Then a new enrolment is
recorded with the service request: the earlier biodata (with a data change's fields applied) and,
when the finger matched and the profile does not say otherwise
(``[lifecycle] replacement_records_biometrics``), the earlier biometrics re-encrypted for the new
enrolment. When the finger did not match, or the profile asks for it, the new enrolment starts
without biometrics: the desk records them again, and the central system's search decides. The rest is
the normal path: verification (a replacement is not a duplicate of the record it replaces), print,
handover; at handover the earlier card becomes REPLACED (a lost one was reported LOST when the
replacement was recorded).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

import attrs
import sqlalchemy as sa

from ektp_core.domain.model import Biodata, Enrolment, EnrolmentState, Modality, Role, ServiceRequest
from ektp_core.errors import EktpError
from ektp_core.lifecycle import audit
from ektp_core.lifecycle.actions import AuditAction
from ektp_core.messages import Message
from ektp_core.services.corrections import plain
from ektp_core.services.verification import VerificationService
from ektp_core.store import blobs as blob_store
from ektp_core.store import repository as repo
from ektp_core.store.tables import enrolments

E = EnrolmentState


@attrs.frozen
class Identity:
    """The outcome of the desk's 1:1 check of a replacement's applicant."""

    earlier: Enrolment
    position: str
    score: float
    threshold: float

    @property
    def matched(self) -> bool:
        """True when the live finger reached the handover threshold."""
        return self.score >= self.threshold


class ReplacementService:
    """Identifies a replacement's applicant and records the replacement enrolment at one node."""

    def __init__(self, verification: VerificationService) -> None:
        self.verification = verification
        self.lifecycle = verification.lifecycle

    def earlier_record(self, nik: str) -> Enrolment:
        """The resident's newest enrolment whose card was handed over: what a replacement starts from."""
        with self.lifecycle.store.read() as conn:
            row = conn.execute(
                sa.select(enrolments)
                .where(enrolments.c.nik == nik, enrolments.c.state == E.CARD_ISSUED.value)
                .order_by(enrolments.c.updated_at.desc(), enrolments.c.id.desc())
                .limit(1)
            ).first()
        if row is None:
            raise EktpError(Message("replace.no_issued_card", nik=nik))
        return repo.enrolment_from_row(row)

    def identify(self, nik: str, position: str, live_template: bytes, *, operator: str) -> Identity:
        """Compare the applicant's live finger 1:1 with the earlier record's; audited either way."""
        lc = self.lifecycle
        with lc.store.read() as conn:
            lc._require_role(conn, operator, (Role.OPERATOR, Role.SUPERVISOR, Role.ADMIN), "start a replacement")
        earlier = self.earlier_record(nik)
        try:
            reference = self.verification.capture.image(earlier.id, Modality.FINGER, position, template=True)
        except EktpError:
            raise EktpError(Message("handover.no_template", enrolment=earlier.id, position=position)) from None
        score = float(self.verification.matcher.verify(live_template, reference))
        identity = Identity(earlier, position, score, self.verification.settings.matcher.thresholds.handover)
        with lc.store.write() as conn:
            audit.append(
                conn,
                actor=operator,
                action=AuditAction.ENROLMENT_IDENTITY_CHECKED,
                subject_kind="enrolment",
                subject_id=earlier.id,
                detail={
                    "position": position,
                    "score": f"{score:g}",
                    "threshold": f"{identity.threshold:g}",
                    "matched": "yes" if identity.matched else "no",
                },
                at=lc.clock(),
            )
        return identity

    def start(
        self,
        identity: Identity,
        service: ServiceRequest,
        *,
        operator: str,
        site_code: str,
        changes: Mapping[str, Any] | None = None,
        enrolment_id: str | None = None,
    ) -> Enrolment:
        """Record the replacement enrolment (BIO_CAPTURED) from the identified earlier record.

        ``service`` gives the type and its papers (``replaces`` is filled in here); ``changes`` the new
        values of a data change's fields (exactly ``service.changed_fields``). Everything the record
        refuses (an open enrolment for the NIK, invalid values, a surrendered card that is not the
        resident's active one) leaves nothing stored.
        """
        earlier = identity.earlier
        changes = dict(changes or {})
        service = attrs.evolve(service, replaces=earlier.id)
        if not service.is_replacement:
            raise EktpError(Message("replace.not_a_replacement"))
        if set(changes) != set(service.changed_fields):
            raise EktpError(
                Message("replace.changes_mismatch", named=sorted(service.changed_fields), given=sorted(changes))
            )
        biodata = Biodata.from_dict({**earlier.biodata.to_dict(), **{k: plain(v) for k, v in changes.items()}})
        enrolment = Enrolment(
            id=enrolment_id or uuid.uuid4().hex,
            site_code=site_code,
            operator=operator,
            biodata=biodata,
            service=service,
        )
        profile = self.lifecycle.deployment.profile if self.lifecycle.deployment is not None else None
        rerecord = bool(profile and profile.lifecycle.replacement_records_biometrics)
        captures, images = ([], {}) if rerecord or not identity.matched else self._copy_biometrics(earlier.id)
        return self.lifecycle.record(enrolment, captures, images)

    def _copy_biometrics(self, earlier_id: str) -> tuple[list[Any], dict[str, bytes]]:
        """The earlier enrolment's captures with new blob references, and their decrypted bytes (the
        new enrolment encrypts them again, bound to its own id)."""
        lc = self.lifecycle
        captures, images = [], {}
        with lc.store.read() as conn:
            for capture in repo.list_captures(conn, earlier_id):
                refs: list[str | None] = []
                for ref in (capture.blob_ref, capture.template_ref):
                    new = None
                    if ref is not None:
                        new = blob_store.new_ref()
                        images[new] = blob_store.get(conn, lc.data_key, ref=ref, enrolment_id=earlier_id)
                    refs.append(new)
                captures.append(attrs.evolve(capture, blob_ref=refs[0], template_ref=refs[1]))
        return captures, images
