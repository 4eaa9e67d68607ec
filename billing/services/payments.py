"""Recording payments of resident invoices: any channel, the Stripe webhook, BgMax imports and the matching queue.

    payment, created = payment_record(invoice=invoice, channel="bankgiro", amount=Decimal("842.63"), currency="SEK",
                                      paid_at=now, external_id="bgmax:…", acting_user=None)
    result = stripe_webhook_handle(payload=request.body, signature_header=header)   # raises WebhookError
    payment_import, created = bgmax_import(data=raw, file_name="bgmax.txt", acting_user=user, now=now)
    payment = unmatched_apply(item=queued, invoice=invoice, acting_user=user, reason="Phoned the payer", now=now)
    balance = credit_balance(buyer)

Applying. A payment settles what is still due on its invoice (total minus what earlier payments applied); the rest is
the buyer's credit balance (``Payment.credited``, to be used on the next invoice). The invoice becomes "paid" when
the applied sum covers the total; a partial payment leaves it "issued" with a balance. ``payment_record`` is
idempotent on (channel, external id): the invoice row is locked first, so a second call with the same id, even a
concurrent one, returns the stored payment and changes nothing. A person recording a payment gives a reason and
gets an audit row; a manual payment is always a person's act.

Stripe. The event id is stored (unique) in the transaction of its effect: a redelivered event changes nothing and
still answers 200. ``payment_intent.succeeded`` / paid ``checkout.session.completed`` are applied to the invoice
their ``csms_invoice`` metadata names, which is the invoice's OCR reference (the printed payment reference; the
invoice's id is accepted too, for references made before it was issued). A paid event that names no invoice we
know goes to the matching queue. ``setup_intent.succeeded`` stores the saved card on the customer's StripeCustomer.
``charge.refunded`` records the part of the refund not recorded yet (a refund made in Stripe's dashboard; refunds
made through ``payment_refund`` are recorded when made); ``payment_intent.payment_failed`` is stored with its decline
code (no money was recorded, so nothing is undone).

Credit balance and refunds. The surplus of a payment, and what was paid on an invoice a credit note cancelled
(``credit_release``), is the buyer's credit balance; the invoice run uses it on the next invoice (``credit_use``,
a CREDIT_USE row). ``payment_refund`` pays money back, from the balance first, then from the invoice.

Pay page and saved cards. ``pay_token``/``invoice_for_pay_token`` sign an invoice id for the public pay page;
``invoice_pay_start`` creates its PaymentIntent (idempotent per invoice and attempt); ``card_setup_start`` a
SetupIntent for a resident. ``invoice_charge_saved_card`` charges a saved card off-session after an invoice is sent:
success is recorded at once under the PaymentIntent id (the webhook then finds it recorded), a decline or a card
needing the customer e-mails the pay link after commit (``pay_link_send``).

BgMax. The file is parsed (a broken file imports nothing), every payment is matched with
billing.payment_matching against the invoices carrying its OCR reference, exact matches are applied, duplicates (the
same payment key recorded or queued before) are skipped, and everything else goes to the queue with the matcher's
reason. The same file (same bytes) imported again is refused; overlapping files are kept apart by the payment keys.
"""

import hashlib
import logging
from datetime import datetime, time
from decimal import Decimal

from django.conf import settings
from django.core import signing
from django.core.mail import EmailMessage
from django.db import IntegrityError, transaction
from django.db.models import Sum
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from accounts.models import User
from accounts.services.audit import record
from billing import stripe_gateway
from billing.bgmax import BGMAX_TIMEZONE, parse_bgmax
from billing.models import (
    BillingProfile,
    Invoice,
    Payment,
    PaymentImport,
    StripeCustomer,
    StripeEvent,
    UnmatchedPayment,
)
from billing.payment_matching import IncomingPayment, MatchOutcome, OpenInvoice, incoming_from_bgmax, match_payments
from csms import events

logger = logging.getLogger(__name__)

_ZERO = Decimal("0.00")
_ORE = Decimal("0.01")


class PaymentError(ValueError):
    """A payment that cannot be recorded; the message is translated and meant for the user."""


def amount_paid(invoice: Invoice) -> Decimal:
    """What payments have applied to ``invoice`` so far."""
    return (invoice.payments.aggregate(total=Sum("applied"))["total"] or _ZERO).quantize(_ORE)


def amount_due(invoice: Invoice) -> Decimal:
    """What is still unpaid on ``invoice`` (0 when it is paid or overpaid)."""
    return max(invoice.payable_total - amount_paid(invoice), _ZERO)


def credit_balance(buyer: User, currency: str | None = None) -> Decimal:
    """The buyer's credit balance in ``currency`` (the default currency when None): overpayments and payments of
    credited invoices, less what later invoices used and what was paid back."""
    return (Payment.objects.filter(buyer=buyer, currency=currency or settings.DEFAULT_CURRENCY)
            .aggregate(total=Sum("credited"))["total"] or _ZERO)


