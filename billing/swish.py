"""Swish Commerce (Swish Handel) payment requests over mutual TLS, behind a small adapter interface.

No Django and no new dependency: the standard library's ``ssl`` and ``http.client``. The future invoice payment
service uses it like this:

    client = SwishClient(config=SwishConfig(base_url="https://mss.cpc.getswish.net/swish-cpcapi",
                                            payee_alias="1231181189", cert_file=…, key_file=…, ca_file=…))
    created = client.create_payment_request(ocr=invoice.ocr, amount=invoice.amount_due, callback_url=…,
                                            message="Faktura 2025030001", payer_alias=None)
    # m-commerce (payer_alias=None): open swish://paymentrequest?token=<created.token>&callbackurl=…
    # e-commerce (payer_alias="46701234567"): the payer's app is asked directly.
    status = client.get_payment_request(request_id=created.id)           # CREATED / PAID / DECLINED / …
    update = parse_callback(request.body)                               # Swish POSTs the same JSON to callbackUrl

Swish's API (Swish Commerce / "Merchant Integration Guide")
    PUT {base}/api/v2/paymentrequests/{instructionUUID} with JSON ``payeePaymentReference`` (here the invoice's OCR
    number), ``callbackUrl`` (https), ``payerAlias`` (e-commerce only), ``payeeAlias`` (the merchant's Swish number),
    ``amount`` (a string with two decimals), ``currency`` ("SEK") and ``message`` (at most 50 characters). The
    instruction UUID is chosen by the caller (32 upper-case hex digits), so a retry of the same request is
    idempotent. Success is 201 with a ``Location`` header pointing at the request
    ({base}/api/v1/paymentrequests/{id}) and, for m-commerce, a ``PaymentRequestToken`` header. Errors: 400, 401
    (certificate), 403, 415, 422 with a JSON list of ``{"errorCode", "errorMessage", "additionalInformation"}``
    (e.g. RP03 bad callback URL, ACMT03 payer not enrolled, PA02 bad amount), 429, 500, 504.
    GET {base}/api/v1/paymentrequests/{id} returns the request, whose ``status`` is CREATED, PAID, DECLINED, ERROR or
    CANCELLED; the callback carries the same JSON.

Callbacks are not signed: treat one as a prompt and confirm with ``get_payment_request`` before marking an invoice
paid. Exceptions: ``SwishValidationError`` (bad input, nothing sent), ``SwishRequestRejected`` (Swish answered with an
error; ``errors`` holds its codes), ``SwishTransportError`` (TLS or connection failure, e.g. a refused certificate),
``SwishResponseError`` (an answer the client cannot read). Messages of ``SwishValidationError`` are English templates
marked with ``gettext_noop``.
"""

from __future__ import annotations

import http.client
import json
import re
import ssl
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from enum import StrEnum
from typing import Protocol
from urllib.parse import urlsplit

MESSAGE_MAX_LENGTH = 50
MIN_AMOUNT = Decimal("0.01")
MAX_AMOUNT = Decimal("999999999999.99")
_REFERENCE = re.compile(r"^[A-Za-z0-9-]{1,35}$")
_PAYER_ALIAS = re.compile(r"^[0-9]{8,15}$")
_INSTRUCTION_UUID = re.compile(r"^[0-9A-F]{32}$")
_ORE = Decimal("0.01")


def gettext_noop(message: str) -> str:
    """Mark a message for translation (Django's makemessages extracts it) without importing Django."""
    return message


class SwishError(Exception):
    """Base of every error this module raises."""


class SwishValidationError(SwishError, ValueError):
    """The request was not sent because an argument is invalid."""

    def __init__(self, template: str, **params: object) -> None:
        self.template = template
        self.params = params
        super().__init__(template % params)


@dataclass(frozen=True)
class SwishErrorDetail:
    code: str
    message: str
    additional_information: str | None = None


class SwishRequestRejected(SwishError):
    """Swish answered with an HTTP error; ``errors`` lists its error codes (422) or is empty."""

    def __init__(self, status: int, errors: list[SwishErrorDetail], body: str = "") -> None:
        self.status = status
        self.errors = errors
        self.body = body
        described = ", ".join(f"{e.code}: {e.message}" for e in errors) or body[:200] or http.client.responses.get(
            status, "error")
        super().__init__(f"Swish refused the request (HTTP {status}): {described}")

    @property
    def codes(self) -> list[str]:
        return [error.code for error in self.errors]


class SwishTransportError(SwishError):
    """No answer from Swish: connection or TLS failure (e.g. the client certificate was refused)."""


class SwishResponseError(SwishError):
    """Swish answered, but not in a way the client understands."""


class PaymentStatus(StrEnum):
    CREATED = "CREATED"
    PAID = "PAID"
    DECLINED = "DECLINED"
    ERROR = "ERROR"
    CANCELLED = "CANCELLED"


