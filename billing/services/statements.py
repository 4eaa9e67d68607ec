"""The monthly self-billing statement of each association, its document and e-mail, and the payout it schedules.

    summary = statement_run(period=(2026, 3), organization=None, now=timezone.now(), dry_run=False)
    statement_send(statement_id=statement.pk, now=timezone.now())     # renders the PDF, e-mails the payee
    document = statement_document(statement)                           # billing.statement_documents.StatementDocument

What a statement of period P (a calendar month) accounts for, for an association with a billing profile:
- Resident invoices of P (the charging of P; issued on the 1st of P+1). Payout basis "paid" (the brochure's model):
  an invoice fully paid by the run is PAID and its money paid out; one that is not is listed UNPAID, and a later
  statement that finds it paid lists it PAID_LATE and pays it out then. Basis "invoiced": every invoice of P is paid
  out at once (INVOICED), paid or not. Each invoice's money is paid out once (a unique row per invoice).
- Invoices credited after their money was paid out: CREDITED, their amount taken back.
- Public sessions: stopped, priced sessions at the association's stations that no resident invoice carries and
  whose driver is not one of its residents (ad hoc, guests, roaming), up to the end of P and not on any statement
  yet (late ones are not lost). Roaming sessions (``roaming_party`` set) are paid out at the fee plan's share.
- The board's monthly fees on those invoices (and their öre rounding): the association's too, paid out in full.
- The operator's fee from the fee plan (billing.statement_math has the arithmetic) and the association's VAT status.

Numbering. A statement is the association's own invoice, so it is numbered in the association's series
(``InvoiceSeries`` with the association as seller, created with prefix ``STATEMENT_SERIES_PREFIX`` on first use),
taken under the series row lock in the statement's transaction: gapless, and a parallel or repeated run finds the
statement of the month and creates nothing. A statement whose payout is positive schedules a ``Payout`` on its
payout date; a negative one records what the association owes (status OWED). The PDF is e-mailed after commit.
"""

import calendar
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.mail import EmailMessage
from django.db import transaction
from django.db.models import Max, Q, Sum
from django.template.loader import render_to_string
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from accounts.models import Membership, Organization, User
from accounts.services.audit import record
from billing import statement_documents as docs
from billing import statement_math
from billing.invoice_math import vat_in
from billing.models import (
    BillingProfile,
    Invoice,
    InvoiceLine,
    InvoiceSeries,
    Payment,
    Payout,
    Statement,
    StatementInvoice,
    StatementSession,
)
from billing.services.invoicing import Period, invoice_seller
from billing.statement_pdf import render
from charging.models import ChargePoint, ChargingSession

logger = logging.getLogger(__name__)

_ZERO = Decimal("0.00")
_COUNTED = (StatementInvoice.Category.PAID, StatementInvoice.Category.PAID_LATE, StatementInvoice.Category.INVOICED)


class StatementError(ValueError):
    """A statement run that cannot be made; the message is translated and meant for the user."""


@dataclass
class PlannedStatement:
    organization: str
    payout: Decimal
    fee: Decimal
    total: Decimal
    invoices: int
    sessions: int
    number: str = ""


@dataclass
class StatementRunSummary:
    period: Period
    dry_run: bool
    statements: list[PlannedStatement] = field(default_factory=list)
    already_done: int = 0
    skipped: list[str] = field(default_factory=list)  # organizations without what a statement needs, and why


def statement_series(organization: Organization) -> InvoiceSeries:
    """The association's own number series (created on first use)."""
    series, _created = InvoiceSeries.objects.get_or_create(
        seller=organization, defaults={"prefix": settings.STATEMENT_SERIES_PREFIX})
    return series


def _paid_dates(invoice_ids: list[int], now: datetime) -> dict[int, datetime]:
    """When each invoice received the payment that completed it (the last one recorded up to ``now``)."""
    rows = (Payment.objects.filter(invoice_id__in=invoice_ids, paid_at__lte=now, applied__gt=0)
            .values("invoice_id").annotate(last=Max("paid_at")))
    return {row["invoice_id"]: row["last"] for row in rows}


