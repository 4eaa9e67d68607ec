"""The board's read-only reports in the portal: utilization heatmap (charge point × month), energy and revenue per
month and per station, the session list with its CSV export, the benefit-tax basis per user, station and month
(with CSV), and error rates with the drivers' average rating per station. The figures come from
charging.selectors.reports, the stations' stored error figures and SessionRating; this module only parses filters,
scopes to the portal's organization and formats."""

from datetime import datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal

from django.core.paginator import Paginator
from django.db.models import Avg, Count
from django.shortcuts import render
from django.utils import timezone
from django.utils.formats import date_format, number_format
from django.utils.translation import gettext as _

from accounts.models import User
from charging.models import ChargePoint, ChargingSession
from charging.selectors import reports as report_selectors
from charging.selectors.sessions import filter_sessions
from csms.api.streaming import csv_response
from csms.portal import charts
from csms.portal.access import BOARD, portal_view
from csms.portal.forms import PER_PAGE
from csms.portal.forms.reports import BenefitForm, MonthRangeForm, SessionFilterForm
from csms.portal.templatetags.portal import kwh, money

MONTHS = 12


def _twelve_months(request) -> tuple[MonthRangeForm, list]:
    form = MonthRangeForm(request.GET or None)
    last = form.last_month()
    if not form.is_bound:  # show the month the report ends in, not an empty picker
        form = MonthRangeForm(initial={"month": last})
    first = last
    for _step in range(MONTHS - 1):
        first = (first - timedelta(days=1)).replace(day=1)
    return form, report_selectors.months_between(first, last)


def _status(form) -> int:
    return 400 if form.is_bound and form.errors else 200


@portal_view(BOARD)
def reports(request):
    return render(request, "portal/reports/index.html", {})


@portal_view(BOARD)
def utilization(request):
    form, months = _twelve_months(request)
    rows = report_selectors.utilization_report(organizations=[request.portal.organization.pk], first=months[0],
                                               last=months[-1], now=timezone.now())
    by_point: dict[int, dict] = {}
    for row in rows:
        entry = by_point.setdefault(row.charge_point_id, {"identity": row.identity, "cells": []})
        entry["cells"].append(row)
    columns = [date_format(month, "M y") for month in months]
    svg = charts.heatmap(
        [(entry["identity"], [charts.Cell(cell.share_percent, number_format(cell.share_percent, 1))
                              for cell in entry["cells"]]) for entry in by_point.values()],
        columns, chart_id="utilization", title=_("Utilization per charge point and month"),
        desc=_("Share of each month in percent that the charge point was occupied; the number is printed in "
               "every cell and the same figures are in the table below."))
    return render(request, "portal/reports/utilization.html",
                  {"form": form, "svg": svg, "columns": columns, "points": list(by_point.values()),
                   "bands": charts.BANDS}, status=_status(form))


def _sek(revenue_list) -> tuple:
    """The SEK revenue of a row (the portal's own currency), other currencies listed apart."""
    sek = next((revenue for revenue in revenue_list if revenue.currency == "SEK"), None)
    return sek, [revenue for revenue in revenue_list if revenue.currency != "SEK"]


@portal_view(BOARD)
def energy(request):
    form, months = _twelve_months(request)
    scope = [request.portal.organization.pk]
    monthly = {row.key: row for row in report_selectors.energy_report(
        organizations=scope, first=months[0], last=months[-1], group_by="month")}
    per_month = []
    for month in months:
        row = monthly.get(month)
        sek, other = _sek(row.revenue if row else [])
        per_month.append({"month": month, "label": date_format(month, "M y"),
                          "energy_wh": row.energy_wh if row else 0, "sessions": row.sessions if row else 0,
                          "sek": sek, "other": other})
    energy_svg = charts.bar_chart(
        [charts.Bar(entry["label"], entry["energy_wh"], kwh(entry["energy_wh"], 0)) for entry in per_month],
        chart_id="energy", title=_("Energy per month (kWh)"),
        desc=_("Energy charged in each of the twelve months in kWh; the figures are also in the table below."))
    revenue_svg = charts.bar_chart(
        [charts.Bar(entry["label"], entry["sek"].incl_vat if entry["sek"] else 0,
                    money(entry["sek"].incl_vat if entry["sek"] else 0)) for entry in per_month],
        chart_id="revenue", title=_("Revenue per month incl. VAT (SEK)"),
        desc=_("Revenue of the priced sessions in each month in SEK incl. VAT; the figures are also in the table "
               "below."))
    stations = report_selectors.energy_report(organizations=scope, first=months[0], last=months[-1],
                                              group_by="station")
    for row in stations:
        row.sek, row.other = _sek(row.revenue)
    return render(request, "portal/reports/energy.html",
                  {"form": form, "per_month": per_month, "stations": stations, "energy_svg": energy_svg,
                   "revenue_svg": revenue_svg, "first": months[0], "last": months[-1]}, status=_status(form))


def _session_filter_form(request) -> SessionFilterForm:
    organization = request.portal.organization
    return SessionFilterForm(
        request.GET or None,
        stations=ChargePoint.objects.filter(organization=organization).order_by("identity"),
        users=User.objects.filter(memberships__organization=organization).distinct().order_by("email"))


