"""Self-billing statement arithmetic: what the association sold, the operator's fee and the payout, with VAT.

Pure code: no Django, no database, no floats (a float anywhere raises ``TypeError``). Money is ``Decimal`` in öre,
rounded half-up (away from zero) by ``billing.invoice_math.round_money``; energy is integer Wh (``kwh_from_wh``).

Rules (DOMAIN.md, "Payout to the association"; the brochure's "Självfaktura" S-1257 is the worked example)
    - Lines. "Charging – personal": the residents' charging, its Wh and its amount incl. the association's VAT, as
      the caller sums them. "Charging – public": own-network public and ad-hoc charging at 100 %, plus roaming
      sessions from foreign eMSPs reimbursed at ``roaming_share`` percent (default 90 %) of their amount. The share is
      applied once, to the period's roaming sum, and rounded half-up (100.00 → 90.00); the public kWh are all the
      energy, roaming included. Total = personal + public.
    - Which money: the fee plan's payout basis ("paid": money actually collected, the brochure's model; "invoiced")
      only decides which invoices the caller sums into ``personal``. It is carried through so the document can say.
    - The operator's fee, any combination of
        * per kWh, excl. VAT: price × the total energy **exactly as metered** (930.053 kWh, not the 930.05 printed),
          rounded to öre; the VAT on it is added and rounded (0.39 × 930.053 = 362.72067 → 362.72, VAT 90.68,
          453.40 incl. VAT). Like resident invoices, kWh are never rounded before multiplying; the printed kWh are
          rounded to two decimals only for display, and 0.39 × 930.05 = 362.7195 gives the same 362.72 here.
        * a fixed monthly amount per charge point, excl. VAT: amount × ``charge_points``, plus VAT;
        * a percentage of the charging amount: the operator keeps that share of the money (the total incl. the
          association's VAT) and the share includes the fee's VAT, so 12 % of 3 778.10 = 453.37 incl. VAT (VAT
          90.67 worked out of it). That is why the brochure's fee is not a 12 % fee: 453.40 ≠ 453.37.
      Each part is rounded to öre with its own VAT; the fee's excl., VAT and incl. are the sums of the parts. The
      fee's VAT rate is the plan's (default 25 %): the operator always charges VAT on its service.
    - The association's sale: VAT = total × rate / (100 + rate) half-up (``vat_in``), excl. = total − VAT. A
      VAT-exempt association (small turnover) sells without VAT: its VAT is 0 and excl. = incl. = total.
    - The board's monthly fees (parking, membership …) the residents' invoices collected are the association's sale
      as well: added to the sale with their own VAT (the caller works it out per rate), paid out in full, and not
      part of the base of the operator's fee. Öre rounding of the invoices goes with them (no VAT).
    - Payout = sale − fee, column by column: incl. = total − fee incl. VAT (brochure 3 778.10 − 453.40 = 3 324.70),
      excl. = sale excl. − fee excl. (3 022.48 − 362.72 = 2 659.76), VAT = sale VAT − fee VAT (755.62 − 90.68 =
      664.94). For a VAT-exempt association the payout's VAT is minus the fee's VAT: the association pays the VAT
      on the operator's fee and cannot deduct it, so it receives total − fee incl. VAT, and its payout excl. VAT is
      total − fee excl. VAT.
    - A fee larger than the revenue gives a negative payout: then ``payable_by_association`` is True and
      ``owed_by_association`` is what the association owes the operator (``-payout.incl``); nothing is clamped.
    - Amounts may be negative (credit notes on the "invoiced" basis): the arithmetic is the same.

Use
    totals = statement_totals(
        personal=Charging(energy_wh=901_110, amount=Decimal("3604.44")),
        public_own=Charging(energy_wh=28_943, amount=Decimal("173.66")),
        public_roaming=Charging(energy_wh=0, amount=Decimal("0.00")),
        fee_plan=FeePlan(per_kwh=Decimal("0.39"), basis=PayoutBasis.PAID), charge_points=8)
    totals.personal / .public / .total        StatementLine: energy_wh, kwh (exact), kwh_shown (2 decimals), amount
    totals.roaming_reimbursed                 the roaming share of the roaming amount, part of totals.public
    totals.fee_parts                          FeePart per fee kind (description key, basis, excl/vat/incl)
    totals.fee / .sale / .payout              VatSplit(excl, vat, incl)
    totals.payable_by_association, totals.owed_by_association
    Charging.sum(items) adds up (energy_wh, amount) pairs, e.g. per-session figures.

Errors are ``StatementMathError`` (an ``InvoiceMathError``, a ``ValueError``) with an English ``template`` marked
for translation and ``params``, so a form can show ``gettext(error.template) % error.params``.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, localcontext
from enum import StrEnum

from billing.invoice_math import (
    DEFAULT_VAT_RATE,
    MONEY_CONTEXT,
    ZERO,
    InvoiceMathError,
    as_decimal,
    gettext_noop,
    kwh_from_wh,
    round_money,
    vat_in,
)

DEFAULT_ROAMING_SHARE = Decimal(90)
_HUNDRED = Decimal(100)
_SHOWN_KWH = Decimal("0.01")


class StatementMathError(InvoiceMathError):
    """Statement figures or a fee plan that cannot be computed."""


class PayoutBasis(StrEnum):
    PAID = "paid"  # money actually collected (the brochure's model)
    INVOICED = "invoiced"


class FeeKind(StrEnum):
    PER_KWH = "per_kwh"
    PER_CHARGE_POINT = "per_charge_point"
    PERCENTAGE = "percentage"


def _number(value: object, name: str) -> Decimal:
    try:
        return as_decimal(value, name)
    except StatementMathError:
        raise
    except InvoiceMathError as error:  # callers catch one error class for everything this module rejects
        raise StatementMathError(error.template, **error.params) from None


def _money(value: object, name: str) -> Decimal:
    amount = _number(value, name)
    if amount != round_money(amount):
        raise StatementMathError(gettext_noop("%(name)s must be in whole öre, not %(amount)s."), name=name,
                                 amount=amount)
    return round_money(amount)


def _percentage(value: object, name: str, *, upper_inclusive: bool = True) -> Decimal:
    number = _number(value, name)
    if number < 0 or number > _HUNDRED or (number == _HUNDRED and not upper_inclusive):
        raise StatementMathError(gettext_noop("%(name)s must be a percentage from 0 to 100, not %(value)s."),
                                 name=name, value=number)
    return number


def shown_kwh(kwh: Decimal) -> Decimal:
    """kWh as printed: half-up to two decimals (930.053 → 930.05), like the brochure; never used to compute."""
    return kwh.quantize(_SHOWN_KWH, rounding=ROUND_HALF_UP)


def _energy(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int (Wh), not {type(value).__name__}")
    return value


@dataclass(frozen=True)
class Charging:
    """Energy in integer Wh and its amount incl. the association's VAT (whole öre), e.g. a month of sessions."""

    energy_wh: int
    amount: Decimal

    def __post_init__(self) -> None:
        _energy(self.energy_wh, "energy_wh")
        object.__setattr__(self, "amount", _money(self.amount, "amount"))

    @property
    def kwh(self) -> Decimal:
        return kwh_from_wh(self.energy_wh)

    @property
    def kwh_shown(self) -> Decimal:
        return shown_kwh(self.kwh)

    @classmethod
    def sum(cls, items: Iterable["Charging"]) -> "Charging":
        """The energy and the amounts of ``items`` added up (no rounding: each amount is already in öre)."""
        energy, amount = 0, ZERO
        for item in items:
            if not isinstance(item, Charging):
                raise TypeError(f"items must be Charging objects, not {type(item).__name__}")
            energy += item.energy_wh
            amount += item.amount
        return cls(energy_wh=energy, amount=amount)


