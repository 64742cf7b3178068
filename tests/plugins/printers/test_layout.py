"""The KTP-el layout: every field present, in card order, and no text outside its box; the panels."""

from __future__ import annotations

import datetime as dt
import io
import time
from typing import Any

import pytest
from ektp_plugins.printers import layout
from ektp_plugins.printers.layout.renderer import (
    BODY_MIN,
    FRONT_FIELDS,
    Box,
    CardLayout,
    CardLayoutError,
    layout_card,
    plane_image,
    preview_image,
    render_card,
    render_card_with_layout,
)
from ektp_plugins.simulators.images import BLUE_BACKGROUND, RED_BACKGROUND, sample_photo, sample_signature
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image, ImageDraw

from ektp_core import hookimpl
from ektp_core.devices.printers import CR80_300DPI, EVOLIS_CANVAS, CardData, RenderedCard
from ektp_core.domain.model import PrintJob
from ektp_core.plugins import PluginHost
from ektp_core.testing.samples import make_biodata

CANVASES = [pytest.param(EVOLIS_CANVAS, id="evolis"), pytest.param(CR80_300DPI, id="cr80")]
LONG_NAME = "MUHAMMAD ABDURRAHMAN WAHYUDI SETIAWAN PUTRA KUSUMANEGARA ALFARIZI"  # 64 characters
LONG_ADDRESS = (
    "JL. PANTAI INDAH GANG MAWAR MERAH NO. 7 BLOK C KOMPLEKS PERUMAHAN GRIYA PESONA HARAPAN BARU "
    "DEKAT MASJID AGUNG AT-TAQWA SEBELAH KANTOR POS PEMBANTU KANDANG LAMA"
)  # 162 characters

VARIANTS = {
    "plain": {},
    "long-name": {"nama": LONG_NAME},
    "long-address": {"alamat": LONG_ADDRESS},
    "long-everything": {
        "nama": LONG_NAME,
        "alamat": LONG_ADDRESS,
        "agama": "KEPERCAYAAN TERHADAP TUHAN YME",
        "golongan_darah": "TIDAK TAHU",
        "tempat_lahir": "KABUPATEN KEPULAUAN SIAU TAGULANDANG BIARO",
        "pekerjaan": "ANGGOTA DPRD KABUPATEN/KOTA",
        "status_perkawinan": "CERAI HIDUP",
    },
    "wna": {
        "kewarganegaraan": "WNA",
        "berlaku_hingga": dt.date(2030, 6, 30),
        "nama": "JOHN MICHAEL O'CONNOR",
        "jenis_kelamin": "L",
    },
}


def make_card(
    *,
    canvas: tuple[int, int] = EVOLIS_CANVAS,
    back: bool = False,
    birth_year: int = 1990,
    issue_place: str = "KOTA BENGKULU",
    photo: bytes | None = None,
    **biodata: Any,
) -> CardData:
    bio = make_biodata(tanggal_lahir=dt.date(birth_year, 1, 1), **biodata)
    return CardData(
        biodata=bio,
        photo=photo if photo is not None else sample_photo(7, birth_year=birth_year),
        signature=sample_signature(7),
        issue_place=issue_place,
        issue_date=dt.date(2024, 5, 2),
        canvas=canvas,
        back=back,
    )


def expected_values(card: CardData) -> dict[str, str]:
    """What the card must print, worked out here independently of the renderer."""
    b = card.biodata
    return {
        "nik": b.nik.value,
        "nama": b.nama,
        "tempat_tgl_lahir": f"{b.tempat_lahir}, {b.tanggal_lahir.day:02d}-{b.tanggal_lahir.month:02d}-"
        f"{b.tanggal_lahir.year}",
        "jenis_kelamin": {"L": "LAKI-LAKI", "P": "PEREMPUAN"}[b.jenis_kelamin],
        "golongan_darah": b.golongan_darah,
        "alamat": b.alamat,
        "rt_rw": f"{b.rt}/{b.rw}",
        "kel_desa": b.kelurahan,
        "kecamatan": b.kecamatan,
        "agama": b.agama,
        "status_perkawinan": b.status_perkawinan,
        "pekerjaan": b.pekerjaan,
        "kewarganegaraan": b.kewarganegaraan.value,
        "berlaku_hingga": "SEUMUR HIDUP" if b.berlaku_hingga is None else b.berlaku_hingga.strftime("%d-%m-%Y"),
    }


