"""Admin for sites, charge points, EVSEs and connectors (editable, audited) and for what chargers report:
sessions, meter samples, reservations, commands, the OCPP frame log and the authorization monitor (read-only).
"""

from django.contrib import admin
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from accounts.admin_base import AuditedAdmin, TenantScopedAdmin, TenantScopedInline, action_with_reason
from accounts.tenancy import scope
from charging.models import (
    AuthorizationAttempt,
    ChargePoint,
    ChargingSession,
    Connector,
    Evse,
    Location,
    MeterSample,
    OcppFrame,
    OrphanTransactionStop,
    RemoteCommand,
    Reservation,
    StationEvent,
)
from charging.services import stations

# Path from each model offered in a choice list to its Organization.
_ORGANIZATION_PATHS = {
    Location: "organization",
    ChargePoint: "organization",
    Evse: "charge_point__organization",
}


class ChargingChoicesMixin:
    """Offers (and so accepts) only sites, charge points and EVSEs of organizations the user may see."""

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        path = _ORGANIZATION_PATHS.get(db_field.related_model)
        if path is not None:
            kwargs["queryset"] = scope(db_field.related_model._default_manager.all(), request.user, path)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


class ReadOnlyAdminMixin:
    """Rows written by chargers and the gateway: corrections go through services, not the admin."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class EvseInline(TenantScopedInline):
    model = Evse
    organization_field = "charge_point__organization"
    extra = 0
    show_change_link = True
    fields = ["evse_id", "public_id", "current_type", "max_power_w", "status", "status_at"]
    readonly_fields = ["status", "status_at"]


class ConnectorInline(TenantScopedInline):
    model = Connector
    organization_field = "evse__charge_point__organization"
    extra = 0
    fields = ["connector_id", "standard", "status", "error_code", "vendor_error_code", "info", "status_at"]
    readonly_fields = ["status", "error_code", "vendor_error_code", "info", "status_at"]


class MeterSampleInline(ReadOnlyAdminMixin, TenantScopedInline):
    model = MeterSample
    organization_field = "charge_point__organization"
    fields = ["timestamp", "measurand", "phase", "location", "context", "value", "unit"]
    readonly_fields = fields


@admin.register(Location)
class LocationAdmin(AuditedAdmin):
    list_display = ["name", "organization", "street_address", "city", "bidding_area"]
    list_filter = ["bidding_area", "organization__kind"]
    search_fields = ["name", "street_address", "city", "organization__name"]
    autocomplete_fields = ["organization"]
    list_select_related = ["organization"]


def _new_auth_key(charge_point, request, reason):
    key = stations.generate_auth_key()
    stations.charge_point_set_auth_key(charge_point=charge_point, auth_key=key, acting_user=request.user,
                                       reason=reason)
    return _("%(cp)s: new AuthorizationKey %(key)s — set it in the charger now, it is not shown again.") % {
        "cp": charge_point, "key": key}


@admin.register(ChargePoint)
class ChargePointAdmin(ChargingChoicesMixin, AuditedAdmin):
    list_display = ["identity", "display_name", "organization", "location", "status", "is_connected",
                    "last_seen_at", "ocpp_version", "registration_status"]
    list_filter = ["is_connected", "registration_status", "ocpp_version", "organization__kind"]
    search_fields = ["identity", "display_name", "serial_number", "organization__name", "location__name"]
    autocomplete_fields = ["organization", "location"]
    list_select_related = ["organization", "location"]
    readonly_fields = ["vendor", "model", "firmware_version", "ocpp_version", "is_connected", "last_seen_at",
                       "last_boot_at", "status", "error_code", "device_model", "created_at"]
    inlines = [EvseInline]
    actions = ["new_auth_key"]

    new_auth_key = action_with_reason(
        description=gettext_lazy("Generate a new AuthorizationKey (HTTP Basic password)"),
        permissions=["set_auth_key"], apply=_new_auth_key)

    def has_set_auth_key_permission(self, request):
        return self.operator_only(request)


@admin.register(Evse)
class EvseAdmin(ChargingChoicesMixin, AuditedAdmin):
    organization_field = "charge_point__organization"
    list_display = ["__str__", "public_id", "current_type", "max_power_w", "status", "status_at"]
    list_filter = ["status", "current_type"]
    search_fields = ["charge_point__identity", "charge_point__display_name", "public_id"]
    autocomplete_fields = ["charge_point"]
    list_select_related = ["charge_point"]
    readonly_fields = ["status", "status_at"]
    inlines = [ConnectorInline]


@admin.register(Connector)
class ConnectorAdmin(ChargingChoicesMixin, AuditedAdmin):
    organization_field = "evse__charge_point__organization"
    list_display = ["__str__", "standard", "status", "error_code", "status_at"]
    list_filter = ["status", "standard"]
    search_fields = ["evse__charge_point__identity", "evse__charge_point__display_name", "evse__public_id"]
    autocomplete_fields = ["evse"]
    list_select_related = ["evse__charge_point"]
    readonly_fields = ["status", "error_code", "vendor_error_code", "info", "status_at"]


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


@admin.register(OrphanTransactionStop)
class OrphanTransactionStopAdmin(AuditedAdmin):
    """Support reviews each stop and marks it resolved; everything else is as the charger sent it."""

    organization_field = "charge_point__organization"
    list_display = ["received_at", "charge_point", "transaction_id", "id_token_uid", "meter_stop_wh",
                    "stopped_at", "stop_reason", "resolved"]
    list_filter = ["resolved"]
    search_fields = ["transaction_id", "id_token_uid", "charge_point__identity"]
    date_hierarchy = "received_at"
    list_select_related = ["charge_point"]
    fields = ["charge_point", "transaction_id", "id_token_uid", "meter_stop_wh", "stopped_at", "stop_reason",
              "payload", "received_at", "resolved"]
    readonly_fields = [f for f in fields if f != "resolved"]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
