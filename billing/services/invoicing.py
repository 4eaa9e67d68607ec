"""Resident invoices: the monthly invoice run, gapless numbering, credit notes, and e-mailing the PDF.

    summary = invoice_run(period=(2026, 3), organization=None, now=timezone.now(), dry_run=False)
    credit_note = invoice_credit(invoice=invoice, acting_user=user, reason="Wrong tariff", now=timezone.now())
    invoice_send(invoice_id=invoice.pk, now=timezone.now())        # renders the PDF, e-mails it, records sent_at
    invoice_resend(invoice=invoice, acting_user=user, reason="Lost it")   # audited; queues the e-mail after commit
    document = invoice_document(invoice)                            # the billing.documents.InvoiceDocument

Seller and series. The seller of a resident invoice is the operator: the association assigned its claim for the
charging to the operator (DOMAIN.md), so every resident invoice is numbered in the operator's one series
(``seller_series``; INVOICE_SELLER_SLUG or the organization of kind "operator") and names the association
(``Invoice.organization``) in the claim-assignment sentence. Numbers are taken with the series row locked
(``select_for_update``) inside the transaction that creates the invoice, so a number exists only together with its
invoice (no gaps on rollback) and concurrent runs queue for the lock (no duplicates).

The run. For each association: every resident (the driver of a session) with stopped, priced sessions of its stations
that started before the end of the period and are on no invoice yet (late sessions of earlier months included, so
none is lost), and every resident member when the association has active recurring fees, gets one invoice for the
period with a line per session and per fee not yet charged for the period. A resident already invoiced for the
period is skipped: sessions priced after that go on the next period's invoice. The buyers of an association are
issued in batches of INVOICE_RUN_BATCH, each in one transaction: take the series lock, look again (one query) which
buyers of the batch have an invoice of the period now, number the rest consecutively and store them and their lines
in bulk.
So numbers and invoices commit together, a second or a parallel run creates nothing twice (the parallel one waits for
the lock, then skips what the first committed), and unique constraints on the lines back this up. The run is the
system's act (no audit row); one e-mail task per invoice is queued after its batch commits. A dry run plans the same
invoices and writes nothing.

Money already there. A buyer's credit balance (overpayments, payments of credited invoices) is used on the new
invoice (a CREDIT_USE payment; an invoice it covers is paid at once), and an association that opted in has the amount
payable rounded to whole kronor (``Invoice.rounding``, printed as its own line).

Issued invoices are immutable: ``ensure_editable`` refuses any change but the status, the PDF and ``sent_at``;
corrections are credit notes (same series, negated lines, the original becomes "credited", audited).
"""

import calendar
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from functools import partial
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.mail import EmailMessage
from django.db import connection, transaction
from django.db.models import Q
from django.template.loader import render_to_string
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from accounts.models import Membership, Organization, User
from accounts.services.audit import record
from billing import documents, invoice_math
from billing.invoice_pdf import render
from billing.models import Invoice, InvoiceLine, InvoiceSeries, RecurringFee
from billing.ocr import invoice_ocr_base, ocr_reference
from billing.services import payments
from charging.models import ChargingSession
from csms import events

logger = logging.getLogger(__name__)

UNIT_PRICE_STEP = Decimal("0.00001")
EMAIL_LANGUAGES = ("sv", "en")


class InvoiceError(ValueError):
    """An invoice operation that cannot be done; the message is translated and meant for the user."""


# --- Series and numbers -----------------------------------------------------------------------------------------------


def invoice_seller() -> Organization:
    """The organization that sells (and numbers) resident invoices: INVOICE_SELLER_SLUG, else the operator."""
    if settings.INVOICE_SELLER_SLUG:
        seller = Organization.objects.filter(slug=settings.INVOICE_SELLER_SLUG).first()
        if seller is None:
            raise InvoiceError(_("The invoice seller %(slug)s does not exist.")
                               % {"slug": settings.INVOICE_SELLER_SLUG})
        return seller
    operators = list(Organization.objects.filter(kind=Organization.Kind.OPERATOR)[:2])
    if len(operators) != 1:
        raise InvoiceError(_("Set INVOICE_SELLER_SLUG: there is not exactly one operator organization."))
    return operators[0]


