"""The credentials module when a partner registers with us: POST with token A, PUT, DELETE, the 405 cases, bad
credentials (2001), a partner we cannot use (3001/3002/3003), and the admin's token A action.

Our app is driven through Django's test client; the partner is the independent eMSP peer over real HTTP on
loopback (we read its versions and endpoints while answering its POST).
"""

import base64
import json
import socket

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.messages import get_messages
from django.core.exceptions import ValidationError

from accounts.models import AuditLogEntry, Membership
from accounts.services.organizations import user_grant_admin_access
from roaming.models import OcpiParty, OcpiRequestLog, hash_token
from roaming.services.credentials import party_issue_token_a, party_register
from tests.accounts.factories import MembershipFactory, OrganizationFactory, UserFactory
from tests.conformance.ocpi.peer import EmspPeer

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _ocpi_settings(settings):
    settings.OCPI_BASE_URL = "https://csms.test/ocpi"
    settings.OCPI_COUNTRY_CODE = "SE"
    settings.OCPI_PARTY_ID = "CSM"
    settings.OCPI_BUSINESS_NAME = "Laddföreningen"
    settings.OCPI_REQUEST_TIMEOUT = 5


@pytest.fixture
def peer():
    with EmspPeer() as running:
        running.token_for_cpo = "peer-token-b"  # what we must call the peer with
        yield running


@pytest.fixture
def planned(db):
    party = OcpiParty.objects.create(name="Example eMSP")
    return party, party_issue_token_a(party=party, acting_user=None, reason="Onboarding ticket 12")


def auth(token: str) -> dict:
    return {"HTTP_AUTHORIZATION": "Token " + base64.b64encode(token.encode()).decode()}


def send(client, method: str, token: str, body=None, version: str = "2.2.1"):
    kwargs = {"data": json.dumps(body), "content_type": "application/json"} if body is not None else {}
    response = getattr(client, method)(f"/ocpi/{version}/credentials", **kwargs, **auth(token))
    return response, json.loads(response.content)


def register(client, peer, token_a):
    response, body = send(client, "post", token_a, peer.credentials(peer.token_for_cpo))
    assert (response.status_code, body["status_code"]) == (200, 1000), body
    return body["data"]["token"]


def test_a_partner_registers_with_token_a_and_gets_token_c(client, peer, planned):
    party, token_a = planned
    response, body = send(client, "post", token_a, peer.credentials("peer-token-b"))
    assert (response.status_code, body["status_code"]) == (200, 1000), body
    ours = body["data"]
    assert ours["url"] == "https://csms.test/ocpi/versions"
    assert ours["roles"] == [{"role": "CPO", "party_id": "CSM", "country_code": "SE",
                              "business_details": {"name": "Laddföreningen"}}]
    token_c = ours["token"]
    assert token_c != token_a
    assert 0 < len(token_c) <= 64

    party.refresh_from_db()
    assert party.status == OcpiParty.Status.REGISTERED
    assert (party.country_code, party.party_id, party.role) == ("NL", "EXA", "EMSP")
    assert party.business_details == {"name": "Example eMSP"}
    assert party.token_b == "peer-token-b"
    assert party.versions_url == peer.versions_url
    assert party.version == "2.2.1"
    assert party.endpoint("locations", "RECEIVER") == f"{peer.base_url}/emsp/2.2.1/locations"
    assert party.endpoint("tokens", "SENDER") == f"{peer.base_url}/emsp/2.2.1/tokens"
    # only hashes of the tokens we verify
    assert party.token_c_hash == hash_token(token_c)
    assert party.token_a_hash == ""
    assert token_c not in str(OcpiParty.objects.values().get())

    # we read the peer's versions and details with the token it gave us, Base64-encoded
    fetched = [(method, path) for method, path, _h in peer.requests]
    assert fetched == [("GET", "/ocpi/versions"), ("GET", "/ocpi/2.2.1")]
    expected = "Token " + base64.b64encode(b"peer-token-b").decode()
    assert {headers["Authorization"] for _m, _p, headers in peer.requests} == {expected}
    assert OcpiRequestLog.objects.filter(direction="out", party=party, http_status=200, ocpi_status=1000).count() == 2
    entry = AuditLogEntry.objects.get(action="roaming.partner_registered")
    assert entry.actor is None
    assert "token_b" not in entry.changes
    assert "peer-token-b" not in json.dumps(entry.changes)

    # token A is spent; token C is the only way in, and POST again is 405
    response, body = send(client, "post", token_a, peer.credentials("peer-token-b"))
    assert (response.status_code, body["status_code"]) == (401, 2000)
    response, body = send(client, "post", token_c, peer.credentials("peer-token-b"))
    assert (response.status_code, body["status_code"]) == (405, 2000)
    response, body = send(client, "get", token_c)
    assert (response.status_code, body["data"]["token"]) == (200, token_c)


