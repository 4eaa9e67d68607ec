"""Wire payloads of CSMS→charger calls, per OCPP version.

Services describe what they want in protocol-neutral terms (hard or soft reset, EVSE numbers, a token and its
status); each builder here returns ``(action, payload)`` in the charger's version, ready for
``charging.commands.send``, which checks the payload against the schema bundled with the ``ocpp`` library.
An EVSE number is a 1.6 connectorId; 0 or None means the whole station.
"""

from dataclasses import dataclass
from datetime import datetime

from charging.models import ChargePoint, ChargingProfile, Reservation
from charging.ocpp.gateway import iso

V16 = ChargePoint.OcppVersion.V16.value
V201 = ChargePoint.OcppVersion.V201.value

#: Messages a charger can be asked to send now (TriggerMessage), per version.
TRIGGER_MESSAGES = {
    V16: ["BootNotification", "DiagnosticsStatusNotification", "FirmwareStatusNotification", "Heartbeat",
          "MeterValues", "StatusNotification"],
    V201: ["BootNotification", "LogStatusNotification", "FirmwareStatusNotification", "Heartbeat", "MeterValues",
           "SignChargingStationCertificate", "SignV2GCertificate", "StatusNotification", "TransactionEvent",
           "SignCombinedCertificate", "PublishFirmwareStatusNotification"],
}
#: 1.6 limits idTag to 20 characters; longer uids (up to 2.0.1's 36) cannot be sent to a 1.6 charger.
V16_MAX_ID_TAG = 20

#: Neutral charging-profile purposes → each version's name.
PROFILE_PURPOSES = {
    "station_max": {V16: "ChargePointMaxProfile", V201: "ChargingStationMaxProfile"},
    "tx_default": {V16: "TxDefaultProfile", V201: "TxDefaultProfile"},
    "tx": {V16: "TxProfile", V201: "TxProfile"},
}

#: accounts.IdToken.Type → 2.0.1 IdTokenEnumType.
_TOKEN_TYPES = {"rfid": "ISO14443", "key_code": "KeyCode", "central": "Central", "emaid": "eMAID",
                "mac": "MacAddress"}


def version_of(charge_point: ChargePoint) -> str:
    """The version to speak: a charger that never booted is treated as 1.6, as charging.commands does."""
    return charge_point.ocpp_version or V16


def token_type(kind: str | None) -> str:
    return _TOKEN_TYPES.get(kind or "", "ISO14443")


def _id_token(uid: str, kind: str | None) -> dict:
    return {"idToken": uid, "type": token_type(kind)}


def reset(version: str, *, hard: bool) -> tuple[str, dict]:
    if version == V201:
        # Immediate ends running transactions now; OnIdle waits for them, as a 1.6 soft reset stops them first.
        return "Reset", {"type": "Immediate" if hard else "OnIdle"}
    return "Reset", {"type": "Hard" if hard else "Soft"}


def unlock_connector(version: str, *, evse: int, connector: int = 1) -> tuple[str, dict]:
    if version == V201:
        return "UnlockConnector", {"evseId": evse, "connectorId": connector}
    return "UnlockConnector", {"connectorId": evse}


def change_availability(version: str, *, evse: int | None, operative: bool) -> tuple[str, dict]:
    status = "Operative" if operative else "Inoperative"
    if version == V201:
        payload = {"operationalStatus": status}
        if evse:
            payload["evse"] = {"id": evse}
        return "ChangeAvailability", payload
    return "ChangeAvailability", {"connectorId": evse or 0, "type": status}


def clear_cache(version: str) -> tuple[str, dict]:
    return "ClearCache", {}


def trigger_message(version: str, *, message: str, evse: int | None = None) -> tuple[str, dict]:
    if message not in TRIGGER_MESSAGES[version]:
        raise ValueError(f"{message} cannot be triggered in OCPP {version}")
    payload: dict = {"requestedMessage": message}
    if evse:
        if version == V201:
            payload["evse"] = {"id": evse}
        else:
            payload["connectorId"] = evse
    return "TriggerMessage", payload


def update_firmware(version: str, *, location: str, retrieve_at: datetime, request_id: int) -> tuple[str, dict]:
    if version == V201:
        return "UpdateFirmware", {"requestId": request_id,
                                  "firmware": {"location": location, "retrieveDateTime": iso(retrieve_at)}}
    return "UpdateFirmware", {"location": location, "retrieveDate": iso(retrieve_at)}


