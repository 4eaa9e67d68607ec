"""The board's station pages: the list and one station (EVSEs, energy so far, mode now and schedule, last sessions,
alarms), changing access (mode, schedule, groups, an EVSE's own mode), charging keys for guests and the QR sticker
PDF — for admins, read-only for viewers, 404 across organizations, audited."""

import subprocess
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts.models import AuditLogEntry, IdToken
from charging.models import ChargingKey, ChargingSession, Evse, MeterSample
from charging.selectors.access import start_url
from charging.services.access import charging_key_issue
from csms.portal import stickers
from tests.charging.factories import (
    AlarmFactory,
    ChargePointFactory,
    ChargingSessionFactory,
    ConnectorFactory,
    EvseFactory,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def viewer_client(viewer_a):
    client = Client()  # its own session: the board's client stays signed in as the board
    client.force_login(viewer_a)
    return client


@pytest.fixture
def station(brf_a):
    cp = ChargePointFactory(organization=brf_a.org, display_name="Laddplats Gården", is_connected=True)
    for number, public_id in ((1, "SE*BRF*E0001"), (2, "SE*BRF*E0002")):
        evse = EvseFactory(charge_point=cp, evse_id=number, public_id=public_id)
        ConnectorFactory(evse=evse, status="Available")
    return cp


@pytest.fixture
def foreign(brf_b):
    cp = ChargePointFactory(organization=brf_b.org)
    EvseFactory(charge_point=cp, evse_id=1, public_id="SE*XYZ*E0009")
    return cp


def _key(org, station=None, name="Gäst Gustavsson"):
    now = timezone.now()
    return charging_key_issue(organization=org, guest_name=name, valid_from=now, valid_until=now + timedelta(days=2),
                              charge_points=[station] if station else [], acting_user=None, reason="test", now=now)


def _schedule(rows, **extra):
    data = {"access_schedule-rows": str(len(rows)), **extra}
    for number, row in enumerate(rows):
        prefix = f"access_schedule-{number}"
        data[f"{prefix}-weekdays"] = row["weekdays"]
        data[f"{prefix}-start"], data[f"{prefix}-end"], data[f"{prefix}-mode"] = row["start"], row["end"], row["mode"]
    return data


def test_the_list_and_the_page_render_for_admin_and_viewer(board_client, viewer_client, station, foreign):
    for client in (board_client, viewer_client):
        listing = client.get(reverse("portal:stations"), HTTP_ACCEPT_LANGUAGE="en")
        assert listing.status_code == 200
        body = listing.content.decode()
        assert "Laddplats Gården" in body
        assert foreign.identity not in body
        assert "No car connected" in body
        page = client.get(reverse("portal:station", args=[station.pk]), HTTP_ACCEPT_LANGUAGE="en")
        assert page.status_code == 200
        assert "SE*BRF*E0001" in page.content.decode()
        assert "SE*BRF*E0002" in page.content.decode()
    assert "Save access settings" in board_client.get(reverse("portal:station", args=[station.pk])
                                                      ).content.decode()
    assert "access_schedule-rows" not in viewer_client.get(reverse("portal:station", args=[station.pk])
                                                           ).content.decode()


def test_the_station_page_shows_energy_so_far_sessions_and_alarms(board_client, station):
    evse = station.evses.get(evse_id=1)
    running = ChargingSessionFactory(charge_point=station, evse=evse, started_at=timezone.now() - timedelta(hours=1),
                                     meter_start_wh=1_000, status=ChargingSession.Status.ACTIVE)
    MeterSample.objects.create(charge_point=station, evse=evse, session=running, timestamp=timezone.now(),
                               unit="Wh", value=Decimal("5500"))
    for index in range(12):
        ChargingSessionFactory(charge_point=station, evse=evse, energy_wh=1000 + index,
                               started_at=timezone.now() - timedelta(days=index + 2))
    AlarmFactory(charge_point=station, message="Faulted: GroundFailure")
    response = board_client.get(reverse("portal:station", args=[station.pk]), HTTP_ACCEPT_LANGUAGE="en")
    rows = {row["evse"].evse_id: row for row in response.context["evse_rows"]}
    assert rows[1]["session"].current_energy_wh == 4_500
    assert rows[2]["session"] is None
    assert "4.50 kWh since" in response.content.decode()
    assert len(response.context["sessions"]) == 10
    assert response.context["sessions"][0] == running
    assert "GroundFailure" in response.content.decode()


def test_another_organizations_ids_are_404_for_get_and_post(board_client, brf_b, station, foreign):
    foreign_evse = foreign.evses.get()
    key = _key(brf_b.org)
    mode_before = foreign.access_mode
    assert board_client.get(reverse("portal:station", args=[foreign.pk])).status_code == 404
    assert board_client.get(reverse("portal:station_stickers", args=[foreign.pk])).status_code == 404
    data = _schedule([], access_mode="public", reason="x")
    assert board_client.post(reverse("portal:station_access", args=[foreign.pk]), data).status_code == 404
    assert board_client.post(reverse("portal:station_evse_mode", args=[foreign.pk, foreign_evse.pk]),
                             {f"evse{foreign_evse.pk}-mode": "public", f"evse{foreign_evse.pk}-reason": "x"}
                             ).status_code == 404
    # an own station with a foreign EVSE is as unknown
    assert board_client.post(reverse("portal:station_evse_mode", args=[station.pk, foreign_evse.pk]),
                             {f"evse{foreign_evse.pk}-mode": "public", f"evse{foreign_evse.pk}-reason": "x"}
                             ).status_code == 404
    assert board_client.post(reverse("portal:station_key_revoke", args=[key.pk]), {"reason": "x"}).status_code == 404
    foreign.refresh_from_db()
    key.id_token.refresh_from_db()
    assert foreign.access_mode == mode_before != "public"
    assert foreign.evses.get().access_mode == ""
    assert key.id_token.status == IdToken.Status.ACTIVE


def test_a_viewer_may_not_change_anything(viewer_client, brf_a, station):
    evse = station.evses.get(evse_id=1)
    key = _key(brf_a.org)
    before = AuditLogEntry.objects.count()
    assert viewer_client.post(reverse("portal:station_access", args=[station.pk]),
                              _schedule([], access_mode="public", reason="x")).status_code == 403
    assert viewer_client.post(reverse("portal:station_evse_mode", args=[station.pk, evse.pk]),
                              {f"evse{evse.pk}-mode": "public", f"evse{evse.pk}-reason": "x"}).status_code == 403
    now = timezone.now()
    assert viewer_client.post(reverse("portal:station_key_issue"), {
        "guest_name": "G", "valid_from": now, "valid_until": now + timedelta(days=1), "reason": "x"}).status_code == 403
    assert viewer_client.post(reverse("portal:station_key_revoke", args=[key.pk]), {"reason": "x"}).status_code == 403
    assert AuditLogEntry.objects.count() == before
    assert ChargingKey.objects.count() == 1
    station.refresh_from_db()
    assert station.access_mode != "public"
    assert station.access_schedule == []


def test_an_admin_sets_mode_schedule_and_groups_audited(board_client, brf_a, station):
    data = _schedule([{"weekdays": ["0", "1", "2", "3", "4"], "start": "07:00", "end": "17:00", "mode": "public"}],
                     access_mode="private", allowed_groups=[brf_a.group.pk], reason="Styrelsebeslut 12")
    response = board_client.post(reverse("portal:station_access", args=[station.pk]), data)
    assert response.status_code == 302
    station.refresh_from_db()
    assert station.access_mode == "private"
    assert station.access_schedule[0]["mode"] == "public"
    assert list(station.allowed_groups.all()) == [brf_a.group]
    entry = AuditLogEntry.objects.get(action="chargepoint.access_changed")
    assert entry.actor == brf_a.board
    assert entry.reason == "Styrelsebeslut 12"


def test_schedule_and_reason_errors_are_shown_on_the_form(board_client, brf_b, station):
    bad = _schedule([{"weekdays": ["0"], "start": "18:00", "end": "07:00", "mode": "public"}],
                    access_mode="private", reason="x")
    response = board_client.post(reverse("portal:station_access", args=[station.pk]), bad,
                                 HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 400
    assert "Rule 1: The rule must end after it starts" in str(response.context["access_form"].errors)
    response = board_client.post(reverse("portal:station_access", args=[station.pk]),
                                 _schedule([], access_mode="public", reason=""), HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 400
    assert "reason" in response.context["access_form"].errors
    response = board_client.post(reverse("portal:station_access", args=[station.pk]),
                                 _schedule([], access_mode="public", allowed_groups=[brf_b.group.pk], reason="x"))
    assert response.status_code == 400
    assert "allowed_groups" in response.context["access_form"].errors
    station.refresh_from_db()
    assert station.access_mode != "public"
    assert not AuditLogEntry.objects.filter(action="chargepoint.access_changed").exists()


def test_an_evse_gets_its_own_mode(board_client, brf_a, station):
    evse = station.evses.get(evse_id=2)
    url = reverse("portal:station_evse_mode", args=[station.pk, evse.pk])
    response = board_client.post(url, {f"evse{evse.pk}-mode": "public", f"evse{evse.pk}-reason": ""})
    assert response.status_code == 400
    evse.refresh_from_db()
    assert evse.access_mode == ""
    response = board_client.post(url, {f"evse{evse.pk}-mode": "public", f"evse{evse.pk}-reason": "Gästplats"})
    assert response.status_code == 302
    evse.refresh_from_db()
    assert evse.access_mode == "public"
    entry = AuditLogEntry.objects.get(action="evse.access_mode_changed")
    assert entry.reason == "Gästplats"
    assert entry.actor == brf_a.board


def test_keys_are_issued_with_errors_explained_and_revoked(board_client, brf_a, brf_b, station, foreign):
    now = timezone.localtime()
    url = reverse("portal:station_key_issue")
    fmt = "%Y-%m-%dT%H:%M"
    response = board_client.post(url, {"guest_name": "Gäst", "valid_from": (now + timedelta(days=2)).strftime(fmt),
                                       "valid_until": (now + timedelta(days=1)).strftime(fmt), "reason": "Besök"},
                                 HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 400
    assert "The key must end after it starts." in str(response.context["form"].errors)
    response = board_client.post(url, {"guest_name": "Gäst", "valid_from": now.strftime(fmt),
                                       "valid_until": (now + timedelta(days=1)).strftime(fmt), "reason": "Besök",
                                       "charge_points": [foreign.pk]})
    assert response.status_code == 400  # a foreign station is not a choice
    assert not ChargingKey.objects.exists()
    response = board_client.post(url, {"guest_name": "Gäst", "valid_from": now.strftime(fmt),
                                       "valid_until": (now + timedelta(days=1)).strftime(fmt), "reason": "Besök",
                                       "charge_points": [station.pk]})
    assert response.status_code == 302
    key = ChargingKey.objects.get()
    assert list(key.charge_points.all()) == [station]
    assert key.issued_by == brf_a.board
    assert AuditLogEntry.objects.get(action="chargingkey.issued").reason == "Besök"
    listing = board_client.get(reverse("portal:station_keys"))
    assert key.id_token.uid in listing.content.decode()
    assert board_client.post(reverse("portal:station_key_revoke", args=[key.pk]), {"reason": ""}).status_code == 302
    key.id_token.refresh_from_db()
    assert key.id_token.status == IdToken.Status.ACTIVE
    assert board_client.post(reverse("portal:station_key_revoke", args=[key.pk]),
                             {"reason": "Besöket slut"}).status_code == 302
    key.id_token.refresh_from_db()
    assert key.id_token.status == IdToken.Status.BLOCKED
    assert AuditLogEntry.objects.filter(reason="Besöket slut").exists()


def test_the_key_list_renders_for_a_viewer(viewer_client, brf_a):
    _key(brf_a.org, name="Gäst Gustavsson")
    response = viewer_client.get(reverse("portal:station_keys"))
    assert response.status_code == 200
    assert "Gäst Gustavsson" in response.content.decode()
    assert "Issue key" not in response.content.decode()


def test_the_sticker_pdf_has_one_sticker_per_evse(board_client, viewer_client, station, tmp_path):
    response = board_client.get(reverse("portal:station_stickers", args=[station.pk]))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    path = tmp_path / "stickers.pdf"
    path.write_bytes(response.content)
    text = subprocess.run(["pdftotext", str(path), "-"], capture_output=True, text=True, check=True).stdout
    for evse in station.evses.all():
        assert evse.public_id in text
        assert evse.public_code in text
    assert "Skanna för att ladda" in text  # the organization's language (Swedish)
    assert viewer_client.get(reverse("portal:station_stickers", args=[station.pk])).status_code == 200


def test_the_stickers_encode_each_evses_start_url(station, monkeypatch):
    evses = list(Evse.objects.filter(charge_point=station))
    items = stickers.stickers_for((e.public_id, e.evse_id, e.public_code, start_url(e)) for e in reversed(evses))
    assert [(item.evse_id, item.url) for item in items] == [
        ("SE*BRF*E0001", start_url(evses[0])), ("SE*BRF*E0002", start_url(evses[1]))]
    assert items[0].url.endswith(f"/c/{evses[0].public_code}")
    encoded = []
    real_make = stickers.segno.make
    monkeypatch.setattr(stickers.segno, "make", lambda content, **kw: encoded.append(content) or real_make(content,
                                                                                                           **kw))
    stickers.render("Laddplats", items, "en")
    assert encoded == [item.url for item in items]
    assert stickers.stickers_for([("", 3, "ABC", "u")])[0].evse_id == "#3"


def test_the_lists_need_the_same_queries_for_2_and_20_rows(board_client, brf_a):
    def add(count):
        for _ in range(count):
            cp = ChargePointFactory(organization=brf_a.org, is_connected=True)
            ConnectorFactory(evse__charge_point=cp, status="Available")
            _key(brf_a.org, station=cp)

    add(2)
    with CaptureQueriesContext(connection) as few_stations:
        board_client.get(reverse("portal:stations"))
    with CaptureQueriesContext(connection) as few_keys:
        board_client.get(reverse("portal:station_keys"))
    add(18)
    with CaptureQueriesContext(connection) as many_stations:
        stations = board_client.get(reverse("portal:stations"))
    with CaptureQueriesContext(connection) as many_keys:
        keys = board_client.get(reverse("portal:station_keys"))
    assert len(stations.context["rows"]) == 20
    assert len(keys.context["page"]) == 20
    assert len(many_stations) == len(few_stations)
    assert len(many_keys) == len(few_keys)
