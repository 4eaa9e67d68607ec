"""Celery tasks of webhooks. Thin: one delivery attempt (retried with the backoff the service says), the e-mail that
an endpoint was disabled, and the periodic sweep (lost tasks queued again, old deliveries purged)."""

import logging

from celery import shared_task
from django.utils import timezone

from webhooks.services import deliveries_sweep, delivery_attempt, endpoint_disabled_notify

logger = logging.getLogger(__name__)


# acks_late: a worker lost mid-attempt leaves the message to be redelivered; the attempt number makes a copy of an
# attempt already made do nothing.
@shared_task(bind=True, max_retries=None, acks_late=True)
def deliver_webhook_task(self, delivery_id: int, attempt: int = 1) -> str:
    outcome = delivery_attempt(delivery_id=delivery_id, attempt=attempt, now=timezone.now())
    if outcome.retry_in is not None:
        logger.info("deliver_webhook_task: delivery %d attempt %d failed, retry in %d s", delivery_id, attempt,
                    outcome.retry_in)
        raise self.retry(args=(delivery_id, attempt + 1), kwargs={}, countdown=outcome.retry_in)
    return outcome.status


@shared_task(autoretry_for=(OSError,), retry_backoff=60, max_retries=5)
def notify_endpoint_disabled_task(endpoint_id: int) -> int:
    return len(endpoint_disabled_notify(endpoint_id=endpoint_id))


@shared_task
def sweep_webhook_deliveries_task() -> int:
    result = deliveries_sweep(now=timezone.now())
    if result.requeued or result.purged:
        logger.info("sweep_webhook_deliveries_task: %d delivery(ies) queued again, %d purged", result.requeued,
                    result.purged)
    return result.requeued
