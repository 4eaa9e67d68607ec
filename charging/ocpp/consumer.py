"""The websocket front door for chargers: /ocpp/<identity>.

connect() checks the identity (unknown and decommissioned stations are refused) and HTTP Basic credentials before
accepting, then runs the library ChargePoint's read loop as a task fed by a queue. receive() only enqueues:
awaiting OCPP work there (or in a channel-layer handler) would stop Channels from delivering the next frame, and a
call waiting for its answer would deadlock. Every accepted connect and every disconnect goes into the station's
connectivity history (through the seen tracker's once-a-second write).

The web server answers a charger's websocket pings but sends none of its own, so a charger that vanished without
closing its socket (power cut, a NAT entry dropped) would be held for ever: SilenceWatch closes a connection that
sent nothing for OCPP_SILENT_CLOSE_INTERVALS heartbeat intervals, the OCPP heartbeat being the liveness check.
"""

import asyncio
import base64
import binascii
import contextvars
import logging
import time
import weakref

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings

from accounts.models import Organization
from charging.models import ChargePoint
from charging.ocpp import throttle
from charging.ocpp.batching import seen_tracker
from charging.ocpp.gateway import notify_listeners
from charging.ocpp.presence import presence
from charging.ocpp.v16 import ChargePoint16
from charging.ocpp.v201 import ChargePoint201
from charging.services import stations
from csms.channel_layers import LAYER_DOWN
from csms.observability import logs

logger = logging.getLogger("csms.ocpp")

SUBPROTOCOLS = {"ocpp2.0.1": ChargePoint201, "ocpp1.6": ChargePoint16}
#: Close codes we use (4000-4999 are the application's own).
CLOSE_REPLACED = 4000
CLOSE_DECOMMISSIONED = 4001
CLOSE_SILENT = 4002


def group_name(charge_point_id: int) -> str:
    return f"cp.{charge_point_id}"


def basic_auth_password(headers: list[tuple[bytes, bytes]], identity: str) -> str | None:
    """The password of an HTTP Basic header whose user is ``identity`` (security profiles 1 and 2)."""
    for name, value in headers:
        if name.lower() != b"authorization":
            continue
        scheme, _, encoded = value.decode("latin-1").partition(" ")
        if scheme.lower() != "basic":
            return None
        try:
            user, _, password = base64.b64decode(encoded.strip(), validate=True).decode("utf-8").partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return None
        return password if user == identity else None
    return None


class _Connection:
    """What the library's ChargePoint reads from and writes to."""

    def __init__(self, consumer: "OcppConsumer"):
        self.consumer = consumer
        self.queue: asyncio.Queue[str] = asyncio.Queue()

    async def recv(self) -> str:
        return await self.queue.get()

    async def send(self, message: str) -> None:
        await self.consumer.send(text_data=message)


def _log_command_failure(task: asyncio.Task) -> None:
    if not task.cancelled() and task.exception() is not None:
        logger.error("running a command failed", exc_info=task.exception())


class SilenceWatch:
    """The connections of this process, looked at every OCPP_SILENCE_CHECK_SECONDS: those silent for longer than
    OCPP_SILENT_CLOSE_INTERVALS × the station's heartbeat interval are closed (their charger is gone)."""

    def __init__(self):
        self.consumers: weakref.WeakSet[OcppConsumer] = weakref.WeakSet()
        self._task: asyncio.Task | None = None

    def watch(self, consumer: "OcppConsumer") -> None:
        self.consumers.add(consumer)
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run(), context=contextvars.Context())

    async def check(self, now: float | None = None) -> int:
        """Close the silent connections now; returns how many."""
        now = time.monotonic() if now is None else now
        silent = [consumer for consumer in list(self.consumers) if consumer.silent_for(now) is not None]
        for consumer in silent:
            await consumer.close_silent(now)
        return len(silent)

    async def _run(self) -> None:
        while self.consumers:
            await asyncio.sleep(settings.OCPP_SILENCE_CHECK_SECONDS)
            try:
                await self.check()
            except Exception:  # noqa: BLE001 - the watch must outlive one failed close
                logger.exception("Closing silent connections failed")


silence_watch = SilenceWatch()


