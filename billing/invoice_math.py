"""Invoice arithmetic: line totals, VAT, taxable amount, credit balance and rounding of the amount payable.

Pure code: no Django, no database, no floats (a float anywhere raises ``TypeError``). Money is ``Decimal`` rounded
half-up (away from zero, so a credit note is exactly the negation of its invoice) to öre; VAT rates are percentages.

Rules (DOMAIN.md, "Resident invoicing")
    - Prices on resident invoices include VAT. A line total is ``quantity × unit price`` rounded half-up to öre.
      Energy lines come from integer Wh: ``energy_line(energy_wh=12345, ...)`` uses exactly 12.345 kWh; the kWh are
      never rounded before multiplying (the brochure's 1.266 kWh × 1.765 = 2.23, not 1.27 × 1.765 = 2.24).
    - A line can instead carry an ``amount`` already priced elsewhere (a session priced by ``billing.pricing``, whose
      amount incl. VAT is the sum of its own lines): that amount is the line total, unchanged.
    - Total incl. VAT = sum of the line totals. VAT is worked out per VAT rate on the sum of that rate's lines:
      ``group total × rate / (100 + rate)`` rounded half-up; the invoice's VAT is the sum over the rates and the
      taxable amount is ``total − VAT``. (Constructed example: 49.38 + 31.56 + 120.02 = 200.96, VAT 40.19, taxable
      160.77.)
    - A customer's credit balance (an earlier overpayment) is a payment, not a discount: it lowers the amount payable
      but not the total or the VAT. At most the invoice total is used; the rest stays for later invoices. Credit notes
      and zero invoices use none.
    - When the organization opted in, the amount payable is rounded half-up to whole kronor and the difference is
      shown on its own line ("Öresutjämning"; outside VAT, it is not part of the price).

Use
    lines = [energy_line(description="2024-03-10 14:58", energy_wh=38219, unit_price=Decimal("2.43")),
             fee_line(description="Medlemsavgift", amount=Decimal("50.00"))]
    totals = invoice_totals(lines=lines, credit_balance=Decimal("12.00"), round_to_krona=True)
    totals.line_totals, totals.total, totals.vat, totals.taxable, totals.credit_applied, totals.rounding,
    totals.payable, totals.credit_remaining, totals.vat_groups

A credit note is computed from the original's lines with ``negated(line)``; its figures are the original's negated.

Errors are ``InvoiceMathError`` (a ``ValueError``) with an English ``template`` marked for translation and
``params``, so a form can show ``gettext(error.template) % error.params``.
"""

from collections.abc import Iterable
from dataclasses import dataclass, replace
from decimal import ROUND_HALF_UP, Context, Decimal, localcontext

CENT = Decimal("0.01")
KRONA = Decimal(1)
ZERO = Decimal("0.00")
DEFAULT_VAT_RATE = Decimal(25)
_HUNDRED = Decimal(100)
# Independent of whatever context the caller set; every quantize names its rounding explicitly.
MONEY_CONTEXT = Context(prec=28, rounding=ROUND_HALF_UP)


def gettext_noop(message: str) -> str:
    """Mark a message for translation (makemessages finds it) without importing Django in this pure module."""
    return message


class InvoiceMathError(ValueError):
    """Invoice lines or options that cannot be computed."""

    def __init__(self, template: str, **params: object) -> None:
        self.template = template
        self.params = params
        super().__init__(template % params if params else template)


def as_decimal(value: object, name: str) -> Decimal:
    if isinstance(value, float) or not isinstance(value, Decimal | int) or isinstance(value, bool):
        raise TypeError(f"{name} must be a Decimal (or int), not {type(value).__name__}")
    number = Decimal(value)
    if not number.is_finite():
        raise InvoiceMathError(gettext_noop("%(name)s must be a finite number, not %(value)s."), name=name,
                               value=number)
    return number


