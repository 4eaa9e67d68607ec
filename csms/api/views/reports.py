"""Connect API reports (read scope): energy and revenue per station, user or month; utilization per charge point per
month; the benefit-tax basis per user per station per month. charging.selectors.reports does the work over the
organizations the caller may see; these views parse the query and format the rows."""

from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import Organization
from charging.selectors.reports import benefit_tax_report, energy_report, utilization_report
from csms.api.authentication import scope_for
from csms.api.serializers.reports import (
    BenefitQuerySerializer,
    BenefitReportSerializer,
    EnergyQuerySerializer,
    EnergyReportSerializer,
    PeriodQuerySerializer,
    UtilizationReportSerializer,
    benefit_row_json,
    energy_row_json,
    utilization_row_json,
)
from csms.api.views import BAD_REQUEST, COMMON_ERRORS, ApiViewMixin


def parse_query(request, serializer_class) -> dict:
    serializer = serializer_class(data=request.query_params)
    if not serializer.is_valid():
        raise exceptions.ValidationError(serializer.errors)
    return serializer.validated_data


def visible_organizations(request):
    return scope_for(request, Organization.objects.all(), "pk")


def energy_rows(request, query: dict):
    filters = {name: query[name] for name in ("charge_point", "location", "user") if name in query}
    return energy_report(organizations=visible_organizations(request), first=query["first"], last=query["last"],
                         group_by=query["group_by"], filters=filters)


def utilization_rows(request, query: dict):
    return utilization_report(organizations=visible_organizations(request), first=query["first"],
                              last=query["last"], now=timezone.now(), charge_point=query.get("charge_point"),
                              location=query.get("location"))


def benefit_rows(request, query: dict):
    return benefit_tax_report(organizations=visible_organizations(request), first=query["first"], last=query["last"],
                              user=query.get("user"), charge_point=query.get("charge_point"))


def _period(query: dict) -> dict:
    return {"period_from": f"{query['first']:%Y-%m}", "period_to": f"{query['last']:%Y-%m}"}


class ReportView(ApiViewMixin, APIView):
    pagination_class = None
    filter_backends = []


class EnergyReportView(ReportView):
    @extend_schema(summary="Energy and revenue per station, user or month", parameters=[EnergyQuerySerializer],
                   description="Finished sessions that started in the months (Europe/Stockholm), revenue from their "
                               "stored prices per currency.",
                   responses={200: EnergyReportSerializer, **COMMON_ERRORS, **BAD_REQUEST})
    def get(self, request):
        query = parse_query(request, EnergyQuerySerializer)
        rows = energy_rows(request, query)
        return Response({"group_by": query["group_by"], **_period(query),
                         "rows": [energy_row_json(row) for row in rows]})


class UtilizationReportView(ReportView):
    @extend_schema(summary="Utilization per charge point per month", parameters=[PeriodQuerySerializer],
                   description="Hours with at least one session charging (clipped to each month), as a share of "
                               "the month's hours. Every charge point gets a row per month.",
                   responses={200: UtilizationReportSerializer, **COMMON_ERRORS, **BAD_REQUEST})
    def get(self, request):
        query = parse_query(request, PeriodQuerySerializer)
        rows = utilization_rows(request, query)
        return Response({**_period(query), "rows": [utilization_row_json(row) for row in rows]})


class BenefitTaxReportView(ReportView):
    @extend_schema(summary="Benefit-tax basis per user per station per month", parameters=[BenefitQuerySerializer],
                   description="What each person charged at the organization's stations (förmånsvärde for company "
                               "cars charged at work): energy and cost per month.",
                   responses={200: BenefitReportSerializer, **COMMON_ERRORS, **BAD_REQUEST})
    def get(self, request):
        query = parse_query(request, BenefitQuerySerializer)
        rows = benefit_rows(request, query)
        return Response({**_period(query), "rows": [benefit_row_json(row) for row in rows]})
