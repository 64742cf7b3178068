"""Reading a ``POST /api/v1/enrolments`` body: every check that makes it ``400 malformed``, and its
canonical hash (the idempotency key's content fingerprint).

Nothing here touches storage: a body either becomes a :class:`ParsedSubmission` or raises
:class:`Malformed` with a message that names the offending field.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from collections.abc import Mapping
from typing import Any

import attrs

from ektp_core.domain.model import FINGER_POSITIONS, FIRST_CARD, Biodata, ServiceRequest
from ektp_core.errors import InvalidValue

#: The top-level keys a submission may carry (anything else is refused, so a typo is not silently ignored).
KEYS = frozenset({"enrolment_id", "site", "biodata", "fingers", "finger_images", "face", "exceptions", "service"})
#: Enrolment ids appear in URL paths, so they are limited to URL-safe characters.
ENROLMENT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")
_PNG = b"\x89PNG\r\n\x1a\n"
_JPEG = b"\xff\xd8\xff"


class Malformed(ValueError):
    """The body is not a valid submission; the message names the field (``400 malformed``)."""


@attrs.frozen
class ParsedSubmission:
    """A submission that passed every check: decoded binaries and the parsed biodata."""

    enrolment_id: str
    site: str
    biodata: Biodata
    #: Finger position -> ISO/IEC 19794-2 record, as sent.
    fingers: Mapping[str, bytes] = attrs.field(repr=False)
    #: Finger position -> how many minutiae the record holds (0: the finger is unusable for search).
    minutiae: Mapping[str, int] = attrs.field(factory=dict)
    #: Finger position -> encoded (PNG) image, kept for adjudication.
    finger_images: Mapping[str, bytes] = attrs.field(factory=dict, repr=False)
    face: bytes | None = attrs.field(default=None, repr=False)
    exceptions: Mapping[str, str] = attrs.field(factory=dict)
    #: The service: a replacement names the earlier enrolment it ``replaces`` (not a duplicate of it).
    service: ServiceRequest = FIRST_CARD

    @property
    def fingers_sent(self) -> int:
        """Fingers captured (with a template or only an image), usable or not."""
        return len(set(self.fingers) | set(self.finger_images))


def canonical_hash(body: Mapping[str, Any]) -> str:
    """SHA-256 of the body's canonical JSON (keys sorted, no whitespace): two bodies with the same
    content hash alike however their keys were ordered or spaced."""
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def image_mimetype(data: bytes) -> str:
    """The media type of an image the API accepted: ``image/png`` or ``image/jpeg``."""
    return "image/png" if data.startswith(_PNG) else "image/jpeg"


def enrolment_id_of(body: Any) -> str:
    """The body's enrolment id, checked (needed before anything else: it is the idempotency key)."""
    if not isinstance(body, dict):
        raise Malformed("the body must be a JSON object")
    value = body.get("enrolment_id")
    if not isinstance(value, str) or not ENROLMENT_ID.match(value):
        raise Malformed(
            f"enrolment_id: {value!r} is not an enrolment id "
            "(1-128 characters: letters, digits and . _ : -, starting with a letter or digit)"
        )
    return value


def _b64(field: str, value: Any) -> bytes:
    if not isinstance(value, str) or not value:
        raise Malformed(f"{field}: expected a base64 string")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise Malformed(f"{field}: not valid base64") from None