@dataclass(frozen=True)
class SwishConfig:
    """Where Swish is and the merchant's credentials (file paths; the key may be password protected)."""

    base_url: str
    payee_alias: str
    cert_file: str
    key_file: str
    ca_file: str
    key_password: str | None = None
    timeout: float = 10.0


@dataclass(frozen=True)
class PaymentRequestCreated:
    instruction_uuid: str
    id: str
    location: str
    token: str | None  # m-commerce only: PaymentRequestToken to open the Swish app with


@dataclass(frozen=True)
class PaymentRequestStatus:
    """A payment request as Swish reports it (GET answer or callback body)."""

    id: str
    status: PaymentStatus
    payee_payment_reference: str
    amount: Decimal
    currency: str
    payment_reference: str = ""
    payer_alias: str = ""
    payee_alias: str = ""
    message: str = ""
    callback_url: str = ""
    date_created: datetime | None = None
    date_paid: datetime | None = None
    error_code: str = ""
    error_message: str = ""
    raw: dict = field(default_factory=dict, compare=False, repr=False)

    @property
    def is_final(self) -> bool:
        return self.status != PaymentStatus.CREATED


class PaymentRequestAdapter(Protocol):
    """What the invoice payment service needs from a Swish integration (real client or a test double)."""

    def create_payment_request(self, *, ocr: str, amount: Decimal, callback_url: str, message: str = "",
                               payer_alias: str | None = None,
                               instruction_uuid: str | None = None) -> PaymentRequestCreated: ...

    def get_payment_request(self, *, request_id: str) -> PaymentRequestStatus: ...


def format_amount(amount: Decimal) -> str:
    """Swish's amount string: two decimals, rounded half-up to öre, within Swish's limits."""
    if not isinstance(amount, Decimal):
        raise TypeError(f"amount must be a Decimal, not {type(amount).__name__}")
    rounded = amount.quantize(_ORE, rounding=ROUND_HALF_UP)
    if not MIN_AMOUNT <= rounded <= MAX_AMOUNT:
        raise SwishValidationError(gettext_noop("A Swish amount must be between %(min)s and %(max)s SEK, not "
                                                "%(amount)s."), min=MIN_AMOUNT, max=MAX_AMOUNT, amount=amount)
    return f"{rounded:.2f}"


def build_payment_request(*, payee_alias: str, ocr: str, amount: Decimal, callback_url: str, message: str = "",
                          payer_alias: str | None = None) -> dict:
    """The JSON body of a payment request, validated (``SwishValidationError`` names the bad field)."""
    if not _REFERENCE.match(ocr or ""):
        raise SwishValidationError(gettext_noop("The payment reference %(value)r must be 1–35 letters, digits or "
                                                "hyphens."), value=ocr)
    if urlsplit(callback_url).scheme != "https" or not urlsplit(callback_url).hostname:
        raise SwishValidationError(gettext_noop("The callback URL must be an https URL, not %(value)r."),
                                   value=callback_url)
    if len(message) > MESSAGE_MAX_LENGTH:
        raise SwishValidationError(gettext_noop("The message may have at most %(max)d characters (%(length)d "
                                                "given)."), max=MESSAGE_MAX_LENGTH, length=len(message))
    body = {
        "payeePaymentReference": ocr,
        "callbackUrl": callback_url,
        "payeeAlias": payee_alias,
        "amount": format_amount(amount),
        "currency": "SEK",
    }
    if message:
        body["message"] = message
    if payer_alias is not None:
        alias = payer_alias.replace(" ", "").lstrip("+")
        if not _PAYER_ALIAS.match(alias):
            raise SwishValidationError(gettext_noop("The payer's Swish number %(value)r must be 8–15 digits with "
                                                    "the country code (46…)."), value=payer_alias)
        body["payerAlias"] = alias
    return body


def _parse_datetime(value: object) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(str(value))
    except ValueError as error:
        raise SwishResponseError(f"invalid date {value!r} in a Swish payment request") from error


def payment_request_from_json(data: dict) -> PaymentRequestStatus:
    """A ``PaymentRequestStatus`` from Swish's JSON object (amounts must be parsed as Decimal, never float)."""
    if not isinstance(data, dict):
        raise SwishResponseError("a Swish payment request must be a JSON object")
    try:
        status = PaymentStatus(data["status"])
        request_id = str(data["id"])
        amount = Decimal(str(data["amount"]))
    except (KeyError, ValueError, InvalidOperation) as error:
        raise SwishResponseError(f"incomplete or invalid Swish payment request: {error!r}") from error
    if isinstance(data["amount"], float):
        raise SwishResponseError("the amount was parsed as a float; parse Swish JSON with parse_float=Decimal")
    return PaymentRequestStatus(
        id=request_id, status=status, payee_payment_reference=data.get("payeePaymentReference") or "",
        amount=amount, currency=data.get("currency") or "", payment_reference=data.get("paymentReference") or "",
        payer_alias=data.get("payerAlias") or "", payee_alias=data.get("payeeAlias") or "",
        message=data.get("message") or "", callback_url=data.get("callbackUrl") or "",
        date_created=_parse_datetime(data.get("dateCreated")), date_paid=_parse_datetime(data.get("datePaid")),
        error_code=data.get("errorCode") or "", error_message=data.get("errorMessage") or "", raw=data)


