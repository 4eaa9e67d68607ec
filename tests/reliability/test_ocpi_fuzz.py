"""Fuzzing of the OCPI 2.2.1 interface (issue 13): hypothesis sends every module's methods with random paths, query
strings, headers and JSON bodies — valid objects with parts broken, random JSON, no JSON at all — as a registered
eMSP, with a wrong token, with malformed Authorization headers, and as huge bodies.

Whatever arrives, the answer is never a 5xx and is always the OCPI envelope (``status_code``, ``timestamp``) with an
OCPI status code of the right class; nothing crashes the module.
"""

import base64
import json
from urllib.parse import urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from roaming.models import OcpiParty, hash_token

pytestmark = pytest.mark.django_db

TOKEN_C = "fuzz-token-c-0123456789"
BASE = "/ocpi/cpo/2.2.1"
#: (method, path template) of every OCPI endpoint we serve; {x} parts are filled with random or plausible values.
ENDPOINTS = [
    ("get", "/ocpi/versions"), ("get", "/ocpi/2.2.1/"),
    ("get", "/ocpi/2.2.1/credentials"), ("post", "/ocpi/2.2.1/credentials"), ("put", "/ocpi/2.2.1/credentials"),
    ("delete", "/ocpi/2.2.1/credentials"),
    ("get", BASE + "/locations"), ("get", BASE + "/locations/{a}"), ("get", BASE + "/locations/{a}/{b}"),
    ("get", BASE + "/locations/{a}/{b}/{c}"), ("get", BASE + "/tariffs"), ("get", BASE + "/tariffs/{a}"),
    ("get", BASE + "/sessions"), ("put", BASE + "/sessions/{a}/charging_preferences"), ("get", BASE + "/cdrs"),
    ("get", BASE + "/tokens"), ("get", BASE + "/tokens/{cc}/{pid}/{a}"), ("put", BASE + "/tokens/{cc}/{pid}/{a}"),
    ("patch", BASE + "/tokens/{cc}/{pid}/{a}"), ("post", BASE + "/tokens/{cc}/{pid}/{a}"),
    ("post", BASE + "/commands/{command}"), ("get", BASE + "/chargingprofiles/{a}"),
    ("put", BASE + "/chargingprofiles/{a}"), ("delete", BASE + "/chargingprofiles/{a}"),
    ("get", BASE + "/hubclientinfo"), ("get", BASE + "/hubclientinfo/{cc}/{pid}"),
    ("put", BASE + "/hubclientinfo/{cc}/{pid}"),
]
TOKEN = {"country_code": "NL", "party_id": "EXA", "uid": "04AABBCCDD", "type": "RFID",
         "contract_id": "NL-EXA-C12345678-X", "issuer": "Example", "valid": True, "whitelist": "ALWAYS",
         "last_updated": "2026-11-20T10:00:00Z"}
START = {"response_url": "https://emsp.example/cmd/1", "token": TOKEN, "location_id": "LOC1", "evse_uid": "EVSE1"}
PROFILE = {"response_url": "https://emsp.example/cp/1", "charging_profile": {
    "charging_rate_unit": "A", "charging_profile_period": [{"start_period": 0, "limit": 16}]}}

texts = st.text(max_size=30)
json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
              st.floats(allow_nan=False, allow_infinity=False), texts,
              st.sampled_from(["", "2026-13-45T25:61:00Z", "2026-11-20T10:00:00Z", "ALWAYS", "\u0000", "-1"])),
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(texts, inner, max_size=4)), max_leaves=10)


@st.composite
def mutated(draw, base: dict):
    body = json.loads(json.dumps(base))
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        keys = sorted(body)
        how = draw(st.sampled_from(["drop", "replace", "add"]))
        if how == "drop" and keys:
            body.pop(draw(st.sampled_from(keys)))
        elif how == "replace" and keys:
            body[draw(st.sampled_from(keys))] = draw(json_values)
        else:
            body[draw(texts)] = draw(json_values)
    return body


bodies = st.one_of(st.none(), json_values, mutated(TOKEN), mutated(START), mutated(PROFILE),
                   st.just("not json {"), st.just("x" * 300_000))
path_parts = st.one_of(st.sampled_from(["NL", "EXA", "04AABBCCDD", "LOC1", "START_SESSION", "STOP_SESSION",
                                        "RESERVE_NOW", "UNLOCK_CONNECTOR", "1", "0", "-1", "%00", "..", "a" * 300]),
                       st.text(alphabet=st.characters(blacklist_characters="/?#%", blacklist_categories=("Cs",)),
                               min_size=1, max_size=40))
headers = st.sampled_from([
    {"HTTP_AUTHORIZATION": "Token " + base64.b64encode(TOKEN_C.encode()).decode()},
    {"HTTP_AUTHORIZATION": "Token " + TOKEN_C},  # 2.1.1 style, not base64
    {"HTTP_AUTHORIZATION": "Token " + base64.b64encode(b"wrong-token").decode()},
    {"HTTP_AUTHORIZATION": "Bearer abc"}, {"HTTP_AUTHORIZATION": "Token"}, {"HTTP_AUTHORIZATION": "Token %%%"},
    {"HTTP_AUTHORIZATION": "Token " + "A" * 5000}, {},
])
queries = st.dictionaries(st.sampled_from(["offset", "limit", "date_from", "date_to", "type"]),
                          st.one_of(texts, st.sampled_from(["-1", "0", "99999999999999999999", "2026-11-20T10:00:00Z",
                                                            "yesterday", "AUTH_REQUEST"])), max_size=3)


@pytest.fixture
def party(settings):
    settings.OCPI_BASE_URL = "https://csms.test/ocpi"
    settings.OCPI_COUNTRY_CODE = "SE"
    settings.OCPI_PARTY_ID = "CSM"
    return OcpiParty.objects.create(
        name="NLEXA", country_code="NL", party_id="EXA", role=OcpiParty.Role.EMSP,
        roles=[{"role": "EMSP", "country_code": "NL", "party_id": "EXA", "business_details": {"name": "x"}}],
        status=OcpiParty.Status.REGISTERED, token_c_hash=hash_token(TOKEN_C), token_b="peer-token-b",
        version="2.2.1", endpoints={})


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                   HealthCheck.too_slow])
@given(endpoint=st.sampled_from(ENDPOINTS), parts=st.fixed_dictionaries(
    {"a": path_parts, "b": path_parts, "c": path_parts, "cc": path_parts, "pid": path_parts,
     "command": path_parts}), body=bodies, auth=headers, query=queries)
def test_no_ocpi_request_breaks_the_interface(client, party, endpoint, parts, body, auth, query):
    method, template = endpoint
    path = template.format(**parts)
    kwargs = dict(auth)
    if body is not None and method != "get":
        kwargs.update(data=body if isinstance(body, str) else json.dumps(body), content_type="application/json")
    response = getattr(client, method)(f"{path}?{urlencode(query)}" if query else path, **kwargs)
    assert response.status_code < 500, (method, path, response.content[:300])
    envelope = json.loads(response.content)
    assert isinstance(envelope, dict), envelope
    assert isinstance(envelope.get("status_code"), int), envelope
    assert "timestamp" in envelope, envelope
    if response.status_code >= 400:
        assert envelope["status_code"] >= 2000, envelope