@dataclass
class _InvoiceSplit:
    energy_wh: int = 0
    fees: Decimal = _ZERO  # the board's fee lines, incl. VAT
    fees_vat: Decimal = _ZERO


def _invoice_splits(invoice_ids: list[int]) -> dict[int, _InvoiceSplit]:
    """Per invoice: the energy of its session lines, and its fee lines with the VAT in them per rate."""
    splits: dict[int, _InvoiceSplit] = {}
    for row in (InvoiceLine.objects.filter(invoice_id__in=invoice_ids).values("invoice_id", "kind", "vat_rate")
                .annotate(wh=Sum("energy_wh"), amount=Sum("amount"))):
        split = splits.setdefault(row["invoice_id"], _InvoiceSplit())
        if row["kind"] == InvoiceLine.Kind.SESSION:
            split.energy_wh += row["wh"] or 0
        else:
            amount = Decimal(row["amount"]).quantize(Decimal("0.01"))
            split.fees += amount
            split.fees_vat += vat_in(amount, row["vat_rate"])
    return splits


@dataclass
class _Rows:
    invoices: list[StatementInvoice]
    sessions: list[StatementSession]


def _invoice_rows(org: Organization, period: Period, basis: str, now: datetime) -> list[StatementInvoice]:
    counted_ids = set(StatementInvoice.objects.filter(invoice__organization=org, category__in=_COUNTED)
                      .values_list("invoice_id", flat=True))
    taken_back_ids = set(StatementInvoice.objects.filter(invoice__organization=org,
                                                         category=StatementInvoice.Category.CREDITED)
                         .values_list("invoice_id", flat=True))
    listed_unpaid = set(StatementInvoice.objects.filter(invoice__organization=org,
                                                        category=StatementInvoice.Category.UNPAID)
                        .values_list("invoice_id", flat=True)) - counted_ids
    of_period = list(Invoice.objects.filter(organization=org, kind=Invoice.Kind.INVOICE,
                                            purpose=Invoice.Purpose.RESIDENT, period_start=period.start,
                                            issue_date__lte=timezone.localdate(now))
                     .exclude(pk__in=counted_ids).order_by("number"))
    earlier_unpaid = list(Invoice.objects.filter(pk__in=listed_unpaid).exclude(period_start=period.start)
                          .order_by("number"))
    credited = list(Invoice.objects.filter(pk__in=counted_ids - taken_back_ids, status=Invoice.Status.CREDITED)
                    .order_by("number"))
    ids = [invoice.pk for invoice in (*of_period, *earlier_unpaid, *credited)]
    paid_dates, splits = _paid_dates(ids, now), _invoice_splits(ids)
    rows: list[StatementInvoice] = []

    def add(invoice: Invoice, category: str, sign: int = 1) -> None:
        paid_at = paid_dates.get(invoice.pk)
        split = splits.get(invoice.pk, _InvoiceSplit())
        rows.append(StatementInvoice(invoice=invoice, category=category, energy_wh=sign * split.energy_wh,
                                     amount=sign * invoice.payable_total,
                                     fees_amount=sign * (split.fees + invoice.rounding), fees_vat=sign * split.fees_vat,
                                     paid_on=timezone.localdate(paid_at) if paid_at else None))

    for invoice in of_period:
        if invoice.status == Invoice.Status.CREDITED:
            continue  # cancelled before any payout: nothing to pay out or list
        if invoice.status == Invoice.Status.PAID and invoice.pk in paid_dates:
            add(invoice, StatementInvoice.Category.PAID)
        elif basis == statement_math.PayoutBasis.INVOICED:
            add(invoice, StatementInvoice.Category.INVOICED)
        else:
            add(invoice, StatementInvoice.Category.UNPAID)
    for invoice in earlier_unpaid:
        if invoice.status == Invoice.Status.PAID and invoice.pk in paid_dates:
            add(invoice, StatementInvoice.Category.PAID_LATE)
        elif invoice.status == Invoice.Status.ISSUED:
            add(invoice, StatementInvoice.Category.UNPAID)
    for invoice in credited:
        add(invoice, StatementInvoice.Category.CREDITED, sign=-1)
    return rows


