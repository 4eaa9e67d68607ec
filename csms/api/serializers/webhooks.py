"""Connect API representations of webhook endpoints (the signing secret appears only in the answer to a create) and
of their deliveries, and the inputs that create, change and test them."""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from csms import events
from webhooks.models import WebhookDelivery, WebhookEndpoint

EVENT_TYPE_CHOICES = list(events.EVENT_TYPES)


class WebhookEndpointSerializer(serializers.ModelSerializer):
    organization = serializers.IntegerField(source="organization_id", read_only=True)
    event_types = serializers.ListField(child=serializers.ChoiceField(choices=EVENT_TYPE_CHOICES), read_only=True)

    class Meta:
        model = WebhookEndpoint
        fields = ["id", "organization", "url", "description", "event_types", "is_active", "consecutive_failures",
                  "disabled_at", "disabled_reason", "created_at"]
        read_only_fields = fields


class WebhookEndpointCreatedSerializer(WebhookEndpointSerializer):
    secret = serializers.CharField(read_only=True, help_text=(
        "The signing secret: X-CSMS-Signature is v1=<hex HMAC-SHA256 of \"<X-CSMS-Timestamp>.<raw body>\"> keyed "
        "with it. Shown only in this answer; store it now."))

    class Meta(WebhookEndpointSerializer.Meta):
        fields = [*WebhookEndpointSerializer.Meta.fields, "secret"]
        read_only_fields = fields


class WebhookEndpointCreateSerializer(serializers.Serializer):
    organization = serializers.IntegerField(required=False, min_value=1, max_value=2**63 - 1, help_text=(
        "The organization's database id; needed only when the caller sees several organizations (default: the "
        "API key's organization)."))
    url = serializers.CharField(max_length=500, help_text="https:// URL that receives the POSTs.")
    description = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    event_types = serializers.ListField(child=serializers.ChoiceField(choices=EVENT_TYPE_CHOICES), min_length=1,
                                        max_length=len(EVENT_TYPE_CHOICES))
    reason = serializers.CharField(max_length=500, required=False, allow_blank=True, default="",
                                   help_text="Why; stored in the audit log.")


class WebhookEndpointUpdateSerializer(serializers.Serializer):
    url = serializers.CharField(max_length=500, required=False)
    description = serializers.CharField(max_length=200, required=False, allow_blank=True)
    event_types = serializers.ListField(child=serializers.ChoiceField(choices=EVENT_TYPE_CHOICES), min_length=1,
                                        max_length=len(EVENT_TYPE_CHOICES), required=False)
    is_active = serializers.BooleanField(required=False, help_text=(
        "false pauses deliveries; true re-enables an endpoint (also one disabled after repeated failures)."))
    reason = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")


class ReasonSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=500, required=False, allow_blank=True, default="",
                                   help_text="Why; stored in the audit log.")


class WebhookDeliverySerializer(serializers.ModelSerializer):
    endpoint = serializers.IntegerField(source="endpoint_id", read_only=True)
    event_id = serializers.UUIDField(read_only=True, help_text="Sent as X-CSMS-Delivery; the same on every retry.")
    payload = serializers.SerializerMethodField(help_text="The JSON body that was (or will be) POSTed.")

    class Meta:
        model = WebhookDelivery
        fields = ["id", "endpoint", "event_type", "event_id", "status", "attempts", "response_status",
                  "response_body", "last_error", "next_attempt_at", "delivered_at", "created_at", "payload"]
        read_only_fields = fields

    @extend_schema_field(serializers.DictField())
    def get_payload(self, delivery: WebhookDelivery) -> dict:
        return delivery.payload