def round_money(amount: Decimal) -> Decimal:
    """``amount`` rounded half-up (away from zero) to öre."""
    with localcontext(MONEY_CONTEXT):
        return amount.quantize(CENT, rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class InvoiceLine:
    """One invoice line: ``quantity`` ``unit`` at ``unit_price`` (incl. VAT) at ``vat_rate`` percent.

    ``amount`` (incl. VAT, in öre) is given only when the line was priced elsewhere; then it is the line total.
    """

    description: str
    quantity: Decimal
    unit: str
    unit_price: Decimal
    vat_rate: Decimal = DEFAULT_VAT_RATE
    amount: Decimal | None = None

    def __post_init__(self) -> None:
        for name in ("quantity", "unit_price", "vat_rate"):
            object.__setattr__(self, name, as_decimal(getattr(self, name), name))
        if not ZERO <= self.vat_rate < _HUNDRED:
            raise InvoiceMathError(gettext_noop("A VAT rate is a percentage from 0 to below 100, not %(rate)s."),
                                   rate=self.vat_rate)
        if self.amount is not None:
            amount = as_decimal(self.amount, "amount")
            if amount != round_money(amount):
                raise InvoiceMathError(gettext_noop("A priced amount is in whole öre, not %(amount)s."), amount=amount)
            object.__setattr__(self, "amount", amount)

    @property
    def total(self) -> Decimal:
        """The line total incl. VAT, rounded half-up to öre."""
        if self.amount is not None:
            return round_money(self.amount)
        with localcontext(MONEY_CONTEXT):
            return round_money(self.quantity * self.unit_price)


def kwh_from_wh(energy_wh: int) -> Decimal:
    """Exactly ``energy_wh`` / 1000 as a Decimal with three decimals (12345 → 12.345)."""
    if isinstance(energy_wh, bool) or not isinstance(energy_wh, int):
        raise TypeError(f"energy_wh must be an int (Wh), not {type(energy_wh).__name__}")
    return Decimal(energy_wh).scaleb(-3)


def energy_line(*, description: str, energy_wh: int, unit_price: Decimal, vat_rate: Decimal = DEFAULT_VAT_RATE,
                amount: Decimal | None = None) -> InvoiceLine:
    """A kWh line from a session's integer Wh at ``unit_price`` per kWh incl. VAT (or its already priced amount)."""
    return InvoiceLine(description=description, quantity=kwh_from_wh(energy_wh), unit="kWh", unit_price=unit_price,
                       vat_rate=vat_rate, amount=amount)


def fee_line(*, description: str, amount: Decimal, vat_rate: Decimal = DEFAULT_VAT_RATE,
             quantity: Decimal = Decimal(1), unit: str = "st") -> InvoiceLine:
    """A fee line (monthly fee, reminder fee): ``quantity`` × ``amount`` incl. VAT."""
    return InvoiceLine(description=description, quantity=quantity, unit=unit, unit_price=amount, vat_rate=vat_rate)


def negated(line: InvoiceLine) -> InvoiceLine:
    """The line as it appears on a credit note: the same line with negated quantity (and amount, if priced)."""
    return replace(line, quantity=-line.quantity, amount=None if line.amount is None else -line.amount)


@dataclass(frozen=True)
class VatGroup:
    """The lines of one VAT rate: their total incl. VAT, the VAT in it and the taxable amount."""

    rate: Decimal
    total: Decimal
    vat: Decimal
    taxable: Decimal


@dataclass(frozen=True)
class InvoiceTotals:
    """Everything an invoice shows below its lines; all amounts in SEK (Decimal, öre)."""

    line_totals: tuple[Decimal, ...]
    total: Decimal  # incl. VAT, sum of line_totals
    vat: Decimal
    taxable: Decimal  # total - vat
    vat_groups: tuple[VatGroup, ...]  # highest rate first
    credit_applied: Decimal  # credit balance used on this invoice (>= 0)
    rounding: Decimal  # "Öresutjämning", 0.00 unless rounding to whole kronor
    payable: Decimal  # total - credit_applied + rounding
    credit_remaining: Decimal  # credit balance left for later invoices

    @property
    def single_vat_rate(self) -> Decimal | None:
        """The one VAT rate of the invoice, or None when it has lines at several rates (or none)."""
        return self.vat_groups[0].rate if len(self.vat_groups) == 1 else None


def vat_in(total: Decimal, rate: Decimal) -> Decimal:
    """The VAT included in ``total`` (incl. VAT) at ``rate`` percent: total × rate / (100 + rate), half-up to öre."""
    total, rate = as_decimal(total, "total"), as_decimal(rate, "rate")
    with localcontext(MONEY_CONTEXT):
        return round_money(total * rate / (_HUNDRED + rate))


def invoice_totals(*, lines: Iterable[InvoiceLine], credit_balance: Decimal = ZERO,
                   round_to_krona: bool = False) -> InvoiceTotals:
    """Totals of an invoice (or, with negated lines, a credit note); see the module docstring for the rules."""
    lines = tuple(lines)
    for line in lines:
        if not isinstance(line, InvoiceLine):
            raise TypeError(f"lines must be InvoiceLine objects, not {type(line).__name__}")
    credit_balance = as_decimal(credit_balance, "credit_balance")
    if credit_balance < 0 or credit_balance != round_money(credit_balance):
        raise InvoiceMathError(gettext_noop("A credit balance is zero or more, in whole öre, not %(amount)s."),
                               amount=credit_balance)
    line_totals = tuple(line.total for line in lines)
    with localcontext(MONEY_CONTEXT):
        total = sum(line_totals, ZERO)
        by_rate: dict[Decimal, Decimal] = {}
        for line, line_total in zip(lines, line_totals, strict=True):
            by_rate[line.vat_rate] = by_rate.get(line.vat_rate, ZERO) + line_total
        groups = []
        for rate in sorted(by_rate, reverse=True):
            group_total = by_rate[rate]
            group_vat = vat_in(group_total, rate)
            groups.append(VatGroup(rate=rate, total=group_total, vat=group_vat, taxable=group_total - group_vat))
        vat = sum((group.vat for group in groups), ZERO)
        credit_applied = min(credit_balance, total) if total > 0 else ZERO
        before_rounding = total - credit_applied
        rounding = ZERO
        if round_to_krona:
            rounding = before_rounding.quantize(KRONA, rounding=ROUND_HALF_UP) - before_rounding
        return InvoiceTotals(
            line_totals=line_totals, total=total, vat=vat, taxable=total - vat, vat_groups=tuple(groups),
            credit_applied=credit_applied, rounding=round_money(rounding),
            payable=round_money(before_rounding + rounding),
            credit_remaining=credit_balance - credit_applied,
        )