def _filtered_sessions(request, form: SessionFilterForm):
    sessions = ChargingSession.objects.filter(organization=request.portal.organization)
    if not (form.is_bound and form.is_valid()):
        return sessions
    data = form.cleaned_data
    zone = timezone.get_current_timezone()
    start = datetime.combine(data["started_from"], time(), zone) if data.get("started_from") else None
    end = (datetime.combine(data["started_to"] + timedelta(days=1), time(), zone) if data.get("started_to")
           else None)
    return filter_sessions(sessions, started_from=start, started_to=end,
                           charge_point=data["station"].pk if data.get("station") else None,
                           user=data["user"].pk if data.get("user") else None,
                           id_token=(data.get("tag") or "").strip() or None, status=data.get("status") or None)


@portal_view(BOARD)
def sessions(request):
    form = _session_filter_form(request)
    rows = (_filtered_sessions(request, form).select_related("charge_point", "evse", "user", "cost")
            .order_by("-started_at", "-pk"))
    page = Paginator(rows, PER_PAGE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    encoded = query.urlencode()
    return render(request, "portal/reports/sessions.html",
                  {"form": form, "page": page, "query": f"{encoded}&" if encoded else "", "filter_query": encoded},
                  status=_status(form))


SESSION_CSV_HEADER = ("id", "station", "evse", "user", "tag_uid", "status", "started_at", "stopped_at", "energy_wh",
                      "stop_reason", "currency", "total_incl_vat", "total_excl_vat")


@portal_view(BOARD)
def sessions_csv(request):
    form = _session_filter_form(request)
    if form.is_bound and not form.is_valid():
        return render(request, "portal/reports/sessions.html",
                      {"form": form, "page": Paginator([], PER_PAGE).get_page(1), "query": "", "filter_query": ""},
                      status=400)
    rows = (_filtered_sessions(request, form).order_by("-started_at", "-pk").values_list(
        "pk", "charge_point__identity", "evse__evse_id", "user__email", "id_token_uid", "status", "started_at",
        "stopped_at", "energy_wh", "stop_reason", "cost__currency", "cost__total_incl_vat", "cost__total_excl_vat"))
    return csv_response(request, filename="sessions.csv", header=SESSION_CSV_HEADER,
                        rows=rows.iterator(chunk_size=2000))


def _benefit(request) -> tuple[BenefitForm, list, object, object]:
    form = BenefitForm(request.GET or None)
    this_month = timezone.localdate().replace(day=1)
    data = form.cleaned_data if form.is_bound and form.is_valid() else {}
    last = (data.get("last") or this_month).replace(day=1)
    first = (data.get("first") or last).replace(day=1)
    rows = [] if form.is_bound and form.errors else report_selectors.benefit_tax_report(
        organizations=[request.portal.organization.pk], first=first, last=last)
    return form, rows, first, last


@portal_view(BOARD)
def benefit(request):
    form, rows, first, last = _benefit(request)
    for row in rows:
        row.sek, row.other = _sek(row.cost)
    query = request.GET.urlencode()
    return render(request, "portal/reports/benefit.html",
                  {"form": form, "rows": rows, "first": first, "last": last, "filter_query": query},
                  status=_status(form))


def _cents(amount) -> Decimal:
    """A summed amount with its two decimals (some databases return a sum of 25.00 as 25)."""
    return Decimal(amount).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


BENEFIT_CSV_HEADER = ("user", "station", "month", "energy_wh", "sessions", "priced_sessions", "currency",
                      "cost_incl_vat", "cost_excl_vat")


@portal_view(BOARD)
def benefit_csv(request):
    form, rows, first, last = _benefit(request)
    if form.is_bound and form.errors:
        return render(request, "portal/reports/benefit.html",
                      {"form": form, "rows": [], "first": first, "last": last, "filter_query": ""}, status=400)

    def lines():
        for row in rows:
            for cost in row.cost or [None]:
                yield (row.user_label, row.identity, f"{row.month:%Y-%m}", row.energy_wh, row.sessions,
                       row.priced_sessions, cost.currency if cost else None, _cents(cost.incl_vat) if cost else None,
                       _cents(cost.excl_vat) if cost else None)

    return csv_response(request, filename=f"benefit-{first:%Y-%m}-{last:%Y-%m}.csv", header=BENEFIT_CSV_HEADER,
                        rows=lines())


@portal_view(BOARD)
def errors(request):
    points = (ChargePoint.objects.filter(organization=request.portal.organization)
              .order_by("-error_rate", "identity", "pk")
              .only("pk", "identity", "display_name", "sessions_30d", "failed_sessions_30d", "error_rate")
              .annotate(rating_average=Avg("sessions__rating__stars"), rating_count=Count("sessions__rating")))
    page = Paginator(points, PER_PAGE).get_page(request.GET.get("page"))
    for point in page:
        point.error_percent = point.error_rate * 100 if point.error_rate is not None else None
    return render(request, "portal/reports/errors.html", {"page": page, "query": ""})