def pixels(image: Image.Image) -> list[Any]:
    """Pixel values (``Image.getdata`` is deprecated in recent Pillow): ints for L, tuples for RGB."""
    data = image.tobytes()
    if image.mode == "L":
        return list(data)
    assert image.mode == "RGB"
    return list(zip(data[0::3], data[1::3], data[2::3], strict=True))


def overlaps(a: Box, b: Box) -> bool:
    return a.x0 < b.x1 and b.x0 < a.x1 and a.y0 < b.y1 and b.y0 < a.y1


def assert_sound(lay: CardLayout, card: CardData) -> None:
    """Every field with its label and value, in card order; every ink inside its box inside the canvas."""
    canvas = lay.canvas_box
    values = expected_values(card)
    for name, label in FRONT_FIELDS:
        assert lay.get(name, "label").text == label
        assert lay.get(name, "colon").text == ":"
        value = lay.get(name, "value")
        assert value.text == values[name], name
        # Wrapping only breaks lines, it never drops or changes a character.
        assert "".join(line.text for line in value.lines).replace(" ", "") == values[name].replace(" ", "")
        label_box = lay.get(name, "label").box
        assert label_box.x1 <= lay.get(name, "colon").box.x0 <= lay.get(name, "colon").box.x1 <= value.box.x0
        # Label and value share the first baseline, as on the card.
        assert lay.get(name, "label").lines[0].y == value.lines[0].y
    order = sorted(FRONT_FIELDS, key=lambda f: (lay.get(f[0]).box.y0, lay.get(f[0]).box.x0))
    assert [name for name, _ in order] == [name for name, _ in FRONT_FIELDS]
    assert lay.get("golongan_darah").box.y0 == lay.get("jenis_kelamin").box.y0  # same row, to the right
    assert lay.get("golongan_darah").box.x0 > lay.get("jenis_kelamin").box.x1
    b = card.biodata
    assert lay.get("provinsi", "header").text == f"PROVINSI {b.provinsi}"
    assert lay.get("kabupaten_kota", "header").text.startswith(("KOTA ", "KABUPATEN "))
    assert lay.get("issue_place", "issue").text == card.issue_place
    assert lay.get("issue_date", "issue").text == card.issue_date.strftime("%d-%m-%Y")

    minimum = round(BODY_MIN * min(lay.width / EVOLIS_CANVAS[0], lay.height / EVOLIS_CANVAS[1]))
    for t in lay.texts:
        assert canvas.contains(t.box), (t.field, t.role, t.box)
        assert t.box.contains(t.ink), (t.field, t.role, t.box, t.ink)
        if t.role in ("label", "value"):
            assert t.font_size >= minimum, (t.field, t.font_size)
    for box in (lay.photo_box, lay.signature_box):
        assert canvas.contains(box)
    # Nothing is drawn over anything else: no two inks meet, and no text runs into the photo or signature.
    front = lay.front()
    for i, a in enumerate(front):
        for other in front[i + 1 :]:
            assert not overlaps(a.ink, other.ink), (a.field, a.role, other.field, other.role)
        assert not overlaps(a.ink, lay.photo_box), a.field
        assert not overlaps(a.ink, lay.signature_box), a.field


@pytest.mark.parametrize("canvas", CANVASES)
@pytest.mark.parametrize("variant", list(VARIANTS))
def test_every_field_is_laid_out_in_order_and_inside_its_box(canvas: tuple[int, int], variant: str) -> None:
    card = make_card(canvas=canvas, **VARIANTS[variant])
    lay = layout_card(card)
    assert (lay.width, lay.height) == canvas
    assert_sound(lay, card)


