"""The commands module as Receiver: body validation (2001), the synchronous CommandResponse, the charger command run
after the commit, the CommandResult POSTed to the independent eMSP peer over real HTTP, TIMEOUT when the charger does
not answer, UNKNOWN_SESSION, the sweep, and the commanded token accepted at the charger without a real-time check."""

import json
from datetime import timedelta

import jsonschema
import pytest
from django.utils import timezone

from charging import commands as charger_commands
from charging.models import ChargingSession, RemoteCommand
from charging.services import authorization
from charging.services.authorization import AuthStatus, authorize
from roaming.models import OcpiCommand
from roaming.services import commands
from roaming.tasks import command_results_sweep_task
from tests.charging.factories import ChargingSessionFactory
from tests.conformance.ocpi.peer import EmspPeer
from tests.roaming.ocpi_schemas import DATETIME, DISPLAY_TEXT, INT, NUMBER, array, enum, obj
from tests.roaming.test_tokens import auth, make_party, public_station

pytestmark = pytest.mark.django_db

# mod_commands and mod_charging_profiles objects (OCPI 2.2.1).
COMMAND_RESPONSE = obj({"result": enum("ACCEPTED", "NOT_SUPPORTED", "REJECTED", "UNKNOWN_SESSION"), "timeout": INT,
                        "message": array(DISPLAY_TEXT)}, ["result", "timeout"])
COMMAND_RESULT = obj({"result": enum("ACCEPTED", "CANCELED_RESERVATION", "EVSE_OCCUPIED", "EVSE_INOPERATIVE", "FAILED",
                                     "NOT_SUPPORTED", "REJECTED", "TIMEOUT", "UNKNOWN_RESERVATION"),
                      "message": array(DISPLAY_TEXT)}, ["result"])
PROFILE_RESPONSE = obj({"result": enum("ACCEPTED", "NOT_SUPPORTED", "REJECTED", "TOO_OFTEN", "UNKNOWN_SESSION"),
                        "timeout": INT}, ["result", "timeout"])
CHARGING_PROFILE = obj({"start_date_time": DATETIME, "duration": INT, "charging_rate_unit": enum("W", "A"),
                        "min_charging_rate": NUMBER,
                        "charging_profile_period": array(obj({"start_period": INT, "limit": NUMBER},
                                                             ["start_period", "limit"]))},
                       ["charging_rate_unit"])
PROFILE_RESULT = obj({"result": enum("ACCEPTED", "REJECTED", "UNKNOWN"),
                      "profile": obj({"start_date_time": DATETIME, "charging_profile": CHARGING_PROFILE},
                                     ["start_date_time", "charging_profile"])}, ["result"])


def valid(schema: dict, instance) -> None:
    jsonschema.Draft202012Validator(schema).validate(instance)


@pytest.fixture(autouse=True)
def _ocpi_settings(settings):
    settings.OCPI_BASE_URL = "https://csms.test/ocpi"
    settings.OCPI_COUNTRY_CODE = "SE"
    settings.OCPI_PARTY_ID = "CSM"
    settings.OCPP_DEFAULT_COMMAND_TIMEOUT = 5
    settings.OCPI_REQUEST_TIMEOUT = 5


@pytest.fixture
def peer():
    with EmspPeer() as running:
        running.token_for_cpo = "peer-token-b"
        yield running


@pytest.fixture
def party(peer):
    return make_party()


@pytest.fixture
def inline(monkeypatch):
    """Run the charger command at once instead of in the background thread (the test's transaction is not
    visible to another thread)."""
    monkeypatch.setattr(commands, "_dispatch", lambda pk: commands.command_execute(command_id=pk))


@pytest.fixture
def charger(monkeypatch):
    """A connected charger answering each action with ``answers[action]`` (None: it never answers)."""
    sent: list[tuple[str, dict]] = []
    answers: dict[str, dict | None] = {}

    def send(*, charge_point, action, payload, acting_user, reason, timeout=None):
        sent.append((action, payload))
        command = RemoteCommand.objects.create(charge_point=charge_point, action=action, payload=payload,
                                               requested_by=acting_user, reason=reason)
        answer = answers.get(action, {"status": "Accepted"})
        if answer is None:
            return charger_commands._finish(command, RemoteCommand.Status.TIMEOUT, error="No answer")
        return charger_commands._finish(command, RemoteCommand.Status.ANSWERED, response=answer)

    monkeypatch.setattr(charger_commands, "send", send)
    return sent, answers


