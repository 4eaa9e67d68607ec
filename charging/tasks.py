"""Periodic and queued work of the charging domain. Thin: read the clock, call a service, log the outcome."""

import logging
from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from charging.models import OcppFrame
from charging.services.access import access_modes_sync
from charging.services.bookings import bookings_run
from charging.services.events import connection_events_purge
from charging.services.notifications import NotificationFailed, alarm_notify
from charging.services.stations import charge_points_mark_offline, charge_points_update_error_rates

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


@shared_task
def purge_connection_events_task() -> int:
    deleted = connection_events_purge(now=timezone.now())
    logger.info("purge_connection_events_task: %d connection event(s) removed", deleted)
    return deleted


@shared_task
def update_error_rates_task() -> int:
    changed = charge_points_update_error_rates(now=timezone.now())
    logger.info("update_error_rates_task: error rate of %d charge point(s) changed", changed)
    return changed


# alarm_notify is idempotent (each group is claimed before its e-mail goes out), so retrying is always safe.
@shared_task(autoretry_for=(NotificationFailed,), retry_backoff=30, retry_backoff_max=900, max_retries=8)
def notify_alarm_task(alarm_id: int) -> int:
    notifications = alarm_notify(alarm_id=alarm_id, now=timezone.now())
    sent = sum(1 for n in notifications if not n.suppressed)
    if notifications:
        logger.info("notify_alarm_task: alarm %d: %d e-mail(s) sent, %d held back", alarm_id, sent,
                    len(notifications) - sent)
    return sent


@shared_task
def sync_access_modes_task() -> int:
    switched = access_modes_sync(now=timezone.now())
    if switched:
        logger.info("sync_access_modes_task: %d charge point(s) switched mode", switched)
    return switched


@shared_task
def run_bookings_task() -> dict:
    result = bookings_run(now=timezone.now())
    if result.fulfilled or result.released or result.reserved:
        logger.info("run_bookings_task: %d fulfilled, %d released (no-show), %d reservation(s) sent",
                    result.fulfilled, result.released, result.reserved)
    return {"fulfilled": result.fulfilled, "released": result.released, "reserved": result.reserved}
