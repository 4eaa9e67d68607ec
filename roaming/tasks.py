"""Queued and periodic work of roaming (OCPI). Thin: call a service, log the outcome."""

import logging
from datetime import timedelta

from celery import shared_task
from django.core.cache import cache
from django.utils import timezone

from roaming.services import commands as ocpi_commands
from roaming.services import pushes
from roaming.services import sessions as session_pushes

logger = logging.getLogger(__name__)


# --- pushes (the sending side; engineer O1 owns it) -------------------------------------------------------------

@shared_task
def push_send_task(push_id: int) -> bool:
    """Send one queued push to its partner (retried by ``pushes_send_due_task`` after a failure)."""
    return pushes.push_send(push_id=push_id)


@shared_task
def pushes_send_due_task() -> int:
    """Send every pending push whose next attempt is due (retries with backoff)."""
    due = pushes.due_pushes()
    for push_id in due:
        pushes.push_send(push_id=push_id)
    return len(due)


@shared_task
def push_evse_status_task(charge_point_id: int) -> int:
    """PATCH the changed EVSE statuses of a charge point to every locations Receiver (from the charger listener)."""
    return pushes.evse_status_push(charge_point_id=charge_point_id)


@shared_task
def location_push_task(location_id: int) -> int:
    """PUT one site's Location to every locations Receiver."""
    return pushes.location_push(location_id=location_id)


#: Cache key of the consistency job's last run (a lost key only widens the next run's window).
_CONSISTENCY_KEY = "roaming:locations_consistency:last_run"
#: Window of the first run, or after the cache was cleared.
_CONSISTENCY_DEFAULT_WINDOW = timedelta(days=1)


@shared_task
def locations_consistency_task() -> int:
    """Periodic: PUT again every published Location changed since the last run (catches changes no charger message
    announced, and pushes that were given up once the partner is back)."""
    started = timezone.now()
    since = cache.get(_CONSISTENCY_KEY) or started - _CONSISTENCY_DEFAULT_WINDOW
    queued = pushes.locations_changed_push(since=since)
    cache.set(_CONSISTENCY_KEY, started, None)
    if queued:
        logger.info("locations_consistency_task: %d location push(es) queued", queued)
    return queued


@shared_task
def tariffs_push_task() -> int:
    """Daily: PUT every published tariff to every tariffs Receiver (dynamic tariffs carry the day's spot prices)."""
    return pushes.tariffs_push()


# --- sessions and CDRs (engineer O2) ------------------------------------------------------------------------------

@shared_task
def session_push_task(session_id: int) -> bool:
    """PUT a roaming session to its eMSP (started, updated or ended)."""
    return session_pushes.session_push(session_id=session_id) is not None


@shared_task
def station_sessions_push_task(charge_point_id: int) -> int:
    """PUT the roaming sessions of a charge point that a charger message just changed."""
    return session_pushes.station_sessions_push(charge_point_id=charge_point_id)


@shared_task
def cdr_push_task(session_id: int) -> bool:
    """POST the CDR of a finished, priced roaming session to its eMSP (once)."""
    return session_pushes.cdr_push(session_id=session_id) is not None


@shared_task
def cdrs_push_due_task() -> int:
    """Consistency job: queue the CDR of every priced roaming session that has none queued yet."""
    due = session_pushes.cdrs_due()
    queued = sum(session_pushes.cdr_push(session_id=session_id) is not None for session_id in due)
    if queued:
        logger.info("cdrs_push_due_task: %d CDR(s) queued", queued)
    return queued


# --- commands and charging profiles (engineer O3) ---------------------------------------------------------------

@shared_task
def command_results_sweep_task() -> int:
    """Safety net of the commands module: TIMEOUT for accepted commands whose result never came, and another POST
    of CommandResults the eMSP did not take (roaming.services.commands.command_results_sweep)."""
    sent = ocpi_commands.command_results_sweep()
    if sent:
        logger.info("command_results_sweep_task: %d result(s) sent", sent)
    return sent
