"""The board's reports in the portal: utilization heatmap, energy and revenue per month and station, the session
list with its filters and CSV export, the benefit-tax report with CSV, and error rates with ratings. Only the
chosen organization's figures show; another organization's station or user in a filter is a form error."""

import csv
import io
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from billing.models import SessionCost
from charging.models import ChargePoint, ChargingSession, SessionRating
from charging.services import stations
from tests.charging.factories import ChargingSessionFactory

pytestmark = pytest.mark.django_db

PAGES = ["portal:reports", "portal:reports_utilization", "portal:reports_energy", "portal:reports_sessions",
         "portal:reports_benefit", "portal:reports_errors"]


@pytest.fixture
def station(brf_a):
    return stations.charge_point_register(identity="REP-A1", organization=brf_a.org, evses=2, acting_user=None,
                                          reason="test")


@pytest.fixture
def other_station(brf_b):
    return stations.charge_point_register(identity="REP-B1", organization=brf_b.org, evses=1, acting_user=None,
                                          reason="test")


def session(station, user, *, energy_wh=1000, at=datetime(2026, 10, 5, 12, 0, tzinfo=UTC), hours=1, price=None,
            status=ChargingSession.Status.COMPLETED, uid="", stop_reason=""):
    row = ChargingSessionFactory(charge_point=station, user=user, energy_wh=energy_wh, started_at=at,
                                 stopped_at=at + timedelta(hours=hours), status=status, id_token_uid=uid,
                                 stop_reason=stop_reason)
    if price is not None:
        SessionCost.objects.create(session=row, currency="SEK", energy_wh=energy_wh, total_excl_vat=price * 4 / 5,
                                   total_vat=price / 5, total_incl_vat=price, priced_at=at)
    return row


def client_for(user):
    client = Client()
    client.force_login(user)
    return client


@pytest.mark.parametrize("name", PAGES)
def test_pages_render_for_admin_and_viewer_not_for_residents(name, brf_a, viewer_a, station):
    assert client_for(brf_a.board).get(reverse(name)).status_code == 200
    assert client_for(viewer_a).get(reverse(name)).status_code == 200
    assert client_for(brf_a.residents[0]).get(reverse(name)).status_code == 404


@pytest.mark.usefixtures("swedish")  # money and numbers as the product shows them
def test_utilization_heatmap_prints_the_occupied_share(board_client, brf_a, station, other_station):
    # October 2026 in Stockholm has 745 hours (DST ends); 74.5 hours occupied is 10.0 %.
    session(station, brf_a.residents[0], at=datetime(2026, 10, 2, 0, 0, tzinfo=UTC), hours=74.5)
    session(other_station, None, at=datetime(2026, 10, 2, 0, 0, tzinfo=UTC), hours=300)
    response = board_client.get(reverse("portal:reports_utilization"), {"month": "2026-10"})
    assert response.status_code == 200
    points = response.context["points"]
    assert [point["identity"] for point in points] == ["REP-A1"]
    assert len(points[0]["cells"]) == 12
    assert points[0]["cells"][0].month.isoformat() == "2025-11-01"
    assert points[0]["cells"][-1].share_percent == Decimal("10.0")
    assert [cell.share_percent for cell in points[0]["cells"][:-1]] == [Decimal("0.0")] * 11
    svg = response.context["svg"]
    assert '<g class="band-1">' in svg
    assert ">10,0</text>" in svg  # printed in the reader's language (Swedish here)
    assert "REP-B1" not in response.content.decode()


def test_bad_month_is_a_form_error(board_client, station):
    response = board_client.get(reverse("portal:reports_utilization"), {"month": "oktober"})
    assert response.status_code == 400
    assert response.context["form"].errors["month"]


@pytest.mark.usefixtures("swedish")  # money and numbers as the product shows them
def test_energy_per_month_and_station(board_client, brf_a, station, other_station):
    session(station, brf_a.residents[0], energy_wh=12_345, at=datetime(2026, 9, 10, 10, tzinfo=UTC),
            price=Decimal("40.00"))
    session(station, brf_a.residents[1], energy_wh=5_000, at=datetime(2026, 10, 10, 10, tzinfo=UTC),
            price=Decimal("20.00"))
    session(other_station, None, energy_wh=99_999, at=datetime(2026, 10, 10, 10, tzinfo=UTC))
    response = board_client.get(reverse("portal:reports_energy"), {"month": "2026-10"})
    per_month = response.context["per_month"]
    assert [entry["energy_wh"] for entry in per_month[-2:]] == [12_345, 5_000]
    assert [entry["sek"].incl_vat for entry in per_month[-2:]] == [Decimal("40.00"), Decimal("20.00")]
    assert sum(entry["energy_wh"] for entry in per_month) == 17_345
    [row] = response.context["stations"]
    assert (row.label, row.energy_wh, row.sek.incl_vat) == ("REP-A1", 17_345, Decimal("60.00"))
    page = response.content.decode()
    assert "17,35" in page
    assert "60,00" in page
    assert ">12</text>" in response.context["energy_svg"]  # 12 345 Wh printed as whole kWh over its bar


