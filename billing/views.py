"""Billing's public endpoints: the Stripe webhook (no login, no CSRF: Stripe signs every delivery instead), the
public pay page of an invoice (a signed token is the permission) and the card-saving page of a logged-in resident."""

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from billing.services.payments import (
    amount_due,
    card_setup_start,
    invoice_for_pay_token,
    invoice_pay_start,
    stripe_webhook_handle,
)
from billing.stripe_gateway import StripeGatewayError, WebhookError


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


def pay(request: HttpRequest, token: str) -> HttpResponse:
    """The pay page of one invoice: 404 for a bad token; "paid" when nothing is due; else Stripe's Payment Element."""
    invoice = invoice_for_pay_token(token)
    if invoice is None:
        raise Http404(_("No invoice to pay here."))
    page = request.build_absolute_uri(reverse("billing:pay", args=[token]))
    context = {"invoice": invoice, "amount_due": amount_due(invoice), "publishable_key":
               settings.STRIPE_PUBLISHABLE_KEY, "payment": None, "error": "", "return_url": page}
    try:
        context["payment"] = invoice_pay_start(invoice=invoice, success_url=page, cancel_url=page)
    except StripeGatewayError as error:
        context["error"] = _(error.template) % error.params
    return render(request, "billing/pay.html", context, status=503 if context["error"] else 200)


@login_required
def save_card(request: HttpRequest) -> HttpResponse:
    """A resident saves a card for automatic charges of their invoices (a SetupIntent confirmed by Stripe.js)."""
    context = {"publishable_key": settings.STRIPE_PUBLISHABLE_KEY, "client_secret": "", "error": "",
               "return_url": request.build_absolute_uri(reverse("billing:save_card"))}
    try:
        context["client_secret"] = card_setup_start(user=request.user)
    except StripeGatewayError as error:
        context["error"] = _(error.template) % error.params
    return render(request, "billing/save_card.html", context, status=503 if context["error"] else 200)