NO_CHARGING = Charging(energy_wh=0, amount=ZERO)


@dataclass(frozen=True)
class FeePlan:
    """The operator's fee: any combination of the three parts (a zero part is left out).

    ``per_kwh``: SEK per kWh excl. VAT (any number of decimals); ``monthly_per_charge_point``: SEK per charge point
    and month excl. VAT (whole öre); ``percentage``: percent of the charging amount, incl. the fee's VAT;
    ``vat_rate``: the fee's VAT rate in percent.
    """

    per_kwh: Decimal = ZERO
    percentage: Decimal = ZERO
    monthly_per_charge_point: Decimal = ZERO
    vat_rate: Decimal = DEFAULT_VAT_RATE
    basis: PayoutBasis = PayoutBasis.PAID

    def __post_init__(self) -> None:
        per_kwh = _number(self.per_kwh, "per_kwh")
        if per_kwh < 0:
            raise StatementMathError(gettext_noop("A fee per kWh is zero or more, not %(value)s."), value=per_kwh)
        object.__setattr__(self, "per_kwh", per_kwh)
        object.__setattr__(self, "percentage", _percentage(self.percentage, "percentage"))
        monthly = _money(self.monthly_per_charge_point, "monthly_per_charge_point")
        if monthly < 0:
            raise StatementMathError(gettext_noop("A monthly fee per charge point is zero or more, not %(value)s."),
                                     value=monthly)
        object.__setattr__(self, "monthly_per_charge_point", monthly)
        object.__setattr__(self, "vat_rate", _percentage(self.vat_rate, "vat_rate", upper_inclusive=False))
        try:
            object.__setattr__(self, "basis", PayoutBasis(self.basis))
        except ValueError:
            raise StatementMathError(gettext_noop("Unknown payout basis %(basis)r."), basis=self.basis) from None


