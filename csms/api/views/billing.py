"""Read-only Connect API endpoints for invoices and credit notes (with their dunning state and PDF), payments, and
self-billing statements with their payouts (and PDF). API keys need the ``billing`` scope.

Who sees what: an API key its organization's documents (the operator's keys all); board admins and viewers their
associations' documents, as in the billing admin; a resident signed in to the portal only the invoices they are the
buyer of and their own payments. Drafts (no number yet) are the operator's alone. Every queryset is narrowed before
anything else, so another organization's id answers 404 like one that never existed.
"""

from decimal import Decimal

import django_filters
from django.db.models import DecimalField, Exists, Max, OuterRef, Prefetch, Q, Subquery, Sum, Value
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_field, extend_schema_view
from rest_framework import viewsets
from rest_framework.decorators import action
from rest_framework.renderers import BaseRenderer, JSONRenderer

from accounts.models import ApiKey, User
from billing.admin_documents import stored_file_response
from billing.models import Invoice, InvoiceLine, Payment, Payout, Reminder, Statement
from billing.services import dunning
from csms.api.authentication import is_operator_caller, scope_for
from csms.api.fields import IdFilter, InstantFilter, strict_boolean
from csms.api.serializers.billing import (
    InvoiceSerializer,
    PaymentSerializer,
    StatementSerializer,
)
from csms.api.views import COMMON_ERRORS, LIST_ERRORS, NOT_FOUND, ApiViewMixin

BLOCKING_LEVEL = 3
PDF_RESPONSES = {
    (200, "application/pdf"): OpenApiResponse(OpenApiTypes.BINARY, description="The stored PDF."),
    **COMMON_ERRORS,
    404: OpenApiResponse(NOT_FOUND[404].response, description="No such document, not yours, or no PDF stored yet."),
}


class PdfRenderer(BaseRenderer):
    """Lets a client send ``Accept: application/pdf`` for a document download (which answers with the stored file
    itself); an error answer still goes out as JSON in the error shape."""

    media_type = "application/pdf"
    format = "pdf"
    charset = None
    render_style = "binary"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        response = (renderer_context or {}).get("response")
        if response is not None:
            response["Content-Type"] = "application/json"
        return JSONRenderer().render(data)


class BillingViewMixin(ApiViewMixin):
    required_scope = ApiKey.Scope.BILLING

    def _person(self) -> User | None:
        """The signed-in person (session auth), None for an API key."""
        return self.request.user if isinstance(self.request.user, User) else None


# --- Invoices --------------------------------------------------------------------------------------------------------
class InvoiceFilter(django_filters.FilterSet):
    kind = django_filters.ChoiceFilter(choices=Invoice.Kind.choices)
    status = django_filters.ChoiceFilter(choices=Invoice.Status.choices)
    purpose = django_filters.ChoiceFilter(choices=Invoice.Purpose.choices)
    issued_from = django_filters.DateFilter(field_name="issue_date", lookup_expr="gte",
                                            help_text=_("Issued on or after this date (YYYY-MM-DD)."))
    issued_to = django_filters.DateFilter(field_name="issue_date", lookup_expr="lte",
                                          help_text=_("Issued on or before this date (YYYY-MM-DD)."))
    buyer = IdFilter(field_name="buyer_id", help_text=_("The buyer's user id."))
    organization = IdFilter(field_name="organization_id")
    overdue = strict_boolean(method="filter_overdue",
                             help_text=_("Overdue as dunning counts it: issued, due date passed, not covered by "
                                         "payments."))

    class Meta:
        model = Invoice
        fields = ["kind", "status", "purpose", "issued_from", "issued_to", "buyer", "organization", "overdue"]

    @extend_schema_field(OpenApiTypes.BOOL)
    def filter_overdue(self, queryset, name, value):
        overdue = dunning.overdue_invoices(today=timezone.localdate()).values("pk")
        return queryset.filter(pk__in=overdue) if value else queryset.exclude(pk__in=overdue)


def invoices_for(request):
    """The invoices the caller may see, annotated with what the serializer shows (payments and dunning)."""
    queryset = Invoice.objects.all()
    scoped = scope_for(request, queryset)
    if isinstance(request.user, User):
        # A resident manages no organization; their own invoices are theirs to see all the same.
        scoped = queryset.filter(Q(pk__in=scoped.values("pk")) | Q(buyer=request.user))
    if not is_operator_caller(request):
        scoped = scoped.exclude(status=Invoice.Status.DRAFT)
    paid = (Payment.objects.filter(invoice=OuterRef("pk")).order_by().values("invoice")
            .annotate(total=Sum("applied")).values("total"))
    reminders = Reminder.objects.filter(invoice=OuterRef("pk")).order_by().values("invoice")
    blocking = Reminder.objects.filter(invoice=OuterRef("pk"), level=BLOCKING_LEVEL, unblocked_at__isnull=True,
                                       blocked_tokens__isnull=False)
    return (scoped.select_related("series")
            .prefetch_related(Prefetch("lines", queryset=InvoiceLine.objects.order_by("position", "pk")),
                              Prefetch("credit_notes", queryset=Invoice.objects.exclude(
                                  status=Invoice.Status.DRAFT).only("pk", "credits_id").order_by("pk")))
            .annotate(amount_paid=Coalesce(Subquery(paid), Value(Decimal("0.00")),
                                           output_field=DecimalField(max_digits=12, decimal_places=2)),
                      reminder_level=Subquery(reminders.annotate(level=Max("level")).values("level")),
                      last_reminder_on=Subquery(reminders.annotate(on=Max("reminded_on")).values("on")),
                      tags_blocked=Exists(blocking))
            .order_by("-issue_date", "-number", "-pk"))


