"""Matching incoming payments to open invoices on the OCR reference and the amount.

Pure code: no Django, no database. The caller (the future payment import service) loads the open invoices, calls
``match_payments(payments=..., invoices=..., recorded_payment_keys=...)`` and applies the returned decisions inside
one transaction; nothing here writes anything.

    payments = incoming_from_bgmax(parse_bgmax(uploaded_bytes))
    decisions = match_payments(payments=payments, invoices=[OpenInvoice(id=…, ocr=…, amount_due=…), …],
                               recorded_payment_keys=keys_already_stored)
    for decision in decisions:
        if decision.auto_apply: record the payment on decision.invoice_id (it settles the invoice)
        elif decision.needs_review: put it in the manual matching queue with decision.outcome / decision.reason
        else: skip it (a duplicate of a payment already recorded)

Outcomes (``MatchOutcome``)
    EXACT              valid OCR of one open invoice, amount == amount due → applied automatically, invoice paid.
    PARTIAL            valid OCR, 0 < amount < due → manual queue; ``apply_amount`` = amount, ``remaining_due`` shown.
    OVER               valid OCR, amount > due → manual queue; ``apply_amount`` = due, ``credit_amount`` = surplus
                       (becomes the resident's credit balance, used on the next invoice).
    UNKNOWN_REFERENCE  the reference is not a valid OCR number, or no invoice carries it, or (never expected) several
                       do → manual queue; ``reason`` says which.
    ALREADY_PAID       the invoice with that OCR has nothing left to pay (paid earlier, or by an earlier payment in
                       this same batch) → manual queue (refund or credit is a person's call).
    DUPLICATE          the very same payment (``IncomingPayment.key``) was recorded before, e.g. a file imported
                       twice, or appears twice in the batch → ignored, no review.
    MULTIPLE_REFERENCES the payer gave several different references (BgMax 22/23 records) → manual queue: splitting
                       one payment over several invoices is never guessed. A single reference given only in an
                       extra record is matched like a normal one.
    CURRENCY_MISMATCH  the payment's currency is not the invoice's → manual queue.
    NOT_A_PAYMENT      zero or negative amount (a BgMax deduction, 21) → manual queue.

Only EXACT is applied automatically, and the remaining due of an invoice within one batch only drops by amounts
applied automatically, so two payments against one invoice in one file are never combined by guesswork: the second
one is judged against what is still due after the first was applied (ALREADY_PAID after an exact one), or against
the full amount when the first one went to the queue.

Amounts are ``Decimal`` rounded half-up to öre; a float is refused. ``reason`` is an English template marked for
translation (``gettext(decision.reason) % decision.reason_params``).
"""

from __future__ import annotations

from collections.abc import Collection, Hashable, Iterable
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum

from billing.bgmax import BgmaxFile
from billing.ocr import is_valid_ocr

_ORE = Decimal("0.01")
_ZERO = Decimal("0.00")


def gettext_noop(message: str) -> str:
    """Mark a message for translation (Django's makemessages extracts it) without importing Django."""
    return message


def _money(value: Decimal, what: str) -> Decimal:
    if not isinstance(value, Decimal):
        raise TypeError(f"{what} must be a Decimal, not {type(value).__name__}")
    return value.quantize(_ORE, rounding=ROUND_HALF_UP)


def _compact(reference: str) -> str:
    return reference.replace(" ", "").strip()


class MatchOutcome(StrEnum):
    EXACT = "exact"
    PARTIAL = "partial"
    OVER = "over"
    UNKNOWN_REFERENCE = "unknown_reference"
    ALREADY_PAID = "already_paid"
    DUPLICATE = "duplicate"
    MULTIPLE_REFERENCES = "multiple_references"
    CURRENCY_MISMATCH = "currency_mismatch"
    NOT_A_PAYMENT = "not_a_payment"


