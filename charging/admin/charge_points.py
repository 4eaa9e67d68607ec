"""The charge point pages: the station list and the charge point page, put together from the mixins beside
this module."""

from django.contrib import admin
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from accounts.admin_base import AuditedAdmin, action_with_reason
from charging.admin.base import ChargingChoicesMixin, EvseInline
from charging.admin.bulk import ChargePointBulkMixin
from charging.admin.station_list import StationListMixin
from charging.admin.station_page import StationPageMixin, answer_text, failure_text
from charging.commands import CommandFailed
from charging.models import ChargePoint, Connector, Evse
from charging.services import remote, stations


def _new_auth_key(charge_point, request, reason):
    key = stations.generate_auth_key()
    stations.charge_point_set_auth_key(charge_point=charge_point, auth_key=key, acting_user=request.user,
                                       reason=reason)
    return _("%(cp)s: new AuthorizationKey %(key)s — set it in the charger now, it is not shown again.") % {
        "cp": charge_point, "key": key}


def _rotate_auth_key(charge_point, request, reason):
    try:
        rotation = remote.auth_key_rotate(charge_point=charge_point, acting_user=request.user, reason=reason,
                                          now=timezone.now())
    except CommandFailed as failure:
        raise ValidationError(failure_text(failure.command)) from failure
    if rotation.auth_key is None:
        raise ValidationError(_("the charger kept its key (%(answer)s); nothing changed.") % {
            "answer": answer_text(rotation.command)})
    return _("%(cp)s took the new AuthorizationKey %(key)s (shown once; the old one works for 24 hours more).") % {
        "cp": charge_point, "key": rotation.auth_key}


@admin.register(ChargePoint)
class ChargePointAdmin(StationListMixin, StationPageMixin, ChargePointBulkMixin, ChargingChoicesMixin, AuditedAdmin):
    autocomplete_fields = ["organization", "location"]
    readonly_fields = ["vendor", "model", "firmware_version", "ocpp_version", "is_connected", "last_seen_at",
                       "last_boot_at", "status", "status_at", "error_code", "device_model", "configuration",
                       "configuration_at", "sessions_30d", "failed_sessions_30d", "error_rate", "decommissioned_at",
                       "created_at"]
    inlines = [EvseInline]
    actions = ["new_auth_key", "rotate_auth_key", "clone_configuration", "move_to_organization", "soft_reset",
               "hard_reset"]

    new_auth_key = action_with_reason(
        description=gettext_lazy("Generate a new AuthorizationKey (HTTP Basic password)"),
        permissions=["set_auth_key"], apply=_new_auth_key)
    rotate_auth_key = action_with_reason(
        description=gettext_lazy("Rotate the AuthorizationKey on the charger (over OCPP)"),
        permissions=["set_auth_key"], apply=_rotate_auth_key)

    def has_set_auth_key_permission(self, request):
        return self.operator_only(request)

    def get_readonly_fields(self, request, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        # A station changes owner only through "Move to another organization", which keeps its history straight.
        return [*fields, "organization"] if obj is not None else fields

    def history_targets(self, obj):
        evse_pks = list(obj.evses.values_list("pk", flat=True))
        return [(Evse, evse_pks), (Connector, list(Connector.objects.filter(evse__in=evse_pks).values_list(
            "pk", flat=True)))]


