"""Pushes of locations and tariffs to eMSPs' Receiver endpoints: who gets them, the URLs and payloads (valid OCPI
objects), one pending row per object, backoff and giving up, the EVSE status PATCH from the charger listener, the
consistency job, and the admin's audited "Retry now". The receiving side is the independent test peer, over HTTP."""

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.utils import timezone

from accounts.models import AuditLogEntry, Membership
from accounts.services.organizations import user_grant_admin_access
from billing.services.tariffs import tariff_assign, tariff_create
from charging.models import ChargePoint
from roaming import tasks
from roaming.models import OcpiParty, OcpiPush
from roaming.services import pushes
from tests.accounts.factories import MembershipFactory, OrganizationFactory, UserFactory
from tests.charging.factories import ChargePointFactory, ConnectorFactory, EvseFactory, LocationFactory
from tests.conformance.ocpi.peer import EmspPeer
from tests.roaming import ocpi_schemas

pytestmark = pytest.mark.django_db

D = Decimal
CHANGED = datetime(2026, 11, 17, 8, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _ocpi_settings(settings):
    settings.OCPI_BASE_URL = "https://csms.test/ocpi"
    settings.OCPI_COUNTRY_CODE = "SE"
    settings.OCPI_PARTY_ID = "CSM"
    settings.OCPI_REQUEST_TIMEOUT = 3


@pytest.fixture
def peer():
    with EmspPeer() as running:
        running.token_for_cpo = "peer-token-for-cpo"
        yield running


def receiver_party(peer, *, modules=("locations", "tariffs"), status=OcpiParty.Status.REGISTERED, base=None,
                   party_id="EXA"):
    base = base or f"{peer.base_url}/emsp/2.2.1"
    return OcpiParty.objects.create(
        name=f"eMSP {party_id}", country_code="NL", party_id=party_id, role="EMSP", status=status, version="2.2.1",
        token_b=peer.token_for_cpo, endpoints={module: {"RECEIVER": f"{base}/{module}"} for module in modules})


@pytest.fixture
def site(db):
    org = OrganizationFactory()
    site = LocationFactory(organization=org, latitude=D("59.329323"), longitude=D("18.068581"),
                           created_at=datetime(2026, 1, 1, tzinfo=UTC))
    charge_point = ChargePointFactory(organization=org, location=site, access_mode=ChargePoint.AccessMode.PUBLIC,
                                      is_connected=True, created_at=datetime(2026, 1, 1, tzinfo=UTC))
    for number in (1, 2):
        evse = EvseFactory(charge_point=charge_point, evse_id=number)
        evse.public_id, evse.status_at = f"SE*CSM*E{charge_point.pk}X{number}", CHANGED
        evse.save()
        ConnectorFactory(evse=evse, connector_id=1, status="Available", status_at=CHANGED)
    return site


def _closed_port_base() -> str:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/ocpi/emsp/2.2.1"


def test_a_location_is_put_to_every_registered_receiver_only(peer, site, django_capture_on_commit_callbacks):
    receiver = receiver_party(peer)
    receiver_party(peer, modules=("sessions",), party_id="SES")  # no locations Receiver
    receiver_party(peer, status=OcpiParty.Status.SUSPENDED, party_id="SUS")
    receiver_party(peer, status=OcpiParty.Status.PLANNED, party_id="PLA")
    with django_capture_on_commit_callbacks(execute=True):
        assert pushes.location_push(location_id=site.pk) == 1
    [received] = peer.received
    assert (received.method, received.module, received.path) == ("PUT", "locations", f"SE/CSM/{site.pk}")
    ocpi_schemas.validate("Location", received.body)
    assert len(received.body["evses"]) == 2
    headers = {name.lower(): value for name, value in received.headers.items()}
    assert (headers["ocpi-to-party-id"], headers["ocpi-from-party-id"]) == ("EXA", "CSM")
    push = OcpiPush.objects.get()
    assert (push.party, push.status, push.attempts, push.sent_at is not None) == (receiver, "sent", 1, True)


def test_a_site_that_publishes_nothing_is_not_pushed(peer, site, django_capture_on_commit_callbacks):
    receiver_party(peer)
    ChargePoint.objects.filter(location=site).update(access_mode=ChargePoint.AccessMode.SEMI_PUBLIC)
    with django_capture_on_commit_callbacks(execute=True):
        assert pushes.location_push(location_id=site.pk) == 0
    assert peer.received == []
    assert not OcpiPush.objects.exists()


def test_an_evse_status_change_is_patched_once_with_last_updated(peer, site, django_capture_on_commit_callbacks):
    receiver_party(peer)
    charge_point = site.charge_points.get()
    evse = charge_point.evses.get(evse_id=2)
    connector = evse.connectors.get()
    connector.status, connector.status_at = "Charging", CHANGED + timedelta(minutes=5)
    connector.save()
    with django_capture_on_commit_callbacks(execute=True):
        assert tasks.push_evse_status_task(charge_point.pk) == 2  # neither EVSE was pushed before
    patches = {item.path: item.body for item in peer.received}
    assert patches[f"SE/CSM/{site.pk}/{evse.pk}"] == {"status": "CHARGING", "last_updated": "2026-11-17T08:05:00Z"}
    assert all(item.method == "PATCH" for item in peer.received)
    # the charger reports again (meter values, the same status): nothing new to say
    with django_capture_on_commit_callbacks(execute=True):
        assert tasks.push_evse_status_task(charge_point.pk) == 0
    connector.status = "Finishing"
    connector.save()
    with django_capture_on_commit_callbacks(execute=True):
        assert tasks.push_evse_status_task(charge_point.pk) == 1
    assert peer.received[-1].body["status"] == "BLOCKED"


def test_one_pending_row_per_object_backoff_and_giving_up(peer, site, django_capture_on_commit_callbacks, caplog):
    party = receiver_party(peer, base=_closed_port_base())
    with django_capture_on_commit_callbacks(execute=True):
        pushes.location_push(location_id=site.pk)
    push = OcpiPush.objects.get()
    assert (push.status, push.attempts) == ("pending", 1)
    assert "could not be reached" in push.last_error
    first_due = push.next_attempt_at
    assert timedelta(seconds=55) < first_due - timezone.now() <= timedelta(seconds=60)

    # a later change refreshes the pending row instead of adding one (and tries at once)
    connector = site.charge_points.get().evses.get(evse_id=1).connectors.get()
    connector.status = "Faulted"
    connector.save()
    with django_capture_on_commit_callbacks(execute=True):
        pushes.location_push(location_id=site.pk)
    push.refresh_from_db()
    assert OcpiPush.objects.count() == 1
    assert push.payload["evses"][0]["status"] == "OUTOFORDER"
    assert push.attempts == 2
    assert timedelta(seconds=295) < push.next_attempt_at - timezone.now() <= timedelta(seconds=300)

    # not due yet: the periodic task leaves it alone
    assert tasks.pushes_send_due_task() == 0
    delays = []
    with caplog.at_level(logging.WARNING, logger="roaming.services.pushes"):
        while push.status == "pending":
            OcpiPush.objects.filter(pk=push.pk).update(next_attempt_at=timezone.now())
            before = timezone.now()
            assert tasks.pushes_send_due_task() == 1
            push.refresh_from_db()
            if push.status == "pending":
                delays.append(round((push.next_attempt_at - before).total_seconds() / 60))
    assert delays == [30, 120, 720]
    assert (push.status, push.attempts) == ("given_up", 6)
    assert "given up after 6 attempts" in caplog.text
    assert tasks.pushes_send_due_task() == 0
    # a new change starts a new pending row; the given-up one stays for the record
    party.endpoints = {"locations": {"RECEIVER": f"{peer.base_url}/emsp/2.2.1/locations"}}
    party.save()
    with django_capture_on_commit_callbacks(execute=True):
        pushes.location_push(location_id=site.pk)
    assert list(OcpiPush.objects.order_by("pk").values_list("status", flat=True)) == ["given_up", "sent"]
    assert len(peer.received) == 1


def test_the_charger_listener_queues_the_task_without_touching_the_database(monkeypatch, site):
    calls = []
    monkeypatch.setattr(tasks.push_evse_status_task, "delay", lambda *args: calls.append(args))
    charge_point = site.charge_points.get()

    async def in_the_event_loop():
        pushes.on_status_message(charge_point, "1.6", "Heartbeat", {})
        pushes.on_status_message(charge_point, "1.6", "StatusNotification", {"connectorId": 1})
        pushes.on_status_message(charge_point, "2.0.1", "TransactionEvent", {"eventType": "Updated"})
        pushes.on_status_message(charge_point, "2.0.1", "TransactionEvent", {"eventType": "Started"})
        await asyncio.sleep(0.2)  # the executor thread hands the task to the broker

    asyncio.run(in_the_event_loop())
    assert calls == [(charge_point.pk,), (charge_point.pk,)]  # not for Heartbeat nor an Updated event


def test_the_listener_is_registered():
    from charging.ocpp.gateway import _message_listeners

    assert pushes.on_status_message in _message_listeners


def test_the_consistency_job_repushes_what_changed_since_its_last_run(peer, site, django_capture_on_commit_callbacks):
    from django.core.cache import cache

    cache.delete("roaming:locations_consistency:last_run")
    receiver_party(peer)
    connector = site.charge_points.get().evses.get(evse_id=1).connectors.get()
    connector.status_at = timezone.now() - timedelta(minutes=5)
    connector.save()
    with django_capture_on_commit_callbacks(execute=True):
        assert tasks.locations_consistency_task() == 1
    assert [item.path for item in peer.received] == [f"SE/CSM/{site.pk}"]
    with django_capture_on_commit_callbacks(execute=True):
        assert tasks.locations_consistency_task() == 0
    connector.status, connector.status_at = "Charging", timezone.now()
    connector.save()
    with django_capture_on_commit_callbacks(execute=True):
        assert tasks.locations_consistency_task() == 1
    assert peer.received[-1].body["evses"][0]["status"] == "CHARGING"


def test_tariffs_are_put_to_tariff_receivers(peer, site, django_capture_on_commit_callbacks):
    receiver_party(peer)
    now = timezone.now()
    tariff = tariff_create(organization=site.organization, name="Publik", currency="SEK", acting_user=None,
                           reason="test", now=now - timedelta(days=2), energy_price_ac=D("2.50"), vat_rate=D(25))
    tariff_assign(tariff=tariff, charge_point=site.charge_points.get(), valid_from=now - timedelta(days=1),
                  acting_user=None, reason="test", now=now - timedelta(days=1))
    with django_capture_on_commit_callbacks(execute=True):
        assert tasks.tariffs_push_task() == 1
    [received] = peer.received
    assert (received.method, received.module, received.path) == ("PUT", "tariffs", f"SE/CSM/{tariff.pk}-AC")
    ocpi_schemas.validate("Tariff", received.body)
    assert received.body["elements"][0]["price_components"][0]["price"] == 2.0


def test_an_operator_retries_a_given_up_push_with_a_reason(client, peer, site, django_capture_on_commit_callbacks):
    party = receiver_party(peer)
    push = OcpiPush.objects.create(party=party, module="locations", object_id=str(site.pk), method="PUT",
                                   url=f"{peer.base_url}/emsp/2.2.1/locations/SE/CSM/{site.pk}",
                                   payload={"id": str(site.pk)}, status=OcpiPush.Status.GIVEN_UP, attempts=6,
                                   last_error="unreachable")
    operator = UserFactory(is_staff=True, is_superuser=True)
    client.force_login(operator)
    assert client.get("/admin/roaming/ocpipush/").status_code == 200
    assert client.get(f"/admin/roaming/ocpipush/{push.pk}/change/").status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/admin/roaming/ocpipush/", {"action": "retry_now", ACTION_CHECKBOX_NAME: [push.pk],
                                                            "apply": "1", "reason": "Partner back online"})
    assert response.status_code == 302
    push.refresh_from_db()
    assert (push.status, push.attempts, push.last_error) == ("sent", 1, "")
    assert [item.path for item in peer.received] == [f"SE/CSM/{site.pk}"]
    entry = AuditLogEntry.objects.get(action="roaming.push_retried")
    assert (entry.actor, entry.reason) == (operator, "Partner back online")
    # a delivered push is not sent again
    with django_capture_on_commit_callbacks(execute=True):
        client.post("/admin/roaming/ocpipush/", {"action": "retry_now", ACTION_CHECKBOX_NAME: [push.pk],
                                                 "apply": "1", "reason": "again"})
    assert len(peer.received) == 1
    assert AuditLogEntry.objects.filter(action="roaming.push_retried").count() == 1
    # without a reason nothing happens
    push.status = OcpiPush.Status.GIVEN_UP
    push.save()
    client.post("/admin/roaming/ocpipush/", {"action": "retry_now", ACTION_CHECKBOX_NAME: [push.pk], "apply": "1",
                                             "reason": ""})
    push.refresh_from_db()
    assert push.status == "given_up"


def test_the_push_log_is_read_only_and_hidden_from_board_members(client, peer, site):
    party = receiver_party(peer)
    OcpiPush.objects.create(party=party, module="locations", object_id="1", method="PUT", url="http://x/", payload={})
    operator = UserFactory(is_staff=True, is_superuser=True)
    client.force_login(operator)
    assert client.get("/admin/roaming/ocpipush/add/").status_code == 403
    org = OrganizationFactory()
    board = MembershipFactory(organization=org, role=Membership.Role.ORG_ADMIN, user=UserFactory()).user
    user_grant_admin_access(user=board, organization=org, acting_user=None, reason="test")
    client.force_login(board)
    assert client.get("/admin/roaming/ocpipush/").status_code == 403
