"""Periodic work of the charging domain. Thin: read the clock, call a service, log the outcome."""

import logging
from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from charging.models import OcppFrame
from charging.services.stations import charge_points_mark_offline

logger = logging.getLogger(__name__)


@shared_task
def mark_offline_charge_points_task() -> int:
    count = charge_points_mark_offline(now=timezone.now())
    if count:
        logger.info("mark_offline_charge_points_task: %d charge point(s) offline", count)
    return count


@shared_task
def purge_ocpp_frames_task() -> int:
    cutoff = timezone.now() - timedelta(days=settings.OCPP_FRAME_RETENTION_DAYS)
    deleted, _ = OcppFrame.objects.filter(at__lt=cutoff).delete()
    logger.info("purge_ocpp_frames_task: %d frame(s) older than %s removed", deleted, cutoff.date())
    return deleted
