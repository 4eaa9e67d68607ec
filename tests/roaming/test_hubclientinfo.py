"""The hubclientinfo receiver: a hub stores the connection status of the parties behind it; others may not."""

import json

import pytest

from roaming.models import OcpiClientInfo, OcpiParty
from tests.roaming.test_transport import auth, party_with

pytestmark = pytest.mark.django_db

URL = "/ocpi/cpo/2.2.1/hubclientinfo/DE/ABC"
INFO = {"party_id": "ABC", "country_code": "DE", "role": "EMSP", "status": "CONNECTED",
        "last_updated": "2026-11-20T10:00:00Z"}


def put(client, body, token="hub-token", url=URL):
    return client.put(url, data=json.dumps(body), content_type="application/json", **auth(token))


def test_a_hub_puts_and_gets_client_info(client):
    hub = party_with(token_c="hub-token", role=OcpiParty.Role.HUB, country_code="NL", party_id="HUB")
    first = put(client, INFO)
    assert (first.status_code, first.json()["status_code"]) == (201, 1000)
    again = put(client, {**INFO, "status": "OFFLINE", "last_updated": "2026-11-20T11:00:00Z"})
    assert again.status_code == 200
    assert list(OcpiClientInfo.objects.values_list("hub", "status")) == [(hub.pk, "OFFLINE")]
    got = client.get(URL, **auth("hub-token")).json()
    assert got["status_code"] == 1000
    assert got["data"] == {**INFO, "status": "OFFLINE", "last_updated": "2026-11-20T11:00:00Z"}


@pytest.mark.parametrize("body", [
    {**INFO, "country_code": "SE"}, {**INFO, "role": "BOSS"}, {**INFO, "status": "ASLEEP"},
    {**INFO, "last_updated": "yesterday"}, {**INFO, "party_id": "abcd"}, ["not", "an", "object"]])
def test_bad_client_info_is_2001_and_stores_nothing(client, body):
    party_with(token_c="hub-token", role=OcpiParty.Role.HUB)
    answer = put(client, body).json()
    assert answer["status_code"] == 2001
    assert not OcpiClientInfo.objects.exists()


def test_only_a_hub_may_send_client_info(client):
    party_with(token_c="emsp-token", role=OcpiParty.Role.EMSP)
    assert put(client, INFO, token="emsp-token").json()["status_code"] == 2001
    assert client.get(URL, **auth("emsp-token")).status_code == 404
    assert not OcpiClientInfo.objects.exists()


def test_support_sees_tokens_commands_and_hub_clients_and_boards_do_not(client, django_user_model):
    from django.urls import reverse

    from accounts.models import Membership
    from tests.accounts.factories import MembershipFactory, OperatorFactory, OrganizationFactory, UserFactory

    hub = party_with(token_c="hub-token", role=OcpiParty.Role.HUB)
    put(client, INFO)
    staff = MembershipFactory(organization=OperatorFactory(), role=Membership.Role.OPERATOR_SUPPORT,
                              user=UserFactory(is_staff=True)).user
    board = MembershipFactory(organization=OrganizationFactory(), role=Membership.Role.ORG_ADMIN,
                              user=UserFactory(is_staff=True)).user
    pages = [reverse(f"admin:roaming_{model}_changelist") for model in ("ocpitoken", "ocpicommand", "ocpiclientinfo")]
    client.force_login(staff)
    for page in pages:
        assert client.get(page).status_code == 200, page
    assert "ABC" in client.get(pages[2]).content.decode()
    client.force_login(board)
    for page in pages:
        assert client.get(page).status_code == 403, page
    assert hub.client_infos.count() == 1
