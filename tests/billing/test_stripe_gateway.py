"""The Stripe gateway: amounts, idempotency keys, webhook verification and outcomes, and the real stripe client
against localstripe (tests/billing/conftest.py starts it on loopback)."""

import hashlib
import hmac
import json
import threading
import time
import urllib.request
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import stripe

from billing.stripe_gateway import (
    OutcomeKind,
    PaymentStatus,
    StripeGateway,
    StripeGatewayError,
    StripeNotConfigured,
    WebhookError,
    WebhookReason,
    from_minor_units,
    idempotency_key,
    payment_outcome,
    to_minor_units,
    verify_webhook,
)
from tests.servers import free_port

SECRET = "whsec_test_csms"


def sign(payload: bytes, secret: str = SECRET, timestamp: int | None = None) -> str:
    """A Stripe-Signature header as Stripe computes it: t=timestamp,v1=HMAC-SHA256(secret, "t.payload")."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + payload, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def event_payload(event_type: str, obj: dict, event_id: str = "evt_1") -> bytes:
    return json.dumps({"id": event_id, "object": "event", "type": event_type, "livemode": False,
                       "created": int(time.time()), "data": {"object": obj}}).encode()


# --- Amounts and keys -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("amount", "minor"), [("842.63", 84263), ("0.01", 1), ("200.96", 20096), ("10", 1000),
                                                ("168.530", 16853)])
def test_decimal_amounts_become_exact_minor_units(amount, minor):
    assert to_minor_units(Decimal(amount), "SEK") == minor
    assert from_minor_units(minor, "SEK") == Decimal(amount)


@pytest.mark.parametrize("amount", [842.63, 84263, "842.63"])
def test_amounts_that_are_not_decimal_are_refused(amount):
    with pytest.raises(TypeError):
        to_minor_units(amount, "SEK")


@pytest.mark.parametrize("amount", ["1.005", "0", "-5.00", "NaN", "Infinity"])
def test_fractions_of_an_ore_and_non_positive_amounts_are_refused(amount):
    with pytest.raises(ValueError, match="Amount"):
        to_minor_units(Decimal(amount), "SEK")


def test_unknown_currencies_are_refused():
    with pytest.raises(ValueError, match="Unsupported currency"):
        to_minor_units(Decimal("1.00"), "JPY")


def test_idempotency_keys_depend_on_purpose_reference_and_attempt_only():
    key = idempotency_key(purpose="auto_charge", reference="2026-000123")
    assert key == idempotency_key(purpose="auto_charge", reference="2026-000123", attempt=1)
    assert len({key, idempotency_key(purpose="checkout", reference="2026-000123"),
                idempotency_key(purpose="auto_charge", reference="2026-000124"),
                idempotency_key(purpose="auto_charge", reference="2026-000123", attempt=2)}) == 4
    assert len(idempotency_key(purpose="refund", reference="x" * 1000)) < 255
    with pytest.raises(ValueError, match="attempt"):
        idempotency_key(purpose="auto_charge", reference="2026-000123", attempt=0)


def test_without_a_secret_key_no_gateway_is_built(settings):
    settings.STRIPE_SECRET_KEY = ""
    with pytest.raises(StripeNotConfigured):
        StripeGateway.from_settings()


# --- Webhook verification and outcomes --------------------------------------------------------------------------


def test_a_signed_webhook_verifies():
    payload = event_payload("payment_intent.succeeded", {"id": "pi_1", "object": "payment_intent"}, "evt_42")
    event = verify_webhook(payload=payload, signature_header=sign(payload), secret=SECRET)
    assert event.id == "evt_42"
    assert event.type == "payment_intent.succeeded"


def test_a_tampered_payload_is_rejected():
    payload = event_payload("payment_intent.succeeded", {"id": "pi_1", "amount": 100, "currency": "sek"})
    header = sign(payload)
    tampered = payload.replace(b'"amount": 100', b'"amount": 999')
    with pytest.raises(WebhookError) as error:
        verify_webhook(payload=tampered, signature_header=header, secret=SECRET)
    assert error.value.reason == WebhookReason.SIGNATURE


def test_a_signature_made_with_another_secret_is_rejected():
    payload = event_payload("payment_intent.succeeded", {"id": "pi_1"})
    with pytest.raises(WebhookError) as error:
        verify_webhook(payload=payload, signature_header=sign(payload, secret="whsec_other"), secret=SECRET)
    assert error.value.reason == WebhookReason.SIGNATURE


def test_a_webhook_older_than_five_minutes_is_rejected():
    payload = event_payload("payment_intent.succeeded", {"id": "pi_1"})
    old = sign(payload, timestamp=int(time.time()) - 301)
    with pytest.raises(WebhookError) as error:
        verify_webhook(payload=payload, signature_header=old, secret=SECRET)
    assert error.value.reason == WebhookReason.TOO_OLD
    assert "300" in str(error.value)
    # Just inside the window is still fine.
    recent = sign(payload, timestamp=int(time.time()) - 290)
    assert verify_webhook(payload=payload, signature_header=recent, secret=SECRET).id == "evt_1"


@pytest.mark.parametrize("header", [None, "", "garbage", "t=abc,v1=00", "t=1700000000"])
def test_an_unreadable_signature_header_is_malformed(header):
    payload = event_payload("payment_intent.succeeded", {"id": "pi_1"})
    with pytest.raises(WebhookError) as error:
        verify_webhook(payload=payload, signature_header=header, secret=SECRET)
    assert error.value.reason == WebhookReason.MALFORMED


def test_a_correctly_signed_payload_that_is_not_an_event_is_malformed():
    for payload in (b"not json", b"{}"):
        with pytest.raises(WebhookError) as error:
            verify_webhook(payload=payload, signature_header=sign(payload), secret=SECRET)
        assert error.value.reason == WebhookReason.MALFORMED


def test_payment_intent_succeeded_is_a_payment_of_the_invoice():
    payload = event_payload("payment_intent.succeeded", {
        "id": "pi_9", "object": "payment_intent", "amount": 84263, "amount_received": 84263, "currency": "sek",
        "customer": "cus_1", "payment_method": "pm_1", "metadata": {"csms_invoice": "2026-000123"}}, "evt_9")
    outcome = payment_outcome(verify_webhook(payload=payload, signature_header=sign(payload), secret=SECRET))
    assert outcome.kind == OutcomeKind.PAID
    assert (outcome.event_id, outcome.invoice_reference, outcome.amount, outcome.currency) == (
        "evt_9", "2026-000123", Decimal("842.63"), "SEK")
    assert (outcome.payment_id, outcome.customer_id, outcome.payment_method_id) == ("pi_9", "cus_1", "pm_1")


def test_payment_failed_carries_the_decline_code():
    outcome = payment_outcome(json.loads(event_payload("payment_intent.payment_failed", {
        "id": "pi_9", "amount": 20096, "currency": "sek", "metadata": {"csms_invoice": "2026-000124"},
        "last_payment_error": {"code": "card_declined", "decline_code": "insufficient_funds"}})))
    assert outcome.kind == OutcomeKind.PAYMENT_FAILED
    assert (outcome.invoice_reference, outcome.amount, outcome.decline_code) == (
        "2026-000124", Decimal("200.96"), "insufficient_funds")


def test_checkout_session_completed_counts_only_when_paid():
    session = {"id": "cs_1", "amount_total": 20096, "currency": "sek", "payment_intent": "pi_3",
               "client_reference_id": "2026-000125", "payment_status": "paid", "metadata": {}}
    outcome = payment_outcome(json.loads(event_payload("checkout.session.completed", session)))
    assert (outcome.kind, outcome.invoice_reference, outcome.amount, outcome.payment_id) == (
        OutcomeKind.PAID, "2026-000125", Decimal("200.96"), "pi_3")
    unpaid = {**session, "payment_status": "unpaid"}
    assert payment_outcome(json.loads(event_payload("checkout.session.completed", unpaid))) is None


def test_charge_refunded_reports_the_total_refunded_on_the_payment():
    outcome = payment_outcome(json.loads(event_payload("charge.refunded", {
        "id": "ch_1", "amount": 84263, "amount_refunded": 5000, "currency": "sek", "payment_intent": "pi_9",
        "metadata": {}})))
    assert (outcome.kind, outcome.amount, outcome.payment_id, outcome.invoice_reference) == (
        OutcomeKind.REFUNDED, Decimal("50.00"), "pi_9", "")


def test_setup_intent_succeeded_is_a_saved_card():
    outcome = payment_outcome(json.loads(event_payload("setup_intent.succeeded", {
        "id": "seti_1", "customer": "cus_1", "payment_method": {"id": "pm_7", "object": "payment_method"}})))
    assert (outcome.kind, outcome.customer_id, outcome.payment_method_id, outcome.amount) == (
        OutcomeKind.CARD_SAVED, "cus_1", "pm_7", None)


def test_other_events_are_ignored():
    assert payment_outcome(json.loads(event_payload("customer.created", {"id": "cus_1"}))) is None


# --- Against localstripe ----------------------------------------------------------------------------------------


@pytest.fixture
def gateway(localstripe, settings):
    settings.STRIPE_SECRET_KEY = "sk_test_csms"
    settings.STRIPE_API_BASE = localstripe
    return StripeGateway.from_settings()


@pytest.fixture
def customer_id(gateway, request):
    reference = f"resident-{request.node.name}"
    email = f"{request.node.name.replace('_', '.')}@example.se"
    return gateway.ensure_customer(reference=reference, email=email, name="Anna")


def saved_card(gateway, customer_id, payment_method, reference):
    """Save a card the way the pay page does: a SetupIntent, confirmed by Stripe.js with the customer's card."""
    client_secret = gateway.setup_card(customer_id=customer_id, reference=reference)
    setup_intent_id = client_secret.split("_secret_")[0]
    confirmed = gateway.client.v1.setup_intents.confirm(
        setup_intent_id, params={"payment_method": payment_method, "client_secret": client_secret})
    assert confirmed.status == "succeeded"
    return confirmed.payment_method


