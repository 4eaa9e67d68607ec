"""Platform subscriptions: the quarterly invoice from the operator to each organization on a subscription plan.

    summary = subscription_run(quarter=(2026, 1), organization=None, now=timezone.now(), dry_run=False)

An organization whose billing profile names a subscription plan gets, after each calendar quarter, one invoice in the
operator's series (the same series and lock as resident invoices: gapless, with an OCR reference) with a line per
month: the charge points it had in service that month (created before the month ended and not decommissioned before
it began) × the plan's monthly price (excl. VAT; the line carries it incl. VAT like every invoice line). It is
``Invoice.Purpose.SUBSCRIPTION`` with no resident buyer: e-mailed to the organization's billing address after commit,
paid on the pay page (card) or by Bankgiro with its OCR, reminded by dunning like any invoice (no tags are blocked).
A second run for the quarter finds the invoice (checked under the series lock, and a unique constraint) and creates
nothing; the run is the system's act.
"""

import calendar
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import override

from accounts.models import Organization
from billing import invoice_math
from billing.models import BillingProfile, Invoice, InvoiceLine, InvoiceSeries
from billing.services import payments
from billing.services.invoicing import (
    EMAIL_LANGUAGES,
    InvoiceError,
    _Line,
    _ocr,
    _queue_send,
    _store_lines,
    seller_series,
)
from charging.models import ChargePoint
from csms import events

UNIT_PRICE_STEP = Decimal("0.00001")


@dataclass(frozen=True)
class Quarter:
    year: int
    number: int

    @classmethod
    def of(cls, year: int, number: int) -> "Quarter":
        if not 1 <= number <= 4:
            raise InvoiceError(_("A quarter is 1–4, not %(number)s.") % {"number": number})
        return cls(year=year, number=number)

    @property
    def months(self) -> list[tuple[date, date]]:
        first = 3 * (self.number - 1) + 1
        return [(date(self.year, month, 1), date(self.year, month, calendar.monthrange(self.year, month)[1]))
                for month in range(first, first + 3)]

    @property
    def start(self) -> date:
        return self.months[0][0]

    @property
    def end(self) -> date:
        return self.months[-1][1]

    def ends_at(self) -> datetime:
        return datetime.combine(self.end + timedelta(days=1), time(0), tzinfo=ZoneInfo(settings.TIME_ZONE))

    def __str__(self) -> str:
        return f"{self.year}-Q{self.number}"


@dataclass
class PlannedSubscription:
    organization: str
    charge_point_months: int
    total: Decimal
    number: str = ""


@dataclass
class SubscriptionRunSummary:
    quarter: Quarter
    dry_run: bool
    invoices: list[PlannedSubscription] = field(default_factory=list)
    already_invoiced: int = 0
    without_charge_points: int = 0


def previous_quarter(today: date) -> tuple[int, int]:
    """The quarter before the one ``today`` is in."""
    number = (today.month - 1) // 3 + 1
    return (today.year, number - 1) if number > 1 else (today.year - 1, 4)


def _charge_points_in_service(organization: Organization, month_start: date, month_end: date) -> int:
    zone = ZoneInfo(settings.TIME_ZONE)
    begins = datetime.combine(month_start, time(0), tzinfo=zone)
    ends = datetime.combine(month_end + timedelta(days=1), time(0), tzinfo=zone)
    return (ChargePoint.objects.filter(organization=organization, created_at__lt=ends)
            .filter(Q(decommissioned_at__isnull=True) | Q(decommissioned_at__gte=begins)).count())