def seller_series(*, seller: Organization | None = None) -> InvoiceSeries:
    """The seller's series, created with INVOICE_SERIES_PREFIX the first time."""
    seller = seller or invoice_seller()
    series, _created = InvoiceSeries.objects.get_or_create(seller=seller,
                                                           defaults={"prefix": settings.INVOICE_SERIES_PREFIX})
    return series


def _take_number(series: InvoiceSeries) -> tuple[InvoiceSeries, int]:
    """The next number of ``series``, taken under the series row lock (call inside the issuing transaction)."""
    locked = InvoiceSeries.objects.select_for_update().get(pk=series.pk)
    number = locked.next_number
    locked.next_number = number + 1
    locked.save(update_fields=["next_number"])
    return locked, number


def _ocr(series: InvoiceSeries, number: int) -> str:
    return ocr_reference(invoice_ocr_base(prefix=series.prefix, number=number, width=settings.INVOICE_NUMBER_WIDTH))


def ensure_editable(invoice: Invoice) -> None:
    """Refuse to change an issued invoice (status, PDF and sent_at are set by the services only)."""
    if invoice.status != Invoice.Status.DRAFT:
        raise InvoiceError(_("Invoice %(number)s is issued and cannot be changed; issue a credit note instead.")
                           % {"number": invoice.display_number})


# --- The run ----------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Period:
    start: date
    end: date  # last day, inclusive
    ends_at: datetime  # the first instant after the period, local time

    @classmethod
    def of(cls, year: int, month: int) -> "Period":
        if not 1 <= month <= 12 or year < 2000:
            raise InvoiceError(_("%(year)s-%(month)s is not a valid invoice period.") % {"year": year, "month": month})
        last = calendar.monthrange(year, month)[1]
        end = date(year, month, last)
        zone = ZoneInfo(settings.TIME_ZONE)
        return cls(start=date(year, month, 1), end=end,
                   ends_at=datetime.combine(end + timedelta(days=1), time(0), tzinfo=zone))


@dataclass
class PlannedInvoice:
    """One invoice the run creates (or, in a dry run, would create)."""

    organization: str
    buyer_id: int
    sessions: int
    fees: int
    total: Decimal
    vat: Decimal
    number: str = ""


@dataclass
class InvoiceRunSummary:
    period: Period
    dry_run: bool
    invoices: list[PlannedInvoice] = field(default_factory=list)
    already_invoiced: int = 0
    skipped: list[str] = field(default_factory=list)

    @property
    def created(self) -> int:
        return 0 if self.dry_run else len(self.invoices)

    @property
    def sessions(self) -> int:
        return sum(item.sessions for item in self.invoices)

    @property
    def fees(self) -> int:
        return sum(item.fees for item in self.invoices)

    @property
    def total(self) -> Decimal:
        return sum((item.total for item in self.invoices), Decimal("0.00"))


@dataclass(frozen=True, slots=True)
class _Line:
    kind: str
    description: str
    math: invoice_math.InvoiceLine
    session_id: int | None = None
    fee_id: int | None = None
    started_at: datetime | None = None
    energy_wh: int | None = None


# Sessions are read as tuples of these fields (with their SessionCost and charge point, no model instances: building
# 200 000 of them was a quarter of a large run).
_SESSION_FIELDS = ("pk", "user_id", "started_at", "charge_point__display_name", "charge_point__identity",
                   "cost__currency", "cost__energy_wh", "cost__total_incl_vat", "cost__lines", "cost__tariffs")

# Buyers issued per transaction in a run: one series lock, one re-check and a few bulk inserts for all of them.


def _uninvoiced_sessions(organization: Organization, period: Period):
    return (ChargingSession.objects
            .filter(organization=organization, user__isnull=False, stopped_at__isnull=False,
                    started_at__lt=period.ends_at, cost__isnull=False)
            .exclude(status=ChargingSession.Status.ACTIVE)
            .exclude(invoice_lines__on_credit_note=False))


