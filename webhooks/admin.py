"""Admin pages for webhook endpoints (tenant-scoped, every change with a reason; send a test event, re-enable,
rotate the secret) and the read-only delivery log (filters, "Retry now")."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.utils.html import format_html
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from accounts.admin_base import REASON_FIELD, AuditedAdmin, TenantScopedAdmin, action_with_reason
from csms import events
from webhooks import services
from webhooks.models import WebhookDelivery, WebhookEndpoint


class WebhookEndpointForm(forms.ModelForm):
    url = forms.CharField(label=gettext_lazy("URL"), max_length=500,
                          help_text=gettext_lazy("The https:// address that receives the events."))
    event_types = forms.MultipleChoiceField(
        label=gettext_lazy("Event types"), choices=[(t, t) for t in events.EVENT_TYPES],
        widget=forms.CheckboxSelectMultiple)

    class Meta:
        model = WebhookEndpoint
        fields = ["organization", "url", "description", "event_types", "is_active"]

    def clean_url(self):
        try:
            return services.validate_url(self.cleaned_data["url"])
        except ValidationError as error:
            raise ValidationError(error.message_dict["url"]) from error


def _send_test(endpoint: WebhookEndpoint, request, reason: str) -> str:
    delivery = services.endpoint_send_test(endpoint=endpoint, acting_user=request.user, reason=reason)
    return _("%(url)s: test event %(id)s queued; see the delivery log.") % {"url": endpoint.url,
                                                                            "id": delivery.event_id}


def _reenable(endpoint: WebhookEndpoint, request, reason: str) -> None:
    services.endpoint_reenable(endpoint=endpoint, acting_user=request.user, reason=reason)


def _rotate(endpoint: WebhookEndpoint, request, reason: str) -> str:
    endpoint = services.endpoint_rotate_secret(endpoint=endpoint, acting_user=request.user, reason=reason)
    return _("%(url)s: the new signing secret is %(secret)s — copy it now, it is not shown again.") % {
        "url": endpoint.url, "secret": endpoint.secret}


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(AuditedAdmin):
    form = WebhookEndpointForm
    list_display = ["url", "organization", "subscribed", "is_active", "consecutive_failures", "disabled_at",
                    "created_at"]
    list_filter = ["is_active"]
    search_fields = ["url", "description", "organization__name"]
    list_select_related = ["organization"]
    readonly_fields = ["consecutive_failures", "disabled_at", "disabled_reason", "created_by", "created_at",
                       "deliveries_link"]
    actions = ["send_test_event", "reenable", "rotate_secret"]

    send_test_event = action_with_reason(description=gettext_lazy("Send test event"), permissions=["change"],
                                         apply=_send_test)
    reenable = action_with_reason(description=gettext_lazy("Re-enable"), permissions=["change"], apply=_reenable)
    rotate_secret = action_with_reason(description=gettext_lazy("Rotate secret"), permissions=["change"],
                                       apply=_rotate)

    @admin.display(description=gettext_lazy("events"))
    def subscribed(self, obj: WebhookEndpoint) -> str:
        return ", ".join(obj.event_types)

    @admin.display(description=gettext_lazy("deliveries"))
    def deliveries_link(self, obj: WebhookEndpoint) -> str:
        if obj.pk is None:
            return "–"
        return format_html('<a href="../../../webhookdelivery/?endpoint__id__exact={}">{}</a>', obj.pk,
                           _("Delivery log"))

    def get_fields(self, request, obj=None):
        fields = ["organization", "url", "description", "event_types"]
        if obj is not None:
            fields += ["is_active", *self.readonly_fields]
        return fields

    def get_readonly_fields(self, request, obj=None):
        return [*self.readonly_fields, "organization"] if obj is not None else []

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        reason = data.get(REASON_FIELD, "")
        if not change:
            endpoint = services.endpoint_create(
                organization=data["organization"], url=data["url"], event_types=data["event_types"],
                description=data.get("description", ""), acting_user=request.user, reason=reason)
            obj.pk, obj.secret = endpoint.pk, endpoint.secret
            self.message_user(request, _("The signing secret is %(secret)s — copy it now, it is not shown again.")
                              % {"secret": endpoint.secret}, messages.WARNING)
            return
        services.endpoint_update(endpoint=obj, url=data["url"], event_types=data["event_types"],
                                 description=data.get("description", ""), is_active=data.get("is_active"),
                                 acting_user=request.user, reason=reason)

    def delete_model(self, request, obj):
        services.endpoint_delete(endpoint=obj, acting_user=request.user, reason=_("Deleted in the admin"))


def _retry(delivery: WebhookDelivery, request, reason: str) -> None:
    services.delivery_retry(delivery=delivery, acting_user=request.user, reason=reason)


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(TenantScopedAdmin):
    organization_field = "endpoint__organization"
    list_display = ["created_at", "event_type", "endpoint", "status", "attempts", "response_status",
                    "next_attempt_at", "delivered_at"]
    list_filter = ["status", "event_type", ("endpoint", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["event_id", "endpoint__url"]
    list_select_related = ["endpoint"]
    date_hierarchy = "created_at"
    readonly_fields = ["endpoint", "event_type", "event_id", "payload", "attempts", "status", "response_status",
                       "response_body", "last_error", "next_attempt_at", "delivered_at", "created_at"]
    fields = readonly_fields
    actions = ["retry_now"]

    retry_now = action_with_reason(description=gettext_lazy("Retry now"), permissions=["retry"], apply=_retry)

    def has_retry_permission(self, request) -> bool:
        # Sending again changes the endpoint's state (its failure count), so it takes the right to change endpoints.
        return request.user.has_perm("webhooks.change_webhookendpoint")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
