"""Swish payments of resident invoices: starting a payment request from the pay page, and confirming it when Swish
calls back or the pay page polls.

    adapter = swish_adapter()                      # SwishClient from the SWISH_* settings; SwishNotConfigured if off
    swish_request = swish_request_start(invoice=invoice, payer_alias="070-123 45 67", callback_url=url)
    result = swish_callback_handle(body=request.body)      # "unknown", "paid invoice 7", …; SwishCallbackError
    swish_request = swish_request_refresh(swish_request=swish_request)

Starting. The amount is what is still due on the invoice; only issued invoices with something due take a Swish
payment. With a payer number (Swedish mobile) it is an e-commerce request (Swish asks the payer's app directly),
without one an m-commerce request whose token opens the Swish app on this device (``app_token`` on the returned row,
not stored). The row is stored with its instruction UUID before Swish is asked, so a payment Swish made from a
request whose answer never reached us can still be matched. A request Swish refuses is kept as ERROR with Swish's
error text and the payer gets a PaymentError saying what to do.

Confirming. Swish's callbacks are not signed: the body only says which request may have changed. Its status is
always taken from Swish's own answer to a GET of the request (over mutual TLS). A request Swish reports PAID is
recorded once with payment_record under Swish's payment reference (channel Swish); when the invoice no longer takes
the payment (credited meanwhile …) the money goes to the manual matching queue instead, as with Stripe. A request
whose final status we already hold is not asked about again, so a repeated callback changes nothing.
"""

import logging
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from accounts.identifiers import normalize_mobile_number
from billing import swish
from billing.models import Invoice, Payment, SwishPaymentRequest
from billing.services.payments import PaymentError, _queue, amount_due, payment_record

logger = logging.getLogger(__name__)

SWISH_CURRENCY = "SEK"

# What the payer is told for Swish's error codes that they can do something about; anything else gets a general
# message (Swish's own text is kept on the stored request for the staff).
_PAYER_MESSAGES = {
    "ACMT03": "This number is not connected to Swish. Check the number or leave it empty to open Swish on this "
              "device.",
    "ACMT01": "This number cannot receive Swish payment requests. Check the number or leave it empty.",
    "BE18": "That is not a Swish number. Write a Swedish mobile number like 070-123 45 67.",
    "RP06": "A Swish payment request is already waiting for this number. Answer it in the Swish app first.",
    "PA02": "Swish does not accept this amount.",
}


class SwishNotConfigured(PaymentError):
    """The SWISH_* settings are empty: Swish is off."""


class SwishUnavailable(PaymentError):
    """Swish did not answer (or not in a way we understand), so nothing could be confirmed."""


class SwishCallbackError(ValueError):
    """A callback body that is not a Swish payment request (malformed JSON, missing fields)."""


def swish_config() -> swish.SwishConfig | None:
    """The Swish Commerce configuration from the settings, None when Swish is off (any of them empty)."""
    values = {name: getattr(settings, f"SWISH_{name.upper()}", "") for name in
              ("base_url", "payee_alias", "cert_file", "key_file", "ca_file")}
    if not all(values.values()):
        return None
    return swish.SwishConfig(**values, key_password=getattr(settings, "SWISH_KEY_PASSWORD", "") or None,
                             timeout=float(getattr(settings, "SWISH_TIMEOUT", 10.0)))


def swish_enabled() -> bool:
    return swish_config() is not None


def swish_adapter() -> swish.PaymentRequestAdapter:
    """The Swish client of the settings. SwishNotConfigured when Swish is off or its certificate cannot be loaded."""
    config = swish_config()
    if config is None:
        raise SwishNotConfigured(_("Swish payments are not available."))
    try:
        return swish.SwishClient(config=config)
    except (OSError, ValueError) as error:
        # A missing or unreadable certificate is the operator's problem; the payer sees Swish as unavailable.
        logger.error("Swish client cannot be built: %s", error)
        raise SwishNotConfigured(_("Swish payments are not available.")) from error


def swish_payer_alias(raw: str) -> str:
    """A Swedish mobile number as Swish wants it (46701234567); PaymentError for anything else."""
    try:
        number = normalize_mobile_number(raw, "SE")
    except ValueError as error:
        raise PaymentError(_("%(number)s is not a mobile number. Write it like 070-123 45 67.")
                           % {"number": raw.strip()}) from error
    if not number.startswith("+46"):
        raise PaymentError(_("Swish needs a Swedish mobile number (+46 …), not %(number)s.") % {"number": raw.strip()})
    return number[1:]


