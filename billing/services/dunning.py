"""Dunning: payment reminders of overdue resident invoices, blocking the buyer's tokens at the third, and unblocking
them when the invoice is paid.

    summary = dunning_run(today=timezone.localdate(), now=timezone.now())     # the daily task
    reminder_send(reminder_id=reminder.pk, now=timezone.now())                 # e-mails one reminder with its PDF
    dunning_unblock(invoice=invoice, now=now)                                  # payment_record calls it when paid
    dunning_local_lists_send(organization_ids=[...], now=now)                  # differential SendLocalList
    overdue_invoices(today=today)                                              # what dunning reminds about
    dunning_unblock_manually(invoice=invoice, acting_user=user, reason="Payment plan", now=now)   # admin action
    reminder_resend(invoice=invoice, acting_user=user, reason="Lost it", now=now)                 # admin action

Timeline. An issued, unpaid invoice gets reminder 1, 2 and 3 on the days DUNNING_REMINDER_DAYS (default 3, 10, 17)
after its due date, each at most once (unique (invoice, level)). A run creates at most one reminder per invoice, the
next missing level whose day has come: after days without runs the resident still gets every warning, one a day,
before anything is blocked. The run is the system's act; each reminder is created in its own transaction with the
invoice row locked, so reruns and parallel runs create nothing twice. The e-mail (with the reminder PDF,
"Påminnelse n") is queued after commit.

Fee. The reminder fee agreed with the residents (DUNNING_REMINDER_FEE, at most 60 SEK — a higher setting is refused)
is charged once per invoice, on the first reminder, as a line without VAT (a reminder fee is compensation, not a
supply). It is recorded on the reminder and printed; collecting it is not part of the invoice's total, so the
invoice counts as paid when its own total is.

Blocking. Reminder 3 blocks the buyer's active tokens with the reason "unpaid invoice <number>" (system actor,
audited by id_token_block) and remembers exactly those tokens. When a payment settles the invoice, payment_record
calls ``dunning_unblock`` in its transaction: the remembered tokens that are still blocked for this invoice (not
blocked again by a person for another reason, and not held by the third reminder of another unpaid invoice) are
unblocked (audited) and the reminder records when. Stations of the tokens' organizations that use a local list
(the charger accepted one) get a differential SendLocalList after commit, best effort: an offline charger refuses
the token anyway, since authorization checks the token's status.

Overdue. An invoice is overdue when it is issued (not a credit note), its due date has passed and the payments
applied to it do not cover its payable total (``overdue_invoices``): the run reminds only such invoices, and the admin's
"overdue" filter uses the same definition.

Unblocking by a person. When a payment plan is agreed, a person may unblock the tags of an unpaid invoice at
reminder 3 (``dunning_unblock_manually``, with a reason, audited). The same tokens as after a payment are unblocked,
and the third reminder records when, so it no longer holds them. Dunning blocks only when it creates a third
reminder, and an invoice gets each level once: the same invoice is never blocked again by the run, while another
invoice of the buyer that reaches its own third reminder blocks again.

Resending. ``reminder_resend`` e-mails the invoice's newest reminder again (audited); the e-mail goes out after the
commit, in the process that asked.
"""

import logging
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import EmailMessage
from django.db import IntegrityError, transaction
from django.db.models import DecimalField, F, OuterRef, QuerySet, Subquery, Sum, Value
from django.db.models.functions import Coalesce
from django.template.loader import render_to_string
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from accounts.models import IdToken, User
from accounts.services.audit import record
from accounts.services.tokens import id_token_block, id_token_unblock
from billing import documents
from billing.invoice_pdf import render
from billing.models import Invoice, Payment, Reminder
from billing.services.invoicing import EMAIL_LANGUAGES, invoice_document
from billing.services.payments import amount_due, amount_paid

logger = logging.getLogger(__name__)

LEVELS = (1, 2, 3)
BLOCKING_LEVEL = 3
#: Days to pay a reminder when no later reminder follows (the third).
LAST_REMINDER_PAY_DAYS = 7


class DunningError(ValueError):
    """Dunning cannot run as configured; the message is translated and meant for the operator."""


class DunningRefused(ValueError):
    """A person's dunning action (unblock, resend) that cannot be done; the message is translated and meant for
    them."""


@dataclass
class DunningSummary:
    reminders: list[Reminder] = field(default_factory=list)
    blocked_tokens: int = 0

    def count(self, level: int) -> int:
        return sum(1 for reminder in self.reminders if reminder.level == level)


