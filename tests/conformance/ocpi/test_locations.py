"""Locations over real HTTP between our app (pytest-django's live server) and the independent eMSP peer: GET with
pagination across 250 EVSEs, token A refused, and an EVSE status change at a live OCPP charger (the daphne server
process) reaching the peer as a PATCH.

About the push: the daphne process runs the charger listener, which queues push_evse_status_task on the broker —
and no Celery worker runs in the tests. So this test plays the worker: once the server has recorded the charger's
status, it runs the same task in this process (Celery is eager here), which PATCHes the peer over HTTP. What is
measured is charger StatusNotification → PATCH at the peer, worker pickup excepted; that the listener queues the
task is covered by tests/roaming/test_pushes.py.
"""

import asyncio
import re
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from asgiref.sync import sync_to_async
from django.db import connection
from ocpp.v16 import call as ocpp

from charging.models import ChargePoint, Connector, Evse
from charging.services.stations import charge_point_register
from roaming import tasks
from roaming.models import OcpiParty, OcpiPush, hash_token
from roaming.services.credentials import party_issue_token_a
from tests.accounts.factories import OrganizationFactory
from tests.charging.factories import ChargePointFactory, ConnectorFactory, EvseFactory, LocationFactory
from tests.conformance.clients import connected
from tests.conformance.ocpi.peer import EmspPeer, call
from tests.roaming import ocpi_schemas

pytestmark = [pytest.mark.conformance, pytest.mark.django_db(transaction=True)]

KEY = "secret-authorization-key-0123"
D = Decimal


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


def registered(ocpi_url, peer) -> OcpiParty:
    party = OcpiParty.objects.create(name="Example eMSP")
    token_a = party_issue_token_a(party=party, acting_user=None, reason="Onboarding")
    answer = peer.register_with(f"{ocpi_url}/versions", token_a)
    assert (answer.http_status, answer.status_code) == (200, 1000), answer.body
    party.refresh_from_db()
    return party


def db(func, *args, **kwargs):
    def run():
        try:
            return func(*args, **kwargs)
        finally:
            connection.close()

    return sync_to_async(run, thread_sensitive=False)()


def test_the_peer_pages_through_250_evses_and_token_a_is_refused(ocpi_url, peer):
    org = OrganizationFactory()
    changed = datetime(2026, 11, 17, 8, 0, tzinfo=UTC)
    for index in range(25):
        site = LocationFactory(organization=org, latitude=D("59.329323"), longitude=D("18.068581"))
        charge_point = ChargePointFactory(organization=org, location=site, is_connected=True,
                                          access_mode=ChargePoint.AccessMode.PUBLIC)
        for number in range(1, 11):
            evse = EvseFactory(charge_point=charge_point, evse_id=number)
            Evse.objects.filter(pk=evse.pk).update(public_id=f"SE*CSM*E{charge_point.pk}X{number}")
            ConnectorFactory(evse=evse, status="Available", status_at=changed + timedelta(minutes=index))
    semi = LocationFactory(organization=org, latitude=D("59.3"), longitude=D("18.0"))
    hidden = EvseFactory(charge_point=ChargePointFactory(organization=org, location=semi, is_connected=True,
                                                         access_mode=ChargePoint.AccessMode.SEMI_PUBLIC))
    Evse.objects.filter(pk=hidden.pk).update(public_id="SE*CSM*EHIDDEN1")

    token_a = peer.issue_token_a()  # a second party, still at token A
    OcpiParty.objects.create(name="Other", token_a_hash=hash_token(token_a))
    party = registered(ocpi_url, peer)
    assert party.status == OcpiParty.Status.REGISTERED
    url = peer.cpo_endpoints["locations"]["SENDER"]
    assert url == f"{ocpi_url}/cpo/2.2.1/locations"

    objects, totals = [], set()
    next_url = f"{url}?limit=10&date_from=2026-11-17T08:00:00Z"
    while next_url:
        answer = call("GET", next_url, token=peer.token_to_cpo)
        assert (answer.http_status, answer.status_code) == (200, 1000), answer.body
        totals.add((answer.headers["X-Total-Count"], answer.headers["X-Limit"]))
        objects += answer.data
        link = answer.headers.get("Link")
        next_url = re.fullmatch(r'<([^>]+)>; rel="next"', link).group(1) if link else None
        if next_url:
            assert "date_from=2026-11-17T08%3A00%3A00Z" in next_url
    assert totals == {("25", "10")}
    for data in objects:
        ocpi_schemas.validate("Location", data)
    evse_ids = [evse["evse_id"] for data in objects for evse in data["evses"]]
    assert len(evse_ids) == len(set(evse_ids)) == 250
    assert "SE*CSM*EHIDDEN1" not in evse_ids

    answer = call("GET", url, token=token_a)
    assert (answer.http_status, answer.status_code) == (401, 2000)
    assert call("GET", url, token=None).http_status == 401


async def test_a_status_change_at_a_live_charger_reaches_the_peer_as_a_patch(csms_server, ocpi_url, peer):
    def setup():
        org = OrganizationFactory()
        site = LocationFactory(organization=org, latitude=D("59.329323"), longitude=D("18.068581"))
        charge_point = charge_point_register(identity="CP-OCPI-1", organization=org, evses=2, auth_key=KEY,
                                             display_name="Laddplats 01", acting_user=None, reason="test")
        ChargePoint.objects.filter(pk=charge_point.pk).update(location=site,
                                                              access_mode=ChargePoint.AccessMode.PUBLIC)
        for evse in charge_point.evses.all():
            Evse.objects.filter(pk=evse.pk).update(public_id=f"SE*CSM*E{charge_point.pk}X{evse.evse_id}")
        return site, charge_point, registered(ocpi_url, peer)

    site, charge_point, party = await db(setup)
    evse = await db(Evse.objects.get, charge_point=charge_point, evse_id=1)

    def recorded(status):
        return Connector.objects.filter(evse=evse, status=status).exists() or \
            Evse.objects.filter(pk=evse.pk, status=status).exists()

    async with connected(csms_server, charge_point.identity, key=KEY) as charger:
        await charger.call(ocpp.BootNotification(charge_point_vendor="Zaptec", charge_point_model="Go"))
        started = time.monotonic()
        await charger.call(ocpp.StatusNotification(connector_id=1, error_code="NoError", status="Charging"))
        # The server has answered; its listener queued the task for a worker. Be that worker.
        while not await db(recorded, "Charging"):
            assert time.monotonic() - started < 5, "the server did not record the status"
            await asyncio.sleep(0.05)
        await db(tasks.push_evse_status_task, charge_point.pk)
        elapsed = time.monotonic() - started

    patches = [item for item in peer.received if item.method == "PATCH"]
    assert elapsed < 5
    target = next(item for item in patches if item.path == f"SE/CSM/{site.pk}/{evse.pk}")
    assert target.body["status"] == "CHARGING"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", target.body["last_updated"])
    push = await db(OcpiPush.objects.get, party=party, object_id=f"{site.pk}/{evse.pk}")
    assert (push.status, push.method) == ("sent", "PATCH")
