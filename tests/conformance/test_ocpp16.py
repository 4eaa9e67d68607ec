"""OCPP 1.6J against a real daphne server, in the style of the OCA test cases."""

import asyncio
import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest
import websockets
from asgiref.sync import sync_to_async
from django.db import connection
from ocpp.v16 import call

from accounts.models import IdToken
from accounts.services.tokens import id_token_issue
from charging import commands
from charging.models import (
    Alarm,
    AuthorizationAttempt,
    ChargePoint,
    ChargingSession,
    MeterSample,
    OcppFrame,
    OrphanTransactionStop,
    RemoteCommand,
)
from charging.services.stations import charge_point_register
from tests.accounts.factories import OrganizationFactory
from tests.conformance.clients import connected, exchange, raw_socket
from tests.conftest import _database_url

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.conformance]
KEY = "secret-authorization-key-0123"


def ts(moment: datetime | None = None) -> str:
    return (moment or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


@pytest.fixture
def station(db):
    org = OrganizationFactory(name="BRF Solrosen")
    charge_point = charge_point_register(identity="CP16-1", organization=org, evses=2, auth_key=KEY,
                                         display_name="Laddplats 01", acting_user=None, reason="test")
    id_token_issue(organization=org, uid="04A23B1C", acting_user=None, reason="test")
    return charge_point


def db(func, *args, **kwargs):
    """Run ORM code from an async test in a worker thread, closing that thread's connection afterwards (an open
    one would keep PostgreSQL from dropping the test database)."""

    def run():
        try:
            return func(*args, **kwargs)
        finally:
            connection.close()

    return sync_to_async(run, thread_sensitive=True)()


def boot():
    return call.BootNotification(charge_point_vendor="Zaptec", charge_point_model="Go", firmware_version="1.2.3")


async def test_cold_boot_is_accepted_with_the_heartbeat_interval(csms_server, station):
    async with connected(csms_server, station.identity, key=KEY) as charger:
        answer = await charger.call(boot())
        assert answer.status == "Accepted"
        assert answer.interval == 300
        heartbeat = await charger.call(call.Heartbeat())
        assert heartbeat.current_time.endswith("Z")
    stored = await db(ChargePoint.objects.get, pk=station.pk)
    assert (stored.vendor, stored.model, stored.firmware_version, stored.ocpp_version) == (
        "Zaptec", "Go", "1.2.3", "1.6")
    assert stored.last_boot_at is not None


@pytest.mark.parametrize("registration", ["Pending", "Rejected"])
async def test_boot_answers_the_registration_status(csms_server, station, registration):
    await db(ChargePoint.objects.filter(pk=station.pk).update, registration_status=registration)
    async with connected(csms_server, station.identity, key=KEY) as charger:
        answer = await charger.call(boot())
        assert answer.status == registration
        assert answer.interval == 60


async def test_a_pending_charger_gets_no_remote_start(csms_server, station, server_settings):
    await db(ChargePoint.objects.filter(pk=station.pk).update, registration_status="Pending")
    async with connected(csms_server, station.identity, key=KEY) as charger:
        await charger.call(boot())
        cp = await db(ChargePoint.objects.get, pk=station.pk)
        with pytest.raises(commands.CommandFailed) as failure:
            await db(commands.send, charge_point=cp, action="RemoteStartTransaction",
                     payload={"idTag": "04A23B1C"}, acting_user=None, reason="test")
    assert failure.value.command.status == RemoteCommand.Status.REFUSED
    assert charger.received == []


async def test_a_regular_charging_session_with_periodic_meter_values(csms_server, station):
    start = datetime.now(UTC).replace(microsecond=0)
    async with connected(csms_server, station.identity, key=KEY) as charger:
        await charger.call(boot())
        assert (await charger.call(call.Authorize(id_tag="04a23b1c"))).id_tag_info["status"] == "Accepted"
        await charger.call(call.StatusNotification(connector_id=1, error_code="NoError", status="Preparing"))
        started = await charger.call(call.StartTransaction(connector_id=1, id_tag="04A23B1C", meter_start=1000,
                                                           timestamp=ts(start)))
        assert started.id_tag_info["status"] == "Accepted"
        tx = started.transaction_id
        await charger.call(call.StatusNotification(connector_id=1, error_code="NoError", status="Charging"))
        for minutes, kwh in ((15, "3.2"), (30, "5.75")):
            await charger.call(call.MeterValues(connector_id=1, transaction_id=tx, meter_value=[{
                "timestamp": ts(start + timedelta(minutes=minutes)),
                "sampledValue": [
                    {"value": kwh, "unit": "kWh", "context": "Sample.Clock"},
                    {"value": "16.1", "measurand": "Current.Import", "unit": "A", "phase": "L1"},
                    {"value": "23.5", "measurand": "Temperature", "unit": "Celcius"},
                ]}]))
        stopped = await charger.call(call.StopTransaction(meter_stop=8500, timestamp=ts(start + timedelta(hours=1)),
                                                          transaction_id=tx, id_tag="04A23B1C", reason="Local"))
        assert stopped.id_tag_info["status"] == "Accepted"
    session = await db(ChargingSession.objects.get, transaction_id=str(tx))
    assert (session.status, session.meter_start_wh, session.meter_stop_wh, session.energy_wh) == (
        "completed", 1000, 8500, 7500)
    assert session.started_at == start
    samples = await db(lambda: list(MeterSample.objects.filter(session=session).values_list(
        "measurand", "unit", "value", "phase")))
    assert ("Energy.Active.Import.Register", "Wh", 5750, "") in [(m, u, int(v), p) for m, u, v, p in samples]
    assert ("Temperature", "Celsius") in [(m, u) for m, u, _, _ in samples]
    assert len(samples) == 6


@pytest.mark.parametrize(
    ("setup", "expected"),
    [("unknown", "Invalid"), ("blocked", "Blocked"), ("expired", "Expired"), ("other_org", "Invalid")],
    ids=["unknown-tag", "blocked-tag", "expired-tag", "tag-of-another-organization"],
)
async def test_authorize_refuses_bad_tags(csms_server, station, setup, expected):
    uid = {"unknown": "DEADBEEF", "blocked": "04A23B1C", "expired": "04A23B1C", "other_org": "0A0B0C0D"}[setup]

    def prepare():
        if setup == "blocked":
            IdToken.objects.filter(uid=uid).update(status="blocked")
        elif setup == "expired":
            IdToken.objects.filter(uid=uid).update(valid_until=datetime.now(UTC) - timedelta(days=1))
        elif setup == "other_org":
            id_token_issue(organization=OrganizationFactory(), uid=uid, acting_user=None, reason="x")

    await db(prepare)
    async with connected(csms_server, station.identity, key=KEY) as charger:
        await charger.call(boot())
        answer = await charger.call(call.Authorize(id_tag=uid))
    assert answer.id_tag_info["status"] == expected
    attempt = await db(AuthorizationAttempt.objects.filter(id_token_uid=uid).latest, "at")
    assert attempt.purpose == "authorize"
    assert attempt.status != "Accepted"


async def test_remote_start_and_stop_reach_the_charger(csms_server, station, server_settings):
    async with connected(csms_server, station.identity, key=KEY) as charger:
        await charger.call(boot())
        cp = await db(ChargePoint.objects.get, pk=station.pk)
        started = await db(commands.send, charge_point=cp, action="RemoteStartTransaction",
                           payload={"idTag": "04A23B1C", "connectorId": 1}, acting_user=None, reason="App request")
        assert started.response == {"status": "Accepted"}
        stopped = await db(commands.send, charge_point=cp, action="RemoteStopTransaction",
                           payload={"transactionId": 42}, acting_user=None, reason="App request")
        assert stopped.response == {"status": "Accepted"}
    assert [action for action, _ in charger.received] == ["RemoteStartTransaction", "RemoteStopTransaction"]
    stored = await db(lambda: list(RemoteCommand.objects.values_list("action", "status", "reason")))
    assert sorted(stored) == [("RemoteStartTransaction", "answered", "App request"),
                              ("RemoteStopTransaction", "answered", "App request")]


async def test_a_rejected_remote_start_is_recorded_with_the_chargers_answer(csms_server, station, server_settings):
    async with connected(csms_server, station.identity, key=KEY,
                         answers={"RemoteStartTransaction": "Rejected"}) as charger:
        await charger.call(boot())
        cp = await db(ChargePoint.objects.get, pk=station.pk)
        command = await db(commands.send, charge_point=cp, action="RemoteStartTransaction",
                           payload={"idTag": "04A23B1C"}, acting_user=None, reason="x")
    assert command.response == {"status": "Rejected"}


async def test_a_command_to_an_offline_charger_fails_fast(csms_server, station, server_settings):
    started = asyncio.get_running_loop().time()
    with pytest.raises(commands.CommandFailed) as failure:
        await db(commands.send, charge_point=station, action="Reset", payload={"type": "Soft"}, acting_user=None,
                 reason="x")
    assert failure.value.command.status == RemoteCommand.Status.OFFLINE
    assert asyncio.get_running_loop().time() - started < 1


@pytest.mark.parametrize(
    ("action", "payload", "expected"),
    [
        ("Reset", {"type": "Hard"}, {"status": "Accepted"}),
        ("UnlockConnector", {"connectorId": 1}, {"status": "Unlocked"}),
        ("ChangeConfiguration", {"key": "MeterValueSampleInterval", "value": "900"}, {"status": "Accepted"}),
        ("GetConfiguration", {"key": ["HeartbeatInterval", "Nope"]},
         {"configurationKey": [{"key": "HeartbeatInterval", "readonly": False, "value": "300"}],
          "unknownKey": ["Nope"]}),
        ("SendLocalList", {"listVersion": 8, "updateType": "Full",
                           "localAuthorizationList": [{"idTag": "04A23B1C", "idTagInfo": {"status": "Accepted"}}]},
         {"status": "Accepted"}),
        ("GetLocalListVersion", {}, {"listVersion": 7}),
        ("ReserveNow", {"connectorId": 1, "expiryDate": "2030-01-01T00:00:00Z", "idTag": "04A23B1C",
                        "reservationId": 5}, {"status": "Accepted"}),
        ("CancelReservation", {"reservationId": 5}, {"status": "Accepted"}),
        ("TriggerMessage", {"requestedMessage": "StatusNotification", "connectorId": 1}, {"status": "Accepted"}),
        ("ChangeAvailability", {"connectorId": 0, "type": "Inoperative"}, {"status": "Accepted"}),
        ("ClearCache", {}, {"status": "Accepted"}),
        ("GetDiagnostics", {"location": "ftp://diag.example.com/"}, {"fileName": "diagnostics.zip"}),
        ("UpdateFirmware", {"location": "https://fw.example.com/1.3.bin", "retrieveDate": "2030-01-01T00:00:00Z"},
         {}),
        ("SetChargingProfile", {"connectorId": 1, "csChargingProfiles": {
            "chargingProfileId": 3, "stackLevel": 0, "chargingProfilePurpose": "TxDefaultProfile",
            "chargingProfileKind": "Absolute", "chargingSchedule": {"chargingRateUnit": "A", "chargingSchedulePeriod": [
                {"startPeriod": 0, "limit": 16.1}]}}}, {"status": "Accepted"}),
        ("ClearChargingProfile", {"id": 3}, {"status": "Accepted"}),
        ("GetCompositeSchedule", {"connectorId": 1, "duration": 3600}, {"status": "Accepted", "connectorId": 1}),
        ("DataTransfer", {"vendorId": "com.example"}, {"status": "UnknownVendorId"}),
    ],
    ids=lambda value: value if isinstance(value, str) else None,
)
async def test_operator_commands_round_trip(csms_server, station, server_settings, action, payload, expected):
    async with connected(csms_server, station.identity, key=KEY) as charger:
        await charger.call(boot())
        cp = await db(ChargePoint.objects.get, pk=station.pk)
        command = await db(commands.send, charge_point=cp, action=action, payload=payload, acting_user=None,
                           reason="Support ticket 17")
    assert command.response == expected


async def test_a_command_with_an_invalid_payload_is_refused_before_sending(csms_server, station, server_settings):
    async with connected(csms_server, station.identity, key=KEY) as charger:
        await charger.call(boot())
        cp = await db(ChargePoint.objects.get, pk=station.pk)
        with pytest.raises(commands.CommandFailed) as failure:
            await db(commands.send, charge_point=cp, action="Reset", payload={"type": "Sideways"}, acting_user=None,
                     reason="x")
    assert failure.value.command.status == RemoteCommand.Status.REFUSED
    assert "Invalid payload" in failure.value.command.error


async def test_an_offline_transaction_is_replayed_into_the_right_period(csms_server, station):
    earlier = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=5)
    async with connected(csms_server, station.identity, key=KEY) as charger:
        await charger.call(boot())
        started = await charger.call(call.StartTransaction(connector_id=2, id_tag="04A23B1C", meter_start=20_000,
                                                           timestamp=ts(earlier)))
        await charger.call(call.MeterValues(connector_id=2, transaction_id=started.transaction_id, meter_value=[{
            "timestamp": ts(earlier), "sampledValue": [{"value": "0", "context": "Transaction.Begin"}]}]))
        await charger.call(call.StopTransaction(meter_stop=31_500, timestamp=ts(earlier + timedelta(hours=2)),
                                                transaction_id=started.transaction_id))
    session = await db(ChargingSession.objects.get, transaction_id=str(started.transaction_id))
    assert session.started_at == earlier
    assert session.offline
    # The offline charger's Transaction.Begin value of 0 is not the baseline: meterStart is.
    assert (session.meter_start_wh, session.energy_wh) == (20_000, 11_500)


