"""The tokens module as Receiver (PUT, PATCH, GET of an eMSP's tokens, the id rules, 2001 without last_updated) and
the roaming authorizer at our chargers (whitelist ALWAYS / ALLOWED / ALLOWED_OFFLINE / NEVER, real-time
authorization against the independent eMSP peer over real HTTP on loopback, unknown tokens, the roaming mark)."""

import base64
import json
import socket
import uuid
from datetime import UTC, datetime

import jsonschema
import pytest

from charging.access import AccessMode
from charging.models import AuthorizationAttempt, ChargePoint
from charging.services.authorization import AuthStatus, authorize
from charging.services.sessions import start_session
from roaming.models import OcpiParty, OcpiRequestLog, OcpiToken, hash_token
from tests.charging.factories import ChargePointFactory, ConnectorFactory, EvseFactory, LocationFactory
from tests.conformance.ocpi.peer import EmspPeer
from tests.roaming import ocpi_schemas
from tests.roaming.ocpi_schemas import BOOLEAN, COUNTRY_CODE, DATETIME, PARTY_ID, cistring, enum, obj, string

pytestmark = pytest.mark.django_db

TOKEN_C = "token-c-of-the-emsp"
#: mod_tokens "Token Object" (OCPI 2.2.1).
TOKEN_SCHEMA = obj({
    "country_code": COUNTRY_CODE, "party_id": PARTY_ID, "uid": cistring(36), "type": ocpi_schemas.TOKEN_TYPE,
    "contract_id": cistring(36), "visual_number": string(64), "issuer": string(64), "group_id": cistring(36),
    "valid": BOOLEAN, "whitelist": enum("ALWAYS", "ALLOWED", "ALLOWED_OFFLINE", "NEVER"), "language": string(2),
    "default_profile_type": enum("CHEAP", "FAST", "GREEN", "REGULAR"),
    "energy_contract": obj({"supplier_name": string(64), "contract_id": string(64)}, ["supplier_name"]),
    "last_updated": DATETIME,
}, ["country_code", "party_id", "uid", "type", "contract_id", "issuer", "valid", "whitelist", "last_updated"])


@pytest.fixture(autouse=True)
def _ocpi_settings(settings):
    settings.OCPI_BASE_URL = "https://csms.test/ocpi"
    settings.OCPI_COUNTRY_CODE = "SE"
    settings.OCPI_PARTY_ID = "CSM"
    settings.OCPI_AUTHORIZE_TIMEOUT = 2


@pytest.fixture
def peer():
    with EmspPeer() as running:
        running.token_for_cpo = "peer-token-b"
        yield running


def make_party(*, endpoints: dict | None = None, role=OcpiParty.Role.EMSP, country="NL", party_id="EXA",
               token_c=TOKEN_C, token_b="peer-token-b") -> OcpiParty:
    return OcpiParty.objects.create(
        name=f"{country}{party_id}", country_code=country, party_id=party_id, role=role,
        roles=[{"role": role, "country_code": country, "party_id": party_id, "business_details": {"name": "x"}}],
        status=OcpiParty.Status.REGISTERED, version="2.2.1", token_b=token_b, token_c_hash=hash_token(token_c),
        endpoints=endpoints or {})


@pytest.fixture
def party():
    return make_party()


def auth(token: str = TOKEN_C) -> dict:
    return {"HTTP_AUTHORIZATION": "Token " + base64.b64encode(token.encode()).decode()}


def token_body(uid="04AABBCCDD", **fields) -> dict:
    return {"country_code": "NL", "party_id": "EXA", "uid": uid, "type": "RFID", "contract_id": "NL-EXA-C12345678-X",
            "visual_number": "DF000-2001-8999", "issuer": "Example Energy", "group_id": "G1", "valid": True,
            "whitelist": "ALWAYS", "language": "nl", "last_updated": "2026-11-20T10:00:00Z", **fields}


def send(client, method: str, path: str, body=None, headers: dict | None = None, token: str = TOKEN_C):
    kwargs = {"data": json.dumps(body), "content_type": "application/json"} if body is not None else {}
    response = getattr(client, method)(f"/ocpi/cpo/2.2.1/tokens/{path}", **kwargs, **auth(token), **(headers or {}))
    return response.status_code, json.loads(response.content)


# --- the Receiver interface ----------------------------------------------------------------------------------------

