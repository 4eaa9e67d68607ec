"""Periodic work of the accounts domain. Thin: read the clock, call a service, log the outcome."""

import logging

from celery import shared_task
from django.utils import timezone

from accounts.services.tokens import id_tokens_expire_due

logger = logging.getLogger(__name__)


@shared_task
def expire_id_tokens_task() -> int:
    count = id_tokens_expire_due(now=timezone.now())
    logger.info("expire_id_tokens_task: %d token(s) expired", count)
    return count