async def test_a_repeated_start_returns_the_same_transaction_and_a_repeated_stop_is_harmless(csms_server, station):
    moment = ts(datetime.now(UTC) - timedelta(minutes=5))
    async with connected(csms_server, station.identity, key=KEY) as charger:
        await charger.call(boot())
        request = call.StartTransaction(connector_id=1, id_tag="04A23B1C", meter_start=500, timestamp=moment)
        first = await charger.call(request)
        second = await charger.call(request)
        assert first.transaction_id == second.transaction_id
        stop = call.StopTransaction(meter_stop=900, timestamp=ts(), transaction_id=first.transaction_id)
        await charger.call(stop)
        await charger.call(stop)
    sessions = await db(lambda: list(ChargingSession.objects.values_list("status", "energy_wh")))
    assert sessions == [("completed", 400)]


async def test_a_stop_for_an_unknown_transaction_is_accepted_and_kept_for_review(csms_server, station):
    async with connected(csms_server, station.identity, key=KEY) as charger:
        await charger.call(boot())
        answer = await charger.call(call.StopTransaction(meter_stop=1234, timestamp=ts(), transaction_id=999_999,
                                                         id_tag="04A23B1C"))
        assert answer.id_tag_info["status"] == "Accepted"
    orphan = await db(OrphanTransactionStop.objects.get)
    assert (orphan.transaction_id, orphan.meter_stop_wh) == ("999999", 1234)


