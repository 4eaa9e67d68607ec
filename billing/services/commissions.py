"""Resellers' monthly commission statements, their document and e-mail, and the payout each schedules.

    summary = commission_run(period=(2026, 3), reseller=None, now=timezone.now(), dry_run=False)
    commission_send(commission_id=commission.pk, now=timezone.now())   # renders the PDF, e-mails the reseller
    document = commission_document(commission)                         # billing.commission_pdf.CommissionDocument
    commission_resend(commission=commission, acting_user=user, reason="…")

A reseller is an Organization of kind "reseller" with a BillingProfile (no fee plan; ``commission_rate``, default
2 %). Its sub-organizations are the organizations whose ``parent`` it is. The commission statement of period P is a
self-billing invoice from the reseller to the operator, built like the associations' statements
(billing.services.statements):

- Base: the sub-organizations' issued self-billing statements of P or earlier not yet counted in a commission
  statement (``Statement.commission`` empty), so a statement made late for an earlier month is counted once, in the
  next run. A statement's charging revenue excl. VAT is its charging total (``total_amount``; the board's fees are
  not charging revenue) less the 25 % VAT in it, or the total itself for an association exempt from VAT.
- Commission excl. VAT = base × rate / 100 half-up to öre, VAT 25 % unless the reseller is exempt (the arithmetic is
  billing.commission_pdf.commission_amounts). The statements counted point at the commission statement.
- Numbering: the reseller's own series (``InvoiceSeries`` with the reseller as seller, prefix
  ``STATEMENT_SERIES_PREFIX``), taken under the series row lock in the commission statement's transaction; a
  repeated or parallel run finds the month's commission statement and creates nothing.
- A positive commission schedules a ``Payout`` (the profile's method) on the payout date, issue date + 30 days; none
  at 0. The PDF is e-mailed to the reseller after commit.
"""

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import Organization, User
from accounts.services.audit import record
from billing import commission_pdf
from billing.invoice_math import DEFAULT_VAT_RATE, vat_in
from billing.models import BillingProfile, CommissionStatement, InvoiceSeries, Payout, Statement
from billing.services.invoicing import InvoiceError, Period, invoice_seller
from billing.services.statements import send_issued_document, statement_series
from billing.statement_documents import Party

logger = logging.getLogger(__name__)

_ZERO = Decimal("0.00")
PAYOUT_DAYS = 30


class CommissionError(ValueError):
    """A commission run or action that cannot be made; the message is translated and meant for the user."""


@dataclass
class PlannedCommission:
    reseller: str
    revenue_excl: Decimal
    commission_excl: Decimal
    commission_incl: Decimal
    statements: int
    number: str = ""


@dataclass
class CommissionRunSummary:
    period: Period
    dry_run: bool
    commissions: list[PlannedCommission] = field(default_factory=list)
    already_done: int = 0


def revenue_excl_vat(statement: Statement) -> Decimal:
    """A statement's charging revenue excl. VAT: its charging total, less the VAT in it unless the association is
    exempt from VAT."""
    if statement.vat_exempt:
        return statement.total_amount
    return statement.total_amount - vat_in(statement.total_amount, DEFAULT_VAT_RATE)


def _profiles(reseller: Organization | None) -> list[BillingProfile]:
    profiles = BillingProfile.objects.select_related("organization").filter(
        organization__kind=Organization.Kind.RESELLER, organization__is_active=True, fee_plan__isnull=True)
    if reseller is not None:
        profiles = profiles.filter(organization=reseller)
    return list(profiles.order_by("organization__name", "pk"))


