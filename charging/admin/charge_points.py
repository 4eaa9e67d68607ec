"""The charge point pages: the station list and the charge point page, put together from the mixins beside
this module."""

from django.contrib import admin
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from accounts.admin_base import AuditedAdmin, action_with_reason
from charging.admin.base import ChargingChoicesMixin, EvseInline
from charging.models import ChargePoint
from charging.services import stations


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


