"""Tests of the Swish Commerce client (billing/swish.py) against a fake Swish server with mutual TLS on loopback."""

import http.client
import json
import ssl
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from billing.swish import (
    PaymentStatus,
    SwishClient,
    SwishConfig,
    SwishRequestRejected,
    SwishTransportError,
    SwishValidationError,
    build_payment_request,
    parse_callback,
)
from tests.billing.fakes.swish_server import FakeSwishServer, generate_pki, swish_error

CALLBACK = "https://csms.example.se/billing/swish/callback/"
PAYER = "46701234567"


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return generate_pki(tmp_path_factory.mktemp("swish-pki"))


@pytest.fixture
def swish(pki):
    with FakeSwishServer(pki=pki) as server:
        yield server


def client_for(server, pki, *, cert=None, key=None, payee_alias="1231181189"):
    return SwishClient(config=SwishConfig(base_url=server.base_url, payee_alias=payee_alias,
                                          cert_file=cert or pki.client_cert, key_file=key or pki.client_key,
                                          ca_file=pki.ca_file, timeout=5))


def test_client_without_certificate_is_refused(swish, pki):
    def get_without_certificate():
        context = ssl.create_default_context(cafile=pki.ca_file)  # trusts the server, presents no certificate
        connection = http.client.HTTPSConnection("127.0.0.1", swish.port, context=context, timeout=5)
        try:
            connection.request("GET", "/swish-cpcapi/api/v1/paymentrequests/ABC")
            return connection.getresponse()
        finally:
            connection.close()

    with pytest.raises((ssl.SSLError, ConnectionError)):
        get_without_certificate()
    assert swish.requests == {}


def test_client_with_certificate_from_another_ca_is_refused(swish, pki):
    client = client_for(swish, pki, cert=pki.rogue_client_cert, key=pki.rogue_client_key)
    with pytest.raises(SwishTransportError):
        client.create_payment_request(ocr="1234574", amount=Decimal("10.00"), callback_url=CALLBACK)
    assert swish.requests == {}


def test_m_commerce_request_returns_token_and_status(swish, pki):
    client = client_for(swish, pki)
    created = client.create_payment_request(ocr="202503000129", amount=Decimal("842.625"), callback_url=CALLBACK,
                                            message="Faktura 2025030001 – laddning")

    assert created.token
    assert created.location.endswith(f"/api/v1/paymentrequests/{created.instruction_uuid}")
    assert created.id == created.instruction_uuid
    assert len(created.instruction_uuid) == 32
    [sent] = swish.received
    assert sent == {"payeePaymentReference": "202503000129", "callbackUrl": CALLBACK, "payeeAlias": "1231181189",
                    "amount": "842.63", "currency": "SEK", "message": "Faktura 2025030001 – laddning"}

    status = client.get_payment_request(request_id=created.id)
    assert status.status == PaymentStatus.CREATED
    assert status.amount == Decimal("842.63")
    assert status.payee_payment_reference == "202503000129"
    assert not status.is_final


def test_e_commerce_request_has_no_token_and_callback_reports_paid(swish, pki):
    client = client_for(swish, pki)
    instruction = "11A86BE70EA346E4B1C39C874173F088"
    created = client.create_payment_request(ocr="1234574", amount=Decimal("100"), callback_url=CALLBACK,
                                            payer_alias="+46 701234567", instruction_uuid=instruction)
    assert created.token is None
    assert created.id == instruction
    assert swish.received[0]["payerAlias"] == PAYER

    callback = parse_callback(swish.settle(created.id, "PAID"))
    assert callback.status == PaymentStatus.PAID
    assert callback.amount == Decimal("100.00")
    assert callback.payment_reference
    assert callback.date_paid is not None
    confirmed = client.get_payment_request(request_id=created.id)
    assert confirmed.status == PaymentStatus.PAID
    assert confirmed.payment_reference == callback.payment_reference


def test_payer_not_enrolled_surfaces_acmt03(swish, pki):
    client = client_for(swish, pki)
    with pytest.raises(SwishRequestRejected) as caught:
        client.create_payment_request(ocr="1234574", amount=Decimal("10.00"), callback_url=CALLBACK,
                                      payer_alias="46709999999")
    assert caught.value.status == 422
    assert caught.value.codes == ["ACMT03"]
    assert "ACMT03: Payer not Enrolled" in str(caught.value)
    assert swish.requests == {}


