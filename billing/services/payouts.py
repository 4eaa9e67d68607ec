"""Executing the payouts of self-billing statements: Stripe Connect transfers, bank payment files, and the people's
actions on them (retry, mark paid); the associations' Stripe onboarding.

    summary = payouts_execute(today=date(2026, 5, 30), now=timezone.now())   # the daily task: due Stripe payouts
    payout_retry(payout=payout, acting_user=user, reason="Account fixed", now=now)
    payout_file = payout_file_create(payouts=[...], execution_date=date(...), acting_user=user, reason="May", now=now)
    payout_mark_paid(payout=payout, acting_user=user, reason="Bank confirmed", now=now)
    url = connect_onboarding_start(organization=org, acting_user=user, refresh_url=..., return_url=...)
    connect_account_refresh(profile=profile)

Never paid twice. A payout moves SCHEDULED → PAID (Stripe) or SCHEDULED → EXPORTED → PAID (bank file); only a
SCHEDULED payout is transferred or put in a file, and the row is locked while that happens. A Stripe transfer is made
with the payout as its reference: the gateway finds a transfer already made for it (a retry after a lost answer)
instead of making another. A refused transfer marks the payout FAILED, counts the attempt and alerts the admins; a
person retries it after fixing the cause. Payouts owed by the association (negative) are never executed here.
"""

import logging
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.mail import mail_admins
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import Organization, User
from accounts.services.audit import record
from billing import payment_file, stripe_gateway
from billing.models import BillingProfile, Payout, PayoutFile

logger = logging.getLogger(__name__)


_DOCUMENT = ("statement__series", "commission__series", "organization")


class PayoutError(ValueError):
    """A payout action that cannot be done; the message is translated and meant for the user."""


@dataclass
class PayoutRunSummary:
    paid: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)
    waiting_for_file: int = 0


def _reason(acting_user: User | None, reason: str) -> str:
    reason = (reason or "").strip()
    if acting_user is None or not reason:
        raise PayoutError(_("Give a reason for this payout action."))
    return reason


def transfer_reference(payout: Payout) -> str:
    """The payout's reference at Stripe: its id and creation instant, stable across retries and never shared by a
    payout of a restored or another database that reuses the id."""
    return f"payout-{payout.pk}-{payout.created_at:%Y%m%d%H%M%S%f}"


def _transfer(payout: Payout, now: datetime) -> bool:
    """Transfer one locked SCHEDULED Stripe payout; True when paid."""
    profile = BillingProfile.objects.filter(organization_id=payout.organization_id).first()
    payout.attempts += 1
    try:
        if profile is None or not profile.stripe_account_id:
            raise stripe_gateway.StripeGatewayError(
                stripe_gateway.gettext_noop("The association has no connected Stripe account."))
        result = stripe_gateway.StripeGateway.from_settings().transfer_create(
            account_id=profile.stripe_account_id, amount=payout.amount, currency=payout.currency,
            reference=transfer_reference(payout), description=payout.document.display_number,
            attempt=payout.attempts)
    except stripe_gateway.StripeGatewayError as error:
        payout.status = Payout.Status.FAILED
        payout.error = (_(error.template) % error.params)[:500]
        payout.save(update_fields=["status", "attempts", "error"])
        logger.error("Payout %s to %s failed: %s", payout.pk, payout.organization_id, payout.error)
        payout_id, organization, message = payout.pk, str(payout.organization), payout.error
        transaction.on_commit(lambda: mail_admins(
            _("Payout failed: %(organization)s") % {"organization": organization},
            _("Payout %(payout)s could not be made: %(error)s") % {"payout": payout_id, "error": message}),
            robust=True)
        return False
    payout.status = Payout.Status.PAID
    payout.stripe_transfer_id = result.transfer_id
    payout.executed_at = now
    payout.error = ""
    payout.save(update_fields=["status", "attempts", "stripe_transfer_id", "executed_at", "error"])
    return True


