"""START_SESSION over real HTTP against the real daphne server: the independent eMSP peer POSTs the command, the
server answers at once, sends RemoteStartTransaction (1.6) / RequestStartTransaction (2.0.1) to a simulated charger
on a real websocket from a background thread, and POSTs the CommandResult to the peer — TIMEOUT when the charger
never answers."""

import asyncio
import json
import time
import uuid

import pytest
from ocpp.routing import on
from ocpp.v16.enums import Action as Action16

from charging.models import ChargePoint, Location
from charging.services.stations import charge_point_register
from roaming.models import OcpiCommand, OcpiParty, hash_token
from tests.accounts.factories import OrganizationFactory
from tests.conformance.clients import Charger16, Charger201, connected
from tests.conformance.ocpi.peer import EmspPeer, call
from tests.conformance.test_ocpp16 import db
from tests.conformance.test_remote_actions import booted

# Each test runs its own server (own_csms_server): the server writes audit rows for the commands it sends, and the
# shared one would still hold the content type ids of a database flushed since.
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.conformance]
KEY = "ocpi-commands-authorization-key"
TOKEN_C = "peer-token-for-calling-us"


class SilentCharger16(Charger16):
    """Takes RemoteStartTransaction and never answers it."""

    @on(Action16.remote_start_transaction)
    async def on_remote_start(self, id_tag, **kwargs):
        self._note("RemoteStartTransaction", {"id_tag": id_tag, **kwargs})
        await asyncio.sleep(3600)


@pytest.fixture
def peer():
    with EmspPeer() as running:
        running.token_for_cpo = "peer-token-b"
        yield running


def _setup(version: str) -> tuple[ChargePoint, OcpiParty]:
    org = OrganizationFactory(name="BRF Publik")
    site = Location.objects.create(organization=org, name="Publik", street_address="Gatan 1", city="Stockholm",
                                   postal_code="11122", latitude="59.329323", longitude="18.068581")
    station = charge_point_register(identity=f"OC-{version}-{uuid.uuid4().hex[:6]}", organization=org, evses=2,
                                    auth_key=KEY, acting_user=None, reason="test")
    station.location, station.access_mode = site, ChargePoint.AccessMode.PUBLIC
    station.save(update_fields=["location", "access_mode"])
    for evse in station.evses.all():
        evse.public_id = f"SE*CSM*E{station.pk}{evse.evse_id}"
        evse.save(update_fields=["public_id"])
    party = OcpiParty.objects.create(
        name="Example eMSP", country_code="NL", party_id="EXA", role=OcpiParty.Role.EMSP,
        roles=[{"role": "EMSP", "country_code": "NL", "party_id": "EXA", "business_details": {"name": "x"}}],
        status=OcpiParty.Status.REGISTERED, version="2.2.1", token_b="peer-token-b",
        token_c_hash=hash_token(TOKEN_C))
    return station, party


def _start_body(peer, station) -> dict:
    evse = station.evses.get(evse_id=2)
    return {"response_url": peer.response_url("START_SESSION"), "location_id": str(station.location_id),
            "evse_uid": str(evse.pk), "connector_id": "1", "authorization_reference": "AUTH-1",
            "token": {"country_code": "NL", "party_id": "EXA", "uid": "APPUSER42", "type": "APP_USER",
                      "contract_id": "NL-EXA-C42", "issuer": "Example", "valid": True, "whitelist": "NEVER",
                      "last_updated": "2026-11-20T00:00:00Z"}}


async def _results(peer, count: int, seconds: float) -> list:
    deadline = time.monotonic() + seconds
    while len(peer.command_results) < count and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    return [r.body for r in peer.command_results]


