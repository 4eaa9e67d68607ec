"""The board's booking pages: the residents' bookings (paginated, upcoming or all), a week calendar per EVSE as a
table (rows hours, columns days), cancelling a resident's booking with a reason, and the booking rules (admins
change them, viewers look)."""

from datetime import date, datetime, time, timedelta

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from charging.models import Booking, BookingPolicy, Evse
from charging.services.bookings import POLICY_FIELDS, booking_cancel, booking_policy_update
from csms.portal.access import BOARD, portal_view
from csms.portal.forms import PER_PAGE, apply_errors
from csms.portal.forms.bookings import CancelForm, PolicyForm


def _bookings(request):
    return Booking.objects.filter(evse__charge_point__organization=request.portal.organization)


def _evses(request):
    return Evse.objects.filter(charge_point__organization=request.portal.organization)


@portal_view(BOARD)
def bookings(request):
    show_all = request.GET.get("show") == "all"
    rows = _bookings(request).select_related("evse__charge_point", "user", "cancelled_by")
    if show_all:
        rows = rows.order_by("-starts_at", "-pk")
    else:
        rows = rows.filter(ends_at__gt=timezone.now()).order_by("starts_at", "pk")
    page = Paginator(rows, PER_PAGE).get_page(request.GET.get("page"))
    evses = (_evses(request).filter(charge_point__decommissioned_at__isnull=True).select_related("charge_point")
             .order_by("charge_point__display_name", "charge_point__identity", "evse_id"))
    policy = BookingPolicy.objects.filter(organization=request.portal.organization).first()
    return render(request, "portal/bookings/list.html",
                  {"page": page, "show_all": show_all, "evses": evses, "policy": policy,
                   "booked": Booking.Status.BOOKED, "cancel_form": CancelForm()})


def _week_start(raw: str | None) -> date:
    try:
        day = date.fromisoformat(raw) if raw else timezone.localdate()
    except ValueError:
        day = timezone.localdate()
    return day - timedelta(days=day.weekday())


@portal_view(BOARD)
def bookings_calendar(request, evse_pk: int):
    evse = get_object_or_404(_evses(request).select_related("charge_point"), pk=evse_pk)
    monday = _week_start(request.GET.get("week"))
    days = [monday + timedelta(days=offset) for offset in range(7)]
    zone = timezone.get_current_timezone()

    def at(day: date, hour: int) -> datetime:
        return timezone.make_aware(datetime.combine(day, time(hour)), zone)

    week_start, week_end = at(days[0], 0), timezone.make_aware(datetime.combine(days[-1] + timedelta(days=1),
                                                                                time()), zone)
    week = list(Booking.objects.filter(evse=evse, status__in=Booking.HOLDING,
                                       starts_at__lt=week_end, ends_at__gt=week_start)
                .select_related("user").order_by("starts_at"))
    rows = []
    for hour in range(24):
        cells = []
        for day in days:
            start = at(day, hour)
            end = start + timedelta(hours=1)
            cells.append({"day": day, "bookings": [b for b in week if b.starts_at < end and b.ends_at > start]})
        rows.append({"hour": time(hour), "cells": cells})
    return render(request, "portal/bookings/calendar.html",
                  {"evse": evse, "days": days, "rows": rows, "bookings": week,
                   "previous": (monday - timedelta(days=7)).isoformat(),
                   "next": (monday + timedelta(days=7)).isoformat()})


@require_POST
@portal_view(BOARD)
def bookings_cancel(request, pk: int):
    request.portal.require_change()
    booking = get_object_or_404(_bookings(request), pk=pk)
    form = CancelForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Say why the booking is cancelled."))
        return redirect("portal:bookings")
    try:
        result = booking_cancel(booking=booking, acting_user=request.user, reason=form.cleaned_data["reason"],
                                now=timezone.now())
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, _("The booking of %(user)s is cancelled.") % {"user": booking.user})
        if result.error:
            messages.warning(request, result.error)
    return redirect("portal:bookings")


@portal_view(BOARD)
def bookings_policy(request):
    organization = request.portal.organization
    policy = BookingPolicy.objects.filter(organization=organization).first() or BookingPolicy(
        organization=organization)
    form = PolicyForm(request.POST or None, instance=policy)
    if request.method == "POST":
        request.portal.require_change()
        if form.is_valid():
            values = {field: form.cleaned_data[field] for field in POLICY_FIELDS}
            try:
                booking_policy_update(organization=organization, values=values, acting_user=request.user,
                                      reason=form.cleaned_data["reason"])
            except ValidationError as exc:
                apply_errors(form, exc)
            else:
                messages.success(request, _("The booking rules are saved."))
                return redirect("portal:bookings_policy")
    return render(request, "portal/bookings/policy.html",
                  {"form": form, "policy": policy, "exists": policy.pk is not None},
                  status=400 if form.is_bound and form.errors else 200)