def invoice_event_data(invoice: Invoice) -> dict:
    """An invoice as the invoice.issued / invoice.paid events describe it (JSON-ready, money as strings)."""
    return {"invoice": invoice.pk, "number": invoice.display_number, "kind": invoice.kind, "purpose": invoice.purpose,
            "status": invoice.status, "buyer": invoice.buyer_id, "ocr": invoice.ocr,
            "issue_date": invoice.issue_date.isoformat() if invoice.issue_date else None,
            "due_date": invoice.due_date.isoformat() if invoice.due_date else None,
            "period_start": invoice.period_start.isoformat(), "period_end": invoice.period_end.isoformat(),
            "total": f"{invoice.total:.2f}", "payable": f"{invoice.payable_total:.2f}", "vat": f"{invoice.vat:.2f}",
            "currency": invoice.currency}


def invoice_event(event_type: str, invoice: Invoice) -> events.Event:
    return events.event(event_type, organization_id=invoice.organization_id, data=invoice_event_data(invoice))


def publish_invoice(event_type: str, invoice: Invoice) -> None:
    """Announce an issued or paid invoice to the listeners of its organization, once the transaction commits."""
    events.publish_many([invoice_event(event_type, invoice)])


def _settle_status(invoice: Invoice, paid: Decimal) -> str:
    """The status an issued or paid invoice has with ``paid`` applied to it."""
    return Invoice.Status.PAID if paid >= invoice.payable_total else Invoice.Status.ISSUED


def _lock_buyer(buyer_id: int) -> None:
    """Serialise changes of one buyer's credit balance (using it, paying it back)."""
    User.objects.select_for_update().filter(pk=buyer_id).values_list("pk", flat=True).first()


def credit_available(*, buyer_id: int, currency: str) -> Decimal:
    """The buyer's credit balance, read with the buyer's row locked until the caller's transaction ends, so what an
    invoice about to be issued counts on is still there when ``credit_use`` takes it."""
    _lock_buyer(buyer_id)
    return max(Payment.objects.filter(buyer_id=buyer_id, currency=currency)
               .aggregate(total=Sum("credited"))["total"] or _ZERO, _ZERO)


def buyers_with_credit(*, buyer_ids: list[int], currency: str) -> set[int]:
    """Which of ``buyer_ids`` have a credit balance (one query, for the invoice run)."""
    return set(Payment.objects.filter(buyer_id__in=buyer_ids, currency=currency).values("buyer_id")
               .annotate(balance=Sum("credited")).filter(balance__gt=0).values_list("buyer_id", flat=True))


def credit_use(*, invoice: Invoice, amount: Decimal, now: datetime) -> Payment | None:
    """Settle ``amount`` of a just-issued invoice from the buyer's credit balance (read with ``credit_available`` in
    the same transaction; the invoice's rounding was computed with it taken off). Returns the CREDIT_USE row."""
    used = min(amount, amount_due(invoice))
    if used <= 0:
        return None
    payment = Payment.objects.create(
        invoice=invoice, buyer_id=invoice.buyer_id, kind=Payment.Kind.CREDIT_USE, channel=Payment.Channel.CREDIT,
        amount=_ZERO, applied=used, credited=-used, currency=invoice.currency, paid_at=now)
    paid = amount_paid(invoice)
    if _settle_status(invoice, paid) != invoice.status:
        invoice.status = _settle_status(invoice, paid)
        invoice.save(update_fields=["status"])
        if invoice.status == Invoice.Status.PAID:
            publish_invoice(events.INVOICE_PAID, invoice)
    return payment


def credit_release(*, invoice: Invoice, now: datetime, acting_user: User | None, reason: str) -> Payment | None:
    """Move what was paid on ``invoice`` to the buyer's credit balance (a credit note has cancelled it; in the
    caller's transaction, the invoice row locked). Returns the CREDIT_RELEASE row or None when nothing was paid."""
    paid = amount_paid(invoice)
    if paid <= 0:
        return None
    _lock_buyer(invoice.buyer_id)
    return Payment.objects.create(
        invoice=invoice, buyer_id=invoice.buyer_id, kind=Payment.Kind.CREDIT_RELEASE, channel=Payment.Channel.CREDIT,
        amount=_ZERO, applied=-paid, credited=paid, currency=invoice.currency, paid_at=now, recorded_by=acting_user,
        reason=reason)