def test_a_customer_is_created_once_per_reference(gateway):
    first = gateway.ensure_customer(reference="resident-1", email="eva@example.se", name="Eva")
    assert first.startswith("cus_")
    assert gateway.ensure_customer(reference="resident-1", email="eva@example.se", name="Eva") == first
    assert gateway.ensure_customer(reference="resident-2", email="eva@example.se", name="Eva") != first
    assert gateway.ensure_customer(reference="resident-1", email="eva@example.se", name="Eva Ek",
                                   customer_id=first) == first
    assert gateway.client.v1.customers.retrieve(first).name == "Eva Ek"
    replaced = gateway.ensure_customer(reference="resident-3", email="ulf@example.se", name="Ulf",
                                       customer_id="cus_deleted")
    assert replaced.startswith("cus_")
    assert replaced != "cus_deleted"


def test_an_invoice_is_paid_by_card_on_the_pay_page(gateway, customer_id):
    payment = gateway.checkout_for_invoice(
        invoice_reference="2026-000123", amount=Decimal("842.63"), currency="SEK", customer_id=customer_id,
        success_url="https://csms.example/pay/done", cancel_url="https://csms.example/pay/back")
    assert payment.payment_intent_id.startswith("pi_")
    assert payment.client_secret.startswith(payment.payment_intent_id + "_secret_")
    assert (payment.amount, payment.currency, payment.payment_method_types) == (Decimal("842.63"), "SEK", ("card",))
    assert gateway.payment_status(payment_intent_id=payment.payment_intent_id).status == PaymentStatus.OPEN

    # What Stripe.js does on the page when the customer enters their card and presses "Pay".
    gateway.client.v1.payment_intents.update(payment.payment_intent_id, params={"payment_method": "pm_card_visa"})
    gateway.client.v1.payment_intents.confirm(payment.payment_intent_id)

    result = gateway.payment_status(payment_intent_id=payment.payment_intent_id)
    assert (result.status, result.amount, result.currency) == (PaymentStatus.SUCCEEDED, Decimal("842.63"), "SEK")
    intent = gateway.client.v1.payment_intents.retrieve(payment.payment_intent_id)
    assert intent.amount == 84263
    assert intent.metadata["csms_invoice"] == "2026-000123"


