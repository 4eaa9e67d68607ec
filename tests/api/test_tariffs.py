"""Connect API tariffs, tariff assignments and the price preview: reading is tenant-scoped; creating, changing,
assigning and ending go through billing.services.tariffs (the 7 %/30-day notice rule answers 400 with its message),
need the write scope or the organization-admin role, and never reach another organization's rows."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import AuditLogEntry, Membership
from accounts.services.api_keys import api_key_create
from billing.models import Tariff, TariffAssignment
from billing.services.tariffs import tariff_assign, tariff_create
from tests.accounts.factories import MembershipFactory, UserFactory
from tests.api import test_auth_and_stations as stations_api
from tests.api.test_auth_and_stations import Site, assert_error, client_for, ids

pytestmark = pytest.mark.django_db

# The station tests' fixtures: two associations with a charging station each, and a private rate-limit cache.
_own_cache, brf_a, brf_b, site_a, site_b = (stations_api._own_cache, stations_api.brf_a, stations_api.brf_b,
                                            stations_api.site_a, stations_api.site_b)

D = Decimal


def key(organization, scopes=("read", "write")) -> str:
    return api_key_create(organization=organization, name="pricing", scopes=list(scopes), acting_user=None,
                          reason="test").raw_key


def priced(site: Site, price: str = "2.50", *, name: str = "Boende") -> tuple[Tariff, TariffAssignment]:
    """A tariff of the site's organization in force at its charge point since an hour ago."""
    now = timezone.now()
    tariff = tariff_create(organization=site.org, name=name, currency="SEK", energy_price_ac=D(price),
                           energy_price_dc=D(price), acting_user=None, reason="test", now=now - timedelta(hours=2))
    assignment = tariff_assign(tariff=tariff, charge_point=site.charge_point, valid_from=now - timedelta(minutes=1),
                               acting_user=None, reason="test", now=now)
    return tariff, assignment


@pytest.fixture
def priced_a(site_a):
    return priced(site_a)


@pytest.fixture
def priced_b(site_b):
    return priced(site_b)


# --- reading ---------------------------------------------------------------------------------------------------------
def test_tariffs_and_assignments_are_tenant_scoped(site_a, priced_a, priced_b):
    (tariff_a, assignment_a), (tariff_b, assignment_b) = priced_a, priced_b
    client = client_for(site_a.raw_key)
    assert ids(client.get("/api/v1/tariffs/")) == {tariff_a.pk}
    assert ids(client.get("/api/v1/tariff-assignments/")) == {assignment_a.pk}
    assert_error(client.get(f"/api/v1/tariffs/{tariff_b.pk}/"), 404, "not_found")
    assert_error(client.get(f"/api/v1/tariff-assignments/{assignment_b.pk}/"), 404, "not_found")
    assert ids(client.get("/api/v1/tariff-assignments/", {"tariff": tariff_b.pk})) == set()
    assert ids(client.get("/api/v1/tariffs/", {"organization": tariff_b.organization_id})) == set()


def test_tariff_and_assignment_content(site_a, priced_a):
    tariff, assignment = priced_a
    client = client_for(site_a.raw_key)
    body = client.get(f"/api/v1/tariffs/{tariff.pk}/").json()
    assert (body["name"], body["currency"], body["energy_price_ac"], body["session_fee"], body["vat_rate"]) == (
        "Boende", "SEK", "2.50000", "0.00", "25.00")
    body = client.get(f"/api/v1/tariff-assignments/{assignment.pk}/").json()
    assert (body["tariff"], body["charge_point"], body["state"], body["ends_at"], body["level"]) == (
        tariff.pk, site_a.charge_point.pk, "in_force", None, TariffAssignment.Level.STATION)


def test_bad_filters_are_400(site_a):
    client = client_for(site_a.raw_key)
    for path, query in (("tariffs", {"is_active": "maybe"}), ("tariffs", {"currency": "XXX"}),
                        ("tariff-assignments", {"level": "99"}), ("tariff-assignments", {"evse": str(10**30)})):
        assert_error(client.get(f"/api/v1/{path}/", query), 400, "invalid")


