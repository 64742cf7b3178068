"""The domain types: frozen attrs value classes, validated at construction.

A value that breaks a rule is refused with :class:`~ektp_core.errors.InvalidValue`, which names the
field and the value. Database rows never reach these constructors directly: the repository converts
them at its edge (``from_row`` / ``to_row``).
"""

from __future__ import annotations

import datetime as dt
import enum
import re
from typing import Any

import attrs

from ektp_core.domain import codes
from ektp_core.domain import nik as nik_rules
from ektp_core.errors import InvalidValue
from ektp_core.messages import Message

# --------------------------------------------------------------------------------------------------
# States (SIAK names for enrolments)
# --------------------------------------------------------------------------------------------------


class EnrolmentState(enum.StrEnum):
    """Where an enrolment (one recording of one resident) stands, by SIAK's status names."""

    BIO_CAPTURED = "BIO_CAPTURED"
    SENT_FOR_ENROLLMENT = "SENT_FOR_ENROLLMENT"
    RECEIVED_AT_CENTRAL = "RECEIVED_AT_CENTRAL"
    PRINT_READY_RECORD = "PRINT_READY_RECORD"
    DUPLICATE_RECORD = "DUPLICATE_RECORD"
    ADJUDICATE_RECORD = "ADJUDICATE_RECORD"
    ENROLL_FAILURE_AT_CENTRAL = "ENROLL_FAILURE_AT_CENTRAL"
    ENROLL_FAILURE_AT_REGIONAL = "ENROLL_FAILURE_AT_REGIONAL"
    SEARCH_FAILURE_AT_CENTRAL = "SEARCH_FAILURE_AT_CENTRAL"
    REQUEST_VALIDATION = "REQUEST_VALIDATION"
    SENT_FOR_CARD_PRINTING = "SENT_FOR_CARD_PRINTING"
    CARD_PRINTED = "CARD_PRINTED"
    CARD_SHIPPED = "CARD_SHIPPED"
    CARD_ISSUED = "CARD_ISSUED"
    #: Not a SIAK status: a supervisor cancelled (dibatalkan) a recording that was never sent or that
    #: the central system refused. Named like SIAK's own (``<what>_<how>``); it frees the NIK, and its
    #: biometrics are destroyed after the profile's retention period (docs/lifecycle.md).
    ENROLLMENT_CANCELLED = "ENROLLMENT_CANCELLED"


class PrintJobState(enum.StrEnum):
    """Where a print job stands. UNKNOWN is resolved only by a supervisor, never retried."""

    QUEUED = "QUEUED"
    RESERVED = "RESERVED"
    SENT = "SENT"
    PRINTED = "PRINTED"
    SPOILED = "SPOILED"
    UNKNOWN = "UNKNOWN"
    CANCELLED = "CANCELLED"


class BlankState(enum.StrEnum):
    """Where one blank card (blangko) stands in the ledger."""

    IN_STOCK = "IN_STOCK"
    RESERVED = "RESERVED"
    PRINTED = "PRINTED"
    SPOILED = "SPOILED"


class CardState(enum.StrEnum):
    """Where one printed card (by its blank's serial) stands in the card register.

    PRINTED -> (SHIPPED -> RECEIVED ->) ACTIVE once handed over; then REPLACED (its replacement was
    handed over), LOST (reported lost) or DESTROYED (spoiled, surrendered, missing in transit).
    """

    PRINTED = "PRINTED"
    SHIPPED = "SHIPPED"
    RECEIVED = "RECEIVED"
    ACTIVE = "ACTIVE"
    REPLACED = "REPLACED"
    LOST = "LOST"
    DESTROYED = "DESTROYED"


