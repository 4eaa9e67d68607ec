"""Periodic and queued work of billing. Thin: read the clock, call a service, log the outcome."""

import logging
from datetime import date, timedelta

from celery import shared_task
from django.utils import timezone

from billing.services.adhoc import adhoc_settle_due
from billing.services.session_pricing import SessionNotPriceable, session_price, sessions_price_missing
from billing.services.spot_prices import fetch_days
from charging.models import ChargingSession

logger = logging.getLogger(__name__)


@shared_task
def fetch_spot_prices_task(day: str | None = None, force: bool = False) -> int:
    """Fetch ``day`` (ISO date; default tomorrow, local time) for SE1–SE4 from SPOT_PRICE_SOURCE. Areas already
    covered are skipped, so the later runs of the day only retry what failed. Returns how many prices were stored."""
    target = date.fromisoformat(day) if day else timezone.localdate() + timedelta(days=1)
    outcomes = fetch_days(day=target, now=timezone.now(), force=force)
    stored = 0
    for outcome in outcomes:
        if outcome.error:
            logger.warning("fetch_spot_prices_task: %s %s from %s failed: %s", outcome.area, outcome.day,
                           outcome.source, outcome.error)
        elif outcome.stored is not None:
            stored += outcome.stored.created + outcome.stored.updated
            logger.info("fetch_spot_prices_task: %s %s from %s: %d new, %d changed, %d unchanged", outcome.area,
                        outcome.day, outcome.source, outcome.stored.created, outcome.stored.updated,
                        outcome.stored.unchanged)
    return stored


@shared_task
def price_session_task(session_id: int) -> str:
    """Price a finished session and store its cost (queue it once the session's stop has committed)."""
    try:
        cost = session_price(session=ChargingSession.objects.get(pk=session_id), now=timezone.now())
    except SessionNotPriceable as error:
        logger.warning("price_session_task: session %d not priced: %s", session_id, error)
        return ""
    return f"{cost.total_incl_vat} {cost.currency}"


@shared_task
def price_missing_sessions_task() -> str:
    """Price finished sessions whose price_session_task was never queued (the broker was away when they stopped)."""
    priced, refused = sessions_price_missing(now=timezone.now(), settled_for=timedelta(minutes=10),
                                             lookback=timedelta(days=62))
    if priced or refused:
        logger.warning("price_missing_sessions_task: %d sessions priced late, %d cannot be priced", priced, refused)
    return f"{priced} priced, {refused} not priceable"


@shared_task
def invoice_run_task(period: str | None = None) -> int:
    """Invoice ``period`` ("YYYY-MM"; default the previous month, local time) for every association. Returns how many
    invoices were created."""
    from billing.services.invoicing import invoice_run  # keeps the worker's import of tasks light

    now = timezone.now()
    if period:
        year, month = (int(part) for part in period.split("-"))
    else:
        last_month = timezone.localdate(now).replace(day=1) - timedelta(days=1)
        year, month = last_month.year, last_month.month
    summary = invoice_run(period=(year, month), now=now)
    for problem in summary.skipped:
        logger.warning("invoice_run_task %04d-%02d: %s", year, month, problem)
    logger.info("invoice_run_task %04d-%02d: %d invoices, %d sessions, %d fees, %s total, %d already invoiced",
                year, month, summary.created, summary.sessions, summary.fees, summary.total,
                summary.already_invoiced)
    return summary.created


@shared_task
def send_invoice_task(invoice_id: int, again: bool = False) -> bool:
    """Render and e-mail an issued invoice (queued after the commit that issued it, or by a resend: ``again``)."""
    from billing.services.invoicing import invoice_send

    sent = invoice_send(invoice_id=invoice_id, now=timezone.now(), again=again)
    if sent:
        # The customer has the invoice first; a saved card is then charged (a failure e-mails the pay link).
        charge_saved_card_task.delay(invoice_id)
    return sent


@shared_task
def send_unsent_invoices_task() -> int:
    """Every 10 minutes: queue the e-mail of issued invoices whose send was never queued (see unsent_invoices_queue)."""
    from billing.services.invoicing import unsent_invoices_queue

    queued = unsent_invoices_queue(now=timezone.now())
    if queued:
        logger.warning("send_unsent_invoices_task: %d issued invoice(s) had not been sent; queued again", queued)
    return queued


@shared_task
def charge_saved_card_task(invoice_id: int) -> str:
    """Charge the buyer's saved card for an issued invoice (queued after its e-mail). Returns what happened."""
    from billing.models import Invoice
    from billing.services.payments import invoice_charge_saved_card

    result = invoice_charge_saved_card(invoice=Invoice.objects.get(pk=invoice_id))
    logger.info("charge_saved_card_task: invoice %d: %s", invoice_id, result)
    return result


