"""Sites, EVSEs and connectors (editable, audited)."""

from django.contrib import admin

from accounts.admin_base import AuditedAdmin
from charging.admin.base import ChargingChoicesMixin, ConnectorInline
from charging.models import Connector, Evse, Location


@admin.register(Location)
class LocationAdmin(AuditedAdmin):
    list_display = ["name", "organization", "street_address", "city", "bidding_area"]
    list_filter = ["bidding_area", "organization__kind"]
    search_fields = ["name", "street_address", "city", "organization__name"]
    autocomplete_fields = ["organization"]
    list_select_related = ["organization"]


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


