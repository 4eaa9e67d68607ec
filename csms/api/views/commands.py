"""Connect API remote commands: one endpoint per command under a charge point (start, stop, unlock, reset, change
availability, reserve, cancel a reservation, trigger a message, change configuration, set and clear a charging
profile), the stored commands to poll, charging profiles and reservations, and the operator's force-close of a stale
session.

Each command endpoint checks the input's shape, finds the charge point (and any id in the body) through the
caller's organizations, and calls one function of ``charging.services.remote``, which builds the charger's OCPP
1.6 / 2.0.1 payload and sends it through ``charging.commands`` (stored as a RemoteCommand with who and why).
``wait`` true (the default) answers 200 once the charger answered or the command ended otherwise (offline,
timeout, CALLERROR, refused: all stored, all 200); ``wait`` false answers 202 with the pending command at once and
the call completes in the background (``charging.commands.send_in_background``)."""

from collections.abc import Callable

import django_filters
from django.core.exceptions import ValidationError as DjangoValidationError
from django.shortcuts import get_object_or_404
from django.utils import timezone
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import exceptions, status, viewsets
from rest_framework.generics import GenericAPIView
from rest_framework.permissions import SAFE_METHODS
from rest_framework.response import Response

from accounts.models import ApiKey, IdToken, User
from charging import commands
from charging.models import ChargePoint, ChargingProfile, ChargingSession, RemoteCommand, Reservation
from charging.services import remote
from charging.services.sessions import force_close_session
from csms.api.authentication import HasKeyScope, is_operator_caller, scope_for
from csms.api.errors import ErrorSerializer, as_api_error
from csms.api.fields import IdFilter
from csms.api.serializers import commands as io
from csms.api.views import (
    BAD_REQUEST,
    COMMON_ERRORS,
    NOT_FOUND,
    ApiViewMixin,
    acting_user,
    audit_reason,
    require_write,
)

CONFLICT = {409: OpenApiResponse(ErrorSerializer, description="The EVSE is load balanced: its limits follow the "
                                                              "building's fuse plan.")}
COMMAND_RESPONSES = {
    200: OpenApiResponse(io.RemoteCommandSerializer, description="wait=true: the command as it ended (answered, "
                                                                  "call_error, timeout, offline or refused)."),
    202: OpenApiResponse(io.RemoteCommandSerializer, description="wait=false: the pending command; poll it."),
    **COMMON_ERRORS, **NOT_FOUND, **BAD_REQUEST,
}


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_code = "conflict"
    default_detail = _("The request conflicts with the current state.")





class ReadOrCommandsScope(HasKeyScope):
    """Stored commands may be read with the read scope, or with the commands scope that sent them."""

    def has_permission(self, request, view) -> bool:
        if isinstance(request.auth, ApiKey) and request.method in SAFE_METHODS:
            return request.auth.has_scope(ApiKey.Scope.READ) or request.auth.has_scope(ApiKey.Scope.COMMANDS)
        return super().has_permission(request, view)


# --- sending --------------------------------------------------------------------------------------------------------

