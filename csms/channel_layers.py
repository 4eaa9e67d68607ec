"""The embedded default's channel layer: Channels' in-memory layer, made affordable with thousands of sockets.

The stock layer sweeps every channel and every group for expired entries on each receive() and group_send(),
so each charger connecting costs time proportional to all chargers already connected. Sweeping at most once a
second keeps the same expiry rules (a message or membership lives a little longer at worst).
"""

import time

from channels.layers import InMemoryChannelLayer

SWEEP_INTERVAL_SECONDS = 1.0


class SweepingInMemoryChannelLayer(InMemoryChannelLayer):
    _last_sweep = 0.0

    def _clean_expired(self):
        now = time.monotonic()
        if now - self._last_sweep < SWEEP_INTERVAL_SECONDS:
            return
        self._last_sweep = now
        super()._clean_expired()
