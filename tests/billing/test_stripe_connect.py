"""Stripe Connect in the Stripe gateway: connected accounts for associations, onboarding, transfers of payouts and
their refusals, through the official stripe client against the Connect part of the fake in tests/billing/conftest.py
(localstripe has no Connect; nothing here patches the client)."""

import json
import urllib.error
import urllib.parse
import urllib.request
from decimal import Decimal

import pytest
import stripe

from billing.stripe_gateway import (
    StripeGateway,
    StripeGatewayError,
    TransferRefused,
)

SECRET_KEY = "sk_test_csms"


@pytest.fixture
def gateway(localstripe, settings):
    settings.STRIPE_SECRET_KEY = SECRET_KEY
    settings.STRIPE_API_BASE = localstripe
    return StripeGateway.from_settings()


def fake(localstripe, method, path, body=None, form=None, key=SECRET_KEY):
    """A raw request to the fake (its /_test/ paths, or Stripe paths where the answer's shape is the point)."""
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    data = None
    if body is not None:
        data, headers["Content-Type"] = json.dumps(body).encode(), "application/json"
    elif form is not None:
        data, headers["Content-Type"] = urllib.parse.urlencode(form).encode(), "application/x-www-form-urlencoded"
    request = urllib.request.Request(localstripe + path, method=method, data=data, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def set_platform_balance(localstripe, amount_ore, currency="sek"):
    status, _ = fake(localstripe, "POST", "/_test/balance", {"currency": currency, "available": amount_ore})
    assert status == 200


def onboard(localstripe, account_id, verified=True):
    """What the association's board does on Stripe's onboarding pages; verified=False: submitted, being checked."""
    status, _ = fake(localstripe, "POST", f"/_test/accounts/{account_id}/onboard", {"verified": verified})
    assert status == 200


@pytest.fixture
def account_id(gateway, request):
    return gateway.connect_account_create(reference=f"org-{request.node.name}", email="styrelsen@brf-eken.se",
                                          business_name="BRF Eken")


def transfers_to(gateway, account_id):
    return gateway.client.v1.transfers.list(params={"destination": account_id, "limit": 100}).data


def test_an_association_gets_an_express_account_once_per_reference(gateway):
    account_id = gateway.connect_account_create(reference="org-7", email="styrelsen@brf-eken.se",
                                                business_name="BRF Eken")
    assert account_id.startswith("acct_")
    assert gateway.connect_account_create(reference="org-7", email="styrelsen@brf-eken.se",
                                          business_name="BRF Eken") == account_id
    assert gateway.connect_account_create(reference="org-8", email="styrelsen@brf-eken.se",
                                          business_name="BRF Eken") != account_id
    account = gateway.client.v1.accounts.retrieve(account_id)
    assert (account.type, account.country, account.email, account.business_profile.name) == (
        "express", "SE", "styrelsen@brf-eken.se", "BRF Eken")
    assert account.metadata["csms_reference"] == "org-7"
    assert account.capabilities.to_dict() == {"card_payments": "inactive", "transfers": "inactive"}


def test_a_new_account_cannot_receive_payouts_until_onboarded(gateway, account_id, localstripe):
    status = gateway.connect_account_status(account_id=account_id)
    assert (status.account_id, status.payouts_enabled, status.charges_enabled, status.details_submitted) == (
        account_id, False, False, False)
    assert "external_account" in status.requirements_due
    assert status.transfers == "inactive"
    assert not status.can_receive_transfers

    onboard(localstripe, account_id)
    status = gateway.connect_account_status(account_id=account_id)
    assert (status.payouts_enabled, status.charges_enabled, status.details_submitted) == (True, True, True)
    assert (status.requirements_due, status.pending_verification, status.disabled_reason) == ((), (), "")
    assert status.can_receive_transfers


def test_the_onboarding_link_is_a_new_single_use_url_each_time(gateway, account_id):
    arguments = {"account_id": account_id, "refresh_url": "https://csms.example/connect/refresh",
                 "return_url": "https://csms.example/connect/done"}
    first = gateway.connect_onboarding_link(**arguments)
    assert first.startswith(f"https://connect.stripe.com/setup/e/{account_id}/")
    assert gateway.connect_onboarding_link(**arguments) != first
    with pytest.raises(StripeGatewayError, match="No such account"):
        gateway.connect_onboarding_link(**{**arguments, "account_id": "acct_missing"})
    with pytest.raises(ValueError, match="return_url"):
        gateway.connect_onboarding_link(**{**arguments, "return_url": ""})


def test_a_standard_account_and_bad_arguments(gateway, localstripe):
    account_id = gateway.connect_account_create(reference="org-standard", email="kassor@brf-asken.se",
                                                business_name="BRF Asken", country="no", kind="standard")
    account = gateway.client.v1.accounts.retrieve(account_id)
    assert (account.type, account.country, account.default_currency) == ("standard", "NO", "nok")
    assert gateway.connect_onboarding_link(account_id=account_id, refresh_url="https://csms.example/r",
                                           return_url="https://csms.example/d").startswith(
        f"https://connect.stripe.com/setup/s/{account_id}/")
    with pytest.raises(ValueError, match="kind"):
        gateway.connect_account_create(reference="org-x", email="a@b.se", business_name="BRF X", kind="custom")
    with pytest.raises(ValueError, match="country"):
        gateway.connect_account_create(reference="org-x", email="a@b.se", business_name="BRF X", country="SWE")
    with pytest.raises(ValueError, match="reference"):
        gateway.connect_account_create(reference="", email="a@b.se", business_name="BRF X")
    with pytest.raises(StripeGatewayError, match="No such account"):
        gateway.connect_account_status(account_id="acct_missing")


def test_a_transfer_to_an_account_not_onboarded_is_refused(gateway, account_id, localstripe):
    set_platform_balance(localstripe, 1_000_000)
    with pytest.raises(TransferRefused) as refused:
        gateway.transfer_create(account_id=account_id, amount=Decimal("3324.70"), currency="SEK",
                                reference="payout-not-onboarded", description="Självfaktura 2026-03")
    assert refused.value.code == "insufficient_capabilities_for_transfer"
    assert "capabilities enabled: transfers" in str(refused.value)
    assert gateway.platform_balance(currency="SEK") == Decimal("10000.00")
    assert transfers_to(gateway, account_id) == []

    # Submitted but still being verified by Stripe: still no payouts.
    onboard(localstripe, account_id, verified=False)
    status = gateway.connect_account_status(account_id=account_id)
    assert (status.details_submitted, status.payouts_enabled, status.transfers) == (True, False, "pending")
    assert status.pending_verification
    assert status.disabled_reason == "requirements.pending_verification"
    with pytest.raises(TransferRefused) as refused:
        gateway.transfer_create(account_id=account_id, amount=Decimal("3324.70"), currency="SEK",
                                reference="payout-pending", description="Självfaktura 2026-03")
    assert refused.value.code == "insufficient_capabilities_for_transfer"
    with pytest.raises(TransferRefused) as refused:
        gateway.transfer_create(account_id="acct_missing", amount=Decimal("1.00"), currency="SEK",
                                reference="payout-nowhere", description="x")
    assert refused.value.code == "resource_missing"


def test_an_onboarded_association_is_paid_the_exact_amount(gateway, account_id, localstripe):
    onboard(localstripe, account_id)
    set_platform_balance(localstripe, 1_000_000)
    result = gateway.transfer_create(account_id=account_id, amount=Decimal("3324.70"), currency="SEK",
                                     reference="payout-42", description="Självfaktura 2026-03 BRF Eken")
    assert result.transfer_id.startswith("tr_")
    assert (result.account_id, result.amount, result.currency, result.reference) == (
        account_id, Decimal("3324.70"), "SEK", "payout-42")
    assert (result.amount_reversed, result.reversed) == (Decimal("0.00"), False)
    assert result.created.tzinfo is not None
    transfer = gateway.client.v1.transfers.retrieve(result.transfer_id)
    assert (transfer.amount, transfer.currency, transfer.destination) == (332470, "sek", account_id)
    assert transfer.description == "Självfaktura 2026-03 BRF Eken"
    assert transfer.metadata["csms_reference"] == "payout-42"
    assert gateway.platform_balance(currency="SEK") == Decimal("10000.00") - Decimal("3324.70")


def test_the_same_reference_pays_once(gateway, account_id, localstripe):
    onboard(localstripe, account_id)
    set_platform_balance(localstripe, 1_000_000)
    arguments = {"account_id": account_id, "amount": Decimal("842.63"), "currency": "SEK",
                 "reference": "payout-43", "description": "Självfaktura 2026-04"}
    first = gateway.transfer_create(**arguments)
    assert gateway.transfer_create(**arguments).transfer_id == first.transfer_id
    # A later attempt (a new idempotency key) still finds the transfer already made for the payout.
    assert gateway.transfer_create(**arguments, attempt=2).transfer_id == first.transfer_id
    assert [t.id for t in transfers_to(gateway, account_id)] == [first.transfer_id]
    assert gateway.platform_balance(currency="SEK") == Decimal("10000.00") - Decimal("842.63")
    with pytest.raises(StripeGatewayError, match="already made, of 842.63 SEK, not 842.64 SEK") as error:
        gateway.transfer_create(**{**arguments, "amount": Decimal("842.64")})
    assert not isinstance(error.value, TransferRefused)
    other = gateway.transfer_create(**{**arguments, "reference": "payout-44"})
    assert other.transfer_id != first.transfer_id
    assert len(transfers_to(gateway, account_id)) == 2


def test_an_insufficient_platform_balance_is_a_clear_refusal(gateway, account_id, localstripe):
    onboard(localstripe, account_id)
    set_platform_balance(localstripe, 10000)
    arguments = {"account_id": account_id, "amount": Decimal("3324.70"), "currency": "SEK",
                 "reference": "payout-45", "description": "Självfaktura 2026-05"}
    with pytest.raises(TransferRefused) as refused:
        gateway.transfer_create(**arguments)
    assert refused.value.code == "balance_insufficient"
    assert "insufficient available funds" in refused.value.stripe_message
    assert "insufficient available funds" in str(refused.value)
    assert gateway.platform_balance(currency="SEK") == Decimal("100.00")
    assert transfers_to(gateway, account_id) == []

    set_platform_balance(localstripe, 1_000_000)
    # Stripe replays the stored refusal for the same key; the fixed payout is retried as a new attempt.
    with pytest.raises(TransferRefused):
        gateway.transfer_create(**arguments)
    paid = gateway.transfer_create(**arguments, attempt=2)
    assert paid.amount == Decimal("3324.70")
    assert gateway.transfer_create(**arguments, attempt=3).transfer_id == paid.transfer_id
    assert gateway.platform_balance(currency="SEK") == Decimal("10000.00") - Decimal("3324.70")


@pytest.mark.parametrize(("amount", "error"), [(3324.70, TypeError), ("3324.70", TypeError),
                                               (Decimal("3324.705"), ValueError), (Decimal("0"), ValueError)])
def test_amounts_must_be_decimal_in_whole_ore(gateway, account_id, localstripe, amount, error):
    onboard(localstripe, account_id)
    set_platform_balance(localstripe, 1_000_000)
    with pytest.raises(error):
        gateway.transfer_create(account_id=account_id, amount=amount, currency="SEK", reference="payout-46",
                                description="x")
    assert transfers_to(gateway, account_id) == []


def test_a_reversed_transfer_shows_in_its_status(gateway, account_id, localstripe):
    onboard(localstripe, account_id)
    set_platform_balance(localstripe, 1_000_000)
    paid = gateway.transfer_create(account_id=account_id, amount=Decimal("500.00"), currency="SEK",
                                   reference="payout-47", description="Självfaktura 2026-06")
    gateway.client.v1.transfers.reversals.create(paid.transfer_id, params={"amount": 12050})
    partly = gateway.transfer_status(transfer_id=paid.transfer_id)
    assert (partly.amount_reversed, partly.reversed) == (Decimal("120.50"), False)
    gateway.client.v1.transfers.reversals.create(paid.transfer_id)
    whole = gateway.transfer_status(transfer_id=paid.transfer_id)
    assert (whole.amount, whole.amount_reversed, whole.reversed) == (Decimal("500.00"), Decimal("500.00"), True)
    assert gateway.platform_balance(currency="SEK") == Decimal("10000.00")
    with pytest.raises(StripeGatewayError, match="No such transfer"):
        gateway.transfer_status(transfer_id="tr_missing")


def test_the_fake_answers_in_stripes_shapes(localstripe, account_id):
    status, body = fake(localstripe, "POST", "/v1/transfers", form={"amount": "100", "currency": "sek"})
    assert status == 400
    assert body["error"] == {"type": "invalid_request_error", "code": "parameter_missing", "param": "destination",
                             "message": "Missing required param: destination.",
                             "doc_url": "https://stripe.com/docs/error-codes/parameter-missing"}
    status, body = fake(localstripe, "POST", "/v1/transfers",
                        form={"amount": "1.5", "currency": "sek", "destination": account_id})
    assert (status, body["error"]["code"], body["error"]["param"]) == (400, "parameter_invalid_integer", "amount")
    status, body = fake(localstripe, "GET", "/v1/accounts/acct_missing")
    assert (status, body["error"]["code"]) == (404, "resource_missing")
    status, body = fake(localstripe, "GET", f"/v1/accounts/{account_id}", key=None)
    assert status == 401
    status, body = fake(localstripe, "POST", "/v1/account_links", form={"account": account_id, "type": "x"})
    assert (status, body["error"]["param"]) == (400, "type")
    status, body = fake(localstripe, "POST", "/v1/account_links",
                        form={"account": account_id, "type": "account_update"})
    assert status == 400
    assert "Stripe-hosted Dashboard" in body["error"]["message"]
    status, body = fake(localstripe, "GET", "/v1/balance")
    assert status == 200
    assert body["object"] == "balance"
    assert isinstance(body["available"], list)


def test_refusals_are_stripe_invalid_request_errors_for_the_raw_client(gateway, account_id, localstripe):
    set_platform_balance(localstripe, 1_000_000)
    with pytest.raises(stripe.InvalidRequestError) as error:
        gateway.client.v1.transfers.create(params={"amount": 100, "currency": "sek", "destination": account_id})
    assert (error.value.http_status, error.value.code) == (400, "insufficient_capabilities_for_transfer")
