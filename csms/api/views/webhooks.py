"""Connect API endpoints for webhooks: register, list, change and remove an organization's endpoints, send a test
event, and read an endpoint's delivery log. Every queryset is narrowed to the caller's organizations first, so
another organization's endpoint answers 404; changes need the write scope and go through webhooks.services."""

from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import exceptions, mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.parsers import JSONParser
from rest_framework.response import Response

from accounts.models import ApiKey, Organization
from csms import events
from csms.api.authentication import scope_for
from csms.api.errors import as_api_error
from csms.api.serializers.webhooks import (
    ReasonSerializer,
    WebhookDeliverySerializer,
    WebhookEndpointCreatedSerializer,
    WebhookEndpointCreateSerializer,
    WebhookEndpointSerializer,
    WebhookEndpointUpdateSerializer,
)
from csms.api.views import BAD_REQUEST, COMMON_ERRORS, NOT_FOUND, ApiViewMixin, acting_user, audit_reason, require_write
from webhooks import services
from webhooks.models import WebhookDelivery, WebhookEndpoint

#: How receivers check a delivery; shown in the API docs of the create endpoint.
RECIPE = """The answer holds the signing secret; it is never shown again.

Each event is POSTed as JSON (`{"id", "type", "created_at", "organization", "data"}`) with the headers
`X-CSMS-Event` (the type), `X-CSMS-Delivery` (the event id, the same on every retry: drop duplicates),
`X-CSMS-Timestamp` (unix seconds) and `X-CSMS-Signature: v1=<hex>`, where `<hex>` is the HMAC-SHA256, keyed with the
secret, of `<timestamp>.<raw body>`. Answer 2xx within a few seconds; anything else (also a redirect, which is not
followed) is retried with backoff, and after repeated failures the endpoint is disabled. To verify, in Python:

```python
import hashlib, hmac, time

def verify(secret: str, body: bytes, timestamp: str, header: str, tolerance: int = 300) -> bool:
    if abs(time.time() - int(timestamp)) > tolerance:
        return False
    expected = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return any(hmac.compare_digest(part.strip()[3:], expected)
               for part in header.split(",") if part.strip().startswith("v1="))
```"""
DELIVERY_STATUSES = [value for value, _label in WebhookDelivery.Status.choices]
DELIVERY_EVENT_TYPES = [*events.EVENT_TYPES, services.TEST_EVENT]