def test_put_get_and_replace_a_token(client, party):
    status, body = send(client, "put", "NL/EXA/04AABBCCDD", token_body())
    assert (status, body["status_code"]) == (201, 1000), body
    token = OcpiToken.objects.get()
    assert (token.owner, token.country_code, token.party_code, token.uid, token.type) == (
        party, "NL", "EXA", "04AABBCCDD", "RFID")
    assert token.last_updated == datetime(2026, 11, 20, 10, 0, tzinfo=UTC)

    status, body = send(client, "get", "NL/EXA/04AABBCCDD?type=RFID")
    assert (status, body["status_code"]) == (200, 1000)
    jsonschema_valid(body["data"])
    assert body["data"] == token_body()

    # a PUT replaces the whole object: optional fields left out are gone
    replacement = {k: v for k, v in token_body(valid=False, whitelist="NEVER").items()
                   if k not in ("visual_number", "group_id", "language")}
    status, body = send(client, "put", "nl/exa/04AABBCCDD", replacement)
    assert (status, body["status_code"]) == (200, 1000)
    token.refresh_from_db()
    assert (token.valid, token.whitelist, token.visual_number, token.group_id) == (False, "NEVER", "", "")
    assert OcpiToken.objects.count() == 1


def jsonschema_valid(data):
    jsonschema.Draft202012Validator(TOKEN_SCHEMA).validate(data)


def test_patch_needs_last_updated_and_changes_only_what_it_names(client, party):
    send(client, "put", "NL/EXA/04AABBCCDD", token_body())
    status, body = send(client, "patch", "NL/EXA/04AABBCCDD", {"valid": False})
    assert (status, body["status_code"]) == (200, 2001)
    assert "last_updated" in body["status_message"]
    assert OcpiToken.objects.get().valid is True

    status, body = send(client, "patch", "NL/EXA/04AABBCCDD",
                        {"valid": False, "last_updated": "2026-11-21T08:00:00Z"})
    assert (status, body["status_code"]) == (200, 1000)
    token = OcpiToken.objects.get()
    assert (token.valid, token.whitelist, token.issuer) == (False, "ALWAYS", "Example Energy")
    assert token.last_updated == datetime(2026, 11, 21, 8, 0, tzinfo=UTC)

    # the identity cannot be patched; an unknown token cannot be patched
    status, body = send(client, "patch", "NL/EXA/04AABBCCDD", {"uid": "OTHER", "last_updated": "2026-11-21T09:00:00Z"})
    assert body["status_code"] == 2001
    status, body = send(client, "patch", "NL/EXA/NOSUCH", {"valid": True, "last_updated": "2026-11-21T09:00:00Z"})
    assert (status, body["status_code"]) == (404, 2004)


@pytest.mark.parametrize(("path", "changes"), [
    ("NL/EXA/OTHERUID", {}),  # uid in the URL differs from the body
    ("NL/EXA/04AABBCCDD", {"party_id": "XYZ"}),  # party id in the body differs from the URL
    ("NL/EXA/04AABBCCDD?type=APP_USER", {}),  # type in the URL differs from the body
    ("NL/EXA/04AABBCCDD?type=CARD", {}),  # not a TokenType
    ("NL/EXA/04AABBCCDD", {"whitelist": "SOMETIMES"}),
    ("NL/EXA/04AABBCCDD", {"valid": "yes"}),
    ("NL/EXA/04AABBCCDD", {"contract_id": "x" * 37}),
    ("NL/EXA/04AABBCCDD", {"last_updated": "yesterday"}),
])
def test_wrong_ids_or_values_are_2001_and_write_nothing(client, party, path, changes):
    status, body = send(client, "put", path, token_body(**changes))
    assert (status, body["status_code"]) == (200, 2001), body
    assert OcpiToken.objects.count() == 0


def test_missing_required_fields_are_2001(client, party):
    body = token_body()
    del body["issuer"], body["whitelist"]
    status, answer = send(client, "put", "NL/EXA/04AABBCCDD", body)
    assert answer["status_code"] == 2001
    assert "issuer, whitelist" in answer["status_message"]


def test_a_party_writes_only_its_own_tokens_a_hub_those_it_routes(client, party):
    status, body = send(client, "put", "DE/ABC/04AABBCCDD", token_body(country_code="DE", party_id="ABC"))
    assert (status, body["status_code"]) == (404, 2001)
    assert send(client, "get", "DE/ABC/04AABBCCDD")[0] == 404

    make_party(role=OcpiParty.Role.HUB, country="DE", party_id="HUB", token_c="hub-token")
    body = token_body(country_code="DE", party_id="ABC")
    routed = {"HTTP_OCPI_FROM_COUNTRY_CODE": "DE", "HTTP_OCPI_FROM_PARTY_ID": "ABC"}
    assert send(client, "put", "DE/ABC/04AABBCCDD", body, routed, token="hub-token")[1]["status_code"] == 1000
    # routing headers naming another eMSP than the URL: refused
    other = {"HTTP_OCPI_FROM_COUNTRY_CODE": "DE", "HTTP_OCPI_FROM_PARTY_ID": "XYZ"}
    assert send(client, "put", "DE/ABC/04AABBCCDD", body, other, token="hub-token")[0] == 404
    assert OcpiToken.objects.get().owner.party_id == "HUB"