def test_long_values_wrap_and_short_ones_stay_on_one_line() -> None:
    lay = layout_card(make_card(nama=LONG_NAME, alamat=LONG_ADDRESS))
    assert len(lay.get("nama").lines) == 2
    assert 2 <= len(lay.get("alamat").lines) <= 4
    plain = layout_card(make_card())
    assert all(len(t.lines) == 1 for t in plain.texts)
    assert plain.get("nama").font_size == 26
    assert plain.get("nik").font_size > plain.get("nama").font_size and plain.get("nik").bold


def test_wna_card_ends_on_the_itap_date() -> None:
    lay = layout_card(make_card(**VARIANTS["wna"]))
    assert lay.get("kewarganegaraan").text == "WNA"
    assert lay.get("berlaku_hingga").text == "30-06-2030"
    assert layout_card(make_card()).get("berlaku_hingga").text == "SEUMUR HIDUP"


def test_header_adds_kabupaten_when_the_name_has_no_prefix() -> None:
    lay = layout_card(make_card(kabupaten_kota="REJANG LEBONG", issue_place="KABUPATEN REJANG LEBONG"))
    assert lay.get("kabupaten_kota", "header").text == "KABUPATEN REJANG LEBONG"
    assert layout_card(make_card()).get("kabupaten_kota", "header").text == "KOTA BENGKULU"


def test_a_value_that_cannot_fit_is_refused_by_name_never_truncated() -> None:
    with pytest.raises(CardLayoutError, match="alamat"):
        layout_card(make_card(alamat="X" * 200))  # one 200-letter word: no place to break, too wide at any size


NAME_PARTS = (
    "MUHAMMAD",
    "SITI",
    "NUR",
    "AMINAH",
    "PUTRI",
    "WAHYU",
    "DEWI",
    "RAHMAT",
    "HIDAYAT",
    "KUSUMAWARDHANI",
    "ABDURRAHMAN",
    "SRI",
    "WULANDARI",
    "BAGUS",
    "PRATAMA",
    "ALFARIZI",
    "NINGSIH",
    "I",
    "GUSTI",
    "AYU",
)
ADDRESS_PARTS = (
    "JL.",
    "GG.",
    "NO.",
    "BLOK",
    "KOMPLEKS",
    "PERUMAHAN",
    "GRIYA",
    "PESONA",
    "RAYA",
    "PANTAI",
    "INDAH",
    "MAWAR",
    "MELATI",
    "KM.",
    "7",
    "12A",
    "C-3",
    "RT.05/RW.02",
    "DUSUN",
    "SIMPANG",
    "LINGKAR",
    "BARAT",
    "SEBELAH",
    "MASJID",
    "AT-TAQWA",
    "KANTOR",
    "POS",
)


def _words(parts: tuple[str, ...], limit: int) -> st.SearchStrategy[str]:
    return (
        st.lists(st.sampled_from(parts), min_size=1, max_size=30)
        .map(" ".join)
        .map(lambda text: text[:limit].rsplit(" ", 1)[0] if len(text) > limit else text)
    )


@given(nama=_words(NAME_PARTS, 66), alamat=_words(ADDRESS_PARTS, 160))
def test_real_names_and_addresses_up_to_66_and_160_characters_always_fit(nama: str, alamat: str) -> None:
    card = make_card(nama=nama, alamat=alamat)
    assert_sound(layout_card(card), card)


