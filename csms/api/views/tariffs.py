"""Connect API endpoints for tariffs, their assignments and the price preview.

Reading needs the ``read`` scope; creating and changing tariffs, assigning them and ending assignments the ``write``
scope (or, signed in, the organization-admin role). Every change goes through billing.services.tariffs, so the
7 %/30-day price increase rule and the other checks answer 400 with the service's message in ``fields``. Every id,
in the path or the body, is looked up among the caller's organizations first: another organization's id is a 404.
"""

from datetime import timedelta

import django_filters
from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils import timezone
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiExample, extend_schema, extend_schema_view
from rest_framework import exceptions, mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import ApiKey, Organization, User, UserGroup
from billing.models import Tariff, TariffAssignment
from billing.selectors import with_effective_end
from billing.services import tariffs as tariff_services
from billing.services.session_pricing import SessionNotPriceable, session_quote
from charging.models import ChargePoint, Evse, Location
from csms.api.authentication import scope_for
from csms.api.errors import as_api_error
from csms.api.fields import IdFilter, strict_boolean
from csms.api.serializers.tariffs import (
    AssignmentEndSerializer,
    PricePreviewQuerySerializer,
    PricePreviewSerializer,
    TariffAssignmentCreateSerializer,
    TariffAssignmentSerializer,
    TariffSerializer,
    TariffWriteSerializer,
)
from csms.api.views import (
    BAD_REQUEST,
    COMMON_ERRORS,
    LIST_ERRORS,
    NOT_FOUND,
    ApiViewMixin,
    acting_user,
    audit_reason,
    require_write,
)


def lookup(request, queryset, pk, organization_field: str = "organization"):
    """The row ``pk`` of ``queryset`` if the caller may see it; NotFound otherwise (a foreign id looks unknown)."""
    if pk is None:
        return None
    found = scope_for(request, queryset, organization_field).filter(pk=pk).first()
    if found is None:
        raise exceptions.NotFound()
    return found


# --- Tariffs ---------------------------------------------------------------------------------------------------------
class TariffFilter(django_filters.FilterSet):
    organization = IdFilter(field_name="organization_id")
    is_active = strict_boolean()
    currency = django_filters.ChoiceFilter(choices=Tariff._meta.get_field("currency").choices)

    class Meta:
        model = Tariff
        fields = ["organization", "is_active", "currency"]


TARIFF_EXAMPLE = OpenApiExample(
    "A fixed price", request_only=True,
    value={"name": "Boende 2026", "currency": "SEK", "energy_price_ac": "2.50000", "session_fee": "0.00",
           "vat_mode": "incl", "vat_rate": "25.00", "reason": "New price list"})
TARIFF_PATCH_EXAMPLE = OpenApiExample(
    "A small price change", request_only=True,
    value={"energy_price_ac": "2.60000", "reason": "Electricity costs rose"})


@extend_schema_view(
    list=extend_schema(summary="List tariffs", responses={200: TariffSerializer(many=True), **LIST_ERRORS}),
    retrieve=extend_schema(summary="One tariff", responses={200: TariffSerializer, **COMMON_ERRORS, **NOT_FOUND}),
    create=extend_schema(
        summary="Create a tariff", request=TariffWriteSerializer, examples=[TARIFF_EXAMPLE],
        description="Needs the `write` scope (signed in: the organization-admin role).",
        responses={201: TariffSerializer, **COMMON_ERRORS, **BAD_REQUEST, **NOT_FOUND}),
    partial_update=extend_schema(
        summary="Change a tariff's name, prices or active flag", request=TariffWriteSerializer,
        examples=[TARIFF_PATCH_EXAMPLE],
        description="Price changes apply at once and pass the 7 %/30-day notice rule wherever the tariff is in "
                    "force; a bigger increase is a 400 naming the earliest allowed date.",
        responses={200: TariffSerializer, **COMMON_ERRORS, **BAD_REQUEST, **NOT_FOUND}),
)
class TariffViewSet(ApiViewMixin, mixins.CreateModelMixin, mixins.UpdateModelMixin, viewsets.ReadOnlyModelViewSet):
    serializer_class = TariffSerializer
    filterset_class = TariffFilter
    http_method_names = ["get", "post", "patch", "head", "options"]

    def get_queryset(self):
        return scope_for(self.request, Tariff.objects.all()).order_by("organization_id", "name", "pk")

    def _owner(self, organization_id: int | None) -> Organization:
        if organization_id is not None:
            return lookup(self.request, Organization.objects.all(), organization_id, "pk")
        if isinstance(self.request.auth, ApiKey):
            return self.request.auth.organization
        raise exceptions.ValidationError({"organization": [_("Say which organization the tariff belongs to.")]})

    def create(self, request, *args, **kwargs):
        body = TariffWriteSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        values = dict(body.validated_data)
        owner = self._owner(values.pop("organization", None))
        require_write(request, owner.pk)
        reason = audit_reason(request, values.pop("reason", ""))
        try:
            tariff = tariff_services.tariff_create(
                organization=owner, name=values.pop("name"), currency=values.pop("currency", Tariff().currency),
                acting_user=acting_user(request), reason=reason, **values)
        except DjangoValidationError as error:
            raise as_api_error(error) from None
        return Response(TariffSerializer(tariff).data, status=status.HTTP_201_CREATED)

    def partial_update(self, request, *args, **kwargs):
        tariff = self.get_object()
        require_write(request, tariff.organization_id)
        body = TariffWriteSerializer(data=request.data, partial=True)
        body.is_valid(raise_exception=True)
        changes = dict(body.validated_data)
        reason = audit_reason(request, changes.pop("reason", ""))
        try:
            tariff = tariff_services.tariff_update(tariff=tariff, changes=changes, acting_user=acting_user(request),
                                                   reason=reason, now=timezone.now())
        except DjangoValidationError as error:
            raise as_api_error(error) from None
        return Response(TariffSerializer(tariff).data)

    def update(self, request, *args, **kwargs):
        raise exceptions.MethodNotAllowed(request.method)