def test_unknown_token_get_other_methods_and_token_a(client, party):
    status, body = send(client, "get", "NL/EXA/NOSUCH")
    assert (status, body["status_code"]) == (404, 2004)
    status, body = send(client, "delete", "NL/EXA/NOSUCH")
    assert (status, body["status_code"]) == (405, 2000)
    status, body = send(client, "put", "", token_body())
    assert (status, body["status_code"]) == (404, 2001)
    planned = OcpiParty.objects.create(name="New", token_a_hash=hash_token("token-a"))
    status, body = send(client, "put", "NL/EXA/04AABBCCDD", token_body(), token="token-a")
    assert (status, body["status_code"]) == (401, 2000)
    assert planned.tokens.count() == 0


def test_the_tokens_receiver_is_listed_in_our_version_details(client, party):
    response = client.get("/ocpi/2.2.1/", **auth())
    endpoints = json.loads(response.content)["data"]["endpoints"]
    assert {"identifier": "tokens", "role": "RECEIVER", "url": "https://csms.test/ocpi/cpo/2.2.1/tokens"} in endpoints


# --- the roaming authorizer ------------------------------------------------------------------------------------------

def public_station(mode=ChargePoint.AccessMode.PUBLIC) -> ChargePoint:
    site = LocationFactory(latitude="59.329323", longitude="18.068581")
    charge_point = ChargePointFactory(organization=site.organization, location=site, access_mode=mode)
    for number in (1, 2):
        evse = EvseFactory(charge_point=charge_point, evse_id=number)
        evse.public_id = f"SE*CSM*E{charge_point.pk}{number}"
        evse.save()
        ConnectorFactory(evse=evse, connector_id=1)
    return charge_point


def store(party, *, whitelist: str, valid: bool = True, uid: str | None = None) -> OcpiToken:
    return OcpiToken.objects.create(
        owner=party, country_code=party.country_code, party_code=party.party_id, uid=uid or uuid.uuid4().hex[:12],
        type="RFID", contract_id="NL-EXA-C1", issuer="Example", valid=valid, whitelist=whitelist,
        last_updated=datetime(2026, 11, 20, tzinfo=UTC))


def tokens_endpoint(peer) -> dict:
    return {"tokens": {"SENDER": f"{peer.base_url}/emsp/2.2.1/tokens"}}


def peer_token(uid: str, country="NL", party_id="EXA") -> dict:
    return {"country_code": country, "party_id": party_id, "uid": uid, "type": "RFID", "contract_id": "NL-EXA-C1",
            "issuer": "Example", "valid": True, "whitelist": "ALLOWED", "last_updated": "2026-11-20T00:00:00Z"}


def authorizations(peer) -> list:
    return [(method, path) for method, path, _headers in peer.requests if path.endswith("/authorize")]


def closed_port_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/ocpi/emsp/2.2.1/tokens"


NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def test_whitelist_always_is_decided_from_our_store_without_a_call(peer):
    party = make_party(endpoints=tokens_endpoint(peer))
    station = public_station()
    token = store(party, whitelist="ALWAYS")
    result = authorize(charge_point=station, uid=token.uid.lower(), at=NOW, purpose="authorize")
    assert (result.status, result.roaming_party) == (AuthStatus.ACCEPTED, "NLEXA")
    assert authorizations(peer) == []
    blocked = store(party, whitelist="ALWAYS", valid=False)
    result = authorize(charge_point=station, uid=blocked.uid, at=NOW, purpose="authorize")
    assert (result.status, result.roaming_party) == (AuthStatus.BLOCKED, "")
    assert "not valid" in AuthorizationAttempt.objects.get(id_token_uid=blocked.uid).reason


def test_allowed_asks_the_emsp_in_real_time_with_the_location(peer):
    party = make_party(endpoints=tokens_endpoint(peer))
    station = public_station()
    token = store(party, whitelist="ALLOWED")
    peer.tokens[token.uid] = ("BLOCKED", peer_token(token.uid))
    evse = station.evses.order_by("pk").last()
    result = authorize(charge_point=station, uid=token.uid, at=NOW, purpose="start", evse=evse)
    assert result.status == AuthStatus.BLOCKED
    assert authorizations(peer) == [("POST", f"/ocpi/emsp/2.2.1/tokens/{token.uid}/authorize")]
    log = OcpiRequestLog.objects.get(direction="out", party=party)
    assert log.url.endswith(f"/tokens/{token.uid}/authorize?type=RFID")
    # the body was LocationReferences of our published location and the EVSE asked about
    assert peer.authorize_requests[0].body == {"location_id": str(station.location_id), "evse_uids": [str(evse.pk)]}
    peer.tokens[token.uid] = ("ALLOWED", peer_token(token.uid))
    other = public_station()
    result = authorize(charge_point=other, uid=token.uid, at=NOW, purpose="authorize")
    assert (result.status, result.roaming_party) == (AuthStatus.ACCEPTED, "NLEXA")
    # an Authorize names no EVSE: every published EVSE of the charge point is asked about
    assert peer.authorize_requests[-1].body == {
        "location_id": str(other.location_id), "evse_uids": [str(e.pk) for e in other.evses.order_by("pk")]}