def test_a_saved_card_is_charged_off_session_for_the_next_invoice(gateway, customer_id):
    payment_method = saved_card(gateway, customer_id, "pm_card_visa", "resident-card-1")
    result = gateway.charge_saved_card(customer_id=customer_id, payment_method_id=payment_method,
                                       amount=Decimal("200.96"), currency="SEK", invoice_reference="2026-000200")
    assert result.status == PaymentStatus.SUCCEEDED
    assert (result.amount, result.currency, result.decline_code) == (Decimal("200.96"), "SEK", "")
    intent = gateway.client.v1.payment_intents.retrieve(result.payment_intent_id)
    assert (intent.amount, intent.customer, intent.payment_method) == (20096, customer_id, payment_method)


def test_a_declined_card_fails_with_the_decline_code(gateway, customer_id):
    payment_method = saved_card(gateway, customer_id, "pm_card_chargeCustomerFail", "resident-card-2")
    result = gateway.charge_saved_card(customer_id=customer_id, payment_method_id=payment_method,
                                       amount=Decimal("200.96"), currency="SEK", invoice_reference="2026-000201")
    assert result.status == PaymentStatus.FAILED
    # localstripe reports the code only; Stripe adds the issuer's decline_code (e.g. insufficient_funds), preferred.
    assert result.decline_code == "card_declined"
    assert result.message
    # A retried task gets the same answer, not a second attempt on the card.
    again = gateway.charge_saved_card(customer_id=customer_id, payment_method_id=payment_method,
                                      amount=Decimal("200.96"), currency="SEK", invoice_reference="2026-000201")
    assert (again.status, again.decline_code) == (PaymentStatus.FAILED, "card_declined")