@pytest.fixture
def station():
    charge_point = public_station()
    charge_point.is_connected = True
    charge_point.save(update_fields=["is_connected"])
    return charge_point


def token(uid="APP-USER-1", country="NL", party_id="EXA") -> dict:
    return {"country_code": country, "party_id": party_id, "uid": uid, "type": "APP_USER",
            "contract_id": "NL-EXA-C1", "issuer": "Example", "valid": True, "whitelist": "NEVER",
            "last_updated": "2026-11-20T00:00:00Z"}


def start_body(peer, station, **fields) -> dict:
    evse = station.evses.order_by("evse_id").last()
    return {"response_url": peer.response_url("START_SESSION"), "token": token(),
            "location_id": str(station.location_id), "evse_uid": str(evse.pk), "connector_id": "1",
            "authorization_reference": "AUTH-1", **fields}


def post(client, command: str, body):
    response = client.post(f"/ocpi/cpo/2.2.1/commands/{command}", data=json.dumps(body),
                           content_type="application/json", **auth())
    return response.status_code, json.loads(response.content)


def test_start_session_is_accepted_sent_to_the_charger_and_the_result_posted(
        client, party, peer, station, charger, inline, django_capture_on_commit_callbacks):
    sent, _answers = charger
    with django_capture_on_commit_callbacks(execute=True):
        status, body = post(client, "START_SESSION", start_body(peer, station))
    assert (status, body["status_code"]) == (200, 1000)
    assert body["data"]["result"] == "ACCEPTED"
    assert body["data"]["timeout"] == commands.command_timeout() == 12
    valid(COMMAND_RESPONSE, body["data"])
    assert sent == [("RemoteStartTransaction", {"idTag": "APP-USER-1", "connectorId": 2})]
    assert [(r.body, r.path.split("/")[0]) for r in peer.command_results] == [({"result": "ACCEPTED"},
                                                                              "START_SESSION")]
    stored = OcpiCommand.objects.get()
    assert (stored.response, stored.result, stored.result_attempts) == ("ACCEPTED", "ACCEPTED", 1)
    assert stored.result_sent_at is not None
    assert stored.remote_command.action == "RemoteStartTransaction"


def test_a_charger_that_never_answers_gives_timeout(client, party, peer, station, charger, inline,
                                                    django_capture_on_commit_callbacks):
    charger[1]["RemoteStartTransaction"] = None
    with django_capture_on_commit_callbacks(execute=True):
        post(client, "START_SESSION", start_body(peer, station))
    assert [r.body["result"] for r in peer.command_results] == ["TIMEOUT"]


def test_a_rejected_start_and_an_unlock(client, party, peer, station, charger, inline,
                                        django_capture_on_commit_callbacks):
    charger[1]["RemoteStartTransaction"] = {"status": "Rejected"}
    charger[1]["UnlockConnector"] = {"status": "UnlockFailed"}
    evse = station.evses.order_by("evse_id").first()
    with django_capture_on_commit_callbacks(execute=True):
        post(client, "START_SESSION", start_body(peer, station))
        status, body = post(client, "UNLOCK_CONNECTOR", {
            "response_url": peer.response_url("UNLOCK_CONNECTOR"), "location_id": str(station.location_id),
            "evse_uid": str(evse.pk), "connector_id": "1"})
    assert body["data"]["result"] == "ACCEPTED"
    assert [r.body["result"] for r in peer.command_results] == ["REJECTED", "FAILED"]
    for result in peer.command_results:
        valid(COMMAND_RESULT, result.body)
    assert charger[0][-1] == ("UnlockConnector", {"connectorId": 1})


@pytest.mark.parametrize(("command", "change"), [
    ("START_SESSION", {"token": None}),
    ("START_SESSION", {"location_id": None}),
    ("START_SESSION", {"response_url": "not a url"}),
    ("START_SESSION", {"token": {**token(), "type": "CAR"}}),
    ("START_SESSION", {"evse_uid": None}),  # connector_id without evse_uid
    ("STOP_SESSION", {"session_id": None}),
    ("RESERVE_NOW", {"expiry_date": "tomorrow"}),
    ("UNLOCK_CONNECTOR", {"connector_id": None}),
])
def test_bad_bodies_are_2001_and_store_nothing(client, party, peer, station, command, change):
    body = {**start_body(peer, station), "session_id": "1", "reservation_id": "R1",
            "expiry_date": "2026-11-22T10:00:00Z", **change}
    body = {key: value for key, value in body.items() if value is not None}
    status, answer = post(client, command, body)
    assert (status, answer["status_code"]) == (200, 2001), answer
    assert not OcpiCommand.objects.exists()
    assert post(client, "START_SESSION", ["not", "an", "object"])[1]["status_code"] == 2001


