"""Connect API access endpoints: a charge point's mode and weekly schedule (with the schedule's own error messages),
an EVSE's own mode, bookings (create under the policy's rules, cancel, filters) and booking policies, charging keys
for guests (issue, revoke); tenant isolation of every list, detail and id in a body; the schema of these endpoints."""

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import AuditLogEntry, IdToken
from charging.models import Booking, BookingPolicy, ChargePoint, ChargingKey, Evse
from tests.api import test_auth_and_stations as stations_api
from tests.api.test_auth_and_stations import assert_error, client_for, ids
from tests.api.test_people import key_for

# The station tests' fixtures: two associations with a charging station each, and a private rate-limit cache.
_own_cache, brf_a, brf_b, site_a, site_b = (stations_api._own_cache, stations_api.brf_a, stations_api.brf_b,
                                            stations_api.site_a, stations_api.site_b)
WEEKDAYS = {"weekdays": [0, 1, 2, 3, 4], "start": "06:00", "end": "18:00", "mode": "private"}


@pytest.fixture
def api_a(brf_a):
    return client_for(key_for(brf_a.org))


@pytest.fixture
def policies(brf_a, brf_b):
    return BookingPolicy.objects.create(organization=brf_a.org), BookingPolicy.objects.create(organization=brf_b.org)


def hours(count: float):
    return timezone.now().replace(microsecond=0) + timedelta(hours=count)


def book(client, site, user, start=1, end=2, **extra):
    return client.post("/api/v1/bookings/", {"evse": site.evse.pk, "user": user.pk,
                                             "starts_at": hours(start).isoformat(),
                                             "ends_at": hours(end).isoformat(), **extra}, format="json")


# --- access mode and schedule -----------------------------------------------------------------------------------
def test_read_a_charge_points_access(api_a, site_a):
    body = api_a.get(f"/api/v1/charge-points/{site_a.charge_point.pk}/access/").json()
    assert body["mode"] == "private"
    assert body["schedule"] == []
    assert body["next_change"] is None
    assert body["current"] == {"mode": "private", "since": None}
    assert [(e["id"], e["mode"], e["current"]["mode"]) for e in body["evses"]] == [(site_a.evse.pk, "", "private")]
    assert body["evses"][0]["public_code"] == site_a.evse.public_code


