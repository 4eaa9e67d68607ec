"""Mixins shared by the charging admin pages."""

__all__ = ["ChargingChoicesMixin", "EvseInline", "MeterSampleInline", "ReadOnlyAdminMixin"]

from accounts.admin_base import ReadOnlyAdminMixin, TenantScopedInline
from accounts.tenancy import scope
from charging.models import ChargePoint, Connector, Evse, Location, MeterSample

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


class EvseInline(TenantScopedInline):
    model = Evse
    organization_field = "charge_point__organization"
    extra = 0
    show_change_link = True
    fields = ["evse_id", "public_id", "public_code", "current_type", "max_power_w", "status", "status_at"]
    readonly_fields = ["public_code", "status", "status_at"]


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


