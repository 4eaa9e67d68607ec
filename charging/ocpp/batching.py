"""Group commit for the gateway's hot writes.

Thousands of chargers send meter values and heartbeats; writing each on its own would queue them all behind one
database thread. Messages that arrive while a batch is being written are gathered into the next batch, and each
caller still waits until its own data is committed before the charger gets its answer.
"""

import asyncio
import contextvars
import functools
import logging
from collections.abc import Callable
from datetime import UTC, datetime

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import DatabaseError, InterfaceError, OperationalError, connections

from charging.models import ConnectionEvent
from charging.ocpp.presence import NAME as presence_name
from charging.services.sessions import record_readings_batch
from charging.services.stations import ConnectionNote, charge_points_seen

logger = logging.getLogger("csms.ocpp")
#: Connection events kept for the next flush while the database is away (the oldest are dropped beyond this).
MAX_KEPT_EVENTS = 50_000


def on_database_thread(func: Callable) -> Callable:
    """``func`` as a coroutine function run on Django's one database thread (keeps SQLite writes serialized).

    Frames skip Channels' per-event recycling of connections (see OcppConsumer.dispatch), so this is where a
    connection broken by a restart of PostgreSQL is let go: after a database error the thread's connections that
    no longer answer are closed, and the next call opens a new one. The failed call still raises (its frame is
    refused, not acknowledged; the charger sends it again)."""

    @functools.wraps(func)
    def guarded(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except DatabaseError:
            for connection in connections.all(initialized_only=True):
                connection.close_if_unusable_or_obsolete()
            raise

    return sync_to_async(guarded, thread_sensitive=True)


class GroupCommit:
    """Calls ``write(items) -> results`` with everything submitted since the last call began."""

    def __init__(self, write: Callable[[list], list]):
        self._write = on_database_thread(write)
        self._pending: list[tuple[object, asyncio.Future]] = []
        self._writer: asyncio.Task | None = None

    async def submit(self, item):
        future = asyncio.get_running_loop().create_future()
        self._pending.append((item, future))
        if self._writer is None or self._writer.done():
            # A context of its own: the writer serves every charger, its logs must not name the first one's.
            self._writer = asyncio.get_running_loop().create_task(self._drain(), context=contextvars.Context())
        return await future

    async def _drain(self) -> None:
        while self._pending:
            batch, self._pending = self._pending, []
            try:
                results = await self._write([item for item, _ in batch])
            except Exception as exc:
                logger.exception("Batch of %d writes failed", len(batch))
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            for (_, future), result in zip(batch, results, strict=True):
                if not future.done():
                    future.set_result(result)


class SeenTracker:
    """Gathers "this charger is alive" and "this charger went away" notes, and the connects and disconnects for the
    connectivity history, and writes them once a second, so a storm of connects or disconnects costs a few
    statements a second instead of several per charger. The last note about a charger wins (a quick reconnect
    leaves it connected); every connect and disconnect is kept as an event."""

    def __init__(self, via: str = ""):
        self.via = via  # this server process's name (presence.NAME), written as the holder of connected chargers
        self._connected: dict[int, bool] = {}
        self._events: list[ConnectionNote] = []
        self._writer: asyncio.Task | None = None

    def mark(self, charge_point_id: int) -> None:
        self._note(charge_point_id, True)

    def gone(self, charge_point_id: int) -> None:
        self._note(charge_point_id, False)

    def opened(self, charge_point_id: int, *, detail: str = "") -> None:
        """A charger's websocket was accepted (``detail``: the subprotocol)."""
        self._events.append(ConnectionNote(charge_point_id, ConnectionEvent.Kind.CONNECTED, datetime.now(UTC),
                                           detail))
        self._note(charge_point_id, True)

    def closed(self, charge_point_id: int, *, detail: str = "", replaced: bool = False) -> None:
        """A charger's websocket closed (``detail``: why). A socket replaced by the charger's new connection is
        history only: the charger itself is still connected."""
        self._events.append(ConnectionNote(charge_point_id, ConnectionEvent.Kind.DISCONNECTED, datetime.now(UTC),
                                           detail))
        if replaced:
            self._schedule()
        else:
            self._note(charge_point_id, False)

    def _note(self, charge_point_id: int, connected: bool) -> None:
        self._connected[charge_point_id] = connected
        self._schedule()

    def _schedule(self) -> None:
        if self._writer is None or self._writer.done():
            self._writer = asyncio.get_running_loop().create_task(self._flush_later(),
                                                                  context=contextvars.Context())

    async def _flush_later(self) -> None:
        # Notes taken while a flush is writing find this task still running and schedule none of their own:
        # keep going until nothing is left, or a disconnect could wait unwritten until some charger speaks again.
        while True:
            await asyncio.sleep(settings.OCPP_BATCH_FLUSH_SECONDS)
            await self.flush()
            if not self._connected and not self._events:
                return

    async def flush(self) -> None:
        """Write what has been gathered now (the periodic flush; tests and shutdown may call it directly)."""
        notes, self._connected = self._connected, {}
        events, self._events = self._events, []
        if not notes and not events:
            return
        try:
            await on_database_thread(charge_points_seen)(
                connected={pk for pk, up in notes.items() if up},
                disconnected={pk for pk, up in notes.items() if not up}, now=datetime.now(UTC), events=events,
                via=self.via)
        except (OperationalError, InterfaceError) as error:
            # The database is away (restarting): keep what was gathered for the next flush; newer notes win.
            logger.warning("Could not record %d chargers as seen or gone (%d connection events), trying again: %s",
                           len(notes), len(events), error)
            self._connected = {**notes, **self._connected}
            self._events = (events + self._events)[-MAX_KEPT_EVENTS:]
            self._schedule()
        except Exception:
            logger.exception("Could not record %d chargers as seen or gone (%d connection events)", len(notes),
                             len(events))


readings_writer = GroupCommit(record_readings_batch)
seen_tracker = SeenTracker(via=presence_name)
