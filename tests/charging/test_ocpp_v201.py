"""OCPP 2.0.1 through the real consumer: raw frames in, answers and stored rows out."""

import itertools
import json
from datetime import timedelta
from decimal import Decimal

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.utils import timezone

from accounts.models import IdToken
from accounts.services.tokens import id_token_issue
from charging.models import (
    AuthorizationAttempt,
    ChargePoint,
    ChargingSession,
    Connector,
    MeterSample,
    OrphanTransactionStop,
    Reservation,
    StationEvent,
)
from charging.services.stations import charge_point_register
from csms.asgi import application
from tests.accounts.factories import OrganizationFactory

UID = "04A23B1C"
T0, T1, T2, T3 = "2025-06-01T10:00:00Z", "2025-06-01T10:15:00Z", "2025-06-01T10:30:00Z", "2025-06-01T10:45:00Z"


@pytest.fixture(autouse=True)
def _ocpp_settings(settings):
    settings.OCPP_VALIDATE_RESPONSES = True  # every answer of ours is checked against the response schema
    settings.OCPP_FRAME_LOG = False


@pytest.fixture
def organization(transactional_db):
    return OrganizationFactory()


@pytest.fixture
def station(organization):
    return charge_point_register(identity="CP201", organization=organization, evses=2, acting_user=None,
                                 reason="test")


@pytest.fixture
def token(organization):
    return id_token_issue(organization=organization, uid=UID, acting_user=None, reason="x")


class Charger:
    """A charger speaking raw OCPP-J frames."""

    def __init__(self, communicator: WebsocketCommunicator):
        self.communicator = communicator
        self._ids = itertools.count(1)

    async def send_raw(self, text: str) -> list:
        await self.communicator.send_to(text_data=text)
        return json.loads(await self.communicator.receive_from(timeout=5))

    async def call(self, action: str, payload: dict) -> list:
        return await self.send_raw(json.dumps([2, f"m{next(self._ids)}", action, payload]))


@pytest.fixture
async def charger(station):
    communicator = WebsocketCommunicator(application, f"/ocpp/{station.identity}", subprotocols=["ocpp2.0.1"])
    connected, subprotocol = await communicator.connect()
    assert connected
    assert subprotocol == "ocpp2.0.1"
    yield Charger(communicator)
    await communicator.disconnect()


def energy(wh, context: str = "Sample.Periodic", at: str = T0) -> list[dict]:
    return [{"timestamp": at, "sampledValue": [{"value": wh, "context": context,
                                                "measurand": "Energy.Active.Import.Register",
                                                "unitOfMeasure": {"unit": "Wh"}}]}]


def transaction_event(event_type: str, seq_no: int, at: str, *, transaction_id: str = "tx-1", meter_value=None,
                      id_token: str | None = UID, **extra) -> dict:
    payload = {"eventType": event_type, "timestamp": at, "triggerReason": extra.pop("trigger", "MeterValuePeriodic"),
               "seqNo": seq_no, "transactionInfo": {"transactionId": transaction_id, **extra}}
    if meter_value is not None:
        payload["meterValue"] = meter_value
    if id_token is not None:
        payload["idToken"] = {"idToken": id_token, "type": "ISO14443"}
    if event_type == "Started":
        payload["evse"] = {"id": 1, "connectorId": 1}
    return payload


def started(**kwargs) -> dict:
    return transaction_event("Started", 0, T0, meter_value=energy(1000, "Transaction.Begin", T0),
                             trigger="Authorized", chargingState="Charging", **kwargs)


def count(model, **filters):
    return sync_to_async(lambda: model.objects.filter(**filters).count())()


def session(transaction_id: str = "tx-1"):
    return sync_to_async(lambda: ChargingSession.objects.select_related("id_token").get(
        transaction_id=transaction_id))()