@transaction.atomic
def payment_record(*, invoice: Invoice, channel: str, amount: Decimal, currency: str, paid_at: datetime,
                   external_id: str = "", details: dict | None = None, acting_user: User | None = None,
                   reason: str = "") -> tuple[Payment, bool]:
    """Apply a payment to ``invoice``; ``(payment, created)``. See the module docstring."""
    if channel not in Payment.Channel.values or channel == Payment.Channel.CREDIT:
        raise PaymentError(_("Unknown payment channel %(channel)s.") % {"channel": channel})
    if not isinstance(amount, Decimal) or not amount.is_finite() or amount <= 0 or amount != amount.quantize(_ORE):
        raise PaymentError(_("The amount %(amount)s is not a payment.") % {"amount": amount})
    reason = (reason or "").strip()
    if channel == Payment.Channel.MANUAL and acting_user is None:
        raise PaymentError(_("A manual payment is recorded by a person."))
    if acting_user is not None and not reason:
        raise PaymentError(_("Give a reason for recording this payment."))
    # The lock serialises payments of one invoice: the paid sum and the duplicate check below stay true.
    invoice = Invoice.objects.select_for_update().get(pk=invoice.pk)
    if external_id:
        existing = Payment.objects.filter(channel=channel, external_id=external_id).first()
        if existing is not None:
            return existing, False
    if invoice.kind != Invoice.Kind.INVOICE or invoice.status not in (Invoice.Status.ISSUED, Invoice.Status.PAID):
        raise PaymentError(_("Invoice %(invoice)s is %(status)s and takes no payments.")
                           % {"invoice": invoice, "status": invoice.get_status_display()})
    if currency != invoice.currency:
        raise PaymentError(_("The payment is in %(paid)s but the invoice in %(invoiced)s.")
                           % {"paid": currency, "invoiced": invoice.currency})
    paid_before = amount_paid(invoice)
    applied = min(amount, max(invoice.payable_total - paid_before, _ZERO))
    payment = Payment.objects.create(
        invoice=invoice, buyer_id=invoice.buyer_id, channel=channel, amount=amount, applied=applied,
        credited=amount - applied, currency=currency, paid_at=paid_at, external_id=external_id,
        details=details or {}, recorded_by=acting_user, reason=reason)
    old_status = invoice.status
    if invoice.status == Invoice.Status.ISSUED and paid_before + applied >= invoice.payable_total:
        invoice.status = Invoice.Status.PAID
        invoice.save(update_fields=["status"])
        publish_invoice(events.INVOICE_PAID, invoice)
        # Settled: the tokens dunning blocked for this invoice charge again (recorded on the reminder, audited).
        from billing.services.dunning import dunning_unblock  # dunning imports this module

        dunning_unblock(invoice=invoice, now=paid_at)
    if acting_user is not None:
        record(action="billing.payment_record", target=invoice, acting_user=acting_user, reason=reason,
               changes={"status": (old_status, invoice.status),
                        "payment": (None, f"{payment.get_channel_display()} {amount} {currency}"),
                        "credited": (None, payment.credited)})
    return payment, True


def _refunded_so_far(payment: Payment) -> Decimal:
    return -(payment.refunds.aggregate(total=Sum("amount"))["total"] or _ZERO)


def _refund_store(*, payment: Payment, amount: Decimal, external_id: str, details: dict, paid_at: datetime,
                  acting_user: User | None, reason: str) -> Payment:
    """Record ``amount`` (> 0) paid back of ``payment`` (invoice row and buyer locked by the caller): from the buyer's
    credit balance first, then from what the payment settled; the invoice reopens when it is no longer covered."""
    invoice = payment.invoice
    if payment.buyer_id is None:
        # An organization's invoice: its surplus stays with the invoice (no resident balance to draw on).
        balance = Payment.objects.filter(invoice=invoice).aggregate(total=Sum("credited"))["total"] or _ZERO
    else:
        balance = credit_balance(payment.buyer, payment.currency)
    from_credit = min(amount, max(balance, _ZERO))
    from_invoice = amount - from_credit
    if from_invoice > amount_paid(invoice):
        raise PaymentError(_("Only %(amount)s %(currency)s of this payment is left to pay back.")
                           % {"amount": from_credit + amount_paid(invoice), "currency": payment.currency})
    refund = Payment.objects.create(
        invoice=invoice, buyer_id=payment.buyer_id, kind=Payment.Kind.REFUND, channel=payment.channel,
        amount=-amount, applied=-from_invoice, credited=-from_credit, currency=payment.currency, paid_at=paid_at,
        external_id=external_id, details=details, refund_of=payment, recorded_by=acting_user, reason=reason)
    if from_invoice and invoice.status in (Invoice.Status.ISSUED, Invoice.Status.PAID):
        status = _settle_status(invoice, amount_paid(invoice))
        if status != invoice.status:
            invoice.status = status
            invoice.save(update_fields=["status"])
    return refund


