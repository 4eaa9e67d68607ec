"""Admin for roaming: partners (OCPI parties) with the handshake actions, and the OCPI request log.

Partners belong to the platform, not to a tenant, so only operator staff see these pages.
"""

from django import forms
from django.contrib import admin
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from accounts.admin_base import REASON_FIELD, AuditedAdmin, action_with_reason
from accounts.services import audit
from accounts.tenancy import is_operator_staff
from roaming.models import OcpiClientInfo, OcpiCommand, OcpiParty, OcpiPush, OcpiRequestLog, OcpiToken
from roaming.services import credentials as service
from roaming.services.credentials import ocpi_base_url


class OperatorOnlyMixin:
    def get_queryset(self, request):
        # Not tenant data: skip the tenant scoping of the base class and show all or nothing.
        queryset = admin.ModelAdmin.get_queryset(self, request)
        return queryset if is_operator_staff(request.user) else queryset.none()

    def has_module_permission(self, request):
        return is_operator_staff(request.user) and super().has_module_permission(request)

    def has_view_permission(self, request, obj=None):
        return is_operator_staff(request.user) and super().has_view_permission(request, obj)

    def has_add_permission(self, request, *args):
        return is_operator_staff(request.user) and super().has_add_permission(request, *args)

    def has_change_permission(self, request, obj=None):
        return is_operator_staff(request.user) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return is_operator_staff(request.user) and super().has_delete_permission(request, obj)


class OcpiPartyForm(forms.ModelForm):
    versions_url = forms.URLField(label=gettext_lazy("versions URL"), required=False, max_length=255,
                                  assume_scheme="https",
                                  help_text=gettext_lazy("The partner's OCPI versions endpoint."))
    token_b = forms.CharField(
        label=gettext_lazy("Token for calling the partner"), required=False, max_length=64,
        widget=forms.PasswordInput(render_value=False),
        help_text=gettext_lazy("To register with the partner, enter the token A it gave us. Leave empty to keep "
                               "the current token."))

    class Meta:
        model = OcpiParty
        fields = ["name", "role", "versions_url", "token_b", "plain_token", "country_code", "party_id"]

    def clean_token_b(self):
        # The field never shows the stored token, so an empty field means "unchanged".
        return self.cleaned_data["token_b"] or (self.instance.token_b if self.instance.pk else "")


def _issue_token_a(party, request, reason):
    token = service.party_issue_token_a(party=party, acting_user=request.user, reason=reason)
    return _("Token A for %(party)s (shown only now): %(token)s — give it to the partner with our versions URL "
             "%(url)s/versions") % {"party": party, "token": token, "url": ocpi_base_url()}


def _register(party, request, reason):
    service.party_register(party=party, acting_user=request.user, reason=reason)
    return _("Registered with %(party)s.") % {"party": party}


def _update(party, request, reason):
    service.party_update(party=party, acting_user=request.user, reason=reason)
    return _("Credentials renewed with %(party)s.") % {"party": party}


def _unregister(party, request, reason):
    service.party_unregister(party=party, acting_user=request.user, reason=reason)
    return _("Unregistered from %(party)s.") % {"party": party}


def _suspend(party, request, reason):
    service.party_set_suspended(party=party, suspended=True, acting_user=request.user, reason=reason)


def _resume(party, request, reason):
    service.party_set_suspended(party=party, suspended=False, acting_user=request.user, reason=reason)