def _session_unit_price(*, energy_wh: int, total_incl_vat: Decimal, lines: list,
                        tariffs: list) -> tuple[Decimal, Decimal]:
    """(price per kWh incl. VAT, VAT rate) to print for a priced session (its SessionCost's fields). One energy price
    under one tariff is printed as it is (VAT added for a net tariff); otherwise the session's total over its kWh (the
    line total is always the SessionCost's)."""
    snapshots = {(snapshot["tariff"]["vat_mode"], Decimal(snapshot["tariff"]["vat_rate"])) for snapshot in tariffs}
    rate = next(iter(snapshots))[1] if len({rate for _mode, rate in snapshots}) == 1 else invoice_math.DEFAULT_VAT_RATE
    prices = {Decimal(line["unit_price"]) for line in lines if line["kind"] == "energy"}
    if len(prices) == 1 and len(snapshots) == 1:
        price = prices.pop()
        if next(iter(snapshots))[0] == "excl":
            price = price * (100 + rate) / 100
        return price.quantize(UNIT_PRICE_STEP, rounding=ROUND_HALF_UP), rate
    kwh = invoice_math.kwh_from_wh(energy_wh)
    if not kwh:
        return Decimal(0), rate
    return (total_incl_vat / kwh).quantize(UNIT_PRICE_STEP, rounding=ROUND_HALF_UP), rate


def _plan_lines(sessions: list[tuple], fees: list[RecurringFee], charged_fee_ids: set[int], is_resident: bool,
                summary: InvoiceRunSummary) -> list[_Line]:
    """The lines of one buyer's invoice: ``sessions`` (rows of _SESSION_FIELDS, in start order) and the
    organization's fees not in ``charged_fee_ids`` for the period."""
    lines: list[_Line] = []
    zone = ZoneInfo(settings.TIME_ZONE)
    for (pk, _user_id, started_at, display_name, identity, currency, energy_wh, total_incl_vat, cost_lines,
         tariffs) in sessions:
        if currency != settings.DEFAULT_CURRENCY:
            summary.skipped.append(_("Session %(pk)s is priced in %(currency)s, not %(invoice)s.")
                                   % {"pk": pk, "currency": currency, "invoice": settings.DEFAULT_CURRENCY})
            continue
        unit_price, rate = _session_unit_price(energy_wh=energy_wh, total_incl_vat=total_incl_vat, lines=cost_lines,
                                               tariffs=tariffs)
        charge_point = f"{display_name} ({identity})" if display_name else identity  # as str(ChargePoint)
        description = f"{started_at.astimezone(zone):%Y-%m-%d %H:%M} {charge_point}"[:200]
        lines.append(_Line(kind=InvoiceLine.Kind.SESSION, description=description, session_id=pk,
                           started_at=started_at, energy_wh=energy_wh,
                           math=invoice_math.energy_line(description=description, energy_wh=energy_wh,
                                                         unit_price=unit_price, vat_rate=rate,
                                                         amount=total_incl_vat)))
    if is_resident:
        for fee in fees:
            if fee.pk not in charged_fee_ids:
                lines.append(_Line(kind=InvoiceLine.Kind.FEE, description=fee.name, fee_id=fee.pk,
                                   math=invoice_math.fee_line(description=fee.name, amount=fee.amount,
                                                              vat_rate=fee.vat_rate)))
    return lines


def _line_rows(invoice: Invoice, lines: list[_Line], *, fee_period: date | None, credit: bool) -> list[InvoiceLine]:
    return [InvoiceLine(invoice=invoice, position=position, kind=line.kind, session_id=line.session_id,
                        fee_id=line.fee_id, on_credit_note=credit, buyer_id=invoice.buyer_id,
                        fee_period=fee_period if line.fee_id is not None else None, description=line.description,
                        started_at=line.started_at, energy_wh=line.energy_wh, quantity=line.math.quantity,
                        unit=line.math.unit, unit_price=line.math.unit_price, amount=line.math.total,
                        vat_rate=line.math.vat_rate)
            for position, line in enumerate(lines, start=1)]


# The columns _insert_run_lines writes, in its tuples' order (every concrete field but the primary key).
_RUN_LINE_FIELDS = ("invoice", "position", "kind", "session", "fee", "on_credit_note", "buyer", "fee_period",
                    "description", "started_at", "energy_wh", "quantity", "unit", "unit_price", "amount", "vat_rate")


