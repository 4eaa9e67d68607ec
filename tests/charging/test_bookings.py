"""Bookings: the policy's limits, no overlaps per EVSE, only the booker charging during the window, cancelling,
no-show release, fulfilment and ReserveNow only to connected chargers (the command itself is exercised against
the live server in tests/conformance/test_access_control.py), and the booking pages of the admin."""

from datetime import UTC, datetime, timedelta

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from accounts.models import AuditLogEntry
from accounts.services.groups import user_group_add_members
from accounts.services.users import user_set_active
from charging.access import AccessMode
from charging.models import Booking, BookingPolicy, ChargePoint, RemoteCommand, Reservation
from charging.services import access as access_services
from charging.services import stations
from charging.services.authorization import AuthStatus, authorize
from charging.services.bookings import booking_cancel, booking_create, bookings_run
from charging.services.sessions import start_session
from tests.accounts.factories import IdTokenFactory, MembershipFactory

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 18, 12, 0, tzinfo=UTC)  # a Wednesday, 13:00 in Stockholm
HOUR = timedelta(hours=1)


@pytest.fixture
def station(brf_a):
    BookingPolicy.objects.create(organization=brf_a.org)  # 4 h, 2 active, 15 min grace, 14 days ahead
    return stations.charge_point_register(identity="BOOK-1", organization=brf_a.org, evses=2, acting_user=None,
                                          reason="test")


def evse(station, number=1):
    return station.evses.get(evse_id=number)


def book(station, user, start, *, length=HOUR, number=1, now=NOW, **kwargs):
    return booking_create(evse=evse(station, number), user=user, starts_at=start, ends_at=start + length,
                          acting_user=user, reason="Booked in the portal", now=now, **kwargs)


def refusal(call) -> dict:
    with pytest.raises(ValidationError) as caught:
        call()
    return caught.value.message_dict


def start_by(station, token, at, number=1):
    return start_session(charge_point=station, evse=evse(station, number), uid=token.uid, meter_start_wh=0,
                         started_at=at)


def test_a_resident_books_an_evse(station, brf_a):
    booking = book(station, brf_a.residents[0], NOW + HOUR)
    assert (booking.status, booking.starts_at, booking.ends_at) == (Booking.Status.BOOKED, NOW + HOUR, NOW + 2 * HOUR)
    entry = AuditLogEntry.objects.get(action="booking.created")
    assert (entry.actor, entry.organization, entry.reason) == (brf_a.residents[0], brf_a.org, "Booked in the portal")


def test_bookings_of_one_evse_never_overlap(station, brf_a):
    first, second = brf_a.residents
    book(station, first, NOW + HOUR)
    errors = refusal(lambda: book(station, second, NOW + 1.5 * HOUR))
    assert errors == {"starts_at": [f"{evse(station)} is already booked from 2026-11-18 14:00 to 2026-11-18 15:00."]}
    assert book(station, second, NOW + 2 * HOUR).starts_at == NOW + 2 * HOUR  # right after: fine
    assert book(station, second, NOW + 1.5 * HOUR, number=2).evse.evse_id == 2  # the other EVSE: fine
    assert Booking.objects.count() == 3


def test_a_cancelled_booking_frees_its_slot(station, brf_a):
    first, second = brf_a.residents
    booking = book(station, first, NOW + HOUR)
    result = booking_cancel(booking=booking, acting_user=first, reason="Plans changed", now=NOW)
    assert (result.booking.status, result.released) == (Booking.Status.CANCELLED, None)
    assert AuditLogEntry.objects.get(action="booking.cancelled").reason == "Plans changed"
    assert book(station, second, NOW + HOUR).user == second
    with pytest.raises(ValidationError, match="not yet used or released"):
        booking_cancel(booking=booking, acting_user=first, reason="Again", now=NOW)


