"""Ad-hoc public charging paid by card through an EVSE's QR code.

The flow (each step idempotent: a repeated call finds the row's state and does nothing twice):

1. ``adhoc_begin``: a PaymentIntent with ``capture_method=manual`` for ADHOC_PREAUTH_AMOUNT (default 300 SEK) and
   an AdhocPayment row; the page confirms it in the browser with Stripe.js.
2. ``adhoc_start``: asks Stripe whether the card is authorized (``requires_capture``; the browser is never
   trusted), creates a one-off central IdToken of the station's organization (valid for a day, used by no one
   else) and sends RemoteStartTransaction with it for exactly this EVSE. A refused start cancels the intent.
3. ``adhoc_progress`` (polled by the page) links the session the charger started with the token and shows the
   energy and cost so far; ``adhoc_stop`` sends RemoteStopTransaction.
4. ``adhoc_settle`` once the session has ended: prices it (session_price), takes what a voucher pays, captures
   the rest capped at the pre-authorization (anything above is the operator's loss, logged), cancels the intent
   when nothing is to be paid, expires the token and e-mails the receipt. A payment whose charge never started
   within START_TIMEOUT is cancelled.

The guest is anonymous: audit rows name no person (acting_user None) but say what happened and why.
"""

import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

import stripe
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import EmailMessage
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from accounts.models import IdToken
from accounts.services import audit
from billing.models import AdhocPayment, Voucher
from billing.services import vouchers
from billing.services.session_pricing import SessionNotPriceable, session_live_cost, session_price, session_quote
from billing.stripe_gateway import (
    META_PURPOSE,
    META_REFERENCE,
    StripeGateway,
    StripeGatewayError,
    from_minor_units,
    idempotency_key,
    to_minor_units,
)
from charging import access, commands
from charging.models import ChargingSession, Evse, MeterSample
from charging.selectors import access as access_selectors
from charging.services import remote

logger = logging.getLogger(__name__)

CENT = Decimal("0.01")
#: How long the one-off token may start a charge, and how long we wait for the charger to start before giving up.
TOKEN_VALIDITY = timedelta(hours=24)
START_TIMEOUT = timedelta(minutes=10)


class AdhocError(ValueError):
    """The step cannot be done; the message is for the guest."""


def preauth_amount() -> Decimal:
    return Decimal(str(settings.ADHOC_PREAUTH_AMOUNT)).quantize(CENT, ROUND_HALF_UP)


def evse_accepts_guests(evse: Evse, at: datetime) -> bool:
    """May a guest start at this EVSE now? Public and semi-public EVSEs (the QR code is how semi-public ones are
    reached) of a station in service."""
    if evse.charge_point.is_decommissioned:
        return False
    return access_selectors.evse_mode(evse, at) in {access.AccessMode.PUBLIC, access.AccessMode.SEMI_PUBLIC}


@dataclass(frozen=True)
class GuestPrice:
    per_kwh_incl_vat: Decimal
    currency: str


def guest_price(*, evse: Evse, at: datetime) -> GuestPrice | None:
    """What a guest (no account, no groups) pays per kWh incl. VAT here now: the quote for 1 kWh over an hour less
    the quote for none, so time and session fees cancel out. None when no tariff applies."""
    stop = at + timedelta(hours=1)
    try:
        with_energy = session_quote(charge_point=evse.charge_point, evse=evse, driver=None, start=at, stop=stop,
                                    energy_wh=1000).result
        without = session_quote(charge_point=evse.charge_point, evse=evse, driver=None, start=at, stop=stop,
                                energy_wh=0).result
    except SessionNotPriceable:
        return None
    return GuestPrice((with_energy.total_incl_vat - without.total_incl_vat).quantize(CENT, ROUND_HALF_UP),
                      with_energy.currency)


# --- Stripe -------------------------------------------------------------------------------------------------------

def _gateway() -> StripeGateway:
    return StripeGateway.from_settings()


def _stripe(function, *args, **kwargs):
    try:
        return function(*args, **kwargs)
    except stripe.StripeError as error:
        raise StripeGatewayError("Stripe refused or did not answer: %(error)s",
                                 error=error.user_message or str(error)) from error


def intent_state(payment: AdhocPayment):
    """The PaymentIntent as Stripe has it now."""
    return _stripe(_gateway().client.v1.payment_intents.retrieve, payment.payment_intent_id)


def client_secret(payment: AdhocPayment) -> str:
    return intent_state(payment).client_secret


# --- 1. Begin -----------------------------------------------------------------------------------------------------