async def test_a_reboot_closes_the_session_the_charger_lost(csms_server, station):
    async with connected(csms_server, station.identity, key=KEY) as charger:
        await charger.call(boot())
        started = await charger.call(call.StartTransaction(connector_id=1, id_tag="04A23B1C", meter_start=100,
                                                           timestamp=ts(datetime.now(UTC) - timedelta(minutes=9))))
        await charger.call(call.MeterValues(connector_id=1, transaction_id=started.transaction_id, meter_value=[{
            "timestamp": ts(datetime.now(UTC) - timedelta(minutes=1)), "sampledValue": [{"value": "2100"}]}]))
        await charger.call(boot())
    session = await db(ChargingSession.objects.get, transaction_id=str(started.transaction_id))
    assert (session.status, session.meter_stop_wh, session.energy_wh) == ("failed", 2100, 2000)


@pytest.mark.parametrize("credentials", [None, "wrong-key"], ids=["no-credentials", "wrong-key"])
async def test_bad_basic_auth_is_refused_before_the_websocket_opens(csms_server, station, credentials):
    with pytest.raises(websockets.exceptions.InvalidStatus) as refused:
        async with raw_socket(csms_server, station.identity, key=credentials):
            pass
    assert refused.value.response.status_code == 403


async def test_an_unknown_identity_is_refused(csms_server, station):
    with pytest.raises(websockets.exceptions.InvalidStatus):
        async with raw_socket(csms_server, "NOT-REGISTERED", key=KEY):
            pass