@pytest.mark.parametrize(("start", "length", "field", "message"), [
    (NOW + HOUR, timedelta(hours=4, minutes=1), "ends_at", "at most 240 minutes"),
    (NOW - timedelta(minutes=1), HOUR, "starts_at", "must start in the future"),
    (NOW + timedelta(days=14, minutes=1), HOUR, "starts_at", "at most 14 days ahead"),
    (NOW + HOUR, timedelta(0), "ends_at", "must end after it starts"),
], ids=["too-long", "in-the-past", "too-far-ahead", "empty-window"])
def test_the_policy_limits_each_booking(station, brf_a, start, length, field, message):
    errors = refusal(lambda: book(station, brf_a.residents[0], start, length=length))
    assert message in " ".join(errors[field])
    assert not Booking.objects.exists()


def test_a_person_has_at_most_the_policys_active_bookings(station, brf_a):
    resident = brf_a.residents[0]
    first = book(station, resident, NOW + HOUR)
    book(station, resident, NOW + 3 * HOUR)
    assert "already has 2 active bookings" in refusal(lambda: book(station, resident, NOW + 5 * HOUR))["user"][0]
    booking_cancel(booking=first, acting_user=resident, reason="Not needed", now=NOW)
    assert book(station, resident, NOW + 5 * HOUR).status == Booking.Status.BOOKED
    # A booking whose window is over no longer counts.
    later = NOW + 3 * HOUR + timedelta(minutes=61)
    assert book(station, resident, later + 5 * HOUR, now=later).status == Booking.Status.BOOKED


def test_without_an_enabled_policy_nothing_can_be_booked(station, brf_a):
    BookingPolicy.objects.filter(organization=brf_a.org).update(enabled=False)
    assert "does not take bookings" in refusal(lambda: book(station, brf_a.residents[0], NOW + HOUR))["evse"][0]
    BookingPolicy.objects.all().delete()
    assert "does not take bookings" in refusal(lambda: book(station, brf_a.residents[0], NOW + HOUR))["evse"][0]


def test_only_people_allowed_at_the_station_may_book(station, brf_a, brf_b):
    foreign = refusal(lambda: book(station, brf_b.residents[0], NOW + HOUR))["user"][0]
    assert "may not charge at" in foreign
    assert "Private station: token of another organization" in foreign
    member, outsider = brf_a.residents
    user_group_add_members(group=brf_a.group, users=[member], acting_user=None, reason="test")
    access_services.charge_point_access_set(charge_point=station, mode=AccessMode.PRIVATE, rules=(),
                                            allowed_groups=[brf_a.group], acting_user=None, reason="test", now=NOW)
    assert "allowed user groups" in refusal(lambda: book(station, outsider, NOW + HOUR))["user"][0]
    assert book(station, member, NOW + HOUR).user == member
    tagless = MembershipFactory(organization=brf_a.org).user
    assert "no active charging tag" in refusal(lambda: book(station, tagless, NOW + 3 * HOUR))["user"][0]
    user_set_active(user=member, active=False, acting_user=brf_a.board, reason="Moved out")
    assert "deactivated" in refusal(lambda: book(station, member, NOW + 3 * HOUR))["user"][0]


def test_the_booking_tag_must_be_the_bookers(station, brf_a):
    errors = refusal(lambda: book(station, brf_a.residents[0], NOW + HOUR, id_token=brf_a.tokens[1]))
    assert list(errors) == ["id_token"]


