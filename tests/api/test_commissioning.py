"""Connect API charge point commissioning: create with EVSEs, EVSE-IDs and connectors and an AuthorizationKey shown
once (only its hash stored, and it works for the charger's Basic auth), update of name, site, access mode and
EVSE-IDs (audited with the reason), permissions, and another organization's ids refused without writing."""

import pytest
from rest_framework.test import APIClient

from accounts.models import AuditLogEntry, Membership
from accounts.services.api_keys import api_key_create
from charging.models import ChargePoint, Evse
from charging.services.stations import check_auth_key
from tests.accounts.factories import MembershipFactory, OperatorFactory
from tests.api import test_auth_and_stations as stations_api
from tests.api.test_auth_and_stations import assert_error, client_for
from tests.charging.factories import LocationFactory

_own_cache, brf_a, brf_b = stations_api._own_cache, stations_api.brf_a, stations_api.brf_b
site_a, site_b = stations_api.site_a, stations_api.site_b

BODY = {"identity": "BRF-GARAGE-01", "display_name": "Laddplats 01", "access_mode": "private",
        "ocpp_version": "1.6", "serial_number": "SN-1",
        "evses": [{"evse_id": "SE*ABC*E0001", "connectors": ["Type2"]},
                  {"evse_id": "se*abc*e0002", "connectors": ["CCS2", "CHAdeMO"], "max_power_w": 50000}],
        "reason": "New garage"}


def write_key(org, scopes=("read", "write")) -> str:
    return api_key_create(organization=org, name="provisioning", scopes=list(scopes), acting_user=None,
                          reason="test").raw_key


@pytest.fixture
def writer_a(site_a):
    return client_for(write_key(site_a.org))