@pytest.mark.parametrize("method", ["put", "delete"])
def test_put_and_delete_before_registering_are_405(client, peer, planned, method):
    party, token_a = planned
    response, body = send(client, method, token_a, peer.credentials("peer-token-b") if method == "put" else None)
    assert (response.status_code, body["status_code"]) == (405, 2000)
    assert body["status_message"]
    party.refresh_from_db()
    assert party.status == OcpiParty.Status.PLANNED
    assert party.token_a_hash == hash_token(token_a)


def test_put_renews_the_tokens_and_endpoints(client, peer, planned):
    party, token_a = planned
    token_c = register(client, peer, token_a)
    peer.token_for_cpo = "peer-token-b2"
    peer.modules["hubclientinfo"] = "RECEIVER"
    response, body = send(client, "put", token_c, peer.credentials("peer-token-b2"))
    assert (response.status_code, body["status_code"]) == (200, 1000), body
    new_token_c = body["data"]["token"]
    assert new_token_c != token_c
    party.refresh_from_db()
    assert party.token_b == "peer-token-b2"
    assert party.endpoint("hubclientinfo", "RECEIVER")
    assert send(client, "get", token_c)[0].status_code == 401
    assert send(client, "get", new_token_c)[0].status_code == 200
    assert AuditLogEntry.objects.filter(action="roaming.partner_updated_credentials").count() == 1


def test_delete_unregisters_and_both_tokens_stop_working(client, peer, planned):
    party, token_a = planned
    token_c = register(client, peer, token_a)
    response, body = send(client, "delete", token_c)
    assert (response.status_code, body["status_code"], body["data"]) == (200, 1000, None)
    party.refresh_from_db()
    assert party.status == OcpiParty.Status.UNREGISTERED
    assert party.token_b == ""
    assert party.token_c_hash == ""
    assert send(client, "get", token_c)[0].status_code == 401
    assert AuditLogEntry.objects.filter(action="roaming.partner_unregistered").count() == 1


@pytest.mark.parametrize("mangle", [
    lambda c: c.pop("token"),
    lambda c: c.update(token="x" * 65),
    lambda c: c.update(token="with space"),
    lambda c: c.update(url="ftp://example.com/versions"),
    lambda c: c.update(roles=[]),
    lambda c: c["roles"][0].update(role="DRIVER"),
    lambda c: c["roles"][0].update(party_id="TOOLONG"),
    lambda c: c["roles"][0].update(country_code="NLD"),
    lambda c: c["roles"][0].pop("business_details"),
    lambda c: c["roles"].append(dict(c["roles"][0])),
])
def test_bad_credentials_are_2001_and_change_nothing(client, peer, planned, mangle):
    party, token_a = planned
    credentials = peer.credentials("peer-token-b")
    mangle(credentials)
    response, body = send(client, "post", token_a, credentials)
    assert (response.status_code, body["status_code"]) == (200, 2001)
    party.refresh_from_db()
    assert party.status == OcpiParty.Status.PLANNED
    assert party.token_a_hash == hash_token(token_a)
    assert peer.requests == []


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.parametrize(("setup", "version", "status_code"), [
    (lambda peer, c: c.update(url=f"http://127.0.0.1:{_closed_port()}/ocpi/versions"), "2.2.1", 3001),
    (lambda peer, c: c.update(token="not-what-the-peer-knows"), "2.2.1", 3001),
    (lambda peer, c: None, "2.2", 3002),  # the peer offers only 2.2.1
    (lambda peer, c: peer.modules.clear(), "2.2.1", 3003),
])
def test_a_partner_we_cannot_use_is_refused_and_token_a_stays_valid(client, peer, planned, setup, version,
                                                                    status_code):
    party, token_a = planned
    credentials = peer.credentials("peer-token-b")
    setup(peer, credentials)
    response, body = send(client, "post", token_a, credentials, version=version)
    assert (response.status_code, body["status_code"]) == (200, status_code), body
    assert body["status_message"]
    party.refresh_from_db()
    assert party.status == OcpiParty.Status.PLANNED
    assert party.token_a_hash == hash_token(token_a)


