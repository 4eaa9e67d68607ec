"""Remote actions of the operations console against a real daphne server, with simulated OCPP 1.6 and 2.0.1
chargers on real websockets: the services in charging.services.remote are called from this process and travel
over Redis to the server process holding the charger's socket."""

import asyncio
import uuid

import pytest
from django.utils import timezone
from ocpp.v16 import call as call16
from ocpp.v201 import call as call201

from accounts.models import IdToken
from accounts.services.tokens import id_token_issue
from charging.models import Alarm, ChargePoint, RemoteCommand
from charging.services import remote
from charging.services.stations import charge_point_register
from tests.accounts.factories import OrganizationFactory, UserFactory
from tests.conformance.clients import Charger16, Charger201, connected
from tests.conformance.test_ocpp16 import db

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.conformance]
KEY = "remote-actions-authorization-key"
VERSIONS = ["1.6", "2.0.1"]
CHARGER = {"1.6": Charger16, "2.0.1": Charger201}


@pytest.fixture
def org(db):
    return OrganizationFactory(name="BRF Vintergatan")


@pytest.fixture
def support(db):
    return UserFactory(email="support@example.com", is_staff=True)


@pytest.fixture
def tag(org):
    return id_token_issue(organization=org, uid="04A23B1C", acting_user=None, reason="test")


def _register(org, version: str) -> ChargePoint:
    return charge_point_register(identity=f"RA-{version}-{uuid.uuid4().hex[:6]}", organization=org, evses=2,
                                 auth_key=KEY, acting_user=None, reason="test")


def boot(version: str):
    if version == "1.6":
        return call16.BootNotification(charge_point_vendor="Zaptec", charge_point_model="Go")
    return call201.BootNotification(charging_station={"vendor_name": "Easee", "model": "Charge"}, reason="PowerUp")


async def booted(charger, station, version: str) -> ChargePoint:
    assert (await charger.call(boot(version))).status == "Accepted"
    return await db(ChargePoint.objects.get, pk=station.pk)


@pytest.mark.parametrize("version", VERSIONS)
async def test_reset_unlock_availability_and_trigger(csms_server, server_settings, org, support, version):
    station = await db(_register, org, version)
    async with connected(csms_server, station.identity, version=version, key=KEY,
                         charger_class=CHARGER[version]) as charger:
        cp = await booted(charger, station, version)
        reset = await db(remote.reset, charge_point=cp, hard=False, acting_user=support, reason="Hung display")
        unlock = await db(remote.unlock, charge_point=cp, evse_number=2, acting_user=support, reason="Cable stuck")
        availability = await db(remote.change_availability, charge_point=cp, evse_number=1, operative=False,
                                acting_user=support, reason="Broken socket")
        trigger = await db(remote.trigger_message, charge_point=cp, message="StatusNotification", evse_number=1,
                           acting_user=support, reason="Refresh")
    assert [remote.answer_status(c) for c in (reset, unlock, availability, trigger)] == [
        "Accepted", "Unlocked", "Accepted", "Accepted"]
    if version == "1.6":
        assert charger.received == [
            ("Reset", {"type": "Soft"}), ("UnlockConnector", {"connector_id": 2}),
            ("ChangeAvailability", {"connector_id": 1, "type": "Inoperative"}),
            ("TriggerMessage", {"requested_message": "StatusNotification"})]
    else:
        assert charger.received == [
            ("Reset", {"type": "OnIdle"}), ("UnlockConnector", {"evse_id": 2, "connector_id": 1}),
            ("ChangeAvailability", {"operational_status": "Inoperative", "evse": {"id": 1}}),
            ("TriggerMessage", {"requested_message": "StatusNotification", "evse": {"id": 1}})]
    stored = await db(list, RemoteCommand.objects.filter(charge_point=station).values_list("requested_by", "status"))
    assert stored == [(support.pk, "answered")] * 4


async def test_a_1_6_configuration_is_read_and_changed(csms_server, server_settings, org, support):
    station = await db(_register, org, "1.6")
    async with connected(csms_server, station.identity, key=KEY) as charger:
        cp = await booted(charger, station, "1.6")
        await db(remote.configuration_read, charge_point=cp, acting_user=support, reason="Check",
                 now=timezone.now())
        cp = await db(ChargePoint.objects.get, pk=station.pk)
        assert cp.configuration == {"HeartbeatInterval": {"value": "300", "readonly": False}}
        changed = await db(remote.configuration_change, charge_point=cp,
                           setting=remote.Setting(name="HeartbeatInterval"), value="120", acting_user=support,
                           reason="Faster offline detection", now=timezone.now())
    assert changed.response == {"status": "Accepted"}
    assert charger.received[-1] == ("ChangeConfiguration", {"key": "HeartbeatInterval", "value": "120"})
    cp = await db(ChargePoint.objects.get, pk=station.pk)
    assert cp.configuration["HeartbeatInterval"]["value"] == "120"


