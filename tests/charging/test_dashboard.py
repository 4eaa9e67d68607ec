"""The operations dashboard on the admin home page: counts by status, open alarms, today's sessions and energy
(Stockholm's day), recently offline stations; scoped to what the viewer may see, in a few queries."""

import re
from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts.models import Membership
from charging.models import Alarm, ChargePoint, ChargingSession, Connector, Evse
from charging.selectors.station_list import dashboard, local_day_start
from tests.accounts.factories import MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db

INDEX_URL = reverse("admin:index")
# 20 November 2026, 18:30 UTC = 19:30 in Stockholm (CET, UTC+1).
NOW = datetime(2026, 11, 20, 18, 30, tzinfo=UTC)


def make_station(identity, organization, *, statuses=("Available",), **fields):
    fields.setdefault("is_connected", True)
    cp = ChargePoint.objects.create(identity=identity, organization=organization, **fields)
    for number, status in enumerate(statuses, start=1):
        Connector.objects.create(evse=Evse.objects.create(charge_point=cp, evse_id=number), status=status)
    return cp


def make_session(cp, started_at, energy_wh):
    return ChargingSession.objects.create(charge_point=cp, evse=cp.evses.first(), organization=cp.organization,
                                          started_at=started_at, meter_start_wh=0, energy_wh=energy_wh)


@pytest.fixture
def network(brf_a, brf_b):
    """BRF A: two charging-capable stations, one faulted, one unavailable, two offline, one decommissioned.
    BRF B: one station, offline, with a critical alarm and a session today."""
    a = {
        "charging": make_station("A-1", brf_a.org, statuses=("Charging", "Available")),
        "idle": make_station("A-2", brf_a.org),
        "faulted": make_station("A-3", brf_a.org, statuses=("Faulted",)),
        "unavailable": make_station("A-4", brf_a.org, status="Unavailable"),
        "gone": make_station("A-5", brf_a.org, is_connected=False, last_seen_at=NOW - timedelta(minutes=20)),
        "gone-longer": make_station("A-6", brf_a.org, is_connected=False, last_seen_at=NOW - timedelta(days=2)),
        "never": make_station("A-7", brf_a.org, is_connected=False),
        "old": make_station("A-8", brf_a.org, statuses=("Charging",), decommissioned_at=NOW),
        # A charging status from before the connection dropped is not counted as charging.
        "stale": make_station("A-9", brf_a.org, statuses=("Charging",), is_connected=False,
                              last_seen_at=NOW - timedelta(hours=1)),
    }
    b = make_station("B-1", brf_b.org, is_connected=False, last_seen_at=NOW - timedelta(minutes=1))
    for kind, severity in [(Alarm.Kind.FAULTED, Alarm.Severity.MAJOR),
                           (Alarm.Kind.UNAVAILABLE, Alarm.Severity.WARNING)]:
        Alarm.objects.create(charge_point=a["faulted"], kind=kind, severity=severity)
    Alarm.objects.create(charge_point=a["idle"], kind=Alarm.Kind.OFFLINE, severity=Alarm.Severity.MAJOR,
                         closed_at=NOW)  # closed: not counted
    Alarm.objects.create(charge_point=b, kind=Alarm.Kind.FUSE_TRIPPED, severity=Alarm.Severity.CRITICAL)
    # Stockholm's day began at 23:00 UTC on the 19th.
    make_session(a["charging"], datetime(2026, 11, 19, 23, 30, tzinfo=UTC), 7_250)  # 00:30 local: today
    make_session(a["idle"], datetime(2026, 11, 20, 17, 0, tzinfo=UTC), 3_000)
    make_session(a["idle"], datetime(2026, 11, 19, 22, 59, tzinfo=UTC), 50_000)  # 23:59 local yesterday
    make_session(b, datetime(2026, 11, 20, 8, 0, tzinfo=UTC), 11_000)
    return a, b


def test_the_local_day_starts_at_midnight_in_stockholm():
    assert local_day_start(NOW) == datetime(2026, 11, 19, 23, 0, tzinfo=UTC)
    summer = datetime(2026, 7, 1, 21, 59, tzinfo=UTC)  # 23:59 CEST
    assert local_day_start(summer) == datetime(2026, 6, 30, 22, 0, tzinfo=UTC)


