"""Remote actions: wire payloads of both OCPP versions, the remote services (with a stand-in for the websocket
round trip), and the charge point page in the admin (permissions, messages, panels, query counts)."""

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from ocpp.messages import Call, _validate_payload

from accounts.models import AuditLogEntry, IdToken
from accounts.services.tokens import id_token_block, id_token_issue
from charging import commands
from charging.models import (
    Alarm,
    AuthorizationAttempt,
    ChargePoint,
    ChargingSession,
    ConnectionEvent,
    MeterSample,
    OcppFrame,
    RemoteCommand,
    Reservation,
    StationNote,
)
from charging.ocpp import outbound, validation
from charging.selectors import station_page as selectors
from charging.services import remote
from charging.services.notes import station_note_add
from charging.services.stations import charge_point_register

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 20, 18, 30, tzinfo=UTC)
V16, V201 = "1.6", "2.0.1"


def library_valid(version: str, action: str, payload: dict) -> None:
    """Check a payload as a charger built on the `ocpp` library would on receipt (jsonschema, Draft 4), and as
    charging.commands does before sending."""
    _validate_payload(Call(unique_id="1", action=action, payload=json.loads(json.dumps(payload))), version)
    validation.validate(version, action, payload)


# --- payloads -----------------------------------------------------------------------------------------------------
TOKEN_ENTRIES = [outbound.LocalListEntry(uid="04A23B1C", kind="rfid", status="Accepted", expires_at=NOW),
                 outbound.LocalListEntry(uid="KEY1234", kind="key_code", status="Blocked")]

BUILDERS = {
    "reset soft": lambda v: outbound.reset(v, hard=False),
    "reset hard": lambda v: outbound.reset(v, hard=True),
    "unlock": lambda v: outbound.unlock_connector(v, evse=2, connector=1),
    "availability station": lambda v: outbound.change_availability(v, evse=None, operative=False),
    "availability evse": lambda v: outbound.change_availability(v, evse=1, operative=True),
    "clear cache": outbound.clear_cache,
    "trigger heartbeat": lambda v: outbound.trigger_message(v, message="Heartbeat"),
    "trigger status evse": lambda v: outbound.trigger_message(v, message="StatusNotification", evse=1),
    "firmware": lambda v: outbound.update_firmware(v, location="https://fw.example.com/zap-2.1.bin",
                                                   retrieve_at=NOW, request_id=7),
    "diagnostics": lambda v: outbound.get_diagnostics(v, location="ftp://logs.example.com/up", request_id=8,
                                                      start=NOW - timedelta(days=1), stop=NOW),
    "diagnostics open": lambda v: outbound.get_diagnostics(v, location="ftp://logs.example.com/up", request_id=9),
    "local list full": lambda v: outbound.send_local_list(v, list_version=3, full=True, entries=TOKEN_ENTRIES),
    "local list empty": lambda v: outbound.send_local_list(v, list_version=4, full=True, entries=[]),
    "local list differential": lambda v: outbound.send_local_list(v, list_version=5, full=False,
                                                                  entries=TOKEN_ENTRIES[1:]),
    "remote start": lambda v: outbound.remote_start(v, uid="04A23B1C", kind="rfid", evse=1, remote_start_id=11),
    "remote start anywhere": lambda v: outbound.remote_start(v, uid="04A23B1C", kind="central", evse=None,
                                                             remote_start_id=12),
    "remote stop": lambda v: outbound.remote_stop(v, transaction_id="17"),
    "clear profiles all": lambda v: outbound.clear_charging_profile(v),
    "clear profiles evse purpose": lambda v: outbound.clear_charging_profile(v, evse=1, purpose="tx_default"),
    "read configuration": lambda v: outbound.read_configuration(v, request_id=13),
    "read some keys": lambda v: outbound.read_configuration(v, keys=["HeartbeatInterval"], request_id=14),
    "change configuration": lambda v: outbound.change_configuration(
        v, name="HeartbeatInterval", value="600", component="OCPPCommCtrlr"),
    "change evse variable": lambda v: outbound.change_configuration(
        v, name="Enabled", value="false", component="Connector", evse=1, component_instance="A",
        variable_instance="x"),
}


@pytest.mark.parametrize("version", [V16, V201])
@pytest.mark.parametrize("name", list(BUILDERS))
def test_every_payload_is_valid_against_the_bundled_schemas(version, name):
    action, payload = BUILDERS[name](version)
    assert action in commands.ACTIONS[version]
    library_valid(version, action, payload)


