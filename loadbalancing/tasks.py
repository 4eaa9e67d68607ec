"""Load balancing outside the server processes: the periodic safety recompute of every tree (and after a building
meter reading arrives through the API or a command). Commands reach chargers through the Redis channel layer."""

import logging

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from charging.commands import CommandFailed, send
from charging.models import ChargePoint
from loadbalancing import profiles, services
from loadbalancing.models import PowerGroup

logger = logging.getLogger(__name__)


def recompute(root_id: int) -> int:
    """Plan one tree and send what changed; returns how many profiles were sent."""
    sends = services.allocation_plan(root_id=root_id, now=timezone.now())
    for item in sends:
        ok, error = False, ""
        try:
            command = send(charge_point=ChargePoint.objects.get(pk=item.charge_point_id), action=item.action,
                           payload=item.payload, acting_user=None, reason="Load balancing",
                           timeout=settings.LOADBALANCING_COMMAND_TIMEOUT)
        except CommandFailed as failed:
            error = str(failed)
        else:
            ok = profiles.accepted(item.version, command.response)
            error = "" if ok else f"answered {command.response}"
        services.allocation_result(evse_id=item.evse_id, limit=item.limit, ok=ok, error=error, now=timezone.now())
    return len(sends)


@shared_task
def recompute_tree_task(root_id: int) -> int:
    return recompute(root_id)


@shared_task
def recompute_all_task() -> int:
    """Every active tree once (the safety net behind the event-driven recomputes)."""
    sent = 0
    for root_id in PowerGroup.objects.filter(parent__isnull=True, is_active=True).values_list("pk", flat=True):
        try:
            sent += recompute(root_id)
        except Exception:
            logger.exception("load balancing: tree %s not recomputed", root_id)
    return sent
