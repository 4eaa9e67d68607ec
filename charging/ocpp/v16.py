"""OCPP 1.6J: wire in, one domain call, wire out. The domain knows nothing of 1.6."""

import logging

from ocpp.routing import on
from ocpp.v16 import ChargePoint as LibraryChargePoint
from ocpp.v16 import call_result
from ocpp.v16.datatypes import IdTagInfo
from ocpp.v16.enums import (
    Action,
    AuthorizationStatus,
    DataTransferStatus,
    GenericStatus,
    RegistrationStatus,
)

from charging.models import StationEvent
from charging.ocpp import events
from charging.ocpp.batching import readings_writer
from charging.ocpp.gateway import GatewayMixin, database, iso, parse_timestamp, utc_now
from charging.ocpp.presence import NAME as presence_name
from charging.ocpp.readings import readings_from_meter_values
from charging.services import stations
from charging.services.authorization import Authorization, AuthStatus, authorize
from charging.services.sessions import ReadingsEntry, start_session, stop_session

logger = logging.getLogger("csms.ocpp")

_STATUS = {
    AuthStatus.ACCEPTED: AuthorizationStatus.accepted,
    AuthStatus.BLOCKED: AuthorizationStatus.blocked,
    AuthStatus.EXPIRED: AuthorizationStatus.expired,
    AuthStatus.INVALID: AuthorizationStatus.invalid,
    AuthStatus.CONCURRENT_TX: AuthorizationStatus.concurrent_tx,
    # 1.6 has no "not at this location" nor "not at this time": to the charger the token is simply not valid here.
    AuthStatus.NOT_ALLOWED_HERE: AuthorizationStatus.invalid,
    AuthStatus.NOT_AT_THIS_TIME: AuthorizationStatus.invalid,
}


def id_tag_info(authorization: Authorization) -> IdTagInfo:
    token = authorization.id_token
    expiry = iso(token.valid_until) if token is not None and token.valid_until else None
    return IdTagInfo(status=_STATUS[authorization.status], expiry_date=expiry)


