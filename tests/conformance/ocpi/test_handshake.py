"""The credentials handshake in both directions over real HTTP: our app on pytest-django's live server, the
independent eMSP peer (tests/conformance/ocpi/peer.py) on its own loopback port, each calling the other."""

import base64
import urllib.request
import uuid

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.core.exceptions import ValidationError

from accounts.models import AuditLogEntry
from roaming.models import OcpiParty, OcpiRequestLog
from roaming.services.credentials import party_issue_token_a, party_register, party_unregister, party_update
from tests.accounts.factories import UserFactory
from tests.conformance.ocpi.peer import EmspPeer, call

pytestmark = [pytest.mark.conformance, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def ocpi_url(live_server, settings):
    settings.OCPI_BASE_URL = f"{live_server.url}/ocpi"
    settings.OCPI_COUNTRY_CODE = "SE"
    settings.OCPI_PARTY_ID = "CSM"
    settings.OCPI_REQUEST_TIMEOUT = 5
    return settings.OCPI_BASE_URL


@pytest.fixture
def peer():
    with EmspPeer() as running:
        yield running


def test_an_emsp_registers_with_us_updates_and_unregisters(ocpi_url, peer):
    party = OcpiParty.objects.create(name="Example eMSP")
    token_a = party_issue_token_a(party=party, acting_user=None, reason="Onboarding")

    answer = peer.register_with(f"{ocpi_url}/versions", token_a)
    assert (answer.http_status, answer.status_code) == (200, 1000), answer.body
    assert peer.cpo_versions_url == f"{ocpi_url}/versions"
    assert peer.cpo_credentials["roles"][0]["party_id"] == "CSM"
    party.refresh_from_db()
    assert party.status == OcpiParty.Status.REGISTERED
    assert party.token_b == peer.token_for_cpo
    assert (party.country_code, party.party_id, party.version) == ("NL", "EXA", "2.2.1")

    # the peer calls us with token C; token A is spent
    assert call("GET", f"{ocpi_url}/versions", token=peer.token_to_cpo).status_code == 1000
    assert call("GET", f"{ocpi_url}/versions", token=token_a).http_status == 401
    # registering again is 405
    again = call("POST", peer._credentials_url(), token=peer.token_to_cpo, body=peer.credentials("x"))
    assert (again.http_status, again.status_code) == (405, 2000)

    old_token = peer.token_to_cpo
    answer = peer.update_with()
    assert (answer.http_status, answer.status_code) == (200, 1000), answer.body
    assert peer.token_to_cpo != old_token
    assert call("GET", f"{ocpi_url}/versions", token=old_token).http_status == 401
    party.refresh_from_db()
    assert party.token_b == peer.token_for_cpo

    answer = peer.unregister_from()
    assert (answer.http_status, answer.status_code) == (200, 1000)
    party.refresh_from_db()
    assert party.status == OcpiParty.Status.UNREGISTERED
    assert call("GET", f"{ocpi_url}/versions", token=peer.token_to_cpo).http_status == 401
    assert call("DELETE", peer._credentials_url(), token=peer.token_to_cpo).http_status == 401


def test_we_register_with_an_emsp_from_the_admin_update_and_unregister(ocpi_url, peer, client):
    party = OcpiParty.objects.create(name="Example eMSP", versions_url=peer.versions_url,
                                     token_b=peer.issue_token_a())
    operator = UserFactory(is_staff=True, is_superuser=True)
    client.force_login(operator)
    response = client.post("/admin/roaming/ocpiparty/", {"action": "register", ACTION_CHECKBOX_NAME: [party.pk],
                                                         "apply": "1", "reason": "Roaming contract 2026-3"})
    assert response.status_code == 302
    party.refresh_from_db()
    assert party.status == OcpiParty.Status.REGISTERED, peer.last_error
    # the peer read our endpoints with the token we gave it, and answered its own token for us
    assert peer.cpo_endpoints["credentials"] == {"SENDER": f"{ocpi_url}/2.2.1/credentials",
                                                 "RECEIVER": f"{ocpi_url}/2.2.1/credentials"}
    assert party.token_b == peer.token_for_cpo
    assert peer.token_a is None
    assert (party.country_code, party.party_id, party.role) == ("NL", "EXA", "EMSP")
    assert party.endpoint("cdrs", "RECEIVER") == f"{peer.base_url}/emsp/2.2.1/cdrs"
    assert party.token_c_pending_hash == ""
    assert call("GET", f"{ocpi_url}/2.2.1/", token=peer.token_to_cpo).status_code == 1000
    entry = AuditLogEntry.objects.get(action="roaming.registered_with_partner")
    assert (entry.actor, entry.reason) == (operator, "Roaming contract 2026-3")
    # the peer's token A no longer works there; ours is the one from its answer
    assert call("GET", peer.versions_url, token=peer.token_for_cpo).status_code == 1000

    old_ours, old_theirs = party.token_b, peer.token_to_cpo
    party_update(party=party, acting_user=operator, reason="Monthly rotation")
    party.refresh_from_db()
    assert party.token_b == peer.token_for_cpo != old_ours
    assert peer.token_to_cpo != old_theirs
    assert call("GET", f"{ocpi_url}/versions", token=old_theirs).http_status == 401
    assert call("GET", f"{ocpi_url}/versions", token=peer.token_to_cpo).status_code == 1000

    party_unregister(party=party, acting_user=operator, reason="Contract ended")
    party.refresh_from_db()
    assert party.status == OcpiParty.Status.UNREGISTERED
    assert peer.cpo_credentials is None
    assert call("GET", f"{ocpi_url}/versions", token=old_theirs).http_status == 401
    with pytest.raises(ValidationError):
        party_unregister(party=party, acting_user=operator, reason="again")
    assert OcpiRequestLog.objects.filter(direction="out", party=party).count() >= 7


def test_a_failed_registration_with_a_partner_leaves_no_working_token(ocpi_url, peer):
    peer.issue_token_a()
    party = OcpiParty.objects.create(name="Example eMSP", versions_url=peer.versions_url, token_b="wrong-token-a")
    with pytest.raises(ValidationError):
        party_register(party=party, acting_user=None, reason="")
    party.refresh_from_db()
    assert party.status == OcpiParty.Status.PLANNED
    assert party.token_c_hash == party.token_c_pending_hash == ""


def test_unregistering_when_the_partner_already_forgot_us(ocpi_url, peer):
    party = OcpiParty.objects.create(name="Example eMSP")
    token_a = party_issue_token_a(party=party, acting_user=None, reason="")
    assert peer.register_with(f"{ocpi_url}/versions", token_a).status_code == 1000
    peer.cpo_credentials = None  # the peer dropped the connection on its side: it answers our DELETE with 405
    party.refresh_from_db()
    party_unregister(party=party, acting_user=None, reason="cleanup")
    party.refresh_from_db()
    assert party.status == OcpiParty.Status.UNREGISTERED


@pytest.mark.parametrize(("token", "encode"), [(None, True), ("unknown", True), ("unknown", False)])
def test_missing_or_unknown_tokens_over_http(ocpi_url, token, encode):
    request_id = str(uuid.uuid4())
    answer = call("GET", f"{ocpi_url}/versions", token=token, encode=encode,
                  headers={"X-Request-ID": request_id, "X-Correlation-ID": "corr-42"})
    assert answer.http_status == 401
    assert answer.body["status_code"] == 2000
    assert answer.body["timestamp"].endswith("Z")
    assert answer.headers["X-Request-ID"] == request_id
    assert answer.headers["X-Correlation-ID"] == "corr-42"


def test_ids_are_generated_when_the_client_sends_none(ocpi_url):
    party = OcpiParty.objects.create(name="Example eMSP")
    token_a = party_issue_token_a(party=party, acting_user=None, reason="")
    request = urllib.request.Request(
        f"{ocpi_url}/versions", headers={"Authorization": "Token " + base64.b64encode(token_a.encode()).decode()})
    with urllib.request.urlopen(request, timeout=5) as answer:  # noqa: S310
        assert answer.status == 200
        assert uuid.UUID(answer.headers["X-Request-ID"])
        assert uuid.UUID(answer.headers["X-Correlation-ID"])