def test_during_the_window_only_the_booker_charges_at_that_evse(station, brf_a):
    booker, other = brf_a.residents
    booker_tag, other_tag = brf_a.tokens
    book(station, booker, NOW + HOUR)
    during = NOW + 1.5 * HOUR

    def answer(token, at=during, number=1, purpose="start"):
        return authorize(charge_point=station, uid=token.uid, at=at, purpose=purpose, evse=evse(station, number))

    refused = answer(other_tag)
    assert (refused.status, refused.reason) == (AuthStatus.NOT_AT_THIS_TIME,
                                                "EVSE 1 is booked by someone else until 15:00")
    assert station.authorization_attempts.get(id_token_uid=other_tag.uid).reason == refused.reason
    assert answer(booker_tag).status == AuthStatus.ACCEPTED
    second_tag = IdTokenFactory(organization=brf_a.org, user=booker)
    assert answer(second_tag).status == AuthStatus.ACCEPTED  # any of the booker's tags
    assert answer(other_tag, number=2).status == AuthStatus.ACCEPTED  # the other EVSE is free
    assert answer(other_tag, at=NOW + 2 * HOUR).status == AuthStatus.ACCEPTED  # the window is over
    assert answer(other_tag, at=NOW + 0.5 * HOUR).status == AuthStatus.ACCEPTED  # not begun yet
    # Authorize names no EVSE: accepted while another EVSE is free, refused when the only one is booked.
    assert authorize(charge_point=station, uid=other_tag.uid, at=during, purpose="authorize").accepted
    single = stations.charge_point_register(identity="BOOK-2", organization=brf_a.org, evses=1, acting_user=None,
                                            reason="test")
    book(single, booker, NOW + HOUR)
    assert authorize(charge_point=single, uid=other_tag.uid, at=during, purpose="authorize").status == (
        AuthStatus.NOT_AT_THIS_TIME)
    # Stopping a charge is never refused for a booking.
    assert authorize(charge_point=station, uid=other_tag.uid, at=during, purpose="stop",
                     evse=evse(station)).accepted


def test_a_no_show_is_released_after_the_grace_period(station, brf_a):
    booker, other = brf_a.residents
    booking = book(station, booker, NOW + HOUR)
    assert bookings_run(now=NOW + HOUR + timedelta(minutes=14)).released == 0
    assert bookings_run(now=NOW + HOUR + timedelta(minutes=15)).released == 1
    booking.refresh_from_db()
    assert (booking.status, booking.ended_at) == (Booking.Status.NO_SHOW, NOW + HOUR + timedelta(minutes=15))
    assert AuditLogEntry.objects.get(action="booking.released").actor is None
    assert authorize(charge_point=station, uid=brf_a.tokens[1].uid, at=NOW + 1.5 * HOUR, purpose="start",
                     evse=evse(station)).accepted


def test_the_bookers_session_fulfils_the_booking_even_if_started_a_little_early(station, brf_a):
    booking = book(station, brf_a.residents[0], NOW + HOUR)
    other = book(station, brf_a.residents[1], NOW + HOUR, number=2)
    session = start_by(station, brf_a.tokens[0], NOW + HOUR - timedelta(minutes=10))
    assert session.authorization.accepted
    # Someone else's refused start on the other EVSE fulfils nothing.
    assert not start_by(station, brf_a.tokens[0], NOW + HOUR + timedelta(minutes=2), number=2).authorization.accepted
    result = bookings_run(now=NOW + HOUR + timedelta(minutes=20))
    assert (result.fulfilled, result.released) == (1, 1)
    booking.refresh_from_db()
    other.refresh_from_db()
    assert (booking.status, booking.session) == (Booking.Status.FULFILLED, session.session)
    assert other.status == Booking.Status.NO_SHOW


def test_reserve_now_waits_for_a_connected_charger(station, brf_a, settings):
    booking = book(station, brf_a.residents[0], NOW + HOUR)
    assert bookings_run(now=NOW + HOUR).reserved == 0  # offline: nothing sent
    booking.refresh_from_db()
    assert (booking.reserve_attempts, booking.reservation) == (0, None)
    assert not RemoteCommand.objects.exists()
    # Marked connected, but no server process holds its socket: the attempt is counted, nothing is linked.
    ChargePoint.objects.filter(pk=station.pk).update(is_connected=True)
    settings.OCPP_DEFAULT_COMMAND_TIMEOUT = 0.1
    assert bookings_run(now=NOW + HOUR + timedelta(minutes=1)).reserved == 0
    booking.refresh_from_db()
    assert (booking.reserve_attempts, booking.reservation) == (1, None)
    command = RemoteCommand.objects.get()
    assert (command.action, command.status, command.payload["idTag"]) == (
        "ReserveNow", RemoteCommand.Status.OFFLINE, brf_a.tokens[0].uid)
    assert Reservation.objects.get().status == Reservation.Status.REJECTED