def payouts_execute(*, today: date, now: datetime) -> PayoutRunSummary:
    """Make the Stripe transfers of SCHEDULED payouts due by ``today`` (each in its own transaction, row locked)."""
    summary = PayoutRunSummary()
    due = Payout.objects.filter(status=Payout.Status.SCHEDULED, due_date__lte=today)
    summary.waiting_for_file = due.filter(method=BillingProfile.Method.BANK_FILE).count()
    for payout_id in due.filter(method=BillingProfile.Method.STRIPE).order_by("due_date", "pk").values_list(
            "pk", flat=True):
        with transaction.atomic():
            payout = (Payout.objects.select_for_update(of=("self",)).select_related(*_DOCUMENT)
                      .get(pk=payout_id))
            if payout.status != Payout.Status.SCHEDULED:
                continue  # a parallel run got there first
            (summary.paid if _transfer(payout, now) else summary.failed).append(payout.pk)
    return summary


@transaction.atomic
def payout_retry(*, payout: Payout, acting_user: User, reason: str, now: datetime) -> Payout:
    """Schedule a FAILED payout again and, when it is due and goes through Stripe, try it now (audited)."""
    reason = _reason(acting_user, reason)
    payout = Payout.objects.select_for_update(of=("self",)).select_related(*_DOCUMENT).get(pk=payout.pk)
    if payout.status != Payout.Status.FAILED:
        raise PayoutError(_("Payout %(payout)s is %(status)s; only a failed payout is retried.")
                          % {"payout": payout.pk, "status": payout.get_status_display()})
    profile = BillingProfile.objects.filter(organization_id=payout.organization_id).first()
    if profile is not None and profile.payout_method != payout.method:
        payout.method = profile.payout_method  # the board changed how it is paid since the payout was made
    payout.status = Payout.Status.SCHEDULED
    payout.save(update_fields=["status", "method"])
    if payout.method == BillingProfile.Method.STRIPE and payout.due_date <= timezone.localdate(now):
        _transfer(payout, now)
    record(action="payout.retry", target=payout, acting_user=acting_user, reason=reason, at=now,
           organization=payout.organization,
           changes={"status": (Payout.Status.FAILED, payout.status), "attempts": (None, payout.attempts)})
    return payout


def _remittance(payout: Payout) -> str:
    document = payout.document
    reference = getattr(document, "payout_reference", "")
    return f"{document.display_number} {reference}".strip()[:140]


def _creditor_account(profile: BillingProfile, organization: Organization) -> payment_file.CreditorAccount:
    if organization.bankgiro_number:
        return payment_file.BankgiroAccount(number=organization.bankgiro_number)
    if profile.iban:
        return payment_file.IbanAccount(iban=profile.iban)
    if profile.clearing_number and profile.account_number:
        return payment_file.SwedishBankAccount(clearing=profile.clearing_number, account=profile.account_number)
    raise PayoutError(_("%(organization)s has no Bankgiro number or bank account for payouts.")
                      % {"organization": organization})