def test_a_card_that_needs_3d_secure_asks_the_customer(gateway, customer_id):
    card = gateway.client.v1.payment_methods.create(params={
        "type": "card", "card": {"number": "4000002500003155", "exp_month": 12, "exp_year": 2030, "cvc": "123"}})
    result = gateway.charge_saved_card(customer_id=customer_id, payment_method_id=card.id,
                                       amount=Decimal("99.50"), currency="SEK", invoice_reference="2026-000202")
    assert result.status == PaymentStatus.REQUIRES_ACTION
    assert result.client_secret.startswith(result.payment_intent_id + "_secret_")


def test_a_retried_charge_returns_the_same_payment_intent(gateway, customer_id):
    payment_method = saved_card(gateway, customer_id, "pm_card_visa", "resident-card-3")
    arguments = {"customer_id": customer_id, "payment_method_id": payment_method, "amount": Decimal("120.00"),
                 "currency": "SEK", "invoice_reference": "2026-000300"}
    first = gateway.charge_saved_card(**arguments)
    retried = gateway.charge_saved_card(**arguments)
    assert first.status == retried.status == PaymentStatus.SUCCEEDED
    assert retried.payment_intent_id == first.payment_intent_id
    charges = gateway.client.v1.charges.list(params={"customer": customer_id})
    assert len(charges.data) == 1
    # A deliberate second attempt is a new payment; the same key with another amount is refused.
    assert gateway.charge_saved_card(**arguments, attempt=2).payment_intent_id != first.payment_intent_id
    with pytest.raises(StripeGatewayError):
        gateway.charge_saved_card(**{**arguments, "amount": Decimal("121.00")})