class CommandView(ApiViewMixin, GenericAPIView):
    """A command to one charge point. Subclasses give the input serializer and ``action()``, which looks up the
    ids of the body and returns the call of one remote function."""

    write_scope = ApiKey.Scope.COMMANDS
    serializer_class = io.CommandInputSerializer
    pagination_class = None
    filter_backends: list = []

    def get_queryset(self):
        return scope_for(self.request, ChargePoint.objects.select_related("organization"))

    def post(self, request, pk: int):
        charge_point = get_object_or_404(self.get_queryset(), pk=pk)
        require_write(request, charge_point.organization_id)
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        reason = audit_reason(request, data.get("reason"))
        call = self.action_for(charge_point, data, acting_user=acting_user(request), reason=reason)
        try:
            if not data.get("wait", True):
                command = commands.send_in_background(call)
                return Response(io.RemoteCommandSerializer(command).data, status=status.HTTP_202_ACCEPTED)
            try:
                command = call()
            except commands.CommandFailed as failure:
                command = failure.command
        except DjangoValidationError as error:
            raise as_api_error(error) from error
        except remote.LoadBalanced as refusal:
            raise Conflict(str(refusal)) from refusal
        command.refresh_from_db()
        return Response(io.RemoteCommandSerializer(command).data)

    def action_for(self, charge_point: ChargePoint, data: dict, *, acting_user: User | None,
                   reason: str) -> Callable[[], RemoteCommand]:
        raise NotImplementedError

    # Lookups of ids in the body: through the caller's organizations, a foreign id is the same 400 as none.
    def _token(self, charge_point: ChargePoint, data: dict) -> IdToken:
        now = timezone.now()
        if data.get("user"):
            users = scope_for(self.request, User.objects.filter(is_active=True), "memberships__organization")
            user = users.filter(pk=data["user"]).first()
            if user is None:
                raise exceptions.ValidationError({"user": [_("No such user.")]})
            tokens = [token for token in IdToken.objects.filter(user=user, status=IdToken.Status.ACTIVE).order_by(
                "-created_at", "-pk") if token.is_usable(now)]
            tokens.sort(key=lambda token: token.organization_id != charge_point.organization_id)
            if not tokens:
                raise exceptions.ValidationError({"user": [_("The user has no usable ID token.")]})
            return tokens[0]
        tokens = scope_for(self.request, IdToken.objects.all())
        token = (tokens.filter(uid=data["id_token"]).first() if data.get("id_token")
                 else tokens.filter(pk=data["id_token_id"]).first())
        if token is None:
            field = "id_token" if data.get("id_token") else "id_token_id"
            raise exceptions.ValidationError({field: [_("No such ID token.")]})
        return token

    def _session(self, charge_point: ChargePoint, session_id: int) -> ChargingSession:
        session = scope_for(self.request, ChargingSession.objects.select_related("charge_point", "evse")).filter(
            pk=session_id, charge_point=charge_point).first()
        if session is None:
            raise exceptions.ValidationError({"session": [_("No such session at this charge point.")]})
        return session


def _profile_spec(data: dict, session: ChargingSession | None = None) -> remote.ProfileSpec:
    periods = tuple({key: (str(value) if key == "limit" else value) for key, value in period.items()}
                    for period in data["periods"])
    return remote.ProfileSpec(
        purpose=data["purpose"], periods=periods, stack_level=data["stack_level"], kind=data["kind"],
        recurrency_kind=data.get("recurrency_kind") or "", charging_rate_unit=data["charging_rate_unit"],
        start_schedule=data.get("start_schedule"), duration=data.get("duration"),
        min_charging_rate=data.get("min_charging_rate"), valid_from=data.get("valid_from"),
        valid_to=data.get("valid_to"), session=session)


def _command_schema(summary: str, request, example: dict, description: str = ""):
    return extend_schema(summary=summary, description=description, request=request,
                         responses={**COMMAND_RESPONSES, **CONFLICT}, tags=["commands"],
                         examples=[OpenApiExample(summary, value=example, request_only=True)])


class StartView(CommandView):
    serializer_class = io.StartInputSerializer

    @_command_schema("Start a charge (RemoteStartTransaction / RequestStartTransaction)", io.StartInputSerializer,
                     {"evse": 1, "id_token": "04A23B1C", "reason": "Driver called support", "wait": True},
                     "Give the token by uid (id_token) or id (id_token_id), or a user (their usable token). A "
                     "charging_profile (purpose tx) is stored and sent with the start.")
    def post(self, request, pk: int):
        return super().post(request, pk)

    def action_for(self, charge_point, data, *, acting_user, reason):
        token = self._token(charge_point, data)
        spec = _profile_spec(data["charging_profile"]) if data.get("charging_profile") else None
        return lambda: remote.remote_start(charge_point=charge_point, id_token=token, evse_number=data["evse"],
                                           acting_user=acting_user, reason=reason, now=timezone.now(), profile=spec)


class StopView(CommandView):
    serializer_class = io.StopInputSerializer

    @_command_schema("Stop a session (RemoteStopTransaction / RequestStopTransaction)", io.StopInputSerializer,
                     {"session": 4711, "reason": "Driver left", "wait": True})
    def post(self, request, pk: int):
        return super().post(request, pk)

    def action_for(self, charge_point, data, *, acting_user, reason):
        session = self._session(charge_point, data["session"])
        return lambda: remote.remote_stop(session=session, acting_user=acting_user, reason=reason)