class ServiceType(enum.StrEnum):
    """Why a resident is recorded (jenis layanan): a first card, or a replacement of an earlier one."""

    #: A first card (a resident who turns 17 or marries).
    BARU = "baru"
    #: A replacement for a lost card: a police report of the loss is required.
    HILANG = "hilang"
    #: A replacement for a damaged card: the damaged card is surrendered.
    RUSAK = "rusak"
    #: A data change (marital status, occupation, religion, address): the old card is surrendered.
    PERUBAHAN = "perubahan"


class SiteKind(enum.StrEnum):
    """The kinds of office that run an ektp node."""

    DUKCAPIL = "dukcapil"
    KECAMATAN = "kecamatan"
    KELURAHAN = "kelurahan"
    MOBILE = "mobile"


class Role(enum.StrEnum):
    """What an account may do."""

    OPERATOR = "operator"
    SUPERVISOR = "supervisor"
    ADMIN = "admin"


class Modality(enum.StrEnum):
    """The kinds of biometric an enrolment carries."""

    FINGER = "finger"
    IRIS = "iris"
    FACE = "face"
    SIGNATURE = "signature"


#: Finger positions, ISO/IEC 19794-2 numbering order (right thumb first).
FINGER_POSITIONS = (
    "right_thumb",
    "right_index",
    "right_middle",
    "right_ring",
    "right_little",
    "left_thumb",
    "left_index",
    "left_middle",
    "left_ring",
    "left_little",
)
POSITIONS: dict[Modality, tuple[str, ...]] = {
    Modality.FINGER: FINGER_POSITIONS,
    Modality.IRIS: ("left", "right"),
    Modality.FACE: ("face",),
    Modality.SIGNATURE: ("signature",),
}

# --------------------------------------------------------------------------------------------------
# Validation helpers
# --------------------------------------------------------------------------------------------------


def _refuse(field: str, value: Any, reason: Message) -> InvalidValue:
    return InvalidValue(field, value, reason)


