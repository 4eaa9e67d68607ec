"""Connect API endpoints for access control: a charge point's access mode and weekly schedule, an EVSE's own mode,
bookings (list, create, cancel) with each organization's booking policy, and charging keys for guests (list, issue,
revoke).

Querysets start from ``scope_for`` (another organization's id answers 404; one in a body a 400 naming the field);
writes go through charging.services.access and charging.services.bookings.
"""

import django_filters
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Prefetch
from django.shortcuts import get_object_or_404
from django.utils import timezone
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import status
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import IdToken, UserGroup
from charging import access
from charging.models import Booking, BookingPolicy, ChargePoint, ChargingKey, Evse
from charging.selectors import access as access_selectors
from charging.services import access as access_services
from charging.services import bookings as booking_services
from csms.api.authentication import scope_for
from csms.api.errors import as_api_error
from csms.api.fields import IdFilter, InstantFilter, valid_id
from csms.api.serializers.access import (
    BookingCreateSerializer,
    BookingPolicySerializer,
    BookingSerializer,
    CancellationSerializer,
    ChargePointAccessSerializer,
    ChargePointAccessUpdateSerializer,
    ChargingKeyIssueSerializer,
    ChargingKeySerializer,
    EvseAccessSerializer,
    EvseAccessUpdateSerializer,
)
from csms.api.serializers.people import RequiredReasonSerializer
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
from csms.api.views.people import ListDetailViewSet, member_of, target_organization

# --- Access mode and weekly schedule -------------------------------------------------------------------------


def _evse_access(evse: Evse, *, now, station_mode: access.AccessMode) -> dict:
    return {"id": evse.pk, "number": evse.evse_id, "mode": evse.access_mode,
            "current": {"mode": access_selectors.evse_mode(evse, now, station_mode=station_mode).value,
                        "since": None},
            "public_code": evse.public_code}


def _describe_rules(data: list) -> list[dict]:
    try:
        rules = access.rules_from_data(data or [])
    except access.ScheduleError:  # stored before a check existed; shown as stored
        return [{**item, "description": ""} for item in data if isinstance(item, dict)]
    return [{**access.rule_to_data(rule), "description": rule.describe()} for rule in rules]


def charge_point_access(charge_point: ChargePoint) -> dict:
    now = timezone.now()
    mode_now = access_selectors.charge_point_mode(charge_point, now)
    upcoming = access_selectors.next_mode_change(charge_point, now)
    return {
        "charge_point": charge_point.pk, "mode": charge_point.access_mode,
        "schedule": _describe_rules(charge_point.access_schedule),
        "allowed_groups": sorted(charge_point.allowed_groups.values_list("pk", flat=True)),
        "time_zone": access_selectors.time_zone_of(charge_point),
        "current": {"mode": mode_now.value, "since": charge_point.access_mode_since
                    if charge_point.current_access_mode == mode_now.value else None},
        "next_change": {"at": upcoming[0], "mode": upcoming[1].value} if upcoming else None,
        "evses": [_evse_access(evse, now=now, station_mode=mode_now)
                  for evse in charge_point.evses.order_by("evse_id")],
    }


def _path_id(what: str) -> list[OpenApiParameter]:
    return [OpenApiParameter("id", {"type": "integer", "format": "int64"}, OpenApiParameter.PATH,
                             description=f"The {what}'s database id.")]