@transaction.atomic
def payment_refund(*, payment: Payment, amount: Decimal, acting_user: User, reason: str, now: datetime) -> Payment:
    """Pay back ``amount`` of a received payment, as a person decided (audited). A Stripe payment is refunded
    through Stripe (idempotent per refund); other channels record money the person has paid back by bank transfer.
    The refund takes from the buyer's credit balance first; the rest reopens the invoice unless it was credited."""
    reason = (reason or "").strip()
    if not reason:
        raise PaymentError(_("Give a reason for the refund."))
    if not isinstance(amount, Decimal) or not amount.is_finite() or amount <= 0 or amount != amount.quantize(_ORE):
        raise PaymentError(_("The amount %(amount)s cannot be paid back.") % {"amount": amount})
    payment = Payment.objects.select_related("invoice").get(pk=payment.pk)
    if payment.kind != Payment.Kind.PAYMENT or payment.invoice_id is None:
        raise PaymentError(_("Only a received payment can be paid back."))
    Invoice.objects.select_for_update().filter(pk=payment.invoice_id).values_list("pk", flat=True).first()
    _lock_buyer(payment.buyer_id)
    left = payment.amount - _refunded_so_far(payment)
    if amount > left:
        raise PaymentError(_("Only %(amount)s %(currency)s of this payment is left to pay back.")
                           % {"amount": left, "currency": payment.currency})
    number = payment.refunds.count() + 1
    external_id, details = "", {"refund_number": number}
    if payment.channel == Payment.Channel.STRIPE:
        try:
            result = stripe_gateway.StripeGateway.from_settings().refund(
                payment_intent_id=payment.external_id, amount=amount, currency=payment.currency,
                invoice_reference=payment.invoice.ocr, refund_reference=f"refund-{payment.pk}-{number}")
        except stripe_gateway.StripeGatewayError as error:
            raise PaymentError(_("Stripe did not refund: %(error)s") % {"error": error}) from None
        external_id, details = result.refund_id, {**details, "stripe_status": result.status}
    refund = _refund_store(payment=payment, amount=amount, external_id=external_id, details=details, paid_at=now,
                           acting_user=acting_user, reason=reason)
    record(action="billing.payment_refund", target=payment.invoice, acting_user=acting_user, reason=reason, at=now,
           changes={"refund": (None, f"{payment.get_channel_display()} {amount} {payment.currency}"),
                    "status": (None, Invoice.objects.get(pk=payment.invoice_id).status)})
    return refund


def _stripe_refunded(outcome) -> str:
    """A refund Stripe reports (``amount_refunded`` is cumulative): record the part not recorded yet, e.g. a refund
    made in Stripe's dashboard. Refunds made here were recorded when made, so their event changes nothing."""
    payment = (Payment.objects.select_related("invoice")
               .filter(kind=Payment.Kind.PAYMENT, channel=Payment.Channel.STRIPE, external_id=outcome.payment_id)
               .first())
    if payment is None or outcome.amount is None:
        return f"refund of unknown payment {outcome.payment_id or '–'}"
    Invoice.objects.select_for_update().filter(pk=payment.invoice_id).values_list("pk", flat=True).first()
    _lock_buyer(payment.buyer_id)
    missing = min(outcome.amount, payment.amount) - _refunded_so_far(payment)
    if missing <= 0:
        return f"refund already recorded for payment {payment.pk}"
    try:
        with transaction.atomic():
            refund = _refund_store(payment=payment, amount=missing,
                                   external_id=f"{outcome.payment_id}:refunded:{outcome.amount}",
                                   details={"event_id": outcome.event_id, "amount_refunded": str(outcome.amount)},
                                   paid_at=timezone.now(), acting_user=None, reason="")
    except PaymentError as error:
        logger.warning("Stripe refund of payment %s not recorded: %s", payment.pk, error)
        return f"refund not recorded: {error}"[:300]
    return f"refund {refund.pk} of payment {payment.pk}"


# --- Stripe -------------------------------------------------------------------------------------------------------


def _invoice_for_reference(reference: str) -> Invoice | None:
    """The invoice whose OCR our pay page put in the payment's metadata. Nothing else is tried: a reference that
    names no invoice goes to the manual queue rather than onto an invoice it might not belong to."""
    reference = reference.strip()
    if not reference:
        return None
    return Invoice.objects.filter(kind=Invoice.Kind.INVOICE, ocr=reference).first()


def stripe_webhook_handle(*, payload: bytes, signature_header: str | None) -> str:
    """Verify and handle one webhook delivery; returns what was done. WebhookError (nothing written) when the
    delivery must be refused."""
    event = stripe_gateway.verify_webhook(payload=payload, signature_header=signature_header,
                                          secret=settings.STRIPE_WEBHOOK_SECRET)
    outcome = stripe_gateway.payment_outcome(event)
    event_id, event_type = str(event["id"]), str(event["type"])
    try:
        with transaction.atomic():
            return _stripe_event_apply(event_id, event_type, outcome)
    except IntegrityError:
        # A parallel delivery of the same event stored it first; its effect is already there.
        if StripeEvent.objects.filter(event_id=event_id).exists():
            return "duplicate"
        raise