async def test_malformed_frames_get_errors_and_the_connection_stays_up(csms_server, station):
    async with raw_socket(csms_server, station.identity, key=KEY) as socket:
        assert (await exchange(socket, "this is not json"))[:3] == [4, "-1", "FormationViolation"]
        assert (await exchange(socket, [2, "a1", "FooBar", {}]))[:3] == [4, "a1", "NotImplemented"]
        assert (await exchange(socket, [2, "a2", "BootNotification", {"chargePointVendor": "X"}]))[:3] == [
            4, "a2", "OccurenceConstraintViolation"]
        assert (await exchange(socket, [2, "a3", "BootNotification", {
            "chargePointVendor": "X", "chargePointModel": "Y", "extra": 1}]))[:3] == [4, "a3", "FormationViolation"]
        assert (await exchange(socket, [2, "a4", "Heartbeat", []]))[:3] == [4, "a4", "FormationViolation"]
        assert (await exchange(socket, [2, "a5", "StartTransaction", {
            "connectorId": 1, "idTag": "04A23B1C", "meterStart": 5, "timestamp": "yesterday"}]))[:3] == [
            4, "a5", "PropertyConstraintViolation"]
        assert (await exchange(socket, [7, "a6", "Heartbeat", {}]))[:3] == [4, "a6", "ProtocolError"]
        assert (await exchange(socket, [2, "a7", "Heartbeat", {}]))[0] == 3
    assert not await db(ChargingSession.objects.exists)