@pytest.mark.parametrize(("name", "v16", "v201"), [
    ("reset soft", ("Reset", {"type": "Soft"}), ("Reset", {"type": "OnIdle"})),
    ("reset hard", ("Reset", {"type": "Hard"}), ("Reset", {"type": "Immediate"})),
    ("unlock", ("UnlockConnector", {"connectorId": 2}), ("UnlockConnector", {"evseId": 2, "connectorId": 1})),
    ("availability station", ("ChangeAvailability", {"connectorId": 0, "type": "Inoperative"}),
     ("ChangeAvailability", {"operationalStatus": "Inoperative"})),
    ("availability evse", ("ChangeAvailability", {"connectorId": 1, "type": "Operative"}),
     ("ChangeAvailability", {"operationalStatus": "Operative", "evse": {"id": 1}})),
    ("trigger status evse", ("TriggerMessage", {"requestedMessage": "StatusNotification", "connectorId": 1}),
     ("TriggerMessage", {"requestedMessage": "StatusNotification", "evse": {"id": 1}})),
    ("firmware", ("UpdateFirmware", {"location": "https://fw.example.com/zap-2.1.bin",
                                     "retrieveDate": "2026-11-20T18:30:00.000Z"}),
     ("UpdateFirmware", {"requestId": 7, "firmware": {"location": "https://fw.example.com/zap-2.1.bin",
                                                      "retrieveDateTime": "2026-11-20T18:30:00.000Z"}})),
    ("diagnostics open", ("GetDiagnostics", {"location": "ftp://logs.example.com/up"}),
     ("GetLog", {"logType": "DiagnosticsLog", "requestId": 9, "log": {"remoteLocation": "ftp://logs.example.com/up"}})),
    ("local list differential",
     ("SendLocalList", {"listVersion": 5, "updateType": "Differential",
                        "localAuthorizationList": [{"idTag": "KEY1234", "idTagInfo": {"status": "Blocked"}}]}),
     ("SendLocalList", {"versionNumber": 5, "updateType": "Differential", "localAuthorizationList": [
         {"idToken": {"idToken": "KEY1234", "type": "KeyCode"}, "idTokenInfo": {"status": "Blocked"}}]})),
    ("local list empty", ("SendLocalList", {"listVersion": 4, "updateType": "Full", "localAuthorizationList": []}),
     ("SendLocalList", {"versionNumber": 4, "updateType": "Full"})),
    ("remote start", ("RemoteStartTransaction", {"idTag": "04A23B1C", "connectorId": 1}),
     ("RequestStartTransaction", {"idToken": {"idToken": "04A23B1C", "type": "ISO14443"}, "remoteStartId": 11,
                                  "evseId": 1})),
    ("remote stop", ("RemoteStopTransaction", {"transactionId": 17}),
     ("RequestStopTransaction", {"transactionId": "17"})),
    ("clear profiles evse purpose",
     ("ClearChargingProfile", {"connectorId": 1, "chargingProfilePurpose": "TxDefaultProfile"}),
     ("ClearChargingProfile", {"chargingProfileCriteria": {"evseId": 1,
                                                           "chargingProfilePurpose": "TxDefaultProfile"}})),
    ("read configuration", ("GetConfiguration", {}),
     ("GetBaseReport", {"requestId": 13, "reportBase": "FullInventory"})),
    ("change configuration", ("ChangeConfiguration", {"key": "HeartbeatInterval", "value": "600"}),
     ("SetVariables", {"setVariableData": [{"attributeType": "Actual", "attributeValue": "600",
                                            "component": {"name": "OCPPCommCtrlr"},
                                            "variable": {"name": "HeartbeatInterval"}}]})),
])
def test_each_version_gets_its_own_names_and_shapes(name, v16, v201):
    assert BUILDERS[name](V16) == v16
    assert BUILDERS[name](V201) == v201


def test_a_1_6_list_leaves_out_tags_too_long_for_1_6_and_2_0_1_cannot_trigger_1_6_only_messages():
    long_uid = "E" * 30
    entries = [outbound.LocalListEntry(uid=long_uid, kind="emaid", status="Accepted"), *TOKEN_ENTRIES]
    _action, payload16 = outbound.send_local_list(V16, list_version=1, full=True, entries=entries)
    assert [item["idTag"] for item in payload16["localAuthorizationList"]] == ["04A23B1C", "KEY1234"]
    _action, payload201 = outbound.send_local_list(V201, list_version=1, full=True, entries=entries)
    assert payload201["localAuthorizationList"][0]["idToken"] == {"idToken": long_uid, "type": "eMAID"}
    with pytest.raises(ValueError, match="cannot be triggered"):
        outbound.trigger_message(V201, message="DiagnosticsStatusNotification")


