"""OCPP 2.0.1 against a real daphne server."""

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from ocpp.v201 import call

from accounts.services.tokens import id_token_issue
from charging import commands
from charging.models import ChargePoint, ChargingSession, MeterSample
from charging.services.stations import charge_point_register
from tests.accounts.factories import OrganizationFactory
from tests.conformance.clients import Charger201, connected, exchange, raw_socket
from tests.conformance.test_ocpp16 import db, ts

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.conformance]
KEY = "another-authorization-key-42"
TOKEN = {"idToken": "04A23B1C", "type": "ISO14443"}


@pytest.fixture
def station(db):
    org = OrganizationFactory(name="BRF Tallbacken")
    charge_point = charge_point_register(identity="CP201-1", organization=org, evses=1, auth_key=KEY,
                                         acting_user=None, reason="test")
    id_token_issue(organization=org, uid="04A23B1C", acting_user=None, reason="test")
    return charge_point


def boot():
    return call.BootNotification(charging_station={"vendor_name": "Easee", "model": "Charge"}, reason="PowerUp")


def energy(moment, wh, context):
    return [{"timestamp": ts(moment), "sampledValue": [{"value": wh, "context": context,
                                                         "measurand": "Energy.Active.Import.Register"}]}]


def event(event_type, seq_no, tx, moment, wh, context, trigger, **extra):
    return [2, str(uuid.uuid4()), "TransactionEvent", {
        "eventType": event_type, "timestamp": ts(moment), "triggerReason": trigger, "seqNo": seq_no,
        "transactionInfo": {"transactionId": tx, **extra.pop("info", {})}, "evse": {"id": 1, "connectorId": 1},
        "meterValue": energy(moment, wh, context), **extra}]


async def test_boot_is_accepted(csms_server, station):
    async with connected(csms_server, station.identity, version="2.0.1", key=KEY, charger_class=Charger201) as cs:
        answer = await cs.call(boot())
        assert answer.status == "Accepted"
        assert answer.interval == 300
    stored = await db(ChargePoint.objects.get, pk=station.pk)
    assert (stored.vendor, stored.model, stored.ocpp_version) == ("Easee", "Charge", "2.0.1")


async def test_a_transaction_lifecycle_with_sequence_numbers(csms_server, station):
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    tx = uuid.uuid4().hex
    async with raw_socket(csms_server, station.identity, version="2.0.1", key=KEY) as socket:
        started = await exchange(socket, event("Started", 0, tx, start, 1000, "Transaction.Begin", "Authorized",
                                               idToken=TOKEN))
        assert started[0] == 3
        assert started[2]["idTokenInfo"]["status"] == "Accepted"
        for seq_no, minutes, wh in ((1, 15, 3000), (2, 30, 5500)):
            answer = await exchange(socket, event("Updated", seq_no, tx, start + timedelta(minutes=minutes), wh,
                                                  "Sample.Periodic", "MeterValuePeriodic"))
            assert answer[0] == 3
        ended = await exchange(socket, event("Ended", 3, tx, start + timedelta(minutes=45), 8500,
                                             "Transaction.End", "EVCommunicationLost",
                                             info={"stoppedReason": "EVDisconnected"}))
        assert ended[0] == 3
    session = await db(ChargingSession.objects.get, transaction_id=tx)
    assert (session.status, session.meter_start_wh, session.meter_stop_wh, session.energy_wh) == (
        "completed", 1000, 8500, 7500)
    assert session.stop_reason == "EVDisconnected"
    assert session.last_seq_no is not None


async def test_a_repeated_event_is_idempotent(csms_server, station):
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=20)
    tx = uuid.uuid4().hex
    started = event("Started", 0, tx, start, 0, "Transaction.Begin", "Authorized", idToken=TOKEN)
    updated = event("Updated", 1, tx, start + timedelta(minutes=15), 2000, "Sample.Periodic", "MeterValuePeriodic")
    async with raw_socket(csms_server, station.identity, version="2.0.1", key=KEY) as socket:
        for frame in (started, started, updated, updated):
            assert (await exchange(socket, frame))[0] == 3
    assert await db(ChargingSession.objects.count) == 1
    assert await db(MeterSample.objects.filter(timestamp=start + timedelta(minutes=15)).count) == 1


async def test_get_variables_and_remote_start_reach_the_station(csms_server, station, server_settings):
    async with connected(csms_server, station.identity, version="2.0.1", key=KEY, charger_class=Charger201) as cs:
        await cs.call(boot())
        cp = await db(ChargePoint.objects.get, pk=station.pk)
        variables = await db(commands.send, charge_point=cp, action="GetVariables", payload={"getVariableData": [
            {"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"}}]},
            acting_user=None, reason="Support check")
        assert variables.response["getVariableResult"][0]["attributeValue"] == "300"
        started = await db(commands.send, charge_point=cp, action="RequestStartTransaction",
                           payload={"idToken": TOKEN, "remoteStartId": 17, "evseId": 1}, acting_user=None,
                           reason="App request")
        assert started.response == {"status": "Accepted"}
    assert [action for action, _ in cs.received] == ["GetVariables", "RequestStartTransaction"]


async def test_garbage_gets_an_rpc_framework_error_and_the_connection_stays_up(csms_server, station):
    async with raw_socket(csms_server, station.identity, version="2.0.1", key=KEY) as socket:
        assert (await exchange(socket, "garbage"))[:3] == [4, "-1", "RpcFrameworkError"]
        assert (await exchange(socket, [9, "m1", "Heartbeat", {}]))[:3] == [4, "m1", "MessageTypeNotSupported"]
        assert (await exchange(socket, [2, "m2", "BootNotification", {"reason": "PowerUp"}]))[:3] == [
            4, "m2", "OccurrenceConstraintViolation"]
        assert (await exchange(socket, [2, "m3", "FooBar", {}]))[:3] == [4, "m3", "NotImplemented"]
        assert (await exchange(socket, [2, "m4", "Heartbeat", {}]))[0] == 3