@transaction.atomic
def payout_file_create(*, payouts: list[Payout], execution_date: date, acting_user: User, reason: str,
                       now: datetime) -> PayoutFile:
    """A pain.001 file paying the given SCHEDULED bank-file payouts on ``execution_date``; they become EXPORTED
    (audited). All or nothing: one payout that cannot go in the file refuses the whole file."""
    reason = _reason(acting_user, reason)
    if not payouts:
        raise PayoutError(_("Choose the payouts to put in the file."))
    locked = list(Payout.objects.select_for_update(of=("self",)).select_related(*_DOCUMENT)
                  .filter(pk__in=[payout.pk for payout in payouts]).order_by("pk"))
    transfers = []
    for payout in locked:
        if payout.status != Payout.Status.SCHEDULED or payout.method != BillingProfile.Method.BANK_FILE:
            raise PayoutError(_("Payout %(payout)s is %(status)s (%(method)s); only scheduled bank-file payouts go "
                                "in a file.") % {"payout": payout.pk, "status": payout.get_status_display(),
                                                 "method": payout.get_method_display()})
        profile = BillingProfile.objects.get(organization_id=payout.organization_id)
        try:
            transfers.append(payment_file.CreditTransfer(
                end_to_end_id=f"PAYOUT-{payout.pk}", amount=payout.amount,
                creditor_name=payout.organization.name,
                creditor_account=_creditor_account(profile, payout.organization),
                remittance_text=_remittance(payout)))
        except payment_file.PaymentFileError as error:
            raise PayoutError(_(error.template) % error.params) from None
    debtor_settings = settings.PAYOUT_DEBTOR
    if not all(debtor_settings.values()):
        raise PayoutError(_("The operator's client funds account (PAYOUT_DEBTOR_* settings) is not configured."))
    message_id = f"CSMS-{timezone.localtime(now):%Y%m%d%H%M%S}-{locked[0].pk}"
    try:
        debtor = payment_file.Debtor(name=debtor_settings["name"], org_number=debtor_settings["org_number"],
                                     iban=debtor_settings["iban"], bic=debtor_settings["bic"])
        data = payment_file.build_pain001(message_id=message_id, created_at=now, debtor=debtor, payments=transfers,
                                          execution_date=execution_date)
    except payment_file.PaymentFileError as error:
        raise PayoutError(_(error.template) % error.params) from None
    total = sum((payout.amount for payout in locked), Decimal("0.00"))
    stored = PayoutFile(message_id=message_id, execution_date=execution_date, payouts=len(locked), total=total,
                        created_by=acting_user, created_at=now)
    stored.file.save(f"{message_id}.xml", ContentFile(data), save=False)
    stored.save()
    for payout in locked:
        payout.status, payout.payout_file = Payout.Status.EXPORTED, stored
        payout.save(update_fields=["status", "payout_file"])
        record(action="payout.exported", target=payout, acting_user=acting_user, reason=reason, at=now,
               organization=payout.organization,
               changes={"status": (Payout.Status.SCHEDULED, Payout.Status.EXPORTED), "file": (None, message_id)})
    return stored


@transaction.atomic
def payout_mark_paid(*, payout: Payout, acting_user: User, reason: str, now: datetime) -> Payout:
    """Record that the bank executed an exported payout (audited)."""
    reason = _reason(acting_user, reason)
    payout = Payout.objects.select_for_update().get(pk=payout.pk)
    if payout.status != Payout.Status.EXPORTED:
        raise PayoutError(_("Payout %(payout)s is %(status)s; only a payout in a bank file is marked paid.")
                          % {"payout": payout.pk, "status": payout.get_status_display()})
    payout.status, payout.executed_at = Payout.Status.PAID, now
    payout.save(update_fields=["status", "executed_at"])
    record(action="payout.paid", target=payout, acting_user=acting_user, reason=reason, at=now,
           organization=payout.organization, changes={"status": (Payout.Status.EXPORTED, Payout.Status.PAID)})
    return payout


# --- Stripe Connect onboarding ----------------------------------------------------------------------------------------


@transaction.atomic
def connect_onboarding_start(*, organization: Organization, acting_user: User, refresh_url: str,
                             return_url: str) -> str:
    """The Stripe onboarding link of the association's connected account (created on first use, audited)."""
    profile = BillingProfile.objects.select_for_update().filter(organization=organization).first()
    if profile is None:
        raise PayoutError(_("%(organization)s has no billing profile yet.") % {"organization": organization})
    gateway = stripe_gateway.StripeGateway.from_settings()
    if not profile.stripe_account_id:
        profile.stripe_account_id = gateway.connect_account_create(
            reference=f"org-{organization.pk}", email=organization.billing_email or organization.contact_email,
            business_name=organization.name, country=organization.country)
        profile.save(update_fields=["stripe_account_id"])
        record(action="payout.connect_account", target=organization, acting_user=acting_user,
               reason=_("Stripe onboarding started"), organization=organization,
               changes={"stripe_account_id": ("", profile.stripe_account_id)})
    return gateway.connect_onboarding_link(account_id=profile.stripe_account_id, refresh_url=refresh_url,
                                           return_url=return_url)


def connect_account_refresh(*, profile: BillingProfile) -> bool:
    """Store whether Stripe pays out to the association's account now; returns it."""
    if not profile.stripe_account_id:
        return False
    status = stripe_gateway.StripeGateway.from_settings().connect_account_status(account_id=profile.stripe_account_id)
    BillingProfile.objects.filter(pk=profile.pk).update(stripe_payouts_enabled=status.payouts_enabled,
                                                        updated_at=timezone.now())
    return status.payouts_enabled
