"""Connect API building meter readings: posted through loadbalancing.services.grid_reading_record with the write
scope (the tree recomputed after the commit), listed and filtered per organization; another organization's power
group is a 404 and nothing is stored; bad currents and times are 400s."""

from datetime import timedelta
from decimal import Decimal
from unittest import mock

import pytest
from django.utils import timezone

from accounts.services.api_keys import api_key_create
from loadbalancing.models import GridMeterReading, PowerGroup
from tests.api import test_auth_and_stations as stations_api
from tests.api.test_auth_and_stations import assert_error, client_for, ids

pytestmark = pytest.mark.django_db

# The station tests' fixtures: two associations, and a private rate-limit cache.
_own_cache, brf_a, brf_b = stations_api._own_cache, stations_api.brf_a, stations_api.brf_b

D = Decimal


def key(organization, scopes=("read", "write")) -> str:
    return api_key_create(organization=organization, name="han-gateway", scopes=list(scopes), acting_user=None,
                          reason="test").raw_key


def fuse(organization, name="Huvudsäkring") -> PowerGroup:
    return PowerGroup.objects.create(organization=organization, name=name, limit_l1=D(25), limit_l2=D(25),
                                     limit_l3=D(25))


@pytest.fixture
def groups(brf_a, brf_b):
    return fuse(brf_a.org), fuse(brf_b.org)


@pytest.fixture
def recompute():
    with mock.patch("loadbalancing.tasks.recompute_tree_task.delay") as delay:
        yield delay


def test_post_a_reading_stores_it_and_recomputes_the_tree(brf_a, groups, recompute, django_capture_on_commit_callbacks):
    group_a, _group_b = groups
    child = PowerGroup.objects.create(organization=brf_a.org, parent=group_a, name="Garage", limit_l1=D(16),
                                      limit_l2=D(16), limit_l3=D(16))
    measured = (timezone.now() - timedelta(seconds=5)).replace(microsecond=0)
    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(key(brf_a.org)).post("/api/v1/grid-meter-readings/", {
            "group": child.pk, "measured_at": measured.isoformat(), "l1": "21.4", "l2": "12", "l3": "9.8",
            "source": "han"}, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["group"], body["l1"], body["l2"], body["l3"], body["source"]) == (child.pk, "21.4", "12.0", "9.8",
                                                                                  "han")
    reading = GridMeterReading.objects.get()
    assert (reading.group, reading.measured_at, reading.l1) == (child, measured, D("21.4"))
    recompute.assert_called_once_with(group_a.pk)


def test_another_organizations_group_is_404_and_nothing_is_stored(brf_a, groups, recompute):
    _group_a, group_b = groups
    response = client_for(key(brf_a.org)).post("/api/v1/grid-meter-readings/", {
        "group": group_b.pk, "l1": "1", "l2": "1", "l3": "1"}, format="json")
    assert_error(response, 404, "not_found")
    assert not GridMeterReading.objects.exists()
    recompute.assert_not_called()


@pytest.mark.parametrize("body", [
    {"l1": "-1", "l2": "1", "l3": "1"},
    {"l1": "1.25", "l2": "1", "l3": "1"},
    {"l1": "1000000", "l2": "1", "l3": "1"},
    {"l1": "NaN", "l2": "1", "l3": "1"},
    {"l2": "1", "l3": "1"},
    {"l1": "1", "l2": "1", "l3": "1", "measured_at": "tomorrow"},
    {"l1": "1", "l2": "1", "l3": "1", "group": 10**30},
    {"l1": "1", "l2": "1", "l3": "1", "measured_at": "0001-01-01T00:00:00+01:00"},
], ids=["negative", "too-fine", "too-large", "nan", "missing-phase", "bad-time", "huge-group", "year-1"])
def test_bad_readings_are_400(brf_a, groups, recompute, body):
    group_a, _group_b = groups
    response = client_for(key(brf_a.org)).post("/api/v1/grid-meter-readings/", {"group": group_a.pk, **body},
                                               format="json")
    assert_error(response, 400, "invalid")
    assert not GridMeterReading.objects.exists()


def test_a_reading_from_the_future_is_400(brf_a, groups, recompute):
    group_a, _group_b = groups
    response = client_for(key(brf_a.org)).post("/api/v1/grid-meter-readings/", {
        "group": group_a.pk, "measured_at": (timezone.now() + timedelta(hours=1)).isoformat(), "l1": "1", "l2": "1",
        "l3": "1"}, format="json")
    assert_error(response, 400, "invalid")
    assert "future" in str(response.json()["fields"])
    assert not GridMeterReading.objects.exists()


def test_a_read_only_key_cannot_post(brf_a, groups, recompute):
    group_a, _group_b = groups
    response = client_for(key(brf_a.org, scopes=["read"])).post("/api/v1/grid-meter-readings/", {
        "group": group_a.pk, "l1": "1", "l2": "1", "l3": "1"}, format="json")
    assert_error(response, 403, "permission_denied")
    assert not GridMeterReading.objects.exists()


def test_list_and_detail_are_tenant_scoped_and_filtered(brf_a, groups):
    group_a, group_b = groups
    now = timezone.now()
    old = GridMeterReading.objects.create(group=group_a, measured_at=now - timedelta(hours=2), l1=1, l2=1, l3=1)
    new = GridMeterReading.objects.create(group=group_a, measured_at=now, l1=2, l2=2, l3=2)
    foreign = GridMeterReading.objects.create(group=group_b, measured_at=now, l1=3, l2=3, l3=3)
    client = client_for(key(brf_a.org, scopes=["read"]))
    assert ids(client.get("/api/v1/grid-meter-readings/")) == {old.pk, new.pk}
    assert ids(client.get("/api/v1/grid-meter-readings/", {"group": group_b.pk})) == set()
    since = (now - timedelta(hours=1)).isoformat()
    assert ids(client.get("/api/v1/grid-meter-readings/", {"measured_from": since})) == {new.pk}
    assert ids(client.get("/api/v1/grid-meter-readings/", {"measured_to": since})) == {old.pk}
    assert client.get(f"/api/v1/grid-meter-readings/{new.pk}/").json()["l1"] == "2.0"
    assert_error(client.get(f"/api/v1/grid-meter-readings/{foreign.pk}/"), 404, "not_found")
    assert_error(client.get("/api/v1/grid-meter-readings/", {"measured_from": "noon"}), 400, "invalid")


def test_board_admin_posts_through_the_session_and_resident_cannot(brf_a, groups, recompute):
    from rest_framework.test import APIClient

    group_a, _group_b = groups
    board = APIClient()
    board.force_login(brf_a.board)
    response = board.post("/api/v1/grid-meter-readings/", {"group": group_a.pk, "l1": "1", "l2": "1", "l3": "1"},
                          format="json")
    assert response.status_code == 201, response.content
    resident = APIClient()
    resident.force_login(brf_a.residents[0])
    response = resident.post("/api/v1/grid-meter-readings/", {"group": group_a.pk, "l1": "1", "l2": "1",
                                                               "l3": "1"}, format="json")
    assert_error(response, 404, "not_found")
    assert GridMeterReading.objects.count() == 1


def test_schema_has_the_reading_paths(db):
    from rest_framework.test import APIClient

    response = APIClient().get("/api/v1/schema/", {"format": "json"})
    assert response.status_code == 200
    paths = response.json()["paths"]
    assert set(paths["/api/v1/grid-meter-readings/"]) >= {"get", "post"}
    assert "/api/v1/grid-meter-readings/{id}/" in paths