def test_set_mode_schedule_and_groups(api_a, site_a, brf_a):
    response = api_a.put(f"/api/v1/charge-points/{site_a.charge_point.pk}/access/", {
        "mode": "public", "schedule": [WEEKDAYS], "allowed_groups": [brf_a.group.pk], "reason": "Board decision"},
        format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["mode"] == "public"
    assert body["allowed_groups"] == [brf_a.group.pk]
    assert body["schedule"][0]["description"] == "Monday, Tuesday, Wednesday, Thursday, Friday 06:00–18:00 private"
    assert body["next_change"] is not None
    assert body["current"]["mode"] == ("private" if body["next_change"]["mode"] == "public" else "public")
    charge_point = ChargePoint.objects.get(pk=site_a.charge_point.pk)
    assert charge_point.access_mode == "public"
    assert charge_point.access_schedule == [{**WEEKDAYS, "overnight": False}]
    entry = AuditLogEntry.objects.get(action="chargepoint.access_changed")
    assert "Board decision" in entry.reason


@pytest.mark.parametrize(("schedule", "message"), [
    ([WEEKDAYS, {**WEEKDAYS, "weekdays": [4], "start": "17:00", "end": "20:00"}], "overlaps rule 2"),
    ([{**WEEKDAYS, "start": "22:00", "end": "06:00"}], "Mark it as overnight"),
])
def test_schedule_rule_errors_are_400_with_the_schedules_message(api_a, site_a, schedule, message):
    response = api_a.put(f"/api/v1/charge-points/{site_a.charge_point.pk}/access/",
                         {"mode": "public", "schedule": schedule}, format="json")
    assert_error(response, 400, "invalid")
    assert any(message in text for text in response.json()["fields"]["schedule"]), response.json()
    assert ChargePoint.objects.get(pk=site_a.charge_point.pk).access_mode == "private"


@pytest.mark.parametrize(("body", "field"), [
    ({"mode": "open"}, "mode"),
    ({"mode": "public", "schedule": [{**WEEKDAYS, "start": "25:00"}]}, "schedule.0.start"),
    ({"mode": "public", "schedule": [{**WEEKDAYS, "weekdays": [7]}]}, "schedule.0.weekdays.0"),
    ({"mode": "public", "schedule": [{**WEEKDAYS, "weekdays": []}]}, "schedule.0.weekdays"),
])
def test_malformed_access_bodies_are_400(api_a, site_a, body, field):
    response = api_a.put(f"/api/v1/charge-points/{site_a.charge_point.pk}/access/", body, format="json")
    assert_error(response, 400, "invalid")
    assert field in response.json()["fields"], response.json()


def test_access_of_another_organizations_charge_point_is_404(api_a, site_a, site_b):
    url = f"/api/v1/charge-points/{site_b.charge_point.pk}/access/"
    assert_error(api_a.get(url), 404, "not_found")
    assert_error(api_a.put(url, {"mode": "public"}, format="json"), 404, "not_found")
    assert ChargePoint.objects.get(pk=site_b.charge_point.pk).access_mode == "private"
    assert_error(api_a.put(f"/api/v1/evses/{site_b.evse.pk}/access/", {"mode": "public"}, format="json"), 404,
                 "not_found")
    assert Evse.objects.get(pk=site_b.evse.pk).access_mode == ""


def test_another_organizations_group_cannot_be_allowed(api_a, site_a, brf_b):
    response = api_a.put(f"/api/v1/charge-points/{site_a.charge_point.pk}/access/",
                         {"mode": "public", "allowed_groups": [brf_b.group.pk]}, format="json")
    assert_error(response, 400, "invalid")
    assert "allowed_groups" in response.json()["fields"]
    charge_point = ChargePoint.objects.get(pk=site_a.charge_point.pk)
    assert charge_point.access_mode == "private"
    assert not charge_point.allowed_groups.exists()


def test_a_read_only_key_cannot_change_access(site_a):
    response = client_for(site_a.raw_key).put(f"/api/v1/charge-points/{site_a.charge_point.pk}/access/",
                                              {"mode": "public"}, format="json")
    assert_error(response, 403, "permission_denied")


def test_an_evse_gets_its_own_mode_and_follows_again(api_a, site_a):
    url = f"/api/v1/evses/{site_a.evse.pk}/access/"
    response = api_a.put(url, {"mode": "public", "reason": "Visitor parking"}, format="json")
    assert response.status_code == 200, response.content
    assert (response.json()["mode"], response.json()["current"]["mode"]) == ("public", "public")
    assert Evse.objects.get(pk=site_a.evse.pk).access_mode == "public"
    response = api_a.put(url, {"mode": ""}, format="json")
    assert (response.json()["mode"], response.json()["current"]["mode"]) == ("", "private")
    assert AuditLogEntry.objects.filter(action="evse.access_mode_changed").count() == 2
    assert_error(api_a.put(url, {"mode": "everyone"}, format="json"), 400, "invalid")


# --- bookings ---------------------------------------------------------------------------------------------------
def test_book_and_cancel(api_a, site_a, brf_a, policies):
    resident = brf_a.residents[0]
    response = book(api_a, site_a, resident, reason="By phone")
    assert response.status_code == 201, response.content
    booking = Booking.objects.get(pk=response.json()["id"])
    assert (booking.evse, booking.user, booking.status) == (site_a.evse, resident, Booking.Status.BOOKED)
    assert response.json()["charge_point"] == site_a.charge_point.pk
    assert_error(book(api_a, site_a, brf_a.residents[1]), 400, "invalid")  # the slot is taken
    assert_error(api_a.post(f"/api/v1/bookings/{booking.pk}/cancel/", {}, format="json"), 400, "invalid")
    response = api_a.post(f"/api/v1/bookings/{booking.pk}/cancel/", {"reason": "Plans changed"}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["booking"]["status"] == "cancelled"
    assert response.json()["reservation_released"] is None
    booking.refresh_from_db()
    assert booking.status == Booking.Status.CANCELLED
    assert "Plans changed" in booking.cancel_reason
    assert_error(api_a.post(f"/api/v1/bookings/{booking.pk}/cancel/", {"reason": "again"}, format="json"), 400,
                 "invalid")


@pytest.mark.parametrize(("start", "end", "field"), [
    (1, 6, "ends_at"),  # longer than the policy's four hours
    (-2, -1, "starts_at"),  # in the past
    (2, 1, "ends_at"),  # ends before it starts
    (24 * 20, 24 * 20 + 1, "starts_at"),  # beyond the fourteen days ahead
])
def test_the_policy_rules_are_400_naming_the_field(api_a, site_a, brf_a, policies, start, end, field):
    response = book(api_a, site_a, brf_a.residents[0], start, end)
    assert_error(response, 400, "invalid")
    assert field in response.json()["fields"], response.json()
    assert not Booking.objects.exists()


def test_without_a_policy_nothing_can_be_booked(api_a, site_a, brf_a):
    response = book(api_a, site_a, brf_a.residents[0])
    assert_error(response, 400, "invalid")
    assert "evse" in response.json()["fields"]


def test_bookings_cannot_name_another_organizations_evse_person_or_tag(api_a, site_a, site_b, brf_a, brf_b,
                                                                       policies):
    body = {"starts_at": hours(1).isoformat(), "ends_at": hours(2).isoformat()}
    cases = [({"evse": site_b.evse.pk, "user": brf_b.residents[0].pk}, "evse"),
             ({"evse": site_a.evse.pk, "user": brf_b.residents[0].pk}, "user"),
             ({"evse": site_a.evse.pk, "user": brf_a.residents[0].pk, "id_token": brf_b.tokens[0].pk}, "id_token")]
    for ids_in_body, field in cases:
        response = api_a.post("/api/v1/bookings/", {**body, **ids_in_body}, format="json")
        assert_error(response, 400, "invalid")
        assert field in response.json()["fields"], response.json()
    assert not Booking.objects.exists()


def test_bookings_are_tenant_scoped_and_filterable(api_a, site_a, site_b, brf_a, brf_b, policies):
    own = book(api_a, site_a, brf_a.residents[0]).json()["id"]
    api_b = client_for(key_for(brf_b.org))
    foreign = book(api_b, site_b, brf_b.residents[0]).json()["id"]
    assert ids(api_a.get("/api/v1/bookings/")) == {own}
    assert_error(api_a.get(f"/api/v1/bookings/{foreign}/"), 404, "not_found")
    assert_error(api_a.post(f"/api/v1/bookings/{foreign}/cancel/", {"reason": "x"}, format="json"), 404,
                 "not_found")
    assert Booking.objects.get(pk=foreign).status == Booking.Status.BOOKED
    assert ids(api_a.get("/api/v1/bookings/", {"status": "booked", "evse": site_a.evse.pk})) == {own}
    assert ids(api_a.get("/api/v1/bookings/", {"status": "cancelled"})) == set()
    assert ids(api_a.get("/api/v1/bookings/", {"period_start": hours(3).isoformat()})) == set()
    assert ids(api_a.get("/api/v1/bookings/", {"period_start": hours(1.5).isoformat(),
                                               "period_end": hours(1.6).isoformat()})) == {own}
    assert ids(api_a.get("/api/v1/bookings/", {"user": brf_b.residents[0].pk})) == set()
    assert_error(api_a.get("/api/v1/bookings/", {"status": "maybe"}), 400, "invalid")
    assert_error(api_a.get("/api/v1/bookings/", {"period_start": "soon"}), 400, "invalid")


def test_booking_policies_are_tenant_scoped(api_a, policies):
    own, foreign = policies
    assert ids(api_a.get("/api/v1/booking-policies/")) == {own.pk}
    assert api_a.get(f"/api/v1/booking-policies/{own.pk}/").json()["max_duration_minutes"] == 240
    assert_error(api_a.get(f"/api/v1/booking-policies/{foreign.pk}/"), 404, "not_found")


# --- charging keys ----------------------------------------------------------------------------------------------
def issue(client, **extra):
    return client.post("/api/v1/charging-keys/", {"guest_name": "Erik Guest", "valid_from": hours(0).isoformat(),
                                                  "valid_until": hours(48).isoformat(), **extra}, format="json")


def test_issue_and_revoke_a_charging_key(api_a, site_a, brf_a):
    response = issue(api_a, charge_points=[site_a.charge_point.pk], reason="Visiting 1102")
    assert response.status_code == 201, response.content
    body = response.json()
    key = ChargingKey.objects.get(pk=body["id"])
    assert (body["code"], body["status"], body["charge_points"]) == (key.id_token.uid, "active",
                                                                     [site_a.charge_point.pk])
    assert key.id_token.organization == brf_a.org
    assert key.id_token.type == IdToken.Type.KEY_CODE
    response = api_a.post(f"/api/v1/charging-keys/{key.pk}/revoke/", {"reason": "Left early"}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "blocked"
    key.id_token.refresh_from_db()
    assert key.id_token.status == IdToken.Status.BLOCKED


@pytest.mark.parametrize(("extra", "field"), [
    ({"valid_until": "2000-01-01T00:00:00+00:00"}, "valid_until"),
    ({"guest_name": "  "}, "guest_name"),
    ({"code": "a!"}, "code"),
])
def test_invalid_charging_keys_are_400(api_a, extra, field):
    response = issue(api_a, **extra)
    assert_error(response, 400, "invalid")
    assert field in response.json()["fields"], response.json()
    assert not ChargingKey.objects.exists()


def test_charging_keys_are_tenant_scoped(api_a, site_a, site_b, brf_b):
    response = issue(api_a, charge_points=[site_b.charge_point.pk])
    assert_error(response, 400, "invalid")
    assert "charge_points" in response.json()["fields"]
    assert_error(issue(api_a, organization=brf_b.org.pk), 400, "invalid")
    assert not ChargingKey.objects.exists()
    own = issue(api_a).json()["id"]
    foreign = issue(client_for(key_for(brf_b.org))).json()["id"]
    assert ids(api_a.get("/api/v1/charging-keys/")) == {own}
    assert_error(api_a.get(f"/api/v1/charging-keys/{foreign}/"), 404, "not_found")
    assert_error(api_a.post(f"/api/v1/charging-keys/{foreign}/revoke/", {"reason": "x"}, format="json"), 404,
                 "not_found")
    assert ChargingKey.objects.get(pk=foreign).id_token.status == IdToken.Status.ACTIVE


# --- input the schema allows -----------------------------------------------------------------------------------
HUGE = "9" * 30


@pytest.mark.parametrize("url", [
    f"/api/v1/bookings/?evse={HUGE}", "/api/v1/bookings/?period_start=0001-01-01T00:00:00%2B14:00",
    "/api/v1/bookings/?period_end=yesterday", f"/api/v1/charging-keys/?organization={HUGE}",
    f"/api/v1/booking-policies/?organization={HUGE}",
])
def test_out_of_range_filters_are_400(api_a, url):
    assert_error(api_a.get(url), 400, "invalid")


@pytest.mark.parametrize("url", [
    f"/api/v1/bookings/{HUGE}/", f"/api/v1/booking-policies/{HUGE}/", f"/api/v1/charging-keys/{HUGE}/",
    f"/api/v1/charge-points/{HUGE}/access/", f"/api/v1/evses/{HUGE}/access/", "/api/v1/charge-points/-1/access/",
    "/api/v1/evses/-1/access/", "/api/v1/bookings/-1/",
])
def test_out_of_range_ids_are_a_json_404(api_a, url):
    assert_error(api_a.get(url), 404, "not_found")


def test_a_booking_window_that_does_not_exist_in_utc_is_400(api_a, site_a, brf_a, policies):
    response = api_a.post("/api/v1/bookings/", {"evse": site_a.evse.pk, "user": brf_a.residents[0].pk,
                                                "starts_at": "0001-01-01T00:00:00+14:00",
                                                "ends_at": hours(1).isoformat()}, format="json")
    assert_error(response, 400, "invalid")
    assert "starts_at" in response.json()["fields"]


# --- schema -----------------------------------------------------------------------------------------------------
def test_the_schema_documents_the_access_endpoints(db):
    response = APIClient().get("/api/v1/schema/", {"format": "json"})
    assert response.status_code == 200
    paths = response.json()["paths"]
    for path in ["/api/v1/charge-points/{id}/access/", "/api/v1/evses/{id}/access/", "/api/v1/bookings/",
                 "/api/v1/bookings/{id}/cancel/", "/api/v1/booking-policies/", "/api/v1/charging-keys/",
                 "/api/v1/charging-keys/{id}/revoke/"]:
        assert path in paths, path
    assert {"get", "put"} <= set(paths["/api/v1/charge-points/{id}/access/"])