# --- the services, with a stand-in for the charger -------------------------------------------------------------------
class FakeCharger:
    """Replaces the channel-layer round trip: records what would go over the websocket and answers like a
    charger (answers are checked against the response schemas, so they are ones a real charger could give)."""

    DEFAULTS = {
        "GetConfiguration": {"configurationKey": [{"key": "HeartbeatInterval", "readonly": False, "value": "300"},
                                                  {"key": "ChargePointModel", "readonly": True, "value": "Go"}]},
        "UpdateFirmware": {},
        "GetDiagnostics": {"fileName": "diag.zip"},
        "UnlockConnector": {"status": "Unlocked"},
    }

    def __init__(self):
        self.sent: list[tuple[str, dict]] = []
        self.answers: dict[str, dict] = {}
        self.failures: dict[str, dict] = {}
        self.version = V16

    async def round_trip(self, charge_point_id, command_id, action, payload, timeout):
        self.sent.append((action, payload))
        if action in self.failures:
            return self.failures[action]
        answer = self.answers.get(action, self.DEFAULTS.get(action, {"status": "Accepted"}))
        if self.version == V201 and action == "SetVariables" and action not in self.answers:
            answer = {"setVariableResult": [{"attributeStatus": "Accepted", **{
                k: v for k, v in payload["setVariableData"][0].items() if k in ("component", "variable")}}]}
        validation.validate(self.version, action, answer, response=True)
        return {"status": "answered", "payload": answer}


@pytest.fixture
def charger(monkeypatch):
    fake = FakeCharger()
    monkeypatch.setattr(commands, "_round_trip", fake.round_trip)
    return fake


def make_station(org, *, identity="CP-1", version=V16, evses=2, connected=True) -> ChargePoint:
    station = charge_point_register(identity=identity, organization=org, evses=evses, acting_user=None,
                                    reason="test", display_name="Laddplats 01")
    ChargePoint.objects.filter(pk=station.pk).update(ocpp_version=version, is_connected=connected,
                                                     last_seen_at=timezone.now())
    return ChargePoint.objects.get(pk=station.pk)


@pytest.fixture
def station(brf_a):
    return make_station(brf_a.org)


@pytest.mark.parametrize("version", [V16, V201])
def test_reset_sends_the_versions_reset_and_records_who_and_why(charger, brf_a, operator_staff, version):
    charger.version = version
    cp = make_station(brf_a.org, version=version)
    command = remote.reset(charge_point=cp, hard=True, acting_user=operator_staff, reason="Customer call 4711")
    assert charger.sent == [("Reset", {"type": "Hard" if version == V16 else "Immediate"})]
    assert (command.status, command.response, command.requested_by) == ("answered", {"status": "Accepted"},
                                                                          operator_staff)
    entry = AuditLogEntry.objects.get(action="remotecommand.requested")
    assert (entry.actor, entry.reason, entry.organization_id) == (operator_staff, "Customer call 4711", brf_a.org.pk)


def test_every_action_asks_why(charger, station, operator_staff):
    with pytest.raises(ValidationError):
        remote.reset(charge_point=station, hard=False, acting_user=operator_staff, reason="  ")
    assert charger.sent == []
    assert not RemoteCommand.objects.exists()


def test_an_offline_charger_raises_command_failed_with_the_stored_command(charger, brf_a, operator_staff):
    cp = make_station(brf_a.org, connected=False)
    with pytest.raises(commands.CommandFailed) as failure:
        remote.clear_cache(charge_point=cp, acting_user=operator_staff, reason="test")
    assert failure.value.command.status == RemoteCommand.Status.OFFLINE
    assert charger.sent == []


@pytest.mark.parametrize("version", [V16, V201])
def test_a_rejected_remote_start_opens_a_session_failed_to_start_alarm(charger, brf_a, operator_staff, version):
    charger.version = version
    cp = make_station(brf_a.org, version=version)
    charger.answers["RemoteStartTransaction" if version == V16 else "RequestStartTransaction"] = {
        "status": "Rejected"}
    command = remote.remote_start(charge_point=cp, id_token=brf_a.tokens[0], evse_number=2,
                                  acting_user=operator_staff, reason="Driver on the phone", now=NOW)
    assert remote.answer_status(command) == "Rejected"
    alarm = Alarm.objects.get(charge_point=cp)
    assert (alarm.kind, alarm.evse_number, alarm.closed_at) == (Alarm.Kind.SESSION_FAILED_TO_START, 2, None)
    attempt = AuthorizationAttempt.objects.get(charge_point=cp)
    assert (attempt.purpose, attempt.status, attempt.evse.evse_id) == ("remote start", "Accepted", 2)


def test_an_unanswered_remote_start_opens_the_alarm_but_an_accepted_one_does_not(charger, station, brf_a,
                                                                                  operator_staff):
    remote.remote_start(charge_point=station, id_token=brf_a.tokens[0], evse_number=1, acting_user=operator_staff,
                        reason="test", now=NOW)
    assert not Alarm.objects.exists()
    charger.failures["RemoteStartTransaction"] = {"status": "timeout"}
    with pytest.raises(commands.CommandFailed):
        remote.remote_start(charge_point=station, id_token=brf_a.tokens[1], evse_number=1,
                            acting_user=operator_staff, reason="test", now=NOW)
    assert Alarm.objects.get().kind == Alarm.Kind.SESSION_FAILED_TO_START


