"""Vouchers for ad-hoc charging: create one, find a usable one by its code, and use its balance on a session.

A voucher holds a remaining balance, money (``remaining_amount``) or energy (``remaining_wh``). Each settled ad-hoc
session takes what it needs of the balance (never more than the session cost); the rest stays for later sessions
until ``valid_until``. Vouchers are the organization's own: a code only works at its stations."""

from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from accounts.models import Organization, User
from accounts.services import audit
from billing.models import Voucher

CENT = Decimal("0.01")


def normalize_code(text: str) -> str:
    return "".join((text or "").split()).upper()


@transaction.atomic
def voucher_create(*, organization: Organization, code: str, kind: str, amount: Decimal | None = None,
                   energy_wh: int | None = None, valid_until: datetime | None = None, note: str = "",
                   acting_user: User | None, reason: str) -> Voucher:
    """A new voucher worth ``amount`` (money) or ``energy_wh`` (energy), its whole value remaining."""
    code = normalize_code(code)
    if not code or len(code) > 32:
        raise ValidationError({"code": _("A voucher code has 1 to 32 characters.")})
    if Voucher.objects.filter(code=code).exists():
        raise ValidationError({"code": _("That voucher code is taken.")})
    if kind == Voucher.Kind.AMOUNT:
        if amount is None or amount <= 0 or energy_wh is not None:
            raise ValidationError({"amount": _("A money voucher needs a positive amount and no energy.")})
        amount = amount.quantize(CENT, ROUND_HALF_UP)
    elif kind == Voucher.Kind.ENERGY:
        if energy_wh is None or energy_wh <= 0 or amount is not None:
            raise ValidationError({"energy_wh": _("An energy voucher needs a positive number of Wh and no amount.")})
    else:
        raise ValidationError({"kind": _("Unknown voucher kind.")})
    voucher = Voucher.objects.create(organization=organization, code=code, kind=kind, amount=amount,
                                     energy_wh=energy_wh, remaining_amount=amount, remaining_wh=energy_wh,
                                     valid_until=valid_until, note=note, created_by=acting_user)
    audit.record(action="billing.voucher_create", target=voucher, acting_user=acting_user, reason=reason,
                 changes={"kind": (None, kind), "amount": (None, str(amount) if amount is not None else None),
                          "energy_wh": (None, energy_wh)})
    return voucher


def usable_voucher(*, organization: Organization, code: str, at: datetime) -> Voucher:
    """The voucher ``code`` names if it can pay at ``organization``'s stations now, else ValidationError."""
    voucher = Voucher.objects.filter(code=normalize_code(code), organization=organization).first()
    if voucher is None:
        raise ValidationError({"voucher_code": _("That voucher code is not valid here.")})
    if voucher.valid_until is not None and at >= voucher.valid_until:
        raise ValidationError({"voucher_code": _("That voucher has expired.")})
    if voucher.is_spent():
        raise ValidationError({"voucher_code": _("That voucher has been used up.")})
    return voucher


@dataclass(frozen=True)
class VoucherUse:
    amount: Decimal
    energy_wh: int


def voucher_use(*, voucher: Voucher, cost: Decimal, energy_wh: int, at: datetime) -> VoucherUse:
    """Take what a session costing ``cost`` (incl. VAT) for ``energy_wh`` needs from the voucher's balance and
    store the new balance. An energy voucher pays the session's average price for the Wh it covers. Call inside
    the settling transaction with the voucher row locked; an expired voucher pays nothing."""
    voucher = Voucher.objects.select_for_update().get(pk=voucher.pk)
    if (voucher.valid_until is not None and at >= voucher.valid_until) or cost <= 0:
        return VoucherUse(Decimal("0.00"), 0)
    if voucher.kind == Voucher.Kind.AMOUNT:
        used = min(voucher.remaining_amount or Decimal("0"), cost)
        voucher.remaining_amount = (voucher.remaining_amount or Decimal("0")) - used
        voucher.save(update_fields=["remaining_amount"])
        return VoucherUse(used.quantize(CENT, ROUND_HALF_UP), 0)
    covered = min(voucher.remaining_wh or 0, energy_wh)
    if covered <= 0:
        return VoucherUse(Decimal("0.00"), 0)
    used = min(cost, (cost * covered / energy_wh).quantize(CENT, ROUND_HALF_UP))
    voucher.remaining_wh = (voucher.remaining_wh or 0) - covered
    voucher.save(update_fields=["remaining_wh"])
    return VoucherUse(used, covered)
