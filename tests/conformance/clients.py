"""Simulated chargers for the conformance tests, built on the `ocpp` library's ChargePoint (the charger side)."""

import asyncio
import base64
import contextlib
import json
import time
from datetime import UTC, datetime

import websockets
from ocpp.routing import after, on
from ocpp.v16 import ChargePoint as ChargePoint16
from ocpp.v16 import call_result as result16
from ocpp.v16.enums import Action as Action16
from ocpp.v201 import ChargePoint as ChargePoint201
from ocpp.v201 import call as call201
from ocpp.v201 import call_result as result201
from ocpp.v201.enums import Action as Action201


def basic_auth(identity: str, key: str) -> dict:
    token = base64.b64encode(f"{identity}:{key}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


class Charger16(ChargePoint16):
    """Answers every CSMS→charger call; ``answers`` overrides the status it gives per action."""

    def __init__(self, *args, answers: dict | None = None, **kwargs):
        super().__init__(*args, response_timeout=10, **kwargs)
        self.answers = answers or {}
        self.received: list[tuple[str, dict]] = []
        #: (time.monotonic() on arrival, the charging profile as received) of every SetChargingProfile.
        self.profiles: list[tuple[float, dict]] = []

    def _status(self, action: str, default: str = "Accepted") -> str:
        return self.answers.get(action, default)

    def _note(self, action, kwargs):
        self.received.append((action, kwargs))

    @on(Action16.remote_start_transaction)
    def on_remote_start(self, id_tag, **kwargs):
        self._note("RemoteStartTransaction", {"id_tag": id_tag, **kwargs})
        return result16.RemoteStartTransaction(status=self._status("RemoteStartTransaction"))

    @on(Action16.remote_stop_transaction)
    def on_remote_stop(self, transaction_id, **kwargs):
        self._note("RemoteStopTransaction", {"transaction_id": transaction_id})
        return result16.RemoteStopTransaction(status=self._status("RemoteStopTransaction"))

    @on(Action16.reset)
    def on_reset(self, type, **kwargs):
        self._note("Reset", {"type": type})
        return result16.Reset(status=self._status("Reset"))

    @on(Action16.unlock_connector)
    def on_unlock(self, connector_id, **kwargs):
        self._note("UnlockConnector", {"connector_id": connector_id})
        return result16.UnlockConnector(status=self._status("UnlockConnector", "Unlocked"))

    @on(Action16.change_configuration)
    def on_change_configuration(self, key, value, **kwargs):
        self._note("ChangeConfiguration", {"key": key, "value": value})
        return result16.ChangeConfiguration(status=self._status("ChangeConfiguration"))

    @on(Action16.get_configuration)
    def on_get_configuration(self, **kwargs):
        self._note("GetConfiguration", kwargs)
        return result16.GetConfiguration(
            configuration_key=[{"key": "HeartbeatInterval", "readonly": False, "value": "300"}],
            unknown_key=[k for k in kwargs.get("key", []) if k != "HeartbeatInterval"] or None)

    @on(Action16.send_local_list)
    def on_send_local_list(self, list_version, update_type, **kwargs):
        self._note("SendLocalList", {"list_version": list_version, "update_type": update_type, **kwargs})
        return result16.SendLocalList(status=self._status("SendLocalList"))

    @on(Action16.get_local_list_version)
    def on_get_local_list_version(self, **kwargs):
        return result16.GetLocalListVersion(list_version=7)

    @on(Action16.reserve_now)
    def on_reserve_now(self, connector_id, expiry_date, id_tag, reservation_id, **kwargs):
        self._note("ReserveNow", {"reservation_id": reservation_id})
        return result16.ReserveNow(status=self._status("ReserveNow"))

    @on(Action16.cancel_reservation)
    def on_cancel_reservation(self, reservation_id, **kwargs):
        return result16.CancelReservation(status=self._status("CancelReservation"))

    @on(Action16.trigger_message)
    def on_trigger_message(self, requested_message, **kwargs):
        self._note("TriggerMessage", {"requested_message": requested_message})
        return result16.TriggerMessage(status=self._status("TriggerMessage"))

    @on(Action16.change_availability)
    def on_change_availability(self, connector_id, type, **kwargs):
        self._note("ChangeAvailability", {"connector_id": connector_id, "type": type})
        return result16.ChangeAvailability(status=self._status("ChangeAvailability"))

    @on(Action16.clear_cache)
    def on_clear_cache(self, **kwargs):
        self._note("ClearCache", {})
        return result16.ClearCache(status=self._status("ClearCache"))

    @on(Action16.get_diagnostics)
    def on_get_diagnostics(self, location, **kwargs):
        return result16.GetDiagnostics(file_name="diagnostics.zip")

    @on(Action16.update_firmware)
    def on_update_firmware(self, location, retrieve_date, **kwargs):
        return result16.UpdateFirmware()

    @on(Action16.set_charging_profile)
    def on_set_charging_profile(self, connector_id, cs_charging_profiles, **kwargs):
        self._note("SetChargingProfile", {"connector_id": connector_id, "profile": cs_charging_profiles})
        self.profiles.append((time.monotonic(), cs_charging_profiles))
        return result16.SetChargingProfile(status=self._status("SetChargingProfile"))

    @on(Action16.clear_charging_profile)
    def on_clear_charging_profile(self, **kwargs):
        return result16.ClearChargingProfile(status=self._status("ClearChargingProfile"))

    @on(Action16.get_composite_schedule)
    def on_get_composite_schedule(self, connector_id, duration, **kwargs):
        return result16.GetCompositeSchedule(status="Accepted", connector_id=connector_id)

    @on(Action16.data_transfer)
    def on_data_transfer(self, vendor_id, **kwargs):
        return result16.DataTransfer(status="UnknownVendorId")


@contextlib.asynccontextmanager
async def connected(url: str, identity: str, *, version: str = "1.6", key: str | None = None,
                    charger_class=Charger16, **charger_kwargs):
    """A charger connected to the CSMS and reading frames, for the length of the block."""
    headers = basic_auth(identity, key) if key else None
    async with websockets.connect(f"{url}/ocpp/{identity}", subprotocols=[f"ocpp{version}"],
                                  additional_headers=headers, open_timeout=10) as socket:
        charger = charger_class(identity, socket, **charger_kwargs)
        reader = asyncio.create_task(charger.start())
        try:
            yield charger
        finally:
            reader.cancel()
    await server_settled()


#: Longer than the test server's batch interval (OCPP_BATCH_FLUSH_SECONDS 0.05 s), so what it writes after a
#: disconnect (last seen, the connection event, frames) is done before the test's database is flushed; on
#: PostgreSQL a TRUNCATE racing those writes can deadlock.
SERVER_SETTLE_SECONDS = 0.2


async def server_settled() -> None:
    await asyncio.sleep(SERVER_SETTLE_SECONDS)


@contextlib.asynccontextmanager
async def raw_socket(url: str, identity: str, *, version: str = "1.6", key: str | None = None):
    headers = basic_auth(identity, key) if key else None
    async with websockets.connect(f"{url}/ocpp/{identity}", subprotocols=[f"ocpp{version}"],
                                  additional_headers=headers, open_timeout=10) as socket:
        yield socket
    await server_settled()


async def exchange(socket, frame) -> list:
    """Send one frame (a list, or raw text) and return the CSMS's answer."""
    await socket.send(frame if isinstance(frame, str) else json.dumps(frame))
    return json.loads(await asyncio.wait_for(socket.recv(), 10))


class Charger201(ChargePoint201):
    """An OCPP 2.0.1 charging station answering the CSMS's calls."""

    def __init__(self, *args, answers: dict | None = None, **kwargs):
        super().__init__(*args, response_timeout=10, **kwargs)
        self.answers = answers or {}
        self.received: list[tuple[str, dict]] = []
        self.heartbeat_interval = "300"  # its one writable variable, reported by GetBaseReport
        #: (time.monotonic() on arrival, the charging profile as received) of every SetChargingProfile.
        self.profiles: list[tuple[float, dict]] = []

    @on(Action201.request_start_transaction)
    def on_request_start(self, id_token, remote_start_id, **kwargs):
        self.received.append(("RequestStartTransaction", {"id_token": id_token, "remote_start_id": remote_start_id}))
        return result201.RequestStartTransaction(status=self.answers.get("RequestStartTransaction", "Accepted"))

    @on(Action201.request_stop_transaction)
    def on_request_stop(self, transaction_id, **kwargs):
        self.received.append(("RequestStopTransaction", {"transaction_id": transaction_id}))
        return result201.RequestStopTransaction(status="Accepted")

    @on(Action201.get_variables)
    def on_get_variables(self, get_variable_data, **kwargs):
        self.received.append(("GetVariables", {"get_variable_data": get_variable_data}))
        return result201.GetVariables(get_variable_result=[
            {"attribute_status": "Accepted", "component": item["component"], "variable": item["variable"],
             "attribute_value": "300"} for item in get_variable_data])

    @on(Action201.reset)
    def on_reset(self, type, **kwargs):
        self.received.append(("Reset", {"type": type}))
        return result201.Reset(status="Accepted")

    @on(Action201.unlock_connector)
    def on_unlock(self, evse_id, connector_id, **kwargs):
        self.received.append(("UnlockConnector", {"evse_id": evse_id, "connector_id": connector_id}))
        return result201.UnlockConnector(status=self.answers.get("UnlockConnector", "Unlocked"))

    @on(Action201.change_availability)
    def on_change_availability(self, operational_status, **kwargs):
        self.received.append(("ChangeAvailability", {"operational_status": operational_status, **kwargs}))
        return result201.ChangeAvailability(status=self.answers.get("ChangeAvailability", "Accepted"))

    @on(Action201.trigger_message)
    def on_trigger_message(self, requested_message, **kwargs):
        self.received.append(("TriggerMessage", {"requested_message": requested_message, **kwargs}))
        return result201.TriggerMessage(status=self.answers.get("TriggerMessage", "Accepted"))

    @on(Action201.clear_cache)
    def on_clear_cache(self, **kwargs):
        self.received.append(("ClearCache", {}))
        return result201.ClearCache(status=self.answers.get("ClearCache", "Accepted"))

    @on(Action201.get_base_report)
    def on_get_base_report(self, request_id, report_base, **kwargs):
        self.received.append(("GetBaseReport", {"request_id": request_id, "report_base": report_base}))
        return result201.GetBaseReport(status=self.answers.get("GetBaseReport", "Accepted"))

    @after(Action201.get_base_report)
    async def report_device_model(self, request_id, report_base, **kwargs):
        """Like a station, report the inventory asked for in a NotifyReport after answering."""
        if self.answers.get("GetBaseReport", "Accepted") != "Accepted":
            return
        await self.call(call201.NotifyReport(
            request_id=request_id, generated_at=datetime.now(UTC).isoformat(), seq_no=0, tbc=False, report_data=[
                {"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"},
                 "variable_attribute": [{"type": "Actual", "value": self.heartbeat_interval,
                                         "mutability": "ReadWrite"}]},
                {"component": {"name": "Connector", "evse": {"id": 1}}, "variable": {"name": "ConnectorType"},
                 "variable_attribute": [{"type": "Actual", "value": "cType2", "mutability": "ReadOnly"}]}]))

    @on(Action201.set_variables)
    def on_set_variables(self, set_variable_data, **kwargs):
        self.received.append(("SetVariables", {"set_variable_data": set_variable_data}))
        status = self.answers.get("SetVariables", "Accepted")
        for item in set_variable_data:
            if status == "Accepted" and item["variable"]["name"] == "HeartbeatInterval":
                self.heartbeat_interval = item["attribute_value"]
        return result201.SetVariables(set_variable_result=[
            {"attribute_status": status, "component": item["component"], "variable": item["variable"]}
            for item in set_variable_data])

    @on(Action201.send_local_list)
    def on_send_local_list(self, version_number, update_type, **kwargs):
        self.received.append(("SendLocalList", {"version_number": version_number, "update_type": update_type,
                                                **kwargs}))
        return result201.SendLocalList(status=self.answers.get("SendLocalList", "Accepted"))

    @on(Action201.get_local_list_version)
    def on_get_local_list_version(self, **kwargs):
        return result201.GetLocalListVersion(version_number=7)

    @on(Action201.update_firmware)
    def on_update_firmware(self, request_id, firmware, **kwargs):
        self.received.append(("UpdateFirmware", {"request_id": request_id, "firmware": firmware}))
        return result201.UpdateFirmware(status=self.answers.get("UpdateFirmware", "Accepted"))

    @on(Action201.get_log)
    def on_get_log(self, log, log_type, request_id, **kwargs):
        self.received.append(("GetLog", {"log": log, "log_type": log_type, "request_id": request_id}))
        return result201.GetLog(status=self.answers.get("GetLog", "Accepted"), filename="diagnostics.zip")

    @on(Action201.set_charging_profile)
    def on_set_charging_profile(self, evse_id, charging_profile, **kwargs):
        self.received.append(("SetChargingProfile", {"evse_id": evse_id, "profile": charging_profile}))
        self.profiles.append((time.monotonic(), charging_profile))
        return result201.SetChargingProfile(status=self.answers.get("SetChargingProfile", "Accepted"))

    @on(Action201.clear_charging_profile)
    def on_clear_charging_profile(self, **kwargs):
        self.received.append(("ClearChargingProfile", kwargs))
        return result201.ClearChargingProfile(status=self.answers.get("ClearChargingProfile", "Accepted"))

    @on(Action201.reserve_now)
    def on_reserve_now(self, id, expiry_date_time, id_token, **kwargs):
        self.received.append(("ReserveNow", {"id": id}))
        return result201.ReserveNow(status=self.answers.get("ReserveNow", "Accepted"))

    @on(Action201.cancel_reservation)
    def on_cancel_reservation(self, reservation_id, **kwargs):
        self.received.append(("CancelReservation", {"reservation_id": reservation_id}))
        return result201.CancelReservation(status=self.answers.get("CancelReservation", "Accepted"))
