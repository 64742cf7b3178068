"""The verifier inside ektp: chosen by the profile, driven by the core's verification service."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from ektp_core.config import Deployment
from ektp_core.devices.declared import make_verifier
from ektp_core.domain.model import Capture, EnrolmentState
from ektp_core.lifecycle.service import LifecycleService
from ektp_core.plugins import PluginHost
from ektp_core.services.verification import VerificationService, VerificationSettings
from ektp_core.testing import make_enrolment

from ektp_acme_gateway import NAME, PROFILE_FILE
from ektp_acme_gateway import AcmeGatewayServer as Server
from ektp_acme_gateway import AcmeGatewayVerifier as Verifier

TEST_PROFILE = str(Path(__file__).with_name("verification-profile.toml"))
KEY = "test-key"
E = EnrolmentState


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[Server]:
    monkeypatch.setenv("ACME_GATEWAY_API_KEY", KEY)
    with Server(KEY) as server:
        yield server


@pytest.fixture
def service(
    ektp_deployment: Deployment, ektp_service: LifecycleService, plugin_host: PluginHost, server: Server
) -> VerificationService:
    """The core's verification service with this verifier, built from the profile's options the way
    the core does it, pointed at the test server."""
    settings = VerificationSettings.from_profile(ektp_deployment.profile)
    assert settings.verifier == NAME
    factory = plugin_host.verifiers.get(settings.verifier)
    verifier = factory(options={**settings.options, "url": server.url})
    return VerificationService(ektp_service, verifier, settings=settings, host=plugin_host)


def recorded(lc: LifecycleService, **biodata: object) -> str:
    enrolment = make_enrolment(**biodata)
    captures = [
        Capture(modality="face", position="face", device="test", quality=90, blob_ref=f"{enrolment.id}-f"),
        Capture(modality="signature", position="signature", device="test", quality=90, blob_ref=f"{enrolment.id}-s"),
    ]
    lc.record(enrolment, captures, {f"{enrolment.id}-f": b"face", f"{enrolment.id}-s": b"signature"})
    return enrolment.id


@pytest.mark.ektp_profile(str(PROFILE_FILE))
def test_the_example_profile_chooses_the_verifier(
    ektp_deployment: Deployment, plugin_host: PluginHost, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert VerificationSettings.from_profile(ektp_deployment.profile).verifier == NAME
    monkeypatch.setenv("ACME_GATEWAY_API_KEY", KEY)
    verifier = make_verifier(ektp_deployment.profile, plugin_host)  # as the core builds it
    assert isinstance(verifier, Verifier)
    assert verifier.url == "http://127.0.0.1:8731/v1"


@pytest.mark.ektp_profile(TEST_PROFILE)
def test_an_enrolment_goes_to_central_and_comes_back_print_ready(
    service: VerificationService, ektp_service: LifecycleService, server: Server
) -> None:
    enrolment_id = recorded(ektp_service)
    assert service.submit(enrolment_id, actor="operator1") is E.RECEIVED_AT_CENTRAL
    assert enrolment_id in server.records
    verdict = service.fetch_verdict(enrolment_id, actor="system")
    assert verdict is not None and verdict.status is E.PRINT_READY_RECORD
    assert ektp_service.get(enrolment_id).state is E.PRINT_READY_RECORD


@pytest.mark.ektp_profile(TEST_PROFILE)
def test_a_look_alike_waits_for_a_supervisor(service: VerificationService, ektp_service: LifecycleService) -> None:
    first, second = recorded(ektp_service), recorded(ektp_service)  # same name and birth date, two NIKs
    for enrolment_id in (first, second):
        service.submit(enrolment_id, actor="operator1")
    report = service.sync(actor="system", route=False)  # fetches the verdicts
    assert report.verdicts == {first: E.PRINT_READY_RECORD.value, second: E.ADJUDICATE_RECORD.value}
    assert ektp_service.get(first).state is E.PRINT_READY_RECORD
    assert ektp_service.get(second).state is E.ADJUDICATE_RECORD


@pytest.mark.ektp_profile(TEST_PROFILE)
def test_nothing_is_lost_while_central_is_down(
    service: VerificationService, ektp_service: LifecycleService, server: Server
) -> None:
    enrolment_id = recorded(ektp_service)
    server.fail_next(503)
    assert service.submit(enrolment_id, actor="operator1") is E.SENT_FOR_ENROLLMENT
    service.sync(actor="system", route=False)
    assert ektp_service.get(enrolment_id).state is E.PRINT_READY_RECORD