def _stripe_event_apply(event_id: str, event_type: str, outcome) -> str:
    if StripeEvent.objects.filter(event_id=event_id).exists():
        return "duplicate"
    stored = StripeEvent.objects.create(event_id=event_id, type=event_type, received_at=timezone.now())
    if outcome is not None and outcome.kind == stripe_gateway.OutcomeKind.CARD_SAVED:
        stored.result = _card_saved(outcome)[:300]
        stored.save(update_fields=["result"])
        return stored.result
    if outcome is not None and outcome.kind == stripe_gateway.OutcomeKind.REFUNDED:
        stored.result = _stripe_refunded(outcome)[:300]
        stored.save(update_fields=["result"])
        return stored.result
    if outcome is not None and outcome.kind == stripe_gateway.OutcomeKind.PAYMENT_FAILED:
        # Nothing to undo: no money was recorded. The automatic charge e-mails the pay link itself.
        invoice = _invoice_for_reference(outcome.invoice_reference)
        stored.result = (f"payment failed ({outcome.decline_code or 'no code'}) for "
                         f"{'invoice ' + str(invoice.pk) if invoice else 'an unknown invoice'}")
        stored.save(update_fields=["result"])
        logger.info("Stripe event %s: %s", event_id, stored.result)
        return stored.result
    if outcome is None or outcome.kind != stripe_gateway.OutcomeKind.PAID:
        stored.result = "ignored" if outcome is None else f"not acted on: {outcome.kind}"
        stored.save(update_fields=["result"])
        return stored.result
    if outcome.amount is None or not outcome.payment_id:
        stored.result = "paid event without amount or payment id"
        stored.save(update_fields=["result"])
        logger.warning("Stripe event %s: paid without amount or payment id", event_id)
        return stored.result
    details = {"event_id": event_id, "payment_intent": outcome.payment_id, "customer": outcome.customer_id,
               "livemode": outcome.livemode, "reference": outcome.invoice_reference}
    invoice = _invoice_for_reference(outcome.invoice_reference)
    problem = ""
    if invoice is not None:
        try:
            # A savepoint: a refused payment leaves the event stored and the money queued below.
            with transaction.atomic():
                payment, _created = payment_record(invoice=invoice, channel=Payment.Channel.STRIPE,
                                                   amount=outcome.amount, currency=outcome.currency,
                                                   paid_at=timezone.now(), external_id=outcome.payment_id,
                                                   details=details)
        except PaymentError as error:
            problem = str(error)
        else:
            stored.payment = payment
            stored.result = f"paid invoice {invoice.pk}"
            stored.save(update_fields=["payment", "result"])
            return stored.result
    else:
        problem = _("No invoice has the reference %(reference)s.") % {"reference": outcome.invoice_reference or "–"}
    _queue(channel=Payment.Channel.STRIPE, key=outcome.payment_id, reference=outcome.invoice_reference,
           amount=outcome.amount, currency=outcome.currency, paid_on=timezone.localdate(), payer_name="",
           outcome=MatchOutcome.UNKNOWN_REFERENCE if invoice is None else "refused", reason=problem,
           suggested_invoice=invoice, details=details)
    stored.result = "queued: " + problem[:280]
    stored.save(update_fields=["result"])
    return stored.result


def _card_saved(outcome) -> str:
    """Store the payment method of a succeeded SetupIntent as the customer's card for automatic charges."""
    if not outcome.customer_id or not outcome.payment_method_id:
        return "card saved without customer or payment method"
    customer = StripeCustomer.objects.select_for_update().filter(customer_id=outcome.customer_id).first()
    if customer is None:
        return f"card saved for unknown customer {outcome.customer_id}"
    customer.payment_method_id = outcome.payment_method_id
    customer.card_saved_at = timezone.now()
    customer.save(update_fields=["payment_method_id", "card_saved_at"])
    return f"card saved for user {customer.user_id}"


# --- Pay page, saved cards and automatic charges ------------------------------------------------------------------

PAY_TOKEN_SALT = "billing.pay-page"


def pay_token(invoice: Invoice) -> str:
    """The signed token of ``invoice``'s public pay page (no login: the token is the permission).

    The token has no timestamp, so the e-mail, the PDF and the portal show one and the same link for an invoice."""
    return signing.Signer(salt=PAY_TOKEN_SALT).sign_object(invoice.pk)


def pay_url(invoice: Invoice) -> str:
    """The absolute pay link of ``invoice`` (for e-mails and the PDF)."""
    return settings.PUBLIC_BASE_URL.rstrip("/") + reverse("billing:pay", args=[pay_token(invoice)])