async def test_boot_notification_is_accepted_and_stores_what_the_station_says(charger, station):
    answer = await charger.call("BootNotification", {
        "chargingStation": {"vendorName": "Acme", "model": "Wallbox 2", "serialNumber": "SN-1",
                            "firmwareVersion": "1.2.3"}, "reason": "PowerUp"})

    assert answer[0] == 3
    assert answer[2]["status"] == "Accepted"
    assert answer[2]["interval"] == 300
    stored = await sync_to_async(ChargePoint.objects.get)(pk=station.pk)
    assert (stored.vendor, stored.model, stored.serial_number, stored.ocpp_version) == (
        "Acme", "Wallbox 2", "SN-1", "2.0.1")


@pytest.mark.parametrize(("uid", "token_type", "expected"), [
    pytest.param(UID, "ISO14443", "Accepted", id="known"),
    pytest.param("DEADBEEF", "ISO14443", "Unknown", id="unknown"),
    pytest.param("0B10C4ED", "ISO14443", "Blocked", id="blocked"),
    pytest.param("", "NoAuthorization", "Accepted", id="no-authorization"),
])
async def test_authorize_answers_the_tokens_status(charger, token, organization, uid, token_type, expected):
    await sync_to_async(id_token_issue)(organization=organization, uid="0B10C4ED", status=IdToken.Status.BLOCKED,
                                        acting_user=None, reason="Lost")

    answer = await charger.call("Authorize", {"idToken": {"idToken": uid, "type": token_type}})

    assert answer[0] == 3
    assert answer[2] == {"idTokenInfo": {"status": expected}}


async def test_a_transaction_from_started_to_ended_becomes_a_completed_session(charger, token):
    answers = [
        await charger.call("TransactionEvent", started()),
        await charger.call("TransactionEvent", transaction_event(
            "Updated", 1, T1, meter_value=energy(4000, at=T1), id_token=None)),
        await charger.call("TransactionEvent", transaction_event(
            "Updated", 2, T2, meter_value=[{"timestamp": T2, "sampledValue": [
                {"value": 6.5, "unitOfMeasure": {"unit": "kWh"}}]}], id_token=None)),
        await charger.call("TransactionEvent", transaction_event(
            "Ended", 3, T3, meter_value=energy(8500, "Transaction.End", T3), trigger="StopAuthorized",
            stoppedReason="Local")),
    ]

    assert [a[0] for a in answers] == [3, 3, 3, 3]
    assert answers[0][2] == {"idTokenInfo": {"status": "Accepted"}}
    assert answers[1][2] == {}
    assert answers[3][2] == {"idTokenInfo": {"status": "Accepted"}}
    charge = await session()
    assert charge.status == ChargingSession.Status.COMPLETED
    assert (charge.meter_start_wh, charge.meter_stop_wh, charge.energy_wh) == (1000, 8500, 7500)
    assert charge.id_token == token
    assert charge.stop_reason == "Local"
    assert charge.last_seq_no == 2
    assert charge.evse_id is not None
    assert await count(MeterSample, session=charge) == 4
    assert await count(MeterSample, session=charge, value=6500) == 1


async def test_a_resent_updated_event_stores_its_meter_samples_once(charger, token):
    await charger.call("TransactionEvent", started())
    updated = transaction_event("Updated", 1, T1, meter_value=energy(4000, at=T1), id_token=None)

    first = await charger.call("TransactionEvent", updated)
    again = await charger.call("TransactionEvent", updated)

    assert first[0] == again[0] == 3
    assert await count(MeterSample) == 2
    assert await count(ChargingSession) == 1
    assert (await session()).energy_wh == 3000


async def test_an_updated_event_without_started_opens_the_session(charger, token):
    replayed = transaction_event("Updated", 5, T1, meter_value=energy(2500, at=T1), trigger="Authorized")
    replayed["offline"] = True

    answer = await charger.call("TransactionEvent", replayed)

    assert answer[2] == {"idTokenInfo": {"status": "Accepted"}}
    charge = await session()
    assert charge.status == ChargingSession.Status.ACTIVE
    assert charge.meter_start_wh == 2500
    assert charge.id_token == token
    assert charge.offline
    assert await count(MeterSample, session=charge) == 1