def _public_sessions(org: Organization, period: Period) -> list[StatementSession]:
    residents = Membership.objects.filter(organization=org, role=Membership.Role.RESIDENT).values("user_id")
    sessions = (ChargingSession.objects.filter(organization=org, stopped_at__isnull=False,
                                               started_at__lt=period.ends_at, cost__isnull=False,
                                               statement_row__isnull=True)
                .exclude(invoice_lines__on_credit_note=False)
                .filter(Q(user__isnull=True) | ~Q(user_id__in=residents) | ~Q(roaming_party=""))
                .select_related("cost").order_by("started_at", "pk"))
    return [StatementSession(session=session, energy_wh=session.cost.energy_wh, amount=session.cost.total_incl_vat,
                             origin=(StatementSession.Origin.ROAMING if session.roaming_party
                                     else StatementSession.Origin.OWN))
            for session in sessions]


def _charging(rows) -> statement_math.Charging:
    """The energy and charging amount of statement rows added up (an invoice row's board fees left out)."""
    return statement_math.Charging.sum(
        statement_math.Charging(energy_wh=row.energy_wh, amount=row.amount - getattr(row, "fees_amount", _ZERO))
        for row in rows)


def _board_fees(rows) -> tuple[Decimal, Decimal]:
    return (sum((row.fees_amount for row in rows), _ZERO), sum((row.fees_vat for row in rows), _ZERO))


def _fee_plan(profile: BillingProfile) -> statement_math.FeePlan:
    plan = profile.fee_plan
    return statement_math.FeePlan(per_kwh=plan.per_kwh, percentage=plan.percentage,
                                  monthly_per_charge_point=plan.monthly_per_charge_point, vat_rate=plan.vat_rate,
                                  basis=statement_math.PayoutBasis(plan.basis))


def _totals(profile: BillingProfile, rows: _Rows, charge_points: int) -> statement_math.StatementTotals:
    counted = [row for row in rows.invoices
               if row.category in (*_COUNTED, StatementInvoice.Category.CREDITED)]
    own = [row for row in rows.sessions if row.origin == StatementSession.Origin.OWN]
    roaming = [row for row in rows.sessions if row.origin == StatementSession.Origin.ROAMING]
    board_fees, board_fees_vat = _board_fees(counted)
    return statement_math.statement_totals(
        board_fees=board_fees, board_fees_vat=board_fees_vat,
        personal=_charging(counted),
        public_own=_charging(own),
        public_roaming=_charging(roaming),
        fee_plan=_fee_plan(profile), charge_points=charge_points, roaming_share=profile.fee_plan.roaming_share,
        vat_exempt=profile.organization.vat_exempt)


def _organizations(organization: Organization | None) -> list[BillingProfile]:
    # Profiles without a fee plan are resellers': they get commission statements (billing.services.commissions).
    profiles = BillingProfile.objects.select_related("organization", "fee_plan").filter(organization__is_active=True,
                                                                                       fee_plan__isnull=False)
    if organization is not None:
        profiles = profiles.filter(organization=organization)
    return list(profiles.order_by("organization__name", "pk"))


def _issue_date(period: Period, now: datetime) -> date:
    return max(timezone.localdate(now), period.end + timedelta(days=1))