def _payer_message(error: swish.SwishRequestRejected) -> str:
    for code in error.codes:
        if code in _PAYER_MESSAGES:
            return _(_PAYER_MESSAGES[code])
    return _("Swish could not start the payment. Try again, or choose another way to pay.")


def _swish_message(invoice: Invoice) -> str:
    """The text the payer sees in the Swish app, in the invoice's language (Swish allows 50 characters)."""
    with translation.override(invoice.language or "sv"):
        return (_("Invoice %(number)s") % {"number": invoice.display_number})[:swish.MESSAGE_MAX_LENGTH]


def swish_request_start(*, invoice: Invoice, payer_alias: str = "", callback_url: str,
                        adapter: swish.PaymentRequestAdapter | None = None) -> SwishPaymentRequest:
    """Ask Swish for a payment of what is due on ``invoice``; see the module docstring. PaymentError (translated,
    for the payer) when the invoice takes no payment, the number is wrong or Swish refuses."""
    alias = swish_payer_alias(payer_alias) if payer_alias.strip() else ""
    adapter = adapter or swish_adapter()
    # Not one transaction: the row must outlive a refusal, and no lock is held while Swish is asked.
    with transaction.atomic():
        invoice = Invoice.objects.select_for_update().select_related("series").get(pk=invoice.pk)
        if invoice.kind != Invoice.Kind.INVOICE or invoice.status != Invoice.Status.ISSUED:
            raise PaymentError(_("Invoice %(invoice)s is %(status)s and takes no payments.")
                               % {"invoice": invoice, "status": invoice.get_status_display().lower()})
        if invoice.currency != SWISH_CURRENCY:
            raise PaymentError(_("Swish takes payments in SEK only; this invoice is in %(currency)s.")
                               % {"currency": invoice.currency})
        due = amount_due(invoice)
        if due <= 0:
            raise PaymentError(_("Nothing is due on invoice %(invoice)s.") % {"invoice": invoice})
        now = timezone.now()
        stored = SwishPaymentRequest.objects.create(
            invoice=invoice, instruction_uuid=swish.new_instruction_uuid(), amount=due, currency=invoice.currency,
            payer_alias=alias, status=SwishPaymentRequest.Status.CREATED, created_at=now, updated_at=now)
    problem = ""
    try:
        created = adapter.create_payment_request(ocr=invoice.ocr, amount=due, callback_url=callback_url,
                                                 message=_swish_message(invoice), payer_alias=alias or None,
                                                 instruction_uuid=stored.instruction_uuid)
    except swish.SwishRequestRejected as error:
        stored.error = (", ".join(f"{e.code}: {e.message}" for e in error.errors) or str(error))[:300]
        problem = _payer_message(error)
    except swish.SwishValidationError as error:
        stored.error = str(error)[:300]
        problem = _("Swish could not start the payment. Try again, or choose another way to pay.")
    except (swish.SwishTransportError, swish.SwishResponseError) as error:
        # Swish may have created the request anyway: a callback or GET for the instruction UUID still finds this row.
        logger.warning("Swish payment request %s for invoice %s: %s", stored.instruction_uuid, invoice.pk, error)
        stored.error = str(error)[:300]
        problem = _("Swish did not answer. Try again in a moment, or choose another way to pay.")
    if problem:
        stored.status = SwishPaymentRequest.Status.ERROR
        stored.updated_at = timezone.now()
        stored.save(update_fields=["status", "error", "updated_at"])
        raise PaymentError(problem)
    stored.request_id = created.id
    stored.updated_at = timezone.now()
    stored.save(update_fields=["request_id", "updated_at"])
    stored.app_token = created.token or ""
    return stored


def _needs_asking(stored: SwishPaymentRequest) -> bool:
    # A final status Swish gave us does not change; a request without Swish's id may exist there all the same.
    return stored.status == SwishPaymentRequest.Status.CREATED or not stored.request_id