def commission_run(*, period: tuple[int, int], reseller: Organization | None = None, now: datetime,
                   dry_run: bool = False, progress: Callable[[int, int], None] | None = None) -> CommissionRunSummary:
    """Make the commission statements of ``period`` (year, month) for every reseller with a billing profile, or one."""
    try:
        the_period = Period.of(*period)
    except InvoiceError as error:
        raise CommissionError(str(error)) from None
    if the_period.ends_at > now:
        raise CommissionError(_("The period %(start)s – %(end)s has not ended yet.")
                              % {"start": the_period.start, "end": the_period.end})
    if reseller is not None and not _profiles(reseller):
        raise CommissionError(_("%(organization)s is not a reseller with a billing profile.")
                              % {"organization": reseller})
    summary = CommissionRunSummary(period=the_period, dry_run=dry_run)
    profiles = _profiles(reseller)
    for done, profile in enumerate(profiles, start=1):
        if dry_run:
            _commission_one(summary, profile, the_period, now, dry_run=True)
        else:
            with transaction.atomic():
                _commission_one(summary, profile, the_period, now, dry_run=False)
        if progress is not None:
            progress(done, len(profiles))
    return summary


def _base(reseller: Organization, period: Period) -> list[Statement]:
    return list(Statement.objects.select_related("organization", "series").filter(
        organization__parent=reseller, status=Statement.Status.ISSUED, period_start__lte=period.start,
        commission__isnull=True).order_by("organization__name", "organization_id", "period_start", "number"))


def _figures(statements: list[Statement]) -> dict:
    organizations: dict[int, dict] = {}
    for statement in statements:
        org = statement.organization
        entry = organizations.setdefault(org.pk, {"id": org.pk, "name": org.name, "vat_exempt": False,
                                                  "statements": [], "revenue_excl": _ZERO})
        revenue = revenue_excl_vat(statement)
        entry["statements"].append({"id": statement.pk, "number": statement.display_number,
                                    "period_start": statement.period_start.isoformat(),
                                    "vat_exempt": statement.vat_exempt, "revenue_excl": str(revenue)})
        entry["vat_exempt"] = entry["vat_exempt"] or statement.vat_exempt
        entry["revenue_excl"] += revenue
    rows = [{**entry, "revenue_excl": str(entry["revenue_excl"])} for entry in organizations.values()]
    return {"organizations": rows, "vat_rate": str(DEFAULT_VAT_RATE)}


def _commission_one(summary: CommissionRunSummary, profile: BillingProfile, period: Period, now: datetime, *,
                    dry_run: bool) -> None:
    reseller = profile.organization
    series = None
    if not dry_run:
        # Lock, then look: a parallel run that held the lock has committed this month's commission statement.
        series = InvoiceSeries.objects.select_for_update().get(pk=statement_series(reseller).pk)
    if CommissionStatement.objects.filter(reseller=reseller, period_start=period.start,
                                          status=CommissionStatement.Status.ISSUED).exists():
        summary.already_done += 1
        return
    statements = _base(reseller, period)
    revenue = sum((revenue_excl_vat(statement) for statement in statements), _ZERO)
    amounts = commission_pdf.commission_amounts(revenue_excl=revenue, rate=profile.commission_rate,
                                                vat_exempt=reseller.vat_exempt)
    planned = PlannedCommission(reseller=reseller.slug, revenue_excl=amounts.revenue_excl,
                                commission_excl=amounts.excl, commission_incl=amounts.incl,
                                statements=len(statements))
    summary.commissions.append(planned)
    if series is None:
        return
    issue_date = max(timezone.localdate(now), period.end + timedelta(days=1))
    number = series.next_number
    series.next_number = number + 1
    series.save(update_fields=["next_number"])
    commission = CommissionStatement.objects.create(
        reseller=reseller, series=series, number=number, period_start=period.start, period_end=period.end,
        issue_date=issue_date, payout_date=issue_date + timedelta(days=PAYOUT_DAYS), rate=amounts.rate,
        vat_exempt=reseller.vat_exempt, currency=settings.DEFAULT_CURRENCY, revenue_excl=amounts.revenue_excl,
        commission_excl=amounts.excl, commission_vat=amounts.vat, commission_incl=amounts.incl,
        figures=_figures(statements))
    counted = Statement.objects.filter(pk__in=[statement.pk for statement in statements],
                                       commission__isnull=True).update(commission=commission)
    if counted != len(statements):
        # Another commission statement took some of them meanwhile: roll back rather than count them twice.
        raise CommissionError(_("Statements of %(reseller)s changed during the run; run it again.")
                              % {"reseller": reseller})
    if amounts.incl != 0:
        Payout.objects.create(commission=commission, organization=reseller, amount=amounts.incl,
                              currency=commission.currency, method=profile.payout_method,
                              due_date=commission.payout_date,
                              status=Payout.Status.SCHEDULED if amounts.incl > 0 else Payout.Status.OWED)
    planned.number = commission.display_number
    commission_id = commission.pk
    transaction.on_commit(lambda: _queue_send(commission_id), robust=True)