def statement_run(*, period: tuple[int, int], organization: Organization | None = None, now: datetime,
                  dry_run: bool = False, progress: Callable[[int, int], None] | None = None) -> StatementRunSummary:
    """Make the statements of ``period`` (year, month) for every association with a billing profile, or one."""
    the_period = Period.of(*period)
    if the_period.ends_at > now:
        raise StatementError(_("The period %(start)s – %(end)s has not ended yet.")
                             % {"start": the_period.start, "end": the_period.end})
    if organization is not None and not BillingProfile.objects.filter(organization=organization,
                                                                      fee_plan__isnull=False).exists():
        raise StatementError(_("%(organization)s has no billing profile with a fee plan.")
                             % {"organization": organization})
    summary = StatementRunSummary(period=the_period, dry_run=dry_run)
    profiles = _organizations(organization)
    for done, profile in enumerate(profiles, start=1):
        if dry_run:
            _statement_one(summary, profile, the_period, now, dry_run=True)
        else:
            with transaction.atomic():
                _statement_one(summary, profile, the_period, now, dry_run=False)
        if progress is not None:
            progress(done, len(profiles))
    return summary


def _statement_one(summary: StatementRunSummary, profile: BillingProfile, period: Period, now: datetime, *,
                   dry_run: bool) -> None:
    org = profile.organization
    series = statement_series(org) if not dry_run else None
    if series is not None:
        # Lock, then look: a parallel run that held the lock has committed this month's statement.
        series = InvoiceSeries.objects.select_for_update().get(pk=series.pk)
    if Statement.objects.filter(organization=org, period_start=period.start,
                                status=Statement.Status.ISSUED).exists():
        summary.already_done += 1
        return
    rows = _Rows(invoices=_invoice_rows(org, period, profile.fee_plan.basis, now),
                 sessions=_public_sessions(org, period))
    charge_points = ChargePoint.objects.filter(organization=org, decommissioned_at__isnull=True).count()
    totals = _totals(profile, rows, charge_points)
    planned = PlannedStatement(organization=org.slug, payout=totals.payout.incl, fee=totals.fee.incl,
                               total=totals.total.amount, invoices=len(rows.invoices), sessions=len(rows.sessions))
    summary.statements.append(planned)
    if series is None:
        return
    issue_date = _issue_date(period, now)
    number = series.next_number
    series.next_number = number + 1
    series.save(update_fields=["next_number"])
    statement = Statement.objects.create(
        organization=org, series=series, number=number, period_start=period.start, period_end=period.end,
        issue_date=issue_date, payout_date=issue_date + timedelta(days=profile.fee_plan.payout_days),
        payout_reference=org.payout_reference or f"{series.prefix}{number}", basis=profile.fee_plan.basis,
        vat_exempt=org.vat_exempt, currency=settings.DEFAULT_CURRENCY,
        personal_wh=totals.personal.energy_wh, personal_amount=totals.personal.amount,
        public_wh=totals.public.energy_wh, public_amount=totals.public.amount,
        roaming_amount=totals.public_roaming.amount, roaming_share=totals.roaming_share,
        total_wh=totals.total.energy_wh, total_amount=totals.total.amount, board_fees=totals.board_fees.incl,
        fee_excl=totals.fee.excl, fee_vat=totals.fee.vat, fee_incl=totals.fee.incl,
        payout_excl=totals.payout.excl, payout_vat=totals.payout.vat, payout_incl=totals.payout.incl,
        figures=_figures(profile, charge_points))
    for row in rows.invoices:
        row.statement = statement
    for row in rows.sessions:
        row.statement = statement
    StatementInvoice.objects.bulk_create(rows.invoices)
    StatementSession.objects.bulk_create(rows.sessions)
    if totals.payout.incl != 0:
        Payout.objects.create(statement=statement, organization=org, amount=totals.payout.incl,
                              currency=statement.currency, method=profile.payout_method,
                              due_date=statement.payout_date,
                              status=Payout.Status.SCHEDULED if totals.payout.incl > 0 else Payout.Status.OWED)
    planned.number = statement.display_number
    statement_id = statement.pk
    transaction.on_commit(lambda: _queue_send(statement_id), robust=True)