def test_unknown_location_is_2003_rejected_and_an_unknown_command_404(client, party, peer, station, charger):
    status, body = post(client, "START_SESSION", start_body(peer, station, location_id="999999"))
    valid(COMMAND_RESPONSE, body["data"])
    assert (status, body["status_code"], body["data"]["result"]) == (200, 2003, "REJECTED")
    assert post(client, "SELF_DESTRUCT", {"response_url": peer.response_url("X")})[0] == 404
    assert charger[0] == []


def test_rejected_without_sending_offline_others_token_or_not_public(client, party, peer, station, charger):
    other = post(client, "START_SESSION", start_body(peer, station, token=token(country="DE", party_id="XYZ")))
    station.is_connected = False
    station.save(update_fields=["is_connected"])
    offline = post(client, "START_SESSION", start_body(peer, station))
    assert [other[1]["data"]["result"], offline[1]["data"]["result"]] == ["REJECTED", "REJECTED"]
    private = public_station(mode="private")
    private.is_connected = True
    private.save(update_fields=["is_connected"])
    assert post(client, "START_SESSION", start_body(peer, private))[1]["status_code"] == 2003  # not published
    assert charger[0] == []
    assert OcpiCommand.objects.filter(response="REJECTED").count() == 3


def test_stop_session_of_an_unknown_or_other_session_and_of_our_own(client, party, peer, station, charger, inline,
                                                                    django_capture_on_commit_callbacks):
    evse = station.evses.first()
    theirs = ChargingSessionFactory(charge_point=station, evse=evse, roaming_party="NLEXA", transaction_id="17",
                                    status=ChargingSession.Status.ACTIVE)
    other = ChargingSessionFactory(charge_point=station, evse=evse, roaming_party="DEXYZ",
                                   status=ChargingSession.Status.ACTIVE)
    url = peer.response_url("STOP_SESSION")
    assert post(client, "STOP_SESSION", {"response_url": url, "session_id": "424242"})[1]["data"]["result"] == (
        "UNKNOWN_SESSION")
    assert post(client, "STOP_SESSION", {"response_url": url, "session_id": str(other.pk)})[1]["data"][
        "result"] == "UNKNOWN_SESSION"
    with django_capture_on_commit_callbacks(execute=True):
        accepted = post(client, "STOP_SESSION", {"response_url": url, "session_id": str(theirs.pk)})
    assert accepted[1]["data"]["result"] == "ACCEPTED"
    assert charger[0] == [("RemoteStopTransaction", {"transactionId": 17})]
    assert [r.body["result"] for r in peer.command_results] == ["ACCEPTED"]


def test_reserve_now_and_cancel_use_our_own_reservation_id(client, party, peer, station, charger, inline,
                                                           django_capture_on_commit_callbacks):
    evse = station.evses.order_by("evse_id").first()
    reserve = {"response_url": peer.response_url("RESERVE_NOW"), "token": token(), "reservation_id": "R-1",
               "location_id": str(station.location_id), "evse_uid": str(evse.pk),
               "expiry_date": (timezone.now() + timedelta(minutes=30)).strftime("%Y-%m-%dT%H:%M:%SZ")}
    cancel = {"response_url": peer.response_url("CANCEL_RESERVATION"), "reservation_id": "R-1"}
    with django_capture_on_commit_callbacks(execute=True):
        post(client, "RESERVE_NOW", reserve)
    with django_capture_on_commit_callbacks(execute=True):
        post(client, "CANCEL_RESERVATION", cancel)
    with django_capture_on_commit_callbacks(execute=True):
        post(client, "CANCEL_RESERVATION", cancel)  # already cancelled
    actions = [action for action, _payload in charger[0]]
    assert actions == ["ReserveNow", "CancelReservation"]
    reservation_id = charger[0][0][1]["reservationId"]
    assert reservation_id != "R-1"
    assert charger[0][1][1] == {"reservationId": reservation_id}
    assert [r.body["result"] for r in peer.command_results] == ["ACCEPTED", "ACCEPTED", "UNKNOWN_RESERVATION"]


