"""What chargers report, read-only: sessions, meter samples, reservations, commands, charging profiles set through
the CSMS, the OCPP frame log, the authorization monitor, station events; orphan stops can be marked resolved; the
running OCPP server processes (operators only)."""

from django.contrib import admin
from django.utils.translation import gettext_lazy

from accounts.admin_base import TenantScopedAdmin, action_with_reason
from charging.admin.base import MeterSampleInline, ReadOnlyAdminMixin
from charging.models import (
    AuthorizationAttempt,
    ChargingProfile,
    ChargingSession,
    MeterSample,
    OcppFrame,
    OrphanTransactionStop,
    RemoteCommand,
    Reservation,
    ServerProcess,
    StationEvent,
)
from charging.services.sessions import orphan_stop_resolve


@admin.register(ChargingSession)
class ChargingSessionAdmin(ReadOnlyAdminMixin, TenantScopedAdmin):
    list_display = ["started_at", "charge_point", "evse", "organization", "id_token_uid", "energy_kwh", "status",
                    "stopped_at"]
    list_filter = ["status", "auth_source", "offline", "organization__kind"]
    search_fields = ["transaction_id", "id_token_uid", "charge_point__identity", "charge_point__display_name",
                     "user__email"]
    date_hierarchy = "started_at"
    list_select_related = ["charge_point", "evse__charge_point", "organization"]
    inlines = [MeterSampleInline]

    @admin.display(description=gettext_lazy("energy (kWh)"), ordering="energy_wh")
    def energy_kwh(self, obj):
        return obj.energy_kwh_display


@admin.register(MeterSample)
class MeterSampleAdmin(ReadOnlyAdminMixin, TenantScopedAdmin):
    organization_field = "charge_point__organization"
    list_display = ["timestamp", "charge_point", "evse", "measurand", "phase", "value", "unit", "context"]
    list_filter = ["measurand"]
    search_fields = ["charge_point__identity", "session__transaction_id"]
    date_hierarchy = "timestamp"
    list_select_related = ["charge_point", "evse__charge_point"]


@admin.register(Reservation)
class ReservationAdmin(ReadOnlyAdminMixin, TenantScopedAdmin):
    organization_field = "charge_point__organization"
    list_display = ["__str__", "charge_point", "evse", "id_token_uid", "expires_at", "status", "created_by"]
    list_filter = ["status"]
    search_fields = ["id_token_uid", "charge_point__identity", "charge_point__display_name"]
    list_select_related = ["charge_point", "evse__charge_point", "created_by"]


@admin.register(RemoteCommand)
class RemoteCommandAdmin(ReadOnlyAdminMixin, TenantScopedAdmin):
    organization_field = "charge_point__organization"
    list_display = ["created_at", "charge_point", "action", "status", "requested_by", "reason", "answered_at"]
    list_filter = ["status", "action"]
    search_fields = ["charge_point__identity", "action", "reason", "requested_by__email"]
    date_hierarchy = "created_at"
    list_select_related = ["charge_point", "requested_by"]


@admin.register(ChargingProfile)
class ChargingProfileAdmin(ReadOnlyAdminMixin, TenantScopedAdmin):
    """Profiles set through the Connect API or a remote start; the id the charger knows is chargingProfileId."""

    organization_field = "charge_point__organization"
    list_display = ["charging_profile_id", "charge_point", "evse", "purpose", "stack_level", "status", "created_by",
                    "created_at", "cleared_at"]
    list_filter = ["status", "purpose", "kind"]
    search_fields = ["charging_profile_id", "charge_point__identity", "transaction_id"]
    date_hierarchy = "created_at"
    list_select_related = ["charge_point", "evse__charge_point", "created_by"]


@admin.register(OcppFrame)
class OcppFrameAdmin(ReadOnlyAdminMixin, TenantScopedAdmin):
    organization_field = "charge_point__organization"
    list_display = ["at", "identity", "direction", "message_type", "action", "message_id"]
    list_filter = ["direction", "action"]
    search_fields = ["identity", "message_id", "raw"]
    date_hierarchy = "at"


@admin.register(AuthorizationAttempt)
class AuthorizationAttemptAdmin(ReadOnlyAdminMixin, TenantScopedAdmin):
    organization_field = "charge_point__organization"
    list_display = ["at", "id_token_uid", "charge_point", "evse", "purpose", "status", "reason"]
    list_filter = ["status", "purpose"]
    search_fields = ["id_token_uid", "charge_point__identity", "reason"]
    date_hierarchy = "at"
    list_select_related = ["charge_point", "evse__charge_point"]


@admin.register(StationEvent)
class StationEventAdmin(ReadOnlyAdminMixin, TenantScopedAdmin):
    organization_field = "charge_point__organization"
    list_display = ["at", "charge_point", "kind", "code"]
    list_filter = ["kind"]
    search_fields = ["charge_point__identity", "code"]
    date_hierarchy = "at"
    list_select_related = ["charge_point"]


def _resolve_orphan(orphan, request, reason):
    orphan_stop_resolve(orphan=orphan, acting_user=request.user, reason=reason)


@admin.register(OrphanTransactionStop)
class OrphanTransactionStopAdmin(ReadOnlyAdminMixin, TenantScopedAdmin):
    """Support reviews each stop and marks it resolved with a reason (audited; the station's orphan-transaction
    alarm closes with the last one); everything else is as the charger sent it."""

    organization_field = "charge_point__organization"
    list_display = ["received_at", "charge_point", "transaction_id", "id_token_uid", "meter_stop_wh",
                    "stopped_at", "stop_reason", "resolved"]
    list_filter = ["resolved"]
    search_fields = ["transaction_id", "id_token_uid", "charge_point__identity"]
    date_hierarchy = "received_at"
    list_select_related = ["charge_point"]
    fields = ["charge_point", "transaction_id", "id_token_uid", "meter_stop_wh", "stopped_at", "stop_reason",
              "payload", "received_at", "resolved"]
    actions = ["mark_resolved"]

    mark_resolved = action_with_reason(description=gettext_lazy("Mark resolved"), permissions=["resolve"],
                                       apply=_resolve_orphan)

    def has_resolve_permission(self, request):
        return request.user.has_perm("charging.change_orphantransactionstop")


@admin.register(ServerProcess)
class ServerProcessAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """The OCPP server processes that renewed their presence lately and how many chargers each holds. Operators
    only: no board group has its view permission."""

    list_display = ["name", "started_at", "alive_until", "chargers"]
    fields = list_display