def _loads(body: bytes | str) -> object:
    try:
        return json.loads(body, parse_float=Decimal)
    except (ValueError, UnicodeDecodeError) as error:
        raise SwishResponseError(f"not JSON: {error}") from error


def parse_callback(body: bytes | str) -> PaymentRequestStatus:
    """Swish's callback body (PAID, DECLINED, ERROR or CANCELLED); confirm it with ``get_payment_request``."""
    return payment_request_from_json(_loads(body))


def new_instruction_uuid() -> str:
    return uuid.uuid4().hex.upper()


class SwishClient:
    """``PaymentRequestAdapter`` talking to Swish (or a fake) over mutual TLS."""

    def __init__(self, *, config: SwishConfig) -> None:
        self.config = config
        parts = urlsplit(config.base_url)
        if parts.scheme != "https" or not parts.hostname:
            raise SwishValidationError(gettext_noop("The Swish URL must be an https URL, not %(value)r."),
                                       value=config.base_url)
        self._host = parts.hostname
        self._port = parts.port or 443
        self._prefix = parts.path.rstrip("/")
        context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=config.ca_file)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(config.cert_file, config.key_file, password=config.key_password)
        self._context = context

    def _request(self, method: str, path: str, body: dict | None = None) -> tuple[int, dict[str, str], bytes]:
        connection = http.client.HTTPSConnection(self._host, self._port, context=self._context,
                                                 timeout=self.config.timeout)
        headers = {"Accept": "application/json"}
        payload = None
        if body is not None:
            payload = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        try:
            connection.request(method, self._prefix + path, body=payload, headers=headers)
            response = connection.getresponse()
            data = response.read()
            return response.status, {k.lower(): v for k, v in response.getheaders()}, data
        except (OSError, http.client.HTTPException) as error:
            raise SwishTransportError(f"no answer from Swish at {self._host}:{self._port}: {error}") from error
        finally:
            connection.close()

    @staticmethod
    def _rejected(status: int, data: bytes) -> SwishRequestRejected:
        text = data.decode("utf-8", "replace")
        errors: list[SwishErrorDetail] = []
        try:
            parsed = json.loads(text) if text.strip() else []
        except ValueError:
            parsed = []
        if isinstance(parsed, dict):
            parsed = [parsed]
        if isinstance(parsed, list):
            errors = [SwishErrorDetail(str(item.get("errorCode", "")), str(item.get("errorMessage", "")),
                                       item.get("additionalInformation"))
                      for item in parsed if isinstance(item, dict)]
        return SwishRequestRejected(status, errors, text)

    def create_payment_request(self, *, ocr: str, amount: Decimal, callback_url: str, message: str = "",
                               payer_alias: str | None = None,
                               instruction_uuid: str | None = None) -> PaymentRequestCreated:
        """Create a payment request (e-commerce with ``payer_alias``, m-commerce without); see the module doc."""
        body = build_payment_request(payee_alias=self.config.payee_alias, ocr=ocr, amount=amount,
                                     callback_url=callback_url, message=message, payer_alias=payer_alias)
        instruction_uuid = instruction_uuid or new_instruction_uuid()
        if not _INSTRUCTION_UUID.match(instruction_uuid):
            raise SwishValidationError(gettext_noop("The instruction UUID must be 32 upper-case hexadecimal digits, "
                                                    "not %(value)r."), value=instruction_uuid)
        status, headers, data = self._request("PUT", f"/api/v2/paymentrequests/{instruction_uuid}", body)
        if status != 201:
            raise self._rejected(status, data)
        location = headers.get("location", "")
        if not location:
            raise SwishResponseError("Swish created the payment request but sent no Location header")
        token = headers.get("paymentrequesttoken") or None
        if payer_alias is None and token is None:
            raise SwishResponseError("Swish sent no PaymentRequestToken for an m-commerce payment request")
        return PaymentRequestCreated(instruction_uuid=instruction_uuid, id=location.rstrip("/").rsplit("/", 1)[-1],
                                     location=location, token=token)

    def get_payment_request(self, *, request_id: str) -> PaymentRequestStatus:
        """The current state of a payment request."""
        if not re.match(r"^[A-Za-z0-9]{1,64}$", request_id or ""):
            raise SwishValidationError(gettext_noop("Invalid payment request id %(value)r."), value=request_id)
        status, _headers, data = self._request("GET", f"/api/v1/paymentrequests/{request_id}")
        if status != 200:
            raise self._rejected(status, data)
        return payment_request_from_json(_loads(data))