def test_the_sweep_times_out_lost_commands_and_retries_undelivered_results(party, peer, station):
    lost = OcpiCommand.objects.create(party=party, command="START_SESSION", response="ACCEPTED",
                                      response_url=peer.response_url("START_SESSION"), request={},
                                      created_at=timezone.now() - timedelta(minutes=5))
    peer.token_for_cpo = "changed"  # the peer answers 401 now: not delivered
    assert commands.command_results_sweep() == 0
    lost.refresh_from_db()
    assert (lost.result, lost.result_attempts, lost.result_sent_at) == ("TIMEOUT", 1, None)
    peer.token_for_cpo = "peer-token-b"
    assert command_results_sweep_task() == 1
    assert commands.command_results_sweep() == 0  # delivered once
    assert [r.body["result"] for r in peer.command_results] == ["TIMEOUT"]


def test_the_commanded_token_is_accepted_at_that_charger_without_real_time_check(
        client, party, peer, station, charger, inline, django_capture_on_commit_callbacks, monkeypatch):
    monkeypatch.setattr(authorization, "_roaming_authorizers", [commands.commanded_authorizer])
    with django_capture_on_commit_callbacks(execute=True):
        post(client, "START_SESSION", start_body(peer, station))
    evse = station.evses.order_by("evse_id").last()
    decision = authorize(charge_point=station, uid="app-user-1", at=timezone.now(), purpose="start", evse=evse)
    assert (decision.status, decision.roaming_party) == (AuthStatus.ACCEPTED, "NLEXA")
    elsewhere = public_station()
    assert authorize(charge_point=elsewhere, uid="APP-USER-1", at=timezone.now(), purpose="start").status == (
        AuthStatus.INVALID)
    session = ChargingSessionFactory(charge_point=station, evse=evse, id_token_uid="APP-USER-1",
                                     started_at=timezone.now(), status=ChargingSession.Status.ACTIVE)
    assert commands.authorization_reference(session) == "AUTH-1"
    assert commands.authorization_reference(ChargingSessionFactory(charge_point=station, evse=evse,
                                                                   id_token_uid="OTHER")) is None
    later = timezone.now() + timedelta(minutes=16)
    assert authorize(charge_point=station, uid="APP-USER-1", at=later, purpose="start").status == AuthStatus.INVALID
    assert not [p for _m, p, _h in peer.requests if p.endswith("/authorize")]


# --- charging profiles -----------------------------------------------------------------------------------------------

PROFILE = {"charging_rate_unit": "A", "duration": 3600,
           "charging_profile_period": [{"start_period": 0, "limit": 10.0}, {"start_period": 1800, "limit": 6.5}]}


def profile_call(client, method: str, session_id, *, query: str = "", body=None):
    kwargs = {"data": json.dumps(body), "content_type": "application/json"} if body is not None else {}
    response = getattr(client, method)(f"/ocpi/cpo/2.2.1/chargingprofiles/{session_id}{query}", **kwargs, **auth())
    return response.status_code, json.loads(response.content)


@pytest.fixture
def roaming_session(station):
    evse = station.evses.get(evse_id=2)
    return ChargingSessionFactory(charge_point=station, evse=evse, roaming_party="NLEXA", transaction_id="31",
                                  status=ChargingSession.Status.ACTIVE)