@given(
    nama=st.lists(st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZ'.", min_size=1, max_size=16), min_size=1, max_size=8)
    .map(" ".join)
    .filter(lambda s: s.strip(" .'")),
    alamat=st.lists(
        st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789./-", min_size=1, max_size=30), min_size=1, max_size=12
    )
    .map(" ".join)
    .map(lambda s: s[:200]),
)
def test_any_value_fits_its_box_or_is_refused_by_name(nama: str, alamat: str) -> None:
    card = make_card(nama=nama, alamat=alamat)
    try:
        lay = layout_card(card)
    except CardLayoutError as exc:
        assert "nama" in str(exc) or "alamat" in str(exc)  # never silently cut
    else:
        assert_sound(lay, card)


# --------------------------------------------------------------------------------------------------
# The panels
# --------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def rendered() -> tuple[RenderedCard, CardLayout, CardData]:
    card = make_card(back=True, nama=LONG_NAME, birth_year=1991)
    out, lay = render_card_with_layout(card)
    return out, lay, card


def test_k_plane_has_ink_in_every_text_box_and_nowhere_else(
    rendered: tuple[RenderedCard, CardLayout, CardData],
) -> None:
    out, lay, _ = rendered
    k = plane_image(out, "k")
    assert set(pixels(k)) <= {0, 255}  # resin prints or it does not
    for t in lay.front():
        for line in t.lines:
            assert k.crop((line.ink.x0, line.ink.y0, line.ink.x1, line.ink.y1)).getbbox() is not None, t.field
    # Blank out every text box: nothing may be left (no stray black outside the laid-out text).
    rest = k.copy()
    draw = ImageDraw.Draw(rest)
    for t in lay.front():
        draw.rectangle((t.box.x0, t.box.y0, t.box.x1 - 1, t.box.y1 - 1), fill=0)
    assert rest.getbbox() is None


def test_rgb_carries_background_photo_and_signature_but_no_text(
    rendered: tuple[RenderedCard, CardLayout, CardData],
) -> None:
    out, lay, _ = rendered
    rgb = plane_image(out, "rgb")
    # The text is in K only: under the name the colour panel is the light card ground.
    for field in ("nik", "nama", "alamat"):
        ink = lay.get(field).ink
        darkest = min(pixels(rgb.crop((ink.x0, ink.y0, ink.x1, ink.y1)).convert("L")))
        assert darkest > 150, field
    # Born 1991 (odd): a red photo background fills part of the photo box.
    photo = rgb.crop((lay.photo_box.x0, lay.photo_box.y0, lay.photo_box.x1, lay.photo_box.y1))
    red = sum(1 for p in pixels(photo) if all(abs(p[i] - RED_BACKGROUND[i]) < 40 for i in range(3)))
    assert red > 0.2 * photo.width * photo.height
    # The signature: dark strokes, and its white paper made transparent (no white square on the card).
    sig = rgb.crop((lay.signature_box.x0, lay.signature_box.y0, lay.signature_box.x1, lay.signature_box.y1))
    strokes = pixels(sig)
    assert any(sum(p) < 150 for p in strokes)
    assert not any(min(p) > 245 for p in strokes)


def test_blue_background_for_even_birth_years() -> None:
    out, lay = render_card_with_layout(make_card(birth_year=1990))
    photo = plane_image(out, "rgb").crop((lay.photo_box.x0, lay.photo_box.y0, lay.photo_box.x1, lay.photo_box.y1))
    blue = sum(1 for p in pixels(photo) if all(abs(p[i] - BLUE_BACKGROUND[i]) < 40 for i in range(3)))
    assert blue > 0.2 * photo.width * photo.height


def test_preview_is_the_colour_panels_with_the_black_on_top(
    rendered: tuple[RenderedCard, CardLayout, CardData],
) -> None:
    out, _, _ = rendered
    preview = preview_image(out)
    assert preview.size == (out.width, out.height) and preview.mode == "RGB"
    composite = plane_image(out, "rgb")
    composite.paste((0, 0, 0), mask=plane_image(out, "k"))
    assert preview.tobytes() == composite.tobytes()
    assert preview.info.get("dpi", (0, 0))[0] == pytest.approx(300, abs=1)


def test_overlay_covers_the_whole_card_and_back_is_k_only(rendered: tuple[RenderedCard, CardLayout, CardData]) -> None:
    out, lay, _ = rendered
    assert out.overlay == b"\xff" * (out.width * out.height)
    assert out.back_k is not None
    back = plane_image(out, "back_k")
    assert back.getbbox() is not None
    assert lay.back() and all(lay.canvas_box.contains(t.box) and t.box.contains(t.ink) for t in lay.back())
    assert render_card(make_card()).back_k is None


@pytest.mark.parametrize("canvas", CANVASES)
def test_both_canvases_render(canvas: tuple[int, int]) -> None:
    out = render_card(make_card(canvas=canvas))
    assert (out.width, out.height, out.dpi) == (*canvas, 300)
    assert len(out.rgb) == canvas[0] * canvas[1] * 3


def test_photo_is_cropped_to_the_box_keeping_its_aspect() -> None:
    # A wide photo, left half green and right half magenta: cropping (not squeezing) keeps both halves.
    wide = Image.new("RGB", (900, 300), (0, 200, 0))
    wide.paste((200, 0, 200), (450, 0, 900, 300))
    buffer = io.BytesIO()
    wide.save(buffer, format="JPEG")
    out, lay = render_card_with_layout(make_card(photo=buffer.getvalue()))
    rgb = plane_image(out, "rgb")
    box = lay.photo_box
    assert box.height / box.width == pytest.approx(1.5, abs=0.02)
    left = rgb.getpixel((box.x0 + 2, (box.y0 + box.y1) // 2))
    right = rgb.getpixel((box.x1 - 3, (box.y0 + box.y1) // 2))
    assert left[1] > 150 and left[0] < 60  # green
    assert right[0] > 150 and right[1] < 60  # magenta


def test_an_unreadable_photo_is_a_clear_error() -> None:
    with pytest.raises(CardLayoutError, match="photo"):
        render_card(make_card(photo=b"not an image"))


def test_rendering_is_quick() -> None:
    card = make_card(nama=LONG_NAME, alamat=LONG_ADDRESS)
    render_card(card)  # fonts and background cached
    # CPU time, not wall time: what rendering costs, whatever else the machine (or xdist) is running.
    start = time.process_time()
    for _ in range(3):
        render_card(card)
    assert (time.process_time() - start) / 3 < 0.3


# --------------------------------------------------------------------------------------------------
# The hook
# --------------------------------------------------------------------------------------------------


def _job() -> PrintJob:
    return PrintJob(id="job-1", enrolment_id="enrolment-1", site_code="17.71")


def test_the_bundled_layout_is_the_default_renderer() -> None:
    host = PluginHost(allow=["card-layout"])
    card = make_card()
    result = host.hook.ektp_render_card(card=card, job=_job(), deployment=None)
    assert isinstance(result, RenderedCard) and (result.width, result.height) == EVOLIS_CANVAS


def test_a_plugin_that_renders_replaces_the_default_and_one_that_passes_does_not() -> None:
    host = PluginHost(load_entry_points=False)
    host.register(layout, "card-layout")
    mine = RenderedCard(width=2, height=1, dpi=300, rgb=bytes(6), k=bytes(2), overlay=bytes(2), preview_png=b"")

    class Replaces:
        @hookimpl
        def ektp_render_card(self, card: CardData) -> RenderedCard:
            return mine

    class Passes:
        @hookimpl
        def ektp_render_card(self, card: CardData) -> None:
            return None

    card = make_card()
    host.register(Passes(), "passes")
    assert host.hook.ektp_render_card(card=card, job=_job(), deployment=None).width == EVOLIS_CANVAS[0]
    host.register(Replaces(), "replaces")
    assert host.hook.ektp_render_card(card=card, job=_job(), deployment=None) is mine


# --------------------------------------------------------------------------------------------------
# Sample images
# --------------------------------------------------------------------------------------------------


def test_sample_images_are_deterministic_pngs() -> None:
    assert sample_photo(3, birth_year=1990) == sample_photo(3, birth_year=1990)
    assert sample_photo(3, birth_year=1990) != sample_photo(4, birth_year=1990)
    assert sample_signature(3) == sample_signature(3) != sample_signature(4)
    for year, colour in ((1991, RED_BACKGROUND), (1990, BLUE_BACKGROUND)):
        image = Image.open(io.BytesIO(sample_photo(1, birth_year=year)))
        assert image.format == "PNG" and image.height > image.width
        corner = image.convert("RGB").getpixel((3, 3))
        assert all(abs(corner[i] - colour[i]) < 10 for i in range(3))
    sig = Image.open(io.BytesIO(sample_signature(1))).convert("L")
    assert sig.getpixel((0, 0)) == 255 and min(pixels(sig)) < 50
