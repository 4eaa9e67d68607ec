"""Swish payments of invoices (billing/services/swish_payments.py and the Swish views): the real SwishClient against
the fake Swish server with mutual TLS. Callbacks are unsigned, so only Swish's own answer may mark anything paid."""

import json
from urllib.parse import parse_qs, urlsplit

import pytest
from django.urls import reverse

from billing.models import Invoice, Payment, SwishPaymentRequest, UnmatchedPayment
from billing.services.payments import PaymentError, amount_due, pay_token, payment_record
from billing.services.swish_payments import (
    swish_callback_handle,
    swish_enabled,
    swish_request_refresh,
    swish_request_start,
)
from tests.billing.fakes.swish_server import FakeSwishServer, generate_pki
from tests.billing.test_pay_page import buyer_world, stripe_on  # noqa: F401
from tests.billing.test_payments import NOW, D, issued_invoice, world  # noqa: F401
from tests.billing.test_stripe_gateway import gateway  # noqa: F401

CALLBACK = "https://csms.test/billing/swish/callback/"
PAYER = "46701234567"


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return generate_pki(tmp_path_factory.mktemp("swish-pki"))


@pytest.fixture
def fake(pki):
    with FakeSwishServer(pki=pki) as server:
        yield server


def configure(settings, base_url, pki):
    settings.SWISH_BASE_URL = base_url
    settings.SWISH_PAYEE_ALIAS = "1231181189"
    settings.SWISH_CERT_FILE = pki.client_cert
    settings.SWISH_KEY_FILE = pki.client_key
    settings.SWISH_CA_FILE = pki.ca_file
    settings.SWISH_KEY_PASSWORD = ""
    settings.SWISH_TIMEOUT = 5


@pytest.fixture
def swish_on(fake, pki, settings):
    configure(settings, fake.base_url, pki)
    return fake


@pytest.fixture
def swish_off(settings):
    settings.SWISH_BASE_URL = ""
    settings.SWISH_PAYEE_ALIAS = ""


@pytest.fixture
def invoice(world):  # noqa: F811
    return issued_invoice(world, number=1, ocr="202503000129", total="842.63")


def callback(client, body):
    return client.post(reverse("billing:swish_callback"), data=body, content_type="application/json")


def forged(fake, request_id, status="PAID"):
    """A callback body as anyone on the internet could POST it: Swish's JSON with a status Swish never reported."""
    stored = fake.requests[request_id]
    return json.dumps({**stored, "status": status, "paymentReference": "FORGED0000000000000000000000000",
                       "datePaid": "2025-03-20T09:00:00.000Z", "amount": float(stored["amount"])}).encode()


# --- Starting a payment request -----------------------------------------------------------------------------------


def test_start_asks_swish_for_what_is_due_and_stores_the_request(swish_on, invoice):
    swish_request = swish_request_start(invoice=invoice, callback_url=CALLBACK)
    assert swish_request.status == SwishPaymentRequest.Status.CREATED
    assert swish_request.request_id == swish_request.instruction_uuid
    assert len(swish_request.instruction_uuid) == 32
    assert (swish_request.amount, swish_request.currency, swish_request.payer_alias) == (D("842.63"), "SEK", "")
    assert swish_request.app_token  # m-commerce: the token that opens the Swish app
    [sent] = swish_on.received
    assert sent["payeePaymentReference"] == "202503000129"
    assert sent["amount"] == "842.63"
    assert sent["callbackUrl"] == CALLBACK
    assert invoice.display_number in sent["message"]
    assert "payerAlias" not in sent
    assert not Payment.objects.exists()


def test_start_with_a_mobile_number_is_e_commerce_for_the_rest_due(swish_on, invoice):
    payment_record(invoice=invoice, channel="bankgiro", amount=D("800.00"), currency="SEK", paid_at=NOW,
                   external_id="bg-1")
    swish_request = swish_request_start(invoice=invoice, payer_alias="070-123 45 67", callback_url=CALLBACK)
    assert swish_request.payer_alias == PAYER
    assert swish_request.amount == D("42.63")
    assert swish_request.app_token == ""
    [sent] = swish_on.received
    assert (sent["payerAlias"], sent["amount"]) == (PAYER, "42.63")


