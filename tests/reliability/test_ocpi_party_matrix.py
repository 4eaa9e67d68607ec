"""OCPI partners never reach each other's objects (issue 13's permission matrix, the OCPI column).

Two registered eMSPs, A (NL EXA) and B (DE EXB), each with a token, a running session, a finished priced session
(a CDR) at our charger. With A's credentials every module that holds a partner's own objects is tried on B's: the
lists never show them, reads of them are refused, writes to them (token PUT/PATCH in B's namespace, charging
preferences and profiles on B's session, commands naming B's session or token) are refused and change no row of
any roaming or charging table. B's own calls still see its objects, so the check cannot pass by seeing nothing.
"""

import base64
import json
from datetime import timedelta

import pytest
from django.apps import apps

from roaming.models import OcpiToken
from tests.roaming.test_sessions_cdrs import START, charge_point, session, site  # noqa: F401 - fixtures
from tests.roaming.test_tokens import make_party, token_body

pytestmark = pytest.mark.django_db

TOKENS = {"A": "token-c-of-partner-a", "B": "token-c-of-partner-b"}
PROFILE = {"charging_rate_unit": "A", "charging_profile_period": [{"start_period": 0, "limit": 10}]}


@pytest.fixture(autouse=True)
def _ocpi_settings(settings):
    settings.OCPI_BASE_URL = "https://csms.test/ocpi"
    settings.OCPI_COUNTRY_CODE = "SE"
    settings.OCPI_PARTY_ID = "CSM"
    settings.OCPI_REQUEST_TIMEOUT = 2
    settings.SPOT_FALLBACK_PRICE = {"SEK": "2.00"}


def call(client, who: str, method: str, path: str, body=None):
    kwargs = {"data": json.dumps(body), "content_type": "application/json"} if body is not None else {}
    response = getattr(client, method)(f"/ocpi/cpo/2.2.1/{path}", **kwargs,
                                       HTTP_AUTHORIZATION="Token " + base64.b64encode(TOKENS[who].encode()).decode())
    return response.status_code, json.loads(response.content)


def snapshot() -> dict:
    """Every row of every roaming and charging table, to prove a refused call changed nothing."""
    return {model._meta.label: sorted(map(repr, model.objects.values_list()))
            for app in ("roaming", "charging") for model in apps.get_app_config(app).get_models()}


@pytest.fixture
def world(client, charge_point):  # noqa: F811 - the fixture imported above
    make_party(country="NL", party_id="EXA", token_c=TOKENS["A"])
    make_party(country="DE", party_id="EXB", token_c=TOKENS["B"])
    for who, country, party in (("A", "NL", "EXA"), ("B", "DE", "EXB")):
        status, body = call(client, who, "put", f"tokens/{country}/{party}/UID{who}",
                            token_body(uid=f"UID{who}", country_code=country, party_id=party))
        assert (status, body["status_code"]) == (201, 1000), body
    return {who: {"running": session(charge_point, roaming_party=party, stopped=False,
                                     started_at=START + timedelta(hours=2)),
                  "finished": session(charge_point, roaming_party=party)}
            for who, party in (("A", "NLEXA"), ("B", "DEEXB"))}


def ids(body: dict) -> set[str]:
    return {item["id"] for item in body["data"]}


def test_a_partner_lists_only_its_own_sessions_and_cdrs(client, world):
    for who, other in (("A", "B"), ("B", "A")):
        _, sessions = call(client, who, "get", "sessions?date_from=2026-01-01T00:00:00Z")
        _, cdrs = call(client, who, "get", "cdrs")
        assert ids(sessions) == {str(world[who]["running"].pk), str(world[who]["finished"].pk)}
        assert ids(sessions).isdisjoint({str(world[other][kind].pk) for kind in ("running", "finished")})
        assert len(cdrs["data"]) == 1
        assert cdrs["data"][0]["session_id"] == str(world[who]["finished"].pk)
        assert all(item["cdr_token"]["uid"] != f"UID{other}" for item in sessions["data"] + cdrs["data"])


def test_a_partner_cannot_read_or_write_anything_of_another(client, world):
    b_running = world["B"]["running"].pk
    b_token = {"uid": "UIDB", "type": "RFID", "country_code": "DE", "party_id": "EXB", "contract_id": "DE-EXB-C1",
               "issuer": "B", "valid": True, "whitelist": "NEVER", "last_updated": "2026-11-21T00:00:00Z"}
    attempts = [
        ("get", "tokens/DE/EXB/UIDB", None),
        ("put", "tokens/DE/EXB/UIDB", token_body(uid="UIDB", country_code="DE", party_id="EXB", valid=False)),
        ("patch", "tokens/DE/EXB/UIDB", {"valid": False, "last_updated": "2026-11-21T00:00:00Z"}),
        ("put", "tokens/NL/EXA/UIDB", token_body(uid="UIDB", country_code="DE", party_id="EXB", valid=False)),
        ("put", f"sessions/{b_running}/charging_preferences", {"profile_type": "FAST"}),
        ("get", f"chargingprofiles/{b_running}?duration=900&response_url=https://a.example/r", None),
        ("put", f"chargingprofiles/{b_running}", {"charging_profile": PROFILE,
                                                   "response_url": "https://a.example/r"}),
        ("delete", f"chargingprofiles/{b_running}?response_url=https://a.example/r", None),
        ("post", "commands/STOP_SESSION", {"response_url": "https://a.example/r", "session_id": str(b_running)}),
        ("post", "commands/START_SESSION", {
            "response_url": "https://a.example/r", "token": b_token, "location_id": "1", "evse_uid": "1",
            "connector_id": "1"}),
    ]
    before = snapshot()
    b_token_row = OcpiToken.objects.values().get(uid="UIDB")
    for method, path, body in attempts:
        status, answer = call(client, "A", method, path, body)
        data = json.dumps(answer.get("data"))
        refused = status >= 400 or answer["status_code"] >= 2000 or (
            isinstance(answer.get("data"), dict) and answer["data"].get("result") in ("REJECTED", "UNKNOWN_SESSION"))
        assert refused, (method, path, status, answer)
        assert "UIDB" not in data, (method, path, answer)
        assert "DE-EXB" not in data, (method, path, answer)
    # Nothing changed anywhere (the refused commands are logged as OcpiCommand rows: those are A's own record).
    after = snapshot()
    after.pop("roaming.OcpiCommand")
    before.pop("roaming.OcpiCommand")
    after.pop("roaming.OcpiRequestLog", None)
    before.pop("roaming.OcpiRequestLog", None)
    assert after == before
    assert OcpiToken.objects.values().get(uid="UIDB") == b_token_row