def invoice_for_pay_token(token: str) -> Invoice | None:
    """The payable invoice a pay-page token names, None for a bad token or an invoice that has no pay page."""
    try:
        invoice_id = signing.Signer(salt=PAY_TOKEN_SALT).unsign_object(token)
    except (signing.BadSignature, ValueError):
        try:  # links sent before the token lost its timestamp
            invoice_id = signing.loads(token, salt=PAY_TOKEN_SALT)
        except signing.BadSignature:
            return None
    if not isinstance(invoice_id, int):
        return None
    return (Invoice.objects.select_related("series__seller", "buyer", "organization")
            .filter(pk=invoice_id, kind=Invoice.Kind.INVOICE,
                    status__in=[Invoice.Status.ISSUED, Invoice.Status.PAID]).first())


def _stripe_customer(gateway: stripe_gateway.StripeGateway, user: User) -> StripeCustomer:
    """The user's StripeCustomer row (locked), its Stripe customer created or brought up to date."""
    stored = StripeCustomer.objects.select_for_update().filter(user=user).first()
    customer_id = gateway.ensure_customer(reference=f"resident-{user.pk}", email=user.email,
                                          name=user.get_full_name() or user.email,
                                          customer_id=stored.customer_id if stored else "")
    if stored is None:
        return StripeCustomer.objects.create(user=user, customer_id=customer_id)
    if stored.customer_id != customer_id:
        # The customer was deleted at Stripe: its saved card went with it.
        stored.customer_id, stored.payment_method_id, stored.card_saved_at = customer_id, "", None
        stored.save(update_fields=["customer_id", "payment_method_id", "card_saved_at"])
    return stored


def _organization_customer(gateway: stripe_gateway.StripeGateway, organization) -> str:
    """The Stripe customer of an organization paying its subscription invoices (kept on its billing profile)."""
    profile = BillingProfile.objects.select_for_update().filter(organization=organization).first()
    customer_id = gateway.ensure_customer(reference=f"organization-{organization.pk}",
                                          email=organization.billing_email or organization.contact_email,
                                          name=organization.name,
                                          customer_id=profile.stripe_customer_id if profile else "")
    if profile is not None and profile.stripe_customer_id != customer_id:
        profile.stripe_customer_id = customer_id
        profile.save(update_fields=["stripe_customer_id"])
    return customer_id


@transaction.atomic
def invoice_pay_start(*, invoice: Invoice, success_url: str,
                      cancel_url: str) -> stripe_gateway.HostedPayment | None:
    """The PaymentIntent of ``invoice``'s pay page for what is still due, None when nothing is due. The reference
    is the invoice's OCR (the webhook finds the invoice by it); the attempt is one more than the payments recorded
    so far, so a reload reuses the same PaymentIntent and a partly paid invoice gets a new one for the rest.
    Raises StripeGatewayError when Stripe cannot be asked."""
    invoice = Invoice.objects.select_for_update().get(pk=invoice.pk)
    due = amount_due(invoice)
    if invoice.status != Invoice.Status.ISSUED or due <= 0:
        return None
    gateway = stripe_gateway.StripeGateway.from_settings()
    customer_id = (_stripe_customer(gateway, invoice.buyer).customer_id if invoice.buyer_id is not None
                   else _organization_customer(gateway, invoice.organization))
    return gateway.checkout_for_invoice(invoice_reference=invoice.ocr, amount=due, currency=invoice.currency,
                                        customer_id=customer_id, success_url=success_url,
                                        cancel_url=cancel_url, attempt=invoice.payments.count() + 1)


@transaction.atomic
def card_setup_start(*, user: User) -> str:
    """The client secret of a new SetupIntent that saves ``user``'s card; the card is stored when Stripe's
    setup_intent.succeeded webhook arrives. Raises StripeGatewayError when Stripe cannot be asked."""
    gateway = stripe_gateway.StripeGateway.from_settings()
    customer = _stripe_customer(gateway, user)
    customer.setup_requests += 1
    customer.save(update_fields=["setup_requests"])
    return gateway.setup_card(customer_id=customer.customer_id,
                              reference=f"resident-{user.pk}-card-{customer.setup_requests}")