def test_sessions_list_filters(board_client, brf_a, station, other_station):
    me, neighbour = brf_a.residents
    mine = session(station, me, uid="04A23B1C", at=datetime(2026, 10, 5, 10, tzinfo=UTC))
    failed = session(station, neighbour, status=ChargingSession.Status.FAILED, at=datetime(2026, 10, 20, 10,
                                                                                          tzinfo=UTC))
    session(other_station, None)
    url = reverse("portal:reports_sessions")

    def pks(params):
        response = board_client.get(url, params)
        assert response.status_code == 200, response.context["form"].errors
        return [row.pk for row in response.context["page"]]

    assert pks({}) == [failed.pk, mine.pk]
    assert pks({"user": me.pk}) == [mine.pk]
    assert pks({"tag": "04:a2:3b:1c"}) == [mine.pk]
    assert pks({"status": "failed"}) == [failed.pk]
    assert pks({"station": station.pk, "started_from": "2026-10-01", "started_to": "2026-10-05"}) == [mine.pk]
    assert pks({"started_from": "2026-10-06"}) == [failed.pk]


def test_another_organizations_station_or_user_in_a_filter_is_a_form_error(board_client, brf_b, station,
                                                                           other_station):
    for params in ({"station": other_station.pk}, {"user": brf_b.residents[0].pk}):
        for name in ("portal:reports_sessions", "portal:reports_sessions_csv"):
            response = board_client.get(reverse(name), params)
            assert response.status_code == 400
            assert response.context["form"].errors
    response = board_client.get(reverse("portal:reports_sessions"),
                                {"started_from": "2026-10-05", "started_to": "2026-10-01"})
    assert response.status_code == 400
    assert "The start of the period must not be after its end." in response.content.decode()


def _csv(response):
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert response.streaming
    return list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))


def test_sessions_csv_has_the_same_filter(board_client, brf_a, station, other_station):
    me, neighbour = brf_a.residents
    mine = session(station, me, energy_wh=4_321, price=Decimal("12.50"))
    session(station, neighbour)
    session(other_station, None)
    rows = _csv(board_client.get(reverse("portal:reports_sessions_csv"), {"user": me.pk}))
    assert rows[0][0] == "id"
    assert len(rows) == 2
    assert rows[1][0] == str(mine.pk)
    assert rows[1][1] == "REP-A1"
    assert rows[1][3] == me.email
    assert rows[1][8] == "4321"
    assert rows[1][10:12] == ["SEK", "12.50"]
    assert len(_csv(board_client.get(reverse("portal:reports_sessions_csv")))) == 3


def test_benefit_report_and_csv(board_client, brf_a, station, other_station):
    me = brf_a.residents[0]
    session(station, me, energy_wh=7_000, at=datetime(2026, 10, 3, 10, tzinfo=UTC), price=Decimal("25.00"))
    session(station, me, energy_wh=3_000, at=datetime(2026, 10, 4, 10, tzinfo=UTC))
    session(station, me, energy_wh=1_000, at=datetime(2026, 8, 4, 10, tzinfo=UTC))
    session(station, None, energy_wh=50_000, at=datetime(2026, 10, 4, 10, tzinfo=UTC))
    session(other_station, brf_a.residents[1], energy_wh=9_000, at=datetime(2026, 10, 4, 10, tzinfo=UTC))
    params = {"first": "2026-09", "last": "2026-10"}
    response = board_client.get(reverse("portal:reports_benefit"), params)
    [row] = response.context["rows"]
    assert (row.user_label, row.identity, row.energy_wh, row.sessions, row.sek.incl_vat) == (
        me.email, "REP-A1", 10_000, 2, Decimal("25.00"))
    rows = _csv(board_client.get(reverse("portal:reports_benefit_csv"), params))
    assert rows[1:] == [[me.email, "REP-A1", "2026-10", "10000", "2", "1", "SEK", "25.00", "20.00"]]
    bad = board_client.get(reverse("portal:reports_benefit_csv"), {"first": "2026-10", "last": "2026-09"})
    assert bad.status_code == 400
    assert "The first month must not be after the last." in bad.content.decode()


def test_error_rates_and_ratings(board_client, brf_a, station, other_station):
    ChargePoint.objects.filter(pk=station.pk).update(sessions_30d=8, failed_sessions_30d=1,
                                                     error_rate=Decimal("0.1250"))
    rated = [session(station, brf_a.residents[0]) for _ in range(2)]
    SessionRating.objects.create(session=rated[0], stars=5)
    SessionRating.objects.create(session=rated[1], stars=2)
    SessionRating.objects.create(session=session(other_station, None), stars=1)
    response = board_client.get(reverse("portal:reports_errors"))
    [point] = list(response.context["page"])
    assert point.error_percent == Decimal("12.5000")
    assert (point.rating_average, point.rating_count) == (3.5, 2)
    page = response.content.decode()
    assert "12,5 %" in page or "12.5 %" in page
    assert "REP-B1" not in page


def _count(client, url):
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200
    return len(captured)


def test_list_queries_are_the_same_for_2_and_20_rows(board_client, brf_a):
    urls = [reverse(name) for name in ("portal:reports_sessions", "portal:reports_errors",
                                       "portal:reports_utilization", "portal:reports_energy",
                                       "portal:reports_benefit")]

    def add(start, end):
        for n in range(start, end):
            point = stations.charge_point_register(identity=f"Q-{n:02d}", organization=brf_a.org, acting_user=None,
                                                   reason="test")
            session(point, brf_a.residents[n % 2], at=datetime.now(UTC) - timedelta(hours=n + 2),
                    price=Decimal("10.00"))

    add(0, 2)
    before = [_count(board_client, url) for url in urls]
    add(2, 20)
    assert [_count(board_client, url) for url in urls] == before
