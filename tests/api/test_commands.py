"""Connect API remote commands: every command endpoint with a stand-in for the charger (the websocket round trip is
replaced, the payload checks and the stored RemoteCommand are real), the charger's answers passed back as they came
(Rejected, CALLERROR, offline), wait=false with polling, charging profiles and reservations as stored objects, the
load balancer's EVSEs refused, force-close, and tenant isolation (nothing stored, nothing sent)."""

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.models import AuditLogEntry, IdToken
from accounts.services.api_keys import api_key_create
from charging import commands
from charging.models import ChargingProfile, ChargingSession, MeterSample, RemoteCommand, Reservation
from charging.models.profiles import PROFILE_ID_BASE
from charging.ocpp import validation
from loadbalancing.models import EvseWiring, PowerGroup
from tests.accounts.factories import OperatorFactory
from tests.api import test_auth_and_stations as stations_api
from tests.api.test_auth_and_stations import Site, assert_error, client_for
from tests.charging.factories import ChargingSessionFactory

V16, V201 = "1.6", "2.0.1"
_own_cache, brf_a, brf_b = stations_api._own_cache, stations_api.brf_a, stations_api.brf_b
site_a, site_b = stations_api.site_a, stations_api.site_b


class FakeCharger:
    """Replaces the channel-layer round trip: records what would go over the websocket and answers like a charger
    (answers are checked against the response schemas)."""

    def __init__(self):
        self.sent: list[tuple[str, dict]] = []
        self.answers: dict[str, dict] = {}
        self.failures: dict[str, dict] = {}
        self.version = V16
        self.delay = 0.0

    async def round_trip(self, charge_point_id, command_id, action, payload, timeout):
        import asyncio

        if self.delay:
            await asyncio.sleep(self.delay)
        self.sent.append((action, payload))
        if action in self.failures:
            return self.failures[action]
        answer = self.answers.get(action, {"status": "Accepted"})
        validation.validate(self.version, action, answer, response=True)
        return {"status": "answered", "payload": answer}


@pytest.fixture
def charger(monkeypatch):
    fake = FakeCharger()
    monkeypatch.setattr(commands, "_round_trip", fake.round_trip)
    return fake


def commands_key(org, scopes=("commands", "read")) -> str:
    return api_key_create(organization=org, name="ops", scopes=list(scopes), acting_user=None,
                          reason="test").raw_key


@pytest.fixture
def ops_a(site_a):
    return client_for(commands_key(site_a.org))


def url(site: Site, command: str) -> str:
    return f"/api/v1/charge-points/{site.charge_point.pk}/commands/{command}/"


def set_version(site: Site, version: str) -> None:
    site.charge_point.ocpp_version = version
    site.charge_point.save(update_fields=["ocpp_version"])


# --- start / stop ---------------------------------------------------------------------------------------------------
def test_start_by_token_uid_waits_for_the_answer_and_stores_who_and_why(charger, brf_a, site_a, ops_a):
    token = brf_a.tokens[0]
    response = ops_a.post(url(site_a, "start"), {"evse": 1, "id_token": token.uid, "reason": "Driver called"},
                          format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["action"], body["status"], body["charger_status"]) == ("RemoteStartTransaction", "answered",
                                                                       "Accepted")
    assert charger.sent == [("RemoteStartTransaction", {"idTag": token.uid, "connectorId": 1})]
    stored = RemoteCommand.objects.get(pk=body["id"])
    assert "Driver called" in stored.reason
    assert "Connect API key" in stored.reason
    assert AuditLogEntry.objects.filter(action="remotecommand.requested", target_id=str(stored.pk)).exists()