def invoice_charge_saved_card(*, invoice: Invoice) -> str:
    """Charge the buyer's saved card off-session for what is due on a just-issued invoice; returns what happened.

    Success records the Payment at once under the PaymentIntent's id, the same external id the later webhook
    carries, so the invoice is paid once. A decline or a card that needs the customer (3-D Secure) e-mails the pay
    link after commit. No saved card, or nothing due: nothing is done. StripeGatewayError propagates (the task may
    retry: the idempotency key returns Stripe's first answer)."""
    invoice = Invoice.objects.select_related("buyer").get(pk=invoice.pk)
    due = amount_due(invoice)
    if invoice.kind != Invoice.Kind.INVOICE or invoice.status != Invoice.Status.ISSUED or due <= 0:
        return "nothing due"
    if invoice.buyer_id is None:
        return "no saved card"  # organizations pay their subscription invoices on the pay page or by Bankgiro
    customer = StripeCustomer.objects.filter(user_id=invoice.buyer_id).exclude(payment_method_id="").first()
    if customer is None:
        return "no saved card"
    gateway = stripe_gateway.StripeGateway.from_settings()
    result = gateway.charge_saved_card(customer_id=customer.customer_id, payment_method_id=customer.payment_method_id,
                                       amount=due, currency=invoice.currency, invoice_reference=invoice.ocr)
    if result.status == stripe_gateway.PaymentStatus.SUCCEEDED:
        payment_record(invoice=invoice, channel=Payment.Channel.STRIPE, amount=result.amount,
                       currency=result.currency, paid_at=timezone.now(), external_id=result.payment_intent_id,
                       details={"payment_intent": result.payment_intent_id, "customer": customer.customer_id,
                                "reference": invoice.ocr, "auto_charge": True})
        return "paid"
    if result.status == stripe_gateway.PaymentStatus.PROCESSING:
        return "processing"  # the webhook records the money when it arrives
    logger.info("invoice_charge_saved_card: %s not charged (%s %s); e-mailing the pay link", invoice,
                result.status, result.decline_code)
    invoice_id = invoice.pk
    transaction.on_commit(lambda: pay_link_send(invoice_id=invoice_id), robust=True)
    return f"{result.status}: {result.decline_code}"


def pay_link_send(*, invoice_id: int) -> bool:
    """E-mail the buyer the pay link of an invoice their saved card could not pay. False without an address."""
    from billing.services.invoicing import EMAIL_LANGUAGES  # invoicing is heavier (PDF); imported when used

    invoice = Invoice.objects.select_related("series__seller", "buyer", "organization").get(pk=invoice_id)
    if not invoice.recipient_email:
        logger.warning("pay_link_send: %s has no e-mail address for buyer %s", invoice, invoice.recipient_name)
        return False
    language = invoice.language if invoice.language in EMAIL_LANGUAGES else "sv"
    context = {"invoice": invoice, "number": invoice.display_number, "seller": invoice.series.seller,
               "buyer": invoice.buyer or invoice.organization, "amount_due": amount_due(invoice),
               "pay_url": pay_url(invoice)}
    with translation.override(language):
        subject = " ".join(render_to_string(f"billing/email/pay_link_subject_{language}.txt", context).split())
        body = render_to_string(f"billing/email/pay_link_body_{language}.txt", context)
    EmailMessage(subject=subject, body=body, to=[invoice.recipient_email]).send()
    return True


# --- The matching queue -------------------------------------------------------------------------------------------


def _queue(*, channel: str, key: str, reference: str, amount: Decimal, currency: str, paid_on, payer_name: str,
           outcome: str, reason: str, suggested_invoice: Invoice | None, details: dict,
           payment_import: PaymentImport | None = None) -> UnmatchedPayment | None:
    if UnmatchedPayment.objects.filter(key=key).exists():
        return None
    return UnmatchedPayment.objects.create(
        payment_import=payment_import, channel=channel, key=key, reference=reference[:60], amount=amount,
        currency=currency, paid_on=paid_on, payer_name=payer_name[:100], outcome=str(outcome), reason=reason[:300],
        suggested_invoice=suggested_invoice, details=details)


@transaction.atomic
def unmatched_apply(*, item: UnmatchedPayment, invoice: Invoice, acting_user: User, reason: str,
                    now: datetime) -> Payment:
    """Apply a queued payment to ``invoice`` (chosen by a person, with a reason): recorded with payment_record, so a
    surplus becomes the buyer's credit balance; the queue item is resolved."""
    item = UnmatchedPayment.objects.select_for_update().get(pk=item.pk)
    if item.resolved_at is not None:
        raise PaymentError(_("This payment was already applied to invoice %(invoice)s.")
                           % {"invoice": item.payment.invoice if item.payment else "–"})
    if item.amount <= 0:
        raise PaymentError(_("The amount %(amount)s is not a payment.") % {"amount": item.amount})
    paid_at = timezone.make_aware(datetime.combine(item.paid_on, time(12)), BGMAX_TIMEZONE)
    payment, _created = payment_record(
        invoice=invoice, channel=item.channel, amount=item.amount, currency=item.currency, paid_at=paid_at,
        external_id=item.key, details={**item.details, "reference": item.reference, "payer": item.payer_name,
                                       "queued_as": item.outcome},
        acting_user=acting_user, reason=reason)
    item.payment = payment
    item.resolved_at = now
    item.resolved_by = acting_user
    item.save(update_fields=["payment", "resolved_at", "resolved_by"])
    return payment