async def test_a_token_presented_after_plug_in_becomes_the_sessions_driver(charger, token):
    await charger.call("TransactionEvent", started(id_token=None))

    answer = await charger.call("TransactionEvent", transaction_event("Updated", 1, T1, trigger="Authorized"))

    assert answer[2] == {"idTokenInfo": {"status": "Accepted"}}
    charge = await session()
    assert charge.id_token == token
    assert charge.id_token_uid == UID
    assert await count(AuthorizationAttempt, purpose="start") == 1


async def test_an_ended_event_without_started_is_kept_as_an_orphan_stop(charger, token):
    answer = await charger.call("TransactionEvent", transaction_event(
        "Ended", 7, T3, transaction_id="tx-lost", meter_value=energy(8500, "Transaction.End", T3),
        trigger="EVDeparted", stoppedReason="EVDisconnected"))

    assert answer[0] == 3
    assert answer[2] == {"idTokenInfo": {"status": "Accepted"}}
    orphan = await sync_to_async(OrphanTransactionStop.objects.get)(transaction_id="tx-lost")
    assert orphan.meter_stop_wh == 8500
    assert orphan.stop_reason == "EVDisconnected"
    assert orphan.id_token_uid == UID
    assert orphan.payload["transactionInfo"]["stoppedReason"] == "EVDisconnected"
    assert await count(ChargingSession) == 0


@pytest.mark.parametrize("payload", [
    pytest.param(transaction_event("Started", 0, "yesterday", meter_value=energy(1000, "Transaction.Begin")),
                 id="event-timestamp"),
    pytest.param(transaction_event("Started", 0, T0, meter_value=energy(1000, "Transaction.Begin",
                                                                        "2025-06-01T10:00:60Z")),
                 id="leap-second-meter-timestamp"),
])
async def test_a_bad_timestamp_is_refused_and_nothing_is_stored(charger, token, payload):
    answer = await charger.call("TransactionEvent", payload)

    assert answer[:3] == [4, "m1", "PropertyConstraintViolation"]
    assert await count(ChargingSession) == 0
    assert await count(MeterSample) == 0
    assert await count(AuthorizationAttempt) == 0


async def test_an_unknown_action_is_answered_not_implemented(charger):
    answer = await charger.call("FooBar", {})

    assert answer[:3] == [4, "m1", "NotImplemented"]


async def test_garbage_gets_an_rpc_framework_error_and_the_connection_stays_up(charger):
    answer = await charger.send_raw("hello")
    heartbeat = await charger.call("Heartbeat", {})

    assert answer[:3] == [4, "-1", "RpcFrameworkError"]
    assert heartbeat[0] == 3
    assert "currentTime" in heartbeat[2]


async def test_notify_report_stores_the_device_model(charger, station):
    answer = await charger.call("NotifyReport", {"requestId": 1, "generatedAt": T0, "seqNo": 0, "reportData": [
        {"component": {"name": "EVSE", "evse": {"id": 1}}, "variable": {"name": "Power"},
         "variableAttribute": [{"type": "Actual", "value": "11000", "mutability": "ReadOnly"}],
         "variableCharacteristics": {"dataType": "decimal", "supportsMonitoring": False, "unit": "W"}}]})

    assert answer[0] == 3
    stored = await sync_to_async(ChargePoint.objects.get)(pk=station.pk)
    assert stored.device_model["EVSE/1/Power"]["attributes"][0]["value"] == "11000"
    assert stored.device_model["EVSE/1/Power"]["characteristics"]["data_type"] == "decimal"


async def test_status_notification_updates_the_connector(charger, station):
    answer = await charger.call("StatusNotification", {"timestamp": T0, "connectorStatus": "Occupied",
                                                       "evseId": 2, "connectorId": 1})

    assert answer == [3, "m1", {}]
    assert await count(Connector, evse__charge_point=station, evse__evse_id=2, status="Occupied") == 1


async def test_meter_values_outside_a_transaction_are_stored_per_evse(charger, station):
    answer = await charger.call("MeterValues", {"evseId": 2, "meterValue": energy(12345, at=T1)})

    assert answer[0] == 3
    assert await count(MeterSample, evse__evse_id=2, session=None, value=12345) == 1