@extend_schema_view(
    # A page past the last (or below 1) answers 404, as DRF's page-number pagination does.
    list=extend_schema(summary="List webhook endpoints",
                       responses={200: WebhookEndpointSerializer(many=True), **COMMON_ERRORS, **BAD_REQUEST,
                                  **NOT_FOUND}),
    retrieve=extend_schema(summary="One webhook endpoint",
                           responses={200: WebhookEndpointSerializer, **COMMON_ERRORS, **NOT_FOUND}),
)
class WebhookEndpointViewSet(ApiViewMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin,
                             viewsets.GenericViewSet):
    serializer_class = WebhookEndpointSerializer
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]
    # JSON only: the bodies are small documents, and an empty multipart body is refused by the ASGI server with an
    # empty 400 before the API can answer in its error shape.
    parser_classes = [JSONParser]

    def get_queryset(self):
        return scope_for(self.request, WebhookEndpoint.objects.all()).order_by("pk")

    def _organization(self, organization_id: int | None) -> Organization:
        visible = scope_for(self.request, Organization.objects.all(), "pk")
        if organization_id is not None:
            organization = visible.filter(pk=organization_id).first()
            if organization is None:
                raise exceptions.NotFound()
            return organization
        if isinstance(self.request.auth, ApiKey):
            return self.request.auth.organization
        candidates = list(visible.order_by("pk")[:2])
        if len(candidates) != 1:
            raise exceptions.ValidationError({"organization": [_("Say which organization the endpoint belongs to.")]})
        return candidates[0]

    @extend_schema(
        summary="Register a webhook endpoint",
        description=RECIPE,
        request=WebhookEndpointCreateSerializer,
        responses={201: WebhookEndpointCreatedSerializer, **COMMON_ERRORS, **BAD_REQUEST, **NOT_FOUND},
        examples=[OpenApiExample("Sessions to an HTTPS receiver", request_only=True, value={
            "url": "https://example.com/csms-hooks", "event_types": ["session.started", "session.ended"],
            "description": "Energy dashboard", "reason": "New integration"})],
    )
    def create(self, request):
        body = WebhookEndpointCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        organization = self._organization(data.get("organization"))
        require_write(request, organization.pk)
        try:
            endpoint = services.endpoint_create(
                organization=organization, url=data["url"], event_types=data["event_types"],
                description=data["description"], acting_user=acting_user(request),
                reason=audit_reason(request, data["reason"]))
        except DjangoValidationError as error:
            raise as_api_error(error) from error
        return Response(WebhookEndpointCreatedSerializer(endpoint).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Change a webhook endpoint",
        request=WebhookEndpointUpdateSerializer,
        responses={200: WebhookEndpointSerializer, **COMMON_ERRORS, **BAD_REQUEST, **NOT_FOUND},
        examples=[OpenApiExample("Re-enable after fixing the receiver", request_only=True,
                                 value={"is_active": True, "reason": "Receiver fixed"})],
    )
    def partial_update(self, request, pk=None):
        endpoint = self.get_object()
        body = WebhookEndpointUpdateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        require_write(request, endpoint.organization_id)
        try:
            endpoint = services.endpoint_update(
                endpoint=endpoint, url=data.get("url"), event_types=data.get("event_types"),
                description=data.get("description"), is_active=data.get("is_active"),
                acting_user=acting_user(request), reason=audit_reason(request, data["reason"]))
        except DjangoValidationError as error:
            raise as_api_error(error) from error
        return Response(WebhookEndpointSerializer(endpoint).data)

    @extend_schema(
        summary="Remove a webhook endpoint",
        description="Its delivery log goes with it.",
        parameters=[OpenApiParameter("reason", OpenApiTypes.STR, OpenApiParameter.QUERY, required=False,
                                     description="Why; stored in the audit log.")],
        request=None,
        responses={204: OpenApiResponse(description="Removed."), **COMMON_ERRORS, **NOT_FOUND},
        examples=[OpenApiExample("No longer used", request_only=True, value=None)],
    )
    def destroy(self, request, pk=None):
        endpoint = self.get_object()
        require_write(request, endpoint.organization_id)
        # The database refuses NUL characters in text; a reason is free text from the query string.
        given = request.query_params.get("reason", "").replace("\x00", "")[:500]
        services.endpoint_delete(endpoint=endpoint, acting_user=acting_user(request),
                                 reason=audit_reason(request, given))
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        summary="Send a test event",
        description='Queues one "webhook.test" delivery (not retried); follow it in the delivery log.',
        request=ReasonSerializer,
        responses={202: WebhookDeliverySerializer, **COMMON_ERRORS, **BAD_REQUEST, **NOT_FOUND},
        examples=[OpenApiExample("Try the receiver", request_only=True, value={"reason": "Checking the receiver"})],
    )
    @action(detail=True, methods=["post"], url_path="test")
    def send_test(self, request, pk=None):
        endpoint = self.get_object()
        body = ReasonSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        require_write(request, endpoint.organization_id)
        try:
            delivery = services.endpoint_send_test(endpoint=endpoint, acting_user=acting_user(request),
                                                   reason=audit_reason(request, body.validated_data["reason"]))
        except DjangoValidationError as error:
            raise as_api_error(error) from error
        return Response(WebhookDeliverySerializer(delivery).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(
        summary="An endpoint's delivery log",
        description="Newest first.",
        parameters=[
            OpenApiParameter("status", OpenApiTypes.STR, OpenApiParameter.QUERY, enum=DELIVERY_STATUSES),
            OpenApiParameter("event_type", OpenApiTypes.STR, OpenApiParameter.QUERY, enum=DELIVERY_EVENT_TYPES),
        ],
        responses={200: WebhookDeliverySerializer(many=True), **COMMON_ERRORS, **BAD_REQUEST, **NOT_FOUND},
    )
    @action(detail=True, methods=["get"], filter_backends=[])
    def deliveries(self, request, pk=None):
        endpoint = self.get_object()
        queryset = WebhookDelivery.objects.filter(endpoint=endpoint).order_by("-created_at", "-pk")
        errors = {}
        for name, allowed in (("status", DELIVERY_STATUSES), ("event_type", DELIVERY_EVENT_TYPES)):
            value = request.query_params.get(name)
            if value is None:
                continue
            if value not in allowed:
                errors[name] = [_("Choose one of: %(choices)s.") % {"choices": ", ".join(allowed)}]
            else:
                queryset = queryset.filter(**{name: value})
        if errors:
            raise exceptions.ValidationError(errors)
        page = self.paginate_queryset(queryset)
        return self.get_paginated_response(WebhookDeliverySerializer(page, many=True).data)