@pytest.mark.parametrize("number", ["12345", "08-123 456 78", "+47 412 34 567", "not a number"])
def test_a_number_swish_cannot_ask_is_refused_before_anything_is_sent(swish_on, invoice, number):
    with pytest.raises(PaymentError):
        swish_request_start(invoice=invoice, payer_alias=number, callback_url=CALLBACK)
    assert not SwishPaymentRequest.objects.exists()
    assert swish_on.received == []


@pytest.mark.parametrize("status", [Invoice.Status.PAID, Invoice.Status.CREDITED, Invoice.Status.DRAFT])
def test_start_on_an_invoice_that_takes_no_payment_is_refused(swish_on, invoice, status):
    if status == Invoice.Status.DRAFT:  # an issued invoice never becomes a draft again: a draft of its own
        invoice = Invoice.objects.create(series=invoice.series, buyer=invoice.buyer, organization=invoice.organization,
                                         period_start=invoice.period_start.replace(year=2001),
                                         period_end=invoice.period_end.replace(year=2001), currency="SEK",
                                         total=invoice.total)
    else:
        Invoice.objects.filter(pk=invoice.pk).update(status=status)
    with pytest.raises(PaymentError, match="takes no payments"):
        swish_request_start(invoice=invoice, callback_url=CALLBACK)
    assert not SwishPaymentRequest.objects.exists()
    assert swish_on.received == []


def test_start_when_nothing_is_due_is_refused(swish_on, invoice):
    payment_record(invoice=invoice, channel="bankgiro", amount=D("842.63"), currency="SEK", paid_at=NOW,
                   external_id="bg-1")
    Invoice.objects.filter(pk=invoice.pk).update(status=Invoice.Status.ISSUED)  # e.g. reopened, nothing left due
    with pytest.raises(PaymentError, match="Nothing is due"):
        swish_request_start(invoice=invoice, callback_url=CALLBACK)
    assert swish_on.received == []


def test_a_request_swish_refuses_is_stored_as_error_and_the_payer_is_told_why(swish_on, invoice):
    with pytest.raises(PaymentError) as caught:
        swish_request_start(invoice=invoice, payer_alias="070-999 99 99", callback_url=CALLBACK)
    assert "not connected to Swish" in str(caught.value)
    stored = SwishPaymentRequest.objects.get()
    assert stored.status == SwishPaymentRequest.Status.ERROR
    assert stored.error == "ACMT03: Payer not Enrolled"
    assert stored.request_id == ""
    # A (forged) callback naming it makes Swish be asked; Swish does not know it, nothing changes.
    body = json.dumps({"id": stored.instruction_uuid, "status": "PAID", "amount": "842.63"}).encode()
    assert swish_callback_handle(body=body) == "not at Swish"
    assert not Payment.objects.exists()


def test_swish_not_answering_at_start_is_an_error_the_payer_may_retry(pki, settings, invoice):
    with FakeSwishServer(pki=pki) as gone:
        base_url = gone.base_url
    configure(settings, base_url, pki)  # the server is shut: connections are refused
    with pytest.raises(PaymentError, match="did not answer"):
        swish_request_start(invoice=invoice, callback_url=CALLBACK)
    assert SwishPaymentRequest.objects.get().status == SwishPaymentRequest.Status.ERROR


# --- Callbacks ----------------------------------------------------------------------------------------------------


