"""Connect API sessions: the wire facts (transactionId, stop reason), live energy and cost of running sessions, the
final cost of priced ones, filters (bad values are 400s), meter samples, a fixed number of queries per page, and
tenant isolation of lists, details and samples."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from billing.models import SessionCost
from billing.services.tariffs import tariff_assign, tariff_create
from charging.models import ChargingSession, MeterSample
from tests.accounts.conftest import Tenant
from tests.accounts.factories import IdTokenFactory
from tests.api.test_auth_and_stations import Site, _own_cache, assert_error, client_for, ids  # noqa: F401 - a fixture
from tests.charging.factories import ChargingSessionFactory

D = Decimal
START = datetime(2026, 3, 4, 17, 0, tzinfo=UTC)


@pytest.fixture
def brf_a(db):
    return Tenant("BRF A")


@pytest.fixture
def site_a(brf_a):
    return Site(brf_a.org)


@pytest.fixture
def site_b(db):
    return Site(Tenant("BRF B").org)


def session(site, **values) -> ChargingSession:
    values.setdefault("started_at", START)
    return ChargingSessionFactory(charge_point=site.charge_point, evse=site.evse, **values)


def priced(session_row, amount="23.75", vat="4.75", currency="SEK") -> SessionCost:
    return SessionCost.objects.create(session=session_row, currency=currency, energy_wh=session_row.energy_wh,
                                      total_incl_vat=D(amount), total_vat=D(vat),
                                      total_excl_vat=D(amount) - D(vat), priced_at=START + timedelta(hours=3))


def reading(session_row, minutes, register_wh, **values) -> MeterSample:
    values.setdefault("unit", "Wh")
    return MeterSample.objects.create(
        charge_point=session_row.charge_point, evse=session_row.evse, session=session_row,
        timestamp=session_row.started_at + timedelta(minutes=minutes), value=D(register_wh), **values)


# --- content --------------------------------------------------------------------------------------------------
def test_a_priced_session_shows_the_wire_facts_and_its_final_cost(brf_a, site_a):
    site_a.charge_point.ocpp_version = "1.6"
    site_a.charge_point.save(update_fields=["ocpp_version"])
    row = session(site_a, transaction_id="1234567", stopped_at=START + timedelta(hours=2), meter_start_wh=1000,
                  meter_stop_wh=13_500, energy_wh=12_500, stop_reason="EVDisconnected", id_token_uid="04A23B1C",
                  user=brf_a.residents[0])
    priced(row)
    body = client_for(site_a.raw_key).get(f"/api/v1/sessions/{row.pk}/").json()
    assert body["id"] == row.pk
    assert body["transaction_id"] == "1234567"
    assert (body["charge_point"], body["evse"], body["connector"]) == (site_a.charge_point.pk, site_a.evse.pk, 1)
    assert body["status"] == "completed"
    assert body["started_at"] == "2026-03-04T18:00:00+01:00"
    assert body["stopped_at"] == "2026-03-04T20:00:00+01:00"
    assert body["energy_wh"] == 12_500
    assert body["stop_reason"] == "EVDisconnected"
    assert body["id_token_uid"] == "04A23B1C"
    assert body["user"] == brf_a.residents[0].pk
    assert body["auth_source"] == "charger"
    assert body["roaming_party"] == ""
    assert body["cost"] == {"amount": "23.75", "currency": "SEK", "vat_amount": "4.75", "final": True}


def test_a_stopped_session_not_priced_yet_has_no_cost(site_a):
    row = session(site_a, stopped_at=START + timedelta(hours=1), energy_wh=500, stop_reason="Local")
    body = client_for(site_a.raw_key).get(f"/api/v1/sessions/{row.pk}/").json()
    assert body["cost"] is None
    assert body["stop_reason"] == "Local"


def test_an_active_session_shows_energy_and_cost_so_far(site_a):
    tariff = tariff_create(organization=site_a.org, name="Laddning", currency="SEK", energy_price_ac=D("4.00"),
                           acting_user=None, reason="test", now=START - timedelta(days=90))
    tariff_assign(tariff=tariff, charge_point=site_a.charge_point, valid_from=START - timedelta(days=10),
                  acting_user=None, reason="test", now=START - timedelta(days=41))
    row = session(site_a, status=ChargingSession.Status.ACTIVE, meter_start_wh=100_000, transaction_id="77")
    reading(row, 0, 100_000)
    reading(row, 30, 102_000)
    reading(row, 15, 101_000)
    reading(row, 31, 999_999, measurand="Power.Active.Import", unit="W")
    reading(row, 32, 50_000, phase="L1")
    body = client_for(site_a.raw_key).get(f"/api/v1/sessions/{row.pk}/").json()
    assert body["status"] == "active"
    assert body["stopped_at"] is None
    assert body["energy_wh"] == 2000  # the latest whole-station register reading minus the meter start
    # 2 kWh at 4.00 incl. 25 % VAT, priced now with the readings so far.
    assert body["cost"] == {"amount": "8.00", "currency": "SEK", "vat_amount": "1.60", "final": False}


def test_an_active_session_without_a_tariff_has_a_null_cost_not_an_error(site_a):
    row = session(site_a, status=ChargingSession.Status.ACTIVE, meter_start_wh=5000)
    response = client_for(site_a.raw_key).get("/api/v1/sessions/")
    assert response.status_code == 200
    [body] = response.json()["results"]
    assert (body["id"], body["energy_wh"], body["cost"]) == (row.pk, 0, None)


def test_the_list_costs_the_same_queries_for_1_and_20_sessions(site_a):
    client = client_for(site_a.raw_key)
    priced(session(site_a, stopped_at=START + timedelta(hours=1), energy_wh=1000, transaction_id="0"))
    client.get("/api/v1/sessions/")  # warm up: last-used stamp and caches
    with CaptureQueriesContext(connection) as one:
        assert len(client.get("/api/v1/sessions/").json()["results"]) == 1
    for number in range(1, 20):
        started = START + timedelta(hours=number)
        row = session(site_a, started_at=started, stopped_at=started + timedelta(minutes=30),
                      energy_wh=1000 + number, transaction_id=str(number))
        if number % 2:
            priced(row)
    with CaptureQueriesContext(connection) as twenty:
        assert len(client.get("/api/v1/sessions/").json()["results"]) == 20
    assert len(twenty.captured_queries) == len(one.captured_queries)


# --- filters --------------------------------------------------------------------------------------------------
def test_period_status_station_and_token_filters(site_a):
    token = IdTokenFactory(organization=site_a.org, uid="04A23B1C")
    early = session(site_a, started_at=START, stopped_at=START + timedelta(hours=1), id_token=token,
                    id_token_uid="04A23B1C")
    late = session(site_a, started_at=START + timedelta(days=1), status=ChargingSession.Status.ACTIVE,
                   id_token_uid="AABBCCDD")
    client = client_for(site_a.raw_key)
    assert ids(client.get("/api/v1/sessions/", {"started_from": "2026-03-05T00:00:00+01:00"})) == {late.pk}
    assert ids(client.get("/api/v1/sessions/", {"started_to": "2026-03-05T00:00:00Z"})) == {early.pk}
    assert ids(client.get("/api/v1/sessions/", {"status": "active"})) == {late.pk}
    assert ids(client.get("/api/v1/sessions/", {"status": "completed"})) == {early.pk}
    assert ids(client.get("/api/v1/sessions/", {"id_token": "04:a2:3b:1c"})) == {early.pk}
    assert ids(client.get("/api/v1/sessions/", {"id_token": "aa bb cc dd"})) == {late.pk}
    assert ids(client.get("/api/v1/sessions/", {"id_token": str(token.pk)})) == {early.pk}
    assert ids(client.get("/api/v1/sessions/", {"charge_point": site_a.charge_point.pk})) == {early.pk, late.pk}
    assert ids(client.get("/api/v1/sessions/", {"location": site_a.location.pk})) == {early.pk, late.pk}
    assert ids(client.get("/api/v1/sessions/", {"evse": site_a.evse.pk + 1000})) == set()


@pytest.mark.parametrize(("params", "field"), [
    ({"started_from": "yesterday"}, "started_from"),
    ({"started_from": "2026-03-05T00:00:00"}, "started_from"),  # no offset: refused, not guessed
    ({"started_to": "2026-13-01T00:00:00Z"}, "started_to"),
    ({"status": "charging"}, "status"),
    ({"charge_point": "99999999999999999999999"}, "charge_point"),
    ({"user": "-1"}, "user"),
    ({"evse": "abc"}, "evse"),
])
def test_bad_filter_values_are_400_with_field_errors(site_a, params, field):
    response = client_for(site_a.raw_key).get("/api/v1/sessions/", params)
    assert_error(response, 400, "invalid")
    assert field in response.json()["fields"]


@pytest.mark.parametrize("path", ["99999999999999999999999", "0"])
def test_ids_the_database_cannot_hold_are_404(site_a, path):
    assert_error(client_for(site_a.raw_key).get(f"/api/v1/sessions/{path}/"), 404, "not_found")


# --- meter samples --------------------------------------------------------------------------------------------
def test_meter_samples_in_time_order_as_stored(site_a):
    row = session(site_a, status=ChargingSession.Status.ACTIVE, meter_start_wh=1000)
    reading(row, 10, 3000)
    reading(row, 5, 2000)
    reading(row, 7, "7360.5", measurand="Power.Active.Import", unit="W", phase="L1")
    other = session(site_a, started_at=START + timedelta(days=1))
    reading(other, 1, 1)
    response = client_for(site_a.raw_key).get(f"/api/v1/sessions/{row.pk}/meter-samples/", {"page_size": 2})
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 3
    assert [(s["measurand"], s["phase"], s["unit"], s["value"]) for s in body["results"]] == [
        ("Energy.Active.Import.Register", "", "Wh", "2000.0000"),
        ("Power.Active.Import", "L1", "W", "7360.5000")]
    assert body["results"][0]["timestamp"] == "2026-03-04T18:05:00+01:00"
    rest = client_for(site_a.raw_key).get(body["next"]).json()["results"]
    assert [s["value"] for s in rest] == ["3000.0000"]


# --- tenant isolation -----------------------------------------------------------------------------------------
def test_a_key_never_sees_another_organizations_sessions_or_samples(site_a, site_b):
    own = session(site_a, transaction_id="1")
    foreign = session(site_b, transaction_id="1", status=ChargingSession.Status.ACTIVE)
    reading(foreign, 1, 5)
    client = client_for(site_a.raw_key)
    assert ids(client.get("/api/v1/sessions/")) == {own.pk}
    assert ids(client.get("/api/v1/sessions/", {"charge_point": site_b.charge_point.pk})) == set()
    assert ids(client.get("/api/v1/sessions/", {"id_token": str(foreign.pk)})) == set()
    assert client.get(f"/api/v1/sessions/{own.pk}/").status_code == 200
    assert_error(client.get(f"/api/v1/sessions/{foreign.pk}/"), 404, "not_found")
    assert_error(client.get(f"/api/v1/sessions/{foreign.pk}/meter-samples/"), 404, "not_found")
    assert ids(client_for(site_b.raw_key).get("/api/v1/sessions/")) == {foreign.pk}


def test_a_board_member_signed_in_sees_only_their_sessions(brf_a, site_a, site_b):
    from rest_framework.test import APIClient

    own, foreign = session(site_a), session(site_b)
    client = APIClient()
    client.force_login(brf_a.board)
    assert ids(client.get("/api/v1/sessions/")) == {own.pk}
    assert_error(client.get(f"/api/v1/sessions/{foreign.pk}/"), 404, "not_found")


def test_the_schema_documents_the_session_endpoints(site_a):
    paths = client_for(None).get("/api/v1/schema/?format=json").json()["paths"]
    assert {"/api/v1/sessions/", "/api/v1/sessions/{id}/", "/api/v1/sessions/{id}/meter-samples/"} <= set(paths)
    parameters = {p["name"] for p in paths["/api/v1/sessions/"]["get"]["parameters"]}
    assert {"started_from", "started_to", "charge_point", "location", "evse", "user", "id_token",
            "status"} <= parameters
