"""OCPP 2.0.1: wire in, one domain call, wire out. The domain knows nothing of 2.0.1."""

import logging
from datetime import datetime

from django.db import transaction
from ocpp.charge_point import snake_to_camel_case
from ocpp.routing import on
from ocpp.v201 import ChargePoint as LibraryChargePoint
from ocpp.v201 import call_result
from ocpp.v201.datatypes import IdTokenInfoType
from ocpp.v201.enums import (
    Action,
    AuthorizationStatusEnumType,
    DataTransferStatusEnumType,
    GenericStatusEnumType,
    IdTokenEnumType,
    RegistrationStatusEnumType,
    ReservationUpdateStatusEnumType,
    TransactionEventEnumType,
)

from billing.services.session_pricing import charger_total_cost
from charging.models import ChargingSession, Reservation, StationEvent
from charging.ocpp import events
from charging.ocpp.batching import readings_writer
from charging.ocpp.gateway import GatewayMixin, database, iso, parse_timestamp, utc_now
from charging.ocpp.presence import NAME as presence_name
from charging.ocpp.readings import readings_from_meter_values
from charging.services import stations
from charging.services.authorization import Authorization, AuthStatus, authorize
from charging.services.events import DeviceVariable, device_event_record
from charging.services.sessions import (
    MeterReading,
    ReadingsEntry,
    authorize_session,
    baseline_from_readings,
    record_transaction_readings,
    reservation_status_update,
    start_session,
    stop_session,
)

logger = logging.getLogger("csms.ocpp")

_STATUS = {
    AuthStatus.ACCEPTED: AuthorizationStatusEnumType.accepted,
    AuthStatus.BLOCKED: AuthorizationStatusEnumType.blocked,
    AuthStatus.EXPIRED: AuthorizationStatusEnumType.expired,
    # 2.0.1 answers Unknown for a token the CSMS does not know (Invalid means known but not valid).
    AuthStatus.INVALID: AuthorizationStatusEnumType.unknown,
    AuthStatus.CONCURRENT_TX: AuthorizationStatusEnumType.concurrent_tx,
    AuthStatus.NOT_ALLOWED_HERE: AuthorizationStatusEnumType.not_at_this_location,
    AuthStatus.NOT_AT_THIS_TIME: AuthorizationStatusEnumType.not_at_this_time,
}

_RESERVATION_STATUS = {
    ReservationUpdateStatusEnumType.expired: Reservation.Status.EXPIRED,
    ReservationUpdateStatusEnumType.removed: Reservation.Status.CANCELLED,
}


def id_token_info(authorization: Authorization | None) -> IdTokenInfoType:
    """None: nothing to decide (no token needed, or the session's own token at the stop)."""
    if authorization is None:
        return IdTokenInfoType(status=AuthorizationStatusEnumType.accepted)
    token = authorization.id_token
    expiry = iso(token.valid_until) if token is not None and token.valid_until else None
    return IdTokenInfoType(status=_STATUS[authorization.status], cache_expiry_date_time=expiry)


def token_uid(id_token: dict | None) -> str:
    """The uid to authorize: empty when no token was presented or the charger needs none (NoAuthorization)."""
    if not id_token or id_token.get("type") == IdTokenEnumType.no_authorization:
        return ""
    return id_token["id_token"]


def transaction_end_wh(readings: list[MeterReading]) -> int | None:
    """The energy register the charger read at Transaction.End, if it sent one."""
    end = [r for r in readings if r.is_energy_register and r.context == "Transaction.End"]
    return int(end[-1].value.to_integral_value()) if end else None


def device_variable(event: dict) -> DeviceVariable:
    """A NotifyEvent entry as the protocol-neutral report of a device variable's new value."""
    component, variable = event["component"], event["variable"]
    return DeviceVariable(component=component["name"], variable=variable["name"], value=event["actual_value"],
                          evse_number=(component.get("evse") or {}).get("id", 0), cleared=bool(event.get("cleared")))


def event_code(event: dict) -> str:
    component, variable = event["component"], event["variable"]
    return f"{event['trigger']}/{event['event_notification_type']} {component['name']}.{variable['name']}"