@transaction.atomic
def adhoc_begin(*, evse: Evse, email: str, voucher_code: str = "", now: datetime) -> tuple[AdhocPayment, str]:
    """A pre-authorization for a guest's charge at ``evse``: the stored payment and the intent's client secret."""
    if not evse_accepts_guests(evse, now):
        raise AdhocError(_("This charger is not open to the public now."))
    price = guest_price(evse=evse, at=now)
    if price is None:
        raise AdhocError(_("This charger has no price for guests; it cannot be paid by card."))
    voucher = None
    if voucher_code.strip():
        voucher = vouchers.usable_voucher(organization=evse.charge_point.organization, code=voucher_code, at=now)
    amount = preauth_amount()
    reference = secrets.token_hex(8)
    intent = _stripe(
        _gateway().client.v1.payment_intents.create,
        params={"amount": to_minor_units(amount, price.currency), "currency": price.currency.lower(),
                "capture_method": "manual", "payment_method_types": ["card"],
                "metadata": {META_PURPOSE: "adhoc", META_REFERENCE: reference}},
        options={"idempotency_key": idempotency_key(purpose="adhoc", reference=reference)})
    payment = AdhocPayment.objects.create(
        organization_id=evse.charge_point.organization_id, evse=evse, email=email, currency=price.currency,
        preauth_amount=amount, payment_intent_id=intent.id, voucher=voucher)
    audit.record(action="billing.adhoc_begin", target=payment, acting_user=None,
                 reason=f"Guest pre-authorization at {evse.charge_point.identity} EVSE {evse.evse_id}",
                 changes={"status": (None, payment.status), "amount": (None, str(amount)),
                          "voucher": (None, voucher.code if voucher else "")})
    return payment, intent.client_secret


# --- 2. Start -----------------------------------------------------------------------------------------------------

def _one_off_token(payment: AdhocPayment, now: datetime) -> IdToken:
    uid = "ADHOC" + secrets.token_hex(6).upper()  # 17 characters: fits OCPP 1.6's idTag (20)
    return IdToken.objects.create(uid=uid, type=IdToken.Type.CENTRAL, organization_id=payment.organization_id,
                                  valid_until=now + TOKEN_VALIDITY,
                                  visual_number=f"adhoc-{payment.pk}")


def adhoc_start(*, payment: AdhocPayment, now: datetime) -> AdhocPayment:
    """Start the guest's charge once Stripe says the card is authorized; a second call does nothing."""
    with transaction.atomic():
        payment = (AdhocPayment.objects.select_for_update(of=("self",)).select_related("evse__charge_point")
                   .get(pk=payment.pk))
        if payment.status != AdhocPayment.Status.CREATED:
            return payment
        intent = intent_state(payment)
        if intent.status != "requires_capture":
            raise AdhocError(_("The card has not been authorized yet."))
        if not evse_accepts_guests(payment.evse, now):
            raise AdhocError(_("This charger is not open to the public now."))
        payment.id_token = _one_off_token(payment, now)
        payment.status = AdhocPayment.Status.STARTING
        payment.save(update_fields=["id_token", "status"])
        audit.record(action="billing.adhoc_authorized", target=payment, acting_user=None,
                     reason="Card authorized; starting the guest's charge",
                     changes={"status": (AdhocPayment.Status.CREATED, payment.status),
                              "authorized": (None, str(from_minor_units(intent.amount, payment.currency)))})
    evse = payment.evse
    try:
        command = remote.remote_start(charge_point=evse.charge_point, id_token=payment.id_token,
                                      evse_number=evse.evse_id, acting_user=None,
                                      reason=f"Ad-hoc card payment {payment.pk}", now=now)
        answer = remote.answer_status(command)
    except (ValidationError, commands.CommandFailed) as error:
        answer = str(error)
    if answer != "Accepted":
        _start_failed(payment, answer, now)
    return AdhocPayment.objects.get(pk=payment.pk)


@transaction.atomic
def _start_failed(payment: AdhocPayment, why: str, now: datetime) -> None:
    payment = AdhocPayment.objects.select_for_update().get(pk=payment.pk)
    if payment.status != AdhocPayment.Status.STARTING:
        return
    _cancel_intent(payment)
    IdToken.objects.filter(pk=payment.id_token_id).update(status=IdToken.Status.EXPIRED)
    payment.status = AdhocPayment.Status.FAILED
    payment.error = why[:500]
    payment.settled_at = now
    payment.save(update_fields=["status", "error", "settled_at"])
    audit.record(action="billing.adhoc_start_failed", target=payment, acting_user=None,
                 reason="The charger did not start; the pre-authorization was released",
                 changes={"status": (AdhocPayment.Status.STARTING, payment.status), "error": ("", why[:200])})


