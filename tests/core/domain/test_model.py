"""Domain values refuse bad input at construction, naming the field and the value."""

from __future__ import annotations

import datetime as dt

import attrs
import pytest

from ektp_core.domain import codes
from ektp_core.domain.model import Blank, Capture, CaptureException, Enrolment, Nik, Operator, Site
from ektp_core.errors import InvalidValue
from ektp_core.testing import make_biodata


def test_sample_biodata_is_valid_and_round_trips() -> None:
    bio = make_biodata()
    assert type(bio).from_dict(bio.to_dict()) == bio
    assert bio.berlaku_hingga_label == "SEUMUR HIDUP" and bio.jenis_kelamin_label == "PEREMPUAN"


@pytest.mark.parametrize(
    "field, value",
    [
        ("agama", "JEDI"),
        ("status_perkawinan", "PACARAN"),
        ("golongan_darah", "C"),
        ("pekerjaan", "ASTRONOT GALAKSI"),
        ("jenis_kelamin", "X"),
        ("nama", "   "),
        ("rt", "0"),
        ("rw", "12345"),
        ("no_kk", "123"),
        ("kewarganegaraan", "MARS"),
        ("tanggal_lahir", "1990-01-01"),
    ],
)
def test_invalid_biodata_names_field_and_value(field: str, value: object) -> None:
    with pytest.raises(InvalidValue) as info:
        make_biodata(**{field: value})
    assert info.value.field == field
    assert str(info.value).startswith(f"{field}: ")


def test_legacy_spellings_and_codes_are_normalised() -> None:
    assert make_biodata(agama="KATHOLIK").agama == "KATOLIK"
    assert make_biodata(agama="budha").agama == "BUDDHA"
    assert make_biodata(agama="KHONGHUCU").agama == "KONGHUCU"
    assert make_biodata(agama=7).agama == "KEPERCAYAAN TERHADAP TUHAN YME"
    assert make_biodata(pekerjaan=1).pekerjaan == "BELUM/TIDAK BEKERJA"
    assert make_biodata(jenis_kelamin="PEREMPUAN").jenis_kelamin == "P"


def test_code_lists_match_siak() -> None:
    lists = codes.code_lists()
    assert len(lists["agama"]) == 7 and len(lists["status_perkawinan"]) == 4
    assert len(lists["golongan_darah"]) == 13 and len(lists["pekerjaan"]) == 89
    assert lists["pekerjaan"][89] == "LAINNYA"
    assert codes.code_of("agama", "KATHOLIK") == 3


def test_foreigner_card_needs_an_end_date() -> None:
    with pytest.raises(InvalidValue, match="berlaku_hingga"):
        make_biodata(kewarganegaraan="WNA")
    wna = make_biodata(kewarganegaraan="WNA", berlaku_hingga=dt.date(2030, 5, 1))
    assert wna.berlaku_hingga_label == "01-05-2030"
    with pytest.raises(InvalidValue, match="SEUMUR HIDUP"):
        make_biodata(berlaku_hingga=dt.date(2030, 5, 1))


def test_nik_value_type() -> None:
    n = Nik("1771.0541.0190.0001")
    assert n.value == "1771054101900001" and n.district_code == "17.71.05"
    with pytest.raises(InvalidValue, match="nik"):
        Nik("1771054101900000")


def test_capture_rules() -> None:
    Capture(modality="finger", position="left_index", device="sbi", quality=80, blob_ref="b1")
    with pytest.raises(InvalidValue, match="position"):
        Capture(modality="finger", position="left_eye", quality=80)
    with pytest.raises(InvalidValue, match="quality"):
        Capture(modality="iris", position="left", quality=101)
    missing = Capture(
        modality="finger", position="right_little", exception=CaptureException(reason="amputated", approved_by="sup1")
    )
    assert missing.quality is None
    with pytest.raises(InvalidValue, match="quality"):
        Capture(
            modality="finger",
            position="right_little",
            quality=50,
            exception=CaptureException(reason="amputated", approved_by="sup1"),
        )
    with pytest.raises(InvalidValue, match="modality"):
        Capture(modality="smell", position="face", quality=1)


def test_other_values() -> None:
    with pytest.raises(InvalidValue, match="serial"):
        Blank(serial="a b", site_code="17.71")
    with pytest.raises(InvalidValue, match="kind"):
        Site(code="x", name="y", kind="castle")
    with pytest.raises(InvalidValue, match="username"):
        Operator(username="A", full_name="x", role="operator", site_code="17.71")
    with pytest.raises(InvalidValue, match="role"):
        Operator(username="abc", full_name="x", role="king", site_code="17.71")
    op = Operator(username="abc", full_name="x", role="operator", site_code="17.71", password_hash="secret-hash")
    assert "secret-hash" not in repr(op)
    e = Enrolment(id="e1", site_code="17.71", operator="op", biodata=make_biodata())
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        e.state = "CARD_ISSUED"  # type: ignore[misc]
    with pytest.raises(InvalidValue, match="state"):
        Enrolment(id="e1", site_code="17.71", operator="op", biodata=make_biodata(), state="DONE")