def test_a_remote_start_with_a_blocked_or_foreign_tag_is_refused_before_sending(charger, station, brf_a, brf_b,
                                                                                operator_staff):
    blocked = id_token_block(token=brf_a.tokens[0], reason="Lost", acting_user=None)
    for token in (blocked, brf_b.tokens[0]):
        with pytest.raises(ValidationError, match="may not charge here"):
            remote.remote_start(charge_point=station, id_token=token, evse_number=None, acting_user=operator_staff,
                                reason="test", now=NOW)
    assert charger.sent == []
    assert not Alarm.objects.exists()


def test_remote_stop_sends_the_transaction_of_an_active_session_only(charger, station, operator_staff):
    evse = station.evses.get(evse_id=1)
    session = ChargingSession.objects.create(charge_point=station, evse=evse, organization=station.organization,
                                             transaction_id="42", started_at=NOW, meter_start_wh=0)
    remote.remote_stop(session=session, acting_user=operator_staff, reason="Car left")
    assert charger.sent == [("RemoteStopTransaction", {"transactionId": 42})]
    session.status = ChargingSession.Status.COMPLETED
    with pytest.raises(ValidationError, match="not active"):
        remote.remote_stop(session=session, acting_user=operator_staff, reason="again")


def test_a_configuration_read_is_stored_and_an_accepted_change_updates_it_and_is_audited(charger, station,
                                                                                         operator_staff):
    remote.configuration_read(charge_point=station, acting_user=operator_staff, reason="check", now=NOW)
    station.refresh_from_db()
    assert station.configuration == {"HeartbeatInterval": {"value": "300", "readonly": False},
                                     "ChargePointModel": {"value": "Go", "readonly": True}}
    assert station.configuration_at == NOW

    remote.configuration_change(charge_point=station, setting=remote.Setting(name="HeartbeatInterval"), value="600",
                                acting_user=operator_staff, reason="Ticket 88", now=NOW)
    station.refresh_from_db()
    assert station.configuration["HeartbeatInterval"] == {"value": "600", "readonly": False}
    entry = AuditLogEntry.objects.get(action="chargepoint.configuration_changed")
    assert (entry.reason, entry.changes) == ("Ticket 88", {"HeartbeatInterval": ["300", "600"]})

    charger.answers["ChangeConfiguration"] = {"status": "Rejected"}
    remote.configuration_change(charge_point=station, setting=remote.Setting(name="HeartbeatInterval"), value="5",
                                acting_user=operator_staff, reason="try", now=NOW)
    station.refresh_from_db()
    assert station.configuration["HeartbeatInterval"]["value"] == "600"
    with pytest.raises(ValidationError, match="read-only"):
        remote.configuration_change(charge_point=station, setting=remote.Setting(name="ChargePointModel"),
                                    value="X", acting_user=operator_staff, reason="try", now=NOW)
    assert [a for a, _p in charger.sent] == ["GetConfiguration", "ChangeConfiguration", "ChangeConfiguration"]


def test_a_2_0_1_variable_set_updates_the_device_model(charger, brf_a, operator_staff):
    charger.version = V201
    cp = make_station(brf_a.org, version=V201)
    key = "OCPPCommCtrlr/HeartbeatInterval"
    ChargePoint.objects.filter(pk=cp.pk).update(device_model={key: {
        "attributes": [{"type": "Actual", "value": "300", "mutability": "ReadWrite"}], "characteristics": None}})
    cp.refresh_from_db()
    remote.configuration_read(charge_point=cp, acting_user=operator_staff, reason="inventory", now=NOW)
    assert charger.sent[-1][0] == "GetBaseReport"
    setting = remote.Setting(name="HeartbeatInterval", component="OCPPCommCtrlr")
    assert setting.key == key
    remote.configuration_change(charge_point=cp, setting=setting, value="900", acting_user=operator_staff,
                                reason="longer", now=NOW)
    cp.refresh_from_db()
    assert cp.device_model[key]["attributes"][0] == {"type": "Actual", "value": "900", "mutability": "ReadWrite"}
    assert selectors.device_model_rows(cp)[0]["setting"] == {
        "component": "OCPPCommCtrlr", "evse": None, "component_instance": "", "variable": "HeartbeatInterval",
        "variable_instance": ""}