# --- Assignments -----------------------------------------------------------------------------------------------------
class AssignmentFilter(django_filters.FilterSet):
    organization = IdFilter(field_name="organization_id")
    tariff = IdFilter(field_name="tariff_id")
    charge_point = IdFilter(field_name="charge_point_id")
    evse = IdFilter(field_name="evse_id")
    location = IdFilter(field_name="location_id")
    user_group = IdFilter(field_name="user_group_id")
    level = django_filters.ChoiceFilter(choices=TariffAssignment.Level.choices)

    class Meta:
        model = TariffAssignment
        fields = ["organization", "tariff", "charge_point", "evse", "location", "user_group", "level"]


ASSIGN_EXAMPLE = OpenApiExample(
    "A charge point's price from the first of next month", request_only=True,
    value={"tariff": 12, "charge_point": 3, "valid_from": "2026-12-01T00:00:00+01:00",
           "reason": "New price list, announced 30 days ahead"})
END_EXAMPLE = OpenApiExample("End at midnight", request_only=True,
                             value={"at": "2026-12-31T23:59:00+01:00", "reason": "Group price discontinued"})


@extend_schema_view(
    list=extend_schema(summary="List tariff assignments",
                       responses={200: TariffAssignmentSerializer(many=True), **LIST_ERRORS}),
    retrieve=extend_schema(summary="One tariff assignment",
                           responses={200: TariffAssignmentSerializer, **COMMON_ERRORS, **NOT_FOUND}),
    create=extend_schema(
        summary="Make a tariff apply somewhere", request=TariffAssignmentCreateSerializer, examples=[ASSIGN_EXAMPLE],
        description="Needs the `write` scope. Checked by the 7 %/30-day notice rule: a dearer price needs a "
                    "valid_from at least 30 days ahead (400 naming the earliest allowed date).",
        responses={201: TariffAssignmentSerializer, **COMMON_ERRORS, **BAD_REQUEST, **NOT_FOUND}),
)
class TariffAssignmentViewSet(ApiViewMixin, mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet):
    serializer_class = TariffAssignmentSerializer
    filterset_class = AssignmentFilter

    def get_queryset(self):
        queryset = with_effective_end(TariffAssignment.objects.select_related(
            "tariff", "organization", "charge_point", "evse__charge_point", "location", "user_group"))
        return scope_for(self.request, queryset).order_by("organization_id", "level", "target_key", "-valid_from",
                                                          "pk")

    def create(self, request, *args, **kwargs):
        body = TariffAssignmentCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        tariff = lookup(request, Tariff.objects.all(), data["tariff"])
        targets = {
            "charge_point": lookup(request, ChargePoint.objects.select_related("organization"),
                                   data.get("charge_point")),
            "evse": lookup(request, Evse.objects.select_related("charge_point__organization"), data.get("evse"),
                           "charge_point__organization"),
            "location": lookup(request, Location.objects.select_related("organization"), data.get("location")),
            "user_group": lookup(request, UserGroup.objects.select_related("organization"), data.get("user_group")),
            "organization": lookup(request, Organization.objects.all(), data.get("organization"), "pk"),
        }
        require_write(request, tariff.organization_id)
        for target in targets.values():
            if target is not None:
                require_write(request, target.pk if isinstance(target, Organization) else (
                    target.charge_point.organization_id if isinstance(target, Evse) else target.organization_id))
        try:
            assignment = tariff_services.tariff_assign(
                tariff=tariff, valid_from=data["valid_from"], acting_user=acting_user(request),
                reason=audit_reason(request, data.get("reason", "")), now=timezone.now(), **targets)
        except DjangoValidationError as error:
            raise as_api_error(error) from None
        return Response(TariffAssignmentSerializer(self.get_queryset().get(pk=assignment.pk)).data,
                        status=status.HTTP_201_CREATED)

    @extend_schema(summary="End a tariff assignment", request=AssignmentEndSerializer, examples=[END_EXAMPLE],
                   description="From then its target has no tariff of its own and the next level applies, which "
                               "passes the notice rule like a new assignment. Needs the `write` scope.",
                   responses={200: TariffAssignmentSerializer, **COMMON_ERRORS, **BAD_REQUEST, **NOT_FOUND})
    @action(detail=True, methods=["post"], url_path="end", filter_backends=[], pagination_class=None)
    def end(self, request, pk=None):
        assignment = self.get_object()
        require_write(request, assignment.organization_id)
        body = AssignmentEndSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        now = timezone.now()
        try:
            tariff_services.assignment_end(assignment=assignment, at=body.validated_data.get("at", now),
                                           acting_user=acting_user(request),
                                           reason=audit_reason(request, body.validated_data.get("reason", "")),
                                           now=now)
        except DjangoValidationError as error:
            raise as_api_error(error) from None
        return Response(TariffAssignmentSerializer(self.get_queryset().get(pk=assignment.pk)).data)


