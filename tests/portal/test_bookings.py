"""The board's booking pages: residents' bookings, the week calendar per EVSE, cancelling with a reason and the
booking rules. Admins change, viewers look (their POSTs are 403 and change nothing), and another association's
ids are a 404."""

from datetime import datetime, timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts.models import AuditLogEntry
from charging.models import Booking, BookingPolicy
from charging.services import stations
from charging.services.bookings import booking_create

pytestmark = pytest.mark.django_db


@pytest.fixture
def station(brf_a):
    BookingPolicy.objects.create(organization=brf_a.org, max_duration_minutes=180, max_active_per_user=50)
    return stations.charge_point_register(identity="BRD-1", organization=brf_a.org, evses=2, acting_user=None,
                                          reason="test")


@pytest.fixture
def other_station(brf_b):
    BookingPolicy.objects.create(organization=brf_b.org)
    return stations.charge_point_register(identity="BRD-B", organization=brf_b.org, evses=1, acting_user=None,
                                          reason="test")


@pytest.fixture
def viewer_client(viewer_a):
    client = Client()
    client.force_login(viewer_a)
    return client


def tomorrow_at(hour, minute=0):
    day = timezone.localdate() + timedelta(days=1)
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=timezone.get_current_timezone())


def book(station, user, start, end, number=1):
    return booking_create(evse=station.evses.get(evse_id=number), user=user, starts_at=start, ends_at=end,
                          acting_user=user, reason="test", now=timezone.now())


def name_of(user):
    return user.get_full_name() or str(user)


# --- pages --------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("who", ["board", "viewer"])
def test_the_booking_pages_render_for_admin_and_viewer(who, board_client, viewer_client, station, brf_a):
    client = board_client if who == "board" else viewer_client
    booking = book(station, brf_a.residents[0], tomorrow_at(10), tomorrow_at(11))
    listing = client.get(reverse("portal:bookings"))
    assert listing.status_code == 200
    assert [row.pk for row in listing.context["page"]] == [booking.pk]
    cancel_url = reverse("portal:bookings_cancel", args=[booking.pk])
    assert (cancel_url in listing.content.decode()) == (who == "board")
    calendar = client.get(reverse("portal:bookings_calendar", args=[booking.evse_id]))
    assert calendar.status_code == 200
    rules = client.get(reverse("portal:bookings_policy"))
    assert rules.status_code == 200
    assert ('name="max_duration_minutes"' in rules.content.decode()) == (who == "board")


def test_residents_do_not_see_the_board_pages(client, station, brf_a):
    client.force_login(brf_a.residents[0])
    for url in (reverse("portal:bookings"), reverse("portal:bookings_policy"),
                reverse("portal:bookings_calendar", args=[station.evses.first().pk])):
        assert client.get(url).status_code == 404


def test_the_calendar_puts_bookings_in_their_hour_and_day(board_client, station, brf_a):
    resident = brf_a.residents[0]
    book(station, resident, tomorrow_at(10, 30), tomorrow_at(12))
    evse = station.evses.get(evse_id=1)
    response = board_client.get(reverse("portal:bookings_calendar", args=[evse.pk]),
                                {"week": (timezone.localdate() + timedelta(days=1)).isoformat()})
    day = timezone.localdate() + timedelta(days=1)
    column = response.context["days"].index(day)
    booked_hours = [row["hour"].hour for row in response.context["rows"] if row["cells"][column]["bookings"]]
    assert booked_hours == [10, 11]
    other_columns = [cell for row in response.context["rows"] for i, cell in enumerate(row["cells"])
                     if i != column and cell["bookings"]]
    assert other_columns == []
    assert name_of(resident) in response.content.decode()
    assert '<th scope="col">' in response.content.decode()
    assert '<th scope="row">' in response.content.decode()


def test_the_calendar_of_another_associations_evse_is_404(board_client, other_station):
    evse = other_station.evses.get()
    assert board_client.get(reverse("portal:bookings_calendar", args=[evse.pk])).status_code == 404


# --- cancelling ---------------------------------------------------------------------------------------------------

def test_the_board_cancels_a_booking_with_a_reason(board_client, station, brf_a):
    booking = book(station, brf_a.residents[0], tomorrow_at(10), tomorrow_at(11))
    response = board_client.post(reverse("portal:bookings_cancel", args=[booking.pk]), {"reason": "Service visit"})
    assert response.status_code == 302
    booking.refresh_from_db()
    assert (booking.status, booking.cancel_reason, booking.cancelled_by) == (
        Booking.Status.CANCELLED, "Service visit", brf_a.board)
    entry = AuditLogEntry.objects.get(action="booking.cancelled")
    assert (entry.actor, entry.reason, entry.organization) == (brf_a.board, "Service visit", brf_a.org)


