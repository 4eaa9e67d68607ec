"""Stripe payments for resident invoices: a thin, typed adapter over the official ``stripe`` package.

No models and no database: the invoice services call this module and store what it returns. Everything goes
through one ``stripe.StripeClient`` built from settings (``StripeGateway.from_settings()``; STRIPE_SECRET_KEY,
STRIPE_API_BASE), never through the ``stripe`` module's global state, so tests can point it at localstripe.

How to use it (every argument is keyword-only)::

    gateway = StripeGateway.from_settings()
    customer_id = gateway.ensure_customer(reference="resident-42", email="anna@example.se", name="Anna")
    payment = gateway.checkout_for_invoice(invoice_reference="2026-000123", amount=Decimal("842.63"),
                                           currency="SEK", customer_id=customer_id, success_url=..., cancel_url=...)
    secret = gateway.setup_card(customer_id=customer_id, reference="resident-42-card-1")
    result = gateway.charge_saved_card(customer_id=customer_id, payment_method_id="pm_…", amount=Decimal("200.96"),
                                       currency="SEK", invoice_reference="2026-000124")
    refund = gateway.refund(payment_intent_id=result.payment_intent_id, amount=Decimal("10.00"),
                            invoice_reference="2026-000124", refund_reference="credit-7")

The hosted pay page (the deliberate choice)
    localstripe, which the tests run, has no Checkout Sessions, so ``checkout_for_invoice`` creates a PaymentIntent
    and returns its client secret (``HostedPayment``). Our own pay page loads Stripe.js with STRIPE_PUBLISHABLE_KEY
    and that secret, shows the Payment Element (card; Apple Pay and Google Pay are card wallets; Klarna where
    enabled) and confirms with ``return_url=success_url``; ``cancel_url`` is its "back" link. The return page asks
    ``payment_status`` instead of trusting the redirect; the webhook is what marks the invoice paid.

Idempotency
    Every create call sends an idempotency key made from the invoice (or customer) reference and the purpose
    (``idempotency_key``), so a retried task gets Stripe's stored answer instead of a second charge. Stripe keeps
    keys for 24 hours and refuses a key reused with other parameters. A deliberate new attempt (another card after a
    decline) passes ``attempt=2`` and so gets a new key; the service records which attempt it is on.

Amounts
    ``Decimal`` in major units (kronor) in and out; ``to_minor_units`` converts exactly (SEK öre) and refuses floats,
    more than two decimals and amounts that are not positive. All our currencies (SEK, NOK, DKK, EUR) have two.

Webhooks
    ``verify_webhook`` checks ``Stripe-Signature`` with stripe's own code (HMAC-SHA256 of ``"{t}.{payload}"``,
    at most ``tolerance`` seconds old) and raises ``WebhookError`` with a ``reason`` (signature, too old, malformed).
    ``payment_outcome`` maps a verified event to a ``PaymentOutcome`` (or ``None`` for events we ignore). Stripe
    delivers at least once and in any order, so the webhook service (next step, it needs a table) must:

    - record ``outcome.event_id`` in a table with a unique constraint in the same transaction as the payment and
      skip events already recorded (a delivery twice marks an invoice paid once);
    - answer 400 to ``WebhookError`` (nothing written) and 200 to everything else, including ignored events;
    - for ``REFUNDED`` treat ``amount`` as the total refunded so far on that payment and record the difference.

Payouts to associations (Stripe Connect)
    Each association gets a connected account (``connect_account_create``: Express or Standard, our reference in
    its metadata), finishes Stripe's hosted onboarding through ``connect_onboarding_link`` and is ready when
    ``connect_account_status(...).can_receive_transfers``. ``transfer_create`` moves a payout from the platform
    balance to that account; the payout's reference is the idempotency key, the transfer group and the metadata::

        account_id = gateway.connect_account_create(reference="org-7", email="styrelsen@brf.se",
                                                    business_name="BRF Eken")
        url = gateway.connect_onboarding_link(account_id=account_id, refresh_url=..., return_url=...)
        result = gateway.transfer_create(account_id=account_id, amount=Decimal("3324.70"), currency="SEK",
                                         reference="payout-42", description="Självfaktura 2026-03")

    Never paid twice: before creating, ``transfer_create`` looks for a transfer with the reference's transfer
    group on that account and returns it (with the same amount; another amount is an error), so a retry after a
    lost answer, even days later, pays nothing. ``TransferRefused`` means Stripe refused and nothing was paid
    (destination not onboarded, platform balance too low); Stripe replays a refused key's answer for 24 hours, so
    once the cause is fixed the service retries with ``attempt`` + 1. Any other ``StripeGatewayError`` may or may
    not have reached Stripe: retry with the same or a later attempt, the look-up finds a transfer that was made.
    Two workers must not execute the same payout at once (lock the payout row): the look-up is not atomic.

Errors: ``StripeNotConfigured`` (no secret key), ``StripeGatewayError`` (Stripe could not be asked or refused the
request; the task may retry, the idempotency key makes that safe), ``TransferRefused`` (a ``StripeGatewayError``:
Stripe refused a transfer, with its code and message), ``WebhookError``. A declined card is not an
error but a ``PaymentResult`` with status FAILED and the decline code. Messages are English, marked for
translation: show them with ``gettext(error.template) % error.params``.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

import stripe

#: Metadata keys we put on Stripe objects, so webhooks lead back to our rows.
META_INVOICE = "csms_invoice"
META_PURPOSE = "csms_purpose"
META_REFERENCE = "csms_reference"
#: Seconds a webhook signature stays acceptable (Stripe's own default too).
WEBHOOK_TOLERANCE = 300
#: Payment method types offered on the pay page when the caller does not choose.
DEFAULT_PAYMENT_METHOD_TYPES = ("card",)
_MINOR_UNIT_EXPONENT = {"SEK": 2, "NOK": 2, "DKK": 2, "EUR": 2}
#: Kinds of connected account an association may get: Stripe hosts onboarding and the dashboard for both.
CONNECT_ACCOUNT_KINDS = ("express", "standard")
#: Capabilities requested for Express accounts. Stripe needs a platform approval for accounts that request
#: transfers without card_payments, so both are requested; Standard accounts get Stripe's defaults.
EXPRESS_CAPABILITIES = ("card_payments", "transfers")


def gettext_noop(message: str) -> str:
    """Mark a message for translation (Django's makemessages extracts it) without importing Django here."""
    return message


class StripeGatewayError(Exception):
    """Stripe could not be asked, or refused the request for another reason than a declined card."""

    def __init__(self, template: str, **params: object) -> None:
        self.template = template
        self.params = params
        super().__init__(template % params)


class StripeNotConfigured(StripeGatewayError):
    """STRIPE_SECRET_KEY is empty."""


class TransferRefused(StripeGatewayError):
    """Stripe answered and refused a transfer, so nothing was paid: ``code`` is Stripe's error code
    (e.g. ``insufficient_capabilities_for_transfer``, ``balance_insufficient``), ``stripe_message`` its words."""

    def __init__(self, *, code: str, stripe_message: str) -> None:
        super().__init__(gettext_noop("Stripe refused the transfer: %(error)s"), error=stripe_message, code=code)
        self.code = code
        self.stripe_message = stripe_message


class WebhookReason(StrEnum):
    SIGNATURE = "signature"
    TOO_OLD = "too_old"
    MALFORMED = "malformed"


class WebhookError(Exception):
    """A webhook delivery that must be refused (answer 400, write nothing)."""

    MESSAGES = {
        WebhookReason.SIGNATURE: gettext_noop("The Stripe-Signature does not match the payload."),
        WebhookReason.TOO_OLD: gettext_noop("The webhook is older than %(tolerance)s seconds."),
        WebhookReason.MALFORMED: gettext_noop("The webhook or its Stripe-Signature header cannot be read."),
    }

    def __init__(self, reason: WebhookReason, tolerance: int = WEBHOOK_TOLERANCE) -> None:
        self.reason = reason
        self.template = self.MESSAGES[reason]
        self.params = {"tolerance": tolerance}
        super().__init__(self.template % self.params)


# --- Amounts --------------------------------------------------------------------------------------------------


def _exponent(currency: str) -> int:
    try:
        return _MINOR_UNIT_EXPONENT[currency.upper()]
    except KeyError:
        raise ValueError(f"Unsupported currency {currency!r}") from None


def to_minor_units(amount: Decimal, currency: str) -> int:
    """``Decimal("842.63")`` SEK → ``84263`` öre, exactly; floats, fractions of an öre and amounts ≤ 0 raise."""
    if not isinstance(amount, Decimal):
        raise TypeError(f"Amounts must be Decimal, not {type(amount).__name__}")
    if not amount.is_finite():
        raise ValueError(f"Amount {amount} is not a number")
    minor = amount.scaleb(_exponent(currency))
    if minor != minor.to_integral_value():
        raise ValueError(f"Amount {amount} {currency} has fractions of the smallest unit")
    if minor <= 0:
        raise ValueError(f"Amount {amount} {currency} must be positive")
    return int(minor)


def from_minor_units(minor: int, currency: str) -> Decimal:
    """``84263`` öre → ``Decimal("842.63")`` SEK."""
    return Decimal(int(minor)).scaleb(-_exponent(currency))


def idempotency_key(*, purpose: str, reference: str, attempt: int = 1) -> str:
    """The key for one create call: the same purpose, reference and attempt always give the same key."""
    if not purpose or not reference:
        raise ValueError("An idempotency key needs a purpose and a reference")
    if attempt < 1:
        raise ValueError("attempt starts at 1")
    # Stripe allows 255 characters; a hash keeps long references within that and makes keys uniform.
    digest = hashlib.sha256(f"{purpose}\x00{reference}\x00{attempt}".encode()).hexdigest()[:32]
    return f"csms-{purpose}-{digest}"


# --- Results --------------------------------------------------------------------------------------------------


class PaymentStatus(StrEnum):
    SUCCEEDED = "succeeded"
    #: The customer must act (3-D Secure): send them to the pay page with ``client_secret``.
    REQUIRES_ACTION = "requires_action"
    #: Declined or otherwise unsuccessful; ``decline_code`` says why. Fall back to an e-mail asking to pay.
    FAILED = "failed"
    #: Accepted, the money is not there yet (bank-based methods); the webhook tells the end.
    PROCESSING = "processing"
    #: Nothing paid yet: the customer has not finished the pay page.
    OPEN = "open"
    CANCELED = "canceled"


_INTENT_STATUS = {
    "succeeded": PaymentStatus.SUCCEEDED,
    "requires_action": PaymentStatus.REQUIRES_ACTION,
    "processing": PaymentStatus.PROCESSING,
    "requires_capture": PaymentStatus.PROCESSING,
    "requires_payment_method": PaymentStatus.OPEN,
    "requires_confirmation": PaymentStatus.OPEN,
    "canceled": PaymentStatus.CANCELED,
}


@dataclass(frozen=True)
class PaymentResult:
    status: PaymentStatus
    payment_intent_id: str
    amount: Decimal
    currency: str
    decline_code: str = ""
    message: str = ""
    client_secret: str = ""


@dataclass(frozen=True)
class HostedPayment:
    """What the pay page needs: Stripe.js confirms ``client_secret`` and returns to ``success_url``."""

    payment_intent_id: str
    client_secret: str
    amount: Decimal
    currency: str
    payment_method_types: tuple[str, ...]
    success_url: str
    cancel_url: str


@dataclass(frozen=True)
class RefundResult:
    refund_id: str
    status: str
    amount: Decimal
    currency: str


class OutcomeKind(StrEnum):
    PAID = "paid"
    PAYMENT_FAILED = "payment_failed"
    REFUNDED = "refunded"
    CARD_SAVED = "card_saved"


@dataclass(frozen=True)
class PaymentOutcome:
    """What one webhook event means for us. Empty strings where the event does not say."""

    kind: OutcomeKind
    event_id: str
    invoice_reference: str = ""
    amount: Decimal | None = None
    currency: str = ""
    payment_id: str = ""
    customer_id: str = ""
    payment_method_id: str = ""
    decline_code: str = ""
    livemode: bool = False


@dataclass(frozen=True)
class ConnectAccountStatus:
    """Where an association's connected account stands. ``requirements_due`` is what Stripe still needs from the
    association (past due first); ``pending_verification`` what it has and is checking."""

    account_id: str
    payouts_enabled: bool
    charges_enabled: bool
    details_submitted: bool
    requirements_due: tuple[str, ...]
    pending_verification: tuple[str, ...] = ()
    disabled_reason: str = ""
    #: The ``transfers`` capability: "active", "pending", "inactive", or "" when it was never requested.
    transfers: str = ""

    @property
    def can_receive_transfers(self) -> bool:
        return self.transfers == "active" and self.payouts_enabled


@dataclass(frozen=True)
class TransferResult:
    """One transfer to a connected account; ``amount_reversed`` is what was taken back since."""

    transfer_id: str
    account_id: str
    amount: Decimal
    currency: str
    reference: str
    amount_reversed: Decimal
    reversed: bool
    created: datetime


# --- The gateway ----------------------------------------------------------------------------------------------


def _field(obj: Any, name: str, default: Any = None) -> Any:
    """A field of a StripeObject or a dict, ``default`` where it is missing or None."""
    if obj is None:
        return default
    try:
        value = obj[name]
    except (KeyError, TypeError):
        value = getattr(obj, name, None)
    return default if value is None else value


def _id(value: Any) -> str:
    """An object's id whether Stripe sent the id or the expanded object."""
    if value is None:
        return ""
    return value if isinstance(value, str) else str(_field(value, "id", ""))


class StripeGateway:
    """All calls we make to Stripe. Build one per task or request with ``from_settings()``."""

    def __init__(self, client: stripe.StripeClient) -> None:
        self.client = client

    @classmethod
    def from_settings(cls) -> StripeGateway:
        from django.conf import settings

        if not settings.STRIPE_SECRET_KEY:
            raise StripeNotConfigured(gettext_noop("Stripe is not configured (STRIPE_SECRET_KEY is empty)."))
        return cls(stripe.StripeClient(settings.STRIPE_SECRET_KEY,
                                       base_addresses={"api": settings.STRIPE_API_BASE},
                                       max_network_retries=2))

    @staticmethod
    def _error(error: stripe.StripeError) -> StripeGatewayError:
        return StripeGatewayError(gettext_noop("Stripe refused or did not answer: %(error)s"),
                                  error=error.user_message or str(error))

    def _call(self, function, *args, **kwargs):
        try:
            return function(*args, **kwargs)
        except stripe.StripeError as error:
            raise self._error(error) from error

    def ensure_customer(self, *, reference: str, email: str, name: str, customer_id: str = "") -> str:
        """The Stripe customer id for our ``reference`` (e.g. "resident-42"), created once, e-mail and name current.

        Pass the stored ``customer_id`` when there is one; without it an existing customer with that e-mail and our
        reference is reused before one is created."""
        params = {"email": email, "name": name, "metadata": {META_REFERENCE: reference}}
        if customer_id:
            try:
                return self.client.v1.customers.update(customer_id, params=params).id
            except stripe.InvalidRequestError as error:
                if error.http_status != 404:  # a deleted or unknown customer is replaced below
                    raise self._error(error) from error
            except stripe.StripeError as error:
                raise self._error(error) from error
        existing = self._call(self.client.v1.customers.list, params={"email": email, "limit": 100})
        for customer in existing.data:
            if _field(_field(customer, "metadata", {}), META_REFERENCE) == reference:
                return customer.id
        customer = self._call(self.client.v1.customers.create, params=params,
                              options={"idempotency_key": idempotency_key(purpose="customer", reference=reference)})
        return customer.id

    def checkout_for_invoice(self, *, invoice_reference: str, amount: Decimal, currency: str, customer_id: str,
                             success_url: str, cancel_url: str,
                             payment_method_types: Sequence[str] = DEFAULT_PAYMENT_METHOD_TYPES,
                             attempt: int = 1) -> HostedPayment:
        """A PaymentIntent for the pay page of one invoice (see the module docstring for why not Checkout)."""
        if not success_url or not cancel_url:
            raise ValueError("success_url and cancel_url are required")
        types = tuple(payment_method_types)
        if not types:
            raise ValueError("At least one payment method type is required")
        intent = self._call(
            self.client.v1.payment_intents.create,
            params={"amount": to_minor_units(amount, currency), "currency": currency.lower(),
                    "customer": customer_id, "payment_method_types": list(types),
                    "metadata": {META_INVOICE: invoice_reference, META_PURPOSE: "checkout"}},
            options={"idempotency_key": idempotency_key(purpose="checkout", reference=invoice_reference,
                                                        attempt=attempt)},
        )
        return HostedPayment(payment_intent_id=intent.id, client_secret=intent.client_secret,
                             amount=from_minor_units(intent.amount, currency), currency=currency.upper(),
                             payment_method_types=types, success_url=success_url, cancel_url=cancel_url)

    def setup_card(self, *, customer_id: str, reference: str) -> str:
        """The client secret of a SetupIntent that saves a card for off-session charges on later invoices.

        ``reference`` names this request (e.g. "resident-42-card-3"): the same reference returns the same
        SetupIntent. The webhook ``setup_intent.succeeded`` (CARD_SAVED) carries the payment method to store."""
        intent = self._call(
            self.client.v1.setup_intents.create,
            params={"customer": customer_id, "usage": "off_session", "payment_method_types": ["card"],
                    "metadata": {META_REFERENCE: reference, META_PURPOSE: "setup"}},
            options={"idempotency_key": idempotency_key(purpose="setup", reference=reference)},
        )
        return intent.client_secret

    def charge_saved_card(self, *, customer_id: str, payment_method_id: str, amount: Decimal, currency: str,
                          invoice_reference: str, attempt: int = 1) -> PaymentResult:
        """Charge a saved card off-session when an invoice is issued; a decline is a FAILED result, not an error."""
        minor = to_minor_units(amount, currency)
        try:
            intent = self.client.v1.payment_intents.create(
                params={"amount": minor, "currency": currency.lower(), "customer": customer_id,
                        "payment_method": payment_method_id, "payment_method_types": ["card"],
                        "confirm": True, "off_session": True,
                        "metadata": {META_INVOICE: invoice_reference, META_PURPOSE: "auto_charge"}},
                options={"idempotency_key": idempotency_key(purpose="auto_charge", reference=invoice_reference,
                                                            attempt=attempt)},
            )
        except stripe.CardError as error:
            detail = error.error
            code = _field(detail, "code", "") or (error.code or "")
            failed_intent = _field(detail, "payment_intent")
            # Stripe answers a card that needs 3-D Secure off-session with this code; the customer can still pay.
            status = PaymentStatus.REQUIRES_ACTION if code == "authentication_required" else PaymentStatus.FAILED
            return PaymentResult(status=status, payment_intent_id=_id(failed_intent),
                                 amount=amount, currency=currency.upper(),
                                 decline_code=_field(detail, "decline_code", "") or code,
                                 message=_field(detail, "message", "") or str(error),
                                 client_secret=_field(failed_intent, "client_secret", ""))
        except stripe.StripeError as error:
            raise self._error(error) from error
        return self._result(intent, currency)

    def payment_status(self, *, payment_intent_id: str) -> PaymentResult:
        """Where a payment stands now (for the page the customer returns to; the webhook is authoritative)."""
        intent = self._call(self.client.v1.payment_intents.retrieve, payment_intent_id)
        return self._result(intent, intent.currency.upper())

    def refund(self, *, payment_intent_id: str, amount: Decimal, currency: str, invoice_reference: str,
               refund_reference: str) -> RefundResult:
        """Refund ``amount`` of a payment; ``refund_reference`` (e.g. our credit note) makes each refund distinct."""
        refund = self._call(
            self.client.v1.refunds.create,
            params={"payment_intent": payment_intent_id, "amount": to_minor_units(amount, currency),
                    "metadata": {META_INVOICE: invoice_reference, META_REFERENCE: refund_reference}},
            options={"idempotency_key": idempotency_key(purpose="refund",
                                                        reference=f"{invoice_reference}/{refund_reference}")},
        )
        return RefundResult(refund_id=refund.id, status=refund.status or "",
                            amount=from_minor_units(refund.amount, currency), currency=refund.currency.upper())

    # --- Stripe Connect: payouts to associations -----------------------------------------------------------------

    def connect_account_create(self, *, reference: str, email: str, business_name: str, country: str = "SE",
                               kind: str = "express") -> str:
        """The id of a new connected account for an association (``reference`` e.g. "org-7", stored in metadata).

        The same reference within Stripe's 24 hours returns the same account; store the id, it is the only way
        back to the account after that."""
        if kind not in CONNECT_ACCOUNT_KINDS:
            raise ValueError(f"kind must be one of {', '.join(CONNECT_ACCOUNT_KINDS)}, not {kind!r}")
        if not reference or not email or not business_name:
            raise ValueError("A connected account needs a reference, an e-mail address and a business name")
        if len(country) != 2 or not country.isalpha():
            raise ValueError(f"country must be an ISO 3166-1 alpha-2 code, not {country!r}")
        params: dict[str, Any] = {"type": kind, "country": country.upper(), "email": email,
                                  "business_profile": {"name": business_name},
                                  "metadata": {META_REFERENCE: reference, META_PURPOSE: "payout_account"}}
        if kind == "express":
            params["capabilities"] = {name: {"requested": True} for name in EXPRESS_CAPABILITIES}
        account = self._call(self.client.v1.accounts.create, params=params,
                             options={"idempotency_key": idempotency_key(purpose="connect_account",
                                                                         reference=reference)})
        return account.id

    def connect_onboarding_link(self, *, account_id: str, refresh_url: str, return_url: str) -> str:
        """A single-use URL of Stripe's hosted onboarding for the account; it expires within minutes, so make one
        each time the board clicks "connect", and again when Stripe sends them to ``refresh_url``.

        Stripe returning the user to ``return_url`` does not mean onboarding is complete: ask
        ``connect_account_status``."""
        if not account_id or not refresh_url or not return_url:
            raise ValueError("account_id, refresh_url and return_url are required")
        # A stored answer would hand out a used or expired link, so the key is new for every call: it only makes
        # the client's own network retries of this one request safe.
        link = self._call(self.client.v1.account_links.create,
                          params={"account": account_id, "refresh_url": refresh_url, "return_url": return_url,
                                  "type": "account_onboarding"},
                          options={"idempotency_key": idempotency_key(purpose="account_link",
                                                                      reference=f"{account_id}/{uuid.uuid4()}")})
        return link.url

    def connect_account_status(self, *, account_id: str) -> ConnectAccountStatus:
        """What Stripe says about the account now (the ``account.updated`` webhook tells when it changes)."""
        account = self._call(self.client.v1.accounts.retrieve, account_id)
        requirements = _field(account, "requirements", {})
        due = dict.fromkeys([*_field(requirements, "past_due", []), *_field(requirements, "currently_due", [])])
        return ConnectAccountStatus(
            account_id=account.id, payouts_enabled=bool(_field(account, "payouts_enabled", False)),
            charges_enabled=bool(_field(account, "charges_enabled", False)),
            details_submitted=bool(_field(account, "details_submitted", False)),
            requirements_due=tuple(due), pending_verification=tuple(_field(requirements, "pending_verification", [])),
            disabled_reason=str(_field(requirements, "disabled_reason", "")),
            transfers=str(_field(_field(account, "capabilities", {}), "transfers", "")))

    def platform_balance(self, *, currency: str) -> Decimal:
        """The platform's available balance in ``currency``: what transfers can pay out now."""
        balance = self._call(self.client.v1.balance.retrieve)
        wanted = currency.lower()
        minor = sum(int(_field(entry, "amount", 0)) for entry in _field(balance, "available", [])
                    if _field(entry, "currency") == wanted)
        return from_minor_units(minor, currency)

    def transfer_create(self, *, account_id: str, amount: Decimal, currency: str, reference: str, description: str,
                        attempt: int = 1) -> TransferResult:
        """Pay ``amount`` from the platform balance to the connected account, once per ``reference`` (the payout).

        A transfer already made for the reference is returned instead of a new one (see "Never paid twice" in the
        module docstring). ``TransferRefused`` when Stripe refuses; retry that with ``attempt`` + 1."""
        minor = to_minor_units(amount, currency)
        if not reference or not account_id:
            raise ValueError("A transfer needs an account and a reference")
        group = _transfer_group(reference)
        existing = self._existing_transfer(account_id=account_id, group=group, reference=reference)
        if existing is not None:
            if existing.amount != minor or existing.currency.upper() != currency.upper():
                raise StripeGatewayError(
                    gettext_noop("A transfer for %(reference)s was already made, of %(made)s %(made_currency)s, "
                                 "not %(amount)s %(currency)s."),
                    reference=reference, made=from_minor_units(existing.amount, existing.currency),
                    made_currency=existing.currency.upper(), amount=amount, currency=currency.upper())
            return self._transfer_result(existing)
        try:
            transfer = self.client.v1.transfers.create(
                params={"amount": minor, "currency": currency.lower(), "destination": account_id,
                        "description": description, "transfer_group": group,
                        "metadata": {META_REFERENCE: reference, META_PURPOSE: "payout"}},
                options={"idempotency_key": idempotency_key(purpose="transfer", reference=reference,
                                                            attempt=attempt)},
            )
        except stripe.InvalidRequestError as error:
            raise TransferRefused(code=error.code or "", stripe_message=error.user_message or str(error)) from error
        except stripe.StripeError as error:
            raise self._error(error) from error
        return self._transfer_result(transfer)

    def transfer_status(self, *, transfer_id: str) -> TransferResult:
        """A transfer as it stands now: ``reversed`` once all of it was taken back."""
        return self._transfer_result(self._call(self.client.v1.transfers.retrieve, transfer_id))

    def _existing_transfer(self, *, account_id: str, group: str, reference: str) -> Any:
        transfers = self._call(self.client.v1.transfers.list,
                               params={"destination": account_id, "transfer_group": group, "limit": 100})
        for transfer in transfers.data:
            if _field(_field(transfer, "metadata", {}), META_REFERENCE) == reference:
                return transfer
        return None

    @staticmethod
    def _transfer_result(transfer: Any) -> TransferResult:
        currency = transfer.currency.upper()
        return TransferResult(transfer_id=transfer.id, account_id=_id(_field(transfer, "destination")),
                              amount=from_minor_units(transfer.amount, currency), currency=currency,
                              reference=str(_field(_field(transfer, "metadata", {}), META_REFERENCE, "")),
                              amount_reversed=from_minor_units(_field(transfer, "amount_reversed", 0), currency),
                              reversed=bool(_field(transfer, "reversed", False)),
                              created=datetime.fromtimestamp(transfer.created, tz=UTC))

    @staticmethod
    def _result(intent: Any, currency: str) -> PaymentResult:
        status = _INTENT_STATUS.get(intent.status, PaymentStatus.OPEN)
        error = _field(intent, "last_payment_error")
        if status == PaymentStatus.OPEN and error:
            status = PaymentStatus.FAILED
        return PaymentResult(status=status, payment_intent_id=intent.id,
                             amount=from_minor_units(intent.amount, currency), currency=currency.upper(),
                             decline_code=_field(error, "decline_code", "") or _field(error, "code", ""),
                             message=_field(error, "message", ""),
                             client_secret=intent.client_secret if status == PaymentStatus.REQUIRES_ACTION else "")


def _transfer_group(reference: str) -> str:
    """The transfer group of a payout's transfers: how a retry finds a transfer already made for the reference."""
    return f"csms-payout-{hashlib.sha256(reference.encode()).hexdigest()[:32]}"


# --- Webhooks -------------------------------------------------------------------------------------------------


def _signature_timestamp(header: str) -> int | None:
    """The ``t=`` of a Stripe-Signature header if it also has a ``v1=``; None when the header is unreadable."""
    timestamp, has_v1 = None, False
    for item in header.split(","):
        key, _, value = item.strip().partition("=")
        if key == "t" and value.isdigit():
            timestamp = int(value)
        elif key == "v1" and value:
            has_v1 = True
    return timestamp if has_v1 else None


def verify_webhook(*, payload: bytes, signature_header: str | None, secret: str,
                   tolerance: int = WEBHOOK_TOLERANCE) -> stripe.Event:
    """The verified event of one webhook delivery (``request.body``, ``HTTP_STRIPE_SIGNATURE``) or WebhookError."""
    if not secret:
        raise ValueError("No webhook secret (STRIPE_WEBHOOK_SECRET)")
    if not isinstance(payload, bytes | bytearray):
        raise TypeError("The payload must be the raw request body (bytes)")
    timestamp = _signature_timestamp(signature_header or "")
    if timestamp is None:
        raise WebhookError(WebhookReason.MALFORMED, tolerance)
    try:
        event = stripe.Webhook.construct_event(bytes(payload), signature_header, secret, tolerance)
    except stripe.SignatureVerificationError as error:
        # stripe checks the signature before the age: whatever it rejects, a stale timestamp is the clearer reason.
        too_old = timestamp < time.time() - tolerance
        raise WebhookError(WebhookReason.TOO_OLD if too_old else WebhookReason.SIGNATURE, tolerance) from error
    except ValueError as error:  # signed, but not JSON
        raise WebhookError(WebhookReason.MALFORMED, tolerance) from error
    if not _field(event, "id") or not _field(event, "type"):
        raise WebhookError(WebhookReason.MALFORMED, tolerance)
    return event


def payment_outcome(event: Mapping[str, Any] | stripe.Event) -> PaymentOutcome | None:
    """What a verified event means for our invoices, or None for events we do not act on.

    Pure: reads the event only. ``invoice_reference`` comes from our metadata; for ``charge.refunded`` it may be
    empty (Stripe does not always copy it to charges), so find the payment by ``payment_id``."""
    data = event.to_dict() if isinstance(event, stripe.StripeObject) else event
    kind = data.get("type")
    obj = (data.get("data") or {}).get("object") or {}
    metadata = obj.get("metadata") or {}
    common = {"event_id": str(data.get("id", "")), "livemode": bool(data.get("livemode", False)),
              "invoice_reference": str(metadata.get(META_INVOICE) or ""), "customer_id": _id(obj.get("customer"))}
    currency = str(obj.get("currency") or "").upper()

    def money(minor: Any) -> Decimal | None:
        return from_minor_units(int(minor), currency) if minor is not None and currency else None

    if kind == "payment_intent.succeeded":
        received = obj.get("amount_received")
        return PaymentOutcome(kind=OutcomeKind.PAID, amount=money(received if received else obj.get("amount")),
                              currency=currency, payment_id=_id(obj.get("id")),
                              payment_method_id=_id(obj.get("payment_method")), **common)
    if kind == "payment_intent.payment_failed":
        error = obj.get("last_payment_error") or {}
        return PaymentOutcome(kind=OutcomeKind.PAYMENT_FAILED, amount=money(obj.get("amount")), currency=currency,
                              payment_id=_id(obj.get("id")), payment_method_id=_id(obj.get("payment_method")),
                              decline_code=str(error.get("decline_code") or error.get("code") or ""), **common)
    if kind == "checkout.session.completed":
        if obj.get("payment_status") != "paid":
            return None  # a delayed method: payment_intent.succeeded follows when the money arrives
        common["invoice_reference"] = common["invoice_reference"] or str(obj.get("client_reference_id") or "")
        return PaymentOutcome(kind=OutcomeKind.PAID, amount=money(obj.get("amount_total")), currency=currency,
                              payment_id=_id(obj.get("payment_intent")), **common)
    if kind == "charge.refunded":
        return PaymentOutcome(kind=OutcomeKind.REFUNDED, amount=money(obj.get("amount_refunded")), currency=currency,
                              payment_id=_id(obj.get("payment_intent")) or _id(obj.get("id")),
                              payment_method_id=_id(obj.get("payment_method")), **common)
    if kind == "setup_intent.succeeded":
        return PaymentOutcome(kind=OutcomeKind.CARD_SAVED, payment_id=_id(obj.get("id")),
                              payment_method_id=_id(obj.get("payment_method")), **common)
    return None