def test_a_payment_is_refunded_once_per_refund_reference(gateway, customer_id):
    payment_method = saved_card(gateway, customer_id, "pm_card_visa", "resident-card-4")
    paid = gateway.charge_saved_card(customer_id=customer_id, payment_method_id=payment_method,
                                     amount=Decimal("842.63"), currency="SEK", invoice_reference="2026-000400")
    arguments = {"payment_intent_id": paid.payment_intent_id, "amount": Decimal("50.00"), "currency": "SEK",
                 "invoice_reference": "2026-000400", "refund_reference": "credit-1"}
    refund = gateway.refund(**arguments)
    assert (refund.status, refund.amount, refund.currency) == ("succeeded", Decimal("50.00"), "SEK")
    assert gateway.refund(**arguments).refund_id == refund.refund_id
    assert gateway.refund(**{**arguments, "refund_reference": "credit-2"}).refund_id != refund.refund_id


def test_stripe_errors_become_gateway_errors(gateway):
    with pytest.raises(StripeGatewayError, match="Stripe refused"):
        gateway.charge_saved_card(customer_id="cus_missing", payment_method_id="pm_card_visa",
                                  amount=Decimal("10.00"), currency="SEK", invoice_reference="2026-000500")
    with pytest.raises(TypeError):
        gateway.charge_saved_card(customer_id="cus_missing", payment_method_id="pm_card_visa",
                                  amount=10.0, currency="SEK", invoice_reference="2026-000500")


class _Receiver(BaseHTTPRequestHandler):
    deliveries: list

    def do_POST(self):  # noqa: N802 (http.server's name)
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.deliveries.append((body, self.headers.get("Stripe-Signature")))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


def test_localstripes_signed_webhook_verifies_and_marks_the_invoice_paid(gateway, customer_id, localstripe):
    deliveries = []
    handler = type("Receiver", (_Receiver,), {"deliveries": deliveries})
    receiver = ThreadingHTTPServer(("127.0.0.1", free_port()), handler)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    try:
        registration = urllib.request.Request(
            f"{localstripe}/_config/webhooks/csms-test", method="POST",
            data=json.dumps({"url": f"http://127.0.0.1:{receiver.server_port}/stripe/webhook", "secret": SECRET,
                             "events": ["payment_intent.succeeded"]}).encode(),
            headers={"Content-Type": "application/json"})
        urllib.request.urlopen(registration, timeout=10).close()

        payment_method = saved_card(gateway, customer_id, "pm_card_visa", "resident-card-5")
        paid = gateway.charge_saved_card(customer_id=customer_id, payment_method_id=payment_method,
                                         amount=Decimal("842.63"), currency="SEK", invoice_reference="2026-000600")
        deadline = time.monotonic() + 15
        outcomes = []
        while time.monotonic() < deadline and not outcomes:
            time.sleep(0.2)
            for body, header in list(deliveries):
                outcome = payment_outcome(verify_webhook(payload=body, signature_header=header, secret=SECRET))
                if outcome and outcome.payment_id == paid.payment_intent_id:
                    outcomes.append(outcome)
    finally:
        receiver.shutdown()
        receiver.server_close()
    assert len(outcomes) == 1
    outcome = outcomes[0]
    assert (outcome.kind, outcome.invoice_reference, outcome.amount, outcome.currency) == (
        OutcomeKind.PAID, "2026-000600", Decimal("842.63"), "SEK")
    assert outcome.event_id.startswith("evt_")
    body, header = next((b, h) for b, h in deliveries if paid.payment_intent_id.encode() in b)
    with pytest.raises(WebhookError):
        verify_webhook(payload=body.replace(b"84263", b"84264"), signature_header=header, secret=SECRET)


def test_the_stripe_client_is_the_official_one(gateway, localstripe):
    assert isinstance(gateway.client, stripe.StripeClient)
    assert gateway.client._requestor.base_addresses["api"] == localstripe
