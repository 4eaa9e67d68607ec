"""Connect API endpoints for locations, charge points and EVSEs with their live status, and charge point
commissioning (create with a new AuthorizationKey shown once; update name, site, access mode and EVSE-IDs). Every
queryset is narrowed to the caller's organizations first, so another organization's id answers 404 like one that
never existed."""

import django_filters
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Prefetch, Q
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiExample, extend_schema, extend_schema_view
from rest_framework import exceptions, status, viewsets
from rest_framework.response import Response

from accounts.models import ApiKey, Organization
from charging.models import ChargePoint, Connector, Evse, Location
from charging.selectors.station_list import status_q
from charging.services import provisioning
from charging.status_text import CONNECTOR_STATUSES
from csms.api.authentication import scope_for
from csms.api.errors import as_api_error
from csms.api.fields import IdFilter
from csms.api.serializers.stations import (
    ChargePointCreateSerializer,
    ChargePointSerializer,
    ChargePointUpdateSerializer,
    CommissionedChargePointSerializer,
    EvseSerializer,
    LocationSerializer,
)
from csms.api.views import (
    BAD_REQUEST,
    COMMON_ERRORS,
    NOT_FOUND,
    ApiViewMixin,
    acting_user,
    audit_reason,
    require_write,
)

STATUS_CHOICES = [(status, status) for status in CONNECTOR_STATUSES]
# Large JSON documents the API does not show.
_DEFERRED = ["device_model", "configuration", "access_schedule"]


class LocationFilter(django_filters.FilterSet):
    # Plain numbers, not choice filters: a choice filter would answer "not one of the available choices" for
    # another organization's id and so tell that it exists.
    organization = IdFilter(field_name="organization_id")

    class Meta:
        model = Location
        fields = ["organization"]


class ChargePointFilter(django_filters.FilterSet):
    organization = IdFilter(field_name="organization_id")
    location = IdFilter(field_name="location_id")
    status = django_filters.ChoiceFilter(choices=STATUS_CHOICES, method="filter_status",
                                         help_text=_("Stations where the station or any connector reported this "
                                                     "OCPP status."))
    connected = django_filters.BooleanFilter(field_name="is_connected")

    class Meta:
        model = ChargePoint
        fields = ["organization", "location", "status", "connected"]

    def filter_status(self, queryset, name, value):
        return queryset.filter(status_q(value))


class EvseFilter(django_filters.FilterSet):
    charge_point = IdFilter(field_name="charge_point_id")
    location = IdFilter(field_name="charge_point__location_id")
    status = django_filters.ChoiceFilter(choices=STATUS_CHOICES, method="filter_status",
                                         help_text=_("EVSEs that themselves or through a connector reported this "
                                                     "OCPP status."))

    class Meta:
        model = Evse
        fields = ["charge_point", "location", "status"]

    def filter_status(self, queryset, name, value):
        return queryset.filter(Q(status=value) | Q(pk__in=Connector.objects.filter(status=value).values("evse_id")))


def _evses_with_connectors() -> Prefetch:
    return Prefetch("evses", queryset=Evse.objects.order_by("evse_id").prefetch_related(
        Prefetch("connectors", queryset=Connector.objects.order_by("connector_id"))))


@extend_schema_view(
    list=extend_schema(summary="List locations", responses={200: LocationSerializer(many=True),
                                                            **COMMON_ERRORS, **BAD_REQUEST}),
    retrieve=extend_schema(summary="One location", responses={200: LocationSerializer, **COMMON_ERRORS,
                                                              **NOT_FOUND}),
)
class LocationViewSet(ApiViewMixin, viewsets.ReadOnlyModelViewSet):
    serializer_class = LocationSerializer
    filterset_class = LocationFilter

    def get_queryset(self):
        return scope_for(self.request, Location.objects.select_related("organization")).order_by(
            "organization__name", "name", "pk")