def test_a_paid_callback_confirmed_by_swish_pays_the_invoice_once_even_when_delivered_twice(swish_on, invoice,
                                                                                            client):
    swish_request = swish_request_start(invoice=invoice, callback_url=CALLBACK)
    body = swish_on.settle(swish_request.request_id, "PAID")
    first, second = callback(client, body), callback(client, body)
    assert (first.status_code, second.status_code) == (200, 200)
    assert first.content == f"paid invoice {invoice.pk}".encode()
    assert second.content == b"unchanged: PAID"
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.PAID
    payment = Payment.objects.get()
    reference = swish_on.requests[swish_request.request_id]["paymentReference"]
    assert (payment.channel, payment.external_id, payment.amount, payment.applied) == (
        "swish", reference, D("842.63"), D("842.63"))
    swish_request.refresh_from_db()
    assert (swish_request.status, swish_request.payment) == (SwishPaymentRequest.Status.PAID, payment)
    assert amount_due(invoice) == 0


def test_a_forged_paid_callback_while_swish_says_created_pays_nothing(swish_on, invoice, client):
    swish_request = swish_request_start(invoice=invoice, callback_url=CALLBACK)
    response = callback(client, forged(swish_on, swish_request.request_id))
    assert response.status_code == 200
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.ISSUED
    assert not Payment.objects.exists()
    assert not UnmatchedPayment.objects.exists()
    swish_request.refresh_from_db()
    assert swish_request.status == SwishPaymentRequest.Status.CREATED


@pytest.mark.parametrize(("status", "code", "message", "error"), [
    ("DECLINED", None, None, ""),
    ("ERROR", "TM01", "Swish timed out before the payment was started", "TM01: Swish timed out before the payment "
                                                                        "was started"),
    ("CANCELLED", None, None, ""),
])
def test_declined_failed_and_cancelled_requests_are_recorded(swish_on, invoice, client, status, code, message, error):
    swish_request = swish_request_start(invoice=invoice, callback_url=CALLBACK)
    body = swish_on.settle(swish_request.request_id, status, error_code=code, error_message=message)
    assert callback(client, body).status_code == 200
    swish_request.refresh_from_db()
    assert (swish_request.status, swish_request.error) == (status, error)
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.ISSUED
    assert not Payment.objects.exists()
    # The payer may try again: a new request for what is still due.
    again = swish_request_start(invoice=invoice, callback_url=CALLBACK)
    assert again.amount == D("842.63")
    assert again.pk != swish_request.pk


def test_a_forged_paid_callback_after_a_decline_changes_nothing(swish_on, invoice, client):
    swish_request = swish_request_start(invoice=invoice, callback_url=CALLBACK)
    callback(client, swish_on.settle(swish_request.request_id, "DECLINED"))
    assert callback(client, forged(swish_on, swish_request.request_id)).content == b"unchanged: DECLINED"
    assert not Payment.objects.exists()


def test_a_callback_for_a_request_we_never_made_is_answered_and_ignored(swish_on, invoice, client):
    body = json.dumps({"id": "AB23D7406ECE4542A80152D909EF9F6B", "payeePaymentReference": invoice.ocr,
                       "paymentReference": "6D6CD7406ECE4542A80152D909EF9F6B", "amount": 842.63,
                       "currency": "SEK", "status": "PAID"}).encode()
    response = callback(client, body)
    assert (response.status_code, response.content) == (200, b"unknown")
    assert not Payment.objects.exists()
    assert not SwishPaymentRequest.objects.exists()


@pytest.mark.parametrize("body", [b"not json", b"[]", b'{"status": "PAID"}', b'{"id": "X", "status": "PAID"}',
                                  b'{"id": "X", "status": "MAYBE", "amount": "1.00"}'])
def test_a_malformed_callback_is_refused_with_400(swish_on, invoice, client, body):
    response = callback(client, body)
    assert response.status_code == 400
    assert response.content
    assert not Payment.objects.exists()


def test_a_paid_request_of_an_invoice_credited_meanwhile_goes_to_the_matching_queue(swish_on, invoice, client):
    swish_request = swish_request_start(invoice=invoice, callback_url=CALLBACK)
    Invoice.objects.filter(pk=invoice.pk).update(status=Invoice.Status.CREDITED)
    body = swish_on.settle(swish_request.request_id, "PAID")
    first = callback(client, body)
    assert first.status_code == 200
    assert first.content.startswith(b"queued: ")
    assert callback(client, body).status_code == 200
    item = UnmatchedPayment.objects.get()
    reference = swish_on.requests[swish_request.request_id]["paymentReference"]
    assert (item.channel, item.key, item.amount, item.reference, item.suggested_invoice) == (
        "swish", reference, D("842.63"), invoice.ocr, invoice)
    assert not Payment.objects.exists()
    swish_request.refresh_from_db()
    assert swish_request.status == SwishPaymentRequest.Status.PAID
    assert swish_request.payment is None
    assert swish_request.error


