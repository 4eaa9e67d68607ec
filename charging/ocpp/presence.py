"""This server process's presence: which chargers it holds, renewed in the database every
OCPP_PRESENCE_BEAT_SECONDS (charging.ServerProcess), so that when a process dies without a goodbye the others
mark its chargers offline within OCPP_PRESENCE_TTL_SECONDS + one beat, and commands to them fail at once instead
of waiting for an answer nobody will send.

The name is host:pid plus a random part (a restarted container may get the same host name and pid). Chargers
connected to this process are written with this name by the seen tracker (ChargePoint.connected_via).
"""

import asyncio
import contextvars
import logging
import os
import secrets
import socket
from datetime import UTC, datetime

from django.conf import settings

from charging.services.stations import server_process_beat

logger = logging.getLogger("csms.ocpp")

NAME = f"{socket.gethostname()[:60]}:{os.getpid()}:{secrets.token_hex(3)}"


class Presence:
    def __init__(self):
        self.started_at = datetime.now(UTC)
        self.stations: set[int] = set()
        self._task: asyncio.Task | None = None

    def joined(self, charge_point_id: int) -> None:
        self.stations.add(charge_point_id)
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._renew(), context=contextvars.Context())

    def left(self, charge_point_id: int) -> None:
        self.stations.discard(charge_point_id)

    async def beat(self) -> int:
        """Renew now (the loop's step; tests call it directly). Returns the chargers of dead processes released."""
        from charging.ocpp.batching import on_database_thread  # batching names this process by NAME

        return await on_database_thread(server_process_beat)(
            name=NAME, started_at=self.started_at, chargers=len(self.stations), now=datetime.now(UTC))

    async def _renew(self) -> None:
        while True:
            try:
                await self.beat()
            except Exception:  # the database is away: try at the next beat, the process must keep serving
                logger.exception("Could not renew the presence of server process %s", NAME)
            await asyncio.sleep(settings.OCPP_PRESENCE_BEAT_SECONDS)


presence = Presence()