def test_start_for_a_user_uses_their_usable_token(charger, brf_a, site_a, ops_a):
    resident = brf_a.residents[1]
    IdToken.objects.filter(user=resident).update(status=IdToken.Status.BLOCKED)
    usable = IdToken.objects.create(uid="AABBCCDD01", organization=brf_a.org, user=resident)
    response = ops_a.post(url(site_a, "start"), {"evse": 1, "user": resident.pk}, format="json")
    assert response.status_code == 200, response.content
    assert charger.sent[0][1]["idTag"] == usable.uid


def test_start_needs_exactly_one_way_to_name_the_driver(charger, brf_a, site_a, ops_a):
    response = ops_a.post(url(site_a, "start"), {"evse": 1}, format="json")
    assert_error(response, 400, "invalid")
    response = ops_a.post(url(site_a, "start"), {"evse": 1, "id_token": brf_a.tokens[0].uid, "user": 1},
                          format="json")
    assert_error(response, 400, "invalid")
    assert charger.sent == []
    assert not RemoteCommand.objects.exists()


@pytest.mark.parametrize(("failure", "expected"), [
    ({"status": "answered", "payload": {"status": "Rejected"}}, ("answered", "Rejected")),
    ({"status": "call_error", "payload": {"errorCode": "InternalError"}, "error": "InternalError: boom"},
     ("call_error", None)),
    ({"status": "timeout", "error": "no answer"}, ("timeout", None)),
], ids=["rejected", "callerror", "timeout"])
def test_the_chargers_answer_is_returned_as_stored_with_200(charger, brf_a, site_a, ops_a, failure, expected):
    charger.failures["RemoteStartTransaction"] = failure
    response = ops_a.post(url(site_a, "start"), {"evse": 1, "id_token": brf_a.tokens[0].uid}, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["status"], body["charger_status"]) == expected
    assert RemoteCommand.objects.get(pk=body["id"]).status == expected[0]