def test_callback_url_refused_by_swish_surfaces_rp03(swish, pki):
    swish.fail_next = [swish_error("RP03", "Callback URL is missing or does not use HTTPS")]
    with pytest.raises(SwishRequestRejected) as caught:
        client_for(swish, pki).create_payment_request(ocr="1234574", amount=Decimal("10.00"), callback_url=CALLBACK)
    assert caught.value.codes == ["RP03"]


def test_several_errors_and_unknown_request(swish, pki):
    client = client_for(swish, pki, payee_alias="1230000000")
    with pytest.raises(SwishRequestRejected) as caught:
        client.create_payment_request(ocr="1234574", amount=Decimal("10.00"), callback_url=CALLBACK,
                                      payer_alias="46709999999")
    assert caught.value.codes == ["ACMT07", "ACMT03"]
    with pytest.raises(SwishRequestRejected) as caught:
        client.get_payment_request(request_id="0" * 32)
    assert caught.value.status == 404


def test_reused_instruction_uuid_is_rejected(swish, pki):
    client = client_for(swish, pki)
    instruction = "22A86BE70EA346E4B1C39C874173F088"
    client.create_payment_request(ocr="1234574", amount=Decimal("1.00"), callback_url=CALLBACK,
                                  instruction_uuid=instruction)
    with pytest.raises(SwishRequestRejected) as caught:
        client.create_payment_request(ocr="1234574", amount=Decimal("1.00"), callback_url=CALLBACK,
                                      instruction_uuid=instruction)
    assert caught.value.codes == ["RP04"]


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"callback_url": "http://csms.example.se/cb"}, "The callback URL must be an https URL"),
    ({"message": "x" * 51}, "The message may have at most 50 characters (51 given)."),
    ({"ocr": "OCR 123"}, "The payment reference 'OCR 123' must be"),
    ({"amount": Decimal("0.004")}, "A Swish amount must be between 0.01"),
    ({"payer_alias": "0701"}, "The payer's Swish number '0701' must be"),
])
def test_invalid_input_is_refused_before_sending(kwargs, message):
    arguments = {"payee_alias": "1231181189", "ocr": "1234574", "amount": Decimal("10.00"), "callback_url": CALLBACK,
                 **kwargs}
    with pytest.raises(SwishValidationError) as caught:
        build_payment_request(**arguments)
    assert str(caught.value).startswith(message)


def test_float_amount_is_refused():
    with pytest.raises(TypeError):
        build_payment_request(payee_alias="1231181189", ocr="1234574", amount=10.0, callback_url=CALLBACK)


def test_documented_callback_json_is_parsed():
    # The callback example from Swish's integration guide (a declined and a paid request).
    paid = parse_callback(json.dumps({
        "id": "AB23D7406ECE4542A80152D909EF9F6B", "payeePaymentReference": "0123456789",
        "paymentReference": "6D6CD7406ECE4542A80152D909EF9F6B", "callbackUrl": "https://example.com/api/swishcb",
        "payerAlias": "4671234768", "payeeAlias": "1231181189", "amount": 100.00, "currency": "SEK",
        "message": "Kingston USB Flash Drive 8 GB", "status": "PAID", "dateCreated": "2019-01-02T14:29:51.092Z",
        "datePaid": "2019-01-02T14:29:55.093Z", "errorCode": None, "errorMessage": None,
    }).replace("100.0", "100.00"))
    assert paid.status == PaymentStatus.PAID
    assert paid.amount == Decimal("100.00")
    assert paid.date_paid == datetime(2019, 1, 2, 14, 29, 55, 93000, tzinfo=UTC)
    assert paid.payee_payment_reference == "0123456789"

    for status, code in (("DECLINED", None), ("ERROR", "TM01"), ("CANCELLED", None)):
        update = parse_callback(json.dumps({
            "id": "AB23D7406ECE4542A80152D909EF9F6B", "payeePaymentReference": "0123456789", "amount": "100.00",
            "currency": "SEK", "status": status, "dateCreated": "2019-01-02T14:29:51.092Z", "datePaid": None,
            "errorCode": code, "errorMessage": "Swish timed out before the payment was started" if code else None,
        }).encode())
        assert update.status == status
        assert update.is_final
        assert update.error_code == (code or "")