async def test_an_oversized_frame_is_refused(csms_server, station):
    async with raw_socket(csms_server, station.identity, key=KEY) as socket:
        huge = [2, "big", "DataTransfer", {"vendorId": "x", "data": "x" * 70_000}]
        assert (await exchange(socket, huge))[:3] == [4, "-1", "FormationViolation"]
        assert (await exchange(socket, [2, "ok", "Heartbeat", {}]))[0] == 3


async def test_every_frame_is_logged(csms_server, station):
    async with connected(csms_server, station.identity, key=KEY) as charger:
        await charger.call(boot())
    for _ in range(50):
        frames = await db(lambda: list(OcppFrame.objects.filter(charge_point=station).values_list(
            "direction", "action")))
        if len(frames) >= 2:
            break
        await asyncio.sleep(0.1)
    assert sorted(frames) == [("in", "BootNotification"), ("out", "")]


async def test_a_new_connection_replaces_the_old_one(csms_server, station):
    async with connected(csms_server, station.identity, key=KEY) as first:
        await first.call(boot())
        async with connected(csms_server, station.identity, key=KEY) as second:
            await second.call(call.Heartbeat())
            await asyncio.wait_for(first._connection.wait_closed(), 5)
            assert first._connection.close_code == 4000
            # The replaced connection's goodbye does not mark the charger as gone.
            assert (await db(ChargePoint.objects.get, pk=station.pk)).is_connected
            assert (await second.call(call.Heartbeat())).current_time