def _lines(profile: BillingProfile, quarter: Quarter, language: str) -> list[_Line]:
    plan = profile.subscription_plan
    unit_price = (plan.monthly_per_charge_point * (1 + plan.vat_rate / 100)).quantize(UNIT_PRICE_STEP)
    lines = []
    with override(language):
        for month_start, month_end in quarter.months:
            count = _charge_points_in_service(profile.organization, month_start, month_end)
            if count:
                description = _("Platform subscription %(month)s: %(plan)s") % {
                    "month": month_start.strftime("%Y-%m"), "plan": plan.name}
                lines.append(_Line(kind=InvoiceLine.Kind.SUBSCRIPTION, description=description[:200],
                                   math=invoice_math.InvoiceLine(description=description, quantity=Decimal(count),
                                                                 unit="st", unit_price=unit_price,
                                                                 vat_rate=plan.vat_rate)))
    return lines


def subscription_run(*, quarter: tuple[int, int], organization: Organization | None = None, now: datetime,
                     dry_run: bool = False,
                     progress: Callable[[int, int], None] | None = None) -> SubscriptionRunSummary:
    """Invoice the platform subscription of ``quarter`` (year, 1–4) to every organization on a plan, or one."""
    the_quarter = Quarter.of(*quarter)
    if the_quarter.ends_at() > now:
        raise InvoiceError(_("The quarter %(quarter)s has not ended yet.") % {"quarter": the_quarter})
    profiles = (BillingProfile.objects.select_related("organization", "subscription_plan")
                .filter(subscription_plan__isnull=False, organization__is_active=True))
    if organization is not None:
        profiles = profiles.filter(organization=organization)
    profiles = list(profiles.order_by("organization__name", "pk"))
    summary = SubscriptionRunSummary(quarter=the_quarter, dry_run=dry_run)
    series = None if dry_run else seller_series()
    for done, profile in enumerate(profiles, start=1):
        if dry_run:
            _invoice_one(summary, profile, the_quarter, now, series=None)
        else:
            with transaction.atomic():
                _invoice_one(summary, profile, the_quarter, now, series=series)
        if progress is not None:
            progress(done, len(profiles))
    return summary


def _exists(org: Organization, quarter: Quarter) -> bool:
    return Invoice.objects.filter(organization=org, purpose=Invoice.Purpose.SUBSCRIPTION, kind=Invoice.Kind.INVOICE,
                                  period_start=quarter.start).exists()


def _invoice_one(summary: SubscriptionRunSummary, profile: BillingProfile, quarter: Quarter, now: datetime, *,
                 series: InvoiceSeries | None) -> None:
    org = profile.organization
    if series is not None:
        series = InvoiceSeries.objects.select_for_update().get(pk=series.pk)  # then look: a parallel run committed
    if _exists(org, quarter):
        summary.already_invoiced += 1
        return
    language = org.locale if org.locale in EMAIL_LANGUAGES else "sv"
    lines = _lines(profile, quarter, language)
    if not lines:
        summary.without_charge_points += 1
        return
    totals = invoice_math.invoice_totals(lines=[line.math for line in lines])
    planned = PlannedSubscription(organization=org.slug, total=totals.total,
                                  charge_point_months=int(sum(line.math.quantity for line in lines)))
    summary.invoices.append(planned)
    if series is None:
        return
    number = series.next_number
    series.next_number = number + 1
    series.save(update_fields=["next_number"])
    issue_date = timezone.localdate(now)
    invoice = Invoice.objects.create(
        series=series, number=number, ocr=_ocr(series, number), kind=Invoice.Kind.INVOICE,
        purpose=Invoice.Purpose.SUBSCRIPTION, buyer=None, organization=org, period_start=quarter.start,
        period_end=quarter.end, issue_date=issue_date,
        due_date=issue_date + timedelta(days=settings.SUBSCRIPTION_DUE_DAYS), currency=settings.DEFAULT_CURRENCY,
        total=totals.total, vat=totals.vat, taxable=totals.taxable, status=Invoice.Status.ISSUED, language=language)
    _store_lines(invoice, lines, fee_period=None, credit=False)
    planned.number = invoice.display_number
    invoice_id = invoice.pk
    transaction.on_commit(lambda: _queue_send(invoice_id), robust=True)
    payments.publish_invoice(events.INVOICE_ISSUED, invoice)