@dataclass(frozen=True)
class VatSplit:
    """An amount excl. VAT, its VAT and the amount incl. VAT (``excl + vat == incl`` always)."""

    excl: Decimal
    vat: Decimal
    incl: Decimal

    def __post_init__(self) -> None:
        if self.excl + self.vat != self.incl:
            raise StatementMathError(gettext_noop("%(excl)s + VAT %(vat)s is not %(incl)s."), excl=self.excl,
                                     vat=self.vat, incl=self.incl)

    def __sub__(self, other: "VatSplit") -> "VatSplit":
        return VatSplit(excl=self.excl - other.excl, vat=self.vat - other.vat, incl=self.incl - other.incl)


@dataclass(frozen=True)
class FeePart:
    """One part of the fee: ``quantity`` (kWh, charge points, or the amount a percentage is taken of) × ``rate``.

    ``rate`` is SEK per kWh or per charge point excl. VAT, or a percent incl. VAT for ``PERCENTAGE``.
    """

    kind: FeeKind
    quantity: Decimal
    rate: Decimal
    amount: VatSplit


@dataclass(frozen=True)
class StatementLine:
    """A statement line: energy (exact kWh from Wh) and amount incl. the association's VAT."""

    energy_wh: int
    amount: Decimal

    @property
    def kwh(self) -> Decimal:
        return kwh_from_wh(self.energy_wh)

    @property
    def kwh_shown(self) -> Decimal:
        return shown_kwh(self.kwh)


@dataclass(frozen=True)
class StatementTotals:
    """Everything a self-billing statement shows; all amounts in SEK (Decimal, öre)."""

    basis: PayoutBasis
    vat_exempt: bool
    vat_rate: Decimal  # the association's sale, 0 when exempt
    personal: StatementLine
    public_own: Charging
    public_roaming: Charging  # as the eMSPs were charged, before the share
    roaming_share: Decimal
    roaming_reimbursed: Decimal  # the association's share of public_roaming.amount
    public: StatementLine  # own + roaming energy; own amount + roaming_reimbursed
    total: StatementLine
    charge_points: int
    fee_parts: tuple[FeePart, ...]
    fee_vat_rate: Decimal
    fee: VatSplit  # the operator's fee ("Support- och betaltjänst")
    board_fees: VatSplit  # the board's monthly fees (and öre rounding) collected on the residents' invoices
    sale: VatSplit  # the association's sale: total.amount + board_fees incl. VAT
    payout: VatSplit  # sale − fee

    @property
    def payable_by_association(self) -> bool:
        """True when the fee exceeds the revenue: the association owes the operator instead of receiving money."""
        return self.payout.incl < 0

    @property
    def owed_by_association(self) -> Decimal:
        """What the association must pay the operator (0.00 unless ``payable_by_association``)."""
        return -self.payout.incl if self.payable_by_association else ZERO


def _excl_priced(kind: FeeKind, quantity: Decimal, rate: Decimal, vat_rate: Decimal) -> FeePart:
    with localcontext(MONEY_CONTEXT):
        excl = round_money(quantity * rate)
        vat = round_money(excl * vat_rate / _HUNDRED)
    return FeePart(kind=kind, quantity=quantity, rate=rate, amount=VatSplit(excl=excl, vat=vat, incl=excl + vat))