@extend_schema_view(
    list=extend_schema(summary="List invoices and credit notes",
                       description="Needs the `billing` scope. Residents signed in see only their own invoices.",
                       responses={200: InvoiceSerializer(many=True), **LIST_ERRORS}),
    retrieve=extend_schema(summary="One invoice or credit note",
                           responses={200: InvoiceSerializer, **COMMON_ERRORS, **NOT_FOUND}),
)
class InvoiceViewSet(BillingViewMixin, viewsets.ReadOnlyModelViewSet):
    serializer_class = InvoiceSerializer
    filterset_class = InvoiceFilter

    def get_queryset(self):
        return invoices_for(self.request)

    @extend_schema(summary="Download the invoice's PDF", filters=False, responses=PDF_RESPONSES)
    @action(detail=True, methods=["get"], url_path="pdf", pagination_class=None, filter_backends=[],
            renderer_classes=[JSONRenderer, PdfRenderer])
    def pdf(self, request, pk=None):
        invoice = self.get_object()
        return stored_file_response(invoice.pdf, f"{invoice.display_number or invoice.pk}.pdf", "application/pdf")


# --- Payments --------------------------------------------------------------------------------------------------------
class PaymentFilter(django_filters.FilterSet):
    kind = django_filters.ChoiceFilter(choices=Payment.Kind.choices)
    method = django_filters.ChoiceFilter(field_name="channel", choices=Payment.Channel.choices)
    invoice = IdFilter(field_name="invoice_id")
    buyer = IdFilter(field_name="buyer_id", help_text=_("The payer's user id."))
    received_from = InstantFilter(field_name="paid_at", lookup_expr="gte",
                                             help_text=_("Received at or after (ISO 8601)."))
    received_to = InstantFilter(field_name="paid_at", lookup_expr="lt",
                                           help_text=_("Received before (ISO 8601)."))

    class Meta:
        model = Payment
        fields = ["kind", "method", "invoice", "buyer", "received_from", "received_to"]


@extend_schema_view(
    list=extend_schema(summary="List payments, credit balance movements and refunds",
                       description="Needs the `billing` scope. Residents signed in see only their own payments.",
                       responses={200: PaymentSerializer(many=True), **LIST_ERRORS}),
    retrieve=extend_schema(summary="One payment", responses={200: PaymentSerializer, **COMMON_ERRORS, **NOT_FOUND}),
)
class PaymentViewSet(BillingViewMixin, viewsets.ReadOnlyModelViewSet):
    serializer_class = PaymentSerializer
    filterset_class = PaymentFilter

    def get_queryset(self):
        queryset = Payment.objects.all()
        scoped = scope_for(self.request, queryset, "invoice__organization")
        if isinstance(self.request.user, User):
            scoped = queryset.filter(Q(pk__in=scoped.values("pk")) | Q(buyer=self.request.user))
        return scoped.order_by("-paid_at", "-pk")


# --- Statements ------------------------------------------------------------------------------------------------------
class StatementFilter(django_filters.FilterSet):
    organization = IdFilter(field_name="organization_id")
    status = django_filters.ChoiceFilter(choices=Statement.Status.choices)
    period_from = django_filters.DateFilter(field_name="period_start", lookup_expr="gte",
                                            help_text=_("Periods starting on or after this date (YYYY-MM-DD)."))
    period_to = django_filters.DateFilter(field_name="period_start", lookup_expr="lte",
                                          help_text=_("Periods starting on or before this date (YYYY-MM-DD)."))
    payout_status = django_filters.ChoiceFilter(field_name="payout__status", choices=Payout.Status.choices)

    class Meta:
        model = Statement
        fields = ["organization", "status", "period_from", "period_to", "payout_status"]


@extend_schema_view(
    list=extend_schema(summary="List self-billing statements with their payouts",
                       description="Needs the `billing` scope. The figures are the statement's as issued.",
                       responses={200: StatementSerializer(many=True), **LIST_ERRORS}),
    retrieve=extend_schema(summary="One self-billing statement with its payout",
                           responses={200: StatementSerializer, **COMMON_ERRORS, **NOT_FOUND}),
)
class StatementViewSet(BillingViewMixin, viewsets.ReadOnlyModelViewSet):
    serializer_class = StatementSerializer
    filterset_class = StatementFilter

    def get_queryset(self):
        return (scope_for(self.request, Statement.objects.select_related("series", "payout"))
                .order_by("-period_start", "organization_id", "-pk"))

    @extend_schema(summary="Download the statement's PDF", filters=False, responses=PDF_RESPONSES)
    @action(detail=True, methods=["get"], url_path="pdf", pagination_class=None, filter_backends=[],
            renderer_classes=[JSONRenderer, PdfRenderer])
    def pdf(self, request, pk=None):
        statement = self.get_object()
        return stored_file_response(statement.pdf, f"{statement.display_number}.pdf", "application/pdf")