def test_support_sees_every_station_and_alarm(operator_staff, network):
    a, b = network
    data = dashboard(user=operator_staff, now=NOW)
    assert (data.in_service, data.connected, data.offline) == (9, 4, 5)
    assert (data.charging, data.faulted, data.unavailable) == (1, 1, 1)
    assert data.alarms_by_severity == [(40, "Critical", 1), (30, "Major", 1), (20, "Warning", 1), (10, "Info", 0)]
    assert data.open_alarms == 3
    assert (data.sessions_today, data.energy_today_wh) == (3, 21_250)
    assert [cp.identity for cp in data.recently_offline] == ["B-1", "A-5", "A-9", "A-6"]


def test_a_board_member_sees_only_their_association(brf_a, network):
    data = dashboard(user=brf_a.board, now=NOW)
    assert (data.in_service, data.connected, data.offline) == (8, 4, 4)
    assert data.open_alarms == 2
    assert (data.sessions_today, data.energy_today_wh) == (2, 10_250)
    assert "B-1" not in [cp.identity for cp in data.recently_offline]


def test_a_handful_of_queries_whatever_the_size(operator_staff, brf_a, network):
    # A fresh user object each time, so the tenancy look-up cached on it is counted both times.
    user = type(operator_staff).objects.get(pk=operator_staff.pk)
    with CaptureQueriesContext(connection) as small:
        dashboard(user=user, now=NOW)
    for number in range(30):
        cp = make_station(f"X-{number}", brf_a.org, statuses=("Charging", "Faulted"), is_connected=number % 2 == 0,
                          last_seen_at=NOW)
        make_session(cp, NOW - timedelta(hours=1), 1000)
    user = type(operator_staff).objects.get(pk=operator_staff.pk)
    with CaptureQueriesContext(connection) as large:
        dashboard(user=user, now=NOW)
    assert len(small) == len(large) <= 5


def test_the_admin_home_page_shows_the_dashboard_with_links(client, operator_staff, network):
    a, b = network
    client.force_login(operator_staff)
    html = client.get(INDEX_URL, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    stations = reverse("admin:charging_chargepoint_changelist")
    alarms = reverse("admin:charging_alarm_changelist")
    assert 'id="station-dashboard"' in html
    assert re.search(rf'href="{stations}\?is_connected__exact=0">Offline</a></th><td>5<', html)
    assert f'href="{stations}?connector_status=Faulted&amp;is_connected__exact=1"' in html
    assert re.search(rf'href="{alarms}\?severity__exact=40">Critical</a></th><td>1<', html)
    assert reverse("admin:charging_chargepoint_change", args=[b.pk]) in html


def test_the_links_of_the_dashboard_lead_to_matching_lists(client, operator_staff, network):
    client.force_login(operator_staff)
    stations = reverse("admin:charging_chargepoint_changelist")
    listed = client.get(stations, {"connector_status": "Faulted", "is_connected__exact": "1"}).context["cl"]
    assert [cp.identity for cp in listed.result_list] == ["A-3"]
    assert client.get(stations, {"is_connected__exact": "0"}).context["cl"].result_count == 5


def test_the_home_page_of_a_board_member_has_their_counts_only(client, brf_a, network):
    client.force_login(brf_a.board)  # board members get view permissions through their group
    html = client.get(INDEX_URL, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert re.search(r'is_connected__exact=0">Offline</a></th><td>4<', html)
    assert re.search(r'severity__exact=30">Major</a></th><td>1<', html)
    assert "B-1" not in html


def test_alarm_counts_link_to_the_alarm_list_only_for_those_who_may_open_it(client, brf_a, network):
    viewer = UserFactory(is_staff=True)
    MembershipFactory(user=viewer, organization=brf_a.org, role=Membership.Role.ORG_VIEWER)
    viewer.user_permissions.add(Permission.objects.get(codename="view_chargepoint"))
    client.force_login(viewer)
    html = client.get(INDEX_URL, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert re.search(r"<th scope=\"row\">Major</th><td>1<", html)
    assert "/charging/alarm/" not in html


def test_staff_without_station_permission_get_no_dashboard(client):
    client.force_login(UserFactory(is_staff=True))
    response = client.get(INDEX_URL)
    assert response.status_code == 200
    assert 'id="station-dashboard"' not in response.content.decode()


def test_sessions_today_follow_the_real_clock_on_the_page(client, operator_staff, brf_a):
    cp = make_station("NOW-1", brf_a.org)
    make_session(cp, timezone.now(), 12_345)
    client.force_login(operator_staff)
    html = client.get(INDEX_URL, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert re.search(r"Sessions started</th><td>1<", html)
    assert re.search(r"Energy \(kWh\)</th><td>12\.3<", html)