class UnlockView(CommandView):
    serializer_class = io.UnlockInputSerializer

    @_command_schema("Unlock a connector", io.UnlockInputSerializer, {"evse": 1, "connector": 1, "reason": "Cable "
                                                                                                       "stuck"})
    def post(self, request, pk: int):
        return super().post(request, pk)

    def action_for(self, charge_point, data, *, acting_user, reason):
        # The EVSE number is checked against the stored layout by remote.unlock; the connector is the charger's.
        return lambda: remote.unlock(charge_point=charge_point, evse_number=data["evse"],
                                     connector_number=data["connector"], acting_user=acting_user, reason=reason)


class ResetView(CommandView):
    serializer_class = io.ResetInputSerializer

    @_command_schema("Reset the charger", io.ResetInputSerializer, {"type": "soft", "reason": "Hangs"})
    def post(self, request, pk: int):
        return super().post(request, pk)

    def action_for(self, charge_point, data, *, acting_user, reason):
        return lambda: remote.reset(charge_point=charge_point, hard=data["type"] == "hard", acting_user=acting_user,
                                    reason=reason)


class ChangeAvailabilityView(CommandView):
    serializer_class = io.ChangeAvailabilityInputSerializer

    @_command_schema("Change availability (station or one EVSE)", io.ChangeAvailabilityInputSerializer,
                     {"evse": 2, "operative": False, "reason": "Broken socket"})
    def post(self, request, pk: int):
        return super().post(request, pk)

    def action_for(self, charge_point, data, *, acting_user, reason):
        return lambda: remote.change_availability(charge_point=charge_point, evse_number=data["evse"] or None,
                                                  operative=data["operative"], acting_user=acting_user,
                                                  reason=reason)


class ReserveView(CommandView):
    serializer_class = io.ReserveInputSerializer

    @_command_schema("Reserve (ReserveNow)", io.ReserveInputSerializer,
                     {"evse": 1, "id_token": "04A23B1C", "expires_at": "2026-11-22T18:00:00+01:00",
                      "reason": "Guest arriving"},
                     "The reservation gets a CSMS-assigned id (the command's `reservation`; see "
                     "/api/v1/reservations/), sent to the charger as reservationId.")
    def post(self, request, pk: int):
        return super().post(request, pk)

    def action_for(self, charge_point, data, *, acting_user, reason):
        token = self._token(charge_point, data)
        return lambda: remote.reserve(charge_point=charge_point, evse_number=data["evse"] or None, id_token=token,
                                      expires_at=data["expires_at"], acting_user=acting_user, reason=reason,
                                      now=timezone.now())


class CancelReservationView(CommandView):
    serializer_class = io.CancelReservationInputSerializer

    @_command_schema("Cancel a reservation (CancelReservation)", io.CancelReservationInputSerializer,
                     {"reservation": 12, "reason": "Guest cancelled"})
    def post(self, request, pk: int):
        return super().post(request, pk)

    def action_for(self, charge_point, data, *, acting_user, reason):
        reservation = Reservation.objects.select_related("charge_point").filter(
            pk=data["reservation"], charge_point=charge_point).first()
        if reservation is None:
            raise exceptions.ValidationError({"reservation": [_("No such reservation at this charge point.")]})
        return lambda: remote.cancel_reservation(reservation=reservation, acting_user=acting_user, reason=reason)


class TriggerMessageView(CommandView):
    serializer_class = io.TriggerMessageInputSerializer

    @_command_schema("Trigger a message", io.TriggerMessageInputSerializer,
                     {"message": "StatusNotification", "reason": "Refresh status"})
    def post(self, request, pk: int):
        return super().post(request, pk)

    def action_for(self, charge_point, data, *, acting_user, reason):
        return lambda: remote.trigger_message(charge_point=charge_point, message=data["message"],
                                              evse_number=data["evse"] or None, acting_user=acting_user,
                                              reason=reason)


class ChangeConfigurationView(CommandView):
    serializer_class = io.ChangeConfigurationInputSerializer

    @_command_schema("Change a configuration key (1.6) / variable (2.0.1)", io.ChangeConfigurationInputSerializer,
                     {"key": "HeartbeatInterval", "value": "300", "reason": "Fewer heartbeats"})
    def post(self, request, pk: int):
        return super().post(request, pk)

    def action_for(self, charge_point, data, *, acting_user, reason):
        setting = remote.Setting(name=data["key"], component=data["component"], evse=data["component_evse"],
                                 component_instance=data["component_instance"],
                                 variable_instance=data["variable_instance"])
        return lambda: remote.configuration_change(charge_point=charge_point, setting=setting, value=data["value"],
                                                   acting_user=acting_user, reason=reason, now=timezone.now())