def fee_parts(*, fee_plan: FeePlan, total: StatementLine, charge_points: int) -> tuple[FeePart, ...]:
    """The non-zero parts of ``fee_plan`` for a month with ``total`` charging and ``charge_points`` charge points."""
    parts = []
    if fee_plan.per_kwh:
        parts.append(_excl_priced(FeeKind.PER_KWH, total.kwh, fee_plan.per_kwh, fee_plan.vat_rate))
    if fee_plan.monthly_per_charge_point and charge_points:
        parts.append(_excl_priced(FeeKind.PER_CHARGE_POINT, Decimal(charge_points),
                                  fee_plan.monthly_per_charge_point, fee_plan.vat_rate))
    if fee_plan.percentage:
        with localcontext(MONEY_CONTEXT):
            incl = round_money(total.amount * fee_plan.percentage / _HUNDRED)
        vat = vat_in(incl, fee_plan.vat_rate)
        parts.append(FeePart(kind=FeeKind.PERCENTAGE, quantity=total.amount, rate=fee_plan.percentage,
                             amount=VatSplit(excl=incl - vat, vat=vat, incl=incl)))
    return tuple(parts)


def statement_totals(*, personal: Charging, public_own: Charging = NO_CHARGING,
                     public_roaming: Charging = NO_CHARGING, fee_plan: FeePlan, charge_points: int = 0,
                     roaming_share: Decimal = DEFAULT_ROAMING_SHARE, vat_exempt: bool = False,
                     vat_rate: Decimal = DEFAULT_VAT_RATE, board_fees: Decimal = ZERO,
                     board_fees_vat: Decimal = ZERO) -> StatementTotals:
    """The figures of one month's self-billing statement; see the module docstring for the rules.

    ``personal``, ``public_own`` and ``public_roaming`` are sums over the period (``Charging.sum``) chosen by
    ``fee_plan.basis``; ``vat_rate`` is the association's rate when it is not ``vat_exempt``. ``board_fees`` (incl.
    VAT, of which ``board_fees_vat``, worked out per rate by the caller) is what the residents' invoices collected
    for the board's monthly fees: the association's sale too, paid out in full, not part of the operator's fee base.
    """
    for name, value in (("personal", personal), ("public_own", public_own), ("public_roaming", public_roaming)):
        if not isinstance(value, Charging):
            raise TypeError(f"{name} must be a Charging, not {type(value).__name__}")
    if not isinstance(fee_plan, FeePlan):
        raise TypeError(f"fee_plan must be a FeePlan, not {type(fee_plan).__name__}")
    if not isinstance(vat_exempt, bool):
        raise TypeError(f"vat_exempt must be a bool, not {type(vat_exempt).__name__}")
    charge_points = _energy(charge_points, "charge_points")
    if charge_points < 0:
        raise StatementMathError(gettext_noop("The number of charge points is zero or more, not %(count)s."),
                                 count=charge_points)
    roaming_share = _percentage(roaming_share, "roaming_share")
    board_fees, board_fees_vat = _money(board_fees, "board_fees"), _money(board_fees_vat, "board_fees_vat")
    vat_rate = ZERO if vat_exempt else _percentage(vat_rate, "vat_rate", upper_inclusive=False)

    with localcontext(MONEY_CONTEXT):
        reimbursed = round_money(public_roaming.amount * roaming_share / _HUNDRED)
        public = StatementLine(energy_wh=public_own.energy_wh + public_roaming.energy_wh,
                               amount=public_own.amount + reimbursed)
        personal_line = StatementLine(energy_wh=personal.energy_wh, amount=personal.amount)
        total = StatementLine(energy_wh=personal.energy_wh + public.energy_wh, amount=personal.amount + public.amount)
        parts = fee_parts(fee_plan=fee_plan, total=total, charge_points=charge_points)
        fee = VatSplit(excl=sum((part.amount.excl for part in parts), ZERO),
                       vat=sum((part.amount.vat for part in parts), ZERO),
                       incl=sum((part.amount.incl for part in parts), ZERO))
        fees_vat = ZERO if vat_exempt else board_fees_vat
        fees_split = VatSplit(excl=board_fees - fees_vat, vat=fees_vat, incl=board_fees)
        sale_vat = (ZERO if vat_exempt else vat_in(total.amount, vat_rate)) + fees_vat
        sale = VatSplit(excl=total.amount + board_fees - sale_vat, vat=sale_vat, incl=total.amount + board_fees)
        return StatementTotals(
            basis=fee_plan.basis, vat_exempt=vat_exempt, vat_rate=vat_rate, personal=personal_line,
            public_own=public_own, public_roaming=public_roaming, roaming_share=roaming_share,
            roaming_reimbursed=reimbursed, public=public, total=total, charge_points=charge_points,
            fee_parts=parts, fee_vat_rate=fee_plan.vat_rate, fee=fee, board_fees=fees_split, sale=sale,
            payout=sale - fee,
        )