def test_a_callback_when_swish_cannot_be_asked_answers_503_and_changes_nothing(pki, settings, invoice, client):
    with FakeSwishServer(pki=pki) as server:
        configure(settings, server.base_url, pki)
        swish_request = swish_request_start(invoice=invoice, callback_url=CALLBACK)
        body = server.settle(swish_request.request_id, "PAID")
    response = callback(client, body)  # the server is gone: nothing can be confirmed
    assert response.status_code == 503
    swish_request.refresh_from_db()
    assert swish_request.status == SwishPaymentRequest.Status.CREATED
    assert not Payment.objects.exists()


# --- The pay page and its polling ---------------------------------------------------------------------------------


def test_the_pay_page_starts_a_request_and_its_polling_records_the_payment(swish_on, invoice, client):
    token = pay_token(invoice)
    response = client.post(reverse("billing:swish_start", args=[token]), {"payer_mobile": ""})
    swish_request = SwishPaymentRequest.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("billing:pay", args=[token]) + f"?swish={swish_request.pk}"
    status_url = reverse("billing:swish_status", args=[token, swish_request.pk])

    waiting = client.get(status_url).json()
    assert (waiting["status"], waiting["final"], waiting["paid"]) == ("CREATED", False, False)
    swish_on.settle(swish_request.request_id, "PAID")  # the payer approves; the callback has not arrived yet
    paid = client.get(status_url).json()
    assert (paid["status"], paid["final"], paid["paid"], paid["invoice_paid"]) == ("PAID", True, True, True)
    assert paid["amount_due"] == "0.00"
    assert Payment.objects.get().channel == "swish"
    # The late callback and further polls record nothing more.
    assert callback(client, json.dumps(swish_on.requests[swish_request.request_id]).encode()).status_code == 200
    assert client.get(status_url).json()["paid"] is True
    assert Payment.objects.count() == 1


def test_the_pay_page_form_with_a_mobile_number_asks_the_payer_s_app(swish_on, invoice, client):
    token = pay_token(invoice)
    response = client.post(reverse("billing:swish_start", args=[token]), {"payer_mobile": "+46 70-123 45 67"})
    assert response.status_code == 302
    assert SwishPaymentRequest.objects.get().payer_alias == PAYER
    assert swish_on.received[0]["payerAlias"] == PAYER
    assert "billing.swish_app_tokens" not in client.session  # e-commerce: no app to open here


def test_the_status_of_another_invoice_s_request_is_404(swish_on, world, client):  # noqa: F811
    mine = issued_invoice(world, number=1, ocr="202503000129", total="100.00")
    theirs = issued_invoice(world, number=2, ocr="202503000236", total="100.00", buyer=1)
    swish_request = swish_request_start(invoice=theirs, callback_url=CALLBACK)
    assert client.get(reverse("billing:swish_status", args=[pay_token(mine), swish_request.pk])).status_code == 404
    assert client.get(reverse("billing:swish_status", args=["bad-token", swish_request.pk])).status_code == 404


def test_starting_from_the_page_on_a_paid_invoice_or_with_a_bad_number_shows_an_error(swish_on, invoice, client):
    token = pay_token(invoice)
    response = client.post(reverse("billing:swish_start", args=[token]), {"payer_mobile": "12345"})
    assert response.status_code == 400
    assert "12345" in response.context["swish_form"].errors["payer_mobile"][0]
    payment_record(invoice=invoice, channel="bankgiro", amount=D("842.63"), currency="SEK", paid_at=NOW,
                   external_id="bg-1")
    response = client.post(reverse("billing:swish_start", args=[token]), {"payer_mobile": ""})
    assert response.status_code == 400
    assert "takes no payments" in " ".join(response.context["swish_form"].non_field_errors())
    assert not SwishPaymentRequest.objects.exists()
    assert swish_on.received == []