class SetChargingProfileView(CommandView):
    serializer_class = io.SetChargingProfileInputSerializer

    @_command_schema("Set a charging profile (stored; its id is the chargingProfileId)",
                     io.SetChargingProfileInputSerializer,
                     {"evse": 1, "purpose": "tx_default", "stack_level": 1, "kind": "Relative",
                      "charging_rate_unit": "A", "periods": [{"start_period": 0, "limit": "10.0"}],
                      "reason": "Limit the garage"},
                     "Refused with 409 where the EVSE (or, for a station-wide profile, any of its EVSEs) is load "
                     "balanced: the building's fuse plan sets those limits.")
    def post(self, request, pk: int):
        return super().post(request, pk)

    def action_for(self, charge_point, data, *, acting_user, reason):
        session = self._session(charge_point, data["session"]) if data.get("session") else None
        spec = _profile_spec(data, session)
        return lambda: remote.set_charging_profile(charge_point=charge_point, evse_number=data["evse"] or None,
                                                   spec=spec, acting_user=acting_user, reason=reason)


class ClearChargingProfileView(CommandView):
    serializer_class = io.ClearChargingProfileInputSerializer

    @_command_schema("Clear charging profiles", io.ClearChargingProfileInputSerializer,
                     {"charging_profile": 1000012, "reason": "Limit no longer needed"})
    def post(self, request, pk: int):
        return super().post(request, pk)

    def action_for(self, charge_point, data, *, acting_user, reason):
        if data.get("charging_profile") is not None:
            profile = ChargingProfile.objects.select_related("charge_point").filter(
                charge_point=charge_point, charging_profile_id=data["charging_profile"]).first()
            if profile is None:
                raise exceptions.ValidationError({"charging_profile": [_("No such profile at this charge point.")]})
            return lambda: remote.clear_charging_profile(profile=profile, acting_user=acting_user, reason=reason,
                                                         now=timezone.now())
        return lambda: remote.clear_charging_profiles(charge_point=charge_point, evse_number=data["evse"],
                                                      purpose=data["purpose"] or None, acting_user=acting_user,
                                                      reason=reason)


#: (URL segment, view) of every command; csms/api/urls.py registers them under charge-points/<pk>/commands/.
COMMAND_VIEWS = [
    ("start", StartView), ("stop", StopView), ("unlock", UnlockView), ("reset", ResetView),
    ("change-availability", ChangeAvailabilityView), ("reserve", ReserveView),
    ("cancel-reservation", CancelReservationView), ("trigger-message", TriggerMessageView),
    ("change-configuration", ChangeConfigurationView), ("set-charging-profile", SetChargingProfileView),
    ("clear-charging-profile", ClearChargingProfileView),
]


# --- reading --------------------------------------------------------------------------------------------------------

class RemoteCommandFilter(django_filters.FilterSet):
    charge_point = IdFilter(field_name="charge_point_id")
    action = django_filters.CharFilter(field_name="action", help_text="The OCPP action, e.g. Reset.")
    status = django_filters.ChoiceFilter(choices=RemoteCommand.Status.choices)

    class Meta:
        model = RemoteCommand
        fields = ["charge_point", "action", "status"]


@extend_schema_view(
    list=extend_schema(summary="List remote commands", tags=["commands"],
                       responses={200: io.RemoteCommandSerializer(many=True), **COMMON_ERRORS, **BAD_REQUEST}),
    retrieve=extend_schema(summary="One remote command with the charger's answer", tags=["commands"],
                           responses={200: io.RemoteCommandSerializer, **COMMON_ERRORS, **NOT_FOUND}),
)
class RemoteCommandViewSet(ApiViewMixin, viewsets.ReadOnlyModelViewSet):
    serializer_class = io.RemoteCommandSerializer
    filterset_class = RemoteCommandFilter
    permission_classes = [*ApiViewMixin.permission_classes[:-1], ReadOrCommandsScope]

    def get_queryset(self):
        return scope_for(self.request, RemoteCommand.objects.select_related("charge_point"),
                         "charge_point__organization").order_by("-created_at", "-pk")


