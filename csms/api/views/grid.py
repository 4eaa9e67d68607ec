"""Connect API endpoints for building meter readings: a meter script posts the building's load per phase on a power
group's feed (true dynamic load balancing) and the tree is recomputed after the commit; integrations list them.
Posting needs the ``write`` scope; a power group of another organization answers 404 and nothing is stored."""

import django_filters
from django.db import transaction
from django.utils import timezone
from drf_spectacular.utils import OpenApiExample, extend_schema, extend_schema_view
from rest_framework import exceptions, mixins, status, viewsets
from rest_framework.response import Response

from csms.api.authentication import scope_for
from csms.api.fields import IdFilter, InstantFilter
from csms.api.serializers.grid import GridMeterReadingCreateSerializer, GridMeterReadingSerializer
from csms.api.views import BAD_REQUEST, COMMON_ERRORS, LIST_ERRORS, NOT_FOUND, ApiViewMixin, require_write
from loadbalancing.models import GridMeterReading, PowerGroup
from loadbalancing.services import LoadBalancingError, grid_reading_record, root_of


class GridMeterReadingFilter(django_filters.FilterSet):
    group = IdFilter(field_name="group_id")
    measured_from = InstantFilter(field_name="measured_at", lookup_expr="gte",
                                             help_text="Measured at or after (ISO 8601).")
    measured_to = InstantFilter(field_name="measured_at", lookup_expr="lt",
                                           help_text="Measured before (ISO 8601).")

    class Meta:
        model = GridMeterReading
        fields = ["group", "measured_from", "measured_to"]


READING_EXAMPLE = OpenApiExample(
    "A HAN-port reading", request_only=True,
    value={"group": 4, "measured_at": "2026-11-22T08:15:00+01:00", "l1": "21.4", "l2": "12.0", "l3": "9.8",
           "source": "han-gateway"})


@extend_schema_view(
    list=extend_schema(summary="List building meter readings",
                       responses={200: GridMeterReadingSerializer(many=True), **LIST_ERRORS}),
    retrieve=extend_schema(summary="One building meter reading",
                           responses={200: GridMeterReadingSerializer, **COMMON_ERRORS, **NOT_FOUND}),
    create=extend_schema(
        summary="Record a building meter reading", request=GridMeterReadingCreateSerializer,
        examples=[READING_EXAMPLE],
        description="Needs the `write` scope. The power group's tree is recomputed after the reading is stored.",
        responses={201: GridMeterReadingSerializer, **COMMON_ERRORS, **BAD_REQUEST, **NOT_FOUND}),
)
class GridMeterReadingViewSet(ApiViewMixin, mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet):
    serializer_class = GridMeterReadingSerializer
    filterset_class = GridMeterReadingFilter

    def get_queryset(self):
        return scope_for(self.request, GridMeterReading.objects.all(), "group__organization").order_by(
            "-measured_at", "-pk")

    def create(self, request, *args, **kwargs):
        body = GridMeterReadingCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        group = scope_for(request, PowerGroup.objects.all()).filter(pk=data["group"]).first()
        if group is None:
            raise exceptions.NotFound()
        require_write(request, group.organization_id)
        from loadbalancing.tasks import recompute_tree_task  # the tasks module loads the OCPP command machinery

        try:
            with transaction.atomic():
                reading = grid_reading_record(group=group, measured_at=data.get("measured_at") or timezone.now(),
                                              currents=(data["l1"], data["l2"], data["l3"]), source=data["source"])
                root_id = root_of(group).pk
                transaction.on_commit(lambda: recompute_tree_task.delay(root_id), robust=True)
        except LoadBalancingError as error:
            raise exceptions.ValidationError({"non_field_errors": [str(error)]}) from None
        return Response(GridMeterReadingSerializer(reading).data, status=status.HTTP_201_CREATED)