# --- writing tariffs -------------------------------------------------------------------------------------------------
def test_create_a_tariff_with_the_write_scope(site_a):
    response = client_for(key(site_a.org)).post("/api/v1/tariffs/", {
        "name": "Gäst", "currency": "SEK", "energy_price_ac": "3.25", "session_fee": "5.00",
        "reason": "Guest price"}, format="json")
    assert response.status_code == 201, response.content
    tariff = Tariff.objects.get(pk=response.json()["id"])
    assert (tariff.organization, tariff.energy_price_ac, tariff.session_fee) == (site_a.org, D("3.25"), D("5.00"))
    entry = AuditLogEntry.objects.get(action="tariff.created")
    assert "Guest price" in entry.reason
    assert "Connect API key" in entry.reason


def test_a_read_only_key_cannot_write(site_a, priced_a):
    tariff, assignment = priced_a
    client = client_for(site_a.raw_key)
    assert_error(client.post("/api/v1/tariffs/", {"name": "x"}, format="json"), 403, "permission_denied")
    assert_error(client.patch(f"/api/v1/tariffs/{tariff.pk}/", {"name": "x"}, format="json"), 403,
                 "permission_denied")
    assert_error(client.post(f"/api/v1/tariff-assignments/{assignment.pk}/end/", {}, format="json"), 403,
                 "permission_denied")
    assert Tariff.objects.count() == 1


def test_create_for_another_organization_is_404_and_writes_nothing(site_a, site_b):
    response = client_for(key(site_a.org)).post("/api/v1/tariffs/", {"name": "x", "organization": site_b.org.pk},
                                                 format="json")
    assert_error(response, 404, "not_found")
    assert not Tariff.objects.exists()


def test_invalid_tariff_is_400_with_fields(site_a):
    client = client_for(key(site_a.org))
    response = client.post("/api/v1/tariffs/", {"name": "", "energy_price_ac": "-1", "vat_rate": "100"},
                           format="json")
    assert_error(response, 400, "invalid")
    assert {"name", "energy_price_ac", "vat_rate"} <= set(response.json()["fields"])
    response = client.post("/api/v1/tariffs/", {"name": "Floor", "dynamic": False, "price_floor": "3",
                                                "price_cap": "2"}, format="json")
    assert_error(response, 400, "invalid")
    assert "price_floor" in response.json()["fields"]
    assert not Tariff.objects.exists()


def test_price_increase_beyond_7_percent_is_400_with_the_services_message(site_a, priced_a):
    tariff, _assignment = priced_a
    client = client_for(key(site_a.org))
    response = client.patch(f"/api/v1/tariffs/{tariff.pk}/", {"energy_price_ac": "3.00", "reason": "Dearer"},
                            format="json")
    assert_error(response, 400, "invalid")
    message = " ".join(response.json()["fields"]["non_field_errors"])
    assert "7" in message
    assert "30" in message
    tariff.refresh_from_db()
    assert tariff.energy_price_ac == D("2.50")
    response = client.patch(f"/api/v1/tariffs/{tariff.pk}/", {"energy_price_ac": "2.60", "reason": "A little"},
                            format="json")
    assert response.status_code == 200, response.content
    assert response.json()["energy_price_ac"] == "2.60000"


def test_currency_cannot_change(site_a, priced_a):
    tariff, _assignment = priced_a
    response = client_for(key(site_a.org)).patch(f"/api/v1/tariffs/{tariff.pk}/", {"currency": "EUR"},
                                                 format="json")
    assert_error(response, 400, "invalid")
    assert "currency" in response.json()["fields"]


def test_patch_of_another_organizations_tariff_is_404(site_a, priced_b):
    tariff, _assignment = priced_b
    response = client_for(key(site_a.org)).patch(f"/api/v1/tariffs/{tariff.pk}/", {"name": "Mine"}, format="json")
    assert_error(response, 404, "not_found")
    tariff.refresh_from_db()
    assert tariff.name == "Boende"


def test_put_is_not_offered(site_a, priced_a):
    tariff, _assignment = priced_a
    assert_error(client_for(key(site_a.org)).put(f"/api/v1/tariffs/{tariff.pk}/", {}, format="json"), 405,
                 "method_not_allowed")