# --- Price preview ---------------------------------------------------------------------------------------------------
class PricePreviewView(ApiViewMixin, APIView):
    """What a driver would pay for a sample session at an EVSE, priced by billing.pricing with the tariffs that
    apply (the same timeline and engine as a real session's price)."""

    @extend_schema(
        summary="Price preview: what a driver would pay at an EVSE",
        parameters=[PricePreviewQuerySerializer],
        responses={200: PricePreviewSerializer, **COMMON_ERRORS, **BAD_REQUEST, **NOT_FOUND},
    )
    def get(self, request):
        query = PricePreviewQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        data = query.validated_data
        evse = lookup(request, Evse.objects.select_related("charge_point__location"), data["evse"],
                      "charge_point__organization")
        driver = None
        if data.get("user") is not None:
            organizations = scope_for(request, Organization.objects.all(), "pk")
            driver = User.objects.filter(pk=data["user"], memberships__organization__in=organizations).first()
            if driver is None:
                raise exceptions.NotFound()
        start = data.get("start") or timezone.now()
        try:
            stop = start + timedelta(minutes=data["minutes"])
        except OverflowError:
            raise exceptions.ValidationError({"start": [_("The session would end after the year 9999.")]}) from None
        try:
            quote = session_quote(charge_point=evse.charge_point, evse=evse, driver=driver, start=start, stop=stop,
                                  energy_wh=data["energy_wh"])
        except SessionNotPriceable as error:
            raise exceptions.ValidationError({"evse": [str(error)]}) from None
        first = quote.pieces[0].resolved
        assignment = TariffAssignment.objects.filter(pk=first.record.id).only("pk", "tariff_id").first()
        result = quote.result
        gaps = quote.coverage.gaps if quote.coverage is not None else ()
        lines = [{
            "kind": line.kind.value, "period_start": line.period_start, "period_end": line.period_end,
            "quantity": str(line.quantity), "unit_price": str(line.unit_price),
            "spot_price": None if line.spot_price is None else str(line.spot_price),
            "used_fallback": line.used_fallback or (line.spot_price is not None and any(
                gap_start <= line.period_start < gap_end for gap_start, gap_end in gaps)),
            "tariff": line.tariff.reference, "amount_excl_vat": line.amount_excl_vat,
            "vat_amount": line.vat_amount, "amount_incl_vat": line.amount_incl_vat,
        } for line in result.lines]
        return Response(PricePreviewSerializer({
            "evse": evse.pk, "charge_point": evse.charge_point_id, "user": None if driver is None else driver.pk,
            "start": start, "stop": stop, "energy_wh": result.energy_wh,
            "tariff": None if assignment is None else assignment.tariff_id,
            "assignment": None if assignment is None else assignment.pk, "currency": result.currency,
            "lines": lines, "total_excl_vat": result.total_excl_vat, "total_vat": result.total_vat,
            "total_incl_vat": result.total_incl_vat}).data)