def _positions(field: str, value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise Malformed(f"{field}: expected an object keyed by finger position")
    unknown = sorted(set(value) - set(FINGER_POSITIONS))
    if unknown:
        raise Malformed(f"{field}: unknown finger positions {unknown} (expected some of {list(FINGER_POSITIONS)})")
    return value


def _template(field: str, data: bytes, position: str) -> int:
    """Check an ISO/IEC 19794-2 record and return its minutiae count."""
    # NBIS's reader is imported here so that the emulator's other modules import without the extra.
    from ektp_plugins.scanners.nbis import Template, TemplateError

    try:
        template = Template.from_iso(data)
    except TemplateError as exc:
        raise Malformed(f"{field}: not an ISO/IEC 19794-2:2005 record ({exc})") from None
    # 0 is "unknown position"; any other code must be the finger it is filed under.
    expected = FINGER_POSITIONS.index(position) + 1
    if template.position not in (0, expected):
        raise Malformed(
            f"{field}: the record says finger position {template.position}, but {position} is position {expected}"
        )
    return len(template.minutiae)


def parse_submission(body: Any) -> ParsedSubmission:
    """Check a decoded JSON body and return the submission; raises :class:`Malformed`."""
    enrolment_id = enrolment_id_of(body)
    unknown = sorted(set(body) - KEYS)
    if unknown:
        raise Malformed(f"unknown keys {unknown} (a submission has {sorted(KEYS)})")
    site = body.get("site")
    if not isinstance(site, str) or not site.strip() or len(site) > 64:
        raise Malformed(f"site: {site!r} is not a site code (a non-empty string of at most 64 characters)")

    raw_biodata = body.get("biodata")
    if not isinstance(raw_biodata, dict):
        raise Malformed("biodata: expected an object with every field of Biodata.to_dict()")
    try:
        biodata = Biodata.from_dict(raw_biodata)
    except InvalidValue as exc:
        raise Malformed(f"biodata.{exc.field}: {exc.reason} (got {exc.value!r})") from None
    except (TypeError, ValueError, KeyError) as exc:  # a value of a type the converters do not expect
        raise Malformed(f"biodata: {exc}") from None

    raw_exceptions = _positions("exceptions", body.get("exceptions"))
    exceptions: dict[str, str] = {}
    for position, reason in raw_exceptions.items():
        if not isinstance(reason, str) or not reason.strip() or len(reason) > 200:
            raise Malformed(f"exceptions.{position}: expected the reason as a non-empty string")
        exceptions[position] = reason.strip()

    raw_fingers = _positions("fingers", body.get("fingers"))
    fingers: dict[str, bytes] = {}
    minutiae: dict[str, int] = {}
    for position, value in raw_fingers.items():
        field = f"fingers.{position}"
        if position in exceptions:
            raise Malformed(f"{field}: the finger is both sent and listed as an exception")
        fingers[position] = _b64(field, value)
        minutiae[position] = _template(field, fingers[position], position)

    images: dict[str, bytes] = {}
    for position, value in _positions("finger_images", body.get("finger_images")).items():
        if position in exceptions:
            raise Malformed(f"finger_images.{position}: the finger has an image and is listed as an exception")
        data = _b64(f"finger_images.{position}", value)
        if not data.startswith(_PNG):
            raise Malformed(f"finger_images.{position}: not a PNG image")
        images[position] = data
    # A finger captured without a template (the node's extractor found no minutiae) counts as sent
    # but unusable: the verdict says no_usable_fingers rather than refusing the body.
    if not fingers and not images and len(exceptions) < len(FINGER_POSITIONS):
        raise Malformed("fingers: at least one finger template is required unless all ten are exceptions")

    face: bytes | None = None
    if body.get("face") is not None:
        face = _b64("face", body["face"])
        if not face.startswith((_PNG, _JPEG)):
            raise Malformed("face: not a JPEG or PNG image")

    service = FIRST_CARD
    if body.get("service") is not None:
        if not isinstance(body["service"], dict):
            raise Malformed('service: expected an object such as {"type": "hilang", "replaces": ...}')
        try:
            service = ServiceRequest.from_dict(body["service"])
        except InvalidValue as exc:
            raise Malformed(f"service.{exc.field}: {exc.reason} (got {exc.value!r})") from None
        except (TypeError, ValueError) as exc:
            raise Malformed(f"service: {exc}") from None

    return ParsedSubmission(
        enrolment_id=enrolment_id,
        site=site.strip(),
        biodata=biodata,
        fingers=fingers,
        minutiae=minutiae,
        finger_images=images,
        face=face,
        exceptions=exceptions,
        service=service,
    )