OUTCOME_LABELS = {
    MatchOutcome.EXACT: gettext_noop("Exact match"),
    MatchOutcome.PARTIAL: gettext_noop("Partial payment"),
    MatchOutcome.OVER: gettext_noop("Overpayment"),
    MatchOutcome.UNKNOWN_REFERENCE: gettext_noop("Unknown reference"),
    MatchOutcome.ALREADY_PAID: gettext_noop("Invoice already paid"),
    MatchOutcome.DUPLICATE: gettext_noop("Duplicate payment"),
    MatchOutcome.MULTIPLE_REFERENCES: gettext_noop("Several references"),
    MatchOutcome.CURRENCY_MISMATCH: gettext_noop("Currency mismatch"),
    MatchOutcome.NOT_A_PAYMENT: gettext_noop("Deduction or zero amount"),
}


@dataclass(frozen=True)
class IncomingPayment:
    """A payment as a bank or payment provider reported it.

    ``key`` identifies the payment at its source (for BgMax: receiving bankgiro, date, deposit and BGC serial); the
    caller stores it with the recorded payment so a second import of the same file is recognised.
    """

    key: str
    reference: str
    amount: Decimal
    date: date
    channel: str
    currency: str = "SEK"
    extra_references: tuple[str, ...] = ()
    payer_name: str = ""


@dataclass(frozen=True)
class OpenInvoice:
    """An invoice payments may settle: ``amount_due`` is what is still unpaid (0 when it is paid)."""

    id: Hashable
    ocr: str
    amount_due: Decimal
    currency: str = "SEK"


@dataclass(frozen=True)
class MatchDecision:
    """What to do with one incoming payment."""

    payment: IncomingPayment
    outcome: MatchOutcome
    reason: str
    reason_params: dict = field(default_factory=dict)
    invoice_id: Hashable | None = None
    apply_amount: Decimal = _ZERO  # to book against invoice_id
    credit_amount: Decimal = _ZERO  # surplus for the payer's credit balance
    remaining_due: Decimal | None = None  # on invoice_id after apply_amount

    @property
    def auto_apply(self) -> bool:
        return self.outcome == MatchOutcome.EXACT

    @property
    def needs_review(self) -> bool:
        return self.outcome not in (MatchOutcome.EXACT, MatchOutcome.DUPLICATE)

    @property
    def label(self) -> str:
        return OUTCOME_LABELS[self.outcome]


def match_payments(*, payments: Iterable[IncomingPayment], invoices: Iterable[OpenInvoice],
                   recorded_payment_keys: Collection[str] = ()) -> list[MatchDecision]:
    """One decision per payment, in the order given; see the module docstring for the outcomes."""
    by_ocr: dict[str, list[OpenInvoice]] = {}
    remaining: dict[Hashable, Decimal] = {}
    for invoice in invoices:
        by_ocr.setdefault(_compact(invoice.ocr), []).append(invoice)
        remaining[invoice.id] = _money(invoice.amount_due, "amount_due")
    seen_keys = set(recorded_payment_keys)
    decisions = []
    for payment in payments:
        decision = _decide(payment, by_ocr, remaining, seen_keys)
        seen_keys.add(payment.key)
        if decision.auto_apply:
            remaining[decision.invoice_id] = decision.remaining_due
        decisions.append(decision)
    return decisions