def reminder_days() -> tuple[int, int, int]:
    """Days after the due date of reminders 1, 2 and 3; DunningError unless three increasing positive numbers."""
    days = tuple(settings.DUNNING_REMINDER_DAYS)
    if len(days) != len(LEVELS) or any(not isinstance(d, int) or d < 1 for d in days) or list(days) != sorted(
            set(days)):
        raise DunningError(_("DUNNING_REMINDER_DAYS must be three increasing numbers of days, not %(days)s.")
                           % {"days": days})
    return days


def reminder_fee() -> Decimal:
    """The agreed reminder fee in SEK; DunningError when it is not an amount from 0 to 60 SEK in whole öre."""
    try:
        fee = Decimal(str(settings.DUNNING_REMINDER_FEE).strip())
    except InvalidOperation:
        fee = None
    if fee is None or not fee.is_finite() or fee < 0 or fee != fee.quantize(Decimal("0.01")):
        raise DunningError(_("DUNNING_REMINDER_FEE %(fee)r is not an amount in SEK.")
                           % {"fee": settings.DUNNING_REMINDER_FEE})
    if fee > Reminder.MAX_FEE:
        raise DunningError(_("A reminder fee of %(fee)s SEK is more than the %(max)s SEK the law allows.")
                           % {"fee": fee, "max": Reminder.MAX_FEE})
    return fee.quantize(Decimal("0.01"))


def block_reason(invoice: Invoice) -> str:
    with translation.override(invoice.language if invoice.language in EMAIL_LANGUAGES else "sv"):
        return _("unpaid invoice %(number)s") % {"number": invoice.display_number}


def _next_level(invoice: Invoice, today: date, days: tuple[int, int, int]) -> int | None:
    sent = dict(invoice.reminders.values_list("level", "reminded_on"))
    if sent and max(sent.values()) >= today:
        return None  # one reminder a day at most
    for level, offset in zip(LEVELS, days, strict=True):
        if level in sent:
            continue
        return level if today >= invoice.due_date + timedelta(days=offset) else None
    return None


def overdue_invoices(*, today: date, queryset: QuerySet[Invoice] | None = None) -> QuerySet[Invoice]:
    """Invoices (of ``queryset``, default all) that are overdue on ``today``: issued, due before ``today``, and the
    payments applied to them (credit balance used included) do not cover the payable total, as ``amount_due`` counts.
    The sum is a subquery, so other joins of the caller cannot inflate it."""
    paid = (Payment.objects.filter(invoice=OuterRef("pk")).order_by().values("invoice")
            .annotate(total=Sum("applied")).values("total"))
    queryset = Invoice.objects.all() if queryset is None else queryset
    return (queryset.filter(kind=Invoice.Kind.INVOICE, status=Invoice.Status.ISSUED, due_date__lt=today)
            .alias(dunning_paid=Coalesce(Subquery(paid), Value(Decimal("0.00")),
                                         output_field=DecimalField(max_digits=12, decimal_places=2)))
            .filter(dunning_paid__lt=F("total") + F("rounding")))


def dunning_run(*, today: date, now: datetime) -> DunningSummary:
    """Create the reminders due ``today`` (see the module docstring); returns what was created."""
    days = reminder_days()
    fee = reminder_fee()
    summary = DunningSummary()
    overdue = (overdue_invoices(today=today).filter(due_date__lt=today - timedelta(days=days[0] - 1))
               .order_by("due_date", "pk").values_list("pk", flat=True))
    for invoice_id in list(overdue):
        try:
            reminder, blocked = _remind(invoice_id, today=today, now=now, days=days, fee=fee)
        except IntegrityError:
            # A parallel run created this level first.
            logger.info("dunning_run: invoice %s reminded by a parallel run", invoice_id)
            continue
        if reminder is not None:
            summary.reminders.append(reminder)
            summary.blocked_tokens += blocked
    return summary