def test_allowed_and_allowed_offline_fall_back_to_the_store_when_the_emsp_is_unreachable():
    party = make_party(endpoints={"tokens": {"SENDER": closed_port_url()}})
    station = public_station()
    for whitelist in ("ALLOWED", "ALLOWED_OFFLINE"):
        token = store(party, whitelist=whitelist)
        result = authorize(charge_point=station, uid=token.uid, at=NOW, purpose="authorize")
        assert (result.status, result.roaming_party) == (AuthStatus.ACCEPTED, "NLEXA"), whitelist
        assert "unreachable" in result.reason
        invalid = store(party, whitelist=whitelist, valid=False)
        assert authorize(charge_point=station, uid=invalid.uid, at=NOW, purpose="authorize").status \
            == AuthStatus.BLOCKED
    # a partner without a tokens Sender endpoint: the store decides ALLOWED too
    party.endpoints = {}
    party.save()
    token = store(party, whitelist="ALLOWED")
    assert authorize(charge_point=station, uid=token.uid, at=NOW, purpose="authorize").accepted


def test_never_needs_a_real_time_answer(peer):
    party = make_party(endpoints={"tokens": {"SENDER": closed_port_url()}})
    station = public_station()
    token = store(party, whitelist="NEVER")
    result = authorize(charge_point=station, uid=token.uid, at=NOW, purpose="authorize")
    assert result.status == AuthStatus.NOT_AT_THIS_TIME
    assert "real-time" in result.reason

    party.endpoints = tokens_endpoint(peer)
    party.save()
    peer.tokens[token.uid] = ("ALLOWED", peer_token(token.uid))
    other = public_station()  # a fresh place: no answer kept from before
    assert authorize(charge_point=other, uid=token.uid, at=NOW, purpose="authorize").accepted
    # the eMSP no longer knows the token (2004): refused
    del peer.tokens[token.uid]
    third = public_station()
    result = authorize(charge_point=third, uid=token.uid, at=NOW, purpose="authorize")
    assert result.status == AuthStatus.INVALID
    assert "unknown to the eMSP" in result.reason


def test_an_unknown_uid_is_asked_of_partners_with_a_tokens_sender(peer):
    make_party(endpoints=tokens_endpoint(peer))
    make_party(country="DE", party_id="NOE", token_c="other-c")  # no tokens endpoint: never asked
    station = public_station()
    uid = uuid.uuid4().hex[:10].upper()
    result = authorize(charge_point=station, uid=uid, at=NOW, purpose="authorize")
    assert result.status == AuthStatus.INVALID  # the peer answered 2004
    assert "unknown to the eMSP" in result.reason
    assert len(authorizations(peer)) == 1

    peer.tokens[uid] = ("ALLOWED", peer_token(uid, country="NL", party_id="SUB"))
    other = public_station()
    result = authorize(charge_point=other, uid=uid, at=NOW, purpose="authorize")
    assert (result.status, result.roaming_party) == (AuthStatus.ACCEPTED, "NLSUB")


def test_no_roaming_at_private_stations_and_without_partners(peer):
    party = make_party(endpoints=tokens_endpoint(peer))
    token = store(party, whitelist="ALWAYS")
    private = public_station(mode=AccessMode.PRIVATE)
    assert authorize(charge_point=private, uid=token.uid, at=NOW, purpose="authorize").status == AuthStatus.INVALID
    party.status = OcpiParty.Status.SUSPENDED
    party.save()
    station = public_station()
    assert authorize(charge_point=station, uid=token.uid, at=NOW, purpose="authorize").status == AuthStatus.INVALID
    assert authorizations(peer) == []


def test_a_session_started_with_a_roaming_token_is_marked_and_reuses_the_authorize_answer(peer):
    party = make_party(endpoints=tokens_endpoint(peer))
    station = public_station()
    token = store(party, whitelist="NEVER")
    peer.tokens[token.uid] = ("ALLOWED", peer_token(token.uid))
    assert authorize(charge_point=station, uid=token.uid, at=NOW, purpose="authorize").accepted
    evse = station.evses.order_by("pk").first()
    started = start_session(charge_point=station, evse=evse, uid=token.uid, meter_start_wh=0, started_at=NOW)
    assert started.authorization.accepted
    assert started.session.roaming_party == "NLEXA"
    assert started.session.id_token is None
    # one real-time call for Authorize + StartTransaction: the start happens inside a database transaction
    assert len(authorizations(peer)) == 1