def _confirm(stored: SwishPaymentRequest, adapter: swish.PaymentRequestAdapter) -> str:
    """Ask Swish for the request's status and act on it; returns what was done. SwishUnavailable when Swish does
    not answer."""
    try:
        reported = adapter.get_payment_request(request_id=stored.request_id or stored.instruction_uuid)
    except swish.SwishRequestRejected as error:
        if error.status == 404 and not stored.request_id:
            return "not at Swish"  # refused or never created there: nothing was paid
        raise SwishUnavailable(_("Swish could not be asked about the payment.")) from error
    except swish.SwishError as error:
        raise SwishUnavailable(_("Swish could not be asked about the payment.")) from error
    if reported.id not in (stored.request_id, stored.instruction_uuid):
        logger.error("Swish answered for request %s when asked for %s", reported.id, stored.pk)
        raise SwishUnavailable(_("Swish could not be asked about the payment."))
    with transaction.atomic():
        stored = SwishPaymentRequest.objects.select_for_update().select_related("invoice").get(pk=stored.pk)
        if not _needs_asking(stored):
            return f"unchanged: {stored.status}"  # a parallel callback or poll got here first
        old_status = stored.status
        stored.status = reported.status.value
        stored.request_id = stored.request_id or reported.id
        if reported.status in (swish.PaymentStatus.ERROR, swish.PaymentStatus.DECLINED,
                               swish.PaymentStatus.CANCELLED):
            stored.error = ": ".join(part for part in (reported.error_code, reported.error_message) if part)[:300]
        elif reported.status == swish.PaymentStatus.PAID:
            stored.error = ""
        stored.updated_at = timezone.now()
        result = f"{old_status} -> {stored.status}"
        if reported.status == swish.PaymentStatus.PAID and stored.payment_id is None:
            result = _record_paid(stored, reported)
        stored.save(update_fields=["status", "request_id", "error", "payment", "updated_at"])
        return result


def _record_paid(stored: SwishPaymentRequest, reported: swish.PaymentRequestStatus) -> str:
    """Record the money Swish confirmed on the request's invoice, or queue it for a person."""
    invoice = stored.invoice
    external_id = reported.payment_reference or reported.id
    currency = reported.currency or SWISH_CURRENCY
    paid_at = reported.date_paid or timezone.now()
    details = {"swish_request": reported.id, "payment_reference": reported.payment_reference,
               "payer": reported.payer_alias, "reference": reported.payee_payment_reference}
    try:
        # A savepoint: a refused payment leaves the request's status stored and the money queued below.
        with transaction.atomic():
            payment, _created = payment_record(invoice=invoice, channel=Payment.Channel.SWISH,
                                               amount=reported.amount, currency=currency, paid_at=paid_at,
                                               external_id=external_id, details=details)
    except PaymentError as error:
        _queue(channel=Payment.Channel.SWISH, key=external_id,
               reference=reported.payee_payment_reference or invoice.ocr, amount=reported.amount, currency=currency,
               paid_on=timezone.localdate(paid_at), payer_name=reported.payer_alias, outcome="refused",
               reason=str(error), suggested_invoice=invoice, details=details)
        stored.error = str(error)[:300]
        return "queued: " + str(error)[:280]
    stored.payment = payment
    return f"paid invoice {invoice.pk}"


def swish_callback_handle(*, body: bytes, adapter: swish.PaymentRequestAdapter | None = None) -> str:
    """Act on one Swish callback; returns what was done ("unknown" for a request we never made). The body only says
    which request to ask Swish about. SwishCallbackError for a body that is not a payment request, SwishUnavailable
    when Swish cannot be asked (the caller answers with an error so that the callback may come again)."""
    try:
        hint = swish.parse_callback(body)
    except swish.SwishResponseError as error:
        raise SwishCallbackError(str(error)) from error
    stored = SwishPaymentRequest.objects.filter(Q(request_id=hint.id) | Q(instruction_uuid=hint.id)).first()
    if stored is None:
        logger.info("Swish callback for unknown payment request %s", hint.id)
        return "unknown"
    if not _needs_asking(stored):
        return f"unchanged: {stored.status}"
    return _confirm(stored, adapter or swish_adapter())


def swish_request_refresh(*, swish_request: SwishPaymentRequest,
                          adapter: swish.PaymentRequestAdapter | None = None) -> SwishPaymentRequest:
    """The request as it stands, asking Swish first while it waits for the payer (the pay page polls this). A
    Swish that does not answer leaves it waiting."""
    if swish_request.status == SwishPaymentRequest.Status.CREATED:
        try:
            _confirm(swish_request, adapter or swish_adapter())
        except SwishUnavailable as error:
            logger.warning("Swish payment request %s not refreshed: %s", swish_request.pk, error.__cause__ or error)
    return SwishPaymentRequest.objects.select_related("invoice", "payment").get(pk=swish_request.pk)


def swish_amount_due(invoice: Invoice) -> Decimal:
    """What a Swish payment of ``invoice`` would ask for now (0 when it takes none)."""
    if invoice.kind != Invoice.Kind.INVOICE or invoice.status != Invoice.Status.ISSUED:
        return Decimal("0.00")
    return amount_due(invoice)