def test_board_admin_writes_and_viewer_only_reads_through_the_session(brf_a, site_a, priced_a):
    tariff, _assignment = priced_a
    admin = APIClient()
    admin.force_login(brf_a.board)
    response = admin.patch(f"/api/v1/tariffs/{tariff.pk}/", {"name": "Boende 2026"}, format="json")
    assert response.status_code == 200, response.content
    viewer = MembershipFactory(organization=brf_a.org, role=Membership.Role.ORG_VIEWER, user=UserFactory()).user
    client = APIClient()
    client.force_login(viewer)
    assert ids(client.get("/api/v1/tariffs/")) == {tariff.pk}
    assert_error(client.patch(f"/api/v1/tariffs/{tariff.pk}/", {"name": "x"}, format="json"), 403,
                 "permission_denied")
    resident = APIClient()
    resident.force_login(brf_a.residents[0])
    assert ids(resident.get("/api/v1/tariffs/")) == set()


# --- assignments -----------------------------------------------------------------------------------------------------
def test_assign_a_tariff_and_end_it(site_a, priced_a):
    client = client_for(key(site_a.org))
    cheaper = tariff_create(organization=site_a.org, name="Natt", currency="SEK", energy_price_ac=D("1.00"),
                            acting_user=None, reason="test")
    start = timezone.now() + timedelta(days=1)
    response = client.post("/api/v1/tariff-assignments/", {
        "tariff": cheaper.pk, "evse": site_a.evse.pk, "valid_from": start.isoformat(), "reason": "Night"},
        format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["evse"], body["charge_point"], body["state"]) == (site_a.evse.pk, site_a.charge_point.pk,
                                                                   "scheduled")
    end = start + timedelta(days=2)
    response = client.post(f"/api/v1/tariff-assignments/{body['id']}/end/",
                           {"at": end.isoformat(), "reason": "Trial over"}, format="json")
    assert response.status_code == 200, response.content
    assert TariffAssignment.objects.get(pk=body["id"]).valid_until == end
    assert AuditLogEntry.objects.filter(action="tariffassignment.ended").count() == 1


def test_a_dearer_assignment_without_notice_is_400(site_a, priced_a):
    dearer = tariff_create(organization=site_a.org, name="Dyr", currency="SEK", energy_price_ac=D("4.00"),
                           energy_price_dc=D("4.00"), acting_user=None, reason="test")
    response = client_for(key(site_a.org)).post("/api/v1/tariff-assignments/", {
        "tariff": dearer.pk, "charge_point": site_a.charge_point.pk,
        "valid_from": (timezone.now() + timedelta(days=2)).isoformat()}, format="json")
    assert_error(response, 400, "invalid")
    assert "valid_from" in response.json()["fields"]
    assert TariffAssignment.objects.count() == 1


@pytest.mark.parametrize("field", ["tariff", "charge_point", "evse", "location", "user_group", "organization"])
def test_assignment_with_a_foreign_id_is_404_and_writes_nothing(site_a, site_b, brf_b, priced_a, priced_b, field):
    own_tariff, _assignment = priced_a
    foreign = {"tariff": priced_b[0].pk, "charge_point": site_b.charge_point.pk, "evse": site_b.evse.pk,
               "location": site_b.location.pk, "user_group": brf_b.group.pk, "organization": site_b.org.pk}[field]
    body = {"tariff": own_tariff.pk, "valid_from": (timezone.now() + timedelta(days=40)).isoformat(), field: foreign}
    assert_error(client_for(key(site_a.org)).post("/api/v1/tariff-assignments/", body, format="json"), 404,
                 "not_found")
    assert TariffAssignment.objects.count() == 2


def test_ending_another_organizations_assignment_is_404(site_a, priced_b):
    _tariff, assignment = priced_b
    response = client_for(key(site_a.org)).post(f"/api/v1/tariff-assignments/{assignment.pk}/end/", {},
                                                format="json")
    assert_error(response, 404, "not_found")
    assert TariffAssignment.objects.get(pk=assignment.pk).valid_until is None


