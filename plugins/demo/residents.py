"""Synthetic residents of a regency, for ``ektp walk --site`` and ``ektp seed``: plausible biodata of
the region's real kecamatan and kelurahan (the Kemendagri list), a NIK that agrees with the district,
the birth date and the sex, and synthetic biometrics drawn from the resident's identity seed.

Nothing here is a real person: the names are drawn from common Indonesian given names and family
names, the addresses from a short list of street words, the identity seed picks the synthetic
fingers, irises, face and signature of :mod:`ektp_plugins.simulators`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import random
from collections.abc import Callable, Iterator
from typing import Any

import attrs
from ektp_plugins.simulators.images import sample_photo, sample_signature

from ektp_core.devices.scanners import Sample
from ektp_core.domain import codes, regions
from ektp_core.domain.model import FINGER_POSITIONS, Biodata, Modality, Site
from ektp_core.errors import EktpError

_WOMEN = (
    "SITI", "NUR", "DEWI", "RINA", "AYU", "FITRI", "INDAH", "LESTARI", "PUTRI", "WULAN", "YULIA", "RATNA",
    "SRI", "ANI", "EKA", "MEGA", "NOVITA", "DIAN", "RAHMA", "KARTIKA", "MARIA", "NI KADEK", "LINDA", "MAYA",
)  # fmt: skip
_MEN = (
    "BUDI", "AGUS", "ANDI", "RUDI", "HENDRA", "JOKO", "DEDI", "IWAN", "ARIF", "FAJAR", "RIZKI", "YUSUF",
    "BAMBANG", "EKO", "DIMAS", "IRFAN", "ADI", "HADI", "TAUFIK", "WAHYU", "YOHANES", "I MADE", "SLAMET", "RAHMAT",
)  # fmt: skip
_FAMILY = (
    "SANTOSO", "PRATAMA", "SAPUTRA", "WIJAYA", "HIDAYAT", "KURNIAWAN", "SETIAWAN", "LUBIS", "NASUTION", "SIREGAR",
    "SIMANJUNTAK", "HARAHAP", "RAHMAN", "SUSANTO", "GUNAWAN", "HALIM", "PURNOMO", "ANGGRAINI", "AMINAH",
    "WATI", "SARI", "LESTARI", "YULIANTI", "RAHAYU", "UTAMI", "HASIBUAN", "TAMBUNAN", "MANURUNG", "SUGIHARTO",
)  # fmt: skip
_STREETS = (
    "JL. MERDEKA", "JL. SUDIRMAN", "JL. AHMAD YANI", "JL. DIPONEGORO", "JL. KARTINI", "JL. PAHLAWAN",
    "JL. MELATI", "JL. MAWAR", "JL. KENANGA", "JL. CEMPAKA", "GG. MANGGA", "GG. RAMBUTAN", "JL. SUPRAPTO",
    "JL. SISINGAMANGARAJA", "JL. HASANUDDIN", "JL. GAJAH MADA", "KOMPLEK PERUMNAS BLOK C", "JL. ANGGREK",
)  # fmt: skip
#: Religions weighted roughly as the census has them (the weights only make the mix look familiar).
_AGAMA = (("ISLAM", 87), ("KRISTEN", 7), ("KATOLIK", 3), ("HINDU", 2), ("BUDDHA", 1), ("KONGHUCU", 1))
_PEKERJAAN = (
    "WIRASWASTA", "KARYAWAN SWASTA", "MENGURUS RUMAH TANGGA", "PELAJAR/MAHASISWA", "PEDAGANG", "PETANI/PEKEBUN",
    "BURUH HARIAN LEPAS", "APARATUR SIPIL NEGARA (ASN)", "GURU", "NELAYAN/PERIKANAN", "SOPIR", "PERAWAT",
    "BELUM/TIDAK BEKERJA", "PENSIUNAN", "TUKANG BATU", "KARYAWAN HONORER",
)  # fmt: skip
_GOLONGAN_DARAH = ("A", "B", "AB", "O", "TIDAK TAHU")

#: Identity seeds of the synthetic biometrics a seeded resident gets start here, above the walk's
#: (1, 2, ...), the demo's (101...) and the web UI's (below 1,000,000), so none shares fingers with them.
SEED_IDENTITY_BASE = 2_000_000


@attrs.frozen
class Area:
    """Where a resident lives: a kelurahan/desa and its kecamatan, regency and province (official names)."""

    kelurahan: regions.Region
    kecamatan: regions.Region
    regency: regions.Region
    province: regions.Region


def areas_of(code: str) -> list[Area]:
    """Every kelurahan/desa in or at ``code`` (a regency, a kecamatan or a kelurahan), with its parents."""
    dotted = regions.normalise_code(code)
    parts = dotted.split(".")
    if len(parts) < 2:
        raise EktpError(f"{dotted} is a province: residents are drawn from a regency or a smaller area")
    regency = regions.lookup(".".join(parts[:2]))
    province = regions.lookup(parts[0])
    if regency is None or province is None:
        raise EktpError(f"{dotted} is not in the Kemendagri region list")
    districts = [regions.lookup(".".join(parts[:3]))] if len(parts) >= 3 else regions.children(regency.code)
    found: list[Area] = []
    for district in districts:
        if district is None:
            raise EktpError(f"{dotted} is not in the Kemendagri region list")
        villages = [regions.lookup(dotted)] if len(parts) == 4 else regions.children(district.code)
        for village in villages:
            if village is None:
                raise EktpError(f"{dotted} is not in the Kemendagri region list")
            found.append(Area(village, district, regency, province))
    if not found:
        raise EktpError(f"the Kemendagri region list has no kelurahan or desa in {dotted}")
    return found


def area_code_of(site: Site, region_code: str) -> str:
    """The area a site's residents come from: its own kecamatan or kelurahan when it is one, else the
    regency (the Dukcapil office, a mobile unit, a site with a code of its own)."""
    for candidate in (site.region_code, site.code.split("-")[0]):
        if not candidate:
            continue
        try:
            dotted = regions.normalise_code(candidate)
        except ValueError:
            continue
        if dotted.startswith(region_code + ".") and regions.lookup(dotted) is not None:
            return dotted
    return region_code


@attrs.frozen
class Resident:
    """A synthetic resident: the biodata and the identity seed of their synthetic biometrics."""

    biodata: Biodata
    identity: int


class ResidentMaker:
    """Draws residents of an area from one seeded random stream: the same ``seed`` and area give the same
    residents in the same order; a NIK for which ``taken`` answers True is skipped (drawn again), so a
    second run with the same seed adds new residents instead of repeating the first ones."""

    def __init__(self, area_code: str, *, seed: int, today: dt.date | None = None) -> None:
        self.areas = areas_of(area_code)
        self.seed = seed
        self.today = today or dt.date.today()
        self.rng = random.Random(f"ektp-seed:{area_code}:{seed}")

    def draw(self) -> Resident:
        """One resident (the NIK may be taken: see :meth:`residents`)."""
        rng = self.rng
        area = rng.choice(self.areas)
        sex = rng.choice("LP")
        age_days = rng.randint(17 * 366, 80 * 365)
        born = self.today - dt.timedelta(days=age_days)
        given = rng.choice(_WOMEN if sex == "P" else _MEN)
        # A Balinese birth-order name ("I MADE") is never a name alone.
        nama = f"{given} {rng.choice(_FAMILY)}" if " " in given or rng.random() < 0.85 else given
        age = (self.today - born).days // 365
        status = (
            "BELUM KAWIN"
            if age < 22 and rng.random() < 0.9
            else rng.choices(("BELUM KAWIN", "KAWIN", "CERAI HIDUP", "CERAI MATI"), (12, 72, 6, 4 + age // 8))[0]
        )
        pekerjaan = "PELAJAR/MAHASISWA" if age < 22 and rng.random() < 0.6 else rng.choice(_PEKERJAAN)
        if pekerjaan == "PENSIUNAN" and age < 50:
            pekerjaan = "WIRASWASTA"
        serial = rng.randint(1, 9999)
        day = born.day + (40 if sex == "P" else 0)
        nik = f"{area.kecamatan.code.replace('.', '')}{day:02d}{born:%m%y}{serial:04d}"
        biodata = Biodata(
            nik=nik,
            nama=nama,
            tempat_lahir=_place_name(area.regency.name),
            tanggal_lahir=born,
            jenis_kelamin=sex,
            golongan_darah=rng.choice(_GOLONGAN_DARAH),
            alamat=f"{rng.choice(_STREETS)} NO. {rng.randint(1, 150)}",
            rt=f"{rng.randint(1, 15):03d}",
            rw=f"{rng.randint(1, 8):03d}",
            kelurahan=area.kelurahan.name,
            kecamatan=area.kecamatan.name,
            kabupaten_kota=area.regency.name,
            provinsi=area.province.name,
            agama=rng.choices([a for a, _w in _AGAMA], [w for _a, w in _AGAMA])[0],
            status_perkawinan=status,
            pekerjaan=codes.normalise("pekerjaan", pekerjaan),
        )
        return Resident(biodata, identity_of(nik))

    def residents(self, taken: Callable[[str], bool]) -> Iterator[Resident]:
        """Residents whose NIK is not ``taken`` (nor drawn earlier in this stream); endless."""
        seen: set[str] = set()
        misses = 0
        while True:
            resident = self.draw()
            nik = str(resident.biodata.nik)
            if nik in seen or taken(nik):
                misses += 1
                if misses > 100_000:  # pragma: no cover - an area whose every NIK is used
                    raise EktpError("no free NIK left to draw in this area")
                continue
            misses = 0
            seen.add(nik)
            yield resident


def identity_of(nik: str) -> int:
    """The identity seed of a NIK's synthetic biometrics: fixed for the NIK, distinct for distinct NIKs
    in practice (a 40-bit hash), and above every seed the walk, the demo and the web UI use."""
    return SEED_IDENTITY_BASE + int.from_bytes(hashlib.sha256(nik.encode()).digest()[:5], "big")


def _place_name(regency_name: str) -> str:
    # "Kota Bengkulu" -> BENGKULU, "Kabupaten Rejang Lebong" -> REJANG LEBONG: a birthplace as people write it.
    for prefix in ("Kota Administrasi ", "Kabupaten Administrasi ", "Kabupaten ", "Kota "):
        if regency_name.startswith(prefix):
            return regency_name[len(prefix) :]
    return regency_name


# ---------------------------------------------------------------------------------------------------
# Synthetic biometrics
# ---------------------------------------------------------------------------------------------------

#: ``drawn``: each finger and iris drawn by the simulators (a second or two each); ``quick``: the finger's
#: minutiae and a plain eye drawn as small pictures (milliseconds), for load where pictures do not matter.
PICTURES = ("drawn", "quick")


def _png(image: Any) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def finger_template(identity: int, position: str, impression: int = 0) -> bytes:
    """The ISO/IEC 19794-2 template of a synthetic finger (the simulators' minutiae-level finger)."""
    from ektp_plugins.simulators.synthetic import finger_minutiae

    return bytes(finger_minutiae(identity, position, impression).iso_bytes())


def biometrics(
    identity: int, *, birth_year: int | None = None, pictures: str = "drawn", device: str = "ektp-seed-synthetic"
) -> list[Sample]:
    """Ten fingers, two irises and the face of a synthetic identity, as samples for the capture service.

    The finger templates are the simulators' synthetic minutiae of the identity (what the central
    system's search and the 1:1 handover check compare); the pictures are drawn from the same identity
    (``drawn``) or are a drawing of those minutiae and a plain eye (``quick``).
    """
    if pictures not in PICTURES:
        raise EktpError(f"pictures must be one of {PICTURES}, not {pictures!r}")
    try:
        from ektp_plugins.simulators import synthetic
    except ImportError as exc:  # NumPy and SciPy come with the `simulated` extra
        raise EktpError(f"synthetic biometrics need the simulated extra: {exc}") from None
    samples = []
    for n, position in enumerate(FINGER_POSITIONS):
        template = synthetic.finger_minutiae(identity, position, 0)
        image = _png(synthetic.finger(identity, position)) if pictures == "drawn" else _minutiae_png(template)
        samples.append(
            Sample(
                modality=Modality.FINGER,
                position=position,
                image=image,
                quality=70 + (identity + n) % 25,
                device=device,
                template=bytes(template.iso_bytes()),
            )
        )
    for eye in ("left", "right"):
        image = _png(synthetic.iris(identity, eye)) if pictures == "drawn" else _plain_eye(identity, eye)
        samples.append(Sample(modality=Modality.IRIS, position=eye, image=image, quality=80, device=device))
    samples.append(
        Sample(
            modality=Modality.FACE,
            position="face",
            image=sample_photo(identity % 1_000_000_007, birth_year=birth_year),
            quality=90,
            device=device,
        )
    )
    samples.append(
        Sample(
            modality=Modality.SIGNATURE,
            position="signature",
            image=sample_signature(identity % 1_000_000_007),
            quality=90,
            device=device,
        )
    )
    return samples


def _minutiae_png(template: Any) -> bytes:
    from PIL import Image, ImageDraw

    image = Image.new("L", (template.width, template.height), 235)
    draw = ImageDraw.Draw(image)
    for m in template.minutiae:
        draw.ellipse((m.x - 3, m.y - 3, m.x + 3, m.y + 3), outline=20)
    return _png(image)


def _plain_eye(identity: int, eye: str) -> bytes:
    from PIL import Image, ImageDraw

    rng = random.Random(f"{identity}:{eye}")
    image = Image.new("L", (320, 240), 200)
    draw = ImageDraw.Draw(image)
    r = rng.randint(52, 62)
    draw.ellipse((160 - r, 120 - r, 160 + r, 120 + r), fill=rng.randint(90, 120))
    p = int(r * rng.uniform(0.3, 0.45))
    draw.ellipse((160 - p, 120 - p, 160 + p, 120 + p), fill=18)
    return _png(image)