class ChargePoint16(GatewayMixin, LibraryChargePoint):
    @on(Action.boot_notification)
    async def on_boot_notification(self, charge_point_vendor, charge_point_model, **kwargs):
        now = utc_now()
        result = await database(stations.charge_point_boot)(
            charge_point=self.station, vendor=charge_point_vendor, model=charge_point_model,
            serial_number=kwargs.get("charge_point_serial_number") or kwargs.get("charge_box_serial_number") or "",
            firmware_version=kwargs.get("firmware_version", ""), ocpp_version="1.6", at=now, now=now,
            via=presence_name)
        self.station.registration_status = result.status
        return call_result.BootNotification(current_time=iso(now), interval=result.interval,
                                            status=RegistrationStatus(result.status))

    @on(Action.heartbeat)
    async def on_heartbeat(self, **kwargs):
        return call_result.Heartbeat(current_time=iso(utc_now()))

    @on(Action.status_notification)
    async def on_status_notification(self, connector_id, error_code, status, **kwargs):
        at = parse_timestamp(kwargs["timestamp"]) if kwargs.get("timestamp") else utc_now()
        await database(stations.status_report)(
            charge_point=self.station, evse_id=connector_id, connector_id=1 if connector_id else None,
            status=status, error_code="" if error_code == "NoError" else error_code, info=kwargs.get("info", ""),
            vendor_error_code=kwargs.get("vendor_error_code", ""), at=at)
        return call_result.StatusNotification()

    @on(Action.authorize)
    async def on_authorize(self, id_tag, **kwargs):
        authorization = await database(authorize)(charge_point=self.station, uid=id_tag, at=utc_now(),
                                                  purpose="authorize", check_concurrent=True)
        return call_result.Authorize(id_tag_info=id_tag_info(authorization))

    @on(Action.start_transaction)
    async def on_start_transaction(self, connector_id, id_tag, meter_start, timestamp, **kwargs):
        started_at = parse_timestamp(timestamp)
        result = await database(self._start)(connector_id, id_tag, meter_start, started_at,
                                             kwargs.get("reservation_id"))
        return call_result.StartTransaction(transaction_id=int(result.session.transaction_id),
                                            id_tag_info=id_tag_info(result.authorization))

    def _start(self, connector_id, id_tag, meter_start, started_at, reservation_id):
        evse = stations.ensure_evse(charge_point=self.station, evse_id=connector_id)
        return start_session(charge_point=self.station, evse=evse, uid=id_tag, meter_start_wh=meter_start,
                             started_at=started_at, reservation_id=reservation_id,
                             offline=(utc_now() - started_at).total_seconds() > self.station.heartbeat_interval)

    @on(Action.stop_transaction)
    async def on_stop_transaction(self, meter_stop, timestamp, transaction_id, **kwargs):
        stopped_at = parse_timestamp(timestamp)
        readings = readings_from_meter_values(kwargs.get("transaction_data"))
        result = await database(stop_session)(
            charge_point=self.station, transaction_id=str(transaction_id), stopped_at=stopped_at,
            meter_stop_wh=meter_stop, reason=kwargs.get("reason", ""), uid=kwargs.get("id_tag"), readings=readings,
            payload={"meterStop": meter_stop, "timestamp": timestamp, "transactionId": transaction_id,
                     "idTag": kwargs.get("id_tag"), "reason": kwargs.get("reason")})
        if not kwargs.get("id_tag"):
            return call_result.StopTransaction()
        if result.authorization is not None:
            return call_result.StopTransaction(id_tag_info=id_tag_info(result.authorization))
        return call_result.StopTransaction(id_tag_info=IdTagInfo(status=AuthorizationStatus.accepted))

    @on(Action.meter_values)
    async def on_meter_values(self, connector_id, meter_value, **kwargs):
        readings = readings_from_meter_values(meter_value)
        transaction_id = kwargs.get("transaction_id")
        await readings_writer.submit(ReadingsEntry(
            charge_point_id=self.station.pk, readings=readings, evse_number=connector_id or None,
            evse_pk=await self.evse_pk(connector_id),
            transaction_id=str(transaction_id) if transaction_id is not None else None))
        return call_result.MeterValues()

    @on(Action.data_transfer)
    async def on_data_transfer(self, vendor_id, **kwargs):
        await events.record(self.station, StationEvent.Kind.VENDOR, vendor_id,
                            {"messageId": kwargs.get("message_id"), "data": kwargs.get("data")})
        return call_result.DataTransfer(status=DataTransferStatus.unknown_vendor_id)

    @on(Action.diagnostics_status_notification)
    async def on_diagnostics_status_notification(self, status, **kwargs):
        await events.record(self.station, StationEvent.Kind.DIAGNOSTICS, status, {}, diagnostics_status=status)
        return call_result.DiagnosticsStatusNotification()

    @on(Action.firmware_status_notification)
    async def on_firmware_status_notification(self, status, **kwargs):
        await events.record(self.station, StationEvent.Kind.FIRMWARE, status, {}, firmware_status=status)
        return call_result.FirmwareStatusNotification()

    @on(Action.security_event_notification)
    async def on_security_event_notification(self, type, timestamp, **kwargs):
        at = parse_timestamp(timestamp)
        await events.record(self.station, StationEvent.Kind.SECURITY, type, {"techInfo": kwargs.get("tech_info")},
                            at=at)
        return call_result.SecurityEventNotification()

    @on(Action.log_status_notification)
    async def on_log_status_notification(self, status, **kwargs):
        await events.record(self.station, StationEvent.Kind.DIAGNOSTICS, status,
                            {"requestId": kwargs.get("request_id")}, diagnostics_status=status)
        return call_result.LogStatusNotification()

    @on(Action.signed_firmware_status_notification)
    async def on_signed_firmware_status_notification(self, status, **kwargs):
        await events.record(self.station, StationEvent.Kind.FIRMWARE, status,
                            {"requestId": kwargs.get("request_id")}, firmware_status=status)
        return call_result.SignedFirmwareStatusNotification()

    @on(Action.sign_certificate)
    async def on_sign_certificate(self, csr, **kwargs):
        # No certificate authority is configured for charger certificates (security profile 3) yet.
        await events.record(self.station, StationEvent.Kind.CERTIFICATE, "SignCertificate rejected",
                            {"reason": "No CA configured for charge point certificates"})
        return call_result.SignCertificate(status=GenericStatus.rejected)