@admin.register(OcpiParty)
class OcpiPartyAdmin(OperatorOnlyMixin, AuditedAdmin):
    form = OcpiPartyForm
    list_display = ["name", "country_code", "party_id", "role", "status", "version", "registered_at"]
    list_filter = ["status", "role", "version"]
    search_fields = ["name", "party_id"]
    readonly_fields = ["status", "version", "roles", "business_details", "endpoints", "token_a_issued_at",
                       "registered_at", "created_at", "updated_at"]
    fieldsets = [
        (None, {"fields": ["name", "role", "country_code", "party_id", "status"]}),
        (gettext_lazy("Connection"), {"fields": ["versions_url", "token_b", "plain_token", "version",
                                                 "token_a_issued_at", "registered_at"]}),
        (gettext_lazy("What the partner reported"), {"fields": ["roles", "business_details", "endpoints"]}),
        (gettext_lazy("Record"), {"fields": ["created_at", "updated_at"]}),
    ]
    actions = ["issue_token_a", "register", "renew_credentials", "unregister", "suspend", "resume"]
    issue_token_a = action_with_reason(
        description=gettext_lazy("Issue a token A (the partner registers with us)"), permissions=["change"],
        apply=_issue_token_a)
    register = action_with_reason(description=gettext_lazy("Register with the partner"), permissions=["change"],
                                  apply=_register)
    renew_credentials = action_with_reason(description=gettext_lazy("Renew credentials with the partner"),
                                           permissions=["change"], apply=_update)
    unregister = action_with_reason(description=gettext_lazy("Unregister from the partner"),
                                    permissions=["change"], apply=_unregister)
    suspend = action_with_reason(description=gettext_lazy("Suspend"), permissions=["change"], apply=_suspend)
    resume = action_with_reason(description=gettext_lazy("Resume"), permissions=["change"], apply=_resume)

    def save_model(self, request, obj, form, change):
        # The token is a secret: the audit row notes the other edited fields, never the token's value.
        changed = [name for name in form.changed_data if name != "token_b"]
        audit.save_edit(instance=obj, changed_fields=changed, acting_user=request.user,
                        reason=form.cleaned_data.get(REASON_FIELD, ""))


@admin.register(OcpiRequestLog)
class OcpiRequestLogAdmin(OperatorOnlyMixin, admin.ModelAdmin):
    list_display = ["at", "direction", "party", "method", "url", "http_status", "ocpi_status", "duration_ms"]
    list_filter = ["direction", "http_status", "ocpi_status", "party"]
    search_fields = ["url", "request_id", "correlation_id"]
    date_hierarchy = "at"
    list_select_related = ["party"]

    def has_add_permission(self, request, *args):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


def _retry_push(push, request, reason):
    from roaming.services.pushes import push_retry_now

    push_retry_now(push=push, acting_user=request.user, reason=reason)


@admin.register(OcpiPush)
class OcpiPushAdmin(OperatorOnlyMixin, admin.ModelAdmin):
    """The push log: read-only; "Retry now" sends a pending or given-up push again (with a reason, audited)."""

    list_display = ["created_at", "party", "module", "object_id", "method", "status", "attempts", "next_attempt_at",
                    "sent_at", "last_error"]
    list_filter = ["status", "module", "method", "party"]
    search_fields = ["object_id", "url", "last_error"]
    date_hierarchy = "created_at"
    list_select_related = ["party"]
    readonly_fields = ["party", "module", "object_id", "method", "url", "payload", "status", "attempts",
                       "next_attempt_at", "last_error", "created_at", "sent_at"]
    actions = ["retry_now"]
    retry_now = action_with_reason(description=gettext_lazy("Retry now"), permissions=["retry"], apply=_retry_push)

    def has_retry_permission(self, request) -> bool:
        return is_operator_staff(request.user) and self.has_view_permission(request)

    def has_add_permission(self, request, *args):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class _ReadOnlyOperatorAdmin(OperatorOnlyMixin, admin.ModelAdmin):
    """Rows the partners write through OCPI: support looks, nobody edits them here."""

    def has_add_permission(self, request, *args):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(OcpiToken)
class OcpiTokenAdmin(_ReadOnlyOperatorAdmin):
    list_display = ["uid", "type", "country_code", "party_code", "contract_id", "valid", "whitelist", "owner",
                    "last_updated"]
    list_filter = ["valid", "whitelist", "type", "owner"]
    search_fields = ["=uid", "contract_id", "visual_number"]
    list_select_related = ["owner"]


@admin.register(OcpiCommand)
class OcpiCommandAdmin(_ReadOnlyOperatorAdmin):
    list_display = ["created_at", "command", "party", "response", "result", "result_sent_at", "result_attempts"]
    list_filter = ["command", "response", "result", "party"]
    list_select_related = ["party"]
    date_hierarchy = "created_at"


@admin.register(OcpiClientInfo)
class OcpiClientInfoAdmin(_ReadOnlyOperatorAdmin):
    list_display = ["country_code", "party_code", "role", "status", "hub", "last_updated"]
    list_filter = ["status", "role", "hub"]
    list_select_related = ["hub"]