def _figures(profile: BillingProfile, charge_points: int) -> dict:
    plan = profile.fee_plan
    return {"fee_plan": {"name": plan.name, "per_kwh": str(plan.per_kwh), "percentage": str(plan.percentage),
                         "monthly_per_charge_point": str(plan.monthly_per_charge_point),
                         "vat_rate": str(plan.vat_rate), "basis": plan.basis,
                         "roaming_share": str(plan.roaming_share)},
            "charge_points": charge_points}


def _queue_send(statement_id: int) -> None:
    from billing.tasks import send_statement_task  # the tasks module imports this one

    send_statement_task.delay(statement_id)


# --- Document and e-mail ----------------------------------------------------------------------------------------------


def _party(org: Organization) -> docs.Party:
    address = tuple(line for line in (org.street_address, f"{org.postal_code} {org.city}".strip()) if line)
    return docs.Party(name=org.name, address_lines=address, org_number=org.org_number, vat_number=org.vat_number,
                      email=org.billing_email or org.contact_email, phone=org.contact_phone,
                      bankgiro=org.bankgiro_number)


def _stored_totals(statement: Statement) -> statement_math.StatementTotals:
    """The statement's figures computed again from its stored rows and plan (and checked against what was stored)."""
    figures = statement.figures
    plan = figures["fee_plan"]
    invoices = [row for row in statement.invoices.all()
                if row.category in (*_COUNTED, StatementInvoice.Category.CREDITED)]
    sessions = list(statement.sessions.all())
    board_fees, board_fees_vat = _board_fees(invoices)
    totals = statement_math.statement_totals(
        board_fees=board_fees, board_fees_vat=board_fees_vat,
        personal=_charging(invoices),
        public_own=_charging(row for row in sessions if row.origin == StatementSession.Origin.OWN),
        public_roaming=_charging(row for row in sessions if row.origin == StatementSession.Origin.ROAMING),
        fee_plan=statement_math.FeePlan(per_kwh=Decimal(plan["per_kwh"]), percentage=Decimal(plan["percentage"]),
                                        monthly_per_charge_point=Decimal(plan["monthly_per_charge_point"]),
                                        vat_rate=Decimal(plan["vat_rate"]),
                                        basis=statement_math.PayoutBasis(plan["basis"])),
        charge_points=figures["charge_points"], roaming_share=Decimal(plan["roaming_share"]),
        vat_exempt=statement.vat_exempt)
    if (totals.payout.incl, totals.fee.incl, totals.total.amount) != (statement.payout_incl, statement.fee_incl,
                                                                     statement.total_amount):
        raise StatementError(f"statement {statement.pk}: stored figures disagree with its rows")
    return totals


def _appendix(row: StatementInvoice) -> docs.AppendixInvoice:
    invoice = row.invoice
    return docs.AppendixInvoice(number=invoice.display_number, resident=str(invoice.buyer), due_date=invoice.due_date,
                                amount=row.amount, paid_date=row.paid_on)