def test_ending_in_the_past_is_400(site_a, priced_a):
    _tariff, assignment = priced_a
    response = client_for(key(site_a.org)).post(f"/api/v1/tariff-assignments/{assignment.pk}/end/", {
        "at": (timezone.now() - timedelta(days=3)).isoformat()}, format="json")
    assert_error(response, 400, "invalid")
    assert "valid_until" in response.json()["fields"]


# --- price preview ---------------------------------------------------------------------------------------------------
def test_price_preview_prices_a_sample_session(site_a, priced_a):
    tariff, assignment = priced_a
    start = timezone.now().replace(microsecond=0)
    response = client_for(site_a.raw_key).get("/api/v1/price-preview/", {
        "evse": site_a.evse.pk, "energy_wh": 12_000, "minutes": 90, "start": start.isoformat()})
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["tariff"], body["assignment"], body["currency"], body["energy_wh"]) == (
        tariff.pk, assignment.pk, "SEK", 12_000)
    assert [(line["kind"], line["quantity"], line["amount_incl_vat"]) for line in body["lines"]] == [
        ("energy", "12.000", "30.00")]
    assert (body["total_incl_vat"], body["total_vat"], body["total_excl_vat"]) == ("30.00", "6.00", "24.00")


def test_price_preview_uses_the_drivers_group_price(brf_a, site_a, priced_a):
    group_price = tariff_create(organization=site_a.org, name="Styrelse", currency="SEK", energy_price_ac=D("1.00"),
                                energy_price_dc=D("1.00"), acting_user=None, reason="test")
    tariff_assign(tariff=group_price, user_group=brf_a.group, valid_from=timezone.now(), acting_user=None,
                  reason="test", now=timezone.now())
    driver = brf_a.residents[0]
    brf_a.group.members.add(driver)
    client = client_for(site_a.raw_key)
    with_group = client.get("/api/v1/price-preview/", {"evse": site_a.evse.pk, "user": driver.pk}).json()
    without = client.get("/api/v1/price-preview/", {"evse": site_a.evse.pk}).json()
    assert (with_group["tariff"], with_group["total_incl_vat"]) == (group_price.pk, "10.00")
    assert without["total_incl_vat"] == "25.00"


def test_price_preview_tenancy_and_bad_input(site_a, site_b, brf_b, priced_a, priced_b):
    client = client_for(site_a.raw_key)
    assert_error(client.get("/api/v1/price-preview/", {"evse": site_b.evse.pk}), 404, "not_found")
    assert_error(client.get("/api/v1/price-preview/", {"evse": site_a.evse.pk, "user": brf_b.residents[0].pk}),
                 404, "not_found")
    for query in ({}, {"evse": "x"}, {"evse": site_a.evse.pk, "minutes": 0},
                  {"evse": site_a.evse.pk, "energy_wh": -1}, {"evse": site_a.evse.pk, "start": "soon"},
                  {"evse": str(10**30)}, {"evse": site_a.evse.pk, "start": "0001-01-01T00:00:00+01:00"},
                  {"evse": site_a.evse.pk, "start": "9999-12-31T23:59:00+00:00"}):
        assert_error(client.get("/api/v1/price-preview/", query), 400, "invalid")


def test_price_preview_without_a_tariff_is_400(site_a):
    response = client_for(site_a.raw_key).get("/api/v1/price-preview/", {"evse": site_a.evse.pk})
    assert_error(response, 400, "invalid")
    assert "evse" in response.json()["fields"]


def test_schema_has_the_tariff_paths(db):
    response = APIClient().get("/api/v1/schema/", {"format": "json"})
    assert response.status_code == 200
    paths = response.json()["paths"]
    assert set(paths["/api/v1/tariffs/"]) >= {"get", "post"}
    assert set(paths["/api/v1/tariffs/{id}/"]) >= {"get", "patch"}
    assert "put" not in paths["/api/v1/tariffs/{id}/"]
    assert "post" in paths["/api/v1/tariff-assignments/{id}/end/"]
    assert {parameter["name"] for parameter in paths["/api/v1/price-preview/"]["get"]["parameters"]} == {
        "evse", "user", "energy_wh", "minutes", "start"}