# --- BgMax --------------------------------------------------------------------------------------------------------


def _open_invoices(references: set[str]) -> list[OpenInvoice]:
    invoices = Invoice.objects.filter(kind=Invoice.Kind.INVOICE, ocr__in=references,
                                      status__in=[Invoice.Status.ISSUED, Invoice.Status.PAID])
    return [OpenInvoice(id=invoice.pk, ocr=invoice.ocr, amount_due=amount_due(invoice), currency=invoice.currency)
            for invoice in invoices]


def _paid_at(payment: IncomingPayment) -> datetime:
    # BgMax gives the payment date only; noon Stockholm time keeps the date in every zone we show.
    return timezone.make_aware(datetime.combine(payment.date, time(12)), BGMAX_TIMEZONE)


@transaction.atomic
def bgmax_import(*, data: bytes, file_name: str, acting_user: User | None, now: datetime) -> tuple[PaymentImport,
                                                                                                    bool]:
    """Import a BgMax file; ``(import, created)``, ``created`` False when these very bytes were imported before.
    Raises billing.bgmax.BgmaxError (nothing written) for a broken file."""
    digest = hashlib.sha256(data).hexdigest()
    earlier = PaymentImport.objects.filter(sha256=digest).first()
    if earlier is not None:
        return earlier, False
    parsed = parse_bgmax(data)
    incoming = incoming_from_bgmax(parsed)
    references = {ref.replace(" ", "") for payment in incoming for ref in (payment.reference,
                                                                            *payment.extra_references) if ref}
    keys = [payment.key for payment in incoming]
    recorded = set(Payment.objects.filter(channel=Payment.Channel.BANKGIRO, external_id__in=keys)
                   .values_list("external_id", flat=True))
    recorded |= set(UnmatchedPayment.objects.filter(key__in=keys).values_list("key", flat=True))
    decisions = match_payments(payments=incoming, invoices=_open_invoices(references),
                               recorded_payment_keys=recorded)
    payment_import = PaymentImport.objects.create(file_name=file_name[:255], sha256=digest, imported_at=now,
                                                  imported_by=acting_user, payments=len(incoming))
    invoices = {invoice.pk: invoice for invoice in Invoice.objects.filter(
        pk__in={d.invoice_id for d in decisions if d.invoice_id is not None})}
    for decision in decisions:
        payment = decision.payment
        details = {"reference": payment.reference, "payer": payment.payer_name, "bgmax_channel": payment.channel,
                   "file": file_name, "import": payment_import.pk}
        if decision.outcome == MatchOutcome.DUPLICATE:
            payment_import.duplicates += 1
        elif decision.auto_apply:
            payment_record(invoice=invoices[decision.invoice_id], channel=Payment.Channel.BANKGIRO,
                           amount=decision.apply_amount, currency=payment.currency, paid_at=_paid_at(payment),
                           external_id=payment.key, details=details)
            payment_import.applied += 1
        else:
            _queue(channel=Payment.Channel.BANKGIRO, key=payment.key, reference=payment.reference,
                   amount=payment.amount, currency=payment.currency, paid_on=payment.date,
                   payer_name=payment.payer_name, outcome=decision.outcome,
                   reason=_(decision.reason) % decision.reason_params,
                   suggested_invoice=invoices.get(decision.invoice_id), details=details,
                   payment_import=payment_import)
            payment_import.queued += 1
    payment_import.save(update_fields=["applied", "queued", "duplicates"])
    if acting_user is not None:
        record(action="billing.bgmax_import", target=payment_import, acting_user=acting_user,
               reason=_("BgMax file %(name)s imported.") % {"name": file_name}, organization=None,
               changes={"applied": (None, payment_import.applied), "queued": (None, payment_import.queued),
                        "duplicates": (None, payment_import.duplicates)})
    return payment_import, True


@transaction.atomic
def card_remove(*, user: User, acting_user: User | None, reason: str, organization=None,
                now: datetime | None = None) -> bool:
    """Forget ``user``'s saved card, so their invoices are no longer charged automatically; False when no card
    was saved. The payment method stays with the Stripe customer, but nothing charges it without the stored id."""
    if not reason or not reason.strip():
        raise ValueError("card_remove needs a reason")
    customer = StripeCustomer.objects.select_for_update().filter(user=user).exclude(payment_method_id="").first()
    if customer is None:
        return False
    old = customer.payment_method_id
    customer.payment_method_id, customer.card_saved_at = "", None
    customer.save(update_fields=["payment_method_id", "card_saved_at"])
    record(action="billing.card_removed", target=customer, acting_user=acting_user, reason=reason,
           organization=organization, changes={"payment_method_id": (old, "")}, at=now or timezone.now())
    return True