def statement_document(statement: Statement) -> docs.StatementDocument:
    """The printable statement, from its stored rows."""
    org = statement.organization
    rows = list(statement.invoices.select_related("invoice__series", "invoice__buyer"))
    by_category = {category: tuple(_appendix(row) for row in rows if row.category == category)
                   for category in StatementInvoice.Category.values}
    sessions = tuple(docs.PublicSession(started_at=row.session.started_at, station=str(row.session.charge_point),
                                        energy_wh=row.energy_wh, amount=row.amount,
                                        roaming_party=row.session.roaming_party)
                     for row in statement.sessions.select_related("session__charge_point"))
    profile = BillingProfile.objects.filter(organization=org).first()
    account = ""
    if profile is not None and profile.payout_method == BillingProfile.Method.BANK_FILE:
        account = (f"Bankgiro {org.bankgiro_number}" if org.bankgiro_number
                   else profile.iban or f"{profile.clearing_number} {profile.account_number}".strip())
    elif profile is not None:
        account = "Stripe"
    return docs.StatementDocument(
        number=statement.display_number, issue_date=statement.issue_date, period_start=statement.period_start,
        period_end=statement.period_end, seller=_party(org), buyer=_party(invoice_seller()),
        totals=_stored_totals(statement), payout_date=statement.payout_date,
        payout_reference=statement.payout_reference, payout_account=account,
        paid_invoices=by_category[StatementInvoice.Category.PAID] + by_category[StatementInvoice.Category.INVOICED],
        unpaid_invoices=by_category[StatementInvoice.Category.UNPAID],
        late_paid_invoices=by_category[StatementInvoice.Category.PAID_LATE], public_sessions=sessions,
        language=org.locale if org.locale in docs.LANGUAGES else "sv", time_zone=settings.TIME_ZONE)


def send_issued_document(*, document, pdf: bytes, recipient: Organization, template: str, context: dict,
                         now: datetime) -> bool:
    """Store ``document``'s PDF on first send, e-mail it to ``recipient``'s billing (or contact) address in its
    language with ``billing/email/<template>_{subject,body}_<language>.txt`` and record ``sent_at``. False when the
    organization has no address (logged; the PDF is stored all the same). For statements and commission
    statements."""
    model = type(document)
    with transaction.atomic():
        locked = model.objects.select_for_update().get(pk=document.pk)
        if not locked.pdf:
            locked.pdf.save(f"{document.display_number}.pdf", ContentFile(pdf), save=False)
            locked.save(update_fields=["pdf"])
    to = recipient.billing_email or recipient.contact_email
    if not to:
        logger.warning("%s %s: %s has no billing or contact e-mail", template, document.display_number, recipient)
        return False
    language = recipient.locale if recipient.locale in ("sv", "en") else "sv"
    context = {"number": document.display_number, "operator": invoice_seller(), **context}
    with translation.override(language):
        subject = " ".join(render_to_string(f"billing/email/{template}_subject_{language}.txt", context).split())
        body = render_to_string(f"billing/email/{template}_body_{language}.txt", context)
    message = EmailMessage(subject=subject, body=body, to=[to])
    message.attach(f"{document.display_number}.pdf", pdf, "application/pdf")
    message.send()
    model.objects.filter(pk=document.pk).update(sent_at=now)
    return True


def statement_send(*, statement_id: int, now: datetime) -> bool:
    """Render the PDF (stored on first send) and e-mail it to the association's billing address. False without one."""
    statement = Statement.objects.select_related("organization", "series").get(pk=statement_id)
    return send_issued_document(document=statement, pdf=render(statement_document(statement)),
                                recipient=statement.organization, template="statement",
                                context={"statement": statement, "organization": statement.organization}, now=now)


@transaction.atomic
def statement_resend(*, statement: Statement, acting_user: User, reason: str) -> None:
    """E-mail an issued statement again (audited); the send is queued after commit."""
    reason = (reason or "").strip()
    if acting_user is None or not reason:
        raise StatementError(_("Give a reason for sending the statement again."))
    statement = Statement.objects.select_for_update().select_related("series").get(pk=statement.pk)
    if statement.status != Statement.Status.ISSUED:
        raise StatementError(_("Statement %(number)s is cancelled.") % {"number": statement.display_number})
    record(action="statement.resend", target=statement, acting_user=acting_user, reason=reason,
           organization=statement.organization)
    statement_id = statement.pk
    transaction.on_commit(lambda: _queue_send(statement_id), robust=True)


def previous_period(today: date) -> tuple[int, int]:
    """The month before ``today``'s month."""
    first = today.replace(day=1) - timedelta(days=1)
    return first.year, first.month


def is_last_day_of_month(today: date) -> bool:
    return today.day == calendar.monthrange(today.year, today.month)[1]