class ChargePoint201(GatewayMixin, LibraryChargePoint):
    @on(Action.boot_notification)
    async def on_boot_notification(self, charging_station, reason, **kwargs):
        now = utc_now()
        result = await database(stations.charge_point_boot)(
            charge_point=self.station, vendor=charging_station.get("vendor_name", ""),
            model=charging_station.get("model", ""), serial_number=charging_station.get("serial_number", ""),
            firmware_version=charging_station.get("firmware_version", ""), ocpp_version="2.0.1", at=now, now=now,
            via=presence_name)
        self.station.registration_status = result.status
        return call_result.BootNotification(current_time=iso(now), interval=result.interval,
                                            status=RegistrationStatusEnumType(result.status))

    @on(Action.heartbeat)
    async def on_heartbeat(self, **kwargs):
        return call_result.Heartbeat(current_time=iso(utc_now()))

    @on(Action.status_notification)
    async def on_status_notification(self, timestamp, connector_status, evse_id, connector_id, **kwargs):
        at = parse_timestamp(timestamp)
        await database(stations.status_report)(
            charge_point=self.station, evse_id=evse_id, connector_id=connector_id if evse_id else None,
            status=connector_status, at=at)
        return call_result.StatusNotification()

    @on(Action.authorize)
    async def on_authorize(self, id_token, **kwargs):
        uid = token_uid(id_token)
        if not uid:
            return call_result.Authorize(id_token_info=id_token_info(None))
        authorization = await database(authorize)(charge_point=self.station, uid=uid, at=utc_now(),
                                                  purpose="authorize", check_concurrent=False)
        return call_result.Authorize(id_token_info=id_token_info(authorization))

    @on(Action.transaction_event)
    async def on_transaction_event(self, event_type, timestamp, trigger_reason, seq_no, transaction_info,
                                   **kwargs):
        at = parse_timestamp(timestamp)
        readings = readings_from_meter_values(kwargs.get("meter_value"))
        id_token = kwargs.get("id_token")
        transaction_id = transaction_info["transaction_id"]
        if event_type == TransactionEventEnumType.ended:
            payload = snake_to_camel_case({
                "event_type": event_type, "timestamp": timestamp, "trigger_reason": trigger_reason,
                "seq_no": seq_no, "transaction_info": transaction_info, **kwargs})
            result = await database(stop_session)(
                charge_point=self.station, transaction_id=transaction_id, stopped_at=at,
                meter_stop_wh=transaction_end_wh(readings), reason=transaction_info.get("stopped_reason") or "",
                uid=token_uid(id_token) or None, readings=readings, payload=payload)
            authorization, session = result.authorization, result.session
        else:
            authorization, session = await database(self._transaction_open)(
                evse_id=(kwargs.get("evse") or {}).get("id") or 1, uid=token_uid(id_token),
                transaction_id=transaction_id, remote_start_id=transaction_info.get("remote_start_id"),
                reservation_id=kwargs.get("reservation_id"), offline=bool(kwargs.get("offline")), at=at,
                readings=readings, seq_no=seq_no)
        # The running cost while charging, the final cost once ended (I02.FR.01, I03): only after a start, so a
        # plug-in without a token is not quoted.
        total_cost = None
        if session is not None and event_type != TransactionEventEnumType.started:
            total_cost = await database(charger_total_cost)(session_id=session.pk, now=utc_now())
        return call_result.TransactionEvent(
            # A JSON number on the wire: the exact Decimal (2 decimals) survives the float round trip.
            total_cost=float(total_cost) if total_cost is not None else None,
            id_token_info=id_token_info(authorization) if id_token is not None else None)

    @transaction.atomic
    def _transaction_open(self, *, evse_id: int, uid: str, transaction_id: str, remote_start_id: int | None,
                          reservation_id: int | None, offline: bool, at: datetime, readings: list[MeterReading],
                          seq_no: int) -> tuple[Authorization, ChargingSession]:
        # Started and Updated alike: an Updated whose Started never arrived (lost, or replayed out of order after
        # an offline period) opens the session itself, so none of its energy is lost. A repeat changes nothing.
        evse = stations.ensure_evse(charge_point=self.station, evse_id=evse_id)
        started = start_session(charge_point=self.station, evse=evse, uid=uid,
                                meter_start_wh=baseline_from_readings(readings, None), started_at=at,
                                transaction_id=transaction_id, remote_start_id=remote_start_id,
                                reservation_id=reservation_id, offline=offline)
        authorization = started.authorization
        if started.duplicate and uid:
            authorization = authorize_session(charge_point=self.station, transaction_id=transaction_id, uid=uid,
                                              at=at)
        record_transaction_readings(charge_point=self.station, transaction_id=transaction_id, evse=evse,
                                    readings=readings, seq_no=seq_no)
        return authorization, started.session

    @on(Action.meter_values)
    async def on_meter_values(self, evse_id, meter_value, **kwargs):
        readings = readings_from_meter_values(meter_value)
        await readings_writer.submit(ReadingsEntry(charge_point_id=self.station.pk, readings=readings,
                                                   evse_number=evse_id or None, evse_pk=await self.evse_pk(evse_id)))
        return call_result.MeterValues()

    @on(Action.notify_ev_charging_needs)
    async def on_notify_ev_charging_needs(self, evse_id, charging_needs, **kwargs):
        # ISO 15118: the car says how much energy it wants by when. The load balancer (listening to the gateway)
        # stores it and answers with a charging schedule; here the timestamp is checked before anything is stored.
        departure = charging_needs.get("departure_time")
        if departure is not None:
            parse_timestamp(departure, field="chargingNeeds.departureTime")
        return call_result.NotifyEVChargingNeeds(status="Accepted")

    @on(Action.notify_report)
    async def on_notify_report(self, request_id, generated_at, seq_no, **kwargs):
        parse_timestamp(generated_at, field="generatedAt")
        if kwargs.get("report_data"):
            await database(stations.device_model_merge)(charge_point=self.station, report=kwargs["report_data"])
        return call_result.NotifyReport()

    @on(Action.notify_event)
    async def on_notify_event(self, generated_at, seq_no, event_data, **kwargs):
        parse_timestamp(generated_at, field="generatedAt")
        moments = [parse_timestamp(event["timestamp"], field="eventData.timestamp") for event in event_data]
        for event, at in zip(event_data, moments, strict=True):
            await database(device_event_record)(
                charge_point=self.station, code=event_code(event), at=at, report=device_variable(event),
                details={**snake_to_camel_case(event), "generatedAt": generated_at, "seqNo": seq_no,
                         "tbc": kwargs.get("tbc", False)})
        return call_result.NotifyEvent()

    @on(Action.security_event_notification)
    async def on_security_event_notification(self, type, timestamp, **kwargs):
        at = parse_timestamp(timestamp)
        await events.record(self.station, StationEvent.Kind.SECURITY, type, {"techInfo": kwargs.get("tech_info")},
                            at=at)
        return call_result.SecurityEventNotification()

    @on(Action.firmware_status_notification)
    async def on_firmware_status_notification(self, status, **kwargs):
        await events.record(self.station, StationEvent.Kind.FIRMWARE, status,
                            {"requestId": kwargs.get("request_id")}, firmware_status=status)
        return call_result.FirmwareStatusNotification()

    @on(Action.log_status_notification)
    async def on_log_status_notification(self, status, **kwargs):
        await events.record(self.station, StationEvent.Kind.DIAGNOSTICS, status,
                            {"requestId": kwargs.get("request_id")}, diagnostics_status=status)
        return call_result.LogStatusNotification()

    @on(Action.reservation_status_update)
    async def on_reservation_status_update(self, reservation_id, reservation_update_status, **kwargs):
        await database(reservation_status_update)(charge_point=self.station, reservation_id=reservation_id,
                                                  status=_RESERVATION_STATUS[reservation_update_status])
        return call_result.ReservationStatusUpdate()

    @on(Action.data_transfer)
    async def on_data_transfer(self, vendor_id, **kwargs):
        await events.record(self.station, StationEvent.Kind.VENDOR, vendor_id,
                            {"messageId": kwargs.get("message_id"), "data": kwargs.get("data")})
        return call_result.DataTransfer(status=DataTransferStatusEnumType.unknown_vendor_id)

    @on(Action.sign_certificate)
    async def on_sign_certificate(self, csr, **kwargs):
        # No certificate authority is configured for charger certificates (security profile 3) yet.
        await events.record(self.station, StationEvent.Kind.CERTIFICATE, "SignCertificate rejected",
                            {"reason": "No CA configured for charge point certificates",
                             "certificateType": kwargs.get("certificate_type")})
        return call_result.SignCertificate(status=GenericStatusEnumType.rejected)