@extend_schema_view(
    list=extend_schema(summary="List charge points with live status",
                       responses={200: ChargePointSerializer(many=True), **COMMON_ERRORS, **BAD_REQUEST}),
    retrieve=extend_schema(summary="One charge point with live status",
                           responses={200: ChargePointSerializer, **COMMON_ERRORS, **NOT_FOUND}),
    create=extend_schema(
        summary="Commission a charge point", request=ChargePointCreateSerializer,
        description="Registers the station (Accepted) with its EVSEs, EVSE-IDs and connectors, and a new "
                    "AuthorizationKey for HTTP Basic auth, shown only in this answer. Needs the write scope; people "
                    "need the organization-admin role.",
        responses={201: CommissionedChargePointSerializer, **COMMON_ERRORS, **BAD_REQUEST},
        examples=[OpenApiExample("Two Type 2 sockets", request_only=True, value={
            "identity": "BRF-GARAGE-01", "location": 12, "display_name": "Laddplats 01", "access_mode": "private",
            "ocpp_version": "1.6", "evses": [{"evse_id": "SE*ABC*E0001", "connectors": ["Type2"]},
                                             {"evse_id": "SE*ABC*E0002", "connectors": ["Type2"]}],
            "reason": "New garage"})]),
    partial_update=extend_schema(
        summary="Change a charge point's name, location, access mode or EVSE-IDs", request=ChargePointUpdateSerializer,
        responses={200: ChargePointSerializer, **COMMON_ERRORS, **NOT_FOUND, **BAD_REQUEST},
        examples=[OpenApiExample("Rename and set an EVSE-ID", request_only=True, value={
            "display_name": "Laddplats 02", "evses": [{"number": 1, "evse_id": "SE*ABC*E0003"}],
            "reason": "Signs replaced"})]),
)
class ChargePointViewSet(ApiViewMixin, viewsets.ReadOnlyModelViewSet):
    serializer_class = ChargePointSerializer
    filterset_class = ChargePointFilter

    def get_queryset(self):
        queryset = ChargePoint.objects.defer(*_DEFERRED).prefetch_related(_evses_with_connectors())
        return scope_for(self.request, queryset).order_by("identity", "pk")

    def get_serializer_class(self):
        return {"create": ChargePointCreateSerializer, "partial_update": ChargePointUpdateSerializer}.get(
            self.action, ChargePointSerializer)

    def _location(self, location_id: int | None, organization_id: int) -> Location | None:
        if location_id is None:
            return None
        location = scope_for(self.request, Location.objects.all()).filter(
            pk=location_id, organization_id=organization_id).first()
        if location is None:
            raise exceptions.ValidationError({"location": [gettext("No such location of the owner.")]})
        return location

    def _organization(self, organization_id: int | None) -> Organization:
        if organization_id is None:
            if isinstance(self.request.auth, ApiKey):
                return self.request.auth.organization
            raise exceptions.ValidationError({"organization": [gettext("Name the owner.")]})
        organization = scope_for(self.request, Organization.objects.all(), "pk").filter(pk=organization_id).first()
        if organization is None:
            raise exceptions.ValidationError({"organization": [gettext("No such organization.")]})
        return organization

    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        organization = self._organization(data.get("organization"))
        require_write(request, organization.pk)
        location = self._location(data.get("location"), organization.pk)
        layout = [provisioning.EvseLayout(
            connectors=tuple(evse["connectors"]), public_id=evse["evse_id"].strip().upper(),
            current_type=evse["current_type"] or (
                Evse.CurrentType.DC if {"CCS2", "CHAdeMO"} & set(evse["connectors"]) else Evse.CurrentType.AC),
            max_power_w=evse["max_power_w"]) for evse in data["evses"]]
        try:
            commissioned = provisioning.charge_point_commission(
                identity=data["identity"], organization=organization, location=location, layout=layout,
                display_name=data["display_name"], access_mode=data["access_mode"],
                ocpp_version=data["ocpp_version"], serial_number=data["serial_number"],
                acting_user=acting_user(request), reason=audit_reason(request, data.get("reason")))
        except DjangoValidationError as error:
            raise as_api_error(error) from error
        charge_point = self.get_queryset().get(pk=commissioned.charge_point.pk)
        charge_point.authorization_key = commissioned.auth_key
        return Response(CommissionedChargePointSerializer(charge_point).data, status=status.HTTP_201_CREATED)

    def partial_update(self, request, *args, **kwargs):
        charge_point = self.get_object()
        require_write(request, charge_point.organization_id)
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        changes = {name: data[name] for name in ("display_name", "access_mode") if name in data}
        if "location" in data:
            changes["location"] = self._location(data["location"], charge_point.organization_id)
        evse_ids = {}
        for evse in data.get("evses") or []:
            if evse["number"] in evse_ids:
                raise exceptions.ValidationError({"evses": [gettext("EVSE %(n)d is given twice.") % {
                    "n": evse["number"]}]})
            evse_ids[evse["number"]] = evse["evse_id"]
        try:
            provisioning.charge_point_details_update(
                charge_point=charge_point, evse_ids=evse_ids, acting_user=acting_user(request),
                reason=audit_reason(request, data.get("reason")), now=timezone.now(), **changes)
        except DjangoValidationError as error:
            raise as_api_error(error) from error
        return Response(ChargePointSerializer(self.get_queryset().get(pk=charge_point.pk)).data)


@extend_schema_view(
    list=extend_schema(summary="List EVSEs with live status",
                       responses={200: EvseSerializer(many=True), **COMMON_ERRORS, **BAD_REQUEST}),
    retrieve=extend_schema(summary="One EVSE with live status",
                           responses={200: EvseSerializer, **COMMON_ERRORS, **NOT_FOUND}),
)
class EvseViewSet(ApiViewMixin, viewsets.ReadOnlyModelViewSet):
    serializer_class = EvseSerializer
    filterset_class = EvseFilter

    def get_queryset(self):
        queryset = Evse.objects.prefetch_related(
            Prefetch("connectors", queryset=Connector.objects.order_by("connector_id")))
        return scope_for(self.request, queryset, "charge_point__organization").order_by(
            "charge_point__identity", "evse_id", "pk")