async def test_notify_event_is_recorded_per_event(charger, station):
    answer = await charger.call("NotifyEvent", {"generatedAt": T1, "seqNo": 0, "eventData": [
        {"eventId": 1, "timestamp": T0, "trigger": "Delta", "actualValue": "true",
         "eventNotificationType": "HardWiredNotification", "component": {"name": "Connector"},
         "variable": {"name": "Problem"}}]})

    assert answer[0] == 3
    event = await sync_to_async(StationEvent.objects.get)(charge_point=station, kind=StationEvent.Kind.NOTIFY)
    assert event.code == "Delta/HardWiredNotification Connector.Problem"
    assert event.details["actualValue"] == "true"


async def test_an_expired_reservation_is_marked_expired(charger, station):
    reservation = await sync_to_async(Reservation.objects.create)(
        charge_point=station, id_token_uid=UID, expires_at=timezone.now() + timedelta(minutes=15),
        status=Reservation.Status.ACCEPTED)

    answer = await charger.call("ReservationStatusUpdate", {"reservationId": reservation.pk,
                                                            "reservationUpdateStatus": "Expired"})

    assert answer[0] == 3
    assert await count(Reservation, pk=reservation.pk, status=Reservation.Status.EXPIRED) == 1


async def test_data_transfer_is_recorded_and_answered_unknown_vendor(charger, station):
    answer = await charger.call("DataTransfer", {"vendorId": "com.acme", "messageId": "x", "data": "42"})

    assert answer[2] == {"status": "UnknownVendorId"}
    assert await count(StationEvent, kind=StationEvent.Kind.VENDOR, code="com.acme") == 1


async def test_sign_certificate_is_rejected_and_recorded(charger, station):
    answer = await charger.call("SignCertificate", {"csr": "-----BEGIN CERTIFICATE REQUEST-----"})

    assert answer[2] == {"status": "Rejected"}
    assert await count(StationEvent, kind=StationEvent.Kind.CERTIFICATE) == 1


async def test_a_priced_transaction_is_told_its_running_and_final_cost(charger, station, token):
    from billing.models import SessionCost
    from billing.services.tariffs import tariff_assign, tariff_create

    def four_kronor_per_kwh():
        at = timezone.make_aware(timezone.datetime(2025, 5, 1))
        tariff = tariff_create(organization=station.organization, name="Garage", currency="SEK",
                               energy_price_ac=Decimal("4.00"), acting_user=None, reason="test", now=at)
        tariff_assign(tariff=tariff, charge_point=station, valid_from=at, acting_user=None, reason="test", now=at)

    await sync_to_async(four_kronor_per_kwh)()
    opened = await charger.call("TransactionEvent", started())
    running = await charger.call("TransactionEvent", transaction_event(
        "Updated", 1, T1, meter_value=energy(4000, at=T1), id_token=None))
    ended = await charger.call("TransactionEvent", transaction_event(
        "Ended", 2, T3, meter_value=energy(8500, "Transaction.End", T3), trigger="StopAuthorized",
        stoppedReason="Local"))

    assert "totalCost" not in opened[2]  # nothing is quoted before charging has begun
    assert running[2] == {"totalCost": 12.0}  # 3 kWh × 4.00 incl. VAT so far
    assert ended[2]["totalCost"] == 30.0  # 7.5 kWh × 4.00, and the same cost is stored
    stored = await sync_to_async(SessionCost.objects.get)(session__transaction_id="tx-1")
    assert stored.total_incl_vat == Decimal("30.00")


async def test_without_a_tariff_no_cost_is_quoted(charger, token):
    await charger.call("TransactionEvent", started())
    ended = await charger.call("TransactionEvent", transaction_event(
        "Ended", 1, T1, meter_value=energy(4000, "Transaction.End", T1), trigger="StopAuthorized",
        stoppedReason="Local"))
    assert "totalCost" not in ended[2]  # omitted means "not free"; we cannot say what it costs
