"""What an invoice document says, independent of the models: the input of ``billing.invoice_pdf.render``.

Pure code: no Django, no database. Frozen dataclasses, validated when built, so a renderer (or an e-mail) never has
to guess. The invoice run builds an ``InvoiceDocument`` from its stored rows; tests and benchmarks build one by hand.

    lines = (session_line(started_at=start, energy_wh=38219, unit_price=Decimal("2.43")),
             fee_line(description="Medlemsavgift", amount=Decimal("50.00")))
    document = InvoiceDocument(
        kind=DocumentKind.INVOICE, number="2025030001", series="F", issue_date=date(2025, 4, 1),
        due_date=date(2025, 4, 11), period_start=date(2025, 3, 1), period_end=date(2025, 3, 31),
        seller=Seller(...), buyer=Buyer(...), lines=lines, totals=document_totals(lines),
        ocr="202503000129", pay_url="https://…/pay/…", claim=ClaimAssignment(association="BRF X", operator="…"),
        language="sv")

Kinds
    ``INVOICE``; ``CREDIT_NOTE`` with ``credited_invoice_number`` (the invoice it corrects; its lines are negative);
    ``REMINDER`` with ``reminder_number`` 1, 2, 3 … (a reminder of an unpaid invoice: ``number`` is that invoice's
    number and its lines, plus a reminder-fee line if one was agreed).

Lines
    ``SessionLine`` (a charging session: start time, Wh, price per kWh incl. VAT, line total) or ``FeeLine`` (a
    monthly fee, a reminder fee: description, quantity, unit, price, total). Build them with ``session_line`` and
    ``fee_line``: they work the total out with ``billing.invoice_math`` so the document cannot disagree with the
    arithmetic; ``document_totals(lines)`` gives the totals the same way.

The claim-assignment sentence
    Resident invoices say that the association assigned the claim to the operator. ``claim_sentence(language)``
    gives the exact Swedish wording of DOMAIN.md / the brochure ("Fordran angående denna laddning har överlåtits
    från BRF X till RE&GO AB") or its English version. It is part of the legal content of the document, so it lives
    here in both languages rather than in a translation catalogue.
"""

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum

from billing.invoice_math import (
    DEFAULT_VAT_RATE,
    InvoiceLine,
    InvoiceTotals,
    energy_line,
    invoice_totals,
    kwh_from_wh,
)
from billing.invoice_math import fee_line as _math_fee_line
from billing.ocr import is_valid_ocr

LANGUAGES = ("sv", "en")
CLAIM_SENTENCES = {
    "sv": "Fordran angående denna laddning har överlåtits från {association} till {operator}",
    "en": "The claim for this charging has been assigned from {association} to {operator}",
}


def gettext_noop(message: str) -> str:
    """Mark a message for translation (makemessages finds it) without importing Django in this pure module."""
    return message


class DocumentError(ValueError):
    """A document that is incomplete or contradicts itself."""

    def __init__(self, template: str, **params: object) -> None:
        self.template = template
        self.params = params
        super().__init__(template % params if params else template)


class DocumentKind(StrEnum):
    INVOICE = "invoice"
    CREDIT_NOTE = "credit_note"
    REMINDER = "reminder"


@dataclass(frozen=True)
class Seller:
    """The seller as Swedish VAT law wants it on the invoice; ``bankgiro`` is where the payment goes."""

    name: str
    address_lines: tuple[str, ...]
    org_number: str
    vat_number: str
    bankgiro: str
    email: str = ""
    phone: str = ""
    website: str = ""


@dataclass(frozen=True)
class Buyer:
    name: str
    address_lines: tuple[str, ...]
    customer_number: str
    email: str = ""


@dataclass(frozen=True)
class ClaimAssignment:
    """The association that assigned the claim for the charging to the operator."""

    association: str
    operator: str


@dataclass(frozen=True)
class SessionLine:
    """One charging session: started at, energy in Wh, price per kWh incl. VAT, line total incl. VAT."""

    started_at: datetime
    energy_wh: int
    unit_price: Decimal
    total: Decimal
    vat_rate: Decimal = DEFAULT_VAT_RATE

    @property
    def kwh(self) -> Decimal:
        return kwh_from_wh(self.energy_wh)

    def as_invoice_line(self) -> InvoiceLine:
        return energy_line(description=self.started_at.isoformat(), energy_wh=self.energy_wh,
                           unit_price=self.unit_price, vat_rate=self.vat_rate, amount=self.total)


@dataclass(frozen=True)
class FeeLine:
    """A fee: ``quantity`` ``unit`` × ``unit_price`` incl. VAT = ``total``."""

    description: str
    quantity: Decimal
    unit: str
    unit_price: Decimal
    total: Decimal
    vat_rate: Decimal = DEFAULT_VAT_RATE

    def as_invoice_line(self) -> InvoiceLine:
        return InvoiceLine(description=self.description, quantity=self.quantity, unit=self.unit,
                           unit_price=self.unit_price, vat_rate=self.vat_rate, amount=self.total)


DocumentLine = SessionLine | FeeLine


def session_line(*, started_at: datetime, energy_wh: int, unit_price: Decimal, vat_rate: Decimal = DEFAULT_VAT_RATE,
                 amount: Decimal | None = None) -> SessionLine:
    """A session line whose total is Wh/1000 × unit price rounded half-up (or ``amount`` if priced elsewhere)."""
    if not isinstance(started_at, datetime) or started_at.tzinfo is None:
        raise DocumentError(gettext_noop("A session's start must be an aware datetime, not %(value)r."),
                            value=started_at)
    line = energy_line(description="", energy_wh=energy_wh, unit_price=unit_price, vat_rate=vat_rate, amount=amount)
    return SessionLine(started_at=started_at, energy_wh=energy_wh, unit_price=line.unit_price, total=line.total,
                       vat_rate=line.vat_rate)