@transaction.atomic
def _remind(invoice_id: int, *, today: date, now: datetime, days: tuple[int, int, int], fee: Decimal
            ) -> tuple[Reminder | None, int]:
    invoice = Invoice.objects.select_for_update().select_related("series").get(pk=invoice_id)
    if invoice.status != Invoice.Status.ISSUED or invoice.kind != Invoice.Kind.INVOICE:
        return None, 0
    due = amount_due(invoice)
    if due <= 0:
        return None, 0
    level = _next_level(invoice, today, days)
    if level is None:
        return None, 0
    pay_days = days[level] - days[level - 1] if level < BLOCKING_LEVEL else LAST_REMINDER_PAY_DAYS
    reminder = Reminder.objects.create(invoice=invoice, level=level, reminded_on=today,
                                       pay_by=today + timedelta(days=pay_days), amount_due=due,
                                       fee=fee if level == 1 else Decimal("0.00"), created_at=now)
    blocked: list[IdToken] = []
    if level == BLOCKING_LEVEL:
        blocked = _block(reminder, now)
    reminder_id = reminder.pk
    transaction.on_commit(lambda: _queue_reminder(reminder_id), robust=True)
    if blocked:
        organization_ids = sorted({token.organization_id for token in blocked})
        transaction.on_commit(lambda: _queue_local_lists(organization_ids), robust=True)
    return reminder, len(blocked)


def _block(reminder: Reminder, now: datetime) -> list[IdToken]:
    if reminder.invoice.buyer_id is None:
        return []  # an organization's subscription invoice: no resident's tags to block
    reason = block_reason(reminder.invoice)
    blocked = []
    for token in IdToken.objects.filter(user_id=reminder.invoice.buyer_id, status=IdToken.Status.ACTIVE):
        token = id_token_block(token=token, reason=reason, acting_user=None, now=now)
        if token.status == IdToken.Status.BLOCKED and token.blocked_reason == reason:
            blocked.append(token)
    # Tokens this buyer's other unpaid invoices blocked stay blocked until those are paid too: held here as well.
    held = IdToken.objects.filter(user_id=reminder.invoice.buyer_id, status=IdToken.Status.BLOCKED,
                                  dunning_reminders__unblocked_at__isnull=True,
                                  dunning_reminders__level=BLOCKING_LEVEL).exclude(
        pk__in=[token.pk for token in blocked]).distinct()
    reminder.blocked_tokens.add(*blocked, *held)
    return blocked


def dunning_unblock(*, invoice: Invoice, now: datetime, acting_user: User | None = None) -> list[IdToken]:
    """Unblock the tokens the third reminder of ``invoice`` blocked, now that it is paid; returns those unblocked.
    Runs in the caller's transaction (payment_record's)."""
    with transaction.atomic():
        reminder = (Reminder.objects.select_for_update().filter(invoice=invoice, level=BLOCKING_LEVEL,
                                                                unblocked_at__isnull=True).first())
        if reminder is None:
            return []
        reason = _("Invoice %(number)s is paid.") % {"number": invoice.display_number}
        unblocked, _kept = _release(reminder, invoice, reason=reason, acting_user=acting_user, now=now)
        return unblocked


def _release(reminder: Reminder, invoice: Invoice, *, reason: str, acting_user: User | None, now: datetime
             ) -> tuple[list[IdToken], list[IdToken]]:
    """Unblock the tokens ``reminder`` (the third, locked) holds that nothing else holds, record ``unblocked_at``
    and queue the local lists; ``(unblocked, kept blocked)``."""
    unblocked, kept = [], []
    for token in reminder.blocked_tokens.all():
        if token.status != IdToken.Status.BLOCKED:
            continue
        still_held = token.dunning_reminders.filter(unblocked_at__isnull=True, level=BLOCKING_LEVEL).exclude(
            pk=reminder.pk).filter(invoice__status=Invoice.Status.ISSUED).exists()
        # A person may have blocked it again for something else meanwhile: that block is theirs to lift.
        if still_held or token.blocked_reason not in block_reasons(invoice):
            kept.append(token)
            continue
        unblocked.append(id_token_unblock(token=token, reason=reason, acting_user=acting_user, now=now))
    reminder.unblocked_at = now
    reminder.save(update_fields=["unblocked_at"])
    if unblocked:
        organization_ids = sorted({token.organization_id for token in unblocked})
        transaction.on_commit(lambda: _queue_local_lists(organization_ids), robust=True)
    return unblocked, kept


@dataclass
class ManualUnblock:
    """What ``dunning_unblock_manually`` did: the tokens unblocked, and those left blocked because another unpaid
    invoice at reminder 3 holds them or a person blocked them again for another reason."""

    reminder: Reminder
    unblocked: list[IdToken]
    kept: list[IdToken]


def _person_and_reason(acting_user: User | None, reason: str) -> str:
    reason = (reason or "").strip()
    if acting_user is None or acting_user.pk is None:
        raise DunningRefused(_("Only a person can do this."))
    if not reason:
        raise DunningRefused(_("Give a reason."))
    return reason


