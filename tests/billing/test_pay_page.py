"""The public pay page of an invoice, saving a card and the automatic charge of a saved card, against localstripe."""

import zlib

import pytest
from django.core import signing
from django.urls import reverse

from billing.models import Invoice, Payment, StripeCustomer
from billing.services.payments import (
    PAY_TOKEN_SALT,
    card_setup_start,
    invoice_charge_saved_card,
    invoice_for_pay_token,
    pay_token,
)
from billing.tasks import charge_saved_card_task
from tests.accounts.factories import MembershipFactory, UserFactory
from tests.billing.test_payments import D, deliver, issued_invoice, paid_event, world  # noqa: F401
from tests.billing.test_stripe_gateway import SECRET, event_payload, gateway, sign  # noqa: F401


@pytest.fixture
def stripe_on(gateway, settings):  # noqa: F811
    settings.STRIPE_PUBLISHABLE_KEY = "pk_test_csms"
    settings.STRIPE_WEBHOOK_SECRET = SECRET
    return gateway


@pytest.fixture
def buyer_world(world, request):  # noqa: F811
    """The shared world with a buyer of its own per test: localstripe lives for the whole session and keeps its
    customers and idempotency keys, so a primary key reused by the next test's database must not meet them."""
    pk = 100_000 + zlib.crc32(request.node.name.encode()) % 1_000_000
    buyer = UserFactory(pk=pk, email=f"buyer{pk}@example.se")
    MembershipFactory(organization=world["brf"], user=buyer)
    world["residents"][0] = buyer
    return world


@pytest.mark.usefixtures("swedish")  # money and numbers as the product shows them
def test_the_pay_page_shows_the_invoice_and_creates_one_payment_intent(buyer_world, client, stripe_on):  # noqa: F811
    invoice = issued_invoice(buyer_world, number=1, ocr="202503000129", total="842.63")
    url = reverse("billing:pay", args=[pay_token(invoice)])
    first = client.get(url)
    again = client.get(url)
    assert first.status_code == again.status_code == 200
    page = first.content.decode()
    assert "842,63 SEK" in page  # LANGUAGE_CODE sv: a decimal comma
    assert first.context["amount_due"] == D("842.63")
    assert invoice.due_date.isoformat() in page
    assert invoice.display_number in page
    assert "https://js.stripe.com/v3/" in page
    assert "pk_test_csms" in page
    intent = first.context["payment"]
    assert again.context["payment"].payment_intent_id == intent.payment_intent_id
    stored = stripe_on.client.v1.payment_intents.retrieve(intent.payment_intent_id)
    assert (stored.amount, stored.metadata["csms_invoice"]) == (84263, "202503000129")
    customer = StripeCustomer.objects.get(user=invoice.buyer)
    intents = stripe_on.client.v1.payment_intents.list(params={"limit": 100}).data
    assert [i.id for i in intents if i.customer == customer.customer_id] == [intent.payment_intent_id]


def test_a_paid_invoice_says_paid_and_a_bad_token_is_404(buyer_world, client, stripe_on):  # noqa: F811
    invoice = issued_invoice(buyer_world, number=1, ocr="202503000129", total="0.01")
    Invoice.objects.filter(pk=invoice.pk).update(status=Invoice.Status.PAID)
    Payment.objects.create(invoice=invoice, buyer=invoice.buyer, channel="manual", amount=D("0.01"),
                           applied=D("0.01"), currency="SEK", paid_at=invoice.created_at)
    response = client.get(reverse("billing:pay", args=[pay_token(invoice)]))
    assert response.status_code == 200
    assert response.context["payment"] is None
    assert "paid" in response.content.decode().lower() or "betald" in response.content.decode().lower()
    assert client.get(reverse("billing:pay", args=[pay_token(invoice) + "x"])).status_code == 404
    assert client.get(reverse("billing:pay", args=["not-a-token"])).status_code == 404


def test_the_pay_link_is_stable_and_links_sent_with_a_timestamp_still_work(buyer_world):  # noqa: F811
    invoice = issued_invoice(buyer_world, number=1, ocr="202503000129", total="0.01")
    assert pay_token(invoice) == pay_token(invoice)
    assert invoice_for_pay_token(pay_token(invoice)) == invoice
    old_link = signing.dumps(invoice.pk, salt=PAY_TOKEN_SALT)  # how tokens were made before
    assert invoice_for_pay_token(old_link) == invoice
    other_salt = signing.Signer(salt="another-purpose").sign_object(invoice.pk)
    assert invoice_for_pay_token(other_salt) is None
    assert invoice_for_pay_token(signing.Signer(salt=PAY_TOKEN_SALT).sign_object("12")) is None


