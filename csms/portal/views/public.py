"""The public QR charging pages (no account): the EVSE's start page, the card step, the live progress with a stop
button, and the receipt with its rating. Pages are found by the EVSE's public code or the payment's unguessable
receipt token, never by a database id. Each view calls one billing/charging service."""

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponseNotAllowed, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from billing.models import AdhocPayment
from billing.services import adhoc
from billing.stripe_gateway import StripeGatewayError
from charging.selectors import access as access_selectors
from charging.services import ratings
from csms.portal.forms.public import GuestStartForm, RatingForm


def _payment(token: str) -> AdhocPayment:
    return get_object_or_404(AdhocPayment.objects.select_related("evse__charge_point__location", "session",
                                                                 "voucher"), receipt_token=token)


def _error_text(error: Exception) -> str:
    if isinstance(error, StripeGatewayError):
        return _("The card payment could not be prepared. Please try again in a moment.")
    return str(error)


def public_start(request, code: str):
    """The page the EVSE's QR code opens: what it costs, the e-mail and voucher, then on to the card."""
    evse = access_selectors.evse_by_public_code(code)
    if evse is None:
        raise Http404(_("No charger has that code."))
    now = timezone.now()
    open_to_guests = adhoc.evse_accepts_guests(evse, now)
    price = adhoc.guest_price(evse=evse, at=now) if open_to_guests else None
    form = GuestStartForm(request.POST or None)
    if request.method == "POST" and open_to_guests and price is not None and form.is_valid():
        try:
            payment, _secret = adhoc.adhoc_begin(evse=evse, email=form.cleaned_data["email"],
                                                 voucher_code=form.cleaned_data["voucher_code"], now=now)
        except ValidationError as error:
            for field, errors in error.message_dict.items():
                form.add_error(field if field in form.fields else None, errors)
        except (adhoc.AdhocError, StripeGatewayError) as error:
            form.add_error(None, _error_text(error))
        else:
            return redirect("portal:public_pay", token=payment.receipt_token)
    elif request.method not in {"GET", "HEAD", "POST"}:
        return HttpResponseNotAllowed(["GET", "POST"])
    status = 200 if open_to_guests else 409
    return render(request, "portal/public/start.html", {
        "evse": evse, "charge_point": evse.charge_point, "open": open_to_guests, "price": price,
        "preauth": adhoc.preauth_amount(), "form": form}, status=status)


@require_GET
def public_pay(request, token: str):
    """The card step: Stripe.js confirms the pre-authorization in the browser."""
    payment = _payment(token)
    if payment.status != AdhocPayment.Status.CREATED:
        return redirect("portal:public_progress", token=token)
    try:
        secret = adhoc.client_secret(payment)
    except StripeGatewayError as error:
        messages.error(request, _error_text(error))
        secret = ""
    return render(request, "portal/public/pay.html", {
        "payment": payment, "evse": payment.evse, "charge_point": payment.evse.charge_point,
        "client_secret": secret, "publishable_key": settings.STRIPE_PUBLISHABLE_KEY})


@require_POST
def public_authorized(request, token: str):
    """The browser says the card is authorized: ask Stripe, then start the charge."""
    payment = _payment(token)
    try:
        adhoc.adhoc_start(payment=payment, now=timezone.now())
    except (adhoc.AdhocError, StripeGatewayError) as error:
        messages.error(request, _error_text(error))
        return redirect("portal:public_pay", token=token)
    return redirect("portal:public_progress", token=token)


@require_GET
def public_progress(request, token: str):
    payment = _payment(token)
    if payment.status == AdhocPayment.Status.CREATED:
        return redirect("portal:public_pay", token=token)
    state = adhoc.adhoc_progress(payment=payment, now=timezone.now())
    payment.refresh_from_db()
    return render(request, "portal/public/progress.html", {
        "payment": payment, "evse": payment.evse, "charge_point": payment.evse.charge_point, "state": state})


@require_GET
def public_status(request, token: str):
    """The progress as JSON, polled every 5 s by the page."""
    payment = _payment(token)
    state = adhoc.adhoc_progress(payment=payment, now=timezone.now())
    return JsonResponse(state)


@require_POST
def public_stop(request, token: str):
    payment = _payment(token)
    try:
        adhoc.adhoc_stop(payment=payment)
    except adhoc.AdhocError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, _("The charger has been asked to stop."))
    return redirect("portal:public_progress", token=token)


def public_receipt(request, token: str):
    """The receipt of a settled payment, and the session's rating (once)."""
    payment = _payment(token)
    if not payment.is_settled:
        if request.method == "POST":
            return HttpResponseNotAllowed(["GET"])
        return redirect("portal:public_progress", token=token)
    session = payment.session
    rated = session is not None and hasattr(session, "rating")
    form = RatingForm(request.POST or None) if session is not None and not rated else None
    if request.method == "POST":
        if form is None:
            return render(request, "portal/public/receipt.html", {
                **adhoc.receipt_context(payment), "form": None, "rated": rated,
                "refused": _("This session has been rated already.")}, status=409)
        if form.is_valid():
            try:
                ratings.rate_session(session=session, stars=form.cleaned_data["stars"],
                                     comment=form.cleaned_data["comment"], acting_user=None,
                                     reason="Guest rated the session on the receipt page")
            except ValidationError as error:
                form.add_error(None, error.messages)
            else:
                messages.success(request, _("Thank you for your rating."))
                return redirect("portal:public_receipt", token=token)
    return render(request, "portal/public/receipt.html", {**adhoc.receipt_context(payment), "form": form,
                                                          "rated": rated})
