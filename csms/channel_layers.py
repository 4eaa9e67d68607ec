"""The project's channel layers.

SweepingInMemoryChannelLayer is the embedded default's: Channels' in-memory layer, made affordable with thousands of
sockets. The stock layer sweeps every channel and every group for expired entries on each receive() and
group_send(), so each charger connecting costs time proportional to all chargers already connected. Sweeping at most
once a second keeps the same expiry rules (a message or membership lives a little longer at worst).

ResilientRedisChannelLayer is the one used with REDIS_URL: Channels' Redis layer, made to outlive a restart of Redis.
"""

import asyncio
import logging
import time
from collections import defaultdict

from channels.layers import InMemoryChannelLayer
from channels_redis.core import RedisChannelLayer
from channels_redis.utils import create_pool
from redis import exceptions as redis_errors
from redis.asyncio import BlockingConnectionPool

logger = logging.getLogger("csms.channels")

SWEEP_INTERVAL_SECONDS = 1.0
#: What the layer being unreachable looks like to its callers (group_send, send): Redis away.
LAYER_DOWN = (redis_errors.ConnectionError, redis_errors.TimeoutError, OSError)
#: Seconds between attempts to reach Redis again, the last one repeated.
RETRY_SECONDS = (0.2, 0.5, 1.0, 2.0)
#: Connections per process to Redis for the channel layer, and how long a caller waits for one when all are busy.
POOL_MAX_CONNECTIONS = 100
POOL_WAIT_SECONDS = 10.0


class SweepingInMemoryChannelLayer(InMemoryChannelLayer):
    _last_sweep = 0.0

    def _clean_expired(self):
        now = time.monotonic()
        if now - self._last_sweep < SWEEP_INTERVAL_SECONDS:
            return
        self._last_sweep = now
        super()._clean_expired()


class ResilientRedisChannelLayer(RedisChannelLayer):
    """Channels' Redis layer, made to outlive a restart of Redis.

    The stock layer raises from receive() when Redis goes away, which ends every consumer waiting on it: each
    charger's websocket would be dropped, and a consumer that stays up would still have lost its group
    membership, which lives in Redis. This layer keeps its consumers waiting instead and tries Redis again,
    remembers which of its own channels joined which group, and joins them again once Redis answers. A group
    add or discard while Redis is away is remembered and caught up; group_send and send still raise, so a
    command sent meanwhile fails at once with a clear error.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.memberships: dict[str, set[str]] = defaultdict(set)
        self.rejoin_needed = False
        self.outages = 0
        self._rejoin_lock: asyncio.Lock | None = None

    def create_pool(self, index):
        """A pool whose callers wait for a free connection when all are in use.

        redis-py's plain pool raises "Too many connections" at once past its 100 connections: a storm of chargers
        connecting (each joining its command group) then looked like Redis being away, and every group was joined
        again. The limit stays (``max_connections`` in the host's settings), callers queue for POOL_WAIT_SECONDS.
        """
        host = dict(self.hosts[index])
        if "address" not in host:
            return create_pool(host)  # Sentinel or host/port settings: channels_redis' own pool
        address = host.pop("address")
        host.setdefault("max_connections", POOL_MAX_CONNECTIONS)
        host.setdefault("timeout", POOL_WAIT_SECONDS)
        return BlockingConnectionPool.from_url(address, **host)

    async def group_add(self, group, channel):
        self.memberships[group].add(channel)
        try:
            await super().group_add(group, channel)
        except LAYER_DOWN as error:
            self._lost(error)

    async def group_discard(self, group, channel):
        members = self.memberships.get(group)
        if members is not None:
            members.discard(channel)
            if not members:
                del self.memberships[group]
        try:
            await super().group_discard(group, channel)
        except LAYER_DOWN as error:
            self._lost(error)  # the stale member only receives messages nobody reads; they expire

    async def receive(self, channel):
        attempt = 0
        while True:
            if self.rejoin_needed:
                await self._rejoin()
            try:
                return await super().receive(channel)
            except LAYER_DOWN as error:
                self._lost(error)
                await asyncio.sleep(RETRY_SECONDS[min(attempt, len(RETRY_SECONDS) - 1)])
                attempt += 1

    def _lost(self, error: BaseException) -> None:
        if not self.rejoin_needed:
            self.outages += 1
            logger.warning("Redis (channel layer) unreachable: %s; retrying, groups are joined again after",
                           error)
        self.rejoin_needed = True

    async def _rejoin(self) -> None:
        """Add every remembered membership again (Redis may have restarted empty); one caller does it, the
        others wait for it. Raises while Redis is still away."""
        if self._rejoin_lock is None:
            self._rejoin_lock = asyncio.Lock()
        async with self._rejoin_lock:
            if not self.rejoin_needed:
                return
            try:
                for group, channels in list(self.memberships.items()):
                    for channel in list(channels):
                        await RedisChannelLayer.group_add(self, group, channel)
            except LAYER_DOWN:
                return  # receive() sees the error itself and waits before the next try
            self.rejoin_needed = False
            logger.warning("Redis (channel layer) reachable again: %d groups joined again",
                           len(self.memberships))
