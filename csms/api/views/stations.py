"""Read-only Connect API endpoints for locations, charge points and EVSEs with their live status. Every queryset is
narrowed to the caller's organizations first, so another organization's id answers 404 like one that never existed."""

import django_filters
from django.db.models import Prefetch, Q
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import viewsets

from charging.models import ChargePoint, Connector, Evse, Location
from charging.selectors.station_list import status_q
from charging.status_text import CONNECTOR_STATUSES
from csms.api.authentication import scope_for
from csms.api.serializers.stations import ChargePointSerializer, EvseSerializer, LocationSerializer
from csms.api.views import BAD_REQUEST, COMMON_ERRORS, NOT_FOUND, ApiViewMixin

STATUS_CHOICES = [(status, status) for status in CONNECTOR_STATUSES]
# Large JSON documents the API does not show.
_DEFERRED = ["device_model", "configuration", "access_schedule"]


class LocationFilter(django_filters.FilterSet):
    # Plain numbers, not choice filters: a choice filter would answer "not one of the available choices" for
    # another organization's id and so tell that it exists.
    organization = django_filters.NumberFilter(field_name="organization_id")

    class Meta:
        model = Location
        fields = ["organization"]


class ChargePointFilter(django_filters.FilterSet):
    organization = django_filters.NumberFilter(field_name="organization_id")
    location = django_filters.NumberFilter(field_name="location_id")
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
    charge_point = django_filters.NumberFilter(field_name="charge_point_id")
    location = django_filters.NumberFilter(field_name="charge_point__location_id")
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
)
class ChargePointViewSet(ApiViewMixin, viewsets.ReadOnlyModelViewSet):
    serializer_class = ChargePointSerializer
    filterset_class = ChargePointFilter

    def get_queryset(self):
        queryset = ChargePoint.objects.defer(*_DEFERRED).prefetch_related(_evses_with_connectors())
        return scope_for(self.request, queryset).order_by("identity", "pk")


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