def _insert_run_lines(invoices: list[tuple[Invoice, list[_Line]]], *, fee_period: date) -> None:
    """Store the lines of a batch of just-created invoices in one go: COPY on PostgreSQL, one prepared INSERT executed
    for all rows elsewhere (SQLite). ``bulk_create`` compiles every value of every row into the SQL text (16 fields ×
    200 000 lines took half of a 10 000-resident run), and PostgreSQL parses and plans an INSERT per row (executemany)
    or a long multi-row INSERT slowly. The values need no preparation but dates and datetimes, adapted as the ORM
    does (psycopg adapts them itself for COPY)."""
    meta = InvoiceLine._meta
    ops = connection.ops
    table = ops.quote_name(meta.db_table)
    columns = ", ".join(ops.quote_name(meta.get_field(name).column) for name in _RUN_LINE_FIELDS)
    copy = connection.vendor == "postgresql"
    adapt_date = (lambda value: value) if copy else ops.adapt_datefield_value
    adapt_datetime = (lambda value: value) if copy else ops.adapt_datetimefield_value
    period = adapt_date(fee_period)
    rows = [(invoice.pk, position, line.kind, line.session_id, line.fee_id, False, invoice.buyer_id,
             period if line.fee_id is not None else None, line.description, adapt_datetime(line.started_at),
             line.energy_wh, line.math.quantity, line.math.unit, line.math.unit_price, line.math.total,
             line.math.vat_rate)
            for invoice, lines in invoices for position, line in enumerate(lines, start=1)]
    with connection.cursor() as cursor:
        if copy:
            with cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as stream:
                for row in rows:
                    stream.write_row(row)
        else:
            cursor.executemany(f"INSERT INTO {table} ({columns}) VALUES ({', '.join(['%s'] * len(_RUN_LINE_FIELDS))})",
                               rows)


def _store_lines(invoice: Invoice, lines: list[_Line], *, fee_period: date | None, credit: bool) -> None:
    InvoiceLine.objects.bulk_create(_line_rows(invoice, lines, fee_period=fee_period, credit=credit))


def _issue(invoice: Invoice, series: InvoiceSeries, lines: list[_Line], now: datetime, *,
           fee_period: date | None, credit: bool) -> Invoice:
    """Number and store one ``invoice`` (a credit note) with ``lines``, taking the series lock in the caller's
    transaction."""
    series, number = _take_number(series)
    currency = settings.DEFAULT_CURRENCY
    totals = invoice_math.invoice_totals(lines=[line.math for line in lines])
    issue_date = timezone.localdate(now)
    invoice.series = series
    invoice.number = number
    invoice.ocr = _ocr(series, number)
    invoice.status = Invoice.Status.ISSUED
    invoice.issue_date = issue_date
    invoice.due_date = issue_date if credit else issue_date + timedelta(days=settings.INVOICE_DUE_DAYS)
    invoice.total, invoice.vat, invoice.taxable = totals.total, totals.vat, totals.taxable
    invoice.currency = currency
    invoice.save()
    _store_lines(invoice, lines, fee_period=fee_period, credit=credit)
    invoice_id = invoice.pk
    transaction.on_commit(lambda: _queue_send(invoice_id), robust=True)
    payments.publish_invoice(events.INVOICE_ISSUED, invoice)
    return invoice


def _queue_send(invoice_id: int, *, again: bool = False) -> None:
    from billing.tasks import send_invoice_task  # the tasks module imports this one

    send_invoice_task.delay(invoice_id, again=again)


def _organizations(period: Period, organization: Organization | None) -> list[Organization]:
    if organization is not None:
        return [organization]
    with_sessions = (ChargingSession.objects.filter(user__isnull=False, stopped_at__isnull=False,
                                                    started_at__lt=period.ends_at, cost__isnull=False)
                     .exclude(invoice_lines__on_credit_note=False).values("organization"))
    with_fees = RecurringFee.objects.filter(is_active=True).values("organization")
    return list(Organization.objects.filter(Q(pk__in=with_sessions) | Q(pk__in=with_fees)).order_by("name", "pk"))


@dataclass
class _OrganizationWork:
    """What the run reads once per organization (a handful of queries, not a few per resident)."""

    organization: Organization
    buyer_ids: list[int]
    fees: list[RecurringFee]
    resident_ids: set[int]


def _organization_work(org: Organization, period: Period) -> _OrganizationWork:
    fees = list(RecurringFee.objects.filter(organization=org, is_active=True, applies_to_residents=True)
                .order_by("name", "pk"))
    resident_ids = set(Membership.objects.filter(organization=org, role=Membership.Role.RESIDENT,
                                                 user__is_active=True).values_list("user_id", flat=True))
    buyers = set(_uninvoiced_sessions(org, period).values_list("user_id", flat=True).distinct())
    if fees:
        buyers |= resident_ids
    return _OrganizationWork(organization=org, buyer_ids=sorted(buyers), fees=fees, resident_ids=resident_ids)


