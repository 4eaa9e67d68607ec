"""Reads for the support customer lookup: everything about one person (or one tag nobody owns yet) that the viewer
may see — organizations and roles, tags and why they are blocked, recent sessions, authorization attempts and
reservations and bookings. Every list is tenant-scoped by the station's owner and bounded."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Count, Q, Sum

from accounts.models import IdToken, Membership, User
from accounts.selectors import id_tokens_visible_to, person_memberships_visible_to, person_tokens_visible_to
from accounts.tenancy import scope
from charging.models import AuthorizationAttempt, Booking, ChargingSession, Reservation

#: How far back the sessions and authorization attempts go.
RECENT_DAYS = 30
SESSION_LIMIT = 50
ATTEMPT_LIMIT = 50
RESERVATION_LIMIT = 20


@dataclass(frozen=True)
class CustomerOverview:
    person: User | None
    memberships: list[Membership]
    tokens: list[IdToken]
    sessions: list[ChargingSession]
    session_count: int
    energy_wh: int
    attempts: list[AuthorizationAttempt]
    reservations: list[Reservation]
    bookings: list[Booking]
    since: datetime

    @property
    def energy_kwh(self) -> str:
        return f"{self.energy_wh / 1000:.2f}"


def _overview(viewer, *, person: User | None, tokens: list[IdToken], session_filter: Q, token_filter: Q,
              booking_filter: Q, now: datetime) -> CustomerOverview:
    since = now - timedelta(days=RECENT_DAYS)
    sessions = scope(ChargingSession.objects.filter(session_filter, started_at__gte=since), viewer)
    totals = sessions.aggregate(count=Count("pk"), energy=Sum("energy_wh"))
    attempts = scope(AuthorizationAttempt.objects.filter(token_filter, at__gte=since), viewer,
                     "charge_point__organization")
    reservations = scope(Reservation.objects.filter(token_filter), viewer, "charge_point__organization")
    bookings = scope(Booking.objects.filter(booking_filter), viewer, "evse__charge_point__organization")
    return CustomerOverview(
        person=person,
        memberships=list(person_memberships_visible_to(viewer, person)) if person is not None else [],
        tokens=tokens,
        sessions=list(sessions.select_related("charge_point", "evse", "id_token").order_by("-started_at")
                      [:SESSION_LIMIT]),
        session_count=totals["count"] or 0,
        energy_wh=totals["energy"] or 0,
        attempts=list(attempts.select_related("charge_point", "evse").order_by("-at", "-pk")[:ATTEMPT_LIMIT]),
        reservations=list(reservations.select_related("charge_point", "evse").order_by("-created_at", "-pk")
                          [:RESERVATION_LIMIT]),
        bookings=list(bookings.select_related("evse__charge_point").order_by("-starts_at", "-pk")[:RESERVATION_LIMIT]),
        since=since,
    )


def customer_overview(viewer, *, person: User, now: datetime) -> CustomerOverview:
    """One person as ``viewer`` may see them. The caller has found ``person`` through
    accounts.selectors.person_visible_to; sessions, attempts and reservations are those at stations the viewer
    may see, with any of the person's tags (or as the session's driver)."""
    own_uids = IdToken.objects.filter(user=person).values("uid")
    return _overview(
        viewer, person=person, tokens=list(person_tokens_visible_to(viewer, person)),
        session_filter=Q(user=person) | Q(id_token__user=person),
        token_filter=Q(id_token__user=person) | Q(id_token_uid__in=own_uids), booking_filter=Q(user=person), now=now)


def token_visible_to(viewer, token_id) -> IdToken | None:
    """A tag, if ``viewer`` may see it."""
    return id_tokens_visible_to(viewer).filter(pk=token_id).select_related("blocked_by").first()


def token_overview(viewer, *, token: IdToken, now: datetime) -> CustomerOverview:
    """A tag without a person: its sessions, attempts and reservations at stations ``viewer`` may see."""
    return _overview(viewer, person=None, tokens=[token],
                     session_filter=Q(id_token=token) | Q(id_token_uid=token.uid),
                     token_filter=Q(id_token=token) | Q(id_token_uid=token.uid), booking_filter=Q(id_token=token),
                     now=now)
