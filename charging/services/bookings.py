"""Bookings of an EVSE for a time window, and what happens around their windows.

- ``booking_create``: checks the organization's BookingPolicy (enabled, longest booking, active bookings per
  person, how far ahead), that the window lies in the future and that the person may charge at the EVSE then, and
  refuses an overlap with another booking of the EVSE (the EVSE row is locked while checking, so two requests for
  the same slot cannot both win);
- ``booking_cancel``: cancels, then sends CancelReservation if the charger holds a reservation for it;
- ``bookings_run`` (every minute): marks bookings whose booker started charging as fulfilled, releases no-shows
  after the grace period (cancelling their reservation), and sends ReserveNow for windows that have begun, to
  chargers that are connected.

During a window only the booker's tokens are accepted at the EVSE: ``charging.services.authorization`` enforces
that at every Authorize and start, whether or not the charger took the reservation.

Commands to chargers are sent outside any database transaction (the wait would hold SQLite's write lock).
"""

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import IdToken, User
from accounts.services import audit
from charging import commands
from charging.models import Booking, BookingPolicy, ChargingSession, Evse, Reservation
from charging.services import reservations
from charging.services.authorization import AuthStatus, decide

logger = logging.getLogger(__name__)

#: How often ReserveNow is tried for one booking when the charger does not answer.
MAX_RESERVE_ATTEMPTS = 3


def _require_reason(reason: str) -> None:
    if not reason or not reason.strip():
        raise ValidationError({"reason": _("Say why (stored in the audit log).")})


def _local(moment: datetime) -> str:
    return f"{timezone.localtime(moment):%Y-%m-%d %H:%M}"


def _usable_tokens(user: User, id_token: IdToken | None) -> list[IdToken]:
    if id_token is not None:
        return [id_token]
    return list(IdToken.objects.select_related("user", "organization").filter(
        user=user, status=IdToken.Status.ACTIVE).order_by("pk"))


def _charging_refusal(*, evse: Evse, user: User, id_token: IdToken | None, at: datetime) -> str | None:
    """Why ``user`` could not charge at ``evse`` at ``at`` (bookings aside), None when one of their tokens can."""
    if not user.is_active:
        return _("%(user)s's account is deactivated.") % {"user": user}
    candidates = _usable_tokens(user, id_token)
    if not candidates:
        return _("%(user)s has no active charging tag or key.") % {"user": user}
    reasons = []
    for token in candidates:
        status, reason = decide(charge_point=evse.charge_point, token=token, at=at, evse=evse, purpose="start",
                                check_bookings=False)
        if status == AuthStatus.ACCEPTED:
            return None
        reasons.append(f"{token.uid}: {reason}")
    return _("%(user)s may not charge at %(evse)s then (%(why)s).") % {
        "user": user, "evse": evse, "why": "; ".join(reasons)}


@transaction.atomic
def booking_create(*, evse: Evse, user: User, starts_at: datetime, ends_at: datetime,
                   id_token: IdToken | None = None, acting_user: User | None, reason: str, now: datetime) -> Booking:
    """Book ``evse`` for ``user`` from ``starts_at`` to ``ends_at``; ValidationError says what is not allowed."""
    _require_reason(reason)
    # Every booking of this EVSE is checked and written under this lock (SQLite: the write transaction).
    evse = Evse.objects.select_for_update(of=("self",)).select_related("charge_point__organization").get(pk=evse.pk)
    charge_point = evse.charge_point
    organization = charge_point.organization
    policy = BookingPolicy.objects.filter(organization=organization).first()
    if policy is None or not policy.enabled:
        raise ValidationError({"evse": _("%(org)s does not take bookings.") % {"org": organization}})
    if charge_point.is_decommissioned:
        raise ValidationError({"evse": _("The charge point is decommissioned.")})
    if id_token is not None and id_token.user_id != user.pk:
        raise ValidationError({"id_token": _("The tag must be one of %(user)s's.") % {"user": user}})
    errors = {}
    if ends_at <= starts_at:
        errors["ends_at"] = _("The booking must end after it starts.")
    elif ends_at - starts_at > timedelta(minutes=policy.max_duration_minutes):
        errors["ends_at"] = _("A booking may last at most %(minutes)d minutes.") % {
            "minutes": policy.max_duration_minutes}
    if starts_at < now:
        errors["starts_at"] = _("The booking must start in the future.")
    elif starts_at > now + timedelta(days=policy.max_days_ahead):
        errors["starts_at"] = _("Bookings can be made at most %(days)d days ahead.") % {
            "days": policy.max_days_ahead}
    if errors:
        raise ValidationError(errors)
    refusal = _charging_refusal(evse=evse, user=user, id_token=id_token, at=starts_at)
    if refusal is not None:
        raise ValidationError({"user": refusal})
    active = Booking.objects.filter(user=user, status__in=Booking.HOLDING, ends_at__gt=now,
                                    evse__charge_point__organization=organization).count()
    if active >= policy.max_active_per_user:
        raise ValidationError({"user": _("%(user)s already has %(count)d active bookings (at most %(max)d).") % {
            "user": user, "count": active, "max": policy.max_active_per_user}})
    overlap = Booking.objects.filter(evse=evse, status__in=Booking.HOLDING, starts_at__lt=ends_at,
                                     ends_at__gt=starts_at).order_by("starts_at").first()
    if overlap is not None:
        raise ValidationError({"starts_at": _("%(evse)s is already booked from %(start)s to %(end)s.") % {
            "evse": evse, "start": _local(overlap.starts_at), "end": _local(overlap.ends_at)}})
    booking = Booking.objects.create(evse=evse, user=user, id_token=id_token, starts_at=starts_at, ends_at=ends_at,
                                     created_by=acting_user if acting_user is not None and acting_user.pk else None,
                                     created_at=now)
    audit.record(action="booking.created", target=booking, acting_user=acting_user, reason=reason,
                 organization=organization, at=now, changes={
                     "user": (None, user.pk), "starts_at": (None, starts_at.isoformat()),
                     "ends_at": (None, ends_at.isoformat())})
    return booking


