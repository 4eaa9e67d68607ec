"""Sending a command to a charger from sync code (admin, API, tasks, management commands).

The call travels over the channel layer to whichever server process holds the charger's socket (the group
"cp.<id>"), which runs it and replies on a private channel. With the in-memory layer that only works inside the
server process; with Redis (REDIS_URL) it works from any process. Every command is stored as a RemoteCommand
with who asked, why, and what the charger answered.
"""

import asyncio
import contextvars
import logging
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from asgiref.sync import SyncToAsync, async_to_sync, sync_to_async
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import close_old_connections, connections
from django.utils import timezone

from accounts.models import User
from accounts.services import audit
from charging.models import ChargePoint, RemoteCommand
from charging.ocpp.consumer import group_name
from charging.ocpp.errors import CallError
from charging.ocpp.validation import validate
from charging.services.stations import server_process_alive
from csms.channel_layers import LAYER_DOWN
from csms.observability import metrics

logger = logging.getLogger("csms.ocpp")

#: CSMS→charger actions we send, per version (the charger's version decides which apply).
ACTIONS = {
    "1.6": {"RemoteStartTransaction", "RemoteStopTransaction", "Reset", "UnlockConnector", "ChangeAvailability",
            "GetConfiguration", "ChangeConfiguration", "ClearCache", "TriggerMessage", "GetDiagnostics",
            "UpdateFirmware", "SendLocalList", "GetLocalListVersion", "ReserveNow", "CancelReservation",
            "SetChargingProfile", "ClearChargingProfile", "GetCompositeSchedule", "DataTransfer"},
    "2.0.1": {"RequestStartTransaction", "RequestStopTransaction", "Reset", "UnlockConnector",
              "ChangeAvailability", "GetVariables", "SetVariables", "GetBaseReport", "ClearCache",
              "TriggerMessage", "GetLog", "UpdateFirmware", "SendLocalList", "GetLocalListVersion", "ReserveNow",
              "CancelReservation", "SetChargingProfile", "ClearChargingProfile", "GetCompositeSchedule",
              "DataTransfer"},
}
#: Not sent to a charger that is still Pending (not yet accepted into the network).
NOT_WHILE_PENDING = {"RemoteStartTransaction", "RemoteStopTransaction", "RequestStartTransaction",
                     "RequestStopTransaction"}
#: How long we wait beyond the charger's own timeout for the server process to reply.
LAYER_GRACE_SECONDS = 2.0
#: How long ``send_in_background`` waits for the action to store its command (checks and one INSERT).
STORE_WAIT_SECONDS = 30.0

#: Called with each command as soon as it is stored (set by ``send_in_background`` in its worker thread).
_on_stored: contextvars.ContextVar[Callable[[RemoteCommand], None] | None] = contextvars.ContextVar(
    "charging_commands_on_stored", default=None)
_executor = ThreadPoolExecutor(max_workers=4, thread_name_prefix="charger-command")


class CommandFailed(Exception):
    """The command was not answered by the charger; ``command`` holds the stored record."""

    def __init__(self, command: RemoteCommand):
        super().__init__(f"{command.action} to {command.charge_point.identity}: {command.get_status_display()}"
                         + (f" ({command.error})" if command.error else ""))
        self.command = command


def send(*, charge_point: ChargePoint, action: str, payload: dict, acting_user: User | None, reason: str,
         timeout: float | None = None) -> RemoteCommand:
    """Send ``action`` with a wire-format (camelCase) ``payload``; return the answered command or raise
    CommandFailed (offline, refused, timeout, or the charger answered with a CALLERROR)."""
    timeout = timeout or settings.OCPP_DEFAULT_COMMAND_TIMEOUT
    command, refusal = _prepare(charge_point, action, payload, acting_user, reason)
    if refusal:
        return _finish(command, RemoteCommand.Status.REFUSED if refusal[0] else RemoteCommand.Status.OFFLINE,
                       error=refusal[1])
    reply = async_to_sync(_round_trip)(charge_point.pk, command.pk, action, payload, timeout)
    return _finish(command, _STATUS[reply["status"]], response=reply.get("payload"), error=reply.get("error", ""))