def test_cancelling_without_a_reason_changes_nothing(board_client, station, brf_a):
    booking = book(station, brf_a.residents[0], tomorrow_at(10), tomorrow_at(11))
    response = board_client.post(reverse("portal:bookings_cancel", args=[booking.pk]), {"reason": ""}, follow=True)
    assert "Say why the booking is cancelled." in response.content.decode()
    booking.refresh_from_db()
    assert booking.status == Booking.Status.BOOKED


def test_a_viewer_cannot_cancel(viewer_client, station, brf_a):
    booking = book(station, brf_a.residents[0], tomorrow_at(10), tomorrow_at(11))
    response = viewer_client.post(reverse("portal:bookings_cancel", args=[booking.pk]), {"reason": "x"})
    assert response.status_code == 403
    booking.refresh_from_db()
    assert booking.status == Booking.Status.BOOKED


def test_another_associations_booking_is_404(board_client, other_station, brf_b):
    booking = book(other_station, brf_b.residents[0], tomorrow_at(10), tomorrow_at(11))
    assert board_client.post(reverse("portal:bookings_cancel", args=[booking.pk]),
                             {"reason": "x"}).status_code == 404
    booking.refresh_from_db()
    assert booking.status == Booking.Status.BOOKED
    assert board_client.get(reverse("portal:bookings")).context["page"].paginator.count == 0


# --- rules --------------------------------------------------------------------------------------------------------

RULES = {"enabled": "on", "max_duration_minutes": "90", "max_active_per_user": "3", "no_show_grace_minutes": "10",
         "max_days_ahead": "7", "reason": "Winter rules"}


def test_the_board_changes_the_booking_rules(board_client, station, brf_a):
    response = board_client.post(reverse("portal:bookings_policy"), RULES)
    assert response.status_code == 302
    policy = BookingPolicy.objects.get(organization=brf_a.org)
    assert (policy.max_duration_minutes, policy.max_active_per_user, policy.no_show_grace_minutes,
            policy.max_days_ahead) == (90, 3, 10, 7)
    entry = AuditLogEntry.objects.get(action="booking_policy.changed")
    assert (entry.actor, entry.reason, entry.organization) == (brf_a.board, "Winter rules", brf_a.org)
    assert entry.changes["max_duration_minutes"] == [180, 90]


def test_the_first_rules_create_the_policy(board_client, brf_a):
    assert board_client.post(reverse("portal:bookings_policy"), RULES).status_code == 302
    assert BookingPolicy.objects.get(organization=brf_a.org).max_days_ahead == 7


def test_rules_out_of_range_and_a_missing_reason_are_form_errors(board_client, station, brf_a):
    response = board_client.post(reverse("portal:bookings_policy"),
                                 {**RULES, "max_duration_minutes": "5", "reason": ""})
    assert response.status_code == 400
    errors = response.context["form"].errors
    assert errors["max_duration_minutes"]
    assert errors["reason"]
    assert BookingPolicy.objects.get(organization=brf_a.org).max_duration_minutes == 180
    assert not AuditLogEntry.objects.filter(action="booking_policy.changed").exists()


def test_a_viewer_cannot_change_the_rules(viewer_client, station, brf_a):
    assert viewer_client.post(reverse("portal:bookings_policy"), RULES).status_code == 403
    assert BookingPolicy.objects.get(organization=brf_a.org).max_duration_minutes == 180


def test_rules_of_one_association_do_not_touch_another(board_client, other_station, brf_b):
    board_client.post(reverse("portal:bookings_policy"), RULES)
    assert BookingPolicy.objects.get(organization=brf_b.org).max_duration_minutes == 240


# --- performance --------------------------------------------------------------------------------------------------

def _count(client, url):
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200
    return len(captured)


def test_list_and_calendar_queries_are_the_same_for_2_and_20_bookings(board_client, station, brf_a):
    evse = station.evses.get(evse_id=1)
    urls = [reverse("portal:bookings"), reverse("portal:bookings") + "?show=all",
            reverse("portal:bookings_calendar", args=[evse.pk]) + "?week="
            + (timezone.localdate() + timedelta(days=1)).isoformat()]

    def add(start, end):
        for n in range(start, end):
            resident = brf_a.residents[n % 2]
            Booking.objects.create(evse=evse, user=resident, starts_at=tomorrow_at(0) + timedelta(minutes=30 * n),
                                   ends_at=tomorrow_at(0) + timedelta(minutes=30 * n + 20))

    add(0, 2)
    few = [_count(board_client, url) for url in urls]
    add(2, 20)
    many = [_count(board_client, url) for url in urls]
    assert few == many