class ChargePointAccessView(ApiViewMixin, APIView):
    """GET/PUT /api/v1/charge-points/{id}/access/."""

    def _charge_point(self, request, pk: str) -> ChargePoint:
        if not valid_id(pk):
            raise NotFound()
        queryset = scope_for(request, ChargePoint.objects.select_related("location"))
        return get_object_or_404(queryset, pk=pk)

    @extend_schema(summary="A charge point's access mode and weekly schedule", parameters=_path_id("charge point"),
                   responses={200: ChargePointAccessSerializer, **COMMON_ERRORS, **NOT_FOUND})
    def get(self, request, pk: str):
        return Response(ChargePointAccessSerializer(charge_point_access(self._charge_point(request, pk))).data)

    @extend_schema(
        summary="Set a charge point's access mode, weekly schedule and allowed groups",
        parameters=_path_id("charge point"),
        description="Replaces all three. Rules may not overlap; a rule past midnight says so with overnight. The "
                    "mode in force now is recorded at once.",
        request=ChargePointAccessUpdateSerializer,
        responses={200: ChargePointAccessSerializer, **COMMON_ERRORS, **NOT_FOUND, **BAD_REQUEST},
        examples=[OpenApiExample("Private on weekdays, public otherwise", request_only=True, value={
            "mode": "public", "schedule": [{"weekdays": [0, 1, 2, 3, 4], "start": "06:00", "end": "18:00",
                                            "mode": "private", "overnight": False}],
            "allowed_groups": [], "reason": "Board decision 2026-11"})],
    )
    def put(self, request, pk: str):
        charge_point = self._charge_point(request, pk)
        body = ChargePointAccessUpdateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        require_write(request, charge_point.organization_id)
        try:
            rules = access.rules_from_data([dict(rule) for rule in data["schedule"]])
        except access.ScheduleError as exc:
            raise ValidationError({"schedule": [access_services.schedule_error_message(exc)]}) from exc
        wanted = set(data["allowed_groups"])
        groups = list(UserGroup.objects.filter(pk__in=wanted, organization_id=charge_point.organization_id))
        unknown = sorted(wanted - {group.pk for group in groups})
        if unknown:
            raise ValidationError({"allowed_groups": [_("Not groups of the charge point's organization: %(ids)s")
                                                      % {"ids": ", ".join(str(pk) for pk in unknown)}]})
        try:
            charge_point = access_services.charge_point_access_set(
                charge_point=charge_point, mode=data["mode"], rules=rules, allowed_groups=groups,
                acting_user=acting_user(request), reason=audit_reason(request, data["reason"]), now=timezone.now())
        except DjangoValidationError as exc:
            error = as_api_error(exc)
            # The service names the model's fields; the body calls them mode and schedule.
            renamed = {"access_schedule": "schedule", "access_mode": "mode"}
            raise ValidationError({renamed.get(field, field): messages for field, messages in error.detail.items()}
                                  ) from exc
        return Response(ChargePointAccessSerializer(charge_point_access(charge_point)).data)


class EvseAccessView(ApiViewMixin, APIView):
    """GET/PUT /api/v1/evses/{id}/access/."""

    def _evse(self, request, pk: str) -> Evse:
        if not valid_id(pk):
            raise NotFound()
        queryset = scope_for(request, Evse.objects.select_related("charge_point__location"),
                             "charge_point__organization")
        return get_object_or_404(queryset, pk=pk)

    def _answer(self, evse: Evse) -> Response:
        now = timezone.now()
        station_mode = access_selectors.charge_point_mode(evse.charge_point, now)
        return Response(EvseAccessSerializer(_evse_access(evse, now=now, station_mode=station_mode)).data)

    @extend_schema(summary="An EVSE's access mode", parameters=_path_id("EVSE"),
                   responses={200: EvseAccessSerializer, **COMMON_ERRORS, **NOT_FOUND})
    def get(self, request, pk: str):
        return self._answer(self._evse(request, pk))

    @extend_schema(
        summary="Give an EVSE its own access mode (or let it follow its charge point)",
        parameters=_path_id("EVSE"),
        request=EvseAccessUpdateSerializer,
        responses={200: EvseAccessSerializer, **COMMON_ERRORS, **NOT_FOUND, **BAD_REQUEST},
        examples=[OpenApiExample("Always public", request_only=True,
                                 value={"mode": "public", "reason": "Visitor parking"}),
                  OpenApiExample("Follow the charge point", request_only=True, value={"mode": ""})],
    )
    def put(self, request, pk: str):
        evse = self._evse(request, pk)
        body = EvseAccessUpdateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        require_write(request, evse.charge_point.organization_id)
        try:
            evse = access_services.evse_access_mode_set(
                evse=evse, mode=body.validated_data["mode"], acting_user=acting_user(request),
                reason=audit_reason(request, body.validated_data["reason"]))
        except DjangoValidationError as exc:
            raise as_api_error(exc) from exc
        return self._answer(evse)


# --- Bookings ---------------------------------------------------------------------------------------------------