def _decide(payment: IncomingPayment, by_ocr: dict[str, list[OpenInvoice]], remaining: dict[Hashable, Decimal],
            seen_keys: set[str]) -> MatchDecision:
    amount = _money(payment.amount, "amount")
    if payment.key in seen_keys:
        return MatchDecision(payment, MatchOutcome.DUPLICATE,
                             gettext_noop("This payment (%(key)s) has already been recorded."), {"key": payment.key})
    if amount <= _ZERO:
        return MatchDecision(payment, MatchOutcome.NOT_A_PAYMENT,
                             gettext_noop("The amount %(amount)s is not a payment."), {"amount": amount})
    # The payer's references, in order and without repeats; one given only in an extra record counts as the one.
    references = list(dict.fromkeys(ref for ref in map(_compact, (payment.reference, *payment.extra_references))
                                    if ref))
    if len(references) > 1:
        return MatchDecision(payment, MatchOutcome.MULTIPLE_REFERENCES,
                             gettext_noop("The payer gave %(count)d references; split the payment by hand."),
                             {"count": len(references)})
    reference = references[0] if references else ""
    if not is_valid_ocr(reference):
        return MatchDecision(payment, MatchOutcome.UNKNOWN_REFERENCE,
                             gettext_noop("%(reference)r is not a valid OCR number."), {"reference": payment.reference})
    candidates = by_ocr.get(reference, [])
    if not candidates:
        return MatchDecision(payment, MatchOutcome.UNKNOWN_REFERENCE,
                             gettext_noop("No invoice has the OCR number %(reference)s."), {"reference": reference})
    if len(candidates) > 1:
        return MatchDecision(payment, MatchOutcome.UNKNOWN_REFERENCE,
                             gettext_noop("%(count)d invoices have the OCR number %(reference)s."),
                             {"count": len(candidates), "reference": reference})
    invoice = candidates[0]
    due = remaining[invoice.id]
    if payment.currency != invoice.currency:
        return MatchDecision(payment, MatchOutcome.CURRENCY_MISMATCH,
                             gettext_noop("The payment is in %(paid)s but the invoice in %(invoiced)s."),
                             {"paid": payment.currency, "invoiced": invoice.currency},
                             invoice_id=invoice.id, remaining_due=due)
    params = {"reference": reference, "amount": amount, "due": due}
    if due <= _ZERO:
        return MatchDecision(payment, MatchOutcome.ALREADY_PAID,
                             gettext_noop("The invoice with OCR number %(reference)s is already paid; %(amount)s "
                                          "received."), params, invoice_id=invoice.id, remaining_due=due)
    if amount == due:
        return MatchDecision(payment, MatchOutcome.EXACT, gettext_noop("Paid in full."), params,
                             invoice_id=invoice.id, apply_amount=amount, remaining_due=_ZERO)
    if amount < due:
        return MatchDecision(payment, MatchOutcome.PARTIAL,
                             gettext_noop("%(amount)s received of %(due)s due."), params,
                             invoice_id=invoice.id, apply_amount=amount, remaining_due=due - amount)
    return MatchDecision(payment, MatchOutcome.OVER,
                         gettext_noop("%(amount)s received of %(due)s due; %(surplus)s becomes a credit balance."),
                         {**params, "surplus": amount - due},
                         invoice_id=invoice.id, apply_amount=due, credit_amount=amount - due, remaining_due=_ZERO)


def bgmax_payment_key(payment) -> str:
    """The stable source key of a BgMax payment: receiving bankgiro, payment date, deposit and BGC serial number.

    Bankgirot numbers every payment; a record without a serial falls back to its line number, which is as stable
    as the file itself (a re-import of the same file gives the same keys).
    """
    serial = payment.bgc_serial_number or f"line{payment.line_number}"
    return f"bgmax:{payment.receiving_bankgiro}:{payment.payment_date:%Y%m%d}:{payment.deposit_serial}:{serial}"


def incoming_from_bgmax(bgmax_file: BgmaxFile) -> list[IncomingPayment]:
    """The matcher's input for every payment and deduction in a parsed BgMax file, in file order."""
    return [
        IncomingPayment(
            key=bgmax_payment_key(payment), reference=payment.reference, amount=payment.amount,
            date=payment.payment_date, channel=f"bankgiro:{int(payment.channel)}", currency=payment.currency,
            extra_references=tuple(extra.reference for extra in payment.extra_references),
            payer_name=payment.payer_name)
        for payment in bgmax_file.payments
    ]