@dataclass
class _BuyerPlan:
    """One buyer's invoice as planned from the reads before the lock."""

    buyer_id: int
    language: str
    lines: list[_Line]
    totals: invoice_math.InvoiceTotals

    def planned(self, org: Organization) -> PlannedInvoice:
        return PlannedInvoice(organization=org.slug, buyer_id=self.buyer_id, total=self.totals.total,
                              vat=self.totals.vat,
                              sessions=sum(1 for line in self.lines if line.session_id is not None),
                              fees=sum(1 for line in self.lines if line.fee_id is not None))


def invoice_run(*, period: tuple[int, int], organization: Organization | None = None, now: datetime,
                dry_run: bool = False, progress: Callable[[int, int], None] | None = None) -> InvoiceRunSummary:
    """Invoice ``period`` (year, month) for all associations or one; see the module docstring."""
    the_period = Period.of(*period)
    if the_period.ends_at > now:
        raise InvoiceError(_("The period %(start)s – %(end)s has not ended yet.")
                           % {"start": the_period.start, "end": the_period.end})
    series = seller_series()
    summary = InvoiceRunSummary(period=the_period, dry_run=dry_run)
    work = [_organization_work(org, the_period) for org in _organizations(the_period, organization)]
    total = sum(len(item.buyer_ids) for item in work)
    done = 0
    for item in work:
        # One organization at a time, its buyers in batches: bounded memory, few queries, few transactions.
        org, buyer_ids = item.organization, item.buyer_ids
        if not buyer_ids:
            continue
        invoiced = set(Invoice.objects.filter(kind=Invoice.Kind.INVOICE, organization=org,
                                              period_start=the_period.start).values_list("buyer_id", flat=True))
        charged: dict[int, set[int]] = {}
        if item.fees:
            for buyer_id, fee_id in InvoiceLine.objects.filter(fee__in=item.fees, fee_period=the_period.start,
                                                               on_credit_note=False).values_list("buyer_id",
                                                                                                 "fee_id"):
                charged.setdefault(buyer_id, set()).add(fee_id)
        size = settings.INVOICE_RUN_BATCH
        for start in range(0, len(buyer_ids), size):
            batch = buyer_ids[start:start + size]
            todo = [buyer_id for buyer_id in batch if buyer_id not in invoiced]
            summary.already_invoiced += len(batch) - len(todo)
            plans = _plan_batch(summary, item, todo, charged, the_period) if todo else []
            if dry_run:
                summary.invoices.extend(plan.planned(org) for plan in plans)
            elif plans:
                with transaction.atomic():
                    _plan_one(summary, org, the_period, plans, series=series, now=now)
            done += len(batch)
            if progress is not None:
                progress(done, total)
    return summary


def _plan_batch(summary: InvoiceRunSummary, work: _OrganizationWork, buyer_ids: list[int],
                charged: dict[int, set[int]], period: Period) -> list[_BuyerPlan]:
    """The invoices of ``buyer_ids`` (not invoiced for the period when read), from their uninvoiced sessions and the
    fees not yet charged; buyers with nothing to invoice get none."""
    languages = dict(User.objects.filter(pk__in=buyer_ids).values_list("pk", "language"))
    sessions: dict[int, list[tuple]] = {}
    for row in (_uninvoiced_sessions(work.organization, period).filter(user_id__in=buyer_ids)
                .order_by("user_id", "started_at", "pk").values_list(*_SESSION_FIELDS).iterator(chunk_size=5000)):
        sessions.setdefault(row[1], []).append(row)
    plans = []
    for buyer_id in buyer_ids:
        if buyer_id not in languages:
            continue
        lines = _plan_lines(sessions.pop(buyer_id, []), work.fees, charged.get(buyer_id, set()),
                            buyer_id in work.resident_ids, summary)
        if lines:
            plans.append(_BuyerPlan(buyer_id=buyer_id, language=languages[buyer_id], lines=lines,
                                    totals=invoice_math.invoice_totals(lines=[line.math for line in lines])))
    return plans