def test_local_lists_full_then_differential_with_blocked_and_expired_tags(charger, station, brf_a, operator_staff):
    now = timezone.now()
    expiring = id_token_issue(organization=brf_a.org, uid="0000AAAA", valid_until=now + timedelta(hours=1),
                              acting_user=None, reason="test")
    with pytest.raises(ValidationError, match="full list first"):
        remote.send_local_list(charge_point=station, full=False, acting_user=operator_staff, reason="x", now=now)

    remote.send_local_list(charge_point=station, full=True, acting_user=operator_staff, reason="Commissioning",
                           now=now)
    action, payload = charger.sent[-1]
    assert (action, payload["listVersion"], payload["updateType"]) == ("SendLocalList", 1, "Full")
    assert sorted(item["idTag"] for item in payload["localAuthorizationList"]) == sorted(
        [t.uid for t in brf_a.tokens] + [expiring.uid])

    with pytest.raises(ValidationError, match="No tag changed"):
        remote.send_local_list(charge_point=station, full=False, acting_user=operator_staff, reason="x",
                               now=now + timedelta(minutes=1))

    id_token_block(token=brf_a.tokens[0], reason="Lost", acting_user=None, now=now + timedelta(minutes=1))
    later = now + timedelta(hours=2)
    remote.send_local_list(charge_point=station, full=False, acting_user=operator_staff, reason="Tag lost",
                           now=later)
    _action, payload = charger.sent[-1]
    assert (payload["listVersion"], payload["updateType"]) == (2, "Differential")
    assert sorted((i["idTag"], i["idTagInfo"]["status"]) for i in payload["localAuthorizationList"]) == sorted(
        [(brf_a.tokens[0].uid, "Blocked"), (expiring.uid, "Expired")])


def test_the_local_list_holds_the_organizations_active_unexpired_tags(brf_a, brf_b, station):
    id_token_issue(organization=brf_a.org, uid="0000BBBB", valid_until=NOW - timedelta(days=1), acting_user=None,
                   reason="old")
    id_token_block(token=brf_a.tokens[1], reason="Lost", acting_user=None)
    assert [t.uid for t in selectors.local_list_tokens(station)] == [brf_a.tokens[0].uid]


def test_reserve_and_cancel_go_through_the_reservation_service(charger, station, brf_a, operator_staff):
    command = remote.reserve(charge_point=station, evse_number=1, id_token=brf_a.tokens[0],
                             expires_at=NOW + timedelta(hours=1), acting_user=operator_staff, reason="Guest",
                             now=NOW)
    reservation = Reservation.objects.get()
    assert (command.action, command.payload["reservationId"]) == ("ReserveNow", reservation.pk)
    assert reservation.status == Reservation.Status.ACCEPTED
    cancelled = remote.cancel_reservation(reservation=reservation, acting_user=operator_staff, reason="Not needed")
    assert (cancelled.action, cancelled.payload) == ("CancelReservation", {"reservationId": reservation.pk})
    assert Reservation.objects.get().status == Reservation.Status.CANCELLED


def test_the_connectivity_test_triggers_heartbeat_and_status_and_times_the_round_trip(charger, station,
                                                                                      operator_staff):
    result = remote.connectivity_test(charge_point=station, acting_user=operator_staff, reason="Flapping")
    assert [p["requestedMessage"] for _a, p in charger.sent] == ["Heartbeat", "StatusNotification"]
    assert result.round_trip_ms >= 0
    assert (result.heartbeat.action, result.status.status) == ("TriggerMessage", "answered")


def test_a_note_records_author_and_time_and_an_empty_one_is_refused(station, operator_staff):
    note = station_note_add(charge_point=station, text=" Fuse replaced by Elektriker AB ", acting_user=operator_staff,
                            at=NOW)
    assert (note.text, note.author, note.created_at) == ("Fuse replaced by Elektriker AB", operator_staff, NOW)
    assert AuditLogEntry.objects.get(action="stationnote.added").actor == operator_staff
    with pytest.raises(ValidationError):
        station_note_add(charge_point=station, text="  ", acting_user=operator_staff, at=NOW)


# --- the admin page ---------------------------------------------------------------------------------------------------
def action_url(cp, name):
    return reverse("admin:charging_chargepoint_action", args=[cp.pk, name])


def page_url(cp):
    return reverse("admin:charging_chargepoint_change", args=[cp.pk])


def shown_messages(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]


def test_support_resets_from_the_page_and_sees_the_chargers_answer(client, charger, station, operator_staff):
    client.force_login(operator_staff)
    form = client.get(action_url(station, "reset"))
    assert form.status_code == 200
    assert 'name="reason"' in form.content.decode()
    response = client.post(action_url(station, "reset"), {"kind": "soft", "reason": "Customer call 4711"},
                           follow=True)
    assert response.redirect_chain[-1][0] == page_url(station)
    assert "Reset: Accepted" in shown_messages(response)
    assert charger.sent == [("Reset", {"type": "Soft"})]
    assert RemoteCommand.objects.get().reason == "Customer call 4711"


@pytest.mark.parametrize(("failure", "text"), [
    ({"status": "timeout"}, "Reset: No answer in time"),
    ({"status": "call_error", "error": "NotSupported: no reset here", "payload": {}},
     "Reset: NotSupported: no reset here"),
])
def test_an_unanswered_action_shows_why(client, charger, station, operator_staff, failure, text):
    charger.failures["Reset"] = failure
    client.force_login(operator_staff)
    response = client.post(action_url(station, "reset"), {"kind": "hard", "reason": "x"}, follow=True)
    assert text in shown_messages(response)