def fee_line(*, description: str, amount: Decimal, vat_rate: Decimal = DEFAULT_VAT_RATE,
             quantity: Decimal = Decimal(1), unit: str = "st") -> FeeLine:
    """A fee line: ``quantity`` × ``amount`` incl. VAT, rounded half-up to öre."""
    line = _math_fee_line(description=description, amount=amount, vat_rate=vat_rate, quantity=quantity, unit=unit)
    return FeeLine(description=description, quantity=line.quantity, unit=unit, unit_price=line.unit_price,
                   total=line.total, vat_rate=line.vat_rate)


@dataclass(frozen=True)
class VatAmount:
    rate: Decimal
    vat: Decimal


@dataclass(frozen=True)
class DocumentTotals:
    """The figures below the lines, in SEK: ``payable`` = ``total`` − ``credit_applied`` + ``rounding``."""

    total: Decimal
    vat: Decimal
    taxable: Decimal
    vat_amounts: tuple[VatAmount, ...]
    rounding: Decimal = Decimal("0.00")
    credit_applied: Decimal = Decimal("0.00")
    payable: Decimal | None = None

    def __post_init__(self) -> None:
        if self.payable is None:
            object.__setattr__(self, "payable", self.total - self.credit_applied + self.rounding)
        if self.total - self.vat != self.taxable:
            raise DocumentError(gettext_noop("Taxable amount %(taxable)s is not total %(total)s minus VAT %(vat)s."),
                                taxable=self.taxable, total=self.total, vat=self.vat)
        if sum((item.vat for item in self.vat_amounts), Decimal("0.00")) != self.vat:
            raise DocumentError(gettext_noop("The VAT per rate does not add up to the VAT %(vat)s."), vat=self.vat)
        if self.total - self.credit_applied + self.rounding != self.payable:
            raise DocumentError(gettext_noop("The amount payable %(payable)s does not follow from the totals."),
                                payable=self.payable)

    @classmethod
    def from_invoice_totals(cls, totals: InvoiceTotals) -> "DocumentTotals":
        return cls(total=totals.total, vat=totals.vat, taxable=totals.taxable,
                   vat_amounts=tuple(VatAmount(rate=group.rate, vat=group.vat) for group in totals.vat_groups),
                   rounding=totals.rounding, credit_applied=totals.credit_applied, payable=totals.payable)


def document_totals(lines: tuple[DocumentLine, ...] | list[DocumentLine], *, credit_balance: Decimal = Decimal("0.00"),
                    round_to_krona: bool = False) -> DocumentTotals:
    """The totals of ``lines`` by ``billing.invoice_math.invoice_totals``."""
    totals = invoice_totals(lines=[line.as_invoice_line() for line in lines], credit_balance=credit_balance,
                            round_to_krona=round_to_krona)
    return DocumentTotals.from_invoice_totals(totals)


@dataclass(frozen=True)
class InvoiceDocument:
    """A resident invoice, credit note or reminder as it is printed and e-mailed."""

    kind: DocumentKind
    number: str
    series: str
    issue_date: date
    due_date: date
    seller: Seller
    buyer: Buyer
    lines: tuple[DocumentLine, ...]
    totals: DocumentTotals
    ocr: str
    period_start: date | None = None
    period_end: date | None = None
    pay_url: str = ""
    claim: ClaimAssignment | None = None
    language: str = "sv"
    currency: str = "SEK"
    credited_invoice_number: str = ""
    reminder_number: int = 0
    # Session start times are printed in this zone (the residents' wall clock), whatever zone they are stored in.
    time_zone: str = "Europe/Stockholm"
    notes: tuple[str, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", DocumentKind(self.kind))
        object.__setattr__(self, "lines", tuple(self.lines))
        if self.language not in LANGUAGES:
            raise DocumentError(gettext_noop("Unsupported document language %(language)r."), language=self.language)
        if not self.number:
            raise DocumentError(gettext_noop("A document needs a number."))
        if self.due_date < self.issue_date:
            raise DocumentError(gettext_noop("The due date %(due)s is before the issue date %(issued)s."),
                                due=self.due_date, issued=self.issue_date)
        if (self.period_start is None) != (self.period_end is None) or (
                self.period_start is not None and self.period_end < self.period_start):
            raise DocumentError(gettext_noop("A period needs a start and an end, in that order."))
        if not is_valid_ocr(self.ocr, length_digit=False):
            # Luhn holds for references with and without the length digit; either agreement is accepted here.
            raise DocumentError(gettext_noop("%(ocr)r is not a valid OCR reference."), ocr=self.ocr)
        if self.kind == DocumentKind.CREDIT_NOTE and not self.credited_invoice_number:
            raise DocumentError(gettext_noop("A credit note must name the invoice it credits."))
        if self.kind == DocumentKind.REMINDER and self.reminder_number < 1:
            raise DocumentError(gettext_noop("A reminder is number 1 or higher."))
        line_sum = sum((line.total for line in self.lines), Decimal("0.00"))
        if line_sum != self.totals.total:
            raise DocumentError(gettext_noop("The lines add up to %(lines)s, not the total %(total)s."),
                                lines=line_sum, total=self.totals.total)

    def claim_sentence(self) -> str:
        """The claim-assignment sentence in the document's language, or "" when the claim was not assigned."""
        if self.claim is None:
            return ""
        return CLAIM_SENTENCES[self.language].format(association=self.claim.association,
                                                     operator=self.claim.operator)