@shared_task
def dunning_run_task(day: str | None = None) -> int:
    """Send the payment reminders due ``day`` (ISO date; default today, local time) and block at the third. Returns
    how many reminders were created."""
    from billing.services.dunning import dunning_run

    now = timezone.now()
    today = date.fromisoformat(day) if day else timezone.localdate(now)
    summary = dunning_run(today=today, now=now)
    logger.info("dunning_run_task %s: reminders 1/2/3: %d/%d/%d, %d tokens blocked", today, summary.count(1),
                summary.count(2), summary.count(3), summary.blocked_tokens)
    return len(summary.reminders)


@shared_task
def send_reminder_task(reminder_id: int) -> bool:
    """Render and e-mail a payment reminder (queued after the commit that created it)."""
    from billing.services.dunning import reminder_send

    return reminder_send(reminder_id=reminder_id, now=timezone.now())


@shared_task
def dunning_local_lists_task(organization_ids: list[int]) -> int:
    """Send a differential local list to these organizations' stations that use one, after dunning blocked or
    unblocked tokens. Best effort: returns how many chargers accepted it."""
    from billing.services.dunning import dunning_local_lists_send

    return dunning_local_lists_send(organization_ids=organization_ids, now=timezone.now())


@shared_task
def statement_run_task(period: str | None = None) -> int:
    """The self-billing statements of ``period`` ("YYYY-MM"); without one, on the last day of a month, of the month
    before it (as the brochure: March's statement on 30 April). Returns how many statements were made."""
    from billing.services.statements import is_last_day_of_month, previous_period, statement_run

    now = timezone.now()
    if period:
        year, month = (int(part) for part in period.split("-"))
    else:
        today = timezone.localdate(now)
        if not is_last_day_of_month(today):
            return 0
        year, month = previous_period(today)
    summary = statement_run(period=(year, month), now=now)
    logger.info("statement_run_task %04d-%02d: %d statements, %d already made", year, month,
                len(summary.statements), summary.already_done)
    return len(summary.statements)


@shared_task
def send_statement_task(statement_id: int) -> bool:
    """Render and e-mail a self-billing statement to the association (queued after the commit that made it)."""
    from billing.services.statements import statement_send

    return statement_send(statement_id=statement_id, now=timezone.now())


@shared_task
def resend_reminder_task(reminder_id: int) -> bool:
    """E-mail a reminder again (queued by dunning.reminder_resend after its commit)."""
    from billing.services.dunning import reminder_send_again

    return reminder_send_again(reminder_id=reminder_id, now=timezone.now())


@shared_task
def payouts_execute_task() -> int:
    """Transfer the Stripe payouts due today (bank-file payouts wait for a person to export them)."""
    from billing.services.payouts import payouts_execute

    now = timezone.now()
    summary = payouts_execute(today=timezone.localdate(now), now=now)
    logger.info("payouts_execute_task: %d paid, %d failed, %d waiting for a bank file", len(summary.paid),
                len(summary.failed), summary.waiting_for_file)
    return len(summary.paid)


@shared_task
def subscription_run_task(quarter: str | None = None) -> int:
    """Invoice the platform subscription of ``quarter`` ("YYYY-Qn"; default the quarter before today's). Returns
    how many invoices were created."""
    from billing.services.subscriptions import previous_quarter, subscription_run

    now = timezone.now()
    if quarter:
        year, number = (int(part) for part in quarter.upper().split("-Q"))
    else:
        year, number = previous_quarter(timezone.localdate(now))
    summary = subscription_run(quarter=(year, number), now=now)
    logger.info("subscription_run_task %d-Q%d: %d invoices, %d already invoiced", year, number,
                len(summary.invoices), summary.already_invoiced)
    return len(summary.invoices)


@shared_task
def commission_run_task(period: str | None = None) -> int:
    """Resellers' commission statements of ``period`` ("YYYY-MM"); without one, on the last day of a month, of the
    month before it (after that month's self-billing statements). Returns how many were made."""
    from billing.services.commissions import commission_run
    from billing.services.statements import is_last_day_of_month, previous_period

    now = timezone.now()
    if period:
        year, month = (int(part) for part in period.split("-"))
    else:
        today = timezone.localdate(now)
        if not is_last_day_of_month(today):
            return 0
        year, month = previous_period(today)
    summary = commission_run(period=(year, month), now=now)
    logger.info("commission_run_task %04d-%02d: %d commission statements, %d already made", year, month,
                len(summary.commissions), summary.already_done)
    return len(summary.commissions)


@shared_task
def send_commission_task(commission_id: int) -> bool:
    """Render and e-mail a commission statement to the reseller (queued after the commit that made it)."""
    from billing.services.commissions import commission_send

    return commission_send(commission_id=commission_id, now=timezone.now())


@shared_task
def adhoc_settle_task() -> int:
    """Capture (or cancel) the card pre-authorizations of ad-hoc charges that ended or never started, for guests
    who closed the page before their session ended."""
    settled = adhoc_settle_due(now=timezone.now())
    if settled:
        logger.info("adhoc_settle_task: %d ad-hoc payments settled", settled)
    return settled
