"""Connect API v1 foundation: API key and session authentication, the error shape, the rate limit, tenant isolation
of the station endpoints, live status in the answers and the OpenAPI schema."""

from datetime import timedelta

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import ApiKey
from accounts.services.api_keys import api_key_create, api_key_revoke
from csms.api.errors import api_exception_handler
from tests.accounts.conftest import Tenant
from tests.accounts.factories import OperatorFactory
from tests.charging.factories import ChargePointFactory, ConnectorFactory, EvseFactory, LocationFactory


@pytest.fixture(autouse=True)
def _own_cache(settings):
    # Rate-limit counters live in the cache; a private in-memory cache keeps them from leaking between tests.
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "api"}}
    cache.clear()  # locmem caches of one name share their store across tests


class Site:
    """One organization's location with a charging station whose EVSE is charging."""

    def __init__(self, organization):
        self.org = organization
        self.location = LocationFactory(organization=organization)
        self.charge_point = ChargePointFactory(organization=organization, location=self.location, is_connected=True)
        self.evse = EvseFactory(charge_point=self.charge_point, evse_id=1, status="Charging")
        ConnectorFactory(evse=self.evse, connector_id=1, status="Charging")
        self.raw_key = api_key_create(organization=organization, name="integration", scopes=["read"],
                                      acting_user=None, reason="test").raw_key


@pytest.fixture
def brf_a(db):
    return Tenant("BRF A")


@pytest.fixture
def brf_b(db):
    return Tenant("BRF B")


@pytest.fixture
def site_a(brf_a):
    return Site(brf_a.org)


@pytest.fixture
def site_b(brf_b):
    return Site(brf_b.org)


def client_for(raw_key: str | None) -> APIClient:
    client = APIClient()
    if raw_key is not None:
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw_key}")
    return client


def ids(response) -> set[int]:
    assert response.status_code == 200, response.content
    return {row["id"] for row in response.json()["results"]}


def assert_error(response, status: int, code: str):
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"code", "message", "fields"}
    assert body["code"] == code
    assert body["message"]


# --- authentication ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("header", [None, "Bearer csms_deadbeef_notakey", "Bearer garbage", "Bearer"],
                         ids=["no-key", "unknown-key", "malformed-key", "empty-bearer"])
def test_requests_without_a_valid_key_get_401_in_the_error_shape(site_a, header):
    client = APIClient()
    if header is not None:
        client.credentials(HTTP_AUTHORIZATION=header)
    response = client.get("/api/v1/charge-points/")
    assert_error(response, 401, "not_authenticated" if header is None else "authentication_failed")
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_revoked_key_is_refused(site_a):
    assert client_for(site_a.raw_key).get("/api/v1/locations/").status_code == 200
    api_key_revoke(api_key=ApiKey.objects.get(organization=site_a.org), acting_user=None, reason="leaked",
                   now=timezone.now())
    assert_error(client_for(site_a.raw_key).get("/api/v1/locations/"), 401, "authentication_failed")


def test_expired_key_is_refused(site_a):
    ApiKey.objects.filter(organization=site_a.org).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert_error(client_for(site_a.raw_key).get("/api/v1/locations/"), 401, "authentication_failed")


def test_key_without_the_read_scope_is_refused(site_a):
    raw_key = api_key_create(organization=site_a.org, name="commands only", scopes=["commands"], acting_user=None,
                             reason="test").raw_key
    assert_error(client_for(raw_key).get("/api/v1/locations/"), 403, "permission_denied")


def test_last_used_is_written_at_most_once_a_minute(site_a):
    client = client_for(site_a.raw_key)
    client.get("/api/v1/locations/")
    first = ApiKey.objects.get(organization=site_a.org).last_used_at
    assert first is not None
    client.get("/api/v1/locations/")
    assert ApiKey.objects.get(organization=site_a.org).last_used_at == first
    ApiKey.objects.filter(organization=site_a.org).update(last_used_at=first - timedelta(minutes=2))
    client.get("/api/v1/locations/")
    assert ApiKey.objects.get(organization=site_a.org).last_used_at > first - timedelta(minutes=2)


