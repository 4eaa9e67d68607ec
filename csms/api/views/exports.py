"""Streamed Connect API exports: sessions (CSV and a JSON array), invoices (CSV) and the reports (CSV). Rows come
from a server-side iterator (values_list(...).iterator(chunk_size=2000)) through csms.api.streaming, so an export of
a million sessions is written chunk by chunk in bounded memory. Same tenant scope and filters as the lists."""

from django.conf import settings
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, serializers
from rest_framework.renderers import JSONRenderer
from rest_framework.views import APIView

from accounts.models import ApiKey
from billing.models import Invoice
from charging.models import ChargingSession
from charging.selectors.sessions import with_current_energy
from csms.api.authentication import scope_for
from csms.api.serializers.reports import (
    BENEFIT_CSV_HEADER,
    ENERGY_CSV_HEADER,
    UTILIZATION_CSV_HEADER,
    BenefitQuerySerializer,
    EnergyQuerySerializer,
    PeriodQuerySerializer,
    benefit_csv_rows,
    energy_csv_rows,
    utilization_csv_rows,
)
from csms.api.streaming import csv_response, json_response
from csms.api.views import BAD_REQUEST, COMMON_ERRORS, ApiViewMixin
from csms.api.views.billing import InvoiceFilter, invoices_for
from csms.api.views.reports import benefit_rows, energy_rows, parse_query, utilization_rows
from csms.api.views.sessions import filtered_sessions

CHUNK_SIZE = 2000

#: (column in the export, ORM path) of a session row.
SESSION_COLUMNS = [
    ("id", "pk"), ("transaction_id", "transaction_id"), ("organization", "organization_id"),
    ("charge_point", "charge_point_id"), ("charge_point_identity", "charge_point__identity"), ("evse", "evse_id"),
    ("evse_number", "evse__evse_id"), ("status", "status"), ("started_at", "started_at"),
    ("stopped_at", "stopped_at"), ("energy_wh", "current_energy_wh"), ("stop_reason", "stop_reason"),
    ("id_token_uid", "id_token_uid"), ("user", "user_id"), ("auth_source", "auth_source"),
    ("roaming_party", "roaming_party"), ("cost_currency", "cost__currency"), ("cost_amount", "cost__total_incl_vat"),
    ("cost_vat_amount", "cost__total_vat"),
]
INVOICE_COLUMNS = [
    ("id", "pk"), ("series_prefix", "series__prefix"), ("number", "number"), ("kind", "kind"),
    ("purpose", "purpose"), ("status", "status"), ("organization", "organization_id"), ("buyer", "buyer_id"),
    ("buyer_email", "buyer__email"), ("period_start", "period_start"), ("period_end", "period_end"),
    ("issue_date", "issue_date"), ("due_date", "due_date"), ("currency", "currency"), ("taxable", "taxable"),
    ("vat", "vat"), ("total", "total"), ("rounding", "rounding"), ("amount_paid", "amount_paid"), ("ocr", "ocr"),
]
INVOICE_HEADER = ["id", "number", *[name for name, _path in INVOICE_COLUMNS[3:]]]

#: The list filters, documented for these plain views (the list endpoints get them from their filtersets).
SESSION_PARAMETERS = [
    OpenApiParameter("started_from", OpenApiTypes.DATETIME, description="Started at or after (ISO 8601 with "
                                                                        "offset)."),
    OpenApiParameter("started_to", OpenApiTypes.DATETIME, description="Started before (ISO 8601 with offset)."),
    *[OpenApiParameter(name, OpenApiTypes.INT64, description=f"The {name.replace('_', ' ')}'s database id.")
      for name in ("charge_point", "location", "evse", "user")],
    OpenApiParameter("id_token", OpenApiTypes.STR, description="A token uid in any spelling, or the token's "
                                                               "database id."),
    OpenApiParameter("status", OpenApiTypes.STR, enum=ChargingSession.Status.values),
]
INVOICE_PARAMETERS = [
    OpenApiParameter("kind", OpenApiTypes.STR, enum=Invoice.Kind.values),
    OpenApiParameter("status", OpenApiTypes.STR, enum=Invoice.Status.values),
    OpenApiParameter("purpose", OpenApiTypes.STR, enum=Invoice.Purpose.values),
    OpenApiParameter("issued_from", OpenApiTypes.DATE, description="Issued on or after."),
    OpenApiParameter("issued_to", OpenApiTypes.DATE, description="Issued on or before."),
    OpenApiParameter("buyer", OpenApiTypes.INT64, description="The buyer's user id."),
    OpenApiParameter("organization", OpenApiTypes.INT64),
    OpenApiParameter("overdue", OpenApiTypes.BOOL),
]