def test_a_second_connection_for_the_same_party_is_refused(client, peer, planned):
    OcpiParty.objects.create(name="Already here", country_code="NL", party_id="EXA", role="EMSP",
                             status=OcpiParty.Status.REGISTERED)
    _party, token_a = planned
    response, body = send(client, "post", token_a, peer.credentials("peer-token-b"))
    assert (response.status_code, body["status_code"]) == (200, 2001)


def test_registering_with_a_partner_needs_its_url_and_token_first(planned):
    party, _token_a = planned
    with pytest.raises(ValidationError):
        party_register(party=party, acting_user=None, reason="")


def test_the_admin_issues_token_a_once_with_a_reason(client):
    party = OcpiParty.objects.create(name="Example eMSP")
    operator = UserFactory(is_staff=True, is_superuser=True)
    client.force_login(operator)
    response = client.post("/admin/roaming/ocpiparty/", {"action": "issue_token_a", ACTION_CHECKBOX_NAME: [party.pk],
                                                         "apply": "1", "reason": "Contract 2026-7"}, follow=True)
    assert response.status_code == 200
    shown = [str(m) for m in get_messages(response.wsgi_request) if "shown only now" in str(m)]
    assert len(shown) == 1
    token_a = shown[0].split(": ", 1)[1].split(" ")[0]
    party.refresh_from_db()
    assert party.token_a_hash == hash_token(token_a)
    assert AuditLogEntry.objects.get(action="roaming.token_a_issued").reason == "Contract 2026-7"
    assert client.get("/ocpi/versions", **auth(token_a)).status_code == 200
    # the pages render, and the token is never shown back
    page = client.get(f"/admin/roaming/ocpiparty/{party.pk}/change/")
    assert page.status_code == 200
    assert b"change_reason" in page.content
    assert client.get("/admin/roaming/ocpirequestlog/").status_code == 200
    party.token_b = "secret-token-b"
    party.save()
    assert b"secret-token-b" not in client.get(f"/admin/roaming/ocpiparty/{party.pk}/change/").content
    # saving the form without a token keeps the stored one, and the audit row names no token
    response = client.post(f"/admin/roaming/ocpiparty/{party.pk}/change/", {
        "name": "Renamed eMSP", "role": "EMSP", "versions_url": "https://emsp.example/ocpi/versions",
        "token_b": "", "country_code": "", "party_id": "", "change_reason": "Typo"})
    assert response.status_code == 302, response.content
    party.refresh_from_db()
    assert (party.name, party.token_b) == ("Renamed eMSP", "secret-token-b")
    assert "secret-token-b" not in json.dumps(list(AuditLogEntry.objects.values_list("changes", flat=True)))


def test_board_members_do_not_see_roaming_partners(client):
    OcpiParty.objects.create(name="Example eMSP")
    org = OrganizationFactory()
    board = MembershipFactory(organization=org, role=Membership.Role.ORG_ADMIN, user=UserFactory()).user
    user_grant_admin_access(user=board, organization=org, acting_user=None, reason="test")
    client.force_login(board)
    assert client.get("/admin/roaming/ocpiparty/").status_code == 403
    assert client.get("/admin/roaming/ocpirequestlog/").status_code == 403