def _plan_one(summary: InvoiceRunSummary, org: Organization, period: Period, plans: list[_BuyerPlan], *,
              series: InvoiceSeries, now: datetime) -> None:
    """Issue the invoices of ``plans`` (one batch of the run, inside its transaction): lock the series, look again
    which buyers have an invoice of the period now (a parallel run that got the lock earlier has committed them, and
    the lines planned from the earlier read belong to those invoices), number the rest consecutively and store them
    and their lines with a few bulk inserts. Buyers with a credit balance have it used (their rows locked by
    ``credit_available``); the e-mails are queued after commit."""
    series = InvoiceSeries.objects.select_for_update().get(pk=series.pk)
    taken = set(Invoice.objects.filter(kind=Invoice.Kind.INVOICE, organization=org, period_start=period.start,
                                       buyer_id__in=[plan.buyer_id for plan in plans])
                .values_list("buyer_id", flat=True))
    currency = settings.DEFAULT_CURRENCY
    with_credit = payments.buyers_with_credit(buyer_ids=[plan.buyer_id for plan in plans if plan.buyer_id not in taken],
                                              currency=currency)
    issue_date = timezone.localdate(now)
    due_date = issue_date + timedelta(days=settings.INVOICE_DUE_DAYS)
    number = series.next_number
    issued: list[tuple[Invoice, _BuyerPlan, invoice_math.InvoiceTotals]] = []
    for plan in plans:
        if plan.buyer_id in taken:
            summary.already_invoiced += 1
            continue
        balance = (payments.credit_available(buyer_id=plan.buyer_id, currency=currency)
                   if plan.buyer_id in with_credit else Decimal("0.00"))
        totals = plan.totals
        if balance or org.round_invoices:
            totals = invoice_math.invoice_totals(lines=[line.math for line in plan.lines], credit_balance=balance,
                                                 round_to_krona=org.round_invoices)
        invoice = Invoice(kind=Invoice.Kind.INVOICE, buyer_id=plan.buyer_id, organization=org,
                          period_start=period.start, period_end=period.end,
                          language=plan.language if plan.language in EMAIL_LANGUAGES else "sv", series=series,
                          number=number, ocr=_ocr(series, number), status=Invoice.Status.ISSUED,
                          issue_date=issue_date, due_date=due_date, total=totals.total, vat=totals.vat,
                          taxable=totals.taxable, rounding=totals.rounding, currency=currency)
        if totals.payable <= 0 and totals.credit_applied == 0:
            invoice.status = Invoice.Status.PAID  # nothing to pay (rounded to 0)
        number += 1
        issued.append((invoice, plan, totals))
    if not issued:
        return
    Invoice.objects.bulk_create([invoice for invoice, _plan, _totals in issued])
    _insert_run_lines([(invoice, plan.lines) for invoice, plan, _totals in issued], fee_period=period.start)
    series.next_number = number
    series.save(update_fields=["next_number"])
    announced = []
    for invoice, plan, totals in issued:
        announced.append(payments.invoice_event(events.INVOICE_ISSUED, invoice))
        if totals.credit_applied:
            payments.credit_use(invoice=invoice, amount=totals.credit_applied, now=now)
        planned = plan.planned(org)
        planned.number = invoice.display_number
        summary.invoices.append(planned)
        transaction.on_commit(partial(_queue_send, invoice.pk), robust=True)
        if invoice.status == Invoice.Status.PAID and not totals.credit_applied:  # nothing to pay: paid as issued
            announced.append(payments.invoice_event(events.INVOICE_PAID, invoice))
    events.publish_many(announced)  # one after-commit call for the batch, not one per invoice


# --- Credit notes -----------------------------------------------------------------------------------------------------


def _stored_line(line: InvoiceLine) -> invoice_math.InvoiceLine:
    return invoice_math.InvoiceLine(description=line.description, quantity=line.quantity, unit=line.unit,
                                    unit_price=line.unit_price, vat_rate=line.vat_rate, amount=line.amount)


