"""The load balancer inside a server process: it hears what chargers report, recomputes their fuse tree and sends the
new limits, without ever making a charger's own connection wait.

The charging gateway calls ``on_charger_message`` (registered in ``LoadbalancingConfig.ready``) after answering a
CALL and when a charger connects. Only what matters is acted on: a transaction starting or ending, a status change,
meter values (dynamic modes only: a static tree never reacts to them) and a car's charging needs (ISO 15118, 2.0.1
NotifyEVChargingNeeds: stored for smart charging); a reconnect marks the charger's limits
unconfirmed so they are sent again once it is marked connected. Currents measured by the chargers are taken from the
payloads (``Current.Import``, the highest phase) as they arrive.

Per tree one recompute runs at a time; triggers that arrive meanwhile make it run once more afterwards (coalescing a
burst of meter values into one plan). The plan (loadbalancing.services.allocation_plan) runs in the database thread;
the SetChargingProfile calls go out concurrently through ``charging.commands.send_async``, and each answer is recorded
with ``allocation_result``.
"""

import asyncio
import logging
from decimal import Decimal, InvalidOperation

from channels.db import database_sync_to_async
from django.conf import settings
from django.utils import timezone

from charging.commands import CommandFailed, send_async
from charging.models import ChargePoint
from loadbalancing import profiles, services

logger = logging.getLogger(__name__)

_TRANSACTION_ACTIONS = {"StartTransaction", "StopTransaction", "TransactionEvent", "StatusNotification"}
_METER_ACTIONS = {"MeterValues", "TransactionEvent"}
_NEEDS = "NotifyEVChargingNeeds"


def measured_currents(version: str, action: str, payload: dict) -> dict[int, Decimal]:
    """The highest ``Current.Import`` per EVSE number in a MeterValues or TransactionEvent payload."""
    if action == "MeterValues":
        evse = payload.get("connectorId") if version != "2.0.1" else payload.get("evseId")
        values = payload.get("meterValue") or []
    elif action == "TransactionEvent":
        evse = (payload.get("evse") or {}).get("id")
        values = payload.get("meterValue") or []
    else:
        return {}
    if not isinstance(evse, int) or evse < 1:
        return {}
    highest = None
    for value in values if isinstance(values, list) else []:
        for sampled in (value.get("sampledValue") or []) if isinstance(value, dict) else []:
            if not isinstance(sampled, dict) or sampled.get("measurand") != "Current.Import":
                continue
            try:
                amps = Decimal(str(sampled.get("value")))
            except (InvalidOperation, ValueError):
                continue
            unit = sampled.get("unit") or (sampled.get("unitOfMeasure") or {}).get("unit") or "A"
            if unit == "mA":
                amps /= 1000
            if amps.is_finite() and amps >= 0 and (highest is None or amps > highest):
                highest = amps
    return {evse: highest} if highest is not None else {}


class Dispatcher:
    """One per server process (``dispatcher``)."""

    def __init__(self) -> None:
        self._running: dict[int, asyncio.Task] = {}
        self._again: set[int] = set()
        self._measured: dict[tuple[int, int], Decimal] = {}
        self._roots: dict[int, tuple[int | None, str]] = {}  # charge point id → (root id, mode)

    def on_charger_message(self, station: ChargePoint, version: str, action: str, payload: dict) -> None:
        if action not in _TRANSACTION_ACTIONS | _METER_ACTIONS | {"Connected", _NEEDS}:
            return
        for evse_number, amps in measured_currents(version, action, payload).items():
            self._measured[(station.pk, evse_number)] = amps
        task = asyncio.get_running_loop().create_task(self._triggered(station.pk, action, payload))
        task.add_done_callback(_log_failure)

    async def _triggered(self, charge_point_id: int, action: str, payload: dict) -> None:
        if action == _NEEDS:
            recorded = await database_sync_to_async(services.charging_need_from_ocpp)(
                charge_point_id=charge_point_id, payload=payload)
            if not recorded:
                return
        known = self._roots.get(charge_point_id)
        if known is None or action in {"Connected", "StartTransaction", "TransactionEvent"}:
            root_id = await database_sync_to_async(services.root_for_charge_point)(charge_point_id=charge_point_id)
            mode = await database_sync_to_async(services.root_mode)(root_id=root_id) if root_id else ""
            known = self._roots[charge_point_id] = (root_id, mode)
        root_id, mode = known
        if root_id is None:
            return
        if action == "MeterValues" and mode == "static":
            return  # static limits never follow measurements
        if action == "Connected":
            await database_sync_to_async(services.allocations_unconfirm)(charge_point_id=charge_point_id)
            # The connection is marked in the database by the gateway's batch writer; ask once it has written.
            asyncio.get_running_loop().call_later(settings.OCPP_BATCH_FLUSH_SECONDS + 0.5, self.request, root_id)
            return
        self.request(root_id)

    def request(self, root_id: int) -> None:
        """Recompute the tree of ``root_id`` now (once more after the current run, if one is running)."""
        if root_id in self._running:
            self._again.add(root_id)
            return
        task = asyncio.get_running_loop().create_task(self._run(root_id))
        task.add_done_callback(_log_failure)
        self._running[root_id] = task

    async def _run(self, root_id: int) -> None:
        try:
            while True:
                self._again.discard(root_id)
                sends = await database_sync_to_async(services.allocation_plan)(
                    root_id=root_id, now=timezone.now(), measured=dict(self._measured))
                if sends:
                    await asyncio.gather(*(self._send(send) for send in sends))
                if root_id not in self._again:
                    break
        finally:
            self._running.pop(root_id, None)

    async def _send(self, send: services.ProfileSend) -> None:
        ok, error = False, ""
        try:
            command = await send_async(charge_point=ChargePoint(pk=send.charge_point_id), action=send.action,
                                       payload=send.payload, reason="Load balancing",
                                       timeout=settings.LOADBALANCING_COMMAND_TIMEOUT)
        except CommandFailed as failed:
            error = str(failed)
        else:
            ok = profiles.accepted(send.version, command.response)
            error = "" if ok else f"answered {command.response}"
        await database_sync_to_async(services.allocation_result)(evse_id=send.evse_id, limit=send.limit, ok=ok,
                                                                 error=error, now=timezone.now())


def _log_failure(task: asyncio.Task) -> None:
    if not task.cancelled() and task.exception() is not None:
        logger.error("load balancing failed", exc_info=task.exception())


dispatcher = Dispatcher()