def test_unknown_url_under_a_resource_is_a_json_404(site_a):
    assert_error(client_for(site_a.raw_key).get("/api/v1/charge-points/999999/"), 404, "not_found")


def test_invalid_filter_is_a_400_with_field_errors(site_a):
    response = client_for(site_a.raw_key).get("/api/v1/charge-points/", {"status": "Bogus"})
    assert_error(response, 400, "invalid")
    assert "status" in response.json()["fields"]


# --- tenant isolation -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("resource", ["locations", "charge-points", "evses"])
def test_a_key_sees_only_its_own_organization(site_a, site_b, resource):
    own = {"locations": site_a.location, "charge-points": site_a.charge_point, "evses": site_a.evse}[resource]
    other = {"locations": site_b.location, "charge-points": site_b.charge_point, "evses": site_b.evse}[resource]
    client = client_for(site_a.raw_key)
    assert ids(client.get(f"/api/v1/{resource}/")) == {own.pk}
    assert client.get(f"/api/v1/{resource}/{own.pk}/").status_code == 200
    assert_error(client.get(f"/api/v1/{resource}/{other.pk}/"), 404, "not_found")


def test_filters_cannot_reach_another_organization(site_a, site_b):
    client = client_for(site_a.raw_key)
    assert ids(client.get("/api/v1/charge-points/", {"location": site_b.location.pk})) == set()
    assert ids(client.get("/api/v1/evses/", {"charge_point": site_b.charge_point.pk})) == set()
    assert ids(client.get("/api/v1/locations/", {"organization": site_b.org.pk})) == set()


def test_operator_key_sees_every_organization(site_a, site_b):
    operator_key = api_key_create(organization=OperatorFactory(), name="ops", scopes=["read"], acting_user=None,
                                  reason="test").raw_key
    client = client_for(operator_key)
    assert ids(client.get("/api/v1/charge-points/")) == {site_a.charge_point.pk, site_b.charge_point.pk}
    assert ids(client.get("/api/v1/charge-points/", {"organization": site_b.org.pk})) == {site_b.charge_point.pk}
    assert client.get(f"/api/v1/evses/{site_b.evse.pk}/").status_code == 200


def test_board_member_with_a_session_sees_only_their_organization(brf_a, site_a, site_b):
    client = APIClient()
    client.force_login(brf_a.board)
    assert ids(client.get("/api/v1/locations/")) == {site_a.location.pk}
    assert_error(client.get(f"/api/v1/charge-points/{site_b.charge_point.pk}/"), 404, "not_found")


def test_resident_with_a_session_sees_no_stations(brf_a, site_a):
    client = APIClient()
    client.force_login(brf_a.residents[0])
    assert ids(client.get("/api/v1/charge-points/")) == set()


# --- content and filters ---------------------------------------------------------------------------------------
def test_charge_point_shows_live_status_in_words_and_as_reported(site_a):
    ConnectorFactory(evse=EvseFactory(charge_point=site_a.charge_point, evse_id=2, status="Faulted"),
                     connector_id=1, status="Faulted", error_code="GroundFailure")
    body = client_for(site_a.raw_key).get(f"/api/v1/charge-points/{site_a.charge_point.pk}/").json()
    assert body["identity"] == site_a.charge_point.identity
    assert body["connected"] is True
    assert body["status_text"] == "1: Charging · 2: Faulted: GroundFailure"
    assert [(e["number"], e["ocpp_status"], e["status_text"]) for e in body["evses"]] == [
        (1, "Charging", "Charging"), (2, "Faulted", "Faulted: GroundFailure")]
    assert body["evses"][1]["connectors"][0]["error_code"] == "GroundFailure"


def test_offline_station_says_so(site_a):
    site_a.charge_point.is_connected = False
    site_a.charge_point.save(update_fields=["is_connected"])
    body = client_for(site_a.raw_key).get(f"/api/v1/charge-points/{site_a.charge_point.pk}/").json()
    assert body["status_text"] == "Offline"
    assert body["network_text"] == "Never connected"