class SessionExportRowSerializer(serializers.Serializer):
    """One element of the sessions JSON export (the CSV has the same columns)."""

    id = serializers.IntegerField()
    transaction_id = serializers.CharField(help_text="The OCPP transactionId as the charger had it.")
    organization = serializers.IntegerField()
    charge_point = serializers.IntegerField()
    charge_point_identity = serializers.CharField()
    evse = serializers.IntegerField()
    evse_number = serializers.IntegerField()
    status = serializers.CharField()
    started_at = serializers.DateTimeField()
    stopped_at = serializers.DateTimeField(allow_null=True)
    energy_wh = serializers.IntegerField(help_text="So far, for an active session.")
    stop_reason = serializers.CharField()
    id_token_uid = serializers.CharField()
    user = serializers.IntegerField(allow_null=True)
    auth_source = serializers.CharField()
    roaming_party = serializers.CharField()
    cost_currency = serializers.CharField(allow_null=True, help_text="Null until the stopped session is priced.")
    cost_amount = serializers.CharField(allow_null=True, help_text="Incl. VAT, two decimals.")
    cost_vat_amount = serializers.CharField(allow_null=True)


def _csv_ok(description: str) -> dict:
    return {(200, "text/csv"): OpenApiResponse(OpenApiTypes.STR, description=description),
            **COMMON_ERRORS, **BAD_REQUEST}


class ExportView(ApiViewMixin, APIView):
    pagination_class = None
    filter_backends = []

    def perform_content_negotiation(self, request, force=False):
        # The download itself is not rendered by DRF; errors are always JSON, whatever the Accept header asked.
        return JSONRenderer(), JSONRenderer.media_type


def session_rows(request):
    queryset = filtered_sessions(request, with_current_energy(scope_for(request, ChargingSession.objects.all())))
    return queryset.order_by("pk").values_list(*[path for _name, path in SESSION_COLUMNS]).iterator(
        chunk_size=CHUNK_SIZE)


class SessionsCsvExportView(ExportView):
    @extend_schema(summary="Export sessions as CSV (streamed)", filters=False,
                   parameters=SESSION_PARAMETERS,
                   responses=_csv_ok("UTF-8 CSV with a header row, one line per session, oldest first."))
    def get(self, request):
        rows = session_rows(request)
        return csv_response(request, filename="sessions.csv", header=[name for name, _path in SESSION_COLUMNS],
                            rows=rows)


class SessionsJsonExportView(ExportView):
    @extend_schema(summary="Export sessions as a JSON array (streamed)", filters=False,
                   parameters=SESSION_PARAMETERS,
                   responses={(200, "application/json"): SessionExportRowSerializer(many=True),
                              **COMMON_ERRORS, **BAD_REQUEST})
    def get(self, request):
        names = [name for name, _path in SESSION_COLUMNS]
        rows = session_rows(request)
        return json_response(request, filename="sessions.json",
                             objects=(dict(zip(names, row, strict=True)) for row in rows))


def _invoice_number(prefix: str | None, number: int | None) -> str:
    if number is None:
        return ""
    return f"{prefix}{number:0{settings.INVOICE_NUMBER_WIDTH}d}"


class InvoicesCsvExportView(ExportView):
    required_scope = ApiKey.Scope.BILLING

    @extend_schema(summary="Export invoices as CSV (streamed)", description="Needs the `billing` scope.",
                   filters=False, parameters=INVOICE_PARAMETERS,
                   responses=_csv_ok("UTF-8 CSV with a header row, one line per invoice."))
    def get(self, request):
        filterset = InvoiceFilter(request.query_params, queryset=invoices_for(request), request=request)
        if not filterset.is_valid():
            raise exceptions.ValidationError(filterset.errors)
        queryset = filterset.qs.prefetch_related(None).order_by("pk")
        values = queryset.values_list(*[path for _name, path in INVOICE_COLUMNS]).iterator(chunk_size=CHUNK_SIZE)
        rows = ([row[0], _invoice_number(row[1], row[2]), *row[3:]] for row in values)
        return csv_response(request, filename="invoices.csv", header=INVOICE_HEADER, rows=rows)


class EnergyReportCsvExportView(ExportView):
    @extend_schema(summary="Export the energy report as CSV", parameters=[EnergyQuerySerializer],
                   responses=_csv_ok("One line per group and currency (a second currency's line leaves energy and "
                                     "sessions empty)."))
    def get(self, request):
        query = parse_query(request, EnergyQuerySerializer)
        return csv_response(request, filename="energy-report.csv", header=ENERGY_CSV_HEADER,
                            rows=energy_csv_rows(energy_rows(request, query)))


class UtilizationReportCsvExportView(ExportView):
    @extend_schema(summary="Export the utilization report as CSV", parameters=[PeriodQuerySerializer],
                   responses=_csv_ok("One line per charge point and month."))
    def get(self, request):
        query = parse_query(request, PeriodQuerySerializer)
        return csv_response(request, filename="utilization-report.csv", header=UTILIZATION_CSV_HEADER,
                            rows=utilization_csv_rows(utilization_rows(request, query)))


class BenefitTaxReportCsvExportView(ExportView):
    @extend_schema(summary="Export the benefit-tax report as CSV", parameters=[BenefitQuerySerializer],
                   responses=_csv_ok("One line per user, station, month and currency."))
    def get(self, request):
        query = parse_query(request, BenefitQuerySerializer)
        return csv_response(request, filename="benefit-tax-report.csv", header=BENEFIT_CSV_HEADER,
                            rows=benefit_csv_rows(benefit_rows(request, query)))