async def send_async(*, charge_point: ChargePoint, action: str, payload: dict, reason: str,
                     timeout: float | None = None) -> RemoteCommand:
    """``send`` for the system from async code in a server process (the load balancer): the database work runs in
    the database thread, but the wait for the charger's answer does not hold it. Raises CommandFailed likewise."""
    timeout = timeout or settings.OCPP_DEFAULT_COMMAND_TIMEOUT
    def prepare():
        fresh = ChargePoint.objects.select_related("organization").get(pk=charge_point.pk)  # connected now?
        return _prepare(fresh, action, payload, None, reason)

    command, refusal = await database_sync_to_async(prepare)()
    if refusal:
        return await database_sync_to_async(_finish)(
            command, RemoteCommand.Status.REFUSED if refusal[0] else RemoteCommand.Status.OFFLINE, error=refusal[1])
    reply = await _round_trip(charge_point.pk, command.pk, action, payload, timeout)
    return await database_sync_to_async(_finish)(command, _STATUS[reply["status"]], response=reply.get("payload"),
                                                 error=reply.get("error", ""))


_STATUS = {"answered": RemoteCommand.Status.ANSWERED, "call_error": RemoteCommand.Status.CALL_ERROR,
           "timeout": RemoteCommand.Status.TIMEOUT, "refused": RemoteCommand.Status.REFUSED,
           "offline": RemoteCommand.Status.OFFLINE}


def _prepare(charge_point: ChargePoint, action: str, payload: dict, acting_user: User | None,
             reason: str) -> tuple[RemoteCommand, tuple[bool, str] | None]:
    """Store the command (and its audit row) and say whether it must not be sent."""
    command = RemoteCommand.objects.create(charge_point=charge_point, action=action, payload=payload,
                                           requested_by=acting_user, reason=reason)
    audit.record(action="remotecommand.requested", target=command, acting_user=acting_user, reason=reason,
                 organization=charge_point.organization, changes={"action": (None, action)})
    hook = _on_stored.get()
    if hook is not None:
        hook(command)
    version = charge_point.ocpp_version or ChargePoint.OcppVersion.V16
    return command, _refusal(charge_point, version, action, payload)


def _refusal(charge_point: ChargePoint, version: str, action: str, payload: dict) -> tuple[bool, str] | None:
    """(refused?, why) when the command must not be sent; refused False means the charger is offline."""
    if action not in ACTIONS.get(version, set()):
        return True, f"{action} is not a CSMS→charger action of OCPP {version}"
    try:
        validate(version, action, payload)
    except CallError as exc:
        return True, f"Invalid payload: {exc.description}"
    if action in NOT_WHILE_PENDING and charge_point.registration_status != ChargePoint.RegistrationStatus.ACCEPTED:
        return True, f"The charger is {charge_point.registration_status}, not Accepted"
    if not charge_point.is_connected:
        return False, "The charger is not connected"
    via = ChargePoint.objects.filter(pk=charge_point.pk).values_list("connected_via", flat=True).first() or ""
    if not server_process_alive(via, now=timezone.now()):
        return False, f"The server process holding the charger's connection ({via}) has stopped"
    return None