class BookingFilter(django_filters.FilterSet):
    evse = IdFilter(field_name="evse_id")
    charge_point = IdFilter(field_name="evse__charge_point_id")
    user = IdFilter(field_name="user_id")
    status = django_filters.ChoiceFilter(choices=Booking.Status.choices)
    period_start = InstantFilter(field_name="ends_at", lookup_expr="gt",
                                                    help_text="Bookings still running at or after this instant.")
    period_end = InstantFilter(field_name="starts_at", lookup_expr="lt",
                                                  help_text="Bookings starting before this instant.")

    class Meta:
        model = Booking
        fields = ["evse", "charge_point", "user", "status", "period_start", "period_end"]


@extend_schema_view(
    list=extend_schema(summary="List bookings", responses={200: BookingSerializer(many=True), **LIST_ERRORS}),
    retrieve=extend_schema(summary="One booking", responses={200: BookingSerializer, **COMMON_ERRORS,
                                                             **NOT_FOUND}),
)
class BookingViewSet(ListDetailViewSet):
    serializer_class = BookingSerializer
    filterset_class = BookingFilter

    def get_queryset(self):
        return scope_for(self.request, Booking.objects.select_related("evse"),
                         "evse__charge_point__organization").order_by("-starts_at", "-pk")

    @extend_schema(
        summary="Book an EVSE for a person",
        description="The organization's booking policy applies (enabled, longest booking, active bookings per "
                    "person, days ahead); the window must lie in the future, the person must be allowed to charge "
                    "at the EVSE then and no other booking of the EVSE may overlap. Each refusal is a 400 naming "
                    "the field.",
        request=BookingCreateSerializer,
        responses={201: BookingSerializer, **COMMON_ERRORS, **BAD_REQUEST},
        examples=[OpenApiExample("An evening", request_only=True, value={
            "evse": 7, "user": 42, "starts_at": "2026-11-25T18:00:00+01:00", "ends_at": "2026-11-25T21:00:00+01:00",
            "reason": "Booked for a resident by phone"})],
    )
    def create(self, request):
        body = BookingCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        evse = scope_for(request, Evse.objects.select_related("charge_point"), "charge_point__organization").filter(
            pk=data["evse"]).first()
        if evse is None:
            raise ValidationError({"evse": [_("No such EVSE.")]})
        organization_id = evse.charge_point.organization_id
        require_write(request, organization_id)
        user = member_of(organization_id, data["user"])
        token = None
        if data["id_token"] is not None:
            token = scope_for(request, IdToken.objects.filter(pk=data["id_token"])).first()
            if token is None:
                raise ValidationError({"id_token": [_("No such ID token.")]})
        try:
            booking = booking_services.booking_create(
                evse=evse, user=user, starts_at=data["starts_at"], ends_at=data["ends_at"], id_token=token,
                acting_user=acting_user(request), reason=audit_reason(request, data["reason"]), now=timezone.now())
        except DjangoValidationError as exc:
            raise as_api_error(exc) from exc
        return Response(BookingSerializer(booking).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Cancel a booking",
        description="Only a booking not yet used or released. A reservation the charger holds for it is cancelled "
                    "too; the booking stays cancelled even when the charger cannot be reached.",
        request=RequiredReasonSerializer,
        responses={200: CancellationSerializer, **COMMON_ERRORS, **NOT_FOUND, **BAD_REQUEST},
        examples=[OpenApiExample("Plans changed", request_only=True, value={"reason": "The resident called"})],
    )
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        booking = self.get_object()
        body = RequiredReasonSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        require_write(request, booking.evse.charge_point.organization_id)
        try:
            result = booking_services.booking_cancel(
                booking=booking, acting_user=acting_user(request),
                reason=audit_reason(request, body.validated_data["reason"]), now=timezone.now())
        except DjangoValidationError as exc:
            raise as_api_error(exc) from exc
        booking = Booking.objects.select_related("evse").get(pk=result.booking.pk)
        return Response(CancellationSerializer({"booking": booking, "reservation_released": result.released,
                                                "error": result.error}).data)


class BookingPolicyFilter(django_filters.FilterSet):
    organization = IdFilter(field_name="organization_id")

    class Meta:
        model = BookingPolicy
        fields = ["organization"]