def test_the_pay_page_offers_swish_and_follows_a_waiting_request(swish_on, buyer_world, client, stripe_on):  # noqa: F811
    # OCRs of their own: localstripe lives for the whole session and keeps the idempotency keys made from them.
    invoice = issued_invoice(buyer_world, number=1, ocr="202511000129", total="842.63")
    token = pay_token(invoice)
    page = client.get(reverse("billing:pay", args=[token]))
    assert page.status_code == 200
    assert 'id="swish-form"' in page.content.decode()
    assert reverse("billing:swish_start", args=[token]) in page.content.decode()

    redirect = client.post(reverse("billing:swish_start", args=[token]), {"payer_mobile": ""})
    swish_request = SwishPaymentRequest.objects.get()
    waiting = client.get(redirect["Location"])
    content = waiting.content.decode()
    assert waiting.status_code == 200
    assert reverse("billing:swish_status", args=[token, swish_request.pk]) in content
    assert 'id="swish-form"' not in content  # one request at a time from the page
    app_url = urlsplit(waiting.context["swish_app_url"])
    assert (app_url.scheme, app_url.netloc) == ("swish", "paymentrequest")
    app_token = client.session["billing.swish_app_tokens"][str(swish_request.pk)]
    assert app_token
    assert parse_qs(app_url.query)["token"] == [app_token]


def test_without_swish_settings_there_is_no_button_and_every_endpoint_is_404(swish_off, buyer_world, client,  # noqa: F811
                                                                            stripe_on):  # noqa: F811
    assert not swish_enabled()
    invoice = issued_invoice(buyer_world, number=1, ocr="202511000228", total="842.63")
    token = pay_token(invoice)
    page = client.get(reverse("billing:pay", args=[token]))
    assert page.status_code == 200
    assert "swish" not in page.content.decode().lower()
    assert client.post(reverse("billing:swish_start", args=[token]), {"payer_mobile": ""}).status_code == 404
    assert client.get(reverse("billing:swish_status", args=[token, 1])).status_code == 404
    assert callback(client, b'{"id": "AB23D7406ECE4542A80152D909EF9F6B", "status": "PAID", '
                            b'"amount": "1.00"}').status_code == 404
    assert not SwishPaymentRequest.objects.exists()


def test_refresh_of_a_final_request_does_not_ask_swish_again(swish_on, invoice):
    swish_request = swish_request_start(invoice=invoice, callback_url=CALLBACK)
    swish_on.settle(swish_request.request_id, "DECLINED")
    assert swish_request_refresh(swish_request=swish_request).status == SwishPaymentRequest.Status.DECLINED
    swish_on.settle(swish_request.request_id, "PAID")  # Swish never does this; the stored final status stands
    assert swish_request_refresh(swish_request=swish_request).status == SwishPaymentRequest.Status.DECLINED
    assert not Payment.objects.exists()


def test_a_swish_only_deployment_shows_the_swish_form_and_no_card_error(swish_on, invoice, client, settings):
    settings.STRIPE_SECRET_KEY = ""
    response = client.get(reverse("billing:pay", args=[pay_token(invoice)]))
    page = response.content.decode()
    assert response.status_code == 200
    assert response.context["card_disabled"] is True
    assert response.context["error"] == ""
    assert reverse("billing:swish_start", args=[pay_token(invoice)]) in page
    assert "payment-form" not in page
    assert "This invoice is paid" not in page


def test_without_stripe_and_swish_the_page_says_it_cannot_take_payments(swish_off, invoice, client, settings):
    settings.STRIPE_SECRET_KEY = ""
    response = client.get(reverse("billing:pay", args=[pay_token(invoice)]))
    assert response.status_code == 503
    assert response.context["error"]