def save_card(stripe, client, user, card):
    """What the card page and Stripe.js do, then Stripe's signed setup_intent.succeeded webhook."""
    secret = card_setup_start(user=user)
    setup_id = secret.split("_secret_")[0]
    confirmed = stripe.client.v1.setup_intents.confirm(setup_id, params={"payment_method": card,
                                                                         "client_secret": secret})
    customer = StripeCustomer.objects.get(user=user)
    payload = event_payload("setup_intent.succeeded", {
        "id": setup_id, "object": "setup_intent", "customer": customer.customer_id,
        "payment_method": confirmed.payment_method, "status": "succeeded"}, f"evt_setup_{setup_id}")
    assert deliver(client, payload, sign(payload)).status_code == 200
    customer.refresh_from_db()
    assert customer.payment_method_id == confirmed.payment_method
    return customer


def test_the_card_page_needs_a_login_and_offers_a_setup_intent(buyer_world, client, stripe_on):  # noqa: F811
    assert client.get(reverse("billing:save_card")).status_code == 302
    client.force_login(buyer_world["residents"][0])
    response = client.get(reverse("billing:save_card"))
    assert response.status_code == 200
    assert "_secret_" in response.context["client_secret"]


def test_a_saved_card_pays_the_next_invoice_exactly_once_even_with_the_webhook(buyer_world, client, stripe_on,  # noqa: F811
                                                                             mailoutbox):
    resident = buyer_world["residents"][0]
    save_card(stripe_on, client, resident, "pm_card_visa")
    invoice = issued_invoice(buyer_world, number=2, ocr="202504000127", total="200.96", month=4)
    assert charge_saved_card_task.delay(invoice.pk).get() == "paid"
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.PAID
    payment = Payment.objects.get()
    assert (payment.channel, payment.amount) == ("stripe", D("200.96"))
    # Stripe's webhook about the same charge arrives afterwards, twice: nothing more is recorded.
    payload = paid_event(invoice.ocr, event_id="evt_auto", intent=payment.external_id, amount=20096)
    for _ in range(2):
        assert deliver(client, payload, sign(payload)).status_code == 200
    assert Payment.objects.count() == 1
    # Charging again (a retried task) finds nothing due.
    assert invoice_charge_saved_card(invoice=invoice) == "nothing due"
    assert not mailoutbox


def test_a_declined_saved_card_e_mails_the_pay_link(buyer_world, client, stripe_on, mailoutbox,  # noqa: F811
                                                    django_capture_on_commit_callbacks):
    resident = buyer_world["residents"][0]
    save_card(stripe_on, client, resident, "pm_card_chargeCustomerFail")
    invoice = issued_invoice(buyer_world, number=3, ocr="202505000125", total="99.50", month=5)
    with django_capture_on_commit_callbacks(execute=True):
        result = invoice_charge_saved_card(invoice=invoice)
    assert result.startswith("failed")
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.ISSUED
    assert not Payment.objects.exists()
    [message] = mailoutbox
    assert message.to == [resident.email]
    assert reverse("billing:pay", args=[pay_token(invoice)]) in message.body
    assert "99.50" in message.body or "99,50" in message.body


def test_without_a_saved_card_nothing_is_charged(buyer_world, stripe_on):  # noqa: F811
    invoice = issued_invoice(buyer_world, number=4, ocr="202503000145", total="10.00")
    assert invoice_charge_saved_card(invoice=invoice) == "no saved card"


def test_sending_an_issued_invoice_then_charges_the_saved_card(buyer_world, client, stripe_on, mailoutbox):
    from billing.tasks import send_invoice_task

    save_card(stripe_on, client, buyer_world["residents"][0], "pm_card_visa")
    invoice = issued_invoice(buyer_world, number=5, ocr="202506000126", total="42.00", month=6)
    assert send_invoice_task.delay(invoice.pk).get() is True
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.PAID
    assert Payment.objects.get().amount == D("42.00")
    assert len(mailoutbox) == 1  # the invoice itself; no pay-link e-mail