@transaction.atomic
def dunning_unblock_manually(*, invoice: Invoice, acting_user: User, reason: str, now: datetime) -> ManualUnblock:
    """Unblock the tags the third reminder of the unpaid ``invoice`` blocked, because a person decided so (e.g. a
    payment plan was agreed); audited with their reason. The run never blocks for this invoice again (see the
    module docstring). DunningRefused (nothing written) when the invoice is not unpaid at reminder 3 with its tags
    still blocked."""
    reason = _person_and_reason(acting_user, reason)
    invoice = Invoice.objects.select_for_update().select_related("series").get(pk=invoice.pk)
    if invoice.kind != Invoice.Kind.INVOICE or invoice.status != Invoice.Status.ISSUED:
        raise DunningRefused(_("Invoice %(invoice)s is %(status)s: only an unpaid invoice's tags are unblocked "
                               "here.") % {"invoice": invoice, "status": invoice.get_status_display()})
    reminder = Reminder.objects.select_for_update().filter(invoice=invoice, level=BLOCKING_LEVEL).first()
    if reminder is None:
        raise DunningRefused(_("Invoice %(invoice)s has had no third reminder: no tags were blocked for it.")
                             % {"invoice": invoice})
    if reminder.unblocked_at is not None:
        raise DunningRefused(_("The tags blocked for invoice %(invoice)s were already unblocked on %(date)s.")
                             % {"invoice": invoice, "date": timezone.localdate(reminder.unblocked_at).isoformat()})
    unblocked, kept = _release(reminder, invoice, reason=reason, acting_user=acting_user, now=now)
    record(action="invoice.dunning_unblocked", target=invoice, acting_user=acting_user, reason=reason,
           organization=invoice.organization, at=now,
           changes={"unblocked_at": (None, now), "unblocked_tokens": (None, [token.pk for token in unblocked]),
                    "still_blocked_tokens": (None, [token.pk for token in kept])})
    return ManualUnblock(reminder=reminder, unblocked=unblocked, kept=kept)


@transaction.atomic
def reminder_resend(*, invoice: Invoice, acting_user: User, reason: str, now: datetime) -> Reminder:
    """E-mail the newest reminder of the unpaid ``invoice`` again (after commit), audited with the reason.
    DunningRefused (nothing written) when it has no reminder, is not unpaid, or the buyer has no e-mail address."""
    reason = _person_and_reason(acting_user, reason)
    invoice = (Invoice.objects.select_for_update(of=("self",)).select_related("series", "buyer", "organization")
               .get(pk=invoice.pk))
    reminder = invoice.reminders.order_by("-level").first()
    if reminder is None:
        raise DunningRefused(_("Invoice %(invoice)s has had no reminder yet: there is nothing to send again.")
                             % {"invoice": invoice})
    if invoice.kind != Invoice.Kind.INVOICE or invoice.status != Invoice.Status.ISSUED:
        raise DunningRefused(_("Invoice %(invoice)s is %(status)s: a reminder is only sent for an unpaid invoice.")
                             % {"invoice": invoice, "status": invoice.get_status_display()})
    if not invoice.recipient_email:
        raise DunningRefused(_("The buyer of invoice %(invoice)s has no e-mail address.") % {"invoice": invoice})
    record(action="invoice.reminder_resent", target=invoice, acting_user=acting_user, reason=reason,
           organization=invoice.organization, at=now, changes={"reminder": (None, reminder.level)})
    reminder_id = reminder.pk
    transaction.on_commit(lambda: _queue_reminder_again(reminder_id), robust=True)
    return reminder


def block_reasons(invoice: Invoice) -> tuple[str, ...]:
    """The reasons dunning gives when it blocks for ``invoice`` or (still held) for another invoice of its buyer."""
    reasons = {block_reason(other) for other in Invoice.objects.filter(
        buyer_id=invoice.buyer_id, reminders__level=BLOCKING_LEVEL).select_related("series").distinct()}
    return tuple(reasons | {block_reason(invoice)})


def _queue_reminder(reminder_id: int) -> None:
    from billing.tasks import send_reminder_task  # the tasks module imports this one

    send_reminder_task.delay(reminder_id)


def _queue_reminder_again(reminder_id: int) -> None:
    from billing.tasks import resend_reminder_task  # the tasks module imports this one

    resend_reminder_task.delay(reminder_id)


def _queue_local_lists(organization_ids: list[int]) -> None:
    from billing.tasks import dunning_local_lists_task

    dunning_local_lists_task.delay(organization_ids)