def get_diagnostics(version: str, *, location: str, request_id: int, start: datetime | None = None,
                    stop: datetime | None = None) -> tuple[str, dict]:
    """1.6 GetDiagnostics, 2.0.1 GetLog (a diagnostics log) uploaded to ``location``."""
    if version == V201:
        log: dict = {"remoteLocation": location}
        if start is not None:
            log["oldestTimestamp"] = iso(start)
        if stop is not None:
            log["latestTimestamp"] = iso(stop)
        return "GetLog", {"logType": "DiagnosticsLog", "requestId": request_id, "log": log}
    payload: dict = {"location": location}
    if start is not None:
        payload["startTime"] = iso(start)
    if stop is not None:
        payload["stopTime"] = iso(stop)
    return "GetDiagnostics", payload


@dataclass(frozen=True)
class LocalListEntry:
    """One token in a local authorization list, with the answer the charger should give for it offline."""

    uid: str
    kind: str  # accounts.IdToken.Type
    status: str  # Accepted, Blocked or Expired
    expires_at: datetime | None = None


def send_local_list(version: str, *, list_version: int, full: bool,
                    entries: list[LocalListEntry]) -> tuple[str, dict]:
    """Tokens too long for 1.6 are left out of a 1.6 list (see ``local_list_fits``)."""
    update_type = "Full" if full else "Differential"
    if version == V201:
        items = []
        for entry in entries:
            info: dict = {"status": entry.status}
            if entry.expires_at is not None:
                info["cacheExpiryDateTime"] = iso(entry.expires_at)
            items.append({"idToken": _id_token(entry.uid, entry.kind), "idTokenInfo": info})
        payload: dict = {"versionNumber": list_version, "updateType": update_type}
        if items:  # 2.0.1 allows no empty list: an empty full update is sent without one
            payload["localAuthorizationList"] = items
        return "SendLocalList", payload
    items = []
    for entry in entries:
        if not local_list_fits(version, entry.uid):
            continue
        info = {"status": entry.status}
        if entry.expires_at is not None:
            info["expiryDate"] = iso(entry.expires_at)
        items.append({"idTag": entry.uid, "idTagInfo": info})
    return "SendLocalList", {"listVersion": list_version, "updateType": update_type,
                             "localAuthorizationList": items}


def local_list_fits(version: str, uid: str) -> bool:
    return version == V201 or len(uid) <= V16_MAX_ID_TAG


def remote_start(version: str, *, uid: str, kind: str | None, evse: int | None,
                 remote_start_id: int, profile: ChargingProfile | None = None) -> tuple[str, dict]:
    """``profile``: a TxProfile the charger applies to the transaction it starts."""
    if version == V201:
        payload = {"idToken": _id_token(uid, kind), "remoteStartId": remote_start_id}
        if evse:
            payload["evseId"] = evse
        if profile is not None:
            payload["chargingProfile"] = charging_profile_body(version, profile)
        return "RequestStartTransaction", payload
    payload = {"idTag": uid}
    if evse:
        payload["connectorId"] = evse
    if profile is not None:
        payload["chargingProfile"] = charging_profile_body(version, profile)
    return "RemoteStartTransaction", payload


def _number(value) -> int | float:
    # JSON needs a number; profile limits are stored with one decimal (OCPP 1.6 needs multiples of 0.1).
    number = float(value)
    return int(number) if number.is_integer() else round(number, 1)


def charging_profile_body(version: str, profile: ChargingProfile) -> dict:
    """The csChargingProfiles (1.6) / ChargingProfileType (2.0.1) object of a stored profile; its id is the
    stored ``charging_profile_id``."""
    periods = []
    for period in profile.periods:
        wire = {"startPeriod": int(period["start_period"]), "limit": _number(period["limit"])}
        if period.get("number_phases"):
            wire["numberPhases"] = int(period["number_phases"])
        periods.append(wire)
    schedule: dict = {"chargingRateUnit": profile.charging_rate_unit, "chargingSchedulePeriod": periods}
    if profile.duration:
        schedule["duration"] = profile.duration
    if profile.start_schedule:
        schedule["startSchedule"] = iso(profile.start_schedule)
    if profile.min_charging_rate is not None:
        schedule["minChargingRate"] = _number(profile.min_charging_rate)
    body: dict = {"stackLevel": profile.stack_level,
                  "chargingProfilePurpose": PROFILE_PURPOSES[profile.purpose][version],
                  "chargingProfileKind": profile.kind}
    if profile.recurrency_kind:
        body["recurrencyKind"] = profile.recurrency_kind
    if profile.valid_from:
        body["validFrom"] = iso(profile.valid_from)
    if profile.valid_to:
        body["validTo"] = iso(profile.valid_to)
    if version == V201:
        body = {"id": profile.charging_profile_id, **body,
                "chargingSchedule": [{"id": profile.charging_profile_id, **schedule}]}
        if profile.transaction_id:
            body["transactionId"] = profile.transaction_id
        return body
    body = {"chargingProfileId": profile.charging_profile_id, **body, "chargingSchedule": schedule}
    if profile.transaction_id:
        body["transactionId"] = int(profile.transaction_id)
    return body


