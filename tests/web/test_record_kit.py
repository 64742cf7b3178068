"""Helpers for the recording pages' tests: a resident's biodata form, images, a recording in progress."""
from __future__ import annotations

import io
import re
from typing import Any

from PIL import Image, ImageDraw

from ektp_core.testing.images import sample_photo

#: A woman born 1 January 1990 whose NIK was issued in Kampung Melayu (17.71.05).
NIK = "1771054101900001"


def biodata_form(**changes: Any) -> dict[str, str]:
    """A complete, valid biodata form; ``changes`` replace fields."""
    form = {"nik": NIK, "no_kk": "", "nama": "Siti Aminah", "tempat_lahir": "Bengkulu",
            "tanggal_lahir": "1990-01-01", "jenis_kelamin": "P", "golongan_darah": "O",
            "agama": "ISLAM", "status_perkawinan": "KAWIN", "pekerjaan": "WIRASWASTA",
            "alamat": "Jl. Pantai Indah No. 7", "rt": "3", "rw": "1", "kelurahan": "KANDANG",
            "kecamatan": "KAMPUNG MELAYU", "kabupaten_kota": "KOTA BENGKULU", "provinsi": "BENGKULU"}
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
    from ektp_plugins.scanners.synthetic import iris

    return png(iris(7, side))


def signature_png(*, blank: bool = False) -> bytes:
    """What the signature pad sends: strokes on a transparent 600 x 200 canvas."""
    image = Image.new("RGBA", (600, 200), (0, 0, 0, 0))
    if not blank:
        draw = ImageDraw.Draw(image)
        draw.line([(40, 150), (120, 40), (200, 160), (300, 60), (420, 140), (540, 80)], fill=(0, 0, 0, 255), width=4)
    return png(image)