async def _round_trip(charge_point_id: int, command_id: int, action: str, payload: dict, timeout: float) -> dict:
    layer = get_channel_layer()
    # The default "specific" prefix: channels_redis reads a process's replies from one queue per prefix, under a
    # lock the connected chargers' consumers hold for "specific" — a reply on any other prefix would never be read.
    reply_channel = await layer.new_channel()
    try:
        await layer.group_send(group_name(charge_point_id), {
            "type": "ocpp.command", "command_id": command_id, "action": action, "payload": payload,
            "timeout": timeout, "reply_channel": reply_channel})
    except LAYER_DOWN as error:
        return {"status": "offline", "error": f"The message bus between server processes (Redis) is unreachable "
                                              f"({error}); nothing was sent, try again shortly"}
    began = time.monotonic()
    try:
        reply = await asyncio.wait_for(layer.receive(reply_channel), timeout + LAYER_GRACE_SECONDS)
    except TimeoutError:
        # Nobody holds the socket (the charger went away, or it lives in another process without Redis).
        reply = {"status": "offline", "error": "No server process holding this charger's connection answered"}
    metrics.OCPP_COMMAND_SECONDS.observe(time.monotonic() - began, outcome=reply.get("status", ""))
    return reply


def _finish(command: RemoteCommand, status: str, *, response=None, error: str = "") -> RemoteCommand:
    command.status = status
    command.response = response
    command.error = error[:500]
    command.answered_at = timezone.now()
    command.save(update_fields=["status", "response", "error", "answered_at"])
    if status != RemoteCommand.Status.ANSWERED:
        raise CommandFailed(command)
    return command


class _Outcome:
    """What the worker of ``send_in_background`` reports to the waiting caller: the first stored command, or the
    error raised before anything was stored."""

    def __init__(self):
        self.command: RemoteCommand | None = None
        self.error: BaseException | None = None
        self.ready = threading.Event()


def send_in_background(action: Callable[[], object]) -> RemoteCommand:
    """Run ``action`` — a function that sends one command through ``send`` (a ``charging.services.remote``
    action, with all it does with the answer) — in the background, and return its RemoteCommand as soon as that
    is stored (still pending; poll the row for the answer). An error raised before the command is stored (a
    ValidationError of the action's checks) is raised here; what happens after is in the stored command.

    Where it runs is what roaming.services.commands does for OCPI commands: in a server process (ASGI) on the
    process's event loop, as a sync function in a worker thread, so that its wait for the charger uses that loop
    (channels_redis refuses a second loop on the same layer); elsewhere in a thread pool of this process. A thread
    dies with its process: a command left pending then is what the stored row shows."""
    outcome = _Outcome()

    def stored(command: RemoteCommand) -> None:
        if outcome.command is None:
            outcome.command = command
            outcome.ready.set()

    def work() -> None:
        close_old_connections()
        token = _on_stored.set(stored)
        try:
            action()
        except CommandFailed:
            pass  # the stored command says why
        except Exception as error:  # noqa: BLE001 - handed to the caller, or logged once the caller has gone
            if outcome.command is None:
                outcome.error = error
            else:
                logger.exception("Background command %s failed after it was stored", outcome.command.pk)
        finally:
            _on_stored.reset(token)
            outcome.ready.set()
            connections.close_all()  # this thread's connections only

    run_in_background(work)
    if not outcome.ready.wait(STORE_WAIT_SECONDS):
        raise TimeoutError("The command was not stored in time")
    if outcome.command is None:
        raise outcome.error or RuntimeError("The action sent no command")
    return outcome.command


def run_in_background(work: Callable[[], None]) -> None:
    """Run ``work`` (sync, sends charger commands, closes its own connections) without waiting for it. In a server
    process (ASGI) it runs on the process's event loop as a sync function in a worker thread, so that its wait for
    the charger uses that loop (channels_redis refuses a second loop on the same layer); elsewhere in this module's
    thread pool."""
    loop = _main_event_loop()
    if loop is not None and loop.is_running():
        asyncio.run_coroutine_threadsafe(sync_to_async(work, thread_sensitive=False)(), loop)
    else:
        _executor.submit(work)


def _main_event_loop():
    if getattr(SyncToAsync.threadlocal, "main_event_loop_pid", None) != os.getpid():
        return None
    return getattr(SyncToAsync.threadlocal, "main_event_loop", None)
