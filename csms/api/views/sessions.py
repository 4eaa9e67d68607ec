"""Read-only Connect API endpoints for charging sessions (live ones with their energy and cost so far) and the meter
samples of a session. Every queryset is narrowed to the caller's organizations first, so another organization's
session answers 404 like one that never existed."""

from datetime import datetime

import django_filters
from django import forms
from django.db.models import Prefetch
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import exceptions, viewsets
from rest_framework.decorators import action

from charging.models import ChargingSession, Connector
from charging.selectors.sessions import filter_sessions, meter_samples_of, with_current_energy
from csms.api.authentication import scope_for
from csms.api.fields import IdFilter, year_error
from csms.api.serializers.sessions import MeterSampleSerializer, SessionSerializer
from csms.api.views import BAD_REQUEST, COMMON_ERRORS, NOT_FOUND, ApiViewMixin


class AwareDateTimeField(forms.CharField):
    """An ISO 8601 date and time with its offset ("2026-01-31T23:30:00+01:00" or "...Z"); a time without an offset
    is refused rather than guessed."""

    def to_python(self, value):
        value = super().to_python(value)
        if not value:
            return None
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            raise forms.ValidationError(_("Enter a date and time in ISO 8601, e.g. 2026-01-31T23:30:00+01:00."),
                                        code="invalid") from None
        if timezone.is_naive(parsed):
            raise forms.ValidationError(_("Give the time with its offset, e.g. +01:00 or Z."), code="naive")
        error = year_error(parsed)
        if error:
            raise forms.ValidationError(error, code="invalid")
        return parsed


class AwareDateTimeFilter(django_filters.Filter):
    field_class = AwareDateTimeField


class SessionFilter(django_filters.FilterSet):
    started_from = AwareDateTimeFilter(field_name="started_at", method="filter_noop",
                                       help_text=_("Started at or after (ISO 8601 with offset)."))
    started_to = AwareDateTimeFilter(field_name="started_at", method="filter_noop",
                                     help_text=_("Started before (ISO 8601 with offset)."))
    charge_point = IdFilter(method="filter_noop", help_text=_("Charge point database id."))
    location = IdFilter(field_name="charge_point__location", method="filter_noop", help_text=_("Location database id."))
    evse = IdFilter(method="filter_noop", help_text=_("EVSE database id."))
    user = IdFilter(method="filter_noop", help_text=_("The driver's user id."))
    id_token = django_filters.CharFilter(method="filter_noop", max_length=64,
                                         help_text=_("A token uid in any spelling (04:a2:3b:1c = 04A23B1C), as "
                                                     "presented or as issued, or the token's database id."))
    status = django_filters.ChoiceFilter(choices=ChargingSession.Status.choices, method="filter_noop")

    class Meta:
        model = ChargingSession
        fields = ["started_from", "started_to", "charge_point", "location", "evse", "user", "id_token", "status"]

    def filter_noop(self, queryset, name, value):
        return queryset  # applied all at once in filter_queryset, through the shared selector

    def filter_queryset(self, queryset):
        values = {name: value for name, value in self.form.cleaned_data.items() if value not in (None, "")}
        return filter_sessions(queryset, **values)


def sessions_for(request):
    """The sessions the caller may see, with what the serializer shows in a fixed number of queries."""
    queryset = ChargingSession.objects.select_related("charge_point", "evse", "cost").prefetch_related(
        Prefetch("evse__connectors", queryset=Connector.objects.order_by("connector_id")))
    return with_current_energy(scope_for(request, queryset)).order_by("-started_at", "-pk")


def filtered_sessions(request, queryset):
    """``queryset`` narrowed by the request's session filters; invalid values are a 400 with field errors."""
    filterset = SessionFilter(request.query_params, queryset=queryset, request=request)
    if not filterset.is_valid():
        raise exceptions.ValidationError(filterset.errors)
    return filterset.qs


@extend_schema_view(
    list=extend_schema(summary="List charging sessions",
                       description="Newest first. Active sessions show the energy and the cost so far.",
                       responses={200: SessionSerializer(many=True), **COMMON_ERRORS, **BAD_REQUEST}),
    retrieve=extend_schema(summary="One charging session",
                           responses={200: SessionSerializer, **COMMON_ERRORS, **NOT_FOUND}),
)
class SessionViewSet(ApiViewMixin, viewsets.ReadOnlyModelViewSet):
    serializer_class = SessionSerializer
    filterset_class = SessionFilter

    def get_queryset(self):
        return sessions_for(self.request)

    def get_serializer_context(self):
        # One "now" for the whole page, so every live cost is priced at the same instant.
        return {**super().get_serializer_context(), "now": timezone.now()}

    @extend_schema(summary="Meter samples of a session", filters=False,
                   description="In time order, values as stored (converted to base units: energy in Wh).",
                   responses={200: MeterSampleSerializer(many=True), **COMMON_ERRORS, **NOT_FOUND})
    @action(detail=True, methods=["get"], url_path="meter-samples", filter_backends=[],
            serializer_class=MeterSampleSerializer)
    def meter_samples(self, request, pk=None):
        session = self.get_object()
        page = self.paginate_queryset(meter_samples_of(session))
        return self.get_paginated_response(MeterSampleSerializer(page, many=True).data)