def test_an_offline_charger_is_reported_as_such(client, charger, brf_a, operator_staff):
    cp = make_station(brf_a.org, connected=False)
    client.force_login(operator_staff)
    response = client.post(action_url(cp, "unlock"), {"connector": "1:1", "reason": "Cable stuck"}, follow=True)
    assert "Unlock connector: Charger offline" in shown_messages(response)


def test_bad_input_gets_form_errors_and_sends_nothing(client, charger, station, operator_staff):
    client.force_login(operator_staff)
    response = client.post(action_url(station, "reset"), {"kind": "sideways", "reason": ""})
    assert response.status_code == 200
    assert set(response.context["form"].errors) == {"kind", "reason"}
    response = client.post(action_url(station, "firmware"), {"location": "not a url", "retrieve_at": "soon",
                                                              "reason": "x"})
    assert set(response.context["form"].errors) == {"location", "retrieve_at"}
    response = client.post(action_url(station, "local_list"), {"update": "differential", "reason": "x"})
    assert response.status_code == 200
    assert "full list first" in str(response.context["form"].non_field_errors())
    assert charger.sent == []
    assert client.get(action_url(station, "explode")).status_code == 404


def test_a_configuration_edit_from_the_page_changes_the_key(client, charger, station, operator_staff):
    ChargePoint.objects.filter(pk=station.pk).update(configuration={
        "HeartbeatInterval": {"value": "300", "readonly": False},
        "ChargePointVendor": {"value": "Zaptec", "readonly": True}})
    client.force_login(operator_staff)
    page = client.get(page_url(station)).content.decode()
    assert 'name="key" value="HeartbeatInterval"' in page
    assert 'name="key" value="ChargePointVendor"' not in page  # read-only keys get no edit form
    refused = client.post(action_url(station, "configuration"),
                          {"key": "ChargePointVendor", "value": "X", "reason": "try"})
    assert "read-only" in str(refused.context["form"].errors["key"])
    assert charger.sent == []
    response = client.post(action_url(station, "configuration"),
                           {"key": "HeartbeatInterval", "value": "120", "reason": "Faster offline detection"},
                           follow=True)
    assert "Change configuration: Accepted" in shown_messages(response)
    station.refresh_from_db()
    assert station.configuration["HeartbeatInterval"]["value"] == "120"


def test_the_connectivity_test_from_the_page_shows_the_round_trip(client, charger, station, operator_staff):
    client.force_login(operator_staff)
    response = client.post(action_url(station, "connectivity"), {"reason": "Customer says offline"}, follow=True)
    [message] = shown_messages(response)
    assert message.startswith("Connectivity test: round trip ")
    assert "Heartbeat: Accepted; StatusNotification: Accepted" in message


def test_support_starts_a_charge_with_a_tag_of_the_station_and_decommissions(client, charger, station, brf_a, brf_b,
                                                                              operator_staff):
    client.force_login(operator_staff)
    form = client.get(action_url(station, "start")).context["form"]
    assert {t.pk for t in form.fields["id_token"].queryset} == {t.pk for t in brf_a.tokens}
    response = client.post(action_url(station, "start"), {"id_token": brf_b.tokens[0].pk, "evse": "1",
                                                          "reason": "x"})
    assert "id_token" in response.context["form"].errors  # another organization's tag is not offered
    response = client.post(action_url(station, "start"), {"id_token": brf_a.tokens[0].pk, "evse": "1",
                                                          "reason": "Driver's phone is dead"}, follow=True)
    assert "Remote start: Accepted" in shown_messages(response)
    response = client.post(action_url(station, "decommission"), {"reason": "Replaced by CP-2"}, follow=True)
    assert "Decommission: done" in shown_messages(response)
    assert ChargePoint.objects.get(pk=station.pk).decommissioned_at is not None


def test_a_board_member_sees_the_page_but_cannot_reset(client, charger, station, brf_a):
    client.force_login(brf_a.board)
    page = client.get(page_url(station))
    assert page.status_code == 200
    assert page.context["remote_buttons"] == []
    assert "frames" not in page.context["station"]["panels"]  # the frame log stays with support
    assert client.get(action_url(station, "reset")).status_code == 403
    assert client.post(action_url(station, "reset"), {"kind": "hard", "reason": "x"}).status_code == 403
    assert client.post(action_url(station, "unlock"), {"connector": "1:1", "reason": "x"}).status_code == 403
    assert client.get(reverse("admin:charging_chargepoint_live", args=[station.pk])).status_code == 200
    assert charger.sent == []
    assert not RemoteCommand.objects.exists()


