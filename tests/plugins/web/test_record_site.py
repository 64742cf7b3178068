"""Recording at a kecamatan node of Kota Bengkulu (it records, the Dukcapil office prints): no scanner at
this site, so every biometric comes as a file or from the pad, and a confirmed recording goes into the
outbox for `ektp sync`; and an office that does not record at all."""

from __future__ import annotations

from io import BytesIO
from pathlib import Path

import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from recordkit import biodata_form, fill_captures, start_recording

from ektp_core.domain.model import EnrolmentState
from ektp_core.keys import crypto
from ektp_core.services.node_init import create_deployment, profile_text
from ektp_core.store.tables import outbox
from ektp_core.sync import packets
from ektp_core.sync.outbox import Outbox


@pytest.fixture
def records_here() -> bool:
    """True: the kecamatan node of Kampung Melayu; a test parametrizes False for an office that does not record."""
    return True


@pytest.fixture
def ektp_deployment(records_here: bool, tmp_path: Path, ektp_database_url: str):
    if records_here:
        return create_deployment(
            tmp_path / "deployment", profile="kota-bengkulu", site_code="17.71.05", database_url=ektp_database_url
        )
    text = profile_text("minimal")[0].replace("records = true", "records = false")
    profile = tmp_path / "printing-only.toml"
    profile.write_text(text, "utf-8")
    return create_deployment(tmp_path / "deployment", profile=str(profile), database_url=ektp_database_url)


def _packets(lc) -> int:
    with lc.store.read() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(outbox)).scalar_one())


def test_without_a_reader_the_fingers_are_uploaded(browser, ektp_service) -> None:
    b = browser("op1")
    enrolment_id = start_recording(b)
    page = b.get(f"/record/{enrolment_id}/step/finger").get_data(as_text=True)
    assert 'id="no-device"' in page and 'name="file"' in page
    from ektp_plugins.simulators.synthetic import finger
    from recordkit import png

    sent = b.client.post(
        f"/record/{enrolment_id}/upload",
        data={
            "csrf_token": b.csrf,
            "modality": "finger",
            "position": "right_thumb",
            "file": (BytesIO(png(finger(3, "right_thumb"))), "jari.png"),
        },
        content_type="multipart/form-data",
        follow_redirects=True,
    )
    assert "Ibu jari kanan tersimpan" in sent.get_data(as_text=True)


@pytest.mark.database
def test_a_confirmed_recording_goes_into_the_outbox_once(browser, ektp_service) -> None:
    b = browser("op1")
    enrolment_id = start_recording(b)
    fill_captures(ektp_service, enrolment_id)
    # The site has not joined its Dukcapil node yet: said so, nothing changes.
    refused = b.post(f"/record/{enrolment_id}/confirm", {}, follow_redirects=True).get_data(as_text=True)
    assert "belum masuk antrean kirim" in refused and "ektp sync join" in refused
    assert ektp_service.get(enrolment_id).state is EnrolmentState.BIO_CAPTURED
    Outbox.for_deployment(ektp_service).joined(
        url="http://127.0.0.1:9/api/v1",
        signing_key=crypto.public_key_text(crypto.new_signing_key()),
        exchange_key=packets.exchange_public_text(X25519PrivateKey.generate()),
    )
    queued = b.post(f"/record/{enrolment_id}/confirm", {}, follow_redirects=True).get_data(as_text=True)
    assert "masuk antrean kirim ke Disdukcapil" in queued
    assert ektp_service.get(enrolment_id).state is EnrolmentState.SENT_FOR_ENROLLMENT
    again = b.post(f"/record/{enrolment_id}/confirm", {}, follow_redirects=True).get_data(as_text=True)
    assert "tidak dikirim dua kali" in again and _packets(ektp_service) == 1


@pytest.mark.parametrize("records_here", [False])
def test_an_office_that_does_not_record_says_so(browser, ektp_service) -> None:
    b = browser("op1")
    page = b.get("/record")
    assert page.status_code == 409 and 'id="not-recording"' in page.get_data(as_text=True)
    assert b.get("/record/new").status_code == 409
    b.get("/dashboard")
    refused = b.post("/record/new", biodata_form())
    assert refused.status_code == 409
    with ektp_service.store.read() as conn:
        from ektp_core.store.tables import enrolments

        assert conn.execute(enrolments.select()).first() is None


def test_a_confirmed_recording_reads_waiting_until_its_packet_has_left(browser, ektp_service) -> None:
    """Guards issue 14 defect 11: the kecamatan showed "Dikirim ke pusat" (SENT_FOR_ENROLLMENT) while
    the packet still waited in its outbox. Until the Dukcapil node's receipt it reads "menunggu
    dikirim" on the summary, the enrolment's page and the list; after it, the state's own label."""
    from ektp_plugins.web.ui.i18n import Catalogues
    from markupsafe import escape

    texts = Catalogues()
    waiting, sent = (
        str(escape(texts.text("id", key))) for key in ("state.waiting_to_send", "state.SENT_FOR_ENROLLMENT")
    )
    b = browser("op1")
    enrolment_id = start_recording(b)
    fill_captures(ektp_service, enrolment_id)
    Outbox.for_deployment(ektp_service).joined(
        url="http://127.0.0.1:9/api/v1",
        signing_key=crypto.public_key_text(crypto.new_signing_key()),
        exchange_key=packets.exchange_public_text(X25519PrivateKey.generate()),
    )
    b.post(f"/record/{enrolment_id}/confirm", {})
    pages = (f"/record/{enrolment_id}/summary", f"/enrolments/{enrolment_id}", "/enrolments")

    def shown(path: str) -> str:
        page = b.get(path).get_data(as_text=True)
        if path == "/enrolments":  # the list: its row (the state filter names every state)
            return page.split(f'data-enrolment="{enrolment_id}"', 1)[1].split("</tr>", 1)[0]
        return page

    for path in pages:
        page = shown(path)
        assert waiting in page and sent not in page, path
    dashboard = b.get("/dashboard").get_data(as_text=True)
    assert 'data-state="state.waiting_to_send">1<' in dashboard and 'data-state="SENT_FOR_ENROLLMENT"' not in dashboard
    # The Dukcapil node's receipt came back: the packet has left.
    with ektp_service.store.write() as conn:
        conn.execute(outbox.update().values(sent_at=ektp_service.clock(), receipt="{}"))
    for path in pages:
        page = shown(path)
        assert sent in page and waiting not in page, path
    dashboard = b.get("/dashboard").get_data(as_text=True)
    assert 'data-state="SENT_FOR_ENROLLMENT">1<' in dashboard and "state.waiting_to_send" not in dashboard