@transaction.atomic
def invoice_credit(*, invoice: Invoice, acting_user: User | None, reason: str, now: datetime) -> Invoice:
    """Issue a credit note for all of ``invoice`` in its series; the original becomes credited (audited)."""
    if not reason.strip():
        raise InvoiceError(_("Give a reason for the credit note."))
    original = Invoice.objects.select_for_update().select_related("series").get(pk=invoice.pk)
    if original.kind != Invoice.Kind.INVOICE:
        raise InvoiceError(_("A credit note cannot be credited."))
    if original.status not in (Invoice.Status.ISSUED, Invoice.Status.PAID):
        raise InvoiceError(_("Invoice %(number)s is %(status)s and cannot be credited.")
                           % {"number": original, "status": original.get_status_display()})
    lines = [_Line(kind=line.kind, description=line.description, session_id=line.session_id, fee_id=line.fee_id,
                   started_at=line.started_at, energy_wh=None if line.energy_wh is None else -line.energy_wh,
                   math=invoice_math.negated(_stored_line(line)))
             for line in original.lines.order_by("position")]
    note = Invoice(kind=Invoice.Kind.CREDIT_NOTE, credits=original, purpose=original.purpose,
                   buyer_id=original.buyer_id,
                   organization_id=original.organization_id, period_start=original.period_start,
                   period_end=original.period_end, language=original.language, reason=reason.strip(),
                   rounding=-original.rounding)
    _issue(note, original.series, lines, now, fee_period=original.period_start, credit=True)
    old_status = original.status
    original.status = Invoice.Status.CREDITED
    original.save(update_fields=["status"])
    # What was paid on the cancelled invoice is the buyer's money again: credit balance for the next invoice or a
    # refund.
    released = payments.credit_release(invoice=original, now=now, acting_user=acting_user, reason=reason)
    record(action="invoice.credit", target=original, acting_user=acting_user, reason=reason, at=now,
           changes={"status": (old_status, Invoice.Status.CREDITED), "credit_note": (None, note.display_number),
                    "credit_balance": (None, released.credited if released else Decimal("0.00"))})
    return note


# --- Document and e-mail ----------------------------------------------------------------------------------------------


def _address(org: Organization) -> tuple[str, ...]:
    return tuple(line for line in (org.street_address, f"{org.postal_code} {org.city}".strip()) if line)


def invoice_document(invoice: Invoice) -> documents.InvoiceDocument:
    """The printable document of an issued invoice or credit note, from its stored rows."""
    seller = invoice.series.seller
    association = invoice.organization
    if invoice.buyer_id is None:
        # An organization's own invoice (the platform subscription): the operator sells its own service.
        buyer = documents.Buyer(name=association.name, address_lines=_address(association),
                                customer_number=f"K{association.pk}", email=invoice.recipient_email)
        claim = None
    else:
        membership = Membership.objects.filter(user_id=invoice.buyer_id, organization=association).first()
        buyer_address = ((f"{association.name}, {membership.reference}",) if membership and membership.reference
                         else (association.name,)) + _address(association)
        buyer = documents.Buyer(name=str(invoice.buyer), address_lines=buyer_address,
                                customer_number=str(invoice.buyer_id), email=invoice.buyer.email or "")
        claim = documents.ClaimAssignment(association=association.name, operator=seller.name)
    lines: list[documents.DocumentLine] = []
    for line in invoice.lines.order_by("position"):
        if line.kind == InvoiceLine.Kind.SESSION:
            lines.append(documents.SessionLine(started_at=line.started_at, energy_wh=line.energy_wh,
                                               unit_price=line.unit_price, total=line.amount, vat_rate=line.vat_rate))
        else:
            lines.append(documents.FeeLine(description=line.description, quantity=line.quantity, unit=line.unit,
                                           unit_price=line.unit_price, total=line.amount, vat_rate=line.vat_rate))
    credit = invoice.kind == Invoice.Kind.CREDIT_NOTE
    credit_used = sum((payment.applied for payment in invoice.payments.all()
                       if payment.kind == payment.Kind.CREDIT_USE), Decimal("0.00"))
    totals = documents.document_totals(lines, credit_balance=credit_used, round_to_krona=invoice.rounding != 0)
    if not credit and totals.payable != invoice.payable_total - credit_used:
        raise InvoiceError(f"invoice {invoice.pk}: stored totals disagree with its lines")
    return documents.InvoiceDocument(
        kind=documents.DocumentKind.CREDIT_NOTE if credit else documents.DocumentKind.INVOICE,
        number=invoice.display_number, series=invoice.series.prefix, issue_date=invoice.issue_date,
        due_date=invoice.due_date, period_start=invoice.period_start, period_end=invoice.period_end,
        seller=documents.Seller(name=seller.name, address_lines=_address(seller), org_number=seller.org_number,
                                vat_number=seller.vat_number,
                                bankgiro=seller.bankgiro_number or settings.INVOICE_BANKGIRO,
                                email=seller.billing_email or seller.contact_email, phone=seller.contact_phone),
        buyer=buyer, lines=tuple(lines), totals=totals, ocr=invoice.ocr, claim=claim,
        language=invoice.language if invoice.language in documents.LANGUAGES else "sv",
        currency=invoice.currency, credited_invoice_number=invoice.credits.display_number if credit else "",
        pay_url="" if credit else payments.pay_url(invoice), time_zone=settings.TIME_ZONE)