@dataclass(frozen=True)
class Cancellation:
    """A cancelled booking and what became of its reservation on the charger: ``released`` None when the charger
    held none, else whether it accepted CancelReservation (``error`` says why not)."""

    booking: Booking
    released: bool | None = None
    error: str = ""


@transaction.atomic
def _cancel_row(*, booking: Booking, status: str, acting_user: User | None, reason: str, now: datetime
                ) -> Booking | None:
    locked = Booking.objects.select_for_update(of=("self",)).select_related("evse__charge_point", "reservation").get(
        pk=booking.pk)
    if locked.status != Booking.Status.BOOKED:
        return None
    old = locked.status
    locked.status, locked.ended_at, locked.cancel_reason = status, now, reason[:500]
    locked.cancelled_by = acting_user if acting_user is not None and acting_user.pk else None
    locked.save(update_fields=["status", "ended_at", "cancel_reason", "cancelled_by"])
    audit.record(action="booking.cancelled" if status == Booking.Status.CANCELLED else "booking.released",
                 target=locked, acting_user=acting_user, reason=reason, at=now,
                 organization=locked.evse.charge_point.organization, changes={"status": (old, status)})
    return locked


def _release_reservation(booking: Booking, *, acting_user: User | None, reason: str) -> Cancellation:
    reservation = booking.reservation
    if reservation is None or reservation.status != Reservation.Status.ACCEPTED:
        return Cancellation(booking=booking)
    try:
        reservations.reservation_cancel(reservation=reservation, acting_user=acting_user, reason=reason)
    except commands.CommandFailed as failure:
        logger.info("Booking %s: CancelReservation not answered: %s", booking.pk, failure)
        return Cancellation(booking=booking, released=False, error=str(failure))
    reservation.refresh_from_db()
    released = reservation.status == Reservation.Status.CANCELLED
    return Cancellation(booking=booking, released=released,
                        error="" if released else _("The charger refused to cancel the reservation."))


def booking_cancel(*, booking: Booking, acting_user: User | None, reason: str, now: datetime) -> Cancellation:
    """Cancel a booking that has not been used or released yet; a reservation the charger holds for it is
    cancelled too (the booking stays cancelled even if the charger cannot be reached)."""
    _require_reason(reason)
    cancelled = _cancel_row(booking=booking, status=Booking.Status.CANCELLED, acting_user=acting_user,
                            reason=reason, now=now)
    if cancelled is None:
        booking.refresh_from_db()
        raise ValidationError(_("Only a booking not yet used or released can be cancelled (this one is %(status)s).")
                              % {"status": booking.get_status_display()})
    return _release_reservation(cancelled, acting_user=acting_user, reason=reason)


# --- Around the windows (the periodic task) -------------------------------------------------------------------

@dataclass(frozen=True)
class BookingsRun:
    fulfilled: int = 0
    released: int = 0
    reserved: int = 0


def _grace(booking: Booking) -> timedelta:
    policy = BookingPolicy.objects.filter(organization_id=booking.evse.charge_point.organization_id).first()
    return timedelta(minutes=policy.no_show_grace_minutes if policy is not None else 0)


def _booker_session(booking: Booking, grace: timedelta) -> ChargingSession | None:
    # A booker who plugs in a little early still counts; only accepted starts do.
    booker = Q(user_id=booking.user_id)
    if booking.id_token_id is not None:
        booker |= Q(id_token_id=booking.id_token_id)
    return ChargingSession.objects.filter(
        booker, evse_id=booking.evse_id, started_at__gte=booking.starts_at - grace, started_at__lt=booking.ends_at,
        authorization_status=AuthStatus.ACCEPTED.value).order_by("started_at").first()