def set_charging_profile(version: str, profile: ChargingProfile) -> tuple[str, dict]:
    evse = profile.evse.evse_id if profile.evse_id else 0
    if version == V201:
        return "SetChargingProfile", {"evseId": evse, "chargingProfile": charging_profile_body(version, profile)}
    return "SetChargingProfile", {"connectorId": evse, "csChargingProfiles": charging_profile_body(version, profile)}


def remote_stop(version: str, *, transaction_id: str) -> tuple[str, dict]:
    """1.6 transaction ids are integers (the CSMS assigns them); 2.0.1 ids are the charger's strings."""
    if version == V201:
        return "RequestStopTransaction", {"transactionId": transaction_id}
    return "RemoteStopTransaction", {"transactionId": int(transaction_id)}


def clear_charging_profile(version: str, *, evse: int | None = None, purpose: str | None = None,
                           profile_id: int | None = None) -> tuple[str, dict]:
    """Clear every profile, or those of one EVSE and/or one purpose (a key of PROFILE_PURPOSES), or the one with
    chargingProfileId ``profile_id``."""
    if profile_id is not None:
        payload = {"chargingProfileId": profile_id} if version == V201 else {"id": profile_id}
        return "ClearChargingProfile", payload
    wire_purpose = PROFILE_PURPOSES[purpose][version] if purpose else None
    if version == V201:
        criteria: dict = {}
        if evse is not None:
            criteria["evseId"] = evse
        if wire_purpose:
            criteria["chargingProfilePurpose"] = wire_purpose
        return "ClearChargingProfile", {"chargingProfileCriteria": criteria} if criteria else {}
    payload: dict = {}
    if evse is not None:
        payload["connectorId"] = evse
    if wire_purpose:
        payload["chargingProfilePurpose"] = wire_purpose
    return "ClearChargingProfile", payload


def read_configuration(version: str, *, keys: list[str] | None = None, request_id: int) -> tuple[str, dict]:
    """1.6 GetConfiguration (all keys, or ``keys``); 2.0.1 GetBaseReport FullInventory, whose NotifyReport
    messages then arrive separately and fill the device model."""
    if version == V201:
        return "GetBaseReport", {"requestId": request_id, "reportBase": "FullInventory"}
    return "GetConfiguration", {"key": list(keys)} if keys else {}


def change_configuration(version: str, *, name: str, value: str, component: str = "", evse: int | None = None,
                         component_instance: str = "", variable_instance: str = "") -> tuple[str, dict]:
    """1.6 ChangeConfiguration of key ``name``; 2.0.1 SetVariables of variable ``name`` of ``component``."""
    if version == V201:
        wire_component: dict = {"name": component}
        if evse is not None:
            wire_component["evse"] = {"id": evse}
        if component_instance:
            wire_component["instance"] = component_instance
        variable: dict = {"name": name}
        if variable_instance:
            variable["instance"] = variable_instance
        return "SetVariables", {"setVariableData": [
            {"attributeType": "Actual", "attributeValue": value, "component": wire_component,
             "variable": variable}]}
    return "ChangeConfiguration", {"key": name, "value": value}


def reserve_now(reservation: Reservation) -> tuple[str, dict]:
    evse = reservation.evse
    if version_of(reservation.charge_point) == V201:
        kind = reservation.id_token.type if reservation.id_token_id else None
        payload = {"id": reservation.pk, "expiryDateTime": iso(reservation.expires_at),
                   "idToken": _id_token(reservation.id_token_uid, kind)}
        if evse is not None:
            payload["evseId"] = evse.evse_id
        return "ReserveNow", payload
    return "ReserveNow", {"connectorId": evse.evse_id if evse else 0, "expiryDate": iso(reservation.expires_at),
                          "idTag": reservation.id_token_uid, "reservationId": reservation.pk}


def cancel_reservation(reservation: Reservation) -> tuple[str, dict]:
    # The same in both versions.
    return "CancelReservation", {"reservationId": reservation.pk}
