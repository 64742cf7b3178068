"""``ektp seed`` and ``ektp walk --site`` without a central system: the synthetic residents, recording,
the counts in the database, and every refusal. The paths through the central-system emulator (a real
process) are in tests/integration/demo/test_seed_and_walk.py."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from ektp_plugins.demo.residents import ResidentMaker, areas_of, biometrics, identity_of
from ektp_plugins.demo.seeding import seed
from ektp_plugins.demo.walk import recording_site

from ektp_core.cli import cli
from ektp_core.config import Deployment
from ektp_core.domain import regions
from ektp_core.domain.model import EnrolmentState, Nik
from ektp_core.errors import EktpError
from ektp_core.services.node_init import create_deployment
from ektp_core.store.tables import captures, enrolments

TODAY = dt.date(2026, 6, 1)


def _rows(deployment: Deployment) -> list[sa.Row[tuple[str, str, str]]]:
    store = deployment.open_store()
    try:
        with store.read() as conn:
            return list(conn.execute(sa.select(enrolments.c.nik, enrolments.c.state, enrolments.c.site_code)))
    finally:
        store.dispose()


def test_residents_live_in_the_area_with_a_nik_that_agrees() -> None:
    maker = ResidentMaker("31.71.01", seed=7, today=TODAY)
    kelurahan = {a.kelurahan.name.upper() for a in areas_of("31.71.01")}
    people = [maker.draw() for _ in range(60)]
    for person in people:
        b = person.biodata
        nik = Nik(str(b.nik))
        assert nik.district_code == "31.71.01"
        assert b.kecamatan == "GAMBIR" and b.kelurahan in kelurahan
        assert b.kabupaten_kota == regions.name_of("31.71").upper()
        report = nik.report
        assert report.valid and report.birth_date == b.tanggal_lahir and report.sex == b.jenis_kelamin
        age = (TODAY - b.tanggal_lahir).days / 365.25
        assert 17 <= age <= 80.5
    # Varied, not one person sixty times.
    assert len({p.biodata.nama for p in people}) > 30
    assert {p.biodata.jenis_kelamin for p in people} == {"L", "P"}
    assert len({p.biodata.agama for p in people}) > 1 and len({p.biodata.pekerjaan for p in people}) > 5
    assert len({p.biodata.kelurahan for p in people}) > 3
    # Deterministic for a seed; another seed, other people.
    again = ResidentMaker("31.71.01", seed=7, today=TODAY)
    assert [again.draw().biodata for _ in range(60)] == [p.biodata for p in people]
    other = ResidentMaker("31.71.01", seed=8, today=TODAY)
    assert other.draw().biodata != people[0].biodata


def test_taken_niks_are_skipped_and_identities_differ() -> None:
    first = [r.biodata.nik for r in _take(ResidentMaker("17.71", seed=1, today=TODAY), set(), 5)]
    later = [r.biodata.nik for r in _take(ResidentMaker("17.71", seed=1, today=TODAY), {str(n) for n in first}, 5)]
    assert not set(map(str, first)) & set(map(str, later))
    assert identity_of("3171015905942219") != identity_of("3171015905942218")
    assert identity_of("3171015905942219") >= 2_000_000


def _take(maker: ResidentMaker, taken: set[str], n: int) -> list:  # type: ignore[type-arg]
    out = []
    for resident in maker.residents(lambda nik: nik in taken):
        out.append(resident)
        if len(out) == n:
            return out
    return out  # pragma: no cover


def test_areas_refuse_codes_outside_the_list() -> None:
    with pytest.raises(EktpError, match="province"):
        areas_of("31")
    with pytest.raises(EktpError, match="not in the Kemendagri"):
        areas_of("31.71.99")


def test_quick_biometrics_are_complete_and_searchable() -> None:
    samples = biometrics(identity_of("1771054101900001"), pictures="quick")
    kinds = {(s.modality.value, s.position) for s in samples}
    assert len([k for k in kinds if k[0] == "finger"]) == 10
    assert {("iris", "left"), ("iris", "right"), ("face", "face"), ("signature", "signature")} <= kinds
    assert all(s.template for s in samples if s.modality.value == "finger")
    with pytest.raises(EktpError, match="pictures"):
        biometrics(1, pictures="fancy")


def test_seed_records_residents_and_a_second_run_adds_more(ektp_deployment: Deployment) -> None:
    report = seed(
        ektp_deployment, residents=3, until=EnrolmentState.BIO_CAPTURED, pictures="quick", echo=lambda _: None
    )
    assert report.counts() == {"BIO_CAPTURED": 3}
    seed(ektp_deployment, residents=2, until=EnrolmentState.BIO_CAPTURED, pictures="quick", echo=lambda _: None)
    rows = _rows(ektp_deployment)
    assert len(rows) == 5 and len({r.nik for r in rows}) == 5
    assert {r.state for r in rows} == {"BIO_CAPTURED"} and {r.site_code for r in rows} == {"17.71"}
    assert all(r.nik.startswith("1771") for r in rows)
    store = ektp_deployment.open_store()
    try:
        with store.read() as conn:
            per = conn.execute(sa.select(sa.func.count()).select_from(captures)).scalar_one()
    finally:
        store.dispose()
    assert per == 5 * 14  # ten fingers, two irises, the face, the signature


@pytest.mark.ektp_profile("dki-jakarta-pusat")
def test_seed_at_another_site_of_the_profile(ektp_deployment: Deployment) -> None:
    lines: list[str] = []
    seed(
        ektp_deployment,
        residents=2,
        site_code="31.71.06.1001",
        until=EnrolmentState.BIO_CAPTURED,
        pictures="quick",
        echo=lines.append,
    )
    rows = _rows(ektp_deployment)
    assert {r.site_code for r in rows} == {"31.71.06.1001"}
    assert all(r.nik.startswith("317106") for r in rows)  # Menteng's residents
    assert any("Summary" in line for line in lines)


def test_refusals_store_nothing(ektp_deployment: Deployment, tmp_path: Path) -> None:
    def refused(match: str, **kwargs: object) -> None:
        with pytest.raises(EktpError, match=match):
            seed(ektp_deployment, echo=lambda _: None, pictures="quick", **kwargs)  # type: ignore[arg-type]

    refused("at least 1", residents=0)
    refused("no site '17.71.05'", residents=1, site_code="17.71.05")
    refused("--until must be", residents=1, until=EnrolmentState.DUPLICATE_RECORD)
    assert _rows(ektp_deployment) == []

    kecamatan = create_deployment(tmp_path / "kec", profile="kota-bengkulu", site_code="17.71.05")
    with pytest.raises(EktpError, match="as far as SENT_FOR_ENROLLMENT"):
        seed(kecamatan, residents=1, until=EnrolmentState.CARD_ISSUED, echo=lambda _: None)
    with pytest.raises(EktpError, match="its own residents"):
        seed(kecamatan, residents=1, site_code="17.71.03", until=EnrolmentState.BIO_CAPTURED, echo=lambda _: None)
    with pytest.raises(EktpError, match="not joined"):
        seed(kecamatan, residents=1, until=EnrolmentState.SENT_FOR_ENROLLMENT, echo=lambda _: None)
    assert _rows(kecamatan) == []


def test_a_site_that_does_not_record_is_refused(tmp_path: Path) -> None:
    profile = tmp_path / "p.toml"
    text = (Path(__file__).parents[3] / "profiles" / "minimal.toml").read_text("utf-8")
    extra = '\n[[sites]]\ncode = "17.71-P1"\nname = "Print shop"\nkind = "dukcapil"\nrecords = false\nprints = true\n'
    anchor = 'region_code = "17.71"\n'
    text = text.replace(anchor, anchor + extra, 1)
    profile.write_text(text, "utf-8")
    deployment = create_deployment(tmp_path / "d", profile=str(profile))
    with pytest.raises(EktpError, match="does not record"):
        recording_site(deployment, "17.71-P1")


def test_the_commands_say_what_is_wrong(ektp_deployment: Deployment) -> None:
    runner = CliRunner()
    d = ["-d", str(ektp_deployment.root)]
    done = runner.invoke(cli, ["seed", *d, "--residents", "0"])
    assert done.exit_code == 1 and "at least 1" in done.output
    done = runner.invoke(cli, ["seed", *d, "--residents", "1", "--until", "DUPLICATE_RECORD"])
    assert done.exit_code == 2 and "--until" in done.output
    done = runner.invoke(cli, ["seed", *d, "--residents", "1", "--site", "99.99"])
    assert done.exit_code == 1 and "no site '99.99'" in done.output
    done = runner.invoke(cli, ["walk", "--dir", str(ektp_deployment.root), "--site", "99.99"])
    assert done.exit_code == 1 and "no site '99.99'" in done.output
    done = runner.invoke(cli, ["seed", *d, "--residents", "2", "--until", "BIO_CAPTURED", "--pictures", "quick"])
    assert done.exit_code == 0, done.output
    assert "recorded 2/2" in done.output and "2  BIO_CAPTURED" in done.output
    assert len(_rows(ektp_deployment)) == 2