def _nonblank(max_len: int):  # type: ignore[no-untyped-def]
    def check(inst: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        if not isinstance(value, str) or not value.strip():
            raise _refuse(attribute.name, value, Message("invalid.empty"))
        if len(value) > max_len:
            raise _refuse(attribute.name, value, Message("invalid.too_long", max=max_len))

    return check


def _upper(value: Any) -> Any:
    return " ".join(value.upper().split()) if isinstance(value, str) else value


def _code_list(list_name: str):  # type: ignore[no-untyped-def]
    def convert(value: Any) -> Any:
        try:
            return codes.normalise(list_name, value)
        except (KeyError, ValueError, TypeError):
            return value  # the validator below refuses it with the field name

    return convert


def _in_code_list(list_name: str):  # type: ignore[no-untyped-def]
    def check(inst: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        if value not in codes.labels(list_name):
            raise _refuse(attribute.name, value, Message("invalid.not_in_list", list=list_name))

    return check


def _enum(enum_cls: type[enum.Enum], field: str, value: Any) -> Any:
    try:
        return enum_cls(value)
    except ValueError:
        raise _refuse(field, value, Message("invalid.one_of", values=[e.value for e in enum_cls])) from None


def _golongan_darah(value: Any) -> Any:
    return _code_list("golongan_darah")(value)


def _agama(value: Any) -> Any:
    return _code_list("agama")(value)


def _status_perkawinan(value: Any) -> Any:
    return _code_list("status_perkawinan")(value)


def _pekerjaan(value: Any) -> Any:
    return _code_list("pekerjaan")(value)


def _sex(value: Any) -> Any:
    upper = _upper(value)
    return {"LAKI-LAKI": "L", "PEREMPUAN": "P"}.get(upper, upper)


def _rt_rw(value: Any) -> str:
    return str(value).strip().zfill(3)


def _nik_digits(value: Any) -> str:
    digits = nik_rules.digits_of(value)
    return digits if digits is not None else str(value)


def _to_nik(value: Any) -> Nik:
    return value if isinstance(value, Nik) else Nik(value)


_DIGITS16 = re.compile(r"^\d{16}$")
_RT_RW = re.compile(r"^\d{1,3}$")

# --------------------------------------------------------------------------------------------------
# Value types
# --------------------------------------------------------------------------------------------------


@attrs.frozen
class Nik:
    """A valid NIK. Region codes missing from the current list are allowed (see :attr:`warnings`)."""

    value: str = attrs.field(converter=_nik_digits)

    @value.validator
    def _check(self, attribute: attrs.Attribute[str], value: str) -> None:
        report = nik_rules.parse(value)
        if not report.valid:
            raise _refuse(
                "nik",
                value,
                Message("invalid.nik", issues=[Message(f"nik.{e.code}", text=e.message) for e in report.errors]),
            )

    @property
    def report(self) -> nik_rules.NikReport:
        """The full parse (names, sex, birth date, warnings)."""
        return nik_rules.parse(self.value)

    @property
    def district_code(self) -> str:
        """``PP.KK.CC``: the district where the NIK was first issued."""
        v = self.value
        return f"{v[0:2]}.{v[2:4]}.{v[4:6]}"

    def __str__(self) -> str:
        return self.value


class Kewarganegaraan(enum.StrEnum):
    """Citizenship: WNI (citizen) or WNA (foreigner with an ITAP)."""

    WNI = "WNI"
    WNA = "WNA"


#: What the card prints as Berlaku Hingga for citizens.
SEUMUR_HIDUP = "SEUMUR HIDUP"


def _kewarganegaraan(value: Any) -> Kewarganegaraan:
    return _enum(Kewarganegaraan, "kewarganegaraan", value)  # type: ignore[no-any-return]


def _modality(value: Any) -> Modality:
    return _enum(Modality, "modality", value)  # type: ignore[no-any-return]


def _enrolment_state(value: Any) -> EnrolmentState:
    return _enum(EnrolmentState, "state", value)  # type: ignore[no-any-return]


def _print_job_state(value: Any) -> PrintJobState:
    return _enum(PrintJobState, "state", value)  # type: ignore[no-any-return]


def _blank_state(value: Any) -> BlankState:
    return _enum(BlankState, "state", value)  # type: ignore[no-any-return]


def _site_kind(value: Any) -> SiteKind:
    return _enum(SiteKind, "kind", value)  # type: ignore[no-any-return]


def _role(value: Any) -> Role:
    return _enum(Role, "role", value)  # type: ignore[no-any-return]


@attrs.frozen(kw_only=True)
class Biodata:
    """Every field printed on the front of the KTP-el, in card order, with SIAK's allowed values."""

    nik: Nik = attrs.field(converter=_to_nik)
    nama: str = attrs.field(converter=_upper, validator=_nonblank(120))
    tempat_lahir: str = attrs.field(converter=_upper, validator=_nonblank(60))
    tanggal_lahir: dt.date = attrs.field()
    #: ``L`` (LAKI-LAKI) or ``P`` (PEREMPUAN).
    jenis_kelamin: str = attrs.field(converter=_sex)
    golongan_darah: str = attrs.field(converter=_golongan_darah, validator=_in_code_list("golongan_darah"))
    alamat: str = attrs.field(converter=_upper, validator=_nonblank(200))
    rt: str = attrs.field(converter=_rt_rw)
    rw: str = attrs.field(converter=_rt_rw)
    kelurahan: str = attrs.field(converter=_upper, validator=_nonblank(80))
    kecamatan: str = attrs.field(converter=_upper, validator=_nonblank(80))
    kabupaten_kota: str = attrs.field(converter=_upper, validator=_nonblank(80))
    provinsi: str = attrs.field(converter=_upper, validator=_nonblank(80))
    agama: str = attrs.field(converter=_agama, validator=_in_code_list("agama"))
    status_perkawinan: str = attrs.field(converter=_status_perkawinan, validator=_in_code_list("status_perkawinan"))
    pekerjaan: str = attrs.field(converter=_pekerjaan, validator=_in_code_list("pekerjaan"))
    kewarganegaraan: Kewarganegaraan = attrs.field(default=Kewarganegaraan.WNI, converter=_kewarganegaraan)
    #: None for citizens (the card says SEUMUR HIDUP); the ITAP's end date for foreigners.
    berlaku_hingga: dt.date | None = attrs.field(default=None)
    #: The family card (Kartu Keluarga) number, 16 digits, when known.
    no_kk: str | None = attrs.field(default=None)

    @tanggal_lahir.validator
    def _check_birth(self, attribute: attrs.Attribute[dt.date], value: dt.date) -> None:
        if not isinstance(value, dt.date) or isinstance(value, dt.datetime):
            raise _refuse("tanggal_lahir", value, Message("invalid.not_a_date"))

    @jenis_kelamin.validator
    def _check_sex(self, attribute: attrs.Attribute[str], value: str) -> None:
        if value not in ("L", "P"):
            raise _refuse("jenis_kelamin", value, Message("invalid.sex"))

    @rt.validator
    def _check_rt(self, attribute: attrs.Attribute[str], value: str) -> None:
        if not _RT_RW.match(value) or value == "000":
            raise _refuse("rt", value, Message("invalid.rt_rw"))

    @rw.validator
    def _check_rw(self, attribute: attrs.Attribute[str], value: str) -> None:
        if not _RT_RW.match(value) or value == "000":
            raise _refuse("rw", value, Message("invalid.rt_rw"))

    @berlaku_hingga.validator
    def _check_validity(self, attribute: attrs.Attribute[dt.date | None], value: dt.date | None) -> None:
        if self.kewarganegaraan is Kewarganegaraan.WNI and value is not None:
            raise _refuse("berlaku_hingga", value, Message("invalid.for_life"))
        if self.kewarganegaraan is Kewarganegaraan.WNA and value is None:
            raise _refuse("berlaku_hingga", value, Message("invalid.itap_end"))

    @no_kk.validator
    def _check_kk(self, attribute: attrs.Attribute[str | None], value: str | None) -> None:
        if value is not None and not _DIGITS16.match(value):
            raise _refuse("no_kk", value, Message("invalid.no_kk"))

    @property
    def jenis_kelamin_label(self) -> str:
        """As printed: LAKI-LAKI or PEREMPUAN."""
        return "LAKI-LAKI" if self.jenis_kelamin == "L" else "PEREMPUAN"

    @property
    def berlaku_hingga_label(self) -> str:
        """As printed: SEUMUR HIDUP, or the end date as DD-MM-YYYY."""
        return SEUMUR_HIDUP if self.berlaku_hingga is None else f"{self.berlaku_hingga:%d-%m-%Y}"

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready values (dates as ISO strings)."""
        out: dict[str, Any] = {}
        for a in attrs.fields(Biodata):
            v = getattr(self, a.name)
            if isinstance(v, Nik):
                v = v.value
            elif isinstance(v, dt.date):
                v = v.isoformat()
            elif isinstance(v, enum.Enum):
                v = v.value
            out[a.name] = v
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Biodata:
        """The inverse of :meth:`to_dict`; unknown keys are refused by name."""
        known = {a.name for a in attrs.fields(Biodata)}
        unknown = set(data) - known
        if unknown:
            raise _refuse(sorted(unknown)[0], data[sorted(unknown)[0]], Message("invalid.unknown_field"))
        values = dict(data)
        for key in ("tanggal_lahir", "berlaku_hingga"):
            if isinstance(values.get(key), str):
                try:
                    values[key] = dt.date.fromisoformat(values[key])
                except ValueError:
                    raise _refuse(key, values[key], Message("invalid.iso_date")) from None
        try:
            return cls(**values)
        except TypeError as exc:
            raise _refuse(
                "biodata", sorted(known - set(values)), Message("invalid.missing_fields", detail=str(exc))
            ) from None


@attrs.frozen(kw_only=True)
class CaptureException:
    """A biometric that could not be taken (missing or damaged finger...), approved by a supervisor."""

    reason: str = attrs.field(validator=_nonblank(200))
    approved_by: str = attrs.field(validator=_nonblank(64))


@attrs.frozen(kw_only=True)
class Capture:
    """One biometric sample of one modality and position, or the approved exception in its place."""

    modality: Modality = attrs.field(converter=_modality)
    position: str = attrs.field()
    device: str = attrs.field(default="")
    #: Quality 0-100 (NFIQ2 or the device's own score); None for an exception.
    quality: int | None = attrs.field(default=None)
    #: Reference to the stored (encrypted) image; the core never holds raw biometrics in memory for long.
    blob_ref: str | None = None
    #: Reference to the stored (encrypted) minutiae template, for fingers.
    template_ref: str | None = None
    exception: CaptureException | None = None

    @position.validator
    def _check_position(self, attribute: attrs.Attribute[str], value: str) -> None:
        if value not in POSITIONS[self.modality]:
            raise _refuse(
                "position",
                value,
                Message("invalid.position", values=list(POSITIONS[self.modality]), modality=self.modality),
            )

    @device.validator
    def _check_device(self, attribute: attrs.Attribute[str], value: str) -> None:
        if not isinstance(value, str) or len(value) > 120:
            raise _refuse("device", value, Message("invalid.device"))

    @quality.validator
    def _check_quality(self, attribute: attrs.Attribute[int | None], value: int | None) -> None:
        if self.exception is None:
            if value is None or not 0 <= value <= 100:
                raise _refuse("quality", value, Message("invalid.quality"))
        elif value is not None or self.blob_ref is not None:
            raise _refuse("quality", value, Message("invalid.exception_score"))


#: Biodata fields a data change (perubahan) may name: every field but the NIK, which never changes.
CHANGEABLE_FIELDS = tuple(a.name for a in attrs.fields(Biodata) if a.name != "nik")


def _service_type(value: Any) -> ServiceType:
    return _enum(ServiceType, "service_type", value)  # type: ignore[no-any-return]


def _optional_text(max_len: int):  # type: ignore[no-untyped-def]
    present = _nonblank(max_len)

    def check(inst: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        if value is not None:
            present(inst, attribute, value)

    return check


def _names(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        raise _refuse("changed_fields", value, Message("invalid.not_changeable", values=list(CHANGEABLE_FIELDS)))
    return tuple(value)


@attrs.frozen(kw_only=True)
class ServiceRequest:
    """The service an enrolment is for (jenis layanan), with what its type requires.

    A replacement names the earlier enrolment it starts from (``replaces``). ``hilang`` needs the
    police report's number and date; ``rusak`` the surrendered card's blank serial; ``perubahan`` the
    changed fields and the document that proves them (e.g. the new Kartu Keluarga's number).
    """

    type: ServiceType = attrs.field(default=ServiceType.BARU, converter=_service_type)
    #: The earlier enrolment (with the resident's issued card) a replacement starts from.
    replaces: str | None = attrs.field(default=None, validator=_optional_text(64))
    police_report_number: str | None = attrs.field(default=None, validator=_optional_text(64))
    police_report_date: dt.date | None = None
    #: The blank serial of the card the resident surrendered (rusak, perubahan).
    surrendered_serial: str | None = None
    changed_fields: tuple[str, ...] = attrs.field(default=(), converter=_names)
    #: The document that proves a data change (for example "KK 1771050101900001").
    proof_document: str | None = attrs.field(default=None, validator=_optional_text(120))

    def __attrs_post_init__(self) -> None:
        t = self.type
        if t is ServiceType.BARU:
            if self.replaces or self.police_report_number or self.surrendered_serial or self.changed_fields:
                raise _refuse("service_type", t.value, Message("invalid.first_card_details"))
            return
        if not self.replaces:
            raise _refuse("replaces", None, Message("invalid.replacement_needs_record"))
        if t is ServiceType.HILANG:
            if not self.police_report_number:
                raise _refuse("police_report_number", None, Message("invalid.police_report_required"))
            if self.police_report_date is None:
                raise _refuse("police_report_date", None, Message("invalid.police_report_required"))
            if not isinstance(self.police_report_date, dt.date) or isinstance(self.police_report_date, dt.datetime):
                raise _refuse("police_report_date", self.police_report_date, Message("invalid.not_a_date"))
        if self.surrendered_serial is not None and (
            not isinstance(self.surrendered_serial, str) or not _SERIAL.match(self.surrendered_serial)
        ):
            raise _refuse("surrendered_serial", self.surrendered_serial, Message("invalid.serial"))
        if t is ServiceType.RUSAK and not self.surrendered_serial:
            raise _refuse("surrendered_serial", None, Message("invalid.surrendered_card_required"))
        if t is ServiceType.PERUBAHAN:
            if not self.changed_fields:
                raise _refuse("changed_fields", (), Message("invalid.changed_fields_required"))
            for name in self.changed_fields:
                if name not in CHANGEABLE_FIELDS:
                    raise _refuse(
                        "changed_fields", name, Message("invalid.not_changeable", values=list(CHANGEABLE_FIELDS))
                    )
            if not self.proof_document:
                raise _refuse("proof_document", None, Message("invalid.proof_document_required"))

    @property
    def is_replacement(self) -> bool:
        """True for hilang, rusak and perubahan."""
        return self.type is not ServiceType.BARU

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready values; empty ones left out."""
        out: dict[str, Any] = {"type": self.type.value}
        for name in ("replaces", "police_report_number", "surrendered_serial", "proof_document"):
            if getattr(self, name):
                out[name] = getattr(self, name)
        if self.police_report_date is not None:
            out["police_report_date"] = self.police_report_date.isoformat()
        if self.changed_fields:
            out["changed_fields"] = list(self.changed_fields)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> ServiceRequest:
        """The inverse of :meth:`to_dict`; ``None`` is a first card. Unknown keys are refused by name."""
        if not data:
            return cls()
        known = {a.name for a in attrs.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise _refuse(unknown[0], data[unknown[0]], Message("invalid.unknown_field"))
        values = dict(data)
        when = values.get("police_report_date")
        if isinstance(when, str):
            try:
                values["police_report_date"] = dt.date.fromisoformat(when)
            except ValueError:
                raise _refuse("police_report_date", when, Message("invalid.iso_date")) from None
        return cls(**values)


FIRST_CARD = ServiceRequest()


@attrs.frozen(kw_only=True)
class Enrolment:
    """One recording of one resident at one site, moving through SIAK's states."""

    id: str = attrs.field(validator=_nonblank(64))
    site_code: str = attrs.field(validator=_nonblank(32))
    operator: str = attrs.field(validator=_nonblank(64))
    biodata: Biodata
    state: EnrolmentState = attrs.field(default=EnrolmentState.BIO_CAPTURED, converter=_enrolment_state)
    created_at: dt.datetime = attrs.field(factory=lambda: dt.datetime.now(dt.UTC))
    updated_at: dt.datetime | None = None
    #: Why the central system gave the current verdict, when it said.
    reason: str | None = None
    #: The service this recording is for: a first card unless it replaces an earlier one.
    service: ServiceRequest = FIRST_CARD

    def with_state(self, state: EnrolmentState, *, at: dt.datetime, reason: str | None = None) -> Enrolment:
        """A copy in another state (the lifecycle service checks the move is legal)."""
        return attrs.evolve(self, state=state, updated_at=at, reason=reason)


@attrs.frozen(kw_only=True)
class PrintJob:
    """Printing one card for one print-ready enrolment at one site."""

    id: str = attrs.field(validator=_nonblank(64))
    enrolment_id: str = attrs.field(validator=_nonblank(64))
    site_code: str = attrs.field(validator=_nonblank(32))
    state: PrintJobState = attrs.field(default=PrintJobState.QUEUED, converter=_print_job_state)
    #: Why this site prints it (from the region rules).
    routing_reason: str = ""
    #: The weekday (``monday``..``sunday``) the site prints this card on, when the rules fix one.
    print_day: str | None = None
    blank_serial: str | None = None
    printer: str | None = None
    #: Why the job ended SPOILED, UNKNOWN or CANCELLED.
    reason: str | None = None
    created_at: dt.datetime = attrs.field(factory=lambda: dt.datetime.now(dt.UTC))
    updated_at: dt.datetime | None = None


#: Days a print day may name, Monday first (``datetime.date.weekday()`` order).
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def due_on(print_day: str | None, day: dt.date) -> bool:
    """True when a job with this print day may be printed on ``day`` (a job without one: any day)."""
    return print_day is None or WEEKDAYS[day.weekday()] == print_day


_SERIAL = re.compile(r"^[A-Za-z0-9-]{4,32}$")


@attrs.frozen(kw_only=True)
class Blank:
    """One blank card (blangko) in a site's ledger."""

    serial: str = attrs.field()
    site_code: str = attrs.field(validator=_nonblank(32))
    state: BlankState = attrs.field(default=BlankState.IN_STOCK, converter=_blank_state)
    job_id: str | None = None
    enrolment_id: str | None = None
    reason: str | None = None

    @serial.validator
    def _check_serial(self, attribute: attrs.Attribute[str], value: str) -> None:
        if not isinstance(value, str) or not _SERIAL.match(value):
            raise _refuse("serial", value, Message("invalid.serial"))


@attrs.frozen(kw_only=True)
class Site:
    """An office that runs an ektp node: the Dukcapil office, a kecamatan, a kelurahan or a mobile unit."""

    code: str = attrs.field(validator=_nonblank(32))
    name: str = attrs.field(validator=_nonblank(120))
    kind: SiteKind = attrs.field(converter=_site_kind)
    records: bool = True
    prints: bool = False
    #: Kemendagri code of the area the site serves (its own code for kecamatan/kelurahan sites).
    region_code: str | None = None


_USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{2,63}$")


@attrs.frozen(kw_only=True)
class Operator:
    """An account, created at the Dukcapil node and bound to one site."""

    username: str = attrs.field()
    full_name: str = attrs.field(validator=_nonblank(120))
    role: Role = attrs.field(converter=_role)
    site_code: str = attrs.field(validator=_nonblank(32))
    #: A password verifier (see :mod:`ektp_core.keys.crypto`), never the password.
    password_hash: str = attrs.field(repr=False, default="")
    active: bool = True

    @username.validator
    def _check_username(self, attribute: attrs.Attribute[str], value: str) -> None:
        if not isinstance(value, str) or not _USERNAME.match(value):
            raise _refuse("username", value, Message("invalid.username"))


def _card_state(value: Any) -> CardState:
    return _enum(CardState, "state", value)  # type: ignore[no-any-return]


@attrs.frozen(kw_only=True)
class Card:
    """One printed card in the card register: whose it is, where it was made and handed over, and its
    state. One resident holds at most one ACTIVE card (the register refuses a second)."""

    serial: str
    enrolment_id: str
    nik: str
    state: CardState = attrs.field(converter=_card_state)
    printed_site: str
    printed_at: dt.datetime
    #: Where the resident collects it (from the region rules; a supervisor may change it).
    collection_site: str | None = None
    handed_over_at: dt.datetime | None = None
    handed_over_site: str | None = None
    #: Why it left ACTIVE (or was destroyed): a stored message.
    reason: str | None = None
    updated_at: dt.datetime | None = None