def test_another_organizations_station_is_not_found(client, charger, brf_a, brf_b):
    other = make_station(brf_b.org, identity="B-1")
    client.force_login(brf_a.board)
    assert client.get(page_url(other)).status_code in (302, 404)  # the admin redirects a missing object
    assert client.get(action_url(other, "reset")).status_code == 404
    assert client.get(action_url(other, "unlock")).status_code == 404
    assert client.get(reverse("admin:charging_chargepoint_live", args=[other.pk])).status_code == 404
    assert client.post(reverse("admin:charging_chargepoint_note", args=[other.pk]), {"text": "x"}).status_code == 404


def test_support_bulk_resets_selected_stations_and_sees_each_answer(client, charger, brf_a, operator_staff):
    first = make_station(brf_a.org, identity="CP-1")
    second = make_station(brf_a.org, identity="CP-2")
    charger.answers["Reset"] = {"status": "Rejected"}
    client.force_login(operator_staff)
    response = client.post(reverse("admin:charging_chargepoint_changelist"), {
        "action": "hard_reset", ACTION_CHECKBOX_NAME: [first.pk, second.pk], "apply": "1",
        "reason": "Firmware hang"}, follow=True)
    shown = shown_messages(response)
    assert f"{first}: Hard reset: Rejected" in shown
    assert f"{second}: Hard reset: Rejected" in shown
    assert [p for _a, p in charger.sent] == [{"type": "Hard"}, {"type": "Hard"}]


def test_a_board_member_gets_no_reset_action_on_the_list(client, station, brf_a):
    client.force_login(brf_a.board)
    response = client.get(reverse("admin:charging_chargepoint_changelist"))
    assert response.status_code == 200
    form = response.context["action_form"]  # None: no action at all for this user
    actions = [name for name, _label in form.fields["action"].choices] if form is not None else []
    assert "soft_reset" not in actions
    assert "hard_reset" not in actions


def test_support_adds_a_note_on_the_page(client, station, operator_staff):
    client.force_login(operator_staff)
    response = client.post(reverse("admin:charging_chargepoint_note", args=[station.pk]),
                           {"text": "Customer reports a loose cable"}, follow=True)
    assert "Note added." in shown_messages(response)
    assert "Customer reports a loose cable" in response.content.decode()
    assert StationNote.objects.get().author == operator_staff


def fill_history(cp, user, count):
    """``count`` rows of everything the page lists, a few of them recent, for the query-count comparison."""
    now = timezone.now()
    evse = cp.evses.get(evse_id=1)
    active = ChargingSession.objects.filter(charge_point=cp, status="active").first()
    for n in range(count):
        at = now - timedelta(minutes=n + 1)
        OcppFrame.objects.create(charge_point=cp, identity=cp.identity, direction="in", message_type=2,
                                 message_id=f"m{n}", action="Heartbeat", raw=f'[2,"m{n}","Heartbeat",{{}}]', at=at)
        session = ChargingSession.objects.create(
            charge_point=cp, evse=evse, organization=cp.organization, transaction_id=f"t{n}-{count}",
            started_at=at - timedelta(hours=2), stopped_at=at, status="completed", meter_start_wh=0, energy_wh=500)
        MeterSample.objects.create(charge_point=cp, evse=evse, session=session, timestamp=at, value=Decimal(1))
        AuthorizationAttempt.objects.create(charge_point=cp, evse=evse, id_token_uid=f"T{n}", purpose="authorize",
                                            status="Accepted", at=at)
        StationNote.objects.create(charge_point=cp, text=f"note {n}", author=user, created_at=at)
        Alarm.objects.create(charge_point=cp, kind=Alarm.Kind.FAULTED, severity=30, opened_at=at, closed_at=at)
        RemoteCommand.objects.create(charge_point=cp, action="Reset", payload={"type": "Soft"}, requested_by=user)
        ConnectionEvent.objects.create(charge_point=cp, kind="connected", at=at)
    if active is not None:
        for measurand, value in (("Power.Active.Import", 7200), ("Current.Import", 16)):
            MeterSample.objects.create(charge_point=cp, evse=active.evse, session=active, timestamp=now,
                                       measurand=measurand, value=Decimal(value))


def test_the_page_shows_every_panel_in_a_bounded_number_of_queries(client, station, operator_staff, brf_a):
    evse = station.evses.get(evse_id=2)
    ChargingSession.objects.create(charge_point=station, evse=evse, organization=station.organization,
                                   transaction_id="live", started_at=timezone.now() - timedelta(minutes=20),
                                   meter_start_wh=0, energy_wh=2500)
    Alarm.objects.create(charge_point=station, kind=Alarm.Kind.OFFLINE, severity=30)
    client.force_login(operator_staff)
    fill_history(station, operator_staff, 2)
    with CaptureQueriesContext(connection) as few:
        response = client.get(page_url(station))
    assert response.status_code == 200
    page = response.content.decode()
    for panel in ("connectors", "configuration", "connectivity", "alarms", "commands", "notes", "sessions",
                  "authorizations", "frames"):
        assert f'id="{panel}"' in page, panel
    assert "7.2 kW · 16.0 A" in page  # live values of the active session
    assert page.index("note 0") < page.index("note 1")  # newest note first

    fill_history(station, operator_staff, 60)
    with CaptureQueriesContext(connection) as many:
        assert client.get(page_url(station)).status_code == 200
    assert len(many) == len(few), [q["sql"] for q in many.captured_queries]
    assert len(many) <= 30