async def test_a_2_0_1_device_model_is_reported_and_a_variable_set(csms_server, server_settings, org, support):
    station = await db(_register, org, "2.0.1")
    async with connected(csms_server, station.identity, version="2.0.1", key=KEY, charger_class=Charger201) as cs:
        cp = await booted(cs, station, "2.0.1")
        report = await db(remote.configuration_read, charge_point=cp, acting_user=support, reason="Inventory",
                          now=timezone.now())
        assert report.response == {"status": "Accepted"}
        cp = await _until(lambda: ChargePoint.objects.get(pk=station.pk),
                          lambda row: "OCPPCommCtrlr/HeartbeatInterval" in row.device_model)
        assert cp.device_model["Connector/1/ConnectorType"]["attributes"][0]["value"] == "cType2"
        changed = await db(remote.configuration_change, charge_point=cp,
                           setting=remote.Setting(name="HeartbeatInterval", component="OCPPCommCtrlr"), value="900",
                           acting_user=support, reason="Fewer heartbeats", now=timezone.now())
        assert remote.answer_status(changed) == "Accepted"
        assert cs.heartbeat_interval == "900"
    cp = await db(ChargePoint.objects.get, pk=station.pk)
    assert cp.device_model["OCPPCommCtrlr/HeartbeatInterval"]["attributes"][0]["value"] == "900"


@pytest.mark.parametrize("version", VERSIONS)
async def test_the_local_list_holds_the_organizations_tags(csms_server, server_settings, org, support, tag,
                                                           version):
    await db(id_token_issue, organization=org, uid="0A0B0C0D", status=IdToken.Status.BLOCKED, acting_user=None,
             reason="Lost")
    station = await db(_register, org, version)
    async with connected(csms_server, station.identity, version=version, key=KEY,
                         charger_class=CHARGER[version]) as charger:
        cp = await booted(charger, station, version)
        command = await db(remote.send_local_list, charge_point=cp, full=True, acting_user=support,
                           reason="Commissioning", now=timezone.now())
    assert command.response == {"status": "Accepted"}
    [(action, sent)] = charger.received
    assert (action, sent["update_type"]) == ("SendLocalList", "Full")
    entries = sent["local_authorization_list"]
    if version == "1.6":
        assert sent["list_version"] == 1
        assert entries == [{"id_tag": "04A23B1C", "id_tag_info": {"status": "Accepted"}}]
    else:
        assert sent["version_number"] == 1
        assert entries == [{"id_token": {"id_token": "04A23B1C", "type": "ISO14443"},
                            "id_token_info": {"status": "Accepted"}}]


@pytest.mark.parametrize("version", VERSIONS)
async def test_a_rejected_remote_start_opens_a_session_failed_to_start_alarm(csms_server, server_settings, org,
                                                                              support, tag, version):
    station = await db(_register, org, version)
    action = "RemoteStartTransaction" if version == "1.6" else "RequestStartTransaction"
    async with connected(csms_server, station.identity, version=version, key=KEY, charger_class=CHARGER[version],
                         answers={action: "Rejected"}) as charger:
        cp = await booted(charger, station, version)
        command = await db(remote.remote_start, charge_point=cp, id_token=tag, evse_number=1, acting_user=support,
                           reason="Driver's app fails", now=timezone.now())
    assert command.response["status"] == "Rejected"
    assert charger.received[0][0] == action
    alarm = await db(Alarm.objects.get, charge_point=station)
    assert (alarm.kind, alarm.evse_number, alarm.closed_at) == (Alarm.Kind.SESSION_FAILED_TO_START, 1, None)


@pytest.mark.parametrize("version", VERSIONS)
async def test_the_connectivity_test_returns_a_round_trip_time(csms_server, server_settings, org, support, version):
    station = await db(_register, org, version)
    async with connected(csms_server, station.identity, version=version, key=KEY,
                         charger_class=CHARGER[version]) as charger:
        cp = await booted(charger, station, version)
        result = await db(remote.connectivity_test, charge_point=cp, acting_user=support, reason="Flapping?")
    assert 0 < result.round_trip_ms < 5000
    assert [(a, p["requested_message"]) for a, p in charger.received] == [
        ("TriggerMessage", "Heartbeat"), ("TriggerMessage", "StatusNotification")]
    assert (result.heartbeat.status, result.status.status) == ("answered", "answered")


async def _until(read, done, seconds: float = 10.0):
    """Poll the database until ``done(read())``: what the charger reports after answering is stored later."""
    deadline = asyncio.get_running_loop().time() + seconds
    while True:
        value = await db(read)
        if done(value) or asyncio.get_running_loop().time() > deadline:
            return value
        await asyncio.sleep(0.1)