def test_ocpp_call_from_another_process_reaches_the_charger(csms_server, station, redis_url):
    async def scenario():
        async with connected(csms_server, station.identity, key=KEY) as charger:
            await charger.call(boot())
            env = {**os.environ, "REDIS_URL": redis_url, "DATABASE_URL": _database_url()}
            process = await asyncio.create_subprocess_exec(
                sys.executable, "manage.py", "ocpp_call", station.identity, "Reset", "--payload",
                json.dumps({"type": "Soft"}), "--reason", "Customer called", "--timeout", "5",
                env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            out, err = await asyncio.wait_for(process.communicate(), 60)
            return charger, process.returncode, out.decode(), err.decode()

    charger, code, out, err = asyncio.run(scenario())
    assert code == 0, err
    assert json.loads(out) == {"status": "Accepted"}
    assert charger.received == [("Reset", {"type": "Soft"})]



async def test_a_reservation_is_held_by_the_charger_and_used_by_the_next_start(csms_server, station, server_settings):
    from charging.models import Reservation
    from charging.services.reservations import reservation_cancel, reservation_create

    async with connected(csms_server, station.identity, key=KEY) as charger:
        await charger.call(boot())
        cp = await db(ChargePoint.objects.get, pk=station.pk)
        evse = await db(cp.evses.get, evse_id=1)
        now = datetime.now(UTC)
        reservation = await db(reservation_create, charge_point=cp, evse=evse, uid="04a23b1c",
                               expires_at=now + timedelta(minutes=15), acting_user=None, reason="Booked in app",
                               now=now)
        assert reservation.status == Reservation.Status.ACCEPTED
        assert charger.received == [("ReserveNow", {"reservation_id": reservation.pk})]
        await charger.call(call.StartTransaction(connector_id=1, id_tag="04A23B1C", meter_start=0, timestamp=ts(),
                                                 reservation_id=reservation.pk))
        later = await db(reservation_create, charge_point=cp, evse=evse, uid="04A23B1C",
                         expires_at=now + timedelta(hours=2), acting_user=None, reason="Second booking", now=now)
        cancelled = await db(reservation_cancel, reservation=later, acting_user=None, reason="Plans changed")
        assert cancelled.status == Reservation.Status.CANCELLED
    assert (await db(Reservation.objects.get, pk=reservation.pk)).status == Reservation.Status.USED
    session = await db(ChargingSession.objects.get)
    assert session.reservation_id == reservation.pk


async def test_an_idle_charger_stays_connected_and_reachable(csms_server, station, server_settings):
    # The Redis channel layer blocks for 5 s per read: a read timeout of the same length used to kill idle sockets.
    async with connected(csms_server, station.identity, key=KEY) as charger:
        await charger.call(boot())
        await asyncio.sleep(12)
        assert charger._connection.close_code is None
        cp = await db(ChargePoint.objects.get, pk=station.pk)
        command = await db(commands.send, charge_point=cp, action="ClearCache", payload={}, acting_user=None,
                           reason="x")
        assert command.response == {"status": "Accepted"}


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
def test_the_charger_simulator_completes_sessions_against_the_server(csms_server, station, version):
    env = {**os.environ, "DATABASE_URL": _database_url()}
    result = subprocess.run(
        [sys.executable, "manage.py", "simulate_chargers", "--url", csms_server, "--count", "2", "--version", version,
         "--prefix", f"SIM{version.replace('.', '')}", "--organization", str(station.organization_id), "--register",
         "--sessions", "1", "--meter-interval", "0.2", "--meter-count", "2", "--duration", "60"],
        env=env, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "sessions completed 2/2" in result.stdout
    assert "errors             0" in result.stdout


async def test_a_tripped_rcd_reported_by_status_notification_opens_an_alarm(csms_server, station):
    tripped_at = datetime.now(UTC).replace(microsecond=0)
    async with connected(csms_server, station.identity, key=KEY) as charger:
        await charger.call(boot())
        await charger.call(call.StatusNotification(connector_id=1, error_code="GroundFailure", status="Faulted",
                                                   vendor_error_code="E12", timestamp=ts(tripped_at)))
        alarm = await db(Alarm.objects.get, charge_point_id=station.pk)
        assert (alarm.kind, alarm.evse_number, alarm.opened_at, alarm.closed_at) == (
            Alarm.Kind.FUSE_TRIPPED, 1, tripped_at, None)
        assert alarm.message.startswith("Faulted: GroundFailure")

        await charger.call(call.StatusNotification(connector_id=1, error_code="NoError", status="Available",
                                                   timestamp=ts(tripped_at + timedelta(minutes=3))))
    alarm = await db(Alarm.objects.get, pk=alarm.pk)
    assert alarm.closed_at == tripped_at + timedelta(minutes=3)