def test_status_and_location_filters(site_a):
    other_location = LocationFactory(organization=site_a.org)
    idle = ChargePointFactory(organization=site_a.org, location=other_location, is_connected=True)
    ConnectorFactory(evse=EvseFactory(charge_point=idle, evse_id=1, status="Available"), status="Available")
    client = client_for(site_a.raw_key)
    assert ids(client.get("/api/v1/charge-points/", {"status": "Charging"})) == {site_a.charge_point.pk}
    assert ids(client.get("/api/v1/charge-points/", {"location": other_location.pk})) == {idle.pk}
    assert ids(client.get("/api/v1/evses/", {"status": "Available"})) == {idle.evses.get().pk}
    assert ids(client.get("/api/v1/evses/", {"location": site_a.location.pk})) == {site_a.evse.pk}


def test_list_is_paginated(site_a):
    for _ in range(3):
        ChargePointFactory(organization=site_a.org)
    body = client_for(site_a.raw_key).get("/api/v1/charge-points/", {"page_size": 2}).json()
    assert body["count"] == 4
    assert len(body["results"]) == 2
    assert body["next"]


# --- rate limit -------------------------------------------------------------------------------------------------
def test_rate_limit_answers_429_with_retry_after_per_key(settings, site_a, site_b):
    settings.CSMS_API_RATE = "3/min"
    client = client_for(site_a.raw_key)
    for _ in range(3):
        assert client.get("/api/v1/locations/").status_code == 200
    response = client.get("/api/v1/locations/")
    assert_error(response, 429, "throttled")
    assert 0 < int(response["Retry-After"]) <= 60
    assert response["Retry-After"] in response.json()["message"]
    # Another key has its own budget.
    assert client_for(site_b.raw_key).get("/api/v1/locations/").status_code == 200


# --- schema -----------------------------------------------------------------------------------------------------
def test_schema_renders_with_the_station_paths(db):
    response = APIClient().get("/api/v1/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    schema = response.json()
    assert schema["openapi"].startswith("3.")
    for path in ["/api/v1/locations/", "/api/v1/locations/{id}/", "/api/v1/charge-points/",
                 "/api/v1/charge-points/{id}/", "/api/v1/evses/", "/api/v1/evses/{id}/"]:
        assert path in schema["paths"], path
    assert not any(path.startswith("/ocpi") for path in schema["paths"])
    assert schema["components"]["securitySchemes"]["apiKey"]["scheme"] == "bearer"
    assert "401" in schema["paths"]["/api/v1/charge-points/"]["get"]["responses"]


def test_swagger_ui_renders(db):
    assert APIClient().get("/api/v1/docs/").status_code == 200


# --- error shape beyond authentication --------------------------------------------------------------------------
def test_session_writes_need_the_csrf_token(brf_a, site_a):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(brf_a.board)
    response = client.post("/api/v1/locations/", {"name": "x"}, format="json")
    assert_error(response, 403, "permission_denied")
    assert "CSRF" in response.json()["message"]


def test_read_only_resources_refuse_writes_in_the_error_shape(site_a):
    response = client_for(site_a.raw_key).delete(f"/api/v1/charge-points/{site_a.charge_point.pk}/")
    assert_error(response, 405, "method_not_allowed")


def test_unexpected_errors_answer_500_in_the_error_shape_without_details(caplog):
    response = api_exception_handler(RuntimeError("secret internals"), {"view": None})
    assert response.status_code == 500
    assert response.data["code"] == "server_error"
    assert "secret internals" not in response.data["message"]
    assert "secret internals" in caplog.text


def test_charge_point_list_costs_the_same_queries_however_many_rows(site_a):
    client = client_for(site_a.raw_key)

    def queries_for_list() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get("/api/v1/charge-points/").status_code == 200
        return len(captured)

    queries_for_list()  # the first request also records the key's last use
    few = queries_for_list()
    for number in range(5):
        ConnectorFactory(evse=EvseFactory(charge_point=ChargePointFactory(organization=site_a.org), evse_id=1),
                         connector_id=number % 2 + 1)
    assert queries_for_list() == few