def invoice_send(*, invoice_id: int, now: datetime, again: bool = False) -> bool:
    """Render the PDF (stored on first send), e-mail it to the buyer and record ``sent_at``. False when the buyer
    has no e-mail address (logged; the invoice stays unsent), or when it was sent already and ``again`` (a resend
    someone asked for) is not set — a task run a second time after its worker died sends nothing twice."""
    invoice = Invoice.objects.select_related("series__seller", "buyer", "organization", "credits").get(pk=invoice_id)
    if invoice.status == Invoice.Status.DRAFT:
        raise InvoiceError(_("A draft is not sent."))
    if invoice.sent_at is not None and not again:
        logger.info("invoice_send: %s was sent at %s already", invoice, invoice.sent_at.isoformat())
        return False
    if not invoice.recipient_email:
        logger.warning("invoice_send: %s has no e-mail address for buyer %s", invoice, invoice.recipient_name)
        return False
    pdf = render(invoice_document(invoice))
    language = invoice.language if invoice.language in EMAIL_LANGUAGES else "sv"
    context = {"invoice": invoice, "number": invoice.display_number, "seller": invoice.series.seller,
               "buyer": invoice.buyer or invoice.organization, "association": invoice.organization,
               "amount_due": payments.amount_due(invoice), "credit_note": invoice.kind == Invoice.Kind.CREDIT_NOTE}
    with translation.override(language):
        subject = " ".join(render_to_string(f"billing/email/invoice_subject_{language}.txt", context).split())
        body = render_to_string(f"billing/email/invoice_body_{language}.txt", context)
    message = EmailMessage(subject=subject, body=body, to=[invoice.recipient_email])
    message.attach(f"{invoice.display_number}.pdf", pdf, "application/pdf")
    message.send()
    with transaction.atomic():
        locked = Invoice.objects.select_for_update().get(pk=invoice.pk)
        if not locked.pdf:
            locked.pdf.save(f"{locked.display_number}.pdf", ContentFile(pdf), save=False)
        locked.sent_at = now
        locked.save(update_fields=["pdf", "sent_at"])
    return True


@transaction.atomic
def unsent_invoices_queue(*, now: datetime, limit: int = 1000) -> int:
    """Queue the send of issued invoices that have an e-mail address but are still unsent INVOICE_UNSENT_AFTER_MINUTES
    after issue: their send task was lost (the process died between the commit and queuing it). The periodic safety
    net behind the send queued at issue; sending skips what was sent meanwhile, so nothing goes out twice."""
    candidates = (Invoice.objects.exclude(status=Invoice.Status.DRAFT)
                  .filter(sent_at__isnull=True,
                          created_at__lt=now - timedelta(minutes=settings.INVOICE_UNSENT_AFTER_MINUTES))
                  .filter((Q(buyer__email__isnull=False) & ~Q(buyer__email=""))
                          | (Q(buyer__isnull=True) & (~Q(organization__billing_email="")
                                                      | ~Q(organization__contact_email=""))))
                  .order_by("pk").values_list("pk", flat=True)[:limit])
    queued = 0
    for invoice_id in candidates:
        _queue_send(invoice_id)
        queued += 1
    return queued


def invoice_resend(*, invoice: Invoice, acting_user: User | None, reason: str) -> None:
    """E-mail an issued invoice again (after commit), with an audit row saying who asked and why."""
    if not reason.strip():
        raise InvoiceError(_("Give a reason for sending the invoice again."))
    if invoice.status == Invoice.Status.DRAFT:
        raise InvoiceError(_("A draft is not sent."))
    record(action="invoice.resend", target=invoice, acting_user=acting_user, reason=reason)
    invoice_id = invoice.pk
    transaction.on_commit(lambda: _queue_send(invoice_id, again=True), robust=True)
