"""The board's overview: the organization's stations with live status in words, open alarms, today's sessions and
energy, this month's revenue per currency, and the JSON the page polls — only the organization's own stations."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from billing.models import SessionCost
from charging.models import ChargingSession
from tests.charging.factories import AlarmFactory, ChargePointFactory, ChargingSessionFactory, ConnectorFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def charging_station(brf_a):
    cp = ChargePointFactory(organization=brf_a.org, display_name="Laddplats Gården", is_connected=True)
    ConnectorFactory(evse__charge_point=cp, status="Charging")
    return cp


def _cost(session, amount, currency="SEK"):
    return SessionCost.objects.create(session=session, currency=currency, energy_wh=session.energy_wh,
                                      total_excl_vat=amount * 4 / 5, total_vat=amount / 5, total_incl_vat=amount,
                                      priced_at=timezone.now())


def test_the_overview_shows_status_alarms_today_and_revenue(board_client, brf_a, brf_b, charging_station):
    now = timezone.now()
    AlarmFactory(charge_point=charging_station, opened_at=now - timedelta(hours=1))
    session = ChargingSessionFactory(charge_point=charging_station, started_at=now - timedelta(minutes=5),
                                     energy_wh=12_340, status=ChargingSession.Status.COMPLETED)
    _cost(session, Decimal("40.00"))
    foreign = ChargePointFactory(organization=brf_b.org, display_name="Främmande laddare")
    foreign_session = ChargingSessionFactory(charge_point=foreign, started_at=now - timedelta(minutes=5),
                                             energy_wh=99_000)
    _cost(foreign_session, Decimal("500.00"))
    AlarmFactory(charge_point=foreign)
    response = board_client.get(reverse("portal:dashboard"), HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 200
    body = response.content.decode()
    assert "Laddplats Gården" in body
    assert "Främmande laddare" not in body
    assert "Charging" in body
    assert response.context["sessions_today"] == 1
    assert response.context["energy_today_wh"] == 12_340
    assert [(row["currency"], row["total"]) for row in response.context["revenue"]] == [("SEK", Decimal("40.00"))]
    assert [alarm.charge_point for alarm in response.context["alarms"]] == [charging_station]


def test_a_viewer_sees_the_overview_and_a_resident_gets_404(client, brf_a, viewer_a, charging_station):
    client.force_login(viewer_a)
    assert client.get(reverse("portal:dashboard")).status_code == 200
    client.force_login(brf_a.residents[0])
    assert client.get(reverse("portal:dashboard")).status_code == 404
    assert client.get(reverse("portal:dashboard_status"), {"ids": charging_station.pk}).status_code == 404


def test_the_status_endpoint_answers_only_for_the_organizations_stations(board_client, brf_b, charging_station):
    foreign = ChargePointFactory(organization=brf_b.org, is_connected=True)
    response = board_client.get(reverse("portal:dashboard_status"), {"ids": f"{charging_station.pk},{foreign.pk}"},
                                HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 200
    stations = response.json()["stations"]
    assert list(stations) == [str(charging_station.pk)]
    assert stations[str(charging_station.pk)]["status"] == "Charging"
    assert board_client.get(reverse("portal:dashboard_status"), {"ids": "1,x"}).status_code == 400


def test_revenue_before_this_month_is_left_out(board_client, charging_station):
    old = ChargingSessionFactory(charge_point=charging_station, started_at=timezone.now() - timedelta(days=40))
    _cost(old, Decimal("10.00"))
    response = board_client.get(reverse("portal:dashboard"))
    assert response.context["revenue"] == []


def test_the_overview_needs_the_same_queries_for_2_and_20_stations(board_client, brf_a):
    def add(count):
        for _ in range(count):
            cp = ChargePointFactory(organization=brf_a.org, is_connected=True)
            ConnectorFactory(evse__charge_point=cp, status="Available")
            AlarmFactory(charge_point=cp, opened_at=timezone.now())

    add(2)
    with CaptureQueriesContext(connection) as few:
        board_client.get(reverse("portal:dashboard"))
    add(18)
    with CaptureQueriesContext(connection) as many:
        response = board_client.get(reverse("portal:dashboard"))
    assert len(response.context["rows"]) == 20
    assert len(many) == len(few)