def test_an_offline_charger_is_a_stored_offline_command_not_an_error(charger, brf_a, site_a, ops_a):
    site_a.charge_point.is_connected = False
    site_a.charge_point.save(update_fields=["is_connected"])
    response = ops_a.post(url(site_a, "reset"), {"type": "hard"}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "offline"
    assert charger.sent == []


def test_stop_sends_the_sessions_transaction_id(charger, site_a, ops_a):
    session = ChargingSessionFactory(charge_point=site_a.charge_point, evse=site_a.evse, transaction_id="4711",
                                     status=ChargingSession.Status.ACTIVE)
    response = ops_a.post(url(site_a, "stop"), {"session": session.pk, "reason": "Driver left"}, format="json")
    assert response.status_code == 200, response.content
    assert charger.sent == [("RemoteStopTransaction", {"transactionId": 4711})]


def test_stop_of_a_session_at_another_charger_is_refused(charger, site_a, site_b, ops_a):
    other = ChargingSessionFactory(charge_point=site_b.charge_point, evse=site_b.evse, transaction_id="1",
                                   status=ChargingSession.Status.ACTIVE)
    assert_error(ops_a.post(url(site_a, "stop"), {"session": other.pk}, format="json"), 400, "invalid")
    assert charger.sent == []


# --- the other commands ---------------------------------------------------------------------------------------------
def test_unlock_passes_an_unknown_connector_through_and_returns_the_chargers_answer(charger, site_a, ops_a):
    set_version(site_a, V201)
    charger.version = V201
    charger.answers["UnlockConnector"] = {"status": "UnknownConnector"}
    response = ops_a.post(url(site_a, "unlock"), {"evse": 1, "connector": 7}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["charger_status"] == "UnknownConnector"
    assert charger.sent == [("UnlockConnector", {"evseId": 1, "connectorId": 7})]


def test_reset_availability_trigger_and_configuration(charger, site_a, ops_a):
    assert ops_a.post(url(site_a, "reset"), {"type": "soft"}, format="json").status_code == 200
    assert ops_a.post(url(site_a, "change-availability"), {"evse": 1, "operative": False},
                      format="json").status_code == 200
    assert ops_a.post(url(site_a, "trigger-message"), {"message": "StatusNotification", "evse": 1},
                      format="json").status_code == 200
    charger.answers["ChangeConfiguration"] = {"status": "NotSupported"}
    response = ops_a.post(url(site_a, "change-configuration"), {"key": "NoSuchKey", "value": "1"}, format="json")
    assert response.json()["charger_status"] == "NotSupported"
    assert charger.sent == [
        ("Reset", {"type": "Soft"}), ("ChangeAvailability", {"connectorId": 1, "type": "Inoperative"}),
        ("TriggerMessage", {"requestedMessage": "StatusNotification", "connectorId": 1}),
        ("ChangeConfiguration", {"key": "NoSuchKey", "value": "1"})]


def test_shape_errors_are_400_with_fields_and_nothing_is_sent(charger, site_a, ops_a):
    for command, body, field in [("reset", {"type": "sideways"}, "type"),
                                 ("unlock", {"evse": 2**40}, "evse"),
                                 ("trigger-message", {"message": "Coffee"}, "message"),
                                 ("change-availability", {"evse": 1}, "operative"),
                                 ("unlock", {"evse": 9}, "evse")]:
        response = ops_a.post(url(site_a, command), body, format="json")
        assert_error(response, 400, "invalid")
        assert field in response.json()["fields"], (command, response.json())
    assert charger.sent == []
    assert not RemoteCommand.objects.exists()


# --- wait=false -----------------------------------------------------------------------------------------------------
@pytest.mark.django_db(transaction=True)
def test_without_waiting_the_answer_is_202_and_the_command_is_polled(charger, brf_a, site_a, ops_a):
    charger.delay = 0.3
    response = ops_a.post(url(site_a, "start"), {"evse": 1, "id_token": brf_a.tokens[0].uid, "wait": False},
                          format="json")
    assert response.status_code == 202, response.content
    body = response.json()
    assert body["status"] == "pending"
    deadline = time.monotonic() + 10
    while True:
        polled = ops_a.get(f"/api/v1/commands/{body['id']}/").json()
        if polled["status"] != "pending" or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert (polled["status"], polled["charger_status"]) == ("answered", "Accepted")
    assert charger.sent[0][0] == "RemoteStartTransaction"


@pytest.mark.django_db(transaction=True)
def test_without_waiting_a_shape_error_of_the_service_is_still_a_400(charger, site_a, ops_a):
    response = ops_a.post(url(site_a, "unlock"), {"evse": 9, "wait": False}, format="json")
    assert_error(response, 400, "invalid")
    assert not RemoteCommand.objects.exists()


# --- reservations ---------------------------------------------------------------------------------------------------
def test_reserve_and_cancel_with_csms_assigned_ids(charger, brf_a, site_a, ops_a):
    expires = (timezone.now() + timedelta(hours=1)).isoformat()
    response = ops_a.post(url(site_a, "reserve"), {"evse": 1, "id_token": brf_a.tokens[0].uid,
                                                   "expires_at": expires}, format="json")
    assert response.status_code == 200, response.content
    reservation_id = response.json()["reservation"]
    reservation = Reservation.objects.get(pk=reservation_id)
    assert charger.sent[0][1]["reservationId"] == reservation.pk
    detail = ops_a.get(f"/api/v1/reservations/{reservation_id}/").json()
    assert (detail["status"], detail["evse"], detail["id_token_uid"]) == ("accepted", 1, brf_a.tokens[0].uid)
    response = ops_a.post(url(site_a, "cancel-reservation"), {"reservation": reservation_id}, format="json")
    assert response.json()["reservation"] == reservation_id
    assert ops_a.get(f"/api/v1/reservations/{reservation_id}/").json()["status"] == "cancelled"
    assert [row["id"] for row in ops_a.get("/api/v1/reservations/", {"status": "cancelled"}).json()["results"]] == [
        reservation_id]


def test_a_rejected_reservation_is_readable_as_rejected(charger, brf_a, site_a, ops_a):
    charger.answers["ReserveNow"] = {"status": "Occupied"}
    response = ops_a.post(url(site_a, "reserve"), {"id_token": brf_a.tokens[0].uid,
                                                   "expires_at": (timezone.now() + timedelta(hours=1)).isoformat()},
                          format="json")
    assert response.json()["charger_status"] == "Occupied"
    assert ops_a.get(f"/api/v1/reservations/{response.json()['reservation']}/").json()["status"] == "rejected"


# --- charging profiles ----------------------------------------------------------------------------------------------
PROFILE = {"purpose": "tx_default", "stack_level": 2, "kind": "Relative", "charging_rate_unit": "A",
           "periods": [{"start_period": 0, "limit": "16.0"}, {"start_period": 3600, "limit": "8.5",
                                                               "number_phases": 3}]}


@pytest.mark.parametrize("version", [V16, V201])
def test_a_profile_is_stored_and_its_id_is_the_charging_profile_id_sent(charger, site_a, ops_a, version):
    set_version(site_a, version)
    charger.version = version
    response = ops_a.post(url(site_a, "set-charging-profile"), {**PROFILE, "evse": 1}, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "answered"  # not "refused": the payload passed the OCPP schema
    profile = ChargingProfile.objects.get()
    assert profile.charging_profile_id == PROFILE_ID_BASE + profile.pk == body["charging_profile"]
    action, payload = charger.sent[0]
    assert action == "SetChargingProfile"
    if version == V16:
        wire = payload["csChargingProfiles"]
        assert (payload["connectorId"], wire["chargingProfileId"], wire["chargingProfilePurpose"]) == (
            1, profile.charging_profile_id, "TxDefaultProfile")
        assert wire["chargingSchedule"]["chargingSchedulePeriod"] == [
            {"startPeriod": 0, "limit": 16}, {"startPeriod": 3600, "limit": 8.5, "numberPhases": 3}]
    else:
        wire = payload["chargingProfile"]
        assert (payload["evseId"], wire["id"], wire["chargingSchedule"][0]["chargingRateUnit"]) == (
            1, profile.charging_profile_id, "A")
    detail = ops_a.get(f"/api/v1/charging-profiles/{profile.charging_profile_id}/").json()
    assert (detail["id"], detail["status"], detail["evse"], detail["command"]) == (
        profile.charging_profile_id, "accepted", 1, body["id"])
    assert detail["periods"][1] == {"start_period": 3600, "limit": "8.5", "number_phases": 3}

    response = ops_a.post(url(site_a, "clear-charging-profile"), {"charging_profile": profile.charging_profile_id},
                          format="json")
    assert response.status_code == 200, response.content
    assert charger.sent[1] == ("ClearChargingProfile", {"id": profile.charging_profile_id} if version == V16 else
                               {"chargingProfileId": profile.charging_profile_id})
    detail = ops_a.get(f"/api/v1/charging-profiles/{profile.charging_profile_id}/").json()
    assert detail["status"] == "cleared"
    assert detail["cleared_at"]


def test_profile_ids_never_meet_the_load_balancers_or_partners():
    from loadbalancing.profiles import profile_id
    from roaming.services.commands import PARTNER_PROFILE_ID_BASE

    assert profile_id(10_000) < PROFILE_ID_BASE
    assert PARTNER_PROFILE_ID_BASE + 10_000 < PROFILE_ID_BASE


def test_a_rejected_profile_is_stored_as_rejected(charger, site_a, ops_a):
    charger.answers["SetChargingProfile"] = {"status": "Rejected"}
    response = ops_a.post(url(site_a, "set-charging-profile"), {**PROFILE, "evse": 1}, format="json")
    assert response.json()["charger_status"] == "Rejected"
    assert ChargingProfile.objects.get().status == "rejected"


@pytest.mark.parametrize("evse", [1, None], ids=["the-evse", "station-wide"])
def test_no_profile_on_a_load_balanced_evse(charger, site_a, ops_a, evse):
    root = PowerGroup.objects.create(organization=site_a.org, name="Fuse", limit_l1=25, limit_l2=25, limit_l3=25)
    EvseWiring.objects.create(evse=site_a.evse, group=root)
    body = {**PROFILE, "evse": evse} if evse else {**PROFILE, "purpose": "station_max"}
    response = ops_a.post(url(site_a, "set-charging-profile"), body, format="json")
    assert_error(response, 409, "conflict")
    assert "load balanced" in response.json()["message"]
    assert charger.sent == []
    assert not ChargingProfile.objects.exists()
    assert not RemoteCommand.objects.exists()


def test_a_tx_profile_needs_an_active_session_of_this_charger(charger, site_a, ops_a):
    response = ops_a.post(url(site_a, "set-charging-profile"), {**PROFILE, "purpose": "tx", "evse": 1},
                          format="json")
    assert_error(response, 400, "invalid")
    assert "session" in response.json()["fields"]
    session = ChargingSessionFactory(charge_point=site_a.charge_point, evse=site_a.evse, transaction_id="99",
                                     status=ChargingSession.Status.ACTIVE)
    response = ops_a.post(url(site_a, "set-charging-profile"), {**PROFILE, "purpose": "tx", "session": session.pk},
                          format="json")
    assert response.status_code == 200, response.content
    wire = charger.sent[0][1]["csChargingProfiles"]
    assert (wire["transactionId"], wire["chargingProfilePurpose"], charger.sent[0][1]["connectorId"]) == (
        99, "TxProfile", 1)


def test_bad_profile_shapes_are_400(charger, site_a, ops_a):
    for body in [{**PROFILE, "periods": []}, {**PROFILE, "periods": [{"start_period": 60, "limit": "6"}]},
                 {**PROFILE, "kind": "Absolute"}, {**PROFILE, "purpose": "nonsense"},
                 {**PROFILE, "periods": [{"start_period": 0, "limit": "-1"}]}]:
        assert_error(ops_a.post(url(site_a, "set-charging-profile"), {**body, "evse": 1}, format="json"), 400,
                     "invalid")
    assert charger.sent == []
    assert not ChargingProfile.objects.exists()


def test_a_remote_start_may_carry_a_stored_tx_profile(charger, brf_a, site_a, ops_a):
    body = {"evse": 1, "id_token": brf_a.tokens[0].uid, "charging_profile": {**PROFILE, "purpose": "tx"}}
    response = ops_a.post(url(site_a, "start"), body, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "answered"
    profile = ChargingProfile.objects.get()
    sent = charger.sent[0][1]["chargingProfile"]
    assert (sent["chargingProfileId"], sent["chargingProfilePurpose"]) == (profile.charging_profile_id, "TxProfile")
    assert (profile.status, response.json()["charging_profile"]) == ("accepted", profile.charging_profile_id)


# --- reading and tenancy --------------------------------------------------------------------------------------------
def test_org_a_cannot_command_org_bs_charger(charger, brf_b, site_a, site_b, ops_a):
    for command, body in [("reset", {"type": "hard"}), ("start", {"evse": 1, "id_token": brf_b.tokens[0].uid}),
                          ("set-charging-profile", {**PROFILE, "evse": 1}), ("unlock", {"evse": 1})]:
        assert_error(ops_a.post(url(site_b, command), body, format="json"), 404, "not_found")
    assert charger.sent == []
    assert not RemoteCommand.objects.exists()
    assert not ChargingProfile.objects.exists()


def test_another_organizations_token_or_user_in_the_body_is_refused(charger, brf_b, site_a, ops_a):
    response = ops_a.post(url(site_a, "start"), {"evse": 1, "id_token": brf_b.tokens[0].uid}, format="json")
    assert_error(response, 400, "invalid")
    assert "id_token" in response.json()["fields"]
    response = ops_a.post(url(site_a, "start"), {"evse": 1, "user": brf_b.residents[0].pk}, format="json")
    assert_error(response, 400, "invalid")
    response = ops_a.post(url(site_a, "reserve"), {"id_token_id": brf_b.tokens[0].pk,
                                                   "expires_at": timezone.now().isoformat()}, format="json")
    assert_error(response, 400, "invalid")
    assert charger.sent == []
    assert not RemoteCommand.objects.exists()
    assert not Reservation.objects.exists()


def test_commands_profiles_and_reservations_of_b_are_invisible_to_a(charger, brf_b, site_a, site_b, ops_a):
    ops_b = client_for(commands_key(site_b.org))
    command_b = ops_b.post(url(site_b, "reset"), {}, format="json").json()["id"]
    profile_b = ops_b.post(url(site_b, "set-charging-profile"), {**PROFILE, "evse": 1},
                           format="json").json()["charging_profile"]
    reservation_b = ops_b.post(url(site_b, "reserve"), {"id_token": brf_b.tokens[0].uid, "expires_at": (
        timezone.now() + timedelta(hours=1)).isoformat()}, format="json").json()["reservation"]
    command_a = ops_a.post(url(site_a, "reset"), {}, format="json").json()["id"]
    assert [row["id"] for row in ops_a.get("/api/v1/commands/").json()["results"]] == [command_a]
    assert ops_a.get("/api/v1/charging-profiles/").json()["results"] == []
    assert ops_a.get("/api/v1/reservations/").json()["results"] == []
    assert_error(ops_a.get(f"/api/v1/commands/{command_b}/"), 404, "not_found")
    assert_error(ops_a.get(f"/api/v1/charging-profiles/{profile_b}/"), 404, "not_found")
    assert_error(ops_a.get(f"/api/v1/reservations/{reservation_b}/"), 404, "not_found")
    assert ops_a.get("/api/v1/commands/", {"charge_point": site_b.charge_point.pk}).json()["results"] == []
    # B's own key sees them.
    assert ops_b.get(f"/api/v1/reservations/{reservation_b}/").status_code == 200
    # A's key cannot clear or cancel B's objects through its own charger.
    assert_error(ops_a.post(url(site_a, "clear-charging-profile"), {"charging_profile": profile_b}, format="json"),
                 400, "invalid")
    assert_error(ops_a.post(url(site_a, "cancel-reservation"), {"reservation": reservation_b}, format="json"),
                 400, "invalid")


def test_commands_need_the_commands_scope(charger, site_a):
    client = client_for(commands_key(site_a.org, scopes=("read", "write")))
    assert_error(client.post(url(site_a, "reset"), {}, format="json"), 403, "permission_denied")
    assert charger.sent == []
    # Reading stored commands needs read or commands.
    assert client.get("/api/v1/commands/").status_code == 200
    assert client_for(commands_key(site_a.org, scopes=("commands",))).get("/api/v1/commands/").status_code == 200
    assert_error(client_for(commands_key(site_a.org, scopes=("billing",))).get("/api/v1/commands/"), 403,
                 "permission_denied")


def test_board_viewers_cannot_command_but_board_admins_can(charger, brf_a, site_a):
    from rest_framework.test import APIClient

    from accounts.models import Membership
    from tests.accounts.factories import MembershipFactory

    viewer = MembershipFactory(organization=brf_a.org, role=Membership.Role.ORG_VIEWER).user
    client = APIClient()
    client.force_login(viewer)
    assert_error(client.post(url(site_a, "reset"), {}, format="json"), 403, "permission_denied")
    client.force_login(brf_a.board)
    assert client.post(url(site_a, "reset"), {}, format="json").status_code == 200
    assert RemoteCommand.objects.get().requested_by == brf_a.board


# --- force-close ----------------------------------------------------------------------------------------------------
@pytest.fixture
def operator_key(db):
    return api_key_create(organization=OperatorFactory(), name="ops", scopes=["read", "write"], acting_user=None,
                          reason="test").raw_key


def stale_session(site: Site) -> ChargingSession:
    session = ChargingSessionFactory(charge_point=site.charge_point, evse=site.evse, transaction_id="12",
                                     status=ChargingSession.Status.ACTIVE, meter_start_wh=1000,
                                     started_at=timezone.now() - timedelta(days=3))
    MeterSample.objects.create(charge_point=site.charge_point, evse=site.evse, session=session,
                               timestamp=session.started_at + timedelta(hours=2), unit="Wh", value=8500)
    return session


def test_the_operator_force_closes_a_stale_session_with_a_reason(site_a, operator_key):
    session = stale_session(site_a)
    stopped = (session.started_at + timedelta(hours=3)).isoformat()
    response = client_for(operator_key).post(f"/api/v1/sessions/{session.pk}/force-close/",
                                             {"reason": "Charger replaced", "stopped_at": stopped}, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["status"], body["stop_reason"], body["energy_wh"], body["meter_stop_wh"]) == (
        "failed", "ForceClosed", 7500, 8500)
    session.refresh_from_db()
    assert session.stopped_at == session.started_at + timedelta(hours=3)
    entry = AuditLogEntry.objects.get(action="chargingsession.force_closed")
    assert "Charger replaced" in entry.reason
    # Once closed it is no longer active.
    response = client_for(operator_key).post(f"/api/v1/sessions/{session.pk}/force-close/", {"reason": "again"},
                                             format="json")
    assert_error(response, 400, "invalid")


def test_force_close_is_for_the_operator_only_and_needs_a_reason(site_a, site_b, operator_key):
    session = stale_session(site_a)
    own_key = api_key_create(organization=site_a.org, name="w", scopes=["read", "write"], acting_user=None,
                             reason="test").raw_key
    assert_error(client_for(own_key).post(f"/api/v1/sessions/{session.pk}/force-close/", {"reason": "x"},
                                          format="json"), 403, "permission_denied")
    other = stale_session(site_b)
    assert_error(client_for(own_key).post(f"/api/v1/sessions/{other.pk}/force-close/", {"reason": "x"},
                                          format="json"), 404, "not_found")
    response = client_for(operator_key).post(f"/api/v1/sessions/{session.pk}/force-close/", {}, format="json")
    assert_error(response, 400, "invalid")
    assert "reason" in response.json()["fields"]
    future = (timezone.now() + timedelta(hours=1)).isoformat()
    response = client_for(operator_key).post(f"/api/v1/sessions/{session.pk}/force-close/",
                                             {"reason": "x", "stopped_at": future}, format="json")
    assert_error(response, 400, "invalid")
    assert ChargingSession.objects.filter(status=ChargingSession.Status.ACTIVE).count() == 2
    assert not AuditLogEntry.objects.filter(action="chargingsession.force_closed").exists()


# --- schema ---------------------------------------------------------------------------------------------------------
def test_schema_documents_the_command_endpoints(db):
    from rest_framework.test import APIClient

    schema = APIClient().get("/api/v1/schema/?format=json").json()
    for path in ["/api/v1/charge-points/{id}/commands/start/", "/api/v1/charge-points/{id}/commands/stop/",
                 "/api/v1/charge-points/{id}/commands/set-charging-profile/", "/api/v1/commands/",
                 "/api/v1/commands/{id}/", "/api/v1/charging-profiles/{id}/", "/api/v1/reservations/",
                 "/api/v1/sessions/{id}/force-close/"]:
        assert path in schema["paths"], path
    start = schema["paths"]["/api/v1/charge-points/{id}/commands/start/"]["post"]
    assert {"200", "202", "400", "404", "409"} <= set(start["responses"])