def reminder_document(reminder: Reminder) -> documents.InvoiceDocument:
    """The printed reminder: the invoice's lines, the fee line if one was charged, less what was paid already."""
    invoice = reminder.invoice
    base = invoice_document(invoice)
    lines = list(base.lines)
    if reminder.fee:
        with translation.override(base.language):
            lines.append(documents.fee_line(description=_("Reminder fee"), amount=reminder.fee,
                                            vat_rate=Decimal(0)))
    totals = documents.document_totals(lines, credit_balance=amount_paid(invoice),
                                       round_to_krona=invoice.rounding != 0)
    return documents.InvoiceDocument(
        kind=documents.DocumentKind.REMINDER, reminder_number=reminder.level, number=base.number, series=base.series,
        issue_date=reminder.reminded_on, due_date=reminder.pay_by, period_start=base.period_start,
        period_end=base.period_end, seller=base.seller, buyer=base.buyer, lines=tuple(lines), totals=totals,
        ocr=base.ocr, claim=base.claim, language=base.language, currency=base.currency, time_zone=base.time_zone)


def reminder_send(*, reminder_id: int, now: datetime) -> bool:
    """E-mail a reminder with its PDF and record ``sent_at``. False when already sent, when the invoice was paid
    meanwhile, or when the buyer has no e-mail address (logged)."""
    reminder = Reminder.objects.select_related("invoice__series__seller", "invoice__buyer",
                                               "invoice__organization").get(pk=reminder_id)
    if reminder.sent_at is not None:
        return False
    return _email_reminder(reminder, now)


def reminder_send_again(*, reminder_id: int, now: datetime) -> bool:
    """E-mail a reminder even if it was sent before (``reminder_resend`` queues this after its commit); records
    ``sent_at`` if it was never sent. False when the invoice was paid meanwhile or the buyer has no e-mail address."""
    reminder = Reminder.objects.select_related("invoice__series__seller", "invoice__buyer",
                                               "invoice__organization").get(pk=reminder_id)
    return _email_reminder(reminder, now)


def _email_reminder(reminder: Reminder, now: datetime) -> bool:
    invoice = reminder.invoice
    if invoice.status != Invoice.Status.ISSUED:
        return False
    if not invoice.recipient_email:
        logger.warning("reminder_send: %s has no e-mail address for buyer %s", invoice, invoice.recipient_name)
        return False
    document = reminder_document(reminder)
    pdf = render(document)
    language = invoice.language if invoice.language in EMAIL_LANGUAGES else "sv"
    context = {"reminder": reminder, "invoice": invoice, "number": invoice.display_number,
               "seller": invoice.series.seller, "buyer": invoice.buyer or invoice.organization,
               "association": invoice.organization, "payable": document.totals.payable,
               "blocking": reminder.level == BLOCKING_LEVEL}
    with translation.override(language):
        subject = " ".join(render_to_string(f"billing/email/reminder_subject_{language}.txt", context).split())
        body = render_to_string(f"billing/email/reminder_body_{language}.txt", context)
        file_name = _("Reminder-%(level)s-%(number)s.pdf") % {"level": reminder.level,
                                                             "number": invoice.display_number}
    message = EmailMessage(subject=subject, body=body, to=[invoice.recipient_email])
    message.attach(file_name, pdf, "application/pdf")
    message.send()
    Reminder.objects.filter(pk=reminder.pk, sent_at__isnull=True).update(sent_at=now)
    return True


def dunning_local_lists_send(*, organization_ids: list[int], now: datetime) -> int:
    """Send a differential local list to the stations of these organizations that use one (the charger accepted a
    list before). Best effort: failures are logged. Returns how many chargers accepted the update."""
    from charging import commands
    from charging.models import ChargePoint
    from charging.selectors.station_page import last_local_list
    from charging.services.remote import ACCEPTING_ANSWERS, send_local_list

    accepted = 0
    reason = _("Dunning blocked or unblocked tokens.")
    for charge_point in ChargePoint.objects.filter(organization_id__in=organization_ids).order_by("pk"):
        if last_local_list(charge_point)[1] is None:
            continue
        try:
            command = send_local_list(charge_point=charge_point, full=False, acting_user=None, reason=reason,
                                      now=now)
        except (commands.CommandFailed, ValidationError) as error:
            logger.info("dunning: local list of %s not updated: %s", charge_point, error)
            continue
        if (command.response or {}).get("status") in ACCEPTING_ANSWERS:
            accepted += 1
        else:
            logger.info("dunning: %s answered the local list with %s", charge_point, command.response)
    return accepted