def test_commission_creates_the_station_and_shows_the_key_once(site_a, writer_a):
    response = writer_a.post("/api/v1/charge-points/", {**BODY, "location": site_a.location.pk}, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    key = body["authorization_key"]
    assert len(key) >= 24
    station = ChargePoint.objects.get(identity="BRF-GARAGE-01")
    assert (body["id"], body["organization"], body["location"], body["ocpp_version"]) == (
        station.pk, site_a.org.pk, site_a.location.pk, "1.6")
    assert key not in station.auth_key_hash
    assert check_auth_key(station, key)
    assert not check_auth_key(station, key + "x")
    assert [(e["number"], e["evse_id"], e["current_type"], [c["standard"] for c in e["connectors"]])
            for e in body["evses"]] == [(1, "SE*ABC*E0001", "AC", ["Type2"]),
                                        (2, "SE*ABC*E0002", "DC", ["CCS2", "CHAdeMO"])]
    detail = writer_a.get(f"/api/v1/charge-points/{station.pk}/").json()
    assert "authorization_key" not in detail
    entry = AuditLogEntry.objects.get(action="chargepoint.registered")
    assert "New garage" in entry.reason


@pytest.mark.parametrize(("change", "field"), [
    ({"identity": "has space"}, "identity"),
    ({"identity": "CP-1"}, "identity"),  # taken below
    ({"evses": []}, "evses"),
    ({"evses": [{"evse_id": "nonsense", "connectors": ["Type2"]}]}, "evses"),
    ({"evses": [{"evse_id": "SE*ABC*E0009", "connectors": []}]}, "evses"),
    ({"evses": [{"connectors": ["Tesla"]}]}, "evses.0.connectors.0"),
    ({"access_mode": "sometimes"}, "access_mode"),
], ids=["identity", "taken", "no-evses", "bad-evse-id", "no-connector", "bad-standard", "mode"])
def test_invalid_commissioning_is_a_400_without_writing(site_a, writer_a, change, field):
    ChargePoint.objects.filter(pk=site_a.charge_point.pk).update(identity="CP-1")
    before = ChargePoint.objects.count()
    response = writer_a.post("/api/v1/charge-points/", {**BODY, **change}, format="json")
    assert_error(response, 400, "invalid")
    assert any(key.startswith(field) for key in response.json()["fields"]), response.json()
    assert ChargePoint.objects.count() == before


def test_a_taken_evse_id_is_refused(site_a, writer_a):
    Evse.objects.filter(pk=site_a.evse.pk).update(public_id="SE*ABC*E0001")
    response = writer_a.post("/api/v1/charge-points/", BODY, format="json")
    assert_error(response, 400, "invalid")
    assert not ChargePoint.objects.filter(identity=BODY["identity"]).exists()


def test_another_organizations_location_or_organization_is_refused_without_writing(site_a, site_b, writer_a):
    before = ChargePoint.objects.count()
    response = writer_a.post("/api/v1/charge-points/", {**BODY, "location": site_b.location.pk}, format="json")
    assert_error(response, 400, "invalid")
    assert "location" in response.json()["fields"]
    response = writer_a.post("/api/v1/charge-points/", {**BODY, "organization": site_b.org.pk}, format="json")
    assert_error(response, 400, "invalid")
    assert "organization" in response.json()["fields"]
    assert ChargePoint.objects.count() == before
    assert not AuditLogEntry.objects.filter(action="chargepoint.registered").exists()


def test_the_operator_commissions_for_any_organization(site_b):
    operator = client_for(write_key(OperatorFactory()))
    response = operator.post("/api/v1/charge-points/", {**BODY, "organization": site_b.org.pk,
                                                        "location": site_b.location.pk}, format="json")
    assert response.status_code == 201, response.content
    assert ChargePoint.objects.get(identity=BODY["identity"]).organization == site_b.org


def test_commissioning_needs_the_write_scope_and_the_admin_role(brf_a, site_a):
    assert_error(client_for(site_a.raw_key).post("/api/v1/charge-points/", BODY, format="json"), 403,
                 "permission_denied")
    viewer = MembershipFactory(organization=brf_a.org, role=Membership.Role.ORG_VIEWER).user
    client = APIClient()
    client.force_login(viewer)
    response = client.post("/api/v1/charge-points/", {**BODY, "organization": brf_a.org.pk}, format="json")
    assert_error(response, 403, "permission_denied")
    client.force_login(brf_a.board)
    response = client.post("/api/v1/charge-points/", {**BODY, "organization": brf_a.org.pk}, format="json")
    assert response.status_code == 201, response.content
    assert AuditLogEntry.objects.get(action="chargepoint.registered").actor == brf_a.board


# --- update ---------------------------------------------------------------------------------------------------------
def test_update_changes_name_location_mode_and_evse_ids_audited(site_a, writer_a):
    other_location = LocationFactory(organization=site_a.org)
    station = site_a.charge_point
    response = writer_a.patch(f"/api/v1/charge-points/{station.pk}/", {
        "display_name": "Laddplats 09", "location": other_location.pk, "access_mode": "public",
        "evses": [{"number": 1, "evse_id": "SE*ABC*E0042"}], "reason": "Signs replaced"}, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["display_name"], body["location"], body["access_mode"], body["evses"][0]["evse_id"]) == (
        "Laddplats 09", other_location.pk, "public", "SE*ABC*E0042")
    entry = AuditLogEntry.objects.get(action="chargepoint.details_changed")
    assert "Signs replaced" in entry.reason
    assert {"display_name", "location", "evse_id.1"} <= set(entry.changes)
    assert AuditLogEntry.objects.filter(action="chargepoint.access_changed").exists()
    # Blank removes the EVSE-ID.
    writer_a.patch(f"/api/v1/charge-points/{station.pk}/", {"evses": [{"number": 1, "evse_id": ""}]}, format="json")
    assert Evse.objects.get(pk=site_a.evse.pk).public_id == ""


def test_update_with_a_foreign_location_or_unknown_evse_writes_nothing(site_a, site_b, writer_a):
    station = site_a.charge_point
    for body, field in [({"display_name": "X", "location": site_b.location.pk}, "location"),
                        ({"display_name": "X", "evses": [{"number": 5, "evse_id": "SE*ABC*E0005"}]}, "evses"),
                        ({"display_name": "X", "evses": [{"number": 1, "evse_id": "bad"}]}, "evses")]:
        response = writer_a.patch(f"/api/v1/charge-points/{station.pk}/", body, format="json")
        assert_error(response, 400, "invalid")
        assert field in response.json()["fields"]
    station.refresh_from_db()
    assert station.display_name != "X"
    assert not AuditLogEntry.objects.filter(action="chargepoint.details_changed").exists()


def test_another_organizations_station_cannot_be_updated(site_a, site_b, writer_a):
    response = writer_a.patch(f"/api/v1/charge-points/{site_b.charge_point.pk}/", {"display_name": "Mine"},
                              format="json")
    assert_error(response, 404, "not_found")
    site_b.charge_point.refresh_from_db()
    assert site_b.charge_point.display_name != "Mine"


def test_put_and_delete_stay_unsupported(site_a, writer_a):
    assert_error(writer_a.put(f"/api/v1/charge-points/{site_a.charge_point.pk}/", {}, format="json"), 405,
                 "method_not_allowed")
    assert_error(writer_a.delete(f"/api/v1/charge-points/{site_a.charge_point.pk}/"), 405, "method_not_allowed")
