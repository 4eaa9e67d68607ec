"""The board's overview: the organization's stations with live status in plain words, open alarms, today's sessions
and energy (local day), this month's revenue per currency, and the stations' error rates; plus the small JSON
endpoint ``static/portal/live-status.js`` polls to refresh the status cells. Reads only, through the station list's
selectors (``list_page``, ``station_texts``), each in a fixed number of queries."""

from datetime import timedelta

from django.core.paginator import Paginator
from django.db.models import Count, Sum
from django.db.models.functions import Coalesce
from django.http import JsonResponse
from django.shortcuts import render
from django.utils import timezone

from billing.models import SessionCost
from charging.models import Alarm, ChargePoint, ChargingSession
from charging.selectors.station_list import LIVE_STATUS_MAX_IDS, list_page, local_day_start, station_texts
from csms.portal.access import BOARD, portal_view
from csms.portal.forms import PER_PAGE


def organization_stations(organization):
    return (ChargePoint.objects.filter(organization=organization, decommissioned_at__isnull=True)
            .order_by("display_name", "identity", "pk"))


def _month_start(now):
    return local_day_start(now).replace(day=1)


@portal_view(BOARD)
def dashboard(request):
    organization, now = request.portal.organization, timezone.now()
    page = Paginator(organization_stations(organization), PER_PAGE).get_page(request.GET.get("page"))
    stations = list_page(page.object_list)
    rows = [(cp, station_texts(cp, now)) for cp in stations]
    alarms = list(Alarm.objects.filter(charge_point__organization=organization, closed_at__isnull=True)
                  .select_related("charge_point").only("kind", "severity", "message", "opened_at",
                                                       "charge_point__identity", "charge_point__display_name")
                  .order_by("-opened_at")[:PER_PAGE])
    day_start = local_day_start(now)
    today = ChargingSession.objects.filter(organization=organization, started_at__gte=day_start,
                                           started_at__lt=day_start + timedelta(days=1)).aggregate(
        n=Count("pk"), wh=Coalesce(Sum("energy_wh"), 0))
    month_start = _month_start(now)
    revenue = list(SessionCost.objects.filter(session__organization=organization,
                                              session__started_at__gte=month_start, session__started_at__lt=now)
                   .order_by("currency").values("currency").annotate(total=Sum("total_incl_vat"), n=Count("pk")))
    error_rates = list(organization_stations(organization).filter(error_rate__isnull=False, error_rate__gt=0)
                       .only("identity", "display_name", "error_rate").order_by("-error_rate")[:10])
    return render(request, "portal/dashboard.html", {
        "page": page, "rows": rows, "alarms": alarms, "sessions_today": today["n"], "energy_today_wh": today["wh"],
        "day_start": day_start, "month_start": month_start, "revenue": revenue, "error_rates": error_rates,
    })


@portal_view(BOARD)
def dashboard_status(request):
    """``?ids=1,2,3`` → {"stations": {id: {"status", "network", "connected", "open_alarms"}}} for the
    organization's stations among those ids (others are left out, never an error that tells they exist)."""
    try:
        ids = [int(part) for part in request.GET.get("ids", "").split(",") if part.strip()]
    except ValueError:
        return JsonResponse({"error": "ids must be numbers separated by commas"}, status=400)
    if len(ids) > LIVE_STATUS_MAX_IDS:
        return JsonResponse({"error": f"at most {LIVE_STATUS_MAX_IDS} ids"}, status=400)
    now = timezone.now()
    stations = list_page(ChargePoint.objects.filter(organization=request.portal.organization, pk__in=ids)
                         .order_by())
    return JsonResponse({"stations": {str(cp.pk): station_texts(cp, now) for cp in stations}})