def _post(url: str, body) -> tuple[float, object]:
    started = time.monotonic()
    answer = call("POST", url, token=TOKEN_C, body=body)
    return time.monotonic() - started, answer


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
async def test_start_session_reaches_the_charger_and_accepted_is_posted(own_csms_server, server_settings,
                                                                       transactional_db, peer, version):
    station, _party = await db(_setup, version)
    url = own_csms_server.replace("ws://", "http://") + "/ocpi/cpo/2.2.1/commands/START_SESSION"
    charger_class = Charger16 if version == "1.6" else Charger201
    async with connected(own_csms_server, station.identity, version=version, key=KEY,
                         charger_class=charger_class) as charger:
        await booted(charger, station, version)
        body = await db(_start_body, peer, station)
        took, answer = await asyncio.to_thread(_post, url, body)
        assert (answer.http_status, answer.status_code) == (200, 1000), answer.body
        assert answer.data["result"] == "ACCEPTED"
        assert answer.data["timeout"] > 0
        assert took < 2  # answered before the charger was asked
        results = await _results(peer, 1, 15)
    assert results == [{"result": "ACCEPTED"}]
    if version == "1.6":
        assert charger.received == [("RemoteStartTransaction", {"id_tag": "APPUSER42", "connector_id": 2})]
    else:
        assert charger.received[0][0] == "RequestStartTransaction"
        assert charger.received[0][1]["id_token"] == {"id_token": "APPUSER42", "type": "Central"}
    headers = {name.lower(): value for name, value in peer.command_results[0].headers.items()}
    assert (headers["ocpi-from-party-id"], headers["ocpi-to-party-id"]) == ("CSM", "EXA")
    stored = await db(OcpiCommand.objects.get)
    assert (stored.result, stored.result_attempts) == ("ACCEPTED", 1)
    assert stored.result_sent_at is not None


async def test_a_charger_that_never_answers_gives_a_timeout_result(own_csms_server, server_settings, transactional_db,
                                                                   peer):
    station, _party = await db(_setup, "1.6")
    url = own_csms_server.replace("ws://", "http://") + "/ocpi/cpo/2.2.1/commands/START_SESSION"
    async with connected(own_csms_server, station.identity, key=KEY, charger_class=SilentCharger16) as charger:
        await booted(charger, station, "1.6")
        body = await db(_start_body, peer, station)
        _took, answer = await asyncio.to_thread(_post, url, body)
        assert answer.data["result"] == "ACCEPTED"
        results = await _results(peer, 1, answer.data["timeout"] + 5)
    assert results == [{"result": "TIMEOUT"}]
    assert charger.received[0][0] == "RemoteStartTransaction"


async def test_bad_bodies_and_unknown_sessions_over_http(own_csms_server, server_settings, transactional_db, peer):
    station, _party = await db(_setup, "1.6")
    base = own_csms_server.replace("ws://", "http://") + "/ocpi/cpo/2.2.1/commands"
    body = await db(_start_body, peer, station)
    del body["token"]["uid"]
    _took, bad = await asyncio.to_thread(_post, f"{base}/START_SESSION", body)
    assert (bad.http_status, bad.status_code) == (200, 2001)
    _took, unknown = await asyncio.to_thread(_post, f"{base}/STOP_SESSION", {
        "response_url": peer.response_url("STOP_SESSION"), "session_id": "987654"})
    assert (unknown.status_code, unknown.data["result"]) == (1000, "UNKNOWN_SESSION")
    assert json.dumps(peer.command_results) == "[]"


def _roaming_session(station):
    from charging.models import ChargingSession

    evse = station.evses.get(evse_id=1)
    return ChargingSession.objects.create(
        charge_point=station, evse=evse, organization_id=station.organization_id, id_token_uid="APPUSER42",
        transaction_id="tx-roaming-1", started_at=station.created_at, meter_start_wh=0, roaming_party="NLEXA",
        status=ChargingSession.Status.ACTIVE)


async def test_a_charging_profile_reaches_a_2_0_1_charger(own_csms_server, server_settings, transactional_db, peer):
    station, _party = await db(_setup, "2.0.1")
    body = {"response_url": peer.response_url("SET_PROFILE"), "charging_profile": {
        "charging_rate_unit": "W", "charging_profile_period": [{"start_period": 0, "limit": 7400}]}}
    async with connected(own_csms_server, station.identity, version="2.0.1", key=KEY,
                         charger_class=Charger201) as charger:
        await booted(charger, station, "2.0.1")
        session = await db(_roaming_session, station)  # after the boot, which closes sessions left open
        url = own_csms_server.replace("ws://", "http://") + f"/ocpi/cpo/2.2.1/chargingprofiles/{session.pk}"
        answer = await asyncio.to_thread(call, "PUT", url, token=TOKEN_C, body=body)
        assert (answer.status_code, answer.data["result"]) == (1000, "ACCEPTED"), answer.body
        results = await _results(peer, 1, 15)
    assert results == [{"result": "ACCEPTED"}]
    action, sent = charger.received[-1]
    assert action == "SetChargingProfile"
    assert sent["evse_id"] == 1
    assert sent["profile"]["transaction_id"] == "tx-roaming-1"
    assert sent["profile"]["charging_schedule"][0]["charging_schedule_period"] == [{"start_period": 0, "limit": 7400}]