@extend_schema_view(
    list=extend_schema(summary="List booking policies",
                       description="One per organization; an organization without an enabled policy takes no "
                                   "bookings.",
                       responses={200: BookingPolicySerializer(many=True), **LIST_ERRORS}),
    retrieve=extend_schema(summary="One booking policy", responses={200: BookingPolicySerializer, **COMMON_ERRORS,
                                                                    **NOT_FOUND}),
)
class BookingPolicyViewSet(ListDetailViewSet):
    serializer_class = BookingPolicySerializer
    filterset_class = BookingPolicyFilter

    def get_queryset(self):
        return scope_for(self.request, BookingPolicy.objects.all()).order_by("organization__name", "pk")


# --- Charging keys ----------------------------------------------------------------------------------------------

class ChargingKeyFilter(django_filters.FilterSet):
    organization = IdFilter(field_name="id_token__organization_id")
    status = django_filters.ChoiceFilter(field_name="id_token__status", choices=IdToken.Status.choices)

    class Meta:
        model = ChargingKey
        fields = ["organization", "status"]


@extend_schema_view(
    list=extend_schema(summary="List charging keys for guests", responses={200: ChargingKeySerializer(many=True),
                                                                           **LIST_ERRORS}),
    retrieve=extend_schema(summary="One charging key", responses={200: ChargingKeySerializer, **COMMON_ERRORS,
                                                                  **NOT_FOUND}),
)
class ChargingKeyViewSet(ListDetailViewSet):
    serializer_class = ChargingKeySerializer
    filterset_class = ChargingKeyFilter

    def get_queryset(self):
        return scope_for(self.request, ChargingKey.objects.select_related("id_token").prefetch_related(
            Prefetch("charge_points", queryset=ChargePoint.objects.only("pk"))),
            "id_token__organization").order_by("-issued_at", "-pk")

    def _detail(self, key: ChargingKey) -> ChargingKey:
        return ChargingKey.objects.select_related("id_token").prefetch_related(
            "charge_points").get(pk=key.pk)

    @extend_schema(
        summary="Issue a charging key to a guest",
        description="A key code valid from valid_from until valid_until at the organization's public and "
                    "semi-public charge points, or only at the ones named.",
        request=ChargingKeyIssueSerializer,
        responses={201: ChargingKeySerializer, **COMMON_ERRORS, **BAD_REQUEST},
        examples=[OpenApiExample("A weekend guest", request_only=True, value={
            "guest_name": "Erik Guest", "guest_contact": "+46701234567", "valid_from": "2026-11-27T16:00:00+01:00",
            "valid_until": "2026-11-29T20:00:00+01:00", "charge_points": [], "reason": "Visiting apartment 1102"})],
    )
    def create(self, request):
        body = ChargingKeyIssueSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        organization = target_organization(request, data.get("organization"))
        wanted = set(data["charge_points"])
        stations = list(ChargePoint.objects.filter(pk__in=wanted, organization=organization))
        unknown = sorted(wanted - {station.pk for station in stations})
        if unknown:
            raise ValidationError({"charge_points": [_("Not charge points of the organization: %(ids)s") % {
                "ids": ", ".join(str(pk) for pk in unknown)}]})
        try:
            key = access_services.charging_key_issue(
                organization=organization, guest_name=data["guest_name"], valid_from=data["valid_from"],
                valid_until=data["valid_until"], charge_points=stations, code=data["code"],
                guest_contact=data["guest_contact"], note=data["note"], acting_user=acting_user(request),
                reason=audit_reason(request, data["reason"]), now=timezone.now())
        except DjangoValidationError as exc:
            raise as_api_error(exc) from exc
        return Response(ChargingKeySerializer(self._detail(key)).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Revoke a charging key", description="Its key code is blocked at once.",
        request=RequiredReasonSerializer, responses={200: ChargingKeySerializer, **COMMON_ERRORS, **NOT_FOUND,
                                             **BAD_REQUEST},
        examples=[OpenApiExample("Guest left early", request_only=True, value={"reason": "The guest left early"})],
    )
    @action(detail=True, methods=["post"])
    def revoke(self, request, pk=None):
        key = self.get_object()
        body = RequiredReasonSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        require_write(request, key.id_token.organization_id)
        try:
            key = access_services.charging_key_revoke(
                key=key, acting_user=acting_user(request),
                reason=audit_reason(request, body.validated_data["reason"]), now=timezone.now())
        except DjangoValidationError as exc:
            raise as_api_error(exc) from exc
        return Response(ChargingKeySerializer(self._detail(key)).data)
