"""Monthly fees (RecurringFee) the board puts on every resident's invoice: add one, end one. Audited with the reason
given; invoicing (billing.services.invoicing) reads the active ones."""

from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from accounts.models import Organization, User
from accounts.services import audit
from billing.models import RecurringFee


def _require_reason(reason: str) -> None:
    if not (reason or "").strip():
        raise ValidationError({"reason": _("Say why (stored in the audit log).")})


@transaction.atomic
def recurring_fee_create(*, organization: Organization, name: str, amount: Decimal, vat_rate: Decimal = Decimal(25),
                         acting_user: User | None, reason: str) -> RecurringFee:
    """A new monthly fee of ``organization``, charged to every resident from the next invoice run."""
    _require_reason(reason)
    fee = RecurringFee(organization=organization, name=name.strip(), amount=amount, vat_rate=vat_rate,
                       applies_to_residents=True, is_active=True)
    fee.full_clean()
    fee.save()
    audit.record(action="recurringfee.created", target=fee, acting_user=acting_user, reason=reason,
                 organization=organization, changes={"name": (None, fee.name), "amount": (None, str(fee.amount)),
                                                     "vat_rate": (None, str(fee.vat_rate))})
    return fee


@transaction.atomic
def recurring_fee_end(*, fee: RecurringFee, acting_user: User | None, reason: str) -> RecurringFee:
    """Stop charging a fee (kept for the invoices that carry it). Ending an ended fee changes nothing."""
    _require_reason(reason)
    locked = RecurringFee.objects.select_for_update().get(pk=fee.pk)
    if not locked.is_active:
        return locked
    locked.is_active = False
    locked.save(update_fields=["is_active"])
    audit.record(action="recurringfee.ended", target=locked, acting_user=acting_user, reason=reason,
                 organization=locked.organization, changes={"is_active": (True, False)})
    return locked