class OcppConsumer(AsyncWebsocketConsumer):
    station: ChargePoint | None = None
    last_frame_at = 0.0
    #: Set when the silence watch closes this connection: how long it had been silent.
    silent_seconds: float | None = None

    async def connect(self):
        identity = self.scope["url_route"]["kwargs"]["identity"]
        # Everything this connection logs names the charger (the read loop below inherits this context).
        logs.charge_point.set(identity[:64])
        offered = self.scope.get("subprotocols") or []
        subprotocol = next((p for p in offered if p in SUBPROTOCOLS), None)
        self.station = None
        if subprotocol is None:
            logger.info("%s: refused, no supported subprotocol in %s", identity, offered)
            await self.close()
            return
        station = await self._find_station(identity)
        if station is None:
            logger.info("%s: refused, unknown identity", identity)
            await self.close()
            return
        if station.decommissioned_at is not None:
            logger.info("%s: refused, decommissioned", identity)
            await self.close()
            return
        address = (self.scope.get("client") or ("unknown",))[0]
        failed_before = await throttle.failures(identity, address) if station.auth_key_hash else 0
        if failed_before is None:
            await self.close()
            return
        password = basic_auth_password(self.scope.get("headers", []), identity)
        if not stations.check_auth_key(station, password):
            await throttle.failed(identity, address)
            await self.close()
            return
        if failed_before:
            await throttle.succeeded(identity, address)
        self.station = station
        self.connection = _Connection(self)
        self.handler = SUBPROTOCOLS[subprotocol](identity, self.connection,
                                                 response_timeout=settings.OCPP_DEFAULT_COMMAND_TIMEOUT)
        self.handler.setup_gateway(station)
        # One live connection per identity: tell an older one to close before joining the group. Without the
        # layer (Redis restarting) the charger is still served; an older socket in another process then stays
        # until it times out, and the layer joins the group once it is back.
        try:
            await self.channel_layer.group_send(group_name(station.pk), {"type": "ocpp.replaced"})
        except LAYER_DOWN as error:
            logger.warning("%s: could not tell an older connection to close: %s", identity, error)
        await self.channel_layer.group_add(group_name(station.pk), self.channel_name)
        await self.accept(subprotocol)
        seen_tracker.opened(station.pk, detail=subprotocol)
        presence.joined(station.pk)
        self.last_frame_at = time.monotonic()
        silence_watch.watch(self)
        self.reader = asyncio.ensure_future(self.handler.start())
        notify_listeners(station, "2.0.1" if subprotocol == "ocpp2.0.1" else "1.6", "Connected", {})

    @database_sync_to_async
    def _find_station(self, identity: str) -> ChargePoint | None:
        station = ChargePoint.objects.filter(identity=identity).first()
        if station is None and settings.OCPP_AUTO_REGISTER_ORGANIZATION:
            organization = Organization.objects.filter(slug=settings.OCPP_AUTO_REGISTER_ORGANIZATION).first()
            if organization is not None:
                station = stations.charge_point_register(
                    identity=identity, organization=organization, evses=0, acting_user=None,
                    registration_status=ChargePoint.RegistrationStatus.PENDING,
                    reason="Connected with an unknown identity (auto-registration is on)")
        return station

    async def dispatch(self, message):
        # Channels recycles database connections before every event, which for a websocket frame means a trip to
        # the database thread (and, with SQLite, closing and reopening the file) per OCPP message. Frames only
        # enqueue text; connect, disconnect and channel-layer events still get the recycling.
        if message["type"] == "websocket.receive":
            await self.websocket_receive(message)
            return
        await super().dispatch(message)

    async def receive(self, text_data=None, bytes_data=None):
        if self.station is None:
            return
        self.last_frame_at = time.monotonic()
        if text_data is None:
            logger.warning("%s: binary frame ignored", self.station.identity)
            return
        if len(text_data) > settings.OCPP_MAX_FRAME_BYTES:
            logger.warning("%s: frame of %d bytes refused", self.station.identity, len(text_data))
            await self.handler._reply_framework_error("-1", "Frame too large")
            return
        self.connection.queue.put_nowait(text_data)

    async def disconnect(self, code):
        if self.station is None:
            return
        silence_watch.consumers.discard(self)
        reader = getattr(self, "reader", None)
        if reader is not None:
            reader.cancel()
        await self.channel_layer.group_discard(group_name(self.station.pk), self.channel_name)
        replaced = getattr(self, "replaced", False)
        if replaced:
            detail = "replaced by a new connection"
        elif getattr(self, "decommissioned", False):
            detail = "decommissioned"
        elif self.silent_seconds is not None:
            detail = f"closed by the server: silent for {self.silent_seconds:.0f} s"
        else:
            detail = str(code) if code is not None else ""
        seen_tracker.closed(self.station.pk, detail=detail, replaced=replaced)
        if not replaced:
            presence.left(self.station.pk)

    # --- channel-layer events ---------------------------------------------------------------------------------
    async def ocpp_replaced(self, event):
        if getattr(self, "reader", None) is None:
            return
        logger.info("%s: replaced by a new connection", self.station.identity)
        self.replaced = True
        await self.close(code=CLOSE_REPLACED)

    def silent_for(self, now: float) -> float | None:
        """Seconds without a frame when that is past the limit, else None."""
        if self.station is None or getattr(self, "reader", None) is None or self.silent_seconds is not None:
            return None
        quiet = now - self.last_frame_at
        limit = settings.OCPP_SILENT_CLOSE_INTERVALS * max(self.station.heartbeat_interval, 1)
        return quiet if quiet > limit else None

    async def close_silent(self, now: float) -> None:
        self.silent_seconds = now - self.last_frame_at
        logger.info("%s: closed, nothing received for %.0f s", self.station.identity, self.silent_seconds)
        await self.close(code=CLOSE_SILENT)

    async def ocpp_decommissioned(self, event):
        # Sent by stations.charge_point_decommission once it has committed.
        if getattr(self, "reader", None) is None:
            return
        logger.info("%s: closed, decommissioned", self.station.identity)
        self.decommissioned = True
        await self.close(code=CLOSE_DECOMMISSIONED)

    async def ocpp_command(self, event):
        # Never await the call here: this handler blocks delivery of further events (and the answer itself).
        task = asyncio.ensure_future(self._run_command(event))
        task.add_done_callback(_log_command_failure)

    async def _run_command(self, event):
        reply = {"type": "ocpp.reply", "command_id": event["command_id"]}
        try:
            result = await self.handler.call_raw(event["action"], event["payload"], event["timeout"])
        except TimeoutError:
            reply.update(status="timeout")
        except Exception as exc:  # a refused payload (CallError) or a closed socket
            reply.update(status="refused", error=getattr(exc, "description", None) or str(exc))
        else:
            if result.ok:
                reply.update(status="answered", payload=result.payload)
            else:
                reply.update(status="call_error", error=f"{result.error_code}: {result.error_description}",
                             payload=result.error_details)
        await self.channel_layer.send(event["reply_channel"], reply)