def test_a_profile_is_sent_as_a_tx_profile_and_cleared_by_its_own_id(
        client, party, peer, roaming_session, charger, inline, django_capture_on_commit_callbacks):
    sent, answers = charger
    answers["ClearChargingProfile"] = {"status": "Unknown"}
    with django_capture_on_commit_callbacks(execute=True):
        status, body = profile_call(client, "put", roaming_session.pk, body={
            "charging_profile": PROFILE, "response_url": peer.response_url("SET_PROFILE")})
        cleared = profile_call(client, "delete", roaming_session.pk,
                               query=f"?response_url={peer.response_url('CLEAR_PROFILE')}")
    assert (status, body["status_code"], body["data"]["result"]) == (200, 1000, "ACCEPTED")
    assert cleared[1]["data"]["result"] == "ACCEPTED"
    assert sent == [
        ("SetChargingProfile", {"connectorId": 2, "csChargingProfiles": {
            "chargingProfileId": 8002, "stackLevel": 4, "chargingProfilePurpose": "TxProfile",
            "chargingProfileKind": "Relative", "transactionId": 31, "chargingSchedule": {
                "chargingRateUnit": "A", "duration": 3600, "chargingSchedulePeriod": [
                    {"startPeriod": 0, "limit": 10.0}, {"startPeriod": 1800, "limit": 6.5}]}}}),
        ("ClearChargingProfile", {"id": 8002})]
    assert [r.body for r in peer.command_results] == [{"result": "ACCEPTED"}, {"result": "UNKNOWN"}]
    valid(PROFILE_RESPONSE, body["data"])


def test_active_profile_from_the_composite_schedule(client, party, peer, roaming_session, charger, inline,
                                                    django_capture_on_commit_callbacks):
    sent, answers = charger
    answers["GetCompositeSchedule"] = {
        "status": "Accepted", "connectorId": 2, "scheduleStart": "2026-11-20T12:00:00Z",
        "chargingSchedule": {"chargingRateUnit": "A", "duration": 900,
                             "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 8.0}]}}
    url = peer.response_url("GET_PROFILE")
    with django_capture_on_commit_callbacks(execute=True):
        status, body = profile_call(client, "get", roaming_session.pk, query=f"?duration=900&response_url={url}")
    assert body["data"] == {"result": "ACCEPTED", "timeout": commands.command_timeout()}
    assert sent == [("GetCompositeSchedule", {"connectorId": 2, "duration": 900})]
    assert [r.body for r in peer.command_results] == [{"result": "ACCEPTED", "profile": {
        "start_date_time": "2026-11-20T12:00:00Z", "charging_profile": {
            "charging_rate_unit": "A", "duration": 900,
            "charging_profile_period": [{"start_period": 0, "limit": 8.0}]}}}]
    answers["GetCompositeSchedule"] = {"status": "Accepted", "connectorId": 2}  # no schedule at all
    with django_capture_on_commit_callbacks(execute=True):
        profile_call(client, "get", roaming_session.pk, query=f"?duration=900&response_url={url}")
    assert peer.command_results[-1].body == {"result": "UNKNOWN"}
    for result in peer.command_results:
        valid(PROFILE_RESULT, result.body)


def test_profiles_refused_for_load_balanced_unknown_and_bad_requests(client, party, peer, roaming_session, charger):
    from loadbalancing.models import EvseWiring, PowerGroup

    url = peer.response_url("SET_PROFILE")
    assert profile_call(client, "put", 424242, body={"charging_profile": PROFILE, "response_url": url})[1][
        "data"]["result"] == "UNKNOWN_SESSION"
    bad = {**PROFILE, "charging_profile_period": [{"start_period": 60, "limit": 10}]}
    assert profile_call(client, "put", roaming_session.pk, body={"charging_profile": bad, "response_url": url})[1][
        "status_code"] == 2001
    assert profile_call(client, "get", roaming_session.pk, query=f"?response_url={url}")[1]["status_code"] == 2001
    assert profile_call(client, "delete", roaming_session.pk)[1]["status_code"] == 2001
    root = PowerGroup.objects.create(organization=roaming_session.organization, name="Fuse", limit_l1=25,
                                     limit_l2=25, limit_l3=25)
    EvseWiring.objects.create(evse=roaming_session.evse, group=root)
    status, body = profile_call(client, "put", roaming_session.pk, body={"charging_profile": PROFILE,
                                                                         "response_url": url})
    assert (body["status_code"], body["data"]["result"]) == (1000, "NOT_SUPPORTED")
    assert charger[0] == []
    assert not peer.command_results


def test_both_receivers_are_listed_in_our_version_details(client, party):
    response = client.get("/ocpi/2.2.1/", **auth())
    endpoints = {(e["identifier"], e["role"]): e["url"] for e in json.loads(response.content)["data"]["endpoints"]}
    assert endpoints[("commands", "RECEIVER")] == "https://csms.test/ocpi/cpo/2.2.1/commands"
    assert endpoints[("chargingprofiles", "RECEIVER")] == "https://csms.test/ocpi/cpo/2.2.1/chargingprofiles"
