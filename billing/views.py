"""Billing's public endpoints: the Stripe webhook (no login, no CSRF: Stripe signs every delivery instead)."""

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from billing.services.payments import stripe_webhook_handle
from billing.stripe_gateway import WebhookError


@csrf_exempt
@require_POST
def stripe_webhook(request: HttpRequest) -> HttpResponse:
    """200 for every verified event (handled, ignored or a redelivery), 400 for a delivery that fails verification."""
    if not settings.STRIPE_WEBHOOK_SECRET:
        return HttpResponse(_("Stripe webhooks are not configured."), status=503, content_type="text/plain")
    try:
        result = stripe_webhook_handle(payload=request.body,
                                       signature_header=request.headers.get("Stripe-Signature"))
    except WebhookError as error:
        return HttpResponse(_(error.template) % error.params, status=400, content_type="text/plain")
    return HttpResponse(result, content_type="text/plain")
