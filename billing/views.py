"""Billing's public endpoints: the Stripe webhook (no login, no CSRF: Stripe signs every delivery instead), the
public pay page of an invoice (a signed token is the permission) and the card-saving page of a logged-in resident.
Swish, when configured: starting a payment request from the pay page, its status as JSON for the page's polling,
and Swish's callback (no CSRF and not signed: the service only takes it as a prompt to ask Swish)."""

from urllib.parse import urlencode

from django import forms
from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from billing.models import Invoice, SwishPaymentRequest
from billing.services.payments import (
    PaymentError,
    amount_due,
    card_setup_start,
    invoice_for_pay_token,
    invoice_pay_start,
    stripe_webhook_handle,
)
from billing.services.swish_payments import (
    SwishCallbackError,
    SwishUnavailable,
    swish_amount_due,
    swish_callback_handle,
    swish_enabled,
    swish_payer_alias,
    swish_request_refresh,
    swish_request_start,
)
from billing.stripe_gateway import StripeGatewayError, StripeNotConfigured, WebhookError


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


def pay(request: HttpRequest, token: str, swish_form: "SwishStartForm | None" = None) -> HttpResponse:
    """The pay page of one invoice: 404 for a bad token; "paid" when nothing is due; else Stripe's Payment Element
    (and the Swish form when Swish is configured)."""
    invoice = invoice_for_pay_token(token)
    if invoice is None:
        raise Http404(_("No invoice to pay here."))
    page = request.build_absolute_uri(reverse("billing:pay", args=[token]))
    context = {"invoice": invoice, "amount_due": amount_due(invoice), "publishable_key":
               settings.STRIPE_PUBLISHABLE_KEY, "payment": None, "error": "", "return_url": page,
               **_swish_context(request, invoice, token, page, swish_form)}
    try:
        context["payment"] = invoice_pay_start(invoice=invoice, success_url=page, cancel_url=page)
    except StripeNotConfigured as error:
        # A Swish-only deployment offers no card payment; without Swish either, the page cannot take money.
        context["card_disabled"] = context["swish_enabled"]
        if not context["card_disabled"]:
            context["error"] = _(error.template) % error.params
    except StripeGatewayError as error:
        context["error"] = _(error.template) % error.params
    status = 400 if swish_form is not None else 503 if context["error"] else 200
    return render(request, "billing/pay.html", context, status=status)


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


# --- Swish ----------------------------------------------------------------------------------------------------------

_SWISH_TOKENS = "billing.swish_app_tokens"  # session key: the m-commerce tokens of this browser's requests


class SwishStartForm(forms.Form):
    payer_mobile = forms.CharField(
        label=gettext_lazy("Mobile number connected to Swish"), required=False, max_length=20,
        help_text=gettext_lazy("Leave it empty to open Swish on this device."),
        widget=forms.TextInput(attrs={"inputmode": "tel", "autocomplete": "tel"}))

    def clean_payer_mobile(self) -> str:
        raw = self.cleaned_data["payer_mobile"].strip()
        try:
            return swish_payer_alias(raw) if raw else ""
        except PaymentError as error:
            raise forms.ValidationError(str(error)) from error


def _swish_context(request: HttpRequest, invoice: Invoice, token: str, page: str,
                   form: SwishStartForm | None) -> dict:
    """The pay page's Swish block: the form while something is due, and the request named by ?swish= (this
    invoice's only) with its status URL and, for an m-commerce request started here, the link opening the app."""
    if not swish_enabled():
        return {"swish_enabled": False}
    context = {"swish_enabled": True, "swish_offer": swish_amount_due(invoice) > 0,
               "swish_form": form if form is not None else SwishStartForm(), "swish_request": None,
               "swish_start_url": reverse("billing:swish_start", args=[token])}
    requested = request.GET.get("swish", "")
    if requested.isdigit():
        swish_request = SwishPaymentRequest.objects.filter(invoice=invoice, pk=int(requested)).first()
        if swish_request is not None:
            context["swish_request"] = swish_request
            context["swish_status_url"] = reverse("billing:swish_status", args=[token, swish_request.pk])
            app_token = request.session.get(_SWISH_TOKENS, {}).get(str(swish_request.pk), "")
            if app_token and swish_request.status == SwishPaymentRequest.Status.CREATED:
                context["swish_app_url"] = "swish://paymentrequest?" + urlencode({"token": app_token,
                                                                                  "callbackurl": page})
    return context


def _swish_invoice(token: str) -> Invoice:
    """The pay page's invoice for the Swish endpoints; 404 when Swish is off or the token is bad."""
    invoice = invoice_for_pay_token(token) if swish_enabled() else None
    if invoice is None:
        raise Http404(_("No invoice to pay with Swish here."))
    return invoice


@require_POST
def swish_start(request: HttpRequest, token: str) -> HttpResponse:
    """Start a Swish payment of the invoice, then back to the pay page, which follows the request."""
    invoice = _swish_invoice(token)
    form = SwishStartForm(request.POST)
    if form.is_valid():
        callback = settings.PUBLIC_BASE_URL.rstrip("/") + reverse("billing:swish_callback")
        try:
            swish_request = swish_request_start(invoice=invoice, payer_alias=form.cleaned_data["payer_mobile"],
                                                callback_url=callback)
        except PaymentError as error:
            form.add_error(None, str(error))
        else:
            if swish_request.app_token:
                tokens = request.session.get(_SWISH_TOKENS, {})
                tokens[str(swish_request.pk)] = swish_request.app_token
                request.session[_SWISH_TOKENS] = tokens
            return redirect(reverse("billing:pay", args=[token]) + f"?swish={swish_request.pk}")
    return pay(request, token, swish_form=form)


@require_GET
def swish_status(request: HttpRequest, token: str, request_pk: int) -> JsonResponse:
    """The status of one Swish request of the invoice, asking Swish while it waits (polled by the pay page)."""
    invoice = _swish_invoice(token)
    swish_request = SwishPaymentRequest.objects.filter(invoice=invoice, pk=request_pk).first()
    if swish_request is None:
        raise Http404(_("No such Swish payment."))
    swish_request = swish_request_refresh(swish_request=swish_request)
    invoice.refresh_from_db(fields=["status"])
    return JsonResponse({"status": swish_request.status, "label": swish_request.get_status_display(),
                         "final": swish_request.status != SwishPaymentRequest.Status.CREATED,
                         "paid": swish_request.status == SwishPaymentRequest.Status.PAID,
                         "invoice_paid": invoice.status == Invoice.Status.PAID,
                         "amount_due": str(amount_due(invoice))})


@csrf_exempt
@require_POST
def swish_callback(request: HttpRequest) -> HttpResponse:
    """Swish's callback: 200 for every payment request body (known or not), 400 for a malformed one, 503 when Swish
    cannot be asked to confirm it. 404 when Swish is off."""
    if not swish_enabled():
        raise Http404(_("Swish payments are not available."))
    try:
        result = swish_callback_handle(body=request.body)
    except SwishCallbackError:
        return HttpResponse(_("Not a Swish payment request."), status=400, content_type="text/plain")
    except SwishUnavailable as error:
        return HttpResponse(str(error), status=503, content_type="text/plain")
    return HttpResponse(result, content_type="text/plain")