def _queue_send(commission_id: int) -> None:
    from billing.tasks import send_commission_task  # the tasks module imports this one

    send_commission_task.delay(commission_id)


# --- Document and e-mail ----------------------------------------------------------------------------------------------


def _party(org: Organization) -> Party:
    address = tuple(line for line in (org.street_address, f"{org.postal_code} {org.city}".strip()) if line)
    return Party(name=org.name, address_lines=address, org_number=org.org_number, vat_number=org.vat_number,
                 email=org.billing_email or org.contact_email, phone=org.contact_phone, bankgiro=org.bankgiro_number)


def _payout_account(reseller: Organization) -> str:
    profile = BillingProfile.objects.filter(organization=reseller).first()
    if profile is None:
        return ""
    if profile.payout_method == BillingProfile.Method.STRIPE:
        return "Stripe"
    if reseller.bankgiro_number:
        return f"Bankgiro {reseller.bankgiro_number}"
    return profile.iban or f"{profile.clearing_number} {profile.account_number}".strip()


def commission_document(commission: CommissionStatement) -> commission_pdf.CommissionDocument:
    """The printable commission statement, from its stored figures (checked against the stored amounts)."""
    reseller = commission.reseller
    rows = tuple(commission_pdf.CommissionRow(
        name=entry["name"], statements=tuple(row["number"] for row in entry["statements"]),
        revenue_excl=Decimal(entry["revenue_excl"]), vat_exempt=entry["vat_exempt"])
        for entry in commission.figures.get("organizations", []))
    amounts = commission_pdf.commission_amounts(
        revenue_excl=commission.revenue_excl, rate=commission.rate, vat_exempt=commission.vat_exempt,
        vat_rate=Decimal(commission.figures.get("vat_rate", DEFAULT_VAT_RATE)))
    if (amounts.excl, amounts.vat, amounts.incl) != (commission.commission_excl, commission.commission_vat,
                                                     commission.commission_incl):
        raise CommissionError(f"commission statement {commission.pk}: stored figures disagree with its base")
    language = reseller.locale if reseller.locale in commission_pdf.LANGUAGES else "sv"
    return commission_pdf.CommissionDocument(
        number=commission.display_number, issue_date=commission.issue_date, period_start=commission.period_start,
        period_end=commission.period_end, seller=_party(reseller), buyer=_party(invoice_seller()), amounts=amounts,
        payout_date=commission.payout_date, rows=rows, payout_account=_payout_account(reseller), language=language)


def commission_send(*, commission_id: int, now: datetime) -> bool:
    """Render the PDF (stored on first send) and e-mail it to the reseller's billing address. False without one."""
    commission = CommissionStatement.objects.select_related("reseller", "series").get(pk=commission_id)
    return send_issued_document(document=commission, pdf=commission_pdf.render(commission_document(commission)),
                                recipient=commission.reseller, template="commission",
                                context={"commission": commission, "reseller": commission.reseller}, now=now)


@transaction.atomic
def commission_resend(*, commission: CommissionStatement, acting_user: User, reason: str) -> None:
    """E-mail an issued commission statement again (audited); the send is queued after commit."""
    reason = (reason or "").strip()
    if acting_user is None or not reason:
        raise CommissionError(_("Give a reason for sending the commission statement again."))
    commission = CommissionStatement.objects.select_for_update().select_related("series", "reseller").get(
        pk=commission.pk)
    if commission.status != CommissionStatement.Status.ISSUED:
        raise CommissionError(_("Commission statement %(number)s is cancelled.")
                              % {"number": commission.display_number})
    record(action="commission.resend", target=commission, acting_user=acting_user, reason=reason,
           organization=commission.reseller)
    commission_id = commission.pk
    transaction.on_commit(lambda: _queue_send(commission_id), robust=True)