class ChargingProfileFilter(django_filters.FilterSet):
    charge_point = IdFilter(field_name="charge_point_id")
    evse = IdFilter(method="filter_evse", help_text="The EVSE number; 0: station-wide ones.")
    status = django_filters.ChoiceFilter(choices=ChargingProfile.Status.choices)
    command = IdFilter(field_name="command_id")

    class Meta:
        model = ChargingProfile
        fields = ["charge_point", "evse", "status", "command"]

    def filter_evse(self, queryset, name, value):
        return queryset.filter(evse__isnull=True) if value == 0 else queryset.filter(evse__evse_id=value)


@extend_schema_view(
    list=extend_schema(summary="List charging profiles", tags=["commands"],
                       responses={200: io.ChargingProfileSerializer(many=True), **COMMON_ERRORS, **BAD_REQUEST}),
    retrieve=extend_schema(summary="One charging profile (by its chargingProfileId)", tags=["commands"],
                           responses={200: io.ChargingProfileSerializer, **COMMON_ERRORS, **NOT_FOUND}),
)
class ChargingProfileViewSet(ApiViewMixin, viewsets.ReadOnlyModelViewSet):
    serializer_class = io.ChargingProfileSerializer
    filterset_class = ChargingProfileFilter
    lookup_field = "charging_profile_id"
    lookup_url_kwarg = "id"
    lookup_value_regex = "[0-9]{1,10}"

    def get_queryset(self):
        return scope_for(self.request, ChargingProfile.objects.select_related("evse"),
                         "charge_point__organization").order_by("-created_at", "-pk")


class ReservationFilter(django_filters.FilterSet):
    charge_point = IdFilter(field_name="charge_point_id")
    status = django_filters.ChoiceFilter(choices=Reservation.Status.choices)

    class Meta:
        model = Reservation
        fields = ["charge_point", "status"]


@extend_schema_view(
    list=extend_schema(summary="List reservations", tags=["commands"],
                       responses={200: io.ReservationSerializer(many=True), **COMMON_ERRORS, **BAD_REQUEST}),
    retrieve=extend_schema(summary="One reservation", tags=["commands"],
                           responses={200: io.ReservationSerializer, **COMMON_ERRORS, **NOT_FOUND}),
)
class ReservationViewSet(ApiViewMixin, viewsets.ReadOnlyModelViewSet):
    serializer_class = io.ReservationSerializer
    filterset_class = ReservationFilter

    def get_queryset(self):
        return scope_for(self.request, Reservation.objects.select_related("evse"),
                         "charge_point__organization").order_by("-created_at", "-pk")


# --- force-close ----------------------------------------------------------------------------------------------------

class ForceCloseView(ApiViewMixin, GenericAPIView):
    serializer_class = io.ForceCloseInputSerializer
    pagination_class = None
    filter_backends: list = []

    def get_queryset(self):
        return scope_for(self.request, ChargingSession.objects.select_related("charge_point"))

    @extend_schema(
        summary="Force-close a stale session (operator only)", tags=["sessions"], request=io.ForceCloseInputSerializer,
        description="For an active session whose charger will never send its stop: closed with status failed, "
                    "stop_reason \"ForceClosed\", the last energy reading as meter stop, priced like any ended "
                    "session, audited with who and why. A stop the charger sends later still completes it.",
        responses={200: io.ForceClosedSessionSerializer, **COMMON_ERRORS, **NOT_FOUND, **BAD_REQUEST},
        examples=[OpenApiExample("Force-close", value={"reason": "Charger replaced; the stop will never come",
                                                       "stopped_at": "2026-11-20T18:30:00+01:00"},
                                 request_only=True)])
    def post(self, request, pk: int):
        session = get_object_or_404(self.get_queryset(), pk=pk)
        if not is_operator_caller(request):
            raise exceptions.PermissionDenied(_("Only the operator may force-close sessions."))
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        try:
            session = force_close_session(session=session, stopped_at=data.get("stopped_at"),
                                          acting_user=acting_user(request),
                                          reason=audit_reason(request, data["reason"]))
        except DjangoValidationError as error:
            raise as_api_error(error) from error
        return Response(io.ForceClosedSessionSerializer(session).data)