def test_the_live_endpoint_gives_texts_and_new_frames(client, station, operator_staff):
    client.force_login(operator_staff)
    connector = station.evses.get(evse_id=1).connectors.get()
    connector.status, connector.error_code = "Faulted", "GroundFailure"
    connector.save()
    OcppFrame.objects.create(charge_point=station, identity=station.identity, direction="in", message_type=2,
                             message_id="a", action="Heartbeat", raw='[2,"a","Heartbeat",{}]')
    url = reverse("admin:charging_chargepoint_live", args=[station.pk])
    state = client.get(url, {"since": "0"}).json()
    assert state["texts"][f"connector-{connector.pk}-status"] == "Faulted: GroundFailure"
    assert state["texts"]["network"] == "Connected"
    assert [f["label"] for f in state["frames"]] == ["Heartbeat"]
    newest = state["frames"][0]["id"]
    OcppFrame.objects.create(charge_point=station, identity=station.identity, direction="out", message_type=3,
                             message_id="a", raw='[3,"a",{"currentTime":"2026-11-20T18:30:00Z"}]')
    state = client.get(url, {"since": str(newest)}).json()
    assert [(f["label"], f["direction"]) for f in state["frames"]] == [("CALLRESULT", "out")]
    assert '"currentTime": "2026-11-20T18:30:00Z"' in state["frames"][0]["payload"]
    assert client.get(url, {"since": str(newest), "frame_direction": "in"}).json()["frames"] == []


def test_the_frame_filter_narrows_the_frame_panel(client, station, operator_staff):
    for n, (action, direction) in enumerate([("Heartbeat", "in"), ("StatusNotification", "in"), ("Reset", "out")]):
        OcppFrame.objects.create(charge_point=station, identity=station.identity, direction=direction,
                                 message_type=2, message_id=f"f{n}", action=action,
                                 raw=json.dumps([2, f"f{n}", action, {"n": n}]))
    client.force_login(operator_staff)
    frames = client.get(page_url(station), {"frame_action": "Reset"}).context["station"]["frames"]
    assert [f["label"] for f in frames] == ["Reset"]
    assert frames[0]["payload"] == '{\n  "n": 2\n}'
    frames = client.get(page_url(station), {"frame_direction": "in"}).context["station"]["frames"]
    assert {f["label"] for f in frames} == {"Heartbeat", "StatusNotification"}


def test_start_tokens_are_limited_to_what_a_1_6_charger_takes(station, brf_a, operator_staff):
    id_token_issue(organization=brf_a.org, uid="APP" + "7" * 27, type=IdToken.Type.CENTRAL, acting_user=None,
                   reason="x")
    assert {t.uid for t in selectors.start_tokens(operator_staff, station)} == {t.uid for t in brf_a.tokens}


def test_a_2_0_1_variable_is_edited_from_the_device_model_panel(client, charger, brf_a, operator_staff):
    charger.version = V201
    cp = make_station(brf_a.org, version=V201)
    ChargePoint.objects.filter(pk=cp.pk).update(device_model={
        "OCPPCommCtrlr/HeartbeatInterval": {"attributes": [{"type": "Actual", "value": "300",
                                                            "mutability": "ReadWrite"}]},
        "Connector/1/ConnectorType": {"attributes": [{"type": "Actual", "value": "cType2",
                                                      "mutability": "ReadOnly"}]}})
    client.force_login(operator_staff)
    page = client.get(page_url(cp)).content.decode()
    assert page.count('name="variable" value=') == 1  # the read-only variable gets no form
    assert 'name="variable" value="HeartbeatInterval"' in page
    response = client.post(action_url(cp, "configuration"), {
        "component": "OCPPCommCtrlr", "component_evse": "", "component_instance": "", "variable": "HeartbeatInterval",
        "variable_instance": "", "value": "60", "reason": "Faster offline detection"}, follow=True)
    assert "Change configuration: Accepted" in shown_messages(response)
    assert charger.sent[-1][1]["setVariableData"][0]["component"] == {"name": "OCPPCommCtrlr"}
    cp.refresh_from_db()
    assert cp.device_model["OCPPCommCtrlr/HeartbeatInterval"]["attributes"][0]["value"] == "60"