def _cancel_intent(payment: AdhocPayment) -> None:
    intent = intent_state(payment)
    if intent.status != "canceled":
        _stripe(_gateway().client.v1.payment_intents.cancel, payment.payment_intent_id)


# --- 3. Progress and stop -------------------------------------------------------------------------------------------

def _link_session(payment: AdhocPayment) -> AdhocPayment:
    if payment.session_id is None and payment.id_token_id is not None:
        session = ChargingSession.objects.filter(id_token_id=payment.id_token_id).order_by("pk").first()
        if session is not None:
            updated = AdhocPayment.objects.filter(pk=payment.pk, session__isnull=True).update(
                session=session, status=AdhocPayment.Status.CHARGING)
            if updated:
                payment.session, payment.status = session, AdhocPayment.Status.CHARGING
    return payment


def adhoc_progress(*, payment: AdhocPayment, now: datetime) -> dict:
    """Where the guest's charge stands, for the page's poll: status, energy and cost so far (settling a finished
    session on the way, so the receipt is ready when the page asks)."""
    payment = _link_session(payment)
    session = payment.session
    ended = session is not None and session.status != ChargingSession.Status.ACTIVE and not payment.is_settled
    never_started = (session is None and payment.status == AdhocPayment.Status.STARTING
                     and now - payment.created_at > START_TIMEOUT)
    if ended or never_started:
        try:
            payment = adhoc_settle(payment=payment, now=now)
        except (SessionNotPriceable, StripeGatewayError):
            # Left unsettled: the next poll (or the operator) tries again; nothing was half written.
            logger.exception("Ad-hoc payment %s could not be settled yet", payment.pk)
    energy_wh, cost = 0, None
    if session is not None:
        session.refresh_from_db()
        if payment.session_cost is not None:
            energy_wh, cost = session.energy_wh, payment.session_cost
        else:
            try:
                live = session_live_cost(session=session, at=now)
                energy_wh, cost = live.energy_wh, live.total_incl_vat
            except SessionNotPriceable:
                energy_wh = session.energy_wh
    return {"status": payment.status, "status_text": str(payment.get_status_display()),
            "charging": payment.status == AdhocPayment.Status.CHARGING,
            "finished": payment.is_settled or payment.status == AdhocPayment.Status.FAILED,
            "energy_wh": energy_wh, "cost": str(cost) if cost is not None else None, "currency": payment.currency}


def adhoc_stop(*, payment: AdhocPayment) -> None:
    """Ask the charger to end the guest's session."""
    payment = _link_session(payment)
    if payment.session is None or payment.session.status != ChargingSession.Status.ACTIVE:
        raise AdhocError(_("There is no running charge to stop."))
    try:
        remote.remote_stop(session=payment.session, acting_user=None,
                           reason=f"Guest stopped ad-hoc charge {payment.pk}")
    except (ValidationError, commands.CommandFailed) as error:
        raise AdhocError(_("The charger did not accept the stop: %(why)s") % {"why": error}) from error


# --- 4. Settle ----------------------------------------------------------------------------------------------------

