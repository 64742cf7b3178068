"""Helpers for the recording pages' tests (no tests here): a resident's biodata form, images, a recording."""

from __future__ import annotations

import io
import re
from typing import Any

from ektp_plugins.simulators.images import sample_photo
from PIL import Image, ImageDraw

from ektp_core.lifecycle import audit

#: A woman born 1 January 1990 whose NIK was issued in Kampung Melayu (17.71.05).
NIK = "1771054101900001"


def biodata_form(**changes: Any) -> dict[str, str]:
    """A complete, valid biodata form; ``changes`` replace fields."""
    form = {
        "nik": NIK,
        "no_kk": "",
        "nama": "Siti Aminah",
        "tempat_lahir": "Bengkulu",
        "tanggal_lahir": "1990-01-01",
        "jenis_kelamin": "P",
        "golongan_darah": "O",
        "agama": "ISLAM",
        "status_perkawinan": "KAWIN",
        "pekerjaan": "WIRASWASTA",
        "alamat": "Jl. Pantai Indah No. 7",
        "rt": "3",
        "rw": "1",
        "kelurahan": "KANDANG",
        "kecamatan": "KAMPUNG MELAYU",
        "kabupaten_kota": "KOTA BENGKULU",
        "provinsi": "BENGKULU",
    }
    form.update({k: str(v) for k, v in changes.items()})
    return form


def start_recording(browser: Any, **changes: Any) -> str:
    """Fill the biodata form and send it; returns the new enrolment's id."""
    page = browser.get("/record/new")
    draft = re.search(r'name="draft" value="([0-9a-f]{32})"', page.get_data(as_text=True)).group(1)
    response = browser.post("/record/new", {**biodata_form(**changes), "draft": draft})
    assert response.status_code == 302, response.get_data(as_text=True)
    assert response.headers["Location"].endswith(f"/record/{draft}")
    return draft


def png(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def photo() -> bytes:
    """A 360 x 480 synthetic portrait (PNG)."""
    return sample_photo(7, birth_year=1990)


def iris_png(side: str) -> bytes:
    from ektp_plugins.simulators.synthetic import iris

    return png(iris(7, side))


def signature_png(*, blank: bool = False) -> bytes:
    """What the signature pad sends: strokes on a transparent 600 x 200 canvas."""
    image = Image.new("RGBA", (600, 200), (0, 0, 0, 0))
    if not blank:
        draw = ImageDraw.Draw(image)
        draw.line([(40, 150), (120, 40), (200, 160), (300, 60), (420, 140), (540, 80)], fill=(0, 0, 0, 255), width=4)
    return png(image)


def fill_captures(lc: Any, enrolment_id: str, *, skip: tuple[tuple[str, str], ...] = ()) -> None:
    """Store every slot directly (synthetic fingers with their templates, a photo, irises, a signature),
    leaving out ``skip`` ((modality, position) pairs): the confirm tests need complete enrolments fast."""
    from ektp_plugins.simulators.synthetic import finger_minutiae

    from ektp_core.devices.scanners import Sample
    from ektp_core.domain.model import FINGER_POSITIONS, Modality
    from ektp_core.services.capture import CaptureService

    service = CaptureService(lc)
    small = png(Image.new("L", (300, 300), 200))
    samples = [
        Sample(
            modality=Modality.FINGER,
            position=p,
            image=small,
            quality=80,
            device="synthetic",
            template=finger_minutiae(11, p, 0).iso_bytes(),
        )
        for p in FINGER_POSITIONS
    ]
    samples += [
        Sample(modality=Modality.FACE, position="face", image=photo(), quality=80, device="synthetic"),
        Sample(modality=Modality.IRIS, position="left", image=small, quality=80, device="synthetic"),
        Sample(modality=Modality.IRIS, position="right", image=small, quality=80, device="synthetic"),
        Sample(
            modality=Modality.SIGNATURE, position="signature", image=signature_png(), quality=80, device="synthetic"
        ),
    ]
    for sample in samples:
        if (sample.modality.value, sample.position) not in skip:
            service.add(enrolment_id, sample, actor="op1")


def devices_of(app: Any) -> Any:
    """The app's scanners as the recording pages use them (built when a capture page was first shown)."""
    return app.extensions["ektp_node"].tasks["record.devices"]


#: A synthetic resident whose fingers on the emulated U.are.U come out above the quality threshold
#: (40): the right thumb and right index at once, all ten within three impressions. The emulated
#: reader otherwise shows the resident of the enrolment id, a random one, and for about one resident
#: in seven the first impression of a finger is too faint, as at a real desk; tests that expect a
#: capture to be stored pin this resident.
CLEAR_FINGERS = 5


def pin_resident(web_app: Any, monkeypatch: Any, seed: int = CLEAR_FINGERS) -> tuple[Any, Any]:
    """The emulated reader shows synthetic resident ``seed``, whatever the enrolment; returns the emulator
    and its real ``place_finger``. Call it once the recording pages have opened the site's devices."""
    emulator = devices_of(web_app).get("fingerprint-1").driver.emulator
    real = emulator.place_finger

    def pinned(*args: Any, **kwargs: Any) -> Any:
        if "seed" in kwargs:
            kwargs["seed"] = seed
        return real(*args, **kwargs)

    monkeypatch.setattr(emulator, "place_finger", pinned)
    return emulator, real


def transitions(lc: Any, enrolment_id: str) -> list[str]:
    """The states an enrolment went through, in order, from its audit entries."""
    with lc.store.read() as conn:
        return [e.detail["to"] for e in audit.entries(conn, subject_id=enrolment_id) if "to" in e.detail]