# --- The admin ---------------------------------------------------------------------------------------------------

def _local(moment):
    local = timezone.localtime(moment)
    return f"{local:%Y-%m-%d}", f"{local:%H:%M}"


def test_a_board_books_for_a_resident_in_the_admin_and_cancels_with_a_reason(client, station, brf_a, brf_b):
    client.force_login(brf_a.board)
    add = reverse("admin:charging_booking_add")
    assert client.get(add).status_code == 200
    start = timezone.now().replace(microsecond=0, second=0) + timedelta(days=1)
    data = {"evse": str(evse(station).pk), "user": str(brf_a.residents[0].pk), "id_token": "",
            "starts_at_0": _local(start)[0], "starts_at_1": _local(start)[1],
            "ends_at_0": _local(start + HOUR)[0], "ends_at_1": _local(start + HOUR)[1],
            "change_reason": "Asked by phone"}
    response = client.post(add, data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    booking = Booking.objects.get()
    assert (booking.user, booking.starts_at, booking.created_by) == (brf_a.residents[0], start, brf_a.board)
    clash = client.post(add, {**data, "user": str(brf_a.residents[1].pk)})
    assert clash.status_code == 200
    assert "already booked" in " ".join(clash.context["adminform"].form.errors["starts_at"])
    assert Booking.objects.count() == 1
    foreign = client.post(add, {**data, "user": str(brf_b.residents[0].pk)})
    assert "user" in foreign.context["adminform"].form.errors  # another organization's people are not offered
    changelist = reverse("admin:charging_booking_changelist")
    done = client.post(changelist, {"action": "cancel_bookings", "_selected_action": [str(booking.pk)],
                                    "apply": "1", "reason": "Resident called back"})
    assert done.status_code == 302
    booking.refresh_from_db()
    assert (booking.status, booking.cancel_reason, booking.cancelled_by) == (
        Booking.Status.CANCELLED, "Resident called back", brf_a.board)


def test_another_board_does_not_see_the_booking(client, station, brf_a, brf_b):
    booking = book(station, brf_a.residents[0], NOW + HOUR)
    client.force_login(brf_b.board)
    listing = client.get(reverse("admin:charging_booking_changelist"))
    assert listing.status_code == 200
    assert listing.context["cl"].result_count == 0
    assert client.get(reverse("admin:charging_booking_change", args=[booking.pk])).status_code == 302
    client.force_login(brf_a.board)
    page = client.get(reverse("admin:charging_booking_change", args=[booking.pk]))
    assert page.status_code == 200
    assert 'name="change_reason"' not in page.content.decode()  # bookings are read-only once made


def test_a_board_keeps_its_booking_policy(client, brf_a):
    client.force_login(brf_a.board)
    response = client.post(reverse("admin:charging_bookingpolicy_add"), {
        "organization": str(brf_a.org.pk), "enabled": "on", "max_duration_minutes": "180",
        "max_active_per_user": "1", "no_show_grace_minutes": "10", "max_days_ahead": "7",
        "change_reason": "Board meeting"})
    assert response.status_code == 302, response.context["adminform"].form.errors
    policy = BookingPolicy.objects.get(organization=brf_a.org)
    assert (policy.max_duration_minutes, policy.max_active_per_user) == (180, 1)
    assert AuditLogEntry.objects.filter(target_id=str(policy.pk), reason="Board meeting").exists()