@transaction.atomic
def adhoc_settle(*, payment: AdhocPayment, now: datetime) -> AdhocPayment:
    """Price the ended session, capture what is owed (or cancel), send the receipt. Safe to call again."""
    # of=self: PostgreSQL cannot lock the nullable side of the outer joins (no session or voucher yet).
    payment = (AdhocPayment.objects.select_for_update(of=("self",)).select_related("session", "voucher")
               .get(pk=payment.pk))
    if payment.is_settled or payment.status == AdhocPayment.Status.FAILED:
        return payment
    payment = _link_session(payment)
    session = payment.session
    if session is None:
        if payment.status == AdhocPayment.Status.STARTING and now - payment.created_at > START_TIMEOUT:
            _cancel_intent(payment)
            IdToken.objects.filter(pk=payment.id_token_id).update(status=IdToken.Status.EXPIRED)
            payment.status, payment.settled_at = AdhocPayment.Status.CANCELED, now
            payment.error = "The charge never started"
            payment.save(update_fields=["status", "settled_at", "error"])
            audit.record(action="billing.adhoc_cancel", target=payment, acting_user=None,
                         reason="No charge started in time; pre-authorization released",
                         changes={"status": (AdhocPayment.Status.STARTING, payment.status)})
        return payment
    session.refresh_from_db()
    if session.status == ChargingSession.Status.ACTIVE or session.stopped_at is None:
        raise AdhocError(_("The charge is still running."))
    cost = session_price(session=session, now=now)
    total = cost.total_incl_vat.quantize(CENT, ROUND_HALF_UP)
    use = vouchers.VoucherUse(Decimal("0.00"), 0)
    if payment.voucher_id is not None:
        use = vouchers.voucher_use(voucher=payment.voucher, cost=total, energy_wh=cost.energy_wh, at=now)
    owed = max(total - use.amount, Decimal("0.00"))
    to_capture = min(owed, payment.preauth_amount)
    loss = owed - to_capture
    if loss > 0:
        logger.warning("Ad-hoc payment %s: session cost %s %s exceeds the pre-authorization by %s (operator's loss)",
                       payment.pk, owed, payment.currency, loss)
    previous = payment.status
    intent = intent_state(payment)
    if to_capture > 0:
        if intent.status == "requires_capture":
            intent = _stripe(_gateway().client.v1.payment_intents.capture, payment.payment_intent_id,
                             params={"amount_to_capture": to_minor_units(to_capture, payment.currency)},
                             options={"idempotency_key": idempotency_key(purpose="adhoc_capture",
                                                                         reference=payment.payment_intent_id)})
        payment.status = AdhocPayment.Status.CAPTURED
        payment.captured_amount = to_capture
    else:
        if intent.status not in {"canceled", "succeeded"}:
            _stripe(_gateway().client.v1.payment_intents.cancel, payment.payment_intent_id)
        payment.status = AdhocPayment.Status.CANCELED
        payment.captured_amount = Decimal("0.00")
    IdToken.objects.filter(pk=payment.id_token_id).update(status=IdToken.Status.EXPIRED)
    payment.session_cost, payment.session_vat = total, cost.total_vat.quantize(CENT, ROUND_HALF_UP)
    payment.voucher_amount, payment.voucher_wh = use.amount, use.energy_wh
    payment.operator_loss, payment.settled_at = loss, now
    payment.save()
    audit.record(action="billing.adhoc_settle", target=payment, acting_user=None,
                 reason="Guest session ended: priced and settled",
                 changes={"status": (previous, payment.status), "session_cost": (None, str(total)),
                          "voucher_amount": (None, str(use.amount)),
                          "captured_amount": (None, str(payment.captured_amount)), "operator_loss": (None, str(loss))})
    transaction.on_commit(lambda: send_receipt(payment_id=payment.pk), robust=True)
    return payment


def adhoc_settle_due(*, now: datetime) -> int:
    """Settle every open payment whose session has ended or whose charge never started in time (for a periodic
    task: the guest may have closed the page). Returns how many were settled."""
    settled = 0
    open_payments = AdhocPayment.objects.filter(status__in=[AdhocPayment.Status.STARTING,
                                                            AdhocPayment.Status.CHARGING])
    for payment in open_payments.select_related("session"):
        before = payment.status
        adhoc_progress(payment=payment, now=now)
        if AdhocPayment.objects.filter(pk=payment.pk).exclude(status=before).exists():
            settled += 1
    return settled


# --- Receipt ------------------------------------------------------------------------------------------------------

def receipt_context(payment: AdhocPayment) -> dict:
    """What the receipt page and e-mail show."""
    session = payment.session
    signed = []
    if session is not None:
        signed = list(MeterSample.objects.filter(session=session).exclude(signed_data="")
                      .order_by("timestamp", "pk").values_list("signed_data", flat=True))
    return {"payment": payment, "session": session, "evse": payment.evse, "charge_point": payment.evse.charge_point,
            "signed_meter_data": signed,
            "energy_wh": session.energy_wh if session is not None else 0}


def send_receipt(*, payment_id: int) -> None:
    """E-mail the receipt once (a second call sends nothing)."""
    with transaction.atomic():
        payment = AdhocPayment.objects.select_for_update(of=("self",)).select_related(
            "evse__charge_point", "session", "organization").get(pk=payment_id)
        if payment.receipt_sent_at is not None or not payment.is_settled:
            return
        url = settings.PUBLIC_BASE_URL.rstrip("/") + reverse("portal:public_receipt", args=[payment.receipt_token])
        with translation.override(settings.LANGUAGE_CODE):
            body = render_to_string("portal/public/receipt_email.txt", {**receipt_context(payment), "url": url})
            subject = _("Receipt for your charge at %(station)s") % {"station": payment.evse.charge_point}
        EmailMessage(subject=subject, body=body, to=[payment.email]).send()
        payment.receipt_sent_at = timezone.now()
        payment.save(update_fields=["receipt_sent_at"])


__all__ = ["AdhocError", "AdhocPayment", "Voucher", "adhoc_begin", "adhoc_progress", "adhoc_settle",
           "adhoc_settle_due", "adhoc_start", "adhoc_stop", "guest_price", "preauth_amount", "send_receipt"]