@transaction.atomic
def _fulfil(booking: Booking, session: ChargingSession) -> bool:
    locked = Booking.objects.select_for_update().get(pk=booking.pk)
    if locked.status != Booking.Status.BOOKED:
        return False
    locked.status, locked.session = Booking.Status.FULFILLED, session
    locked.save(update_fields=["status", "session"])
    return True


def _reservation_token(booking: Booking, now: datetime) -> IdToken | None:
    """The tag to hold the EVSE for: the booking's, else the booker's first tag the station accepts."""
    for token in _usable_tokens(booking.user, booking.id_token):
        status, _reason = decide(charge_point=booking.evse.charge_point, token=token, at=now, evse=booking.evse,
                                 purpose="start", check_bookings=False)
        if status == AuthStatus.ACCEPTED:
            return token
    return None


def _reserve(booking: Booking, now: datetime) -> bool:
    """Send ReserveNow for a window that has begun; True when the charger answered (either way)."""
    with transaction.atomic():
        locked = Booking.objects.select_for_update().get(pk=booking.pk)
        if (locked.status != Booking.Status.BOOKED or locked.reservation_id is not None
                or locked.reserve_attempts >= MAX_RESERVE_ATTEMPTS):
            return False
        locked.reserve_attempts += 1
        locked.save(update_fields=["reserve_attempts"])
    token = _reservation_token(booking, now)
    if token is None:
        logger.info("Booking %s: the booker has no tag the station accepts; no ReserveNow", booking.pk)
        return False
    reason = _("Booking #%(id)d") % {"id": booking.pk}
    try:
        reservation = reservations.reservation_create(
            charge_point=booking.evse.charge_point, evse=booking.evse, uid=token.uid, expires_at=booking.ends_at,
            acting_user=None, reason=reason, now=now)
    except commands.CommandFailed as failure:
        logger.info("Booking %s: ReserveNow not answered: %s", booking.pk, failure)
        return False
    except ValidationError as exc:
        logger.info("Booking %s: no ReserveNow: %s", booking.pk, "; ".join(exc.messages))
        return False
    with transaction.atomic():
        Booking.objects.filter(pk=booking.pk, reservation__isnull=True).update(reservation=reservation)
    return True


def bookings_run(*, now: datetime) -> BookingsRun:
    """The minute's work: fulfilled bookings, released no-shows, ReserveNow for windows that have begun."""
    fulfilled = released = reserved = 0
    due = Booking.objects.filter(status=Booking.Status.BOOKED).select_related(
        "evse__charge_point", "user", "id_token", "reservation")
    # Bookings whose window has begun or is about to (the longest grace is four hours).
    # A list, not a cursor: commands are sent in between, and no read should stay open meanwhile.
    for booking in list(due.filter(starts_at__lte=now + timedelta(hours=4)).order_by("starts_at")):
        grace = _grace(booking)
        if booking.starts_at - grace > now:
            continue
        session = _booker_session(booking, grace)
        if session is not None:
            fulfilled += _fulfil(booking, session)
            continue
        if now >= min(booking.starts_at + grace, booking.ends_at):
            if _cancel_row(booking=booking, status=Booking.Status.NO_SHOW, acting_user=None,
                           reason=_("Nobody started charging within %(minutes)d minutes of the start.") % {
                               "minutes": int(grace.total_seconds() // 60)}, now=now) is not None:
                released += 1
                booking.refresh_from_db()
                _release_reservation(booking, acting_user=None, reason=_("Booking released (no-show)"))
            continue
        if booking.starts_at <= now and booking.evse.charge_point.is_connected:
            reserved += _reserve(booking, now)
    return BookingsRun(fulfilled=fulfilled, released=released, reserved=reserved)


#: The BookingPolicy fields a board may change.
POLICY_FIELDS = ("enabled", "max_duration_minutes", "max_active_per_user", "no_show_grace_minutes",
                 "max_days_ahead")


@transaction.atomic
def booking_policy_update(*, organization, values: dict, acting_user: User | None, reason: str) -> BookingPolicy:
    """Change (or create) ``organization``'s booking rules; ValidationError names a value out of range."""
    _require_reason(reason)
    unknown = set(values) - set(POLICY_FIELDS)
    if unknown:
        raise ValidationError(_("Unknown booking rule: %(names)s.") % {"names": ", ".join(sorted(unknown))})
    policy = BookingPolicy.objects.select_for_update().filter(organization=organization).first()
    created = policy is None
    if created:
        policy = BookingPolicy(organization=organization)
    changes = {}
    for field in POLICY_FIELDS:
        if field in values and getattr(policy, field) != values[field]:
            changes[field] = (None if created else getattr(policy, field), values[field])
            setattr(policy, field, values[field])
    if not changes and not created:
        return policy
    policy.full_clean()
    policy.save()
    audit.record(action="booking_policy.changed", target=policy, acting_user=acting_user, reason=reason,
                 organization=organization, changes=changes)
    return policy
